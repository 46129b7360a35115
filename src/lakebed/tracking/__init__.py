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

from lakebed.tracking._lineage import Lineage, LineageEdge, LineageGraph
from lakebed.tracking._models import Models, ModelVersion
from lakebed.tracking._predictions import PredictionLog
from lakebed.tracking._runs import Artifact, Run, Runs
from lakebed.tracking._search import SearchSyntaxError

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
