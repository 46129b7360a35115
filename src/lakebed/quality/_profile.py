"""Column profiles: type, nulls, distinct values, range, moments, quantiles, a histogram
and the most frequent values of every column, computed in one polars pass.

Example:
    >>> import pyarrow as pa
    >>> p = profile_frame(pa.table({"x": [1, 2, 2, None]}), "data")
    >>> c = p.column("x")
    >>> (c["nulls"], c["distinct"], c["min"], c["max"])
    (1, 2, 1, 2)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa

from lakebed.errors import InvalidArgument, NotFound
from lakebed.quality._checks import _pl, jsonable

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
EXACT_DISTINCT = 1_000_000  # above this many rows distinct counts are HyperLogLog estimates
BINS = 20
TOP = 10


@dataclasses.dataclass
class Profile:
    """The profile of a table version or of data in memory."""

    target: str
    version: int | None
    rows: int
    columns: list[dict[str, Any]]
    created_at: dt.datetime
    id: int | None = None

    def column(self, name: str) -> dict[str, Any]:
        """The profile of one column."""
        for c in self.columns:
            if c["name"] == name:
                return c
        raise NotFound(f"no column {name!r} in this profile; columns: {[c['name'] for c in self.columns]}")

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target if self.version is None else f"{self.target}@{self.version}",
                "version": self.version, "rows": self.rows, "columns": self.columns,
                "created_at": self.created_at.isoformat(), "id": self.id}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        """The profile whose :meth:`to_dict` is ``d``."""
        try:
            version = None if d["version"] is None else int(d["version"])
            target = str(d["target"])
            if version is not None and target.endswith(f"@{version}"):
                target = target[: -len(f"@{version}")]
            columns = d["columns"]
            if not isinstance(columns, list) or not all(isinstance(c, dict) and "name" in c for c in columns):
                raise ValueError("columns is a list of column profiles, each with its name")
            created = d["created_at"]
            created_at = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(created)
            return cls(target, version, int(d["rows"]), columns, created_at,
                       None if d.get("id") is None else int(d["id"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a profile dict: {exc!r}") from None

    def to_arrow(self) -> pa.Table:
        """One row per column: name, type, count, nulls, null_fraction, distinct, min, max, mean, std."""
        keys = ("name", "type", "count", "nulls", "null_fraction", "distinct", "min", "max", "mean", "std")
        rows = [{k: (str(c.get(k)) if k in ("min", "max") and c.get(k) is not None else c.get(k)) for k in keys}
                for c in self.columns]
        return pa.Table.from_pylist(rows)

    def __repr__(self) -> str:
        where = self.target if self.version is None else f"{self.target}@{self.version}"
        return f"<Profile {where}: {self.rows:,} rows, {len(self.columns)} columns>"


def _kind(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_duration(t):
        return "temporal"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or \
            pa.types.is_dictionary(t):
        return "string"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "list"
    return "other"


def profile_frame(data: Any, target: str, version: int | None = None, *, top: int = TOP,
                  bins: int = BINS) -> Profile:
    """Profile ``data`` (Arrow, pandas, polars, rows) in one pass."""
    pl = _pl()
    from lakebed.quality._contracts import _frame_of

    df = _frame_of(data)
    arrow_schema = df.head(0).to_arrow().schema
    rows = df.height
    exact = rows <= EXACT_DISTINCT
    aggs: list[Any] = []
    kinds = {}
    for f in arrow_schema:
        k = _kind(f.type)
        kinds[f.name] = k
        c = pl.col(f.name)
        i = len(kinds) - 1
        aggs.append(c.null_count().alias(f"{i}_nulls"))
        if k in ("numeric", "temporal", "string", "boolean"):
            aggs.append((c.n_unique() - c.is_null().any().cast(pl.UInt32) if exact else c.approx_n_unique())
                        .alias(f"{i}_distinct"))
        if k in ("numeric", "temporal", "string"):
            aggs += [c.min().alias(f"{i}_min"), c.max().alias(f"{i}_max")]
        if k == "numeric":
            x = c.cast(pl.Float64)
            finite = x.filter(x.is_finite())
            aggs += [finite.mean().alias(f"{i}_mean"), finite.std().alias(f"{i}_std"),
                     x.is_nan().sum().alias(f"{i}_nan")]
            aggs += [finite.quantile(q, "linear").alias(f"{i}_q{q}") for q in QUANTILES]
    got = df.select(aggs).row(0, named=True) if aggs else {}
    out = []
    for i, f in enumerate(arrow_schema):
        k = kinds[f.name]
        nulls = int(got.get(f"{i}_nulls") or 0)
        col: dict[str, Any] = {
            "name": f.name, "type": str(f.type), "kind": k, "count": rows - nulls, "nulls": nulls,
            "null_fraction": (nulls / rows) if rows else 0.0,
            "distinct": None if f"{i}_distinct" not in got else int(got[f"{i}_distinct"] or 0),
            "distinct_approx": not exact, "min": None, "max": None, "mean": None, "std": None,
            "quantiles": None, "histogram": None, "top": None,
        }
        if k in ("numeric", "temporal", "string"):
            col["min"], col["max"] = jsonable(got[f"{i}_min"]), jsonable(got[f"{i}_max"])
        if k == "numeric":
            col["mean"], col["std"] = jsonable(got[f"{i}_mean"]), jsonable(got[f"{i}_std"])
            col["nan"] = int(got[f"{i}_nan"] or 0)
            qs = {str(q): jsonable(got[f"{i}_q{q}"]) for q in QUANTILES}
            col["quantiles"] = qs if any(v is not None for v in qs.values()) else None
            col["histogram"] = _histogram(df[f.name], bins)
        elif k == "temporal" and col["count"]:
            col["histogram"] = _histogram(df[f.name].to_physical(), bins, temporal=True)
        if k in ("string", "boolean") or (k == "numeric" and pa.types.is_integer(f.type)):
            vc = df[f.name].drop_nulls().value_counts(sort=True).head(top)
            col["top"] = [{"value": jsonable(r[0]), "count": int(r[1])} for r in vc.iter_rows()]
        out.append(col)
    return Profile(target, version, rows, out, dt.datetime.now(dt.UTC))


def _histogram(series: Any, bins: int, *, temporal: bool = False) -> dict[str, Any] | None:
    values = series.drop_nulls().cast(_pl().Float64).to_numpy()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts],
            "unit": "epoch" if temporal else None}
