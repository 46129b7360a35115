"""Prediction logs: what a served model was asked and what it answered.

Rows go to the lakebed table ``predictions.<model>``, partitioned by ``day``
(``YYYY-MM-DD``, UTC), with columns ``request_id``, ``ts``, ``day``, ``model``,
``model_version``, ``latency_ms``, then the inputs as ``input_<column>`` and the outputs
as ``prediction`` (one value per row) or ``output_<column>``. The first write of a model
version records lineage ``model:<name>@<v> -> predictions:<name>@<v>``.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     with lake.runs.start() as run:
    ...         _ = run.log_model({"w": 1})
    ...     _ = lake.models.register("fraud", run=run)
    ...     log = lake.predictions("fraud@1")
    ...     _ = log.write({"amount": [10.0, 99.0]}, [0, 1], request_ids=["a", "b"])
    ...     log.read().column("prediction").to_pylist()
    [0, 1]
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from lakebed.api._tracking import PredictionLogAPI
from lakebed.errors import InvalidArgument
from lakebed.tracking._models import split_model_ref

if TYPE_CHECKING:
    from lakebed.lake import Lake

_META = ("request_id", "ts", "day", "model", "model_version", "latency_ms")


def _table(data: Any, what: str) -> pa.Table:
    """Columns from a pyarrow Table/RecordBatch, pandas/polars frame, dict of columns,
    list of row dicts or a 2-D numpy array."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    try:
        if module == "pandas":
            return pa.Table.from_pandas(data, preserve_index=False)
        if module == "polars":
            return data.to_arrow()  # type: ignore[no-any-return]
        if module == "numpy" and getattr(data, "ndim", 0) == 2:
            return pa.table({f"f{i}": data[:, i] for i in range(data.shape[1])})
        if isinstance(data, Mapping):
            return pa.table({str(k): v for k, v in data.items()})
        if isinstance(data, Sequence) and data and all(isinstance(r, Mapping) for r in data):
            return pa.Table.from_pylist(list(data))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"cannot read the {what} as columns: {exc}") from None
    raise InvalidArgument(
        f"{what} must be a pyarrow Table, a DataFrame, a dict of columns, a list of row "
        f"dicts or a 2-D numpy array; got {type(data).__name__}"
    )


def prepare(
    inputs: Any, outputs: Any, request_ids: Sequence[str] | None, latency_ms: float | Sequence[float] | None
) -> tuple[pa.Table, dict[str, Any], list[str] | None, pa.Array]:
    """The columns of a write, checked: the inputs, the outputs by stored name
    (``prediction`` or ``output_<column>``), the request ids (None: to be made) and the
    latencies; InvalidArgument when a length differs from the inputs'."""
    ins = _table(inputs, "inputs")
    n = ins.num_rows
    if n == 0:
        raise InvalidArgument("no inputs to log; pass at least one row")
    if isinstance(outputs, (Mapping, pa.Table)) or (
        type(outputs).__module__.split(".")[0] in ("pandas", "polars") and hasattr(outputs, "columns")
    ):
        out_t = _table(outputs, "outputs")
        out_cols = {f"output_{c}": out_t.column(c) for c in out_t.column_names}
    else:
        try:
            arr = pa.array(list(outputs) if not isinstance(outputs, pa.Array) else outputs)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise InvalidArgument(f"cannot read the outputs as a column: {exc}") from None
        out_cols = {"prediction": arr}
    for name, col in out_cols.items():
        if len(col) != n:
            raise InvalidArgument(f"{n} input rows but {len(col)} outputs in {name!r}")
    ids = None
    if request_ids is not None:
        ids = [str(r) for r in request_ids]
        if len(ids) != n:
            raise InvalidArgument(f"{n} input rows but {len(ids)} request_ids")
    if latency_ms is None or isinstance(latency_ms, int | float):
        lat = pa.array([None if latency_ms is None else float(latency_ms)] * n, pa.float64())
    else:
        try:
            lat = pa.array([float(x) for x in latency_ms], pa.float64())
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"latency_ms must be numbers: {exc}") from None
        if len(lat) != n:
            raise InvalidArgument(f"{n} input rows but {len(lat)} latencies")
    return ins, out_cols, ids, lat


