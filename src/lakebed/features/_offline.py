"""Point-in-time joins in DuckDB over Arrow (the offline store).

For each entity row only the join keys, the timestamp (floored to microseconds, UTC when
zoned) and a row number go to DuckDB; each view is one ASOF JOIN (or, for window
aggregations, one range join) over the source table version's Parquet files, read by
DuckDB itself (a partitioned table is streamed from a pyarrow scanner of the needed
columns instead; the table is never materialized in Python). The result
comes back as Arrow, keyed by row number, and is put back in the entity order with an
O(n) inverse permutation (no sort); the entity columns themselves never leave Arrow.

Ties on event time are broken by the created timestamp: the ASOF key is the 128-bit
number ``event_us * 2**64 + (created_us + 2**63)``, and an entity row probes with
``ts_us * 2**64 + (2**64 - 1)``, so the latest row at or before ``ts`` with the largest
created time wins, without a second pass over the source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakebed.errors import InvalidArgument, SchemaError
from lakebed.features._definitions import parse_dtype
from lakebed.features._registry import view_feature_types
from lakebed.tables import to_arrow

_SHIFT = 18446744073709551616  # 2**64
_PROBE_LOW = 18446744073709551615  # 2**64 - 1
_HALF = 9223372036854775808  # 2**63
_AGG_SQL = {"sum": "sum", "count": "count", "mean": "avg", "min": "min", "max": "max"}
ROW = "__lakebed_rn"
TS = "__lakebed_ts"


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def entity_table(entity_df: Any) -> pa.Table:
    """Arrow, pandas, polars or a list of dicts -> a pyarrow Table."""
    if isinstance(entity_df, pa.Table):
        return entity_df
    try:
        table = to_arrow(entity_df)
    except InvalidArgument as exc:
        raise InvalidArgument(f"entity_df: {exc}") from None
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return table


def normalize_timestamps(col: pa.ChunkedArray, what: str) -> pa.ChunkedArray:
    """Timestamps -> microseconds (floored: a feature in microseconds is <= t exactly
    when it is <= floor(t)), zoned ones in UTC. Dates become midnight (naive)."""
    t = col.type
    if pa.types.is_date(t):
        return col.cast(pa.timestamp("us"))
    if not pa.types.is_timestamp(t):
        raise SchemaError(f"{what} must hold timestamps, it holds {t}; convert it (e.g. pd.to_datetime)")
    if t.unit == "ns":
        col = pc.floor_temporal(col, unit="microsecond")
    target = pa.timestamp("us", tz=None if t.tz is None else "UTC")
    return col.cast(target, safe=False) if t != target else col


def check_tz(entity_type: pa.DataType, source_type: pa.DataType, view: str, ts_col: str) -> None:
    if (entity_type.tz is None) != (source_type.tz is None):
        ent = "timezone-aware" if entity_type.tz is not None else "naive"
        src = "timezone-aware" if source_type.tz is not None else "naive"
        raise SchemaError(
            f"the entity timestamps are {ent} but {ts_col!r} of view {view!r} is {src}; "
            "make both aware (e.g. tz_localize('UTC')) or both naive"
        )


def core_table(entities: pa.Table, ts_column: str, keys: Sequence[str]) -> pa.Table:
    """The narrow table DuckDB sees: join keys, timestamp, row number."""
    if ts_column not in entities.column_names:
        raise SchemaError(
            f"entity_df has no timestamp column {ts_column!r} (columns: {entities.column_names}); "
            "add it or pass timestamp_column="
        )
    missing = [k for k in keys if k not in entities.column_names]
    if missing:
        raise SchemaError(
            f"entity_df lacks the join keys {missing} of the requested views "
            f"(columns: {entities.column_names})"
        )
    cols: dict[str, Any] = {k: entities.column(k) for k in keys}
    cols[TS] = normalize_timestamps(entities.column(ts_column), f"entity_df[{ts_column!r}]")
    cols[ROW] = pa.array(np.arange(entities.num_rows, dtype=np.int64))
    return pa.table(cols)


def check_keys(core: pa.Table, source: pa.Schema, keys: Sequence[str], view: str) -> pa.Table:
    """Entity key types must match the source's (integers of any width match)."""
    for k in keys:
        have = core.schema.field(k).type
        want = source.field(k).type
        if have == want or pa.types.is_null(have):
            if pa.types.is_null(have):
                core = core.set_column(core.schema.get_field_index(k), k, pa.nulls(core.num_rows, want))
            continue
        if pa.types.is_integer(have) and pa.types.is_integer(want):
            continue
        stringy = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
        if any(f(have) for f in stringy) and any(f(want) for f in stringy):
            continue
        if pa.types.is_dictionary(have) and have.value_type == want:
            core = core.set_column(core.schema.get_field_index(k), k, core.column(k).cast(want))
            continue
        raise SchemaError(
            f"join key {k!r} is {have} in entity_df but {want} in the source of view {view!r}; cast it"
        )
    return core


