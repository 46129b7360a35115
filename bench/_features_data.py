"""Deterministic data for ``bench/features.py``.

Everything here is a pure function of the case parameters and a seed, so every system
reads byte-identical Parquet files.

Feature table (``features.parquet``): ``user_id`` int64 (about 100 rows per user),
``ts`` (event time, whole hours over 90 days, UTC), ``created_at`` (unique within a
``(user_id, ts)`` tie), ``f00..f09`` float64, ``f10..f19`` int64; rows shuffled. Beyond
natural collisions, ~5% of rows repeat the event time of another row of the same user, so
ties must be broken by ``created_at``.

Entity frame (``entity.parquet``): ``user_id``, ``event_timestamp`` (UTC), ``row_id``
(0..n-1, the input order, kept by every system as an extra column). It holds unknown
users (~2%), rows exactly at a feature row's event time (~3%: the ``<=`` boundary), exact
duplicate rows (~2%), rows before any feature row (~4%) and rows past the TTL after the
last one (~4%), so that about 10% of rows get all-null features.

The TTL is 30 days (one unit: Feast's ibis-based stores reject mixed-unit timedeltas).
Entity times are never at a whole hour, except the exact hits, which are chosen so that
the user has no feature row exactly 30 days earlier; so ``t - ttl`` never equals a feature
``ts``, and the ``> t - ttl`` (lakebed) and ``>= t - ttl`` (Feast) conventions agree.

Wide table (``wide.parquet``) for online reads: one row per user, ``w00..w49`` float64.

Materialization table (``mat.parquet``): one row per user (so every row is written to the
online store), the 20 features; ``n_mat_rows`` rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START = datetime(2026, 1, 1, tzinfo=UTC)
START_US = int(START.timestamp()) * 1_000_000
HOUR_US = 3_600 * 1_000_000
DAY_US = 24 * HOUR_US
TTL = timedelta(days=30)
FEATURE_DAYS = 90
N_FLOAT = 10
N_INT = 10
FEATURES = [f"f{i:02d}" for i in range(N_FLOAT + N_INT)]
WIDE_FEATURES = [f"w{i:02d}" for i in range(50)]
TS_TYPE = pa.timestamp("us", tz="UTC")
CHUNK = 1_000_000


@dataclass(frozen=True)
class Case:
    """Sizes of one benchmark case."""

    name: str
    n_feature_rows: int
    n_users: int
    n_entity_rows: int
    n_wide_users: int
    n_mat_rows: int
    seed: int = 20261122

    def dir(self, root: Path) -> Path:
        return root / f"{self.name}-{self.n_feature_rows}-{self.n_users}-{self.n_entity_rows}"


CASES = {
    "quick": Case("quick", 100_000, 1_000, 10_000, 10_000, 100_000),
    "small": Case("small", 1_000_000, 10_000, 100_000, 100_000, 1_000_000),
    "large": Case("large", 10_000_000, 100_000, 1_000_000, 100_000, 10_000_000),
}


def generate(case: Case, root: Path) -> Path:
    """Write the case's Parquet files under ``root`` (once) and return their folder."""
    out = case.dir(root)
    done = out / "meta.json"
    if done.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(case.seed)
    user, ts_us, created_us = _feature_keys(case, rng)
    _write_features(out / "features.parquet", user, ts_us, created_us, case.seed)
    entity = _entity_frame(case, rng, user, ts_us)
    pq.write_table(entity, out / "entity.parquet")
    t_min, t_max = int(ts_us.min()), int(ts_us.max())
    del user, ts_us, created_us, entity
    wide = _wide_table(case)
    pq.write_table(wide, out / "wide.parquet", row_group_size=CHUNK)
    _write_mat(case, out / "mat.parquet")
    meta = {
        "case": asdict(case),
        "ttl_seconds": TTL.total_seconds(),
        "feature_min_ts_us": t_min,
        "feature_max_ts_us": t_max,
        "wide_max_ts_us": int(wide.column("ts").cast(pa.int64()).to_numpy().max()),
    }
    done.write_text(json.dumps(meta, indent=2))
    return out


def _feature_keys(case: Case, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = case.n_feature_rows
    user = rng.integers(1, case.n_users + 1, n, dtype=np.int64)
    hours = rng.integers(0, FEATURE_DAYS * 24, n, dtype=np.int64)
    order = np.lexsort((hours, user))
    user, hours = user[order], hours[order]
    # Ties: ~5% of rows take the event time of the previous row of the same user.
    tie = rng.random(n) < 0.05
    tie[0] = False
    tie &= user == np.roll(user, 1)
    idx = np.nonzero(tie)[0]
    # Runs of ties copy from the first row of the run (sorted order is kept).
    for _ in range(3):
        hours[idx] = hours[idx - 1]
    ts_us = START_US + hours * HOUR_US
    delay_s = rng.integers(1, 48 * 3_600, n, dtype=np.int64)
    # The sub-second part is the row's position mod 1e6, which differs between
    # neighbours, so created_at is unique inside every (user, ts) tie.
    created_us = ts_us + delay_s * 1_000_000 + np.arange(n, dtype=np.int64) % 1_000_000
    perm = rng.permutation(n)
    return user[perm], ts_us[perm], created_us[perm]


def _write_features(path: Path, user: np.ndarray, ts_us: np.ndarray, created_us: np.ndarray, seed: int) -> None:
    n = len(user)
    schema = pa.schema(
        [("user_id", pa.int64()), ("ts", TS_TYPE), ("created_at", TS_TYPE)]
        + [(f, pa.float64()) for f in FEATURES[:N_FLOAT]]
        + [(f, pa.int64()) for f in FEATURES[N_FLOAT:]]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for k, lo in enumerate(range(0, n, CHUNK)):
            hi = min(n, lo + CHUNK)
            crng = np.random.default_rng([seed, 7, k])
            cols: list[pa.Array] = [
                pa.array(user[lo:hi]),
                pa.array(ts_us[lo:hi]).cast(pa.int64()).view(TS_TYPE),
                pa.array(created_us[lo:hi]).cast(pa.int64()).view(TS_TYPE),
            ]
            cols += [pa.array(np.round(crng.standard_normal(hi - lo) * 100, 4)) for _ in range(N_FLOAT)]
            cols += [pa.array(crng.integers(0, 1_000_000, hi - lo, dtype=np.int64)) for _ in range(N_INT)]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))


