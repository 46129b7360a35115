"""The feature store: definitions, point-in-time training sets, online store,
materialization, push and window aggregations.

Example:
    >>> from datetime import timedelta
    >>> from lakebed.features import Entity, FeatureView, Field
    >>> user = Entity("user", join_keys=["user_id"])
    >>> stats = FeatureView("user_stats", entities=[user], source="silver.transactions",
    ...                     timestamp_field="ts", ttl=timedelta(days=30),
    ...                     fields=[Field("amount", "float64")])
    >>> stats.feature_names
    ['amount']
"""

from typing import TYPE_CHECKING

from lakebed._lazy import lazy_exports
from lakebed.features._definitions import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
    Projection,
    StreamFeatureView,
)
from lakebed.features._response import EXPIRED, MISSING, PRESENT, OnlineResponse

if TYPE_CHECKING:
    from lakebed.features._plan import Change, Plan
    from lakebed.features._store import FeatureStore
    from lakebed.features._training import TrainingSet

# The engine classes load on first use: the HTTP client imports this package for its
# light types without loading the engine.
__getattr__ = lazy_exports(
    __name__,
    {
        "Change": "lakebed.features._plan",
        "Plan": "lakebed.features._plan",
        "FeatureStore": "lakebed.features._store",
        "TrainingSet": "lakebed.features._training",
    },
)

__all__ = [
    "EXPIRED",
    "MISSING",
    "PRESENT",
    "Aggregation",
    "Change",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "OnDemandFeatureView",
    "OnlineResponse",
    "Plan",
    "Projection",
    "StreamFeatureView",
    "TrainingSet",
]
