"""Online-read and materialization runners for ``bench/features.py``.

Online reads use the 50-feature ``user_wide`` view (one row per user). Each system first
loads the view into its store (not timed), then answers the same sequence of random
keys: 1 entity x 50 features and 100 entities x 50 features. The raw baselines keep one
pre-serialized row per key (50 float64 packed as bytes) in the same store: sqlite3
``SELECT v FROM t WHERE k = ?`` and Redis ``GET`` / ``MGET``, decoded to Python floats.

Redis databases: lakebed uses db 14, Feast and the raw baseline db 15 (both flushed by
the benchmark before use).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from _features_data import FEATURES, WIDE_FEATURES

LAKEBED_REDIS = "redis://127.0.0.1:6379/14"
OTHER_REDIS_DB = 15
Reader = Callable[[list[int]], Any]
Decoder = Callable[[Any, list[int]], list[list[float | None]]]


def flush_redis(db: int) -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()


def _lake_dir(case_dir: Path, backend: str) -> Path:
    return case_dir / ("lake" if backend == "sqlite" else "lake-redis")


def _connect_lake(case_dir: Path, backend: str) -> Any:
    import lakebed

    online = LAKEBED_REDIS if backend == "redis" else None
    return lakebed.connect(_lake_dir(case_dir, backend), online=online)


def _end_of(table_path: Path) -> Any:
    """One second after the newest event time of a Parquet file (materialize end).

    Read from the row-group statistics, so that no column is loaded before a peak-memory
    measurement.
    """
    md = pq.ParquetFile(table_path).metadata
    idx = md.schema.to_arrow_schema().get_field_index("ts")
    newest = max(md.row_group(i).column(idx).statistics.max for i in range(md.num_row_groups))
    return newest + timedelta(seconds=1)


# ---------------------------------------------------------------- readers per system


def lakebed_reader(case_dir: Path, backend: str) -> tuple[Reader, Decoder, Any]:
    lake = _connect_lake(case_dir, backend)
    lake.features.materialize(end=_end_of(case_dir / "wide.parquet"), views=["user_wide"])
    refs = [f"user_wide:{c}" for c in WIDE_FEATURES]

    def read(keys: list[int]) -> Any:
        return lake.features.online(entity_rows=[{"user_id": k} for k in keys], features=refs)

    def decode(res: Any, keys: list[int]) -> list[list[float | None]]:
        cols = _columns_of(res)
        return [[cols[c][i] for c in WIDE_FEATURES] for i in range(len(keys))]

    return read, decode, lake


def _columns_of(res: Any) -> dict[str, list[Any]]:
    """Column dict from lakebed's online result, whatever its container."""
    for attr in ("to_dict", "to_pydict"):
        if hasattr(res, attr):
            d = getattr(res, attr)()
            return {k.split(":")[-1].split("__")[-1]: v for k, v in d.items()}
    if hasattr(res, "to_arrow"):
        return _columns_of(res.to_arrow())
    if isinstance(res, dict):
        return {k.split(":")[-1]: v for k, v in res.items()}
    raise TypeError(f"unknown online result type {type(res)!r}")


def feast_reader(case_dir: Path, backend: str) -> tuple[Reader, Decoder, Any]:
    from _features_offline import _feast_store

    store = _feast_store(case_dir, "duckdb", backend)
    end = _end_of(case_dir / "wide.parquet")
    store.materialize(start_date=end - timedelta(days=3650), end_date=end, feature_views=["user_wide"])
    refs = [f"user_wide:{c}" for c in WIDE_FEATURES]

    def read(keys: list[int]) -> Any:
        return store.get_online_features(features=refs, entity_rows=[{"user_id": k} for k in keys]).to_dict()

    def decode(res: Any, keys: list[int]) -> list[list[float | None]]:
        return [[res[c][i] for c in WIDE_FEATURES] for i in range(len(keys))]

    return read, decode, store


def _packed_rows(case_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    wide = pq.read_table(case_dir / "wide.parquet")
    keys = wide.column("user_id").to_numpy()
    mat = np.column_stack([wide.column(c).to_numpy() for c in WIDE_FEATURES]).astype("<f8")
    return keys, mat


def _decode_blobs(blobs: list[bytes | None]) -> dict[str, list[float | None]]:
    rows = [np.frombuffer(b, dtype="<f8") if b is not None else None for b in blobs]
    cols: dict[str, list[float | None]] = {c: [] for c in WIDE_FEATURES}
    for r in rows:
        vals = r.tolist() if r is not None else [None] * len(WIDE_FEATURES)
        for c, v in zip(WIDE_FEATURES, vals, strict=True):
            cols[c].append(v)
    return cols


def raw_sqlite_reader(case_dir: Path) -> tuple[Reader, Decoder, Any]:
    path = case_dir / "raw-online.db"
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path, check_same_thread=False)
    con.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
    keys, mat = _packed_rows(case_dir)
    con.executemany("INSERT INTO t VALUES (?, ?)", ((int(k), mat[i].tobytes()) for i, k in enumerate(keys)))
    con.commit()

    def read(ks: list[int]) -> Any:
        if len(ks) == 1:
            row = con.execute("SELECT v FROM t WHERE k = ?", (ks[0],)).fetchone()
            return _decode_blobs([row[0] if row else None])
        got = dict(con.execute(f"SELECT k, v FROM t WHERE k IN ({','.join('?' * len(ks))})", ks).fetchall())
        return _decode_blobs([got.get(k) for k in ks])

    def decode(res: Any, ks: list[int]) -> list[list[float | None]]:
        return [[res[c][i] for c in WIDE_FEATURES] for i in range(len(ks))]

    return read, decode, con


