"""The interfaces of ML tracking: runs, one run, the model registry, lineage and prediction
logs. The embedded classes (:mod:`lakebed.tracking`) and the HTTP client's
(:mod:`lakebed.client._tracking`) implement them with the same methods and signatures; the
method docs live here.

Example:
    >>> import lakebed
    >>> from lakebed.api._tracking import RunsAPI
    >>> with lakebed.connect(":memory:") as lake:
    ...     isinstance(lake.runs, RunsAPI)
    True
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

    from lakebed.tracking._lineage import LineageEdge, LineageGraph
    from lakebed.tracking._models import ModelVersion
    from lakebed.tracking._runs import Artifact

__all__ = ["LineageAPI", "ModelsAPI", "PredictionLogAPI", "RunAPI", "RunsAPI"]


class RunsAPI(ABC):
    """The runs of a lake, ``lake.runs``: start runs, find them (MLflow's search syntax),
    delete them.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     with lake.runs.start(experiment="fraud", tags={"team": "risk"}) as run:
        ...         run.log_metric("auc", 0.9)
        ...     lake.runs.count("tags.team = 'risk'"), lake.runs.experiments()
        (1, ['fraud'])
    """

    @abstractmethod
    def start(
        self,
        experiment: str = "default",
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RunAPI:
        """Start a run (status RUNNING); as a context manager it ends FINISHED, or FAILED
        when the block raises (the exception propagates).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     with lake.runs.start(experiment="fraud", name="baseline") as run:
            ...         run.status
            ...     run.status
            'RUNNING'
            'FINISHED'
        """

    @abstractmethod
    def delete(self, run_id: str) -> None:
        """Delete a run and its params, metrics, tags, artifact records and lineage edges
        (artifact files stay: they are content-addressed and may be shared)."""

    @abstractmethod
    def get(self, run_id: str | RunAPI) -> RunAPI:
        """The run with this id (NotFound if none)."""

    @abstractmethod
    def experiments(self) -> builtins.list[str]:
        """The names of the experiments that have runs, sorted."""

    @abstractmethod
    def search(
        self,
        query: str = "",
        experiment: str | Iterable[str] | None = None,
        order_by: Iterable[str] | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> pa.Table:
        """Runs matching ``query`` as an Arrow table: one row per run, attribute columns
        then ``metrics.<key>`` (latest value), ``params.<key>`` and ``tags.<key>``.

        The query language is MLflow's run search syntax plus ``or`` and parentheses:
        comparisons ``= != < <= > >= LIKE ILIKE`` on ``metrics.x``, ``params.x``,
        ``tags.x`` and attributes (``status``, ``run_name``, ``run_id``, ``user_id``,
        ``start_time`` in epoch milliseconds, ``experiment``, ...), ``attributes.run_id
        IN ('a', 'b')``, ``params.x IS NULL``; strings in single or double quotes, keys
        with special characters in backticks. ``order_by`` takes several ``"<field>
        [ASC|DESC]"`` items. The filter, ordering and limit run as one SQL statement.
        Default order: newest first. ``offset`` skips that many matching runs (pages;
        :meth:`count` gives the total).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     for lr in (0.1, 0.01):
            ...         with lake.runs.start(experiment="x") as run:
            ...             run.log_params({"lr": lr}); run.log_metric("auc", 10 * lr)
            ...     lake.runs.search("metrics.auc > 0.5 and params.lr = '0.1'").num_rows
            1
        """

    @abstractmethod
    def count(self, query: str = "", experiment: str | Iterable[str] | None = None) -> int:
        """How many runs :meth:`search` would find for ``query`` (without a limit).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     for lr in (0.1, 0.01, 0.001):
            ...         with lake.runs.start(experiment="x") as run:
            ...             run.log_metric("auc", lr)
            ...     lake.runs.count("metrics.auc < 0.05")
            2
        """

    @abstractmethod
    def list(self, experiment: str | None = None, *, status: str | None = None, limit: int | None = None) -> pa.Table:
        """All runs (of an experiment, with a status), newest first, as in :meth:`search`."""


class RunAPI(ABC):
    """One run of an experiment: params (immutable), metric series, tags, inputs,
    artifacts and models. Use it as a context manager from :meth:`RunsAPI.start`.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     with lake.runs.start(experiment="demo") as run:
        ...         run.log_params({"lr": 0.1})
        ...         run.log_metric("loss", 0.5, step=1)
        ...     lake.runs.get(run.id).params, lake.runs.get(run.id).status
        ({'lr': '0.1'}, 'FINISHED')
    """

    id: str
    experiment: str
    name: str | None
    status: str
    start_time: float
    end_time: float | None
    error: str | None

    @property
    @abstractmethod
    def ref(self) -> str:
        """The lineage reference ``run:<id>``."""

    @abstractmethod
    def log_param(self, key: str, value: Any) -> None:
        """Log one param (see :meth:`log_params`)."""

    @abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params; they are immutable: logging a key again with another value raises
        ConflictError (the same value is fine). Values are stored as strings."""

    @abstractmethod
    def log_metric(self, key: str, value: float, step: int | None = None, timestamp: float | None = None) -> None:
        """Append a point to the series ``key`` (step defaults to 0; the latest point is the
        one with the largest step, then the latest time). ``timestamp``: seconds since the
        epoch (default: now).

        Remote: each call is one request, and the point is stored durably before it returns."""

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Append one point per key, all with the same step and timestamp. The points are
        written together: a crash leaves all of them or none (never part of the call).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     with lake.runs.start() as run:
            ...         run.log_metrics({"auc": 0.9, "loss": 0.2}, step=3)
            ...     sorted(run.metrics.items())
            [('auc', 0.9), ('loss', 0.2)]
        """

    @abstractmethod
    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag (see :meth:`set_tags`)."""

    @abstractmethod
    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (mutable, unlike params); values are stored as strings."""

    @abstractmethod
    def log_input(self, source: Any, *, kind: str = "input") -> str:
        """Record a training set, a table version (``"gold.train@3"``, ``("gold.train",
        3)``) or any lineage ref as an input of this run; returns the ref recorded.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     _ = lake.tables.create("gold.train", data=[{"x": 1}])
            ...     with lake.runs.start() as run:
            ...         run.log_input(("gold.train", 0))
            ...     run.inputs
            'table:gold.train@0'
            ['table:gold.train@0']

        Remote: a training set object is sent as its ``ref`` (or table and version)."""

    @property
    @abstractmethod
    def inputs(self) -> builtins.list[str]:
        """Refs of what was logged with :meth:`log_input`."""

    @abstractmethod
    def log_artifact(self, source: str | Path | bytes, name: str | None = None) -> Artifact:
        """Store a file or bytes under ``<lake>/artifacts/<sha256>`` and record it here.

        Remote: a file is read on the client and its bytes are uploaded."""

    @abstractmethod
    def log_model(self, model: Any, name: str = "model", flavor: str | None = None) -> Artifact:
        """Serialize and store a model (flavors: sklearn, booster, torch, pickle).

        Remote: the model is serialized on the client; the server stores the bytes and
        never loads them."""

    @abstractmethod
    def log_model_bytes(
        self, data: bytes, name: str = "model", flavor: str = "pickle", properties: dict[str, Any] | None = None
    ) -> Artifact:
        """Store a model serialized elsewhere (e.g. by a remote client) without loading it:
        its bytes, flavor and the properties :func:`load_model` needs."""

    @property
    @abstractmethod
    def params(self) -> dict[str, str]:
        """The params of the run (values as strings)."""

    @property
    @abstractmethod
    def tags(self) -> dict[str, str]:
        """The tags of the run (values as strings)."""

    @property
    @abstractmethod
    def metrics(self) -> dict[str, float]:
        """The latest value of every metric."""

    @abstractmethod
    def metric_history(self, key: str) -> pa.Table:
        """The whole series of ``key``: columns step, timestamp, value (in logging order)."""

    @property
    @abstractmethod
    def artifacts(self) -> builtins.list[Artifact]:
        """The artifacts and models recorded by this run, by name."""

    @abstractmethod
    def artifact(self, name: str) -> Artifact:
        """The record of the artifact ``name`` (NotFound if the run has none).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     with lake.runs.start() as run:
            ...         _ = run.log_artifact(b"hello", name="notes.txt")
            ...     run.artifact("notes.txt").size
            5
        """

    @abstractmethod
    def load_artifact(self, name: str) -> bytes:
        """The bytes of an artifact, checked against its sha256 (CorruptionError if not)."""

    @abstractmethod
    def load_model(self, name: str = "model") -> Any:
        """Load the model logged as ``name`` (its bytes' checksum is verified first).
        Pickle-based flavors execute code on load: load models only from lakes you trust.

        Remote: the bytes are downloaded and the model is loaded on the client."""

    @property
    @abstractmethod
    def environment(self) -> dict[str, str]:
        """The installed packages ``{name: version}`` captured when the run started."""

    @abstractmethod
    def end(self, status: str = "FINISHED", error: str | None = None) -> None:
        """Flush this run's metrics and set its final status and end time."""

    @abstractmethod
    def __enter__(self) -> RunAPI:
        """The run itself."""

    @abstractmethod
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """End the run: FINISHED, FAILED when the block raised, KILLED on KeyboardInterrupt."""


class ModelsAPI(ABC):
    """The model registry of a lake, ``lake.models``: named models with numbered versions,
    each backed by a run's model artifact, and movable aliases (``fraud@champion``).

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     with lake.runs.start() as run:
        ...         _ = run.log_model({"w": [1, 2]})
        ...     mv = lake.models.register("fraud", run=run)
        ...     lake.models.set_alias("fraud", "champion", mv.version)
        ...     lake.models.resolve("fraud@champion"), lake.models.load("fraud@champion")
        (('fraud', 1), {'w': [1, 2]})
    """

    @abstractmethod
    def register(
        self,
        name: str,
        run: RunAPI | str,
        artifact: str = "model",
        description: str | None = None,
    ) -> ModelVersion:
        """Register the artifact ``artifact`` of ``run`` as the next version of ``name``
        (1, 2, ...); records lineage ``run:<id> -> model:<name>@<version>``."""

    @abstractmethod
    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``name@alias`` at ``version`` (moving it if it pointed elsewhere)."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias (NotFound if it does not exist)."""

    @abstractmethod
    def resolve(self, ref: str, version: int | str | None = None) -> tuple[str, int]:
        """``"fraud@champion"`` -> ("fraud", 3). No selector means the latest version."""

    @abstractmethod
    def get(self, ref: str, version: int | str | None = None) -> ModelVersion:
        """A model version: ``get("fraud@champion")``, ``get("fraud@3")``, ``get("fraud", 3)``,
        ``get("fraud")`` (the latest)."""

    @abstractmethod
    def load(self, ref: str, version: int | str | None = None) -> Any:
        """Load a model version's object; the artifact's checksum is verified first.

        Remote: the bytes are downloaded, checked and loaded on the client."""

    @abstractmethod
    def versions(self, name: str) -> builtins.list[ModelVersion]:
        """All versions of a model, oldest first."""

    @abstractmethod
    def list(self) -> builtins.list[dict[str, Any]]:
        """Registered models: name, description, latest_version, aliases, created/updated."""


class LineageAPI(ABC):
    """Lineage of a lake, ``lake.lineage``: what each version of a table, feature view,
    run, model, prediction log or collection was made from, and what was made from it.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     _ = lake.tables.create("gold.train", data=[{"x": 1.0, "y": 0}])
        ...     with lake.runs.start() as run:
        ...         _ = run.log_input("gold.train@0")
        ...         _ = run.log_model({"w": 1})
        ...     mv = lake.models.register("fraud", run=run)
        ...     lake.lineage.training_set_of("fraud"), lake.lineage.reproduce_training_set("fraud").num_rows
        (('gold.train', 0), 1)
    """

    @abstractmethod
    def resolve(self, ref: str) -> str:
        """Normalize a ref: model aliases become versions (``model:fraud@champion`` ->
        ``model:fraud@3``), a missing version becomes the latest one."""

    @abstractmethod
    def upstream(self, ref: str, depth: int | None = None) -> LineageGraph:
        """Everything ``ref`` was made from, ``depth`` edges deep (all when None)."""

    @abstractmethod
    def downstream(self, ref: str, depth: int | None = None) -> LineageGraph:
        """Everything made from ``ref``."""

    @abstractmethod
    def edges(self, refs: Iterable[str] | None = None) -> builtins.list[LineageEdge]:
        """All edges touching ``refs`` (all edges of the lake when None)."""

    @abstractmethod
    def record(self, src: str, dst: str, kind: str, properties: dict[str, Any] | None = None) -> None:
        """Record the edge ``src -> dst`` made by something outside lakebed (an
        orchestrator's step, a job): both are refs (``table:silver.users@3``), ``kind`` says
        how (``dagster``, ``etl``), ``properties`` (a JSON object, up to 64 KiB) says more
        (a run id, a job name). Recording an edge that exists changes nothing.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     lake.lineage.record("table:bronze.raw@2", "table:silver.clean@5", "etl", {"job": "nightly"})
            ...     [(e.src, e.kind) for e in lake.lineage.upstream("table:silver.clean@5").edges]
            [('table:bronze.raw@2', 'etl')]
        """

    @abstractmethod
    def training_set_of(self, model_ref: str) -> tuple[str, int]:
        """(table name, version) of the training set a model version was trained on: the
        table logged as an input of the run that produced it."""

    @abstractmethod
    def reproduce_training_set(self, model_ref: str) -> pa.Table:
        """Rebuild the training set of a model version from its lineage.

        When the feature store made it, ``lake.features.reproduce_training_set`` recomputes
        it from the recorded feature view and source table versions; otherwise the table is
        read back at the recorded version (Delta time travel).

        Remote: the key needs the ``read`` grant on the training set's table (and on
        ``features`` when the feature store made it)."""


class PredictionLogAPI(ABC):
    """The prediction log of a model, ``lake.predictions("fraud@champion")``: what a
    served model was asked and what it answered, in the table ``predictions.<model>``.

    An alias or version is resolved once, when the log is opened; without one, writes go
    to the latest version and reads cover every version.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     with lake.runs.start() as run:
        ...         _ = run.log_model({"w": 1})
        ...     _ = lake.models.register("fraud", run=run)
        ...     log = lake.predictions("fraud@1")
        ...     _ = log.write({"amount": [10.0, 99.0]}, [0, 1], request_ids=["a", "b"])
        ...     log.join_labels({"request_id": ["a", "b"], "label": [0, 0]})["label"].to_pylist()
        [0, 0]
    """

    name: str
    version: int | None
    table_name: str

    @abstractmethod
    def write(
        self,
        inputs: Any,
        outputs: Any,
        request_ids: Sequence[str] | None = None,
        latency_ms: float | Sequence[float] | None = None,
    ) -> int:
        """Append predictions (one row per input row); returns the new table version.

        ``inputs``: a pyarrow Table, a DataFrame, a dict of columns, a list of row dicts or
        a 2-D numpy array (stored as ``input_<column>``); ``outputs``: one value per row
        (stored as ``prediction``) or columns (``output_<column>``).

        Remote: the rows are sent as one Arrow IPC stream."""

    @abstractmethod
    def read(
        self,
        *,
        version: int | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Logged predictions (of this log's model version, or ``version=``), optionally
        between ``start`` (inclusive) and ``end`` (exclusive); naive datetimes are UTC."""

    @abstractmethod
    def join_labels(self, labels: Any, on: str = "request_id", how: str = "inner") -> pa.Table:
        """Join logged predictions with ground truth (a table name, Arrow table, DataFrame,
        dict of columns or list of rows) on ``on``, to evaluate a served model.

        Remote: a table name is read by the server (the key needs the ``read`` grant on
        it); other labels are sent as Arrow."""
