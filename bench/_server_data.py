"""Data setup for ``bench/server.py``: the same data for lakebed and its peers.

- Features: ``N_USERS`` users x 50 float64 features (one row per user, seeded), written
  to a lakebed table ``silver.user_feats`` + feature view ``user_feats`` (materialized into
  lakebed's default SQLite online store) and to a Parquet file behind a Feast repo (local
  provider, SQLite online store, materialized).
- Vectors: the ann-dev base set (float16 -> float32, cosine) with its payload fields, in a
  lakebed collection ``docs`` and a Chroma collection ``docs`` (persisted with
  ``chromadb.PersistentClient``, later served by ``chroma run`` on the same directory).
  Both use HNSW with M=16, ef_construction=200, ef_search=64 (lakebed's defaults).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _datasets import dataset_dir

ANN = dataset_dir("ann-dev")
N_USERS = 10_000
FEATURES = [f"f{i:02d}" for i in range(50)]
VIEW = "user_feats"
EVENT_TS = datetime(2026, 1, 1, tzinfo=UTC)
HNSW = {"m": 16, "ef_construction": 200, "ef_search": 64}
PAYLOAD_FIELDS = ["source", "package", "length", "year", "doc_id", "chunk_index"]


def feature_table() -> pa.Table:
    """One row per user: user_id 1..N, ts, created_at and 50 seeded float64 features."""
    rng = np.random.default_rng(20261122)
    cols: dict[str, Any] = {
        "user_id": pa.array(np.arange(1, N_USERS + 1, dtype=np.int64)),
        "ts": pa.array([EVENT_TS] * N_USERS, type=pa.timestamp("us", tz="UTC")),
        "created_at": pa.array([EVENT_TS] * N_USERS, type=pa.timestamp("us", tz="UTC")),
    }
    mat = rng.standard_normal((N_USERS, len(FEATURES)))
    for i, name in enumerate(FEATURES):
        cols[name] = pa.array(mat[:, i])
    return pa.table(cols)


def truth_matrix() -> np.ndarray:
    """features[user_id - 1] -> the 50 values, for the correctness checks."""
    t = feature_table()
    return np.column_stack([t.column(c).to_numpy() for c in FEATURES])


def base_vectors() -> tuple[np.ndarray, np.ndarray]:
    vecs = np.load(ANN / "base_vectors.f16.npy").astype(np.float32)
    ids = np.load(ANN / "base_ids.i64.npy")
    return ids, vecs


def payloads() -> list[dict[str, Any]]:
    t = pq.read_table(ANN / "base_payload.parquet", columns=["id", *PAYLOAD_FIELDS])
    rows = t.to_pylist()
    # Row i has id i (README); keep that order.
    assert all(r["id"] == i for i, r in enumerate(rows))
    return [{k: r[k] for k in PAYLOAD_FIELDS} for r in rows]


def queries() -> tuple[np.ndarray, np.ndarray]:
    """Query vectors (float32) and the exact top-10 base ids per query."""
    q = np.load(ANN / "query_vectors.f16.npy").astype(np.float32)
    gt = np.load(ANN / "gt_top100.i32.npy")[:, :10]
    return q, gt


def build_lakebed(lake_dir: Path, log: Any = print) -> dict[str, float]:
    import lakebed
    from lakebed.features import Entity, FeatureView, Field

    t0 = time.perf_counter()
    lake = lakebed.connect(lake_dir)
    try:
        lake.tables.create("silver.user_feats", data=feature_table())
        user = Entity("user", join_keys=["user_id"])
        view = FeatureView(VIEW, entities=[user], source="silver.user_feats", timestamp_field="ts",
                           fields=[Field(c, "float64") for c in FEATURES])
        lake.features.apply([user, view])
        written = lake.features.materialize(end=EVENT_TS + timedelta(seconds=1))
        log(f"  lakebed features materialized: {written}")
        t1 = time.perf_counter()
        ids, vecs = base_vectors()
        col = lake.collections.create("docs", dim=384, metric="cosine", index={"type": "hnsw", **HNSW})
        pls = payloads()
        step = 5000
        for s in range(0, len(ids), step):
            col.upsert(ids[s:s + step].tolist(), vecs[s:s + step], payloads=pls[s:s + step])
        col.flush()
        t2 = time.perf_counter()
        log(f"  lakebed collection docs: {col.count()} points")
    finally:
        lake.close()
    return {"features_s": t1 - t0, "vectors_s": t2 - t1}


FEAST_REPO_PY = '''"""Feast definitions for bench/server.py (same data as lakebed's user_feats view)."""
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
src = FileSource(name="user_feats_src", path="{parquet}", timestamp_field="ts",
                 created_timestamp_column="created_at")
user_feats = FeatureView(name="user_feats", entities=[user], ttl=None, source=src, online=True,
                         schema=[Field(name=f"f{{i:02d}}", dtype=Float64) for i in range(50)])
'''

FEAST_YAML = """project: sbench
registry: {repo}/registry.db
provider: local
offline_store:
  type: file
online_store:
  type: sqlite
  path: {repo}/online.db
entity_key_serialization_version: 3
"""


def build_feast(repo: Path, log: Any = print) -> dict[str, float]:
    """A Feast repo dir (feature_store.yaml + definitions), applied and materialized."""
    from feast import FeatureStore

    t0 = time.perf_counter()
    repo.mkdir(parents=True, exist_ok=True)
    parquet = repo / "user_feats.parquet"
    pq.write_table(feature_table(), parquet)
    (repo / "feature_store.yaml").write_text(FEAST_YAML.format(repo=repo))
    (repo / "features.py").write_text(FEAST_REPO_PY.format(parquet=parquet))
    import importlib.util

    spec = importlib.util.spec_from_file_location("sbench_feast_defs", repo / "features.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    store = FeatureStore(repo_path=str(repo))
    store.apply([mod.user, mod.user_feats])
    end = EVENT_TS + timedelta(seconds=1)
    store.materialize(start_date=end - timedelta(days=3650), end_date=end, feature_views=[VIEW])
    log("  feast repo applied and materialized")
    return {"features_s": time.perf_counter() - t0}


def build_chroma(path: Path, log: Any = print) -> dict[str, float]:
    import chromadb

    t0 = time.perf_counter()
    client = chromadb.PersistentClient(path=str(path))
    col = client.create_collection(
        "docs",
        configuration={"hnsw": {"space": "cosine", "max_neighbors": HNSW["m"],
                                "ef_construction": HNSW["ef_construction"], "ef_search": HNSW["ef_search"]}},
    )
    ids, vecs = base_vectors()
    pls = payloads()
    step = min(5000, client.get_max_batch_size())
    for s in range(0, len(ids), step):
        col.add(ids=[str(i) for i in ids[s:s + step]], embeddings=vecs[s:s + step], metadatas=pls[s:s + step])
    n = col.count()
    log(f"  chroma collection docs: {n} points")
    del col, client
    return {"vectors_s": time.perf_counter() - t0}
