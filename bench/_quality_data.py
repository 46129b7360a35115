"""Data of ``bench/quality.py``: the validation table, the checks every system runs, the true
failing counts (counted with numpy while the data is made), and the drift sets.

Everything comes from fixed seeds: chunk ``i`` of the validation table (1M rows) is made from
``SEED + i``, so the first 1M rows of the 10M table are the ``--quick`` table.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SEED = 20261204
CHUNK = 1_000_000
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # the fixed "now" of the data and of freshness
MAX_AGE = dt.timedelta(days=2)
PLANS = ["free", "pro", "team", "enterprise"]
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "SE", "NO", "DK", "FI", "PL", "PT", "IE",
             "AT", "CH", "CZ", "CA", "MX", "BR", "AR", "JP", "KR", "CN", "IN", "AU", "NZ", "ZA", "SG"]
EMAIL_RE = r"^[a-z0-9._]+@[a-z0-9]+\.[a-z]{2,}$"
AMOUNT_MIN, AMOUNT_MAX = -1000.0, 10000.0
AGE_MIN, AGE_MAX = 0, 130
SQL_EXPR = "amount >= 0 OR refunded"

# (key, kind, column, description): the order of the report's tables
CHECKS: list[tuple[str, str, str | None, str]] = [
    ("not_null_user_id", "not_null", "user_id", "not_null(user_id)"),
    ("unique_event_id", "unique", "event_id", "unique(event_id): every row of a repeated value"),
    ("between_age", "between", "age", "between(age, 0, 130)"),
    ("isin_plan", "isin", "plan", "isin(plan, 4 plans)"),
    ("matches_email", "matches", "email", "matches(email, regex) (search)"),
    ("not_null_ts", "not_null", "ts", "not_null(ts)"),
    ("between_amount", "between", "amount", "between(amount, -1000, 10000)"),
    ("row_count", "row_count", None, "row_count(min=1)"),
    ("freshness_ts", "freshness", "ts", "freshness(ts, 2 days, now=2026-06-01)"),
    ("sql_refund", "sql", None, "sql(amount >= 0 OR refunded)"),
    ("isin_country", "isin", "country", "isin(country, 30 codes)"),
]
DATASET_CHECKS = {"row_count", "freshness_ts"}

_NAMES = np.array(["anna", "ben", "carla", "dev", "eli", "fay", "gus", "hana", "ivan", "jo", "kim", "lu",
                   "max", "nia", "omar", "pia", "quin", "rosa", "sam", "tom", "uma", "vic", "wen", "xu",
                   "yara", "zoe", "a.b", "c_d", "mia.k", "li_wei"])
_BAD_EMAILS = np.array(["Anna@example.com", "ben@EXAMPLE.COM", "carla.example.com", "dev@example",
                        "eli@example.c", "fay @example.com", "gus@mail.example.com", "hana@@example.com",
                        "ivan@exa-mple.com", "", "jo@example.com ", "kim@ex_ample.com"])


def schema() -> pa.Schema:
    return pa.schema([
        ("event_id", pa.int64()), ("user_id", pa.int64()), ("age", pa.int32()), ("amount", pa.float64()),
        ("refunded", pa.bool_()), ("plan", pa.string()), ("country", pa.string()), ("email", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")), ("score", pa.float32()),
    ])


def _mask(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return rng.random(n) < p


def chunk(i: int, n: int) -> pa.Table:
    """Rows ``i * CHUNK ..`` of the validation table (``n`` of them)."""
    rng = np.random.default_rng(SEED + i)
    base = i * CHUNK
    event_id = np.arange(base, base + n, dtype=np.int64)
    # ~0.01% of the rows repeat the id of an earlier row of the same chunk (ids never repeat across chunks)
    dup = np.flatnonzero(_mask(rng, n, 0.0001))
    dup = dup[dup > 0]
    event_id[dup] = event_id[rng.integers(0, dup)]

    user_id = rng.integers(1, 2_000_000, n, dtype=np.int64)
    age = rng.integers(18, 90, n).astype(np.int32)
    bad_age = np.flatnonzero(_mask(rng, n, 0.00005))
    age[bad_age] = rng.choice(np.array([-5, -1, 131, 150, 999], dtype=np.int32), len(bad_age))

    amount = np.round(rng.lognormal(3.0, 1.0, n), 2)
    neg = _mask(rng, n, 0.005)
    amount[neg] = -np.round(rng.uniform(1, 1500, int(neg.sum())), 2)  # some below -1000
    big = _mask(rng, n, 0.0001)
    amount[big] = np.round(rng.uniform(5_000, 50_000, int(big.sum())), 2)  # some above 10000
    refunded = _mask(rng, n, 0.03)
    refunded[neg] = _mask(rng, int(neg.sum()), 0.5)

    plan_idx = rng.choice(4, n, p=[0.6, 0.25, 0.1, 0.05])
    plan = np.array(PLANS, dtype=object)[plan_idx]
    plan[_mask(rng, n, 0.001)] = "trial?"
    country = np.array(COUNTRIES, dtype=object)[rng.integers(0, len(COUNTRIES), n)]
    country[_mask(rng, n, 0.0002)] = "XX"
    country[_mask(rng, n, 0.0001)] = "us"

    names = pa.array(_NAMES[rng.integers(0, len(_NAMES), n)])
    nums = pc.cast(pa.array(rng.integers(0, 10_000, n)), pa.string())
    email = pc.binary_join_element_wise(names, nums, "@example.com", "").to_numpy(zero_copy_only=False).copy()
    bad = _mask(rng, n, 0.002)
    email[bad] = _BAD_EMAILS[rng.integers(0, len(_BAD_EMAILS), int(bad.sum()))]

    now_us = int(NOW.timestamp() * 1_000_000)
    ts = now_us - rng.integers(60_000_000, 30 * 86_400_000_000, n)
    score = rng.random(n).astype(np.float32)

    cols = {
        "event_id": pa.array(event_id),
        "user_id": pa.array(user_id, mask=_mask(rng, n, 0.01)),
        "age": pa.array(age, mask=_mask(rng, n, 0.001)),
        "amount": pa.array(amount, mask=_mask(rng, n, 0.002)),
        "refunded": pa.array(refunded),
        "plan": pa.array(plan, type=pa.string(), mask=_mask(rng, n, 0.0005)),
        "country": pa.array(country, type=pa.string(), mask=_mask(rng, n, 0.001)),
        "email": pa.array(email, type=pa.string(), mask=_mask(rng, n, 0.001)),
        "ts": pa.array(ts, type=pa.timestamp("us", tz="UTC"), mask=_mask(rng, n, 0.0001)),
        "score": pa.array(score, mask=_mask(rng, n, 0.02)),
    }
    return pa.table(cols, schema=schema())


def _truth_chunk(t: pa.Table) -> dict[str, Any]:
    """The failing counts of one chunk, with numpy and Python's re (not polars nor DuckDB)."""
    def arr(name: str) -> tuple[np.ndarray, np.ndarray]:
        col = t.column(name).combine_chunks()
        valid = ~np.asarray(col.is_null(), dtype=bool)
        return col.to_numpy(zero_copy_only=False), valid

    out: dict[str, Any] = {}
    _uid, uv = arr("user_id")
    out["not_null_user_id"] = int((~uv).sum())
    eid, ev = arr("event_id")
    _vals, inv, counts = np.unique(eid[ev], return_inverse=True, return_counts=True)
    out["unique_event_id"] = int((counts[inv] > 1).sum())
    out["unique_event_id_groups"] = int((counts > 1).sum())
    age, av = arr("age")
    a = age[av]
    out["between_age"] = int(((a < AGE_MIN) | (a > AGE_MAX)).sum())
    plan, pv = arr("plan")
    out["isin_plan"] = int((~np.isin(plan[pv], PLANS)).sum())
    email, emv = arr("email")
    rx = re.compile(EMAIL_RE)
    out["matches_email"] = sum(1 for s in email[emv] if rx.search(s) is None)
    _ts, tv = arr("ts")
    out["not_null_ts"] = int((~tv).sum())
    out["max_ts_us"] = int(pc.max(pc.cast(t.column("ts"), pa.int64())).as_py())
    amount, amv = arr("amount")
    am = amount[amv]
    out["between_amount"] = int(((am < AMOUNT_MIN) | (am > AMOUNT_MAX)).sum())
    refunded, _ = arr("refunded")
    # FALSE only where amount is known and negative and refunded is false (NULL OR FALSE is NULL: passes)
    out["sql_refund"] = int((amv & (np.where(amv, amount, 0.0) < 0) & ~refunded.astype(bool)).sum())
    country, cv = arr("country")
    out["isin_country"] = int((~np.isin(country[cv], COUNTRIES)).sum())
    out["rows"] = t.num_rows
    return out


