"""Training-set (offline) runners for ``bench/features.py``; each runs in its own process.

Every runner gets the case folder, loads the entity frame before the clock starts, times
only the point-in-time join up to a materialized Arrow table, and returns that table so
the caller can write it for the row-by-row check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from _features_data import FEATURES, TTL

LAKE_LAYOUT = "features_src+wide_src+mat_src v2"  # a lake made by another layout is rebuilt
Runner = Callable[[Path, int], tuple[list[float], pa.Table, dict[str, Any]]]


def raw_sql(features_path: str, entity_view: str = "entity") -> str:
    """The reference: DuckDB ASOF join with the TTL, ties broken by ``created_at``.

    Ties are removed first (one row per ``(user_id, ts)``, the newest ``created_at``),
    because ASOF picks an arbitrary row among equal event times. The ASOF join then gives
    the latest row with ``ts <= t``; if that row is not newer than ``t - ttl`` no row in
    the window exists, so its values become null. ``__rn`` restores the input order.
    """
    ttl_us = int(TTL.total_seconds() * 1_000_000)
    feats = ", ".join(f"CASE WHEN f.ts > e.event_timestamp - to_microseconds({ttl_us}) THEN f.{c} END AS {c}"
                      for c in FEATURES)
    return f"""
        WITH f AS (
            SELECT * FROM read_parquet('{features_path}')
            QUALIFY row_number() OVER (PARTITION BY user_id, ts ORDER BY created_at DESC) = 1
        )
        SELECT e.* EXCLUDE (__rn), {feats}
        FROM {entity_view} e ASOF LEFT JOIN f
          ON e.user_id = f.user_id AND e.event_timestamp >= f.ts
        ORDER BY e.__rn
    """


def raw_key_sql(features_path: str, entity_view: str = "entity") -> str:
    """The same join with one ASOF over a composite key instead of a dedupe pass.

    The key ``epoch_us(ts) * 2**64 + epoch_us(created_at) + 2**63`` (HUGEINT) orders rows
    by event time, then created time; an entity row probes with ``epoch_us(t) * 2**64 +
    2**64 - 1``, so the ASOF match is the latest row at or before ``t`` with the largest
    created time. The TTL is applied to the matched row as above.
    """
    ttl_us = int(TTL.total_seconds() * 1_000_000)
    shift, half = 2**64, 2**63
    feats = ", ".join(f"CASE WHEN f.tus > epoch_us(e.event_timestamp) - {ttl_us} THEN f.{c} END AS {c}"
                      for c in FEATURES)
    return f"""
        WITH f AS (
            SELECT user_id, epoch_us(ts) AS tus,
                   epoch_us(ts)::HUGEINT * {shift} + (epoch_us(created_at)::HUGEINT + {half}) AS k,
                   {", ".join(FEATURES)}
            FROM read_parquet('{features_path}')
        )
        SELECT e.* EXCLUDE (__rn), {feats}
        FROM {entity_view} e ASOF LEFT JOIN f
          ON e.user_id = f.user_id
         AND epoch_us(e.event_timestamp)::HUGEINT * {shift} + {shift - 1} >= f.k
        ORDER BY e.__rn
    """


def run_raw(case_dir: Path, repeats: int, variant: str = "dedupe") -> tuple[list[float], pa.Table, dict[str, Any]]:
    import duckdb
    import numpy as np

    entity = pq.read_table(case_dir / "entity.parquet")
    make = raw_sql if variant == "dedupe" else raw_key_sql
    sql = make(str(case_dir / "features.parquet"))
    times, cpu, out = [], [], None
    for _ in range(repeats):
        con = duckdb.connect()
        t0, c0 = time.perf_counter(), time.process_time()
        ent = entity.append_column("__rn", pa.array(np.arange(entity.num_rows, dtype=np.int64)))
        con.register("entity", ent)
        out = con.sql(sql).to_arrow_table()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        con.close()
    assert out is not None
    return times, out, {"duckdb": duckdb.__version__, "cpu_times": cpu}


def run_lakebed(case_dir: Path, repeats: int) -> tuple[list[float], pa.Table, dict[str, Any]]:
    import lakebed

    entity = pq.read_table(case_dir / "entity.parquet")
    refs = [f"user_stats:{c}" for c in FEATURES]
    times, cpu, out = [], [], None
    with lakebed.connect(case_dir / "lake") as lake:
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            out = lake.features.training_set(entity, features=refs).to_arrow()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    assert out is not None
    return times, out, {"cpu_times": cpu}


def _reader(path: Path) -> pa.RecordBatchReader:
    pf = pq.ParquetFile(path)
    return pa.RecordBatchReader.from_batches(pf.schema_arrow, pf.iter_batches(batch_size=262_144))


def setup_lakebed(case_dir: Path, online: str | None = None) -> dict[str, Any]:
    """Create a lake with the source tables and feature views (not part of any timing).

    The sqlite lake (``lake/``) gets all three views; the Redis lake (``lake-redis/``)
    only the ones read online (``user_wide``, ``user_mat``).
    """
    from _features_data import WIDE_FEATURES

    import lakebed
    from lakebed.features import Entity, FeatureView, Field

    lake_dir = case_dir / ("lake-redis" if online else "lake")
    info: dict[str, Any] = {}
    if (lake_dir / "READY").exists() and (lake_dir / "READY").read_text() == LAKE_LAYOUT:
        return info
    feature_fields = [Field(c, "float64" if i < 10 else "int64") for i, c in enumerate(FEATURES)]
    user = Entity("user", join_keys=["user_id"])
    objects: list[Any] = [user]
    with lakebed.connect(lake_dir, online=online) as lake:
        if not online:
            t0 = time.perf_counter()
            lake.tables.create("silver.features_src", data=_reader(case_dir / "features.parquet"))
            info["ingest_s"] = time.perf_counter() - t0
            objects.append(FeatureView(
                "user_stats", entities=[user], source="silver.features_src", timestamp_field="ts",
                created_timestamp_field="created_at", ttl=TTL, fields=feature_fields,
            ))
        lake.tables.create("silver.wide_src", data=_reader(case_dir / "wide.parquet"))
        lake.tables.create("silver.mat_src", data=_reader(case_dir / "mat.parquet"))
        objects.append(FeatureView(
            "user_wide", entities=[user], source="silver.wide_src", timestamp_field="ts",
            created_timestamp_field="created_at", ttl=None,
            fields=[Field(c, "float64") for c in WIDE_FEATURES],
        ))
        objects.append(FeatureView(
            "user_mat", entities=[user], source="silver.mat_src", timestamp_field="ts",
            created_timestamp_field="created_at", ttl=None, fields=feature_fields,
        ))
        lake.features.apply(objects)
    (lake_dir / "READY").write_text(LAKE_LAYOUT)
    return info


def _feast_store(case_dir: Path, offline: str, online: str = "sqlite", tag: str = "") -> Any:
    """A Feast repo (local provider) over the case's Parquet files, applied."""
    from _features_data import WIDE_FEATURES
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.types import Float64, Int64

    repo = case_dir / f"feast-{offline}-{online}{tag}"
    repo.mkdir(parents=True, exist_ok=True)
    online_cfg: dict[str, Any]
    if online == "redis":
        online_cfg = {"type": "redis", "connection_string": "127.0.0.1:6379,db=15"}
    else:
        online_cfg = {"type": "sqlite", "path": str(repo / "online.db")}
    cfg = RepoConfig(
        project=f"fbench_{case_dir.name.split('-')[0]}",
        registry=str(repo / "registry.db"),
        provider="local",
        offline_store={"type": offline},
        online_store=online_cfg,
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=cfg)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    src = FileSource(name="features_src", path=str(case_dir / "features.parquet"), timestamp_field="ts",
                     created_timestamp_column="created_at")
    wsrc = FileSource(name="wide_src", path=str(case_dir / "wide.parquet"), timestamp_field="ts",
                      created_timestamp_column="created_at")
    stats = FeatureView(
        name="user_stats", entities=[user], ttl=TTL, source=src, online=True,
        schema=[Field(name=c, dtype=Float64 if i < 10 else Int64) for i, c in enumerate(FEATURES)],
    )
    wide = FeatureView(
        name="user_wide", entities=[user], ttl=None, source=wsrc, online=True,
        schema=[Field(name=c, dtype=Float64) for c in WIDE_FEATURES],
    )
    msrc = FileSource(name="mat_src", path=str(case_dir / "mat.parquet"), timestamp_field="ts",
                      created_timestamp_column="created_at")
    mat = FeatureView(
        name="user_mat", entities=[user], ttl=None, source=msrc, online=True,
        schema=[Field(name=c, dtype=Float64 if i < 10 else Int64) for i, c in enumerate(FEATURES)],
    )
    store.apply([user, stats, wide, mat])
    return store


def run_feast(offline: str) -> Runner:
    def run(case_dir: Path, repeats: int) -> tuple[list[float], pa.Table, dict[str, Any]]:
        import feast

        entity = pq.read_table(case_dir / "entity.parquet").to_pandas()
        store = _feast_store(case_dir, offline)
        refs = [f"user_stats:{c}" for c in FEATURES]
        times, cpu, out = [], [], None
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            out = store.get_historical_features(entity_df=entity, features=refs).to_arrow()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        assert out is not None
        return times, out, {"feast": feast.__version__, "cpu_times": cpu}

    return run


RUNNERS: dict[str, Runner] = {
    "raw": run_raw,
    "raw_key": lambda d, n: run_raw(d, n, "key"),
    "lakebed": run_lakebed,
    "feast_duckdb": run_feast("duckdb"),
    "feast_file": run_feast("file"),
}
