"""Drift between two datasets, each a table version, a training set, a prediction log
(window), a vector collection or data in memory; and model monitoring through lineage.

The statistics and the default test per column are in :mod:`lakebed.quality._stats`; this
module finds the data each side names, pairs the columns, and assembles the report.

Example:
    >>> import numpy as np, pyarrow as pa
    >>> rng = np.random.default_rng(0)
    >>> ref = pa.table({"x": rng.normal(0, 1, 2000), "c": ["a", "b"] * 1000})
    >>> cur = pa.table({"x": rng.normal(3, 1, 2000), "c": ["a", "b"] * 1000})
    >>> r = drift_tables(ref, cur)
    >>> [(c.column, c.drifted) for c in r.columns]
    [('x', True), ('c', False)]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakebed.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from lakebed.lake import Lake

# Columns of a prediction log that describe the request, not the model's inputs.
_LOG_META = ("request_id", "ts", "day", "model", "model_version", "latency_ms")
COLLECTION_SAMPLE = 5000


@dataclasses.dataclass
class ColumnDrift:
    """Drift of one column: the test used (``method``), its ``score`` against
    ``threshold``, the verdict, and every statistic computed (``stats``)."""

    column: str
    kind: str
    method: str
    score: float | None
    threshold: float
    drifted: bool
    stats: dict[str, Any]
    reference_rows: int
    current_rows: int
    reference_nulls: int
    current_nulls: int
    histogram: dict[str, Any] | None = None
    categories: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if v is not None or k in ("score",)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnDrift:
        """The column drift whose :meth:`to_dict` is ``d``."""
        try:
            stats, hist, cats = d.get("stats", {}), d.get("histogram"), d.get("categories")
            if not isinstance(stats, dict) or not isinstance(hist, dict | None) or not isinstance(cats, dict | None):
                raise TypeError("stats, histogram and categories are dicts")
            return cls(
                str(d["column"]), str(d["kind"]), str(d["method"]), None if d["score"] is None else float(d["score"]),
                float(d["threshold"]), bool(d["drifted"]), stats, int(d["reference_rows"]), int(d["current_rows"]),
                int(d.get("reference_nulls", 0)), int(d.get("current_nulls", 0)), hist, cats,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a column drift dict: {exc!r}") from None


@dataclasses.dataclass
class DriftReport:
    """Per-column drift and the dataset's verdict (drifted when at least ``threshold`` of
    the columns drifted)."""

    reference: str
    current: str
    reference_rows: int
    current_rows: int
    columns: list[ColumnDrift]
    drifted: bool
    drifted_columns: int
    share: float
    threshold: float
    created_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def column(self, name: str) -> ColumnDrift:
        """The drift of one column."""
        for c in self.columns:
            if c.column == name:
                return c
        raise NotFound(f"no column {name!r} in this drift report; columns: {[c.column for c in self.columns]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": {"ref": self.reference, "rows": self.reference_rows},
            "current": {"ref": self.current, "rows": self.current_rows},
            "dataset": {"drifted": self.drifted, "drifted_columns": self.drifted_columns,
                        "columns": len(self.columns), "share": self.share, "threshold": self.threshold},
            "columns": [c.to_dict() for c in self.columns],
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftReport:
        """The report whose :meth:`to_dict` is ``d``."""
        try:
            ref, cur, ds, cols = d["reference"], d["current"], d["dataset"], d["columns"]
            if not isinstance(cols, list):
                raise TypeError("columns is a list")
            created = d.get("created_at")
            return cls(
                str(ref["ref"]), str(cur["ref"]), int(ref["rows"]), int(cur["rows"]),
                [ColumnDrift.from_dict(c) for c in cols], bool(ds["drifted"]), int(ds["drifted_columns"]),
                float(ds["share"]), float(ds["threshold"]),
                dt.datetime.now(dt.UTC) if created is None else
                created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(created),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a drift report dict: {exc!r}") from None

    def to_arrow(self) -> pa.Table:
        """One row per column: column, kind, method, score, threshold, drifted."""
        return pa.Table.from_pylist([
            {"column": c.column, "kind": c.kind, "method": c.method, "score": c.score, "threshold": c.threshold,
             "drifted": c.drifted} for c in self.columns
        ], schema=pa.schema([("column", pa.string()), ("kind", pa.string()), ("method", pa.string()),
                             ("score", pa.float64()), ("threshold", pa.float64()), ("drifted", pa.bool_())]))

    def __repr__(self) -> str:
        verdict = "DRIFTED" if self.drifted else "no drift"
        return (f"<DriftReport {self.reference} -> {self.current}: {verdict} "
                f"({self.drifted_columns}/{len(self.columns)} columns)>")


def drift_tables(
    reference: pa.Table,
    current: pa.Table,
    columns: Sequence[str] | None = None,
    *,
    method: str | dict[str, str] | None = None,
    threshold: float | dict[str, float] | None = None,
    share: float = 0.5,
    reference_ref: str = "reference",
    current_ref: str = "current",
) -> DriftReport:
    """Drift of ``columns`` (default: the columns both sides have) from ``reference`` to
    ``current``. ``method``/``threshold`` pick the test for every column or per column."""
    from lakebed.quality._stats import column_drift, dataset_verdict

    if not isinstance(share, int | float) or not 0 < share <= 1:
        raise InvalidArgument(f"share is the fraction of drifted columns that makes the dataset drift, "
                              f"in (0, 1]; got {share!r}")
    if columns is None:
        cols = [c for c in reference.column_names if c in set(current.column_names)]
        if not cols:
            raise InvalidArgument(
                f"the two sides have no column in common (reference: {reference.column_names[:10]}, "
                f"current: {current.column_names[:10]}); pass columns=[...] or rename them"
            )
    else:
        if isinstance(columns, str):
            columns = [columns]
        cols = list(columns)
        for side, t in (("reference", reference), ("current", current)):
            missing = [c for c in cols if c not in t.column_names]
            if missing:
                raise InvalidArgument(f"the {side} has no column {missing[0]!r} (columns: {t.column_names[:20]})")
    for what, per in (("method", method), ("threshold", threshold)):
        if isinstance(per, dict):
            unknown = [c for c in per if c not in cols]
            if unknown:
                raise InvalidArgument(f"{what} names column {unknown[0]!r}, which is not compared ({cols[:20]})")
    out = []
    for c in cols:
        m = method.get(c) if isinstance(method, dict) else method
        th = threshold.get(c) if isinstance(threshold, dict) else threshold
        try:
            d = column_drift(reference.column(c), current.column(c), method=m, threshold=th)
        except InvalidArgument as exc:
            raise InvalidArgument(f"column {c!r}: {exc}") from None
        out.append(ColumnDrift(
            c, d["kind"], d["method"], d["score"], d["threshold"], bool(d["drifted"]), d.get("stats", {}),
            int(d["reference_rows"]), int(d["current_rows"]), int(d.get("reference_nulls", 0)),
            int(d.get("current_nulls", 0)), d.get("histogram"), d.get("categories"),
        ))
    v = dataset_verdict([{"drifted": c.drifted} for c in out], share=share)
    return DriftReport(reference_ref, current_ref, reference.num_rows, current.num_rows, out, bool(v["drifted"]),
                       int(v["drifted_columns"]), float(v["share"]), float(v["threshold"]))


def resolve_side(lake: Lake, side: Any, *, start: dt.datetime | None = None,
                 end: dt.datetime | None = None) -> tuple[pa.Table, str]:
    """The data a drift side names, and its ref: a table (``"silver.users"``,
    ``"silver.users@3"``, ``("silver.users", 3)``, ``"table:silver.users@3"``), a prediction
    log (``"predictions:fraud@2"`` or ``lake.predictions(...)``, between ``start`` and
    ``end``, its ``input_`` columns named as the model's inputs), a collection
    (``"collection:docs"``: a sample of its vectors as column ``vector``), a training set,
    or data (Arrow, pandas, polars, rows)."""
    from lakebed.tracking import PredictionLog

    if isinstance(side, PredictionLog):
        return _prediction_inputs(side.read(start=start, end=end)), f"predictions:{log_ref(side)}"
    if isinstance(side, tuple) and len(side) == 2 and isinstance(side[0], str):
        name, version = side[0], int(side[1])
        return lake.tables.read(name, version=version), f"table:{name}@{version}"
    if isinstance(side, str):
        if side.startswith("predictions:"):
            log = lake.predictions(side[len("predictions:"):])
            return _prediction_inputs(log.read(start=start, end=end)), side
        if side.startswith("collection:"):
            return _collection_vectors(lake, side[len("collection:"):]), side
        from lakebed.quality._contracts import _split_version

        name, at = _split_version(side)
        v = lake.tables.version(name) if at is None else at
        return lake.tables.read(name, version=v), f"table:{name}@{v}"
    ref = getattr(side, "ref", None)
    to_arrow = getattr(side, "to_arrow", None)
    if callable(to_arrow) and not isinstance(side, pa.Table):
        table = to_arrow()
        return table, ref if isinstance(ref, str) else type(side).__name__
    from lakebed.quality._contracts import _frame_of

    try:
        return _frame_of(side).to_arrow(), "data"
    except InvalidArgument:
        raise
    except Exception:
        raise InvalidArgument(
            f"cannot compare {type(side).__name__}: a drift side is a table name ('silver.users@3'), "
            "'predictions:<model>@<v>', 'collection:<name>', a training set, or data (Arrow, pandas, polars)"
        ) from None


def log_ref(log: Any) -> str:
    """``name@version`` of a prediction log (``name`` alone when it covers every version)."""
    return log.name if log.version is None else f"{log.name}@{log.version}"


def _prediction_inputs(log: pa.Table) -> pa.Table:
    """A prediction log's inputs named as the model's (``input_amount`` -> ``amount``),
    with its outputs (``prediction``, ``output_*``); the request metadata dropped."""
    cols, names = [], []
    for name in log.column_names:
        if name in _LOG_META:
            continue
        cols.append(log.column(name))
        names.append(name[len("input_"):] if name.startswith("input_") else name)
    return pa.table(cols, names=names) if cols else pa.table({})


def _collection_vectors(lake: Lake, name: str, sample: int = COLLECTION_SAMPLE) -> pa.Table:
    col = lake.collections.open(name)
    ids: list[Any] = []
    cursor = None
    while True:
        page, cursor = col.scroll(limit=10_000, cursor=cursor)
        ids.extend(p.id for p in page)
        if cursor is None:
            break
    if not ids:
        raise InvalidArgument(f"collection {name!r} holds no points to compare")
    if len(ids) > sample:
        rng = np.random.default_rng(0)
        ids = [ids[i] for i in sorted(rng.choice(len(ids), sample, replace=False))]
    points = col.get(ids, include_vectors=True)
    vecs = np.stack([np.asarray(p.vector, dtype=np.float32) for p in points])
    dim = vecs.shape[1]
    return pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), dim)})


@dataclasses.dataclass
class MonitorReport:
    """Model monitoring: drift of the served inputs against the training set, and (with
    labels) the model's performance per period."""

    model: str
    training_set: str
    drift: DriftReport
    performance: list[dict[str, Any]] | None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "training_set": self.training_set, "drift": self.drift.to_dict(),
                "performance": self.performance}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonitorReport:
        """The monitor report whose :meth:`to_dict` is ``d``."""
        try:
            perf = d.get("performance")
            if perf is not None and not (isinstance(perf, list) and all(isinstance(p, dict) for p in perf)):
                raise TypeError("performance is a list of periods (dicts)")
            return cls(str(d["model"]), str(d["training_set"]), DriftReport.from_dict(d["drift"]), perf)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a monitor report dict: {exc!r}") from None