def view_sql(
    spec: dict[str, Any], features: Sequence[str], entity: str, source: str
) -> tuple[str, list[str]]:
    """The SQL of one view's point-in-time join; returns (sql, output column names)."""
    keys = spec["join_keys"]
    ts = q(spec["timestamp_field"])
    on = " AND ".join(f"e.{q(k)} = f.{q(k)}" for k in keys)
    outs = [f"__o{i}" for i in range(len(features))]
    if spec["aggregations"]:
        aggs = {a["name"]: a for a in spec["aggregations"]}
        cols = sorted({aggs[f]["column"] for f in features})
        max_w = max(aggs[f]["window_us"] for f in features)
        proj = []
        for f, o in zip(features, outs, strict=True):
            a = aggs[f]
            col = f"f.{q(a['column'])}"
            # float sums depend on the order of addition: fix it (time, then value) so
            # that a training set is reproducible bit for bit however DuckDB schedules
            order = f" ORDER BY f.__fus, {col}" if a["function"] in ("sum", "mean") else ""
            expr = (
                f"{_AGG_SQL[a['function']]}({col}{order}) "
                f"FILTER (WHERE f.__fus > epoch_us(e.{TS}) - {a['window_us']})"
            )
            if a["function"] == "sum":
                st = (spec.get("agg_source_types") or {}).get(a["column"], "float64")
                expr = f"CAST({expr} AS {'BIGINT' if st.startswith('int') else 'DOUBLE'})"
            proj.append(f"{expr} AS {o}")
        src = (
            f"SELECT {', '.join(q(k) for k in keys)}, {ts} AS __fts, epoch_us({ts}) AS __fus"
            f"{''.join(', ' + q(c) for c in cols)} FROM {source} WHERE {ts} IS NOT NULL"
        )
        sql = (
            f"SELECT e.{ROW}, {', '.join(proj)} FROM {entity} e LEFT JOIN ({src}) f "
            f"ON {on} AND f.__fts <= e.{TS} AND f.__fus > epoch_us(e.{TS}) - {max_w} "
            f"GROUP BY e.{ROW}, e.{TS}"
        )
        return sql, outs
    ttl = spec.get("ttl_us")
    proj = []
    for f, o in zip(features, outs, strict=True):
        if ttl:
            proj.append(f"CASE WHEN f.__fus > epoch_us(e.{TS}) - {ttl} THEN f.{q(f)} END AS {o}")
        else:
            proj.append(f"f.{q(f)} AS {o}")
    created = spec.get("created_timestamp_field")
    fcols = "".join(", " + q(f) for f in dict.fromkeys(features))
    base = f"{', '.join(q(k) for k in keys)}, epoch_us({ts}) AS __fus{fcols}"
    if created:
        fkey = f"epoch_us({ts})::HUGEINT * {_SHIFT} + (coalesce(epoch_us({q(created)}), -{_HALF})::HUGEINT + {_HALF})"
        src = f"SELECT {base}, {fkey} AS __k FROM {source} WHERE {ts} IS NOT NULL"
        ent = f"(SELECT *, epoch_us({TS})::HUGEINT * {_SHIFT} + {_PROBE_LOW} AS __k FROM {entity})"
        cond = "e.__k >= f.__k"
    else:
        src = f"SELECT {base}, {ts} AS __fts FROM {source} WHERE {ts} IS NOT NULL"
        ent = entity
        cond = f"e.{TS} >= f.__fts"
    sql = f"SELECT e.{ROW}, {', '.join(proj)} FROM {ent} e ASOF LEFT JOIN ({src}) f ON {on} AND {cond}"
    return sql, outs


SCAN_MODE = "reader"  # measured: ~20% less peak memory than registering the dataset, as fast


def _scan(dataset: Any, spec: dict[str, Any], features: Sequence[str]) -> Any:
    """What DuckDB scans: the dataset itself, or a scanner of the needed columns with little
    read-ahead (less memory held in Arrow batches waiting to be consumed)."""
    if SCAN_MODE == "dataset" or not hasattr(dataset, "scanner"):
        return dataset
    cols = [*spec["join_keys"], spec["timestamp_field"]]
    if spec.get("created_timestamp_field"):
        cols.append(spec["created_timestamp_field"])
    if spec["aggregations"]:
        aggs = {a["name"]: a["column"] for a in spec["aggregations"]}
        cols += [aggs[f] for f in features]
    else:
        cols += list(features)
    scanner = dataset.scanner(columns=list(dict.fromkeys(cols)), batch_readahead=1, fragment_readahead=1)
    return scanner.to_reader() if SCAN_MODE == "reader" else scanner


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parquet_files(lake: Any, name: str, dataset: Any) -> list[str] | None:
    """The local Parquet files of an unpartitioned table version, or None to scan the
    dataset instead. DuckDB's own reader is faster and holds less memory than a stream
    of Arrow batches; the file list is the table version's snapshot (from Delta's log),
    and a partitioned table keeps partition values out of its files, so it is streamed.
    """
    import os

    files = list(getattr(dataset, "files", []) or [])
    if not files:
        return None
    info = lake.tables.info(name)
    if info.get("partition_by"):
        return None
    root = str(info["location"])
    paths = [f if os.path.isabs(f) else os.path.join(root, f) for f in files]
    if not all(os.path.exists(p) for p in paths):
        return None
    return paths


