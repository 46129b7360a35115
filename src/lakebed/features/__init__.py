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
from lakebed.features._registry import Change, Plan
from lakebed.features._serving import EXPIRED, MISSING, PRESENT, OnlineResponse
from lakebed.features._store import FeatureStore
from lakebed.features._training import TrainingSet

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
