"""ML metadata: runs, the model registry, lineage and prediction logs.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     with lake.runs.start(experiment="fraud") as run:
    ...         run.log_params({"max_depth": 3})
    ...         run.log_metric("auc", 0.93)
    ...         _ = run.log_model({"coef": [0.5]})
    ...     mv = lake.models.register("fraud", run=run)
    ...     lake.lineage.upstream(mv.ref).nodes == [mv.ref, run.ref]
    True
"""

from typing import TYPE_CHECKING

from lakebed._lazy import lazy_exports
from lakebed.tracking._search import SearchSyntaxError

if TYPE_CHECKING:
    from lakebed.tracking._lineage import Lineage, LineageEdge, LineageGraph
    from lakebed.tracking._models import Models, ModelVersion
    from lakebed.tracking._predictions import PredictionLog
    from lakebed.tracking._runs import Artifact, Run, Runs

# The engine classes load on first use: the HTTP client imports this package for its
# light types without loading the engine.
__getattr__ = lazy_exports(
    __name__,
    {
        "Lineage": "lakebed.tracking._lineage",
        "LineageEdge": "lakebed.tracking._lineage",
        "LineageGraph": "lakebed.tracking._lineage",
        "Models": "lakebed.tracking._models",
        "ModelVersion": "lakebed.tracking._models",
        "PredictionLog": "lakebed.tracking._predictions",
        "Artifact": "lakebed.tracking._runs",
        "Run": "lakebed.tracking._runs",
        "Runs": "lakebed.tracking._runs",
    },
)

__all__ = [
    "Artifact",
    "Lineage",
    "LineageEdge",
    "LineageGraph",
    "ModelVersion",
    "Models",
    "PredictionLog",
    "Run",
    "Runs",
    "SearchSyntaxError",
]
