"""The streams part of ``lakebed demo``: real-time personalization.

User profiles come from a table (materialized to the online store); click events stream
into ``clicks`` while a stream processor keeps windowed click features online; a model
trained on a point-in-time training set over both scores candidate users with the values
the online store serves a moment after the clicks arrived.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from lakebed.features._definitions import Aggregation, Entity, FeatureView, Field, StreamFeatureView

CLICK_SCHEMA = {"user_id": "int64", "item_id": "int64", "price": "float64", "ts": "timestamp[us, tz=UTC]"}
FEATURES = ["user_profile:txn_count", "user_profile:total_spend", "user_clicks:item_id_count_1m",
            "user_clicks:price_sum_5m"]


def _profiles(lake: Any, now: datetime) -> pa.Table:
    """Per-user profile: the gold aggregates when the tables tour made them, else made up."""
    if lake.tables.exists("gold.user_features"):
        gold = lake.tables.read("gold.user_features", columns=["user_id", "txn_count", "total_spend"])
        users = gold.column("user_id").cast(pa.int64())
        count = gold.column("txn_count").cast(pa.int64())
        spend = gold.column("total_spend").cast(pa.float64())
    else:
        rng = np.random.default_rng(5)
        users = pa.array(np.arange(1, 201), pa.int64())
        count = pa.array(rng.integers(1, 50, 200), pa.int64())
        spend = pa.array(np.round(rng.gamma(2.0, 80.0, 200), 2))
    return pa.table({"user_id": users, "txn_count": count, "total_spend": spend,
                     "updated_at": pa.array([now] * len(users), pa.timestamp("us", tz="UTC"))})


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    if rows:
        for col in rows[0]:
            table.add_column(str(col))
        for r in rows:
            table.add_row(*(f"{v:,.3f}" if isinstance(v, float) else str(v) for v in r.values()))
    return table


def demo_section(lake: Any, console: Console, *, seconds: float = 3.0) -> None:
    """Stream clicks for a few seconds and show features, freshness and a model's ranking."""
    now = datetime.now(UTC)
    profiles = _profiles(lake, now)
    lake.tables.create("gold.user_profiles", data=profiles, exist_ok=True)
    user = Entity("user", join_keys=["user_id"])
    profile = FeatureView("user_profile", entities=[user], source="gold.user_profiles", timestamp_field="updated_at",
                          fields=[Field("txn_count", "int64"), Field("total_spend", "float64")])
    clicks = lake.streams.create("clicks", schema=CLICK_SCHEMA, key="user_id", event_time="ts", partitions=4)
    user_clicks = StreamFeatureView(
        "user_clicks", entities=[user], source="stream:clicks", timestamp_field="ts",
        aggregations=[Aggregation("item_id", "count", window=timedelta(minutes=1)),
                      Aggregation("price", "sum", window=timedelta(minutes=5))],
        watermark=timedelta(seconds=5), offline="bronze.clicks", freshness_slo=timedelta(seconds=1),
    )
    lake.features.apply([user, profile, user_clicks])
    rows = lake.features.materialize(views=["user_profile"], end=now + timedelta(seconds=1))
    console.print(f"profiles: {profiles.num_rows:,} users from a table, materialized online "
                  f"({rows['user_profile']:,} rows); clicks: a stream with 4 partitions on the "
                  f"{lake.streams.backend.name} log")

    # heavy users click more: the label the model learns is "clicks again within a second"
    ids = profiles.column("user_id").to_numpy()
    weight = 1.0 / np.arange(1, len(ids) + 1) ** 0.8
    weight /= weight.sum()
    rng = np.random.default_rng(17)
    stop = threading.Event()
    processor = threading.Thread(target=lake.features.run_stream, kwargs={"stop": stop}, daemon=True)
    processor.start()
    appended = 0
    probes: list[tuple[int, datetime]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n = 100
        t = datetime.now(UTC)
        who = rng.choice(ids, n, p=weight)
        clicks.append(pa.table({
            "user_id": pa.array(who, pa.int64()),
            "item_id": pa.array(rng.integers(0, 5_000, n), pa.int64()),
            "price": pa.array(np.round(rng.gamma(2.0, 15.0, n), 2)),
            "ts": pa.array([t] * n, pa.timestamp("us", tz="UTC")),
        }))
        appended += n
        probes += [(int(u), t) for u in rng.choice(ids, 3)]
        time.sleep(0.05)
    # how long until a click is visible online: once the processor has caught up, one more
    deadline = time.monotonic() + 30
    while {s["view"]: s for s in lake.features.status()}["user_clicks"]["lag"] and time.monotonic() < deadline:
        time.sleep(0.02)
    probe = {"user_id": int(ids[0])}
    before = lake.features.online([probe], ["user_clicks:item_id_count_1m"])["item_id_count_1m"][0]
    start = time.perf_counter()
    clicks.append([{**probe, "item_id": 1, "price": 1.0, "ts": datetime.now(UTC)}])
    appended += 1
    while time.perf_counter() - start < 10:
        if lake.features.online([probe], ["user_clicks:item_id_count_1m"])["item_id_count_1m"][0] > before:
            break
        time.sleep(0.001)
    visible_ms = (time.perf_counter() - start) * 1000
    stop.set()
    processor.join()
    status = {s["view"]: s for s in lake.features.status()}["user_clicks"]
    console.print(f"{appended:,} clicks appended over {seconds:.0f} s while the processor ran; the last one was "
                  f"online {visible_ms:.0f} ms after its append")
    console.print(_table([{
        "view": "user_clicks", "applied": status["applied"], "lag": status["lag"],
        "too late": status["too_late"], "freshness p50 ms": status["freshness_p50_ms"],
        "freshness p99 ms": status["freshness_p99_ms"], "SLO 1 s breached": status["slo_breached"],
    }], "stream view status (event time to online, per event)"))

    # a training set over profile + stream features at the probe times, labelled from the log
    log = lake.tables.read("bronze.clicks", columns=["user_id", "ts"])
    by_user: dict[int, list[datetime]] = {}
    for u, t in zip(log.column("user_id").to_pylist(), log.column("ts").to_pylist(), strict=True):
        by_user.setdefault(u, []).append(t)
    labels = [int(any(p < t <= p + timedelta(seconds=1) for t in by_user.get(u, []))) for u, p in probes]
    entity = pa.table({"user_id": pa.array([u for u, _ in probes], pa.int64()),
                       "event_timestamp": pa.array([p for _, p in probes], pa.timestamp("us", tz="UTC")),
                       "label": pa.array(labels, pa.int64())})
    train = lake.features.training_set(entity, FEATURES).to_arrow()
    x = np.column_stack([np.nan_to_num(train.column(f.split(":")[1]).to_numpy(zero_copy_only=False).astype(float))
                         for f in FEATURES])
    y = train.column("label").to_numpy()
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        console.print("(scikit-learn is not installed: `pip install lakebed[demo]` to train the model)")
        return
    if len(set(y.tolist())) < 2:
        console.print("the labels have one class only; no model to train this time")
        return
    scale = x.std(axis=0) + 1e-9
    model = LogisticRegression(max_iter=500).fit(x / scale, y)
    console.print(f"trained a logistic regression on a point-in-time training set of {train.num_rows} rows "
                  f"(profile + stream features; {int(y.sum())} positive)")
    candidates = [int(u) for u in rng.choice(ids[:50], 8, replace=False)]
    online = lake.features.online([{"user_id": u} for u in candidates], FEATURES)
    xs = np.column_stack([np.nan_to_num(np.array(online[f.split(":")[1]], dtype=float)) for f in FEATURES])
    scores = model.predict_proba(xs / scale)[:, 1]
    ranked = sorted(zip(candidates, scores, xs.tolist(), strict=True), key=lambda r: -r[1])
    console.print(_table([
        {"user_id": u, "score": float(s), "txn_count (table)": int(v[0]), "total_spend (table)": v[1],
         "clicks 1m (stream)": int(v[2]), "spend 5m (stream)": v[3]} for u, s, v in ranked
    ], "candidates ranked by the model, from online features served now"))