def write_events(path: Path, rows: int) -> dict[str, Any]:
    """Write the validation table to ``path`` (one Parquet file, row groups of 1M rows, zstd);
    return the true results: {check key: failing count, or for dataset checks the measure}."""
    import pyarrow.parquet as pq

    total: dict[str, Any] = {}
    with pq.ParquetWriter(path, schema(), compression="zstd") as w:
        for i in range((rows + CHUNK - 1) // CHUNK):
            n = min(CHUNK, rows - i * CHUNK)
            t = chunk(i, n)
            w.write_table(t, row_group_size=CHUNK)
            for k, v in _truth_chunk(t).items():
                total[k] = max(total.get(k, v), v) if k == "max_ts_us" else total.get(k, 0) + v
    newest = dt.datetime.fromtimestamp(total.pop("max_ts_us") / 1e6, dt.UTC)
    total["row_count"] = {"value": total["rows"], "passed": total["rows"] >= 1}
    total["freshness_ts"] = {"value": newest.isoformat(), "passed": newest >= NOW - MAX_AGE}
    return total


# -- drift -------------------------------------------------------------------------------------
DRIFT_SEED = 7_2026
CATS = {  # name -> (categories, reference probabilities, current probabilities or None = unchanged)
    "cat_device": (["ios", "android", "web", "tv"], [0.4, 0.35, 0.2, 0.05], [0.15, 0.3, 0.5, 0.05]),
    "cat_channel": (["seo", "ads", "email", "social", "direct"], [0.3, 0.25, 0.15, 0.2, 0.1], None),
    "cat_region": ([f"r{i}" for i in range(12)], list(np.full(12, 1 / 12)), None),
    "cat_tier": (["bronze", "silver", "gold"], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4]),
    "cat_lang": (["en", "de", "fr", "es", "it", "pt", "ja"], [0.4, 0.15, 0.12, 0.12, 0.08, 0.08, 0.05], None),
    "cat_browser": (["chrome", "safari", "firefox", "edge", "other"], [0.6, 0.2, 0.1, 0.08, 0.02],
                    [0.25, 0.45, 0.1, 0.18, 0.02]),
    "cat_status": (["active", "paused", "closed"], [0.85, 0.1, 0.05], None),
    "cat_source": ([f"s{i:02d}" for i in range(20)], list(np.full(20, 1 / 20)), None),
}
# numeric: name -> (generator, drifted in the current set)
NUMS = ["num_normal_a", "num_normal_b", "num_normal_c", "num_lognormal_a", "num_lognormal_b", "num_lognormal_c",
        "num_uniform_a", "num_uniform_b", "num_uniform_c", "num_count_a", "num_count_b", "num_count_c"]