def raw_redis_reader(case_dir: Path) -> tuple[Reader, Decoder, Any]:
    import redis

    r = redis.Redis(host="127.0.0.1", port=6379, db=OTHER_REDIS_DB)
    keys, mat = _packed_rows(case_dir)
    pipe = r.pipeline(transaction=False)
    for i, k in enumerate(keys):
        pipe.set(b"fbench:raw:%d" % k, mat[i].tobytes())
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()

    def read(ks: list[int]) -> Any:
        if len(ks) == 1:
            return _decode_blobs([r.get(b"fbench:raw:%d" % ks[0])])
        return _decode_blobs(r.mget([b"fbench:raw:%d" % k for k in ks]))

    def decode(res: Any, ks: list[int]) -> list[list[float | None]]:
        return [[res[c][i] for c in WIDE_FEATURES] for i in range(len(ks))]

    return read, decode, r


READERS: dict[str, Callable[[Path], tuple[Reader, Decoder, Any]]] = {
    "raw_sqlite": raw_sqlite_reader,
    "raw_redis": raw_redis_reader,
    "lakebed_sqlite": lambda d: lakebed_reader(d, "sqlite"),
    "lakebed_redis": lambda d: lakebed_reader(d, "redis"),
    "feast_sqlite": lambda d: feast_reader(d, "sqlite"),
    "feast_redis": lambda d: feast_reader(d, "redis"),
}


def run_online(system: str, case_dir: Path, n1: int, n100: int) -> dict[str, Any]:
    """Latencies (microseconds) and a value check for one online system."""
    t0 = time.perf_counter()
    read, decode, _handle = READERS[system](case_dir)
    setup_s = time.perf_counter() - t0
    wide = pq.read_table(case_dir / "wide.parquet")
    n_users = wide.num_rows
    truth = np.column_stack([wide.column(c).to_numpy() for c in WIDE_FEATURES])
    rng = np.random.default_rng(7)
    ones = rng.integers(1, n_users + 1, n1).tolist()
    hundreds = rng.integers(1, n_users + 1, (n100, 100)).tolist()
    # Value check first (also warms caches and connections).
    check_keys = rng.integers(1, n_users + 1, 300).tolist()
    got = decode(read(check_keys), check_keys) + [decode(read([k]), [k])[0] for k in check_keys[:50]]
    want = [truth[k - 1].tolist() for k in check_keys + check_keys[:50]]
    mismatches = sum(1 for g, w in zip(got, want, strict=True) if g != w)
    out: dict[str, Any] = {"setup_s": setup_s, "checked_rows": len(want), "mismatched_rows": mismatches}
    for label, batches in (("1x50", [[k] for k in ones]), ("100x50", hundreds)):
        for b in batches[:50]:
            read(b)
        lat = np.empty(len(batches))
        for i, b in enumerate(batches):
            s = time.perf_counter_ns()
            read(b)
            lat[i] = (time.perf_counter_ns() - s) / 1_000
        out[label] = {"n": len(batches), "p50_us": float(np.percentile(lat, 50)),
                      "p99_us": float(np.percentile(lat, 99)), "mean_us": float(lat.mean())}
    return out


# ---------------------------------------------------------------- materialization


def run_materialize(system: str, case_dir: Path) -> dict[str, Any]:
    """Materialize ``user_mat`` (one row per user: every source row is written online)."""
    import resource

    n_source = pq.ParquetFile(case_dir / "mat.parquet").metadata.num_rows
    end = _end_of(case_dir / "mat.parquet")
    backend = system.split("_", 1)[1]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    refs = [f"user_mat:{c}" for c in FEATURES]
    users = np.random.default_rng(3).integers(1, n_source + 1, 500).tolist()
    if system.startswith("lakebed"):
        lake = _connect_lake(case_dir, backend)
        t0 = time.perf_counter()
        ret = lake.features.materialize(end=end, views=["user_mat"])
        dt = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cols = _columns_of(lake.features.online(entity_rows=[{"user_id": u} for u in users], features=refs))
        written = int(ret["user_mat"]) if isinstance(ret, dict) and "user_mat" in ret else None
        lake.close()
    else:
        from _features_offline import _feast_store

        store = _feast_store(case_dir, "duckdb", backend)
        t0 = time.perf_counter()
        store.materialize(start_date=end - timedelta(days=400), end_date=end, feature_views=["user_mat"])
        dt = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ret, written = None, None
        cols = store.get_online_features(features=refs, entity_rows=[{"user_id": u} for u in users]).to_dict()
    mat = pq.read_table(case_dir / "mat.parquet", filters=[("user_id", "in", users)]).to_pylist()
    truth = {r["user_id"]: r for r in mat}
    bad = sum(1 for i, u in enumerate(users)
              if any(cols[c][i] is None or float(cols[c][i]) != float(truth[u][c]) for c in FEATURES))
    return {"seconds": dt, "rows": n_source, "rows_per_s": n_source / dt, "written_reported": written,
            "rss_before_mb": rss0, "materialize_peak_rss_mb": peak, "returned": repr(ret)[:300],
            "checked_entities": len(users), "mismatched_entities": bad}