class PredictionLog(PredictionLogAPI):
    """The prediction log of a model: ``lake.predictions("fraud@champion")``.

    An alias or version is resolved once, when the log is opened; without one, writes go
    to the latest version and reads cover every version.
    """

    def __init__(self, lake: Lake, model: str) -> None:
        self._lake = lake
        self.name, selector = split_model_ref(model)
        self.version: int | None = None
        if selector is not None:
            self.version = lake.models.resolve(self.name, selector)[1]
        self.table_name = f"predictions.{self.name}"
        self._edges: set[int] = set()

    def __repr__(self) -> str:
        v = "all versions" if self.version is None else f"version {self.version}"
        return f"<PredictionLog {self.name} ({v})>"

    def write(
        self,
        inputs: Any,
        outputs: Any,
        request_ids: Sequence[str] | None = None,
        latency_ms: float | Sequence[float] | None = None,
    ) -> int:
        self._lake.check_writable()
        version = self.version
        if version is None:
            version = self._lake.models.resolve(self.name)[1]
        else:
            self._lake.models.get(self.name, version)  # NotFound if it was deleted
        ins, out_cols, given_ids, lat = prepare(inputs, outputs, request_ids, latency_ms)
        n = ins.num_rows
        ids = [uuid.uuid4().hex for _ in range(n)] if given_ids is None else given_ids
        now = time.time()
        day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d")
        cols: dict[str, Any] = {
            "request_id": pa.array(ids, pa.string()),
            "ts": pa.array([int(now * 1e6)] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "day": pa.array([day] * n, pa.string()),
            "model": pa.array([self.name] * n, pa.string()),
            "model_version": pa.array([version] * n, pa.int64()),
            "latency_ms": lat,
        }
        for c in ins.column_names:
            cols[f"input_{c}"] = ins.column(c)
        cols.update(out_cols)
        table = pa.table(cols)
        tables = self._lake.tables
        if tables.exists(self.table_name):
            written = tables.write(self.table_name, table, mode="append", schema_mode="merge")
        else:
            written = tables.create(
                self.table_name,
                data=table,
                partition_by=["day"],
                description=f"prediction log of model {self.name}",
            )
        if version not in self._edges:
            self._lake.catalog.add_lineage(
                f"model:{self.name}@{version}", f"predictions:{self.name}@{version}", "predicted"
            )
            self._edges.add(version)
        return int(written)

    def read(
        self,
        *,
        version: int | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        if not self._lake.tables.exists(self.table_name):
            return pa.table({c: pa.array([], pa.string()) for c in _META})
        table = self._lake.tables.read(self.table_name)
        v = self.version if version is None else version
        mask = None
        if v is not None:
            mask = pc.equal(table.column("model_version"), v)
        for bound, fn in ((start, pc.greater_equal), (end, pc.less)):
            if bound is not None:
                if bound.tzinfo is None:
                    bound = bound.replace(tzinfo=dt.UTC)
                m = fn(table.column("ts"), pa.scalar(bound, pa.timestamp("us", tz="UTC")))
                mask = m if mask is None else pc.and_(mask, m)
        if mask is not None:
            table = table.filter(mask)
        if table.num_rows:
            table = table.sort_by([("ts", "ascending")])
        if columns is not None:
            if isinstance(columns, str):
                raise InvalidArgument("columns is a list of names, not one string")
            missing = [c for c in columns if c not in table.column_names]
            if missing:
                raise InvalidArgument(
                    f"the prediction log of {self.name!r} has no column {missing[0]!r}; "
                    f"its columns: {', '.join(table.column_names)}"
                )
            table = table.select(list(columns))
        return table

    def join_labels(self, labels: Any, on: str = "request_id", how: str = "inner") -> pa.Table:
        if isinstance(labels, str):
            labels = self._lake.tables.read(labels)
        lab = _table(labels, "labels")
        preds = self.read()
        for side, t in (("labels", lab), ("prediction log", preds)):
            if on not in t.column_names:
                raise InvalidArgument(f"the {side} have no column {on!r} to join on")
        joined = preds.join(lab, keys=on, join_type=how if how != "inner" else "inner", right_suffix="_label")
        return joined.sort_by([("ts", "ascending"), (on, "ascending")]) if joined.num_rows else joined
