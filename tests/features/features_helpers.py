"""Data and definitions shared by the feature store tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from lakebed.features import Aggregation, Entity, FeatureView, Field, OnDemandFeatureView

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TX_SCHEMA = pa.schema([
    ("user_id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("amount", pa.float64()),
    ("created_at", pa.timestamp("us", tz="UTC")), ("merchant", pa.string()), ("n_items", pa.int64()),
])


def transactions(n: int = 400, users: int = 30, seed: int = 7) -> pa.Table:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ts = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        rows.append({
            "user_id": rng.randrange(users), "ts": ts,
            "amount": None if rng.random() < 0.05 else round(rng.uniform(1, 500), 2),
            "created_at": ts + timedelta(seconds=rng.randrange(0, 3)),
            "merchant": rng.choice(["a", "b", "c", None]), "n_items": rng.randrange(1, 9),
        })
    return pa.Table.from_pylist(rows, schema=TX_SCHEMA)


def ratio(t: pa.Table) -> dict[str, pa.Array]:
    import pyarrow.compute as pc

    return {"amount_vs_now": pc.divide(t["amount_now"], t["amount"]),
            "big_spender": pc.greater(t["amount_sum_7d"], 1000.0)}


def definitions():
    user = Entity("user", join_keys=["user_id"])
    stats = FeatureView("user_stats", entities=[user], source="silver.transactions", timestamp_field="ts",
                        created_timestamp_field="created_at", ttl=timedelta(days=2),
                        fields=[Field("amount", "float64"), Field("merchant", "string"), Field("n_items", "int64")])
    spend = FeatureView("user_spend", entities=[user], source="silver.transactions", timestamp_field="ts",
                        aggregations=[Aggregation("amount", f, window=timedelta(days=7))
                                      for f in ("sum", "count", "mean", "min", "max")]
                        + [Aggregation("n_items", "sum", window=timedelta(days=1))])
    odfv = OnDemandFeatureView("tx_ratio", sources=[stats[["amount"]], spend[["amount_sum_7d"]]], udf=ratio,
                               request_fields=[Field("amount_now", "float64")],
                               fields=[Field("amount_vs_now", "float64"), Field("big_spender", "bool")])
    return user, stats, spend, odfv
