"""Materialization: the latest row per entity of each view into the online store.

DuckDB finds the newest (event, created) key per entity — the same 128-bit key the
training sets use — in a small aggregate (keys and one number per entity), joins it back
to the source to pick those rows, and streams the result as Arrow record batches under a
memory limit (it spills beyond it). Each batch is encoded with numpy and written in one
backend call, with "newer wins", so re-running is idempotent and never overwrites a newer
pushed row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import sqlalchemy as sa

from lakebed.errors import InvalidArgument, NotFound
from lakebed.features import _schema
from lakebed.features._definitions import utc_us
from lakebed.features._offline import _HALF, _SHIFT, parquet_files, q
from lakebed.tables._sandbox import connect as sandboxed_duckdb

if TYPE_CHECKING:
    from lakebed.features._store import FeatureStore

BATCH_ROWS = 50_000
BUCKET_ROWS = 2_000_000  # source rows per hash bucket of entities when materializing
MEMORY_LIMIT = "1GB"  # DuckDB spills to disk beyond this while materializing


def duckdb_config(store: FeatureStore) -> dict[str, Any]:
    """Bounded memory for materialization: spill to a temporary directory in the lake."""
    tmp = store.lake.path / "online" / ".duckdb_tmp"
    # insertion order is not needed (rows are keyed), and keeping it buffers whole joins
    return {"memory_limit": MEMORY_LIMIT, "temp_directory": str(tmp), "preserve_insertion_order": False}


def register_source(con: duckdb.DuckDBPyConnection, store: FeatureStore, table: str, alias: str) -> None:
    """Make ``alias`` the latest version of ``table``: its Parquet files read by DuckDB
    (memory under DuckDB's limit), or the pyarrow dataset for partitioned tables."""
    ds = store.lake.tables.dataset(table)
    files = parquet_files(store.lake, table, ds)
    if files:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        con.execute(f"CREATE TEMP VIEW {alias} AS SELECT * FROM read_parquet([{listed}], union_by_name = true)")
    else:
        con.register(alias, ds)


def _time_filter(ts: str, end_us: int | None, start_us: int | None, ttl_us: int | None) -> str:
    conds = [f"{ts} IS NOT NULL"]
    if end_us is not None:
        conds.append(f"epoch_us({ts}) <= {end_us}")
        if ttl_us:
            conds.append(f"epoch_us({ts}) > {end_us - ttl_us}")
    if start_us is not None:
        conds.append(f"epoch_us({ts}) > {start_us}")
    return " AND ".join(conds)


def write_latest(
    store: FeatureStore,
    con: duckdb.DuckDBPyConnection,
    view: str,
    version: int,
    spec: dict[str, Any],
    source: str,
    end_us: int | None,
    start_us: int | None,
    ttl_us: int | None,
    progress: Callable[[str, int, int | None], None] | None,
) -> int:
    """Write the latest row per entity of ``source`` (a registered relation) online."""
    from lakebed.features._serving import codec_for, encode_latest

    keys = spec["join_keys"]
    created = spec.get("created_timestamp_field")

    def order(p: str) -> str:
        ts = f"{p}{q(spec['timestamp_field'])}"
        if not created:
            return f"epoch_us({ts})"
        cr = f"coalesce(epoch_us({p}{q(created)}), -{_HALF})::HUGEINT"
        return f"epoch_us({ts})::HUGEINT * {_SHIFT} + ({cr} + {_HALF})"

    # Entities are processed in hash buckets of about BUCKET_ROWS source rows, so that the
    # join below holds one bucket at a time: memory stays bounded however many entities.
    n_rows = int(con.sql(f"SELECT count(*) AS n FROM {source}").to_arrow_table().column("n")[0].as_py())
    buckets = max(1, -(-n_rows // BUCKET_ROWS))

    def where(p: str, bucket: int = 0) -> str:
        ts = f"{p}{q(spec['timestamp_field'])}"
        cond = _time_filter(ts, end_us, start_us, ttl_us) + "".join(f" AND {p}{q(k)} IS NOT NULL" for k in keys)
        if buckets > 1:
            cond += f" AND hash({', '.join(p + q(k) for k in keys)}) % {buckets} = {bucket}"
        return cond

    cr = f"epoch_us(s.{q(created)})" if created else "NULL::BIGINT"
    fields = [f["name"] for f in spec["fields"]]
    packed = ", ".join([f"__fus := epoch_us(s.{q(spec['timestamp_field'])})", f"__cus := {cr}",
                        *(f"{q(f)} := s.{q(f)}" for f in fields)])
    # The newest order key per entity (a small aggregate: keys + one number), then the
    # rows that carry it, streamed from a join: far less memory and time than arg_max
    # over whole rows when there are millions of entities.
    def bucket_sql(b: int) -> str:
        newest = (
            f"SELECT {', '.join(q(k) for k in keys)}, max({order('')}) AS __m "
            f"FROM {source} WHERE {where('', b)} GROUP BY ALL"
        )
        on = " AND ".join([*(f"s.{q(k)} = m.{q(k)}" for k in keys), f"{order('s.')} = m.__m"])
        return (
            f"SELECT {', '.join('s.' + q(k) for k in keys)}, struct_pack({packed}) AS s "
            f"FROM {source} s JOIN ({newest}) m ON {on} WHERE {where('s.', b)}"
        )

    codec = codec_for(store, view, version, spec)
    backend = store.online_store
    done = 0
    try:
        for b in range(buckets):
            for batch in con.sql(bucket_sql(b)).to_arrow_reader(BATCH_ROWS):
                if batch.num_rows == 0:
                    continue
                ks, values = encode_latest(codec, spec, batch)
                backend.write(view, ks, values, newer_only=True)
                done += batch.num_rows
                if progress is not None:
                    progress(view, done, None)
    except duckdb.Error as exc:
        raise InvalidArgument(f"materializing view {view!r} failed: {exc}") from None
    return done


def write_windows(
    store: FeatureStore,
    con: duckdb.DuckDBPyConnection,
    view: str,
    version: int,
    spec: dict[str, Any],
    source: str,
    end_us: int,
    progress: Callable[[str, int, int | None], None] | None,
) -> int:
    """Aggregation views: store each entity's events of the largest window up to ``end``."""
    from lakebed.features._serving import agg_columns, merge_events

    keys = spec["join_keys"]
    ts = q(spec["timestamp_field"])
    cols = agg_columns(spec)
    max_w = max(a["window_us"] for a in spec["aggregations"])
    packed = ", ".join([f"t := epoch_us({ts})", *(f"c{i} := {q(c)}" for i, c in enumerate(cols))])
    where = _time_filter(ts, end_us, None, max_w) + "".join(f" AND {q(k)} IS NOT NULL" for k in keys)
    sql = (
        f"SELECT {', '.join(q(k) for k in keys)}, list(struct_pack({packed}) ORDER BY epoch_us({ts})) AS ev "
        f"FROM {source} WHERE {where} GROUP BY ALL"
    )
    from lakebed.features._codec import key_strings

    done = 0
    names = ["t", *(f"c{i}" for i in range(len(cols)))]
    try:
        for batch in con.sql(sql).to_arrow_reader(BATCH_ROWS // 5):
            if batch.num_rows == 0:
                continue
            ks = key_strings([batch.column(k) for k in keys])
            evs = batch.column("ev").to_pylist()
            new = {k: [[e[n] for n in names] for e in ev] for k, ev in zip(ks, evs, strict=True)}
            merge_events(store, view, version, spec, new, max_w, keep_after=end_us)
            done += batch.num_rows
            if progress is not None:
                progress(view, done, None)
    except duckdb.Error as exc:
        raise InvalidArgument(f"materializing view {view!r} failed: {exc}") from None
    return done


def _last_ends(store: FeatureStore) -> dict[str, tuple[float, int, int]]:
    t = _schema.materializations
    with store.lake.catalog.connect() as conn:
        return {r.view: (r.last_end, r.rows, r.view_version) for r in conn.execute(sa.select(t))}


def materialize(
    store: FeatureStore,
    end: datetime | None,
    views: Sequence[str] | None,
    progress: Callable[[str, int, int | None], None] | None,
    *,
    start: datetime | None,
    incremental: bool,
) -> dict[str, int]:
    store.lake.check_writable()
    store.registry.refresh_if_changed()
    end_us = utc_us(end)
    start_us = utc_us(start) if start is not None else None
    current = store.registry.current()
    if isinstance(views, str):
        views = [views]
    if views is None:
        names = [n for (k, n), (_, s) in sorted(current.items())
                 if k == "view" and s["type"] == "feature_view" and s.get("online", True) and not s.get("stream")]
    else:
        names = list(views)
        for n in names:
            if ("view", n) not in current:
                raise NotFound(f"unknown feature view {n!r}; applied views: {store.registry.names('view')}")
            if current[("view", n)][1]["type"] != "feature_view":
                raise InvalidArgument(f"{n!r} is an on-demand view; it is computed at read time")
            if current[("view", n)][1].get("stream"):
                raise InvalidArgument(f"{n!r} is a stream view: its stream processor keeps it fresh "
                                      "(lake.features.run_stream); lake.features.replay rebuilds it")
    last = _last_ends(store) if incremental else {}
    written: dict[str, int] = {}
    for name in names:
        version, spec = current[("view", name)]
        if not store.lake.tables.exists(spec["source"]):
            written[name] = 0
            continue
        since = start_us
        if incremental and name in last and last[name][2] == version:
            since = round(last[name][0] * 1_000_000)
            if since >= end_us:
                written[name] = 0
                continue
        con = sandboxed_duckdb(duckdb_config(store), read_dirs=[store.lake.path / "tables"], timezone=None)
        try:
            alias = "__lakebed_source"
            register_source(con, store, spec["source"], alias)
            if spec["aggregations"]:
                rows = write_windows(store, con, name, version, spec, alias, end_us, progress)
            else:
                rows = write_latest(store, con, name, version, spec, alias, end_us, since,
                                    spec.get("ttl_us"), progress)
        finally:
            con.close()
        _record(store, name, version, end_us, rows)
        written[name] = rows
        if progress is not None and rows == 0:
            progress(name, 0, 0)
    return written


def _record(store: FeatureStore, view: str, version: int, end_us: int, rows: int) -> None:
    t = _schema.materializations
    end_s = end_us / 1_000_000
    with store.lake.catalog.begin() as conn:
        prev = conn.execute(sa.select(t).where(t.c.view == view)).first()
        if prev is not None and prev.view_version == version:
            end_s = max(end_s, prev.last_end)
        conn.execute(t.delete().where(t.c.view == view))
        conn.execute(t.insert().values(view=view, view_version=version, last_end=end_s, rows=rows,
                                       updated_at=time.time()))


def status(store: FeatureStore) -> list[dict[str, Any]]:
    known = store.__dict__.setdefault("_newest_events", {})
    store.registry.refresh_if_changed()
    last = _last_ends(store)
    out = []
    con = None  # one sandboxed connection for every view's newest event (opening one costs ~30 ms)
    try:
        for i, ((kind, name), (version, spec)) in enumerate(sorted(store.registry.current().items())):
            if kind != "view" or spec["type"] != "feature_view":
                continue
            newest = None
            if store.lake.tables.exists(spec["source"]):
                # a table version never changes, so its newest event is computed once per version
                # (created_at tells a dropped and re-created table of the same name apart)
                source = spec["source"]
                memo = (source, store.lake.tables._row(source).created_at, store.lake.tables.version(source),
                        spec["timestamp_field"])
                if memo not in known:
                    if con is None:
                        con = sandboxed_duckdb(read_dirs=[store.lake.path / "tables"], timezone=None)
                    register_source(con, store, spec["source"], f"__src{i}")
                    val = con.sql(f"SELECT max(epoch_us({q(spec['timestamp_field'])})) FROM __src{i}").fetchall()[0]
                    if len(known) > 10_000:
                        known.clear()
                    known[memo] = (None if val[0] is None else
                                     datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(val[0])))
                newest = known[memo]
            out.append(_status_row(store, name, version, spec, newest, last))
    finally:
        if con is not None:
            con.close()
    return out


def _status_row(store: FeatureStore, name: str, version: int, spec: dict[str, Any], newest: datetime | None,
                last: dict[str, Any]) -> dict[str, Any]:
    lm = None
    if name in last:
        lm = datetime.fromtimestamp(last[name][0], tz=UTC)
    lag = None
    if newest is not None and lm is not None:
        lag = max(newest - lm, timedelta(0))
    row = {
        "view": name,
        "version": version,
        "source": spec["source"],
        "last_materialized": lm,
        "newest_event": newest,
        "freshness_lag": lag,
        "rows_online": store.online_store.count(name),
    }
    if spec.get("stream"):
        from lakebed.features._stream import stream_status

        row.update(stream_status(store, name, spec))
    return row