DRIFTED = {"num_normal_a", "num_lognormal_b", "num_uniform_c", "num_count_a",
           "cat_device", "cat_tier", "cat_browser"}


def _num(rng: np.random.Generator, name: str, n: int, shifted: bool) -> np.ndarray:
    fam = name.split("_")[1]
    if fam == "normal":
        return rng.normal(10.0 + (0.5 if shifted else 0.0), 2.0, n)
    if fam == "lognormal":
        return rng.lognormal(1.0 + (0.4 if shifted else 0.0), 0.6, n)
    if fam == "uniform":
        return rng.uniform(0.0 + (20.0 if shifted else 0.0), 100.0, n)
    return rng.poisson(4.0 + (1.5 if shifted else 0.0), n).astype(np.int64)


def drift_tables(n: int) -> tuple[pa.Table, pa.Table]:
    """Reference and current sets of ``n`` rows x 20 columns (12 numeric, 8 categorical)."""
    out = []
    for part in ("reference", "current"):
        rng = np.random.default_rng(DRIFT_SEED + (0 if part == "reference" else 1))
        cols: dict[str, Any] = {}
        for name in NUMS:
            cols[name] = pa.array(_num(rng, name, n, part == "current" and name in DRIFTED))
        for name, (cats, p_ref, p_cur) in CATS.items():
            p = p_cur if part == "current" and p_cur is not None else p_ref
            p = np.asarray(p, dtype=float) / np.sum(p)
            idx = rng.choice(len(cats), n, p=p)
            cols[name] = pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32)),
                                                         pa.array(cats)).cast(pa.string())
        out.append(pa.table(cols))
    return out[0], out[1]