def reorder(result: pa.Table, n: int) -> pa.Table:
    """Rows keyed by row number 0..n-1 (each once) -> in row-number order, in O(n)."""
    rn = result.column(ROW).to_numpy()
    if len(rn) != n:
        raise AssertionError(f"point-in-time join returned {len(rn)} rows for {n} entity rows")
    order = np.empty(n, dtype=np.int64)
    order[rn] = np.arange(n, dtype=np.int64)
    return result.take(order)


def join_view(
    con: duckdb.DuckDBPyConnection,
    core: pa.Table,
    spec: dict[str, Any],
    features: Sequence[str],
    dataset: Any,
    alias: str,
    files: Sequence[str] | None = None,
) -> dict[str, pa.ChunkedArray]:
    """Run one view's join; feature name -> column in entity order, cast to the view's types.

    With ``files`` (the Parquet files of an unpartitioned table version) DuckDB reads them
    with its own parallel Parquet reader; otherwise it streams the pyarrow dataset.
    """
    source_schema: pa.Schema = dataset.schema
    ts_type = source_schema.field(spec["timestamp_field"]).type
    check_tz(core.schema.field(TS).type, ts_type, spec["name"], spec["timestamp_field"])
    core = check_keys(core, source_schema, spec["join_keys"], spec["name"])
    keys = list(spec["join_keys"])
    narrow = core.select([*keys, TS, ROW])
    ent_alias = f"{alias}_e"
    con.register(ent_alias, narrow)
    if files:
        source = f"read_parquet([{', '.join(_sql_str(f) for f in files)}], union_by_name = true)"
    else:
        con.register(alias, _scan(dataset, spec, features))
        source = alias
    try:
        sql, outs = view_sql(spec, features, ent_alias, source)
        result = con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise InvalidArgument(f"the point-in-time join of view {spec['name']!r} failed: {exc}") from None
    finally:
        con.unregister(ent_alias)
        if not files:
            con.unregister(alias)
    ordered = reorder(result, core.num_rows)
    types = view_feature_types(spec)
    out: dict[str, pa.ChunkedArray] = {}
    for f, o in zip(features, outs, strict=True):
        col = ordered.column(o)
        if col.type != types[f]:
            col = col.cast(types[f])
        out[f] = col
    return out


def run_udf(
    spec: dict[str, Any], udf: Callable[[Any], Any], inputs: pa.Table
) -> dict[str, pa.Array | pa.ChunkedArray]:
    """Apply an on-demand view's function (same code path offline and online)."""
    mode = spec["mode"]
    arg: Any
    if mode == "arrow":
        arg = inputs
    elif mode == "pandas":
        arg = inputs.to_pandas()
    else:
        arg = inputs.to_pydict()
    try:
        result = udf(arg)
    except Exception as exc:
        raise InvalidArgument(f"the function of on-demand view {spec['name']!r} raised {exc!r}") from exc
    if isinstance(result, pa.Table | pa.RecordBatch):
        cols: dict[str, Any] = {n: result.column(n) for n in result.schema.names}
    elif type(result).__module__.split(".")[0] == "pandas":
        cols = {str(n): pa.array(result[n]) for n in result.columns}
    elif isinstance(result, dict):
        cols = dict(result)
    else:
        raise InvalidArgument(
            f"the function of on-demand view {spec['name']!r} returned {type(result).__name__}; "
            "return a table or dict of columns"
        )
    out: dict[str, pa.Array | pa.ChunkedArray] = {}
    for f in spec["fields"]:
        if f["name"] not in cols:
            raise InvalidArgument(
                f"the function of on-demand view {spec['name']!r} did not return {f['name']!r}"
            )
        val = cols[f["name"]]
        t = parse_dtype(f["dtype"])
        try:
            arr = val if isinstance(val, pa.Array | pa.ChunkedArray) else pa.array(val, type=t)
            arr = arr.cast(t) if arr.type != t else arr
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise SchemaError(
                f"on-demand view {spec['name']!r}: output {f['name']!r} is not {f['dtype']}: {exc}"
            ) from None
        if len(arr) != inputs.num_rows:
            raise InvalidArgument(
                f"on-demand view {spec['name']!r}: output {f['name']!r} has {len(arr)} rows for "
                f"{inputs.num_rows} inputs"
            )
        out[f["name"]] = arr
    return out