def performance_by_period(joined: pa.Table, prediction: str, label: str, freq: str) -> list[dict[str, Any]]:
    """Accuracy (labels with few distinct values) or MAE/RMSE per period of ``ts``."""
    units = {"h": 3600, "d": 86400, "w": 604800}
    if not freq or freq[-1] not in units or not (freq[:-1] or "1").isdigit():
        raise InvalidArgument(f"freq is a number and a unit h, d or w ('1d', '6h'), got {freq!r}")
    step = int(freq[:-1] or 1) * units[freq[-1]]
    ts = pc.cast(joined.column("ts"), pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False)
    secs = ts.astype("datetime64[s]").astype(np.int64)
    bucket = secs // step * step
    pred = joined.column(prediction).to_pylist()
    lab = joined.column(label).to_pylist()
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in lab if v is not None)
    classes = len({v for v in lab if v is not None}) <= 20
    out = []
    for b in np.unique(bucket):
        idx = np.nonzero(bucket == b)[0]
        pairs = [(pred[i], lab[i]) for i in idx if pred[i] is not None and lab[i] is not None]
        row: dict[str, Any] = {"period": dt.datetime.fromtimestamp(int(b), tz=dt.UTC).isoformat(), "rows": len(pairs)}
        if pairs and (classes or not numeric):
            row["accuracy"] = sum(1 for p, y in pairs if p == y) / len(pairs)
        if pairs and numeric and not classes:
            err = np.array([float(p) - float(y) for p, y in pairs])
            row["mae"] = float(np.abs(err).mean())
            row["rmse"] = float(np.sqrt((err ** 2).mean()))
        out.append(row)
    return out