def _entity_frame(case: Case, rng: np.random.Generator, user: np.ndarray, ts_us: np.ndarray) -> pa.Table:
    n = case.n_entity_rows
    n_missing, n_exact, n_dup, n_before, n_after = (n * p // 100 for p in (2, 3, 2, 4, 4))
    n_in = n - n_missing - n_exact - n_dup - n_before - n_after
    end_us = START_US + FEATURE_DAYS * DAY_US
    ttl_us = int(TTL.total_seconds()) * 1_000_000
    # Times never at a whole hour (a second offset 1..3599), see the module doc.
    def at(lo_us: int, hi_us: int, k: int) -> np.ndarray:
        hours = rng.integers(lo_us // HOUR_US, hi_us // HOUR_US, k, dtype=np.int64)
        return hours * HOUR_US + rng.integers(1, 3_600, k, dtype=np.int64) * 1_000_000
    t_in = at(START_US + DAY_US, end_us, n_in + n_missing)
    t_before = at(START_US - 3 * DAY_US, START_US, n_before)
    t_after = at(end_us + ttl_us + DAY_US, end_us + ttl_us + 5 * DAY_US, n_after)
    u_known = rng.integers(1, case.n_users + 1, n_in + n_before + n_after, dtype=np.int64)
    u_missing = rng.integers(case.n_users + 1, case.n_users * 2 + 2, n_missing, dtype=np.int64)
    # Exact hits at a feature row's time, whose user has no row exactly one TTL earlier.
    keys = user * (1 << 32) + (ts_us - START_US) // HOUR_US
    pick = rng.integers(0, len(user), n_exact * 2)
    clash = np.isin(keys[pick] - ttl_us // HOUR_US, keys)
    pick = pick[~clash][:n_exact]
    u = np.concatenate([u_known[:n_in], u_missing, u_known[n_in:], user[pick]])
    t = np.concatenate([t_in[:n_in], t_in[n_in:], t_before, t_after, ts_us[pick]])
    dup_src = rng.integers(0, len(u), n - len(u))
    u = np.concatenate([u, u[dup_src]])
    t = np.concatenate([t, t[dup_src]])
    perm = rng.permutation(len(u))
    u, t = u[perm], t[perm]
    return pa.table(
        {
            "user_id": pa.array(u),
            "event_timestamp": pa.array(t).view(TS_TYPE),
            "row_id": pa.array(np.arange(len(u), dtype=np.int64)),
        }
    )


def _write_mat(case: Case, path: Path) -> None:
    """One row per user (ids shuffled), the 20 features, times over the 90 days."""
    n = case.n_mat_rows
    rng = np.random.default_rng([case.seed, 20])
    user = rng.permutation(np.arange(1, n + 1, dtype=np.int64))
    ts_us = START_US + rng.integers(0, FEATURE_DAYS * 24, n, dtype=np.int64) * HOUR_US
    _write_features(path, user, ts_us, ts_us, case.seed + 1)


def _wide_table(case: Case) -> pa.Table:
    n = case.n_wide_users
    rng = np.random.default_rng([case.seed, 50])
    ts = START_US + FEATURE_DAYS * DAY_US + rng.integers(0, DAY_US, n, dtype=np.int64)
    cols: dict[str, pa.Array] = {
        "user_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "ts": pa.array(ts).view(TS_TYPE),
        "created_at": pa.array(ts).view(TS_TYPE),
    }
    for f in WIDE_FEATURES:
        cols[f] = pa.array(np.round(rng.standard_normal(n) * 10, 6))
    return pa.table(cols)


def brute_force(features: pa.Table, entity: pa.Table, sample: np.ndarray) -> dict[int, tuple | None]:
    """Plain-Python point-in-time lookup for the entity rows in ``sample``.

    Returns ``row_id -> feature tuple`` (None when no row qualifies). Used to check the
    raw DuckDB reference itself on a sample.
    """
    ttl_us = int(TTL.total_seconds()) * 1_000_000
    fu = features.column("user_id").to_numpy()
    ft = features.column("ts").cast(pa.int64()).to_numpy()
    fc = features.column("created_at").cast(pa.int64()).to_numpy()
    vals = [features.column(f).to_numpy() for f in FEATURES]
    by_user: dict[int, list[int]] = {}
    eu = entity.column("user_id").to_numpy()[sample]
    wanted = set(eu.tolist())
    for i in np.nonzero(np.isin(fu, list(wanted)))[0].tolist():
        by_user.setdefault(int(fu[i]), []).append(i)
    et = entity.column("event_timestamp").cast(pa.int64()).to_numpy()[sample]
    rid = entity.column("row_id").to_numpy()[sample]
    out: dict[int, tuple | None] = {}
    for u, t, r in zip(eu.tolist(), et.tolist(), rid.tolist(), strict=True):
        best = None
        for i in by_user.get(u, []):
            if t - ttl_us < ft[i] <= t and (best is None or (ft[i], fc[i]) > (ft[best], fc[best])):
                best = i
        out[r] = None if best is None else tuple(v[best].item() for v in vals)
    return out
