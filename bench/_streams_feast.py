"""Feast 0.67 push API runners for ``bench/streams.py`` (SQLite online store).

A ``PushSource`` over a one-file batch source feeds the feature view ``clicks`` (entity
``user_id``; ``item_id``, ``price``, ``page``); ``store.push(..., to=PushMode.ONLINE)``
writes the pushed rows to the online store (Feast keeps each entity's latest row; it has
no streaming window aggregation, so this is less work per event than lakebed's three
windows).

- throughput: the events pushed as pandas frames of 10,000 rows (frame conversion from
  Arrow before the clock), events/s;
- freshness: at a steady rate, a producer pushes a small frame every 10 ms whose ``ts`` is
  now; after each push the same thread reads one pushed user back with
  ``get_online_features`` until it shows the pushed ``item_id``; latency = read-back time -
  event time (push is synchronous, so this is push + one read).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _streams_data import with_now


def feast_store(root: Path, sample: pa.Table) -> Any:
    import shutil

    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, RepoConfig, ValueType
    from feast.types import Float64, Int64, String

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    pq.write_table(sample, root / "clicks.parquet")
    cfg = RepoConfig(project="sbench", registry=str(root / "registry.db"), provider="local",
                     offline_store={"type": "file"}, online_store={"type": "sqlite", "path": str(root / "online.db")},
                     entity_key_serialization_version=3)
    store = FeatureStore(config=cfg)
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    batch = FileSource(name="clicks_batch", path=str(root / "clicks.parquet"), timestamp_field="ts")
    push = PushSource(name="clicks_push", batch_source=batch)
    view = FeatureView(name="clicks", entities=[user], ttl=timedelta(days=3650), source=push, online=True,
                       schema=[Field(name="item_id", dtype=Int64), Field(name="price", dtype=Float64),
                               Field(name="page", dtype=String)])
    store.apply([user, view])
    return store


def throughput(root: Path, table: pa.Table, repeats: int, batch: int = 10_000) -> dict[str, Any]:
    from feast.data_source import PushMode

    frames = [table.slice(at, batch).to_pandas() for at in range(0, table.num_rows, batch)]
    out: list[float] = []
    for r in range(repeats):
        store = feast_store(root / f"t{r}", table.slice(0, 100))
        t0 = time.perf_counter()
        for df in frames:
            store.push("clicks_push", df, to=PushMode.ONLINE)
        out.append(table.num_rows / (time.perf_counter() - t0))
        print(f"  feast push #{r}: {out[-1]:,.0f} ev/s", flush=True)
    # check the last value of one user
    last = table.slice(table.num_rows - 1, 1).to_pylist()[0]
    uid = last["user_id"]
    users = table.column("user_id").to_numpy()
    idx = int(np.flatnonzero(users == uid)[-1])
    want = table.column("item_id")[idx].as_py()
    got = store.get_online_features(features=["clicks:item_id"], entity_rows=[{"user_id": uid}]).to_dict()
    check = "ok" if got["item_id"][0] == want else f"user {uid}: item_id {got['item_id'][0]}, want {want}"
    return {"push": out, "check": check}


def freshness(root: Path, template: pa.Table, rate: float, seconds: float, warmup: float = 2.0,
              tick: float = 0.01) -> dict[str, Any]:
    from feast.data_source import PushMode

    store = feast_store(root / "fresh", template.slice(0, 100))
    lat: list[float] = []
    reads = 0
    sent = 0
    at = 0
    n = template.num_rows
    t0 = time.perf_counter()
    while (el := time.perf_counter() - t0) < seconds:
        due = int(el * rate) + 1 - sent
        if due > 0:
            if at + due > n:
                at = 0
            now_us = time.time_ns() // 1000
            chunk = with_now(template.slice(at, due), now_us)
            df = chunk.to_pandas()
            at += due
            sent += due
            store.push("clicks_push", df, to=PushMode.ONLINE)
            uid = int(df["user_id"].iloc[-1])
            want = int(df["item_id"].iloc[-1])
            while True:
                reads += 1
                got = store.get_online_features(features=["clicks:item_id"],
                                                entity_rows=[{"user_id": uid}]).to_dict()["item_id"][0]
                if got == want or time.perf_counter() - t0 > seconds + 10:
                    break
            if el >= warmup:
                # every event of the frame had ts = now_us and is visible now
                lat.extend([(time.time_ns() // 1000 - now_us) / 1000.0] * due)
        sleep = sent / rate - (time.perf_counter() - t0)
        if sleep > 0:
            time.sleep(min(sleep, tick))
    elapsed = time.perf_counter() - t0
    if not lat:
        return {"error": "nothing measured", "sent": sent}
    a = np.asarray(lat)
    p50, p99, pmax = np.percentile(a, [50, 99, 100])
    return {"p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(pmax), "events": len(a), "sent": sent,
            "achieved_rate": sent / elapsed, "target_rate": rate, "reads": reads}
