"""Click events for ``bench/streams.py``: generated with numpy from a fixed seed.

Columns: ``user_id`` int64 (100,000 users, uniform), ``item_id`` int64, ``price``
float64 (cents), ``ts`` timestamp[us, tz=UTC] and ``page`` (a string padded so that the
record as lakebed's broker backends write it, one JSON object, is 200 bytes).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pyarrow as pa

SEED = 20261203
USERS = 100_000
ITEMS = 1_000_000
RECORD_BYTES = 200
BASE = datetime(2026, 1, 1, tzinfo=UTC)
BASE_US = int(BASE.timestamp() * 1_000_000)
SCHEMA = pa.schema([
    ("user_id", pa.int64()),
    ("item_id", pa.int64()),
    ("price", pa.float64()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("page", pa.string()),
])
STREAM_SCHEMA = {"user_id": "int64", "item_id": "int64", "price": "float64", "ts": "timestamp[us, tz=UTC]",
                 "page": "string"}


def _pages(user: np.ndarray, item: np.ndarray, price: np.ndarray, ts: np.ndarray) -> list[str]:
    out = []
    dumps = orjson.dumps
    for u, i, p, t in zip(user.tolist(), item.tolist(), price.tolist(), ts.tolist(), strict=True):
        stem = f"/item/{i}?ref=home&u={u}&"
        base = len(dumps({"user_id": u, "item_id": i, "price": p, "ts": t, "page": stem}))
        out.append(stem + "x" * max(RECORD_BYTES - base, 0))
    return out


def events(n: int, *, seed: int = SEED, span_s: float = 3600.0, start_us: int = BASE_US,
           users: int = USERS) -> pa.Table:
    """``n`` events whose event times rise over ``span_s`` seconds from ``start_us``, with
    up to 2 s of jitter (inside any watermark of the views here)."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, n, dtype=np.int64)
    item = rng.integers(0, ITEMS, n, dtype=np.int64)
    price = np.round(rng.uniform(0.5, 500.0, n), 2)
    step = span_s * 1e6 / max(n, 1)
    ts = (start_us + (np.arange(n) * step).astype(np.int64) - rng.integers(0, 2_000_000, n)).astype(np.int64)
    page = _pages(user, item, price, ts)
    return pa.table([pa.array(user), pa.array(item), pa.array(price),
                     pa.array(ts, pa.int64()).cast(pa.timestamp("us", tz="UTC")), pa.array(page, pa.string())],
                    schema=SCHEMA)


def json_payloads(table: pa.Table) -> list[bytes]:
    """The events as the JSON records the raw clients publish (what lakebed writes too)."""
    cols = [table.column(c).to_pylist() for c in ("user_id", "item_id", "price")]
    cols.append(table.column("ts").cast(pa.int64()).to_pylist())
    cols.append(table.column("page").to_pylist())
    names = SCHEMA.names
    dumps = orjson.dumps
    return [dumps(dict(zip(names, row, strict=True))) for row in zip(*cols, strict=True)]


def with_now(table: pa.Table, now_us: int) -> pa.Table:
    """The events with every ``ts`` set to ``now_us`` (freshness runs)."""
    ts = pa.array(np.full(table.num_rows, now_us, np.int64)).cast(pa.timestamp("us", tz="UTC"))
    return table.set_column(table.schema.get_field_index("ts"), "ts", ts)
