"""The feature store's part of ``lakebed demo``: definitions, a point-in-time training
set, materialization and an online lookup, on the demo's ``silver.transactions`` (or a
small table of its own when that is absent)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from lakebed.features._definitions import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
)

SOURCE = "silver.transactions"
OWN_SOURCE = "features_demo.transactions"


def _own_transactions(n: int = 5_000, users: int = 200) -> pa.Table:
    rng = np.random.default_rng(11)
    t0 = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    ts = np.sort(t0 + rng.integers(0, 60 * 86_400 * 1_000_000, n))
    return pa.table({
        "user_id": pa.array(rng.integers(0, users, n), pa.int64()),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "amount": pa.array(np.round(rng.gamma(2.0, 40.0, n), 2)),
        "created_at": pa.array(ts + rng.integers(0, 5_000_000, n), pa.timestamp("us", tz="UTC")),
    })


def amount_vs_typical(t: pa.Table) -> dict[str, Any]:
    """On-demand feature: how the amount being scored compares with the week's mean."""
    return {"amount_vs_mean_7d": pc.divide(t["amount_now"], t["amount_mean_7d"])}


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    if not rows:
        return table
    for col in rows[0]:
        table.add_column(str(col))
    for r in rows:
        table.add_row(*(_fmt(v) for v in r.values()))
    return table


def _fmt(v: Any) -> str:
    if v is None:
        return "[dim]null[/]"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def demo_section(lake: Any, console: Console) -> None:
    """A short, deterministic tour of the feature store."""
    source = SOURCE
    schema = lake.tables.schema(source) if lake.tables.exists(source) else None
    needed = {"user_id", "ts", "amount", "created_at"}
    if schema is None or not needed <= set(schema.names):
        source = OWN_SOURCE
        if not lake.tables.exists(source):
            lake.tables.create(source, data=_own_transactions())
    console.print(f"source table [bold]{source}[/] (version {lake.tables.version(source)})")

    user = Entity("user", join_keys=["user_id"], description="a customer")
    stats = FeatureView(
        "user_last_txn", entities=[user], source=source, timestamp_field="ts",
        created_timestamp_field="created_at", ttl=timedelta(days=30),
        fields=[Field("amount", "float64")], description="the user's latest transaction amount",
    )
    spend = FeatureView(
        "user_spend", entities=[user], source=source, timestamp_field="ts",
        aggregations=[Aggregation("amount", "sum", window=timedelta(days=7)),
                      Aggregation("amount", "count", window=timedelta(days=7)),
                      Aggregation("amount", "mean", window=timedelta(days=7))],
    )
    ratio = OnDemandFeatureView(
        "amount_ratio", sources=[spend[["amount_mean_7d"]]], udf=amount_vs_typical,
        request_fields=[Field("amount_now", "float64")], fields=[Field("amount_vs_mean_7d", "float64")],
    )
    service = FeatureService("fraud_features", features=[stats, spend, ratio])
    plan = lake.features.apply([user, stats, spend, ratio, service])
    console.print("[bold]apply[/] (plan/diff, versioned in the catalog):")
    console.print(str(plan))

    # entity rows: a few users at the time of their last transaction and a day before
    tx = lake.tables.read(source, columns=["user_id", "ts"])
    newest = pc.max(tx.column("ts")).as_py()
    users = sorted(set(tx.slice(tx.num_rows - 40).column("user_id").to_pylist()))[:4]
    times = [newest, newest - timedelta(days=1)]
    ent = pa.table({
        "user_id": pa.array([u for u in users for _ in times], pa.int64()),
        "event_timestamp": pa.array([t for _ in users for t in times], pa.timestamp("us", tz="UTC")),
        "amount_now": pa.array([120.0] * (len(users) * len(times))),
        "label": pa.array([i % 2 for i in range(len(users) * len(times))], pa.int64()),
    })
    ts = lake.features.training_set(ent, service)
    console.print(_table(ts.to_arrow().to_pylist(), "point-in-time training set (no value from the future)"))
    version = ts.save("gold.train_fraud_features")
    console.print(f"saved as [bold]gold.train_fraud_features[/] v{version} with lineage to "
                  f"{', '.join(f'{k}@{v}' for k, v in ts.view_versions.items())} and "
                  f"{', '.join(f'{k}@{v}' for k, v in ts.source_versions.items())}")

    end = newest + timedelta(microseconds=1)
    rows = lake.features.materialize(end=end)
    console.print(f"materialized up to {end:%Y-%m-%d %H:%M} UTC: " +
                  ", ".join(f"{k}: {v:,} entities" for k, v in rows.items()))
    resp = lake.features.online([{"user_id": u, "amount_now": 120.0} for u in users[:2]] + [
        {"user_id": -1, "amount_now": 120.0}], service, now=end)
    out = []
    for i in range(len(resp)):
        row = {"user_id": resp["user_id"][i]}
        for name in resp.statuses:
            row[name] = resp[name][i]
        row["status"] = "/".join(sorted({s[i] for s in resp.statuses.values()}))
        out.append(row)
    console.print(_table(out, "online lookup (the same values the training set would give at that time)"))
    lag = lake.features.status()
    console.print(_table(
        [{"view": s["view"], "rows online": s["rows_online"], "newest event": s["newest_event"]} for s in lag],
        "feature store status",
    ))
