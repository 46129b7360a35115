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


def run_raw(case_dir: Path, repeats: int) -> tuple[list[float], pa.Table, dict[str, Any]]:
    import duckdb
    import numpy as np

    entity = pq.read_table(case_dir / "entity.parquet")
    sql = raw_sql(str(case_dir / "features.parquet"))
    times, out = [], None
    for _ in range(repeats):
        con = duckdb.connect()
        t0 = time.perf_counter()
        ent = entity.append_column("__rn", pa.array(np.arange(entity.num_rows, dtype=np.int64)))
        con.register("entity", ent)
        out = con.sql(sql).to_arrow_table()
        times.append(time.perf_counter() - t0)
        con.close()
    assert out is not None
    return times, out, {"duckdb": duckdb.__version__}


def run_lakebed(case_dir: Path, repeats: int) -> tuple[list[float], pa.Table, dict[str, Any]]:
    import lakebed

    entity = pq.read_table(case_dir / "entity.parquet")
    refs = [f"user_stats:{c}" for c in FEATURES]
    times, out = [], None
    with lakebed.connect(case_dir / "lake") as lake:
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = lake.features.training_set(entity, features=refs).to_arrow()
            times.append(time.perf_counter() - t0)
    assert out is not None
    return times, out, {"lakebed": lakebed.__version__ if hasattr(lakebed, "__version__") else "?"}


def setup_lakebed(case_dir: Path, online: str | None = None) -> dict[str, Any]:
    """Create the lake: the source table and the feature views (not timed as a join)."""
    import lakebed
    from lakebed.features import Entity, FeatureView, Field

    from _features_data import WIDE_FEATURES

    lake_dir = case_dir / "lake"
    info: dict[str, Any] = {}
    if (lake_dir / "READY").exists():
        return info
    feats = pq.read_table(case_dir / "features.parquet")
    wide = pq.read_table(case_dir / "wide.parquet")
    with lakebed.connect(lake_dir) as lake:
        t0 = time.perf_counter()
        lake.tables.create("silver.features_src", data=feats)
        info["ingest_s"] = time.perf_counter() - t0
        lake.tables.create("silver.wide_src", data=wide)
        del feats, wide
        user = Entity("user", join_keys=["user_id"])
        stats = FeatureView(
            "user_stats", entities=[user], source="silver.features_src", timestamp_field="ts",
            created_timestamp_field="created_at", ttl=TTL,
            fields=[Field(c, "float64" if i < 10 else "int64") for i, c in enumerate(FEATURES)],
        )
        wide_view = FeatureView(
            "user_wide", entities=[user], source="silver.wide_src", timestamp_field="ts",
            created_timestamp_field="created_at", ttl=None,
            fields=[Field(c, "float64") for c in WIDE_FEATURES],
        )
        lake.features.apply([user, stats, wide_view])
    (lake_dir / "READY").write_text("ok")
    return info


def _feast_store(case_dir: Path, offline: str, online: str = "sqlite", tag: str = "") -> Any:
    """A Feast repo (local provider) over the case's Parquet files, applied."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.types import Float64, Int64

    from _features_data import WIDE_FEATURES

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
    store.apply([user, stats, wide])
    return store


def run_feast(offline: str) -> Runner:
    def run(case_dir: Path, repeats: int) -> tuple[list[float], pa.Table, dict[str, Any]]:
        import feast

        entity = pq.read_table(case_dir / "entity.parquet").to_pandas()
        store = _feast_store(case_dir, offline)
        refs = [f"user_stats:{c}" for c in FEATURES]
        times, out = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = store.get_historical_features(entity_df=entity, features=refs).to_arrow()
            times.append(time.perf_counter() - t0)
        assert out is not None
        return times, out, {"feast": feast.__version__}

    return run


RUNNERS: dict[str, Runner] = {
    "raw": run_raw,
    "lakebed": run_lakebed,
    "feast_duckdb": run_feast("duckdb"),
    "feast_file": run_feast("file"),
}
