"""Congruence of the feature store: embedded and served lakes answer the same."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

import lakebed
from lakebed.features import Entity, FeatureView, Field

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _script(lake: Any) -> list[Any]:
    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        if hasattr(result, "to_arrow"):
            result = result.to_arrow()
        if isinstance(result, pa.Table):
            result = result.to_pylist()
        if hasattr(result, "values") and hasattr(result, "statuses"):
            result = (result.values, result.statuses)
        out.append(result)

    ts = pa.array([NOW - timedelta(days=d) for d in (40, 3, 2, 1, 0)], pa.timestamp("us", "UTC"))
    src = pa.table({"user_id": [1, 1, 1, 2, 2], "ts": ts, "amount": [9.0, 1.0, 2.0, 3.0, 4.0],
                    "country": ["DE", "DE", "FR", "US", "US"]})
    lake.tables.create("silver.tx", data=src)
    user = Entity("user", join_keys=["user_id"])
    stats = FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts", ttl=timedelta(days=30),
                        fields=[Field("amount", "float64"), Field("country", "string")])
    step(lambda: [(c["kind"], c["name"], c["action"]) for c in _changes(lake.features.apply([user, stats]))])
    step(lambda: [(c["kind"], c["name"], c["action"]) for c in _changes(lake.features.apply([user, stats]))])
    entity_df = pa.table({
        "user_id": [1, 2, 1, 3, 1],
        "event_timestamp": pa.array([NOW, NOW - timedelta(days=1), NOW - timedelta(days=35), NOW,
                                     NOW - timedelta(days=2)], pa.timestamp("us", "UTC")),
        "label": [1, 0, 1, 0, 1],
    })
    step(lambda: lake.features.training_set(entity_df, ["stats:amount", "stats:country"]))
    step(lambda: lake.features.training_set(entity_df, ["stats:nope"]))
    step(lambda: lake.features.training_set(entity_df.drop(["user_id"]), ["stats:amount"]))
    step(lambda: lake.features.materialize(NOW + timedelta(hours=1)))
    step(lambda: lake.features.online([{"user_id": 1}, {"user_id": 2}, {"user_id": 3}], ["stats:amount"]))
    step(lambda: lake.features.push("stats", [{"user_id": 3, "ts": datetime.now(UTC), "amount": 7.5,
                                               "country": "JP"}]))
    step(lambda: lake.features.push("stats", [{"user_id": 3, "ts": NOW, "amount": "lots", "country": "JP"}]))
    step(lambda: lake.features.online([{"user_id": 3}], ["stats:amount", "stats:country"]))
    step(lambda: lake.features.online([{"user_id": 3}], ["nope:amount"]))
    step(lambda: [v.name for v in lake.features.list_views()])
    step(lambda: [(s["view"], s["rows_online"]) for s in lake.features.status()])
    return out


def _changes(plan: Any) -> list[dict[str, Any]]:
    if isinstance(plan, list):
        return plan
    return [{"kind": c.kind, "name": c.name, "action": c.action} for c in plan.changes]


def test_features_congruence(served_any: Any) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _script(embedded)
    with lakebed.connect(served_any.url) as remote:
        served_any.lake.tables.create("silver.tx_placeholder", data=[{"a": 1}])  # the served lake has other tables too
        got = _script(remote)
    assert got == expected
    assert ("error", "NotFound") in got or ("error", "InvalidArgument") in got
