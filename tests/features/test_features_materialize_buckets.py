"""Materialization in hash buckets of entities (bounded memory) gives the same online rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

import lakebed
from lakebed.features import Entity, FeatureView, Field, _materialize

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _online(monkeypatch: pytest.MonkeyPatch, bucket_rows: int) -> tuple[dict[str, int], list[object]]:
    monkeypatch.setattr(_materialize, "BUCKET_ROWS", bucket_rows)
    n = 200
    ts = [NOW - timedelta(hours=i % 50) for i in range(n * 3)]
    src = pa.table({
        "user_id": [i % n for i in range(n * 3)],
        "ts": pa.array(ts, pa.timestamp("us", "UTC")),
        "created_at": pa.array([t + timedelta(seconds=i % 7) for i, t in enumerate(ts)], pa.timestamp("us", "UTC")),
        "amount": [float(i) for i in range(n * 3)],
    })
    with lakebed.connect(":memory:") as lake:
        lake.tables.create("silver.tx", data=src)
        user = Entity("user", join_keys=["user_id"])
        view = FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts",
                           created_timestamp_field="created_at", ttl=timedelta(days=30),
                           fields=[Field("amount", "float64")])
        lake.features.apply([user, view])
        written = lake.features.materialize(NOW + timedelta(hours=1))
        values = lake.features.online([{"user_id": i} for i in range(n + 5)], ["stats:amount"],
                                      now=NOW + timedelta(hours=1))["amount"]
    return written, values


def test_bucketed_materialization_equals_single_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    one = _online(monkeypatch, 10_000_000)
    many = _online(monkeypatch, 37)  # 600 rows -> 17 buckets
    assert one == many
    assert one[0] == {"stats": 200}
    assert one[1][-5:] == [None] * 5
