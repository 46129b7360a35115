"""Crash test for streams and the stream processor: a child appends batches of click
events (some out of order, some beyond the watermark) to a stream and runs the stream
processor between appends, in small steps; it is SIGKILLed at random instants. After
every kill a fresh process checks, from the log alone:

- every acknowledged append is in the stream, the one in flight wholly or not at all (half the
  batches carry ids of their own, half take the ids lakebed makes);
- the online store holds, for every entity, exactly the window events a brute-force pass
  over the log up to the processor's committed offsets gives (none lost, none twice), and
  the committed counts and newest event times agree with it;
- the offline table holds each applied event up to its committed offsets once, the late
  table each too-late one.

The default run makes 100 kills on the embedded log and the SQLite online store (about
three and a half minutes with the harness's fork server; ``LAKEBED_CRASH_KILLS`` above 100
for a longer run); the slow-marked runs use Redis and PostgreSQL online stores and the brokers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.crash._harness import crash_loop, kills

import lakebed
from lakebed.features._codec import EventsCodec
from lakebed.features._stream import META_KEY, STATE_VIEW, SinkState

WATERMARK_S = 30
BATCH = 40

WORKLOAD = r"""
from datetime import datetime, timedelta, UTC
import numpy as np
import lakebed
from lakebed.features import Aggregation, Entity, StreamFeatureView

T0 = datetime(2026, 1, 1, tzinfo=UTC)
lake = lakebed.connect(PATH, online=ONLINE, streams=STREAMS)
if not lake.streams.exists("clicks"):
    lake.streams.create("clicks", schema={"user_id": "int64", "price": "float64", "ts": "timestamp[us, tz=UTC]"},
                        key="user_id", event_time="ts", partitions=3)
s = lake.streams.get("clicks")
user = Entity("user", join_keys=["user_id"])
view = StreamFeatureView("uc", entities=[user], source="stream:clicks", timestamp_field="ts",
                         aggregations=[Aggregation("price", "count", window=timedelta(minutes=5)),
                                       Aggregation("price", "sum", window=timedelta(minutes=20))],
                         watermark=timedelta(seconds=WATERMARK_S), offline="bronze.clicks")
lake.features.apply([user, view])
rng = np.random.default_rng(SEED)
proc = lake.features.stream_processor(max_records=int(rng.integers(5, 120)), offline_interval=0.0)
i = 0
while True:
    op = SEED * 10_000 + i
    i += 1
    base = op * 20.0  # seconds: time moves on with every batch
    jitter = rng.uniform(-45, 5, BATCH)  # some out of order, some beyond the watermark
    rows = [{"user_id": int(u), "price": float(p), "ts": T0 + timedelta(seconds=float(base + j))}
            for u, p, j in zip(rng.integers(0, 25, BATCH), rng.integers(0, 1000, BATCH), jitter)]
    begin({"op": op, "n": BATCH})
    # every other batch with ids lakebed makes (remembered per batch, not per record, on Redis)
    s.append(rows, ids=[f"{op}-{j}" for j in range(BATCH)] if op % 2 else None)
    ack()
    proc.step()
"""


def _records(lake: lakebed.Lake) -> list[list[dict[str, Any]]]:
    s = lake.streams.get("clicks")
    parts = []
    for k, (_first, nxt) in enumerate(s.bounds()):
        rows: list[dict[str, Any]] = []
        while len(rows) < nxt:
            b = s.read(k, len(rows), 100_000)
            rows += b.to_pylist()
        parts.append(rows)
    return parts


def _us(t: Any) -> int:
    from lakebed.features._definitions import utc_us

    return utc_us(t)


def check(path: Path, acked: list[dict[str, Any]], pending: dict[str, Any] | None, urls: dict[str, Any]) -> bool:
    if not (path / "lakebed.toml").exists():
        return False
    with lakebed.connect(path, **urls) as lake:
        if not lake.streams.exists("clicks"):
            assert not acked
            return False
        parts = _records(lake)
        total = sum(len(p) for p in parts)
        want = sum(op["n"] for op in acked)
        applied_pending = total == want + (pending["n"] if pending else 0) and pending is not None
        assert total == want or applied_pending, f"the stream holds {total} records, {want} were acknowledged"
        ids = [r for p in parts for r in p]
        assert len(ids) == total
        if "uc" not in {v.name for v in lake.features.list_views()}:
            return applied_pending
        store = lake.features.online_store
        buf = store.read(STATE_VIEW, ["uc"])[0]
        state = SinkState.from_json(buf) if buf is not None else SinkState.start(0, [0, 0, 0])
        # brute force over the log up to the committed offsets
        wm = WATERMARK_S * 1_000_000
        events: dict[str, list[list[Any]]] = {}
        n_applied = n_late = 0
        late_keys: set[tuple[int, int]] = set()
        applied_keys: set[tuple[int, int]] = set()
        for k, rows in enumerate(parts):
            newest = None
            for r in rows:
                t = _us(r["ts"])
                newest = t if newest is None else max(newest, t)
                if t < newest - wm:
                    late_keys.add((k, r["_offset"]))
                    if r["_offset"] < state.offsets[k]:
                        n_late += 1
                    continue
                applied_keys.add((k, r["_offset"]))
                if r["_offset"] < state.offsets[k]:
                    n_applied += 1
                    events.setdefault(str(r["user_id"]), []).append([t, r["price"]])
            upto = [r for r in rows if r["_offset"] < state.offsets[k]]
            if upto:
                assert state.max_ts[k] == max(_us(r["ts"]) for r in upto)
        assert (state.applied, state.too_late) == (n_applied, n_late)
        max_w = 20 * 60 * 1_000_000
        keys = sorted(events)
        stored = dict(zip(keys, store.read("uc", keys), strict=True))
        for key, evs in events.items():
            newest = max(e[0] for e in evs)
            expect = sorted(e for e in evs if e[0] > newest - max_w)
            buf = stored[key]
            assert buf is not None, f"entity {key}: its applied events are missing online"
            assert sorted(EventsCodec.decode(buf)[1]) == expect, f"entity {key}: online events differ from the log"
        assert store.count("uc") == len(events)
        # offline: each applied event up to the offline state's offsets, once
        for table, kind in (("bronze.clicks", applied_keys), ("bronze.clicks__late", late_keys)):
            if not lake.tables.exists(table):
                continue
            meta = next((h["metadata"][META_KEY] for h in lake.tables.history(table) if META_KEY in h["metadata"]),
                        None)
            offs = json.loads(meta)["state"]["offsets"] if meta else [0, 0, 0]
            rows = lake.tables.read(table, columns=["_partition", "_offset"]).to_pylist()
            got = [(r["_partition"], r["_offset"]) for r in rows]
            assert len(got) == len(set(got)), f"{table} holds an event twice"
            assert set(got) == {x for x in kind if x[1] < offs[x[0]]}, f"{table} differs from the log"
        return applied_pending


def _run(tmp_path: Path, n: int, online: str | None = None, streams: str | None = None) -> dict[str, int]:
    urls = {"online": online, "streams": streams}
    workload = (f"ONLINE = {online!r}\nSTREAMS = {streams!r}\nWATERMARK_S = {WATERMARK_S}\nBATCH = {BATCH}\n"
                + WORKLOAD)
    stats = crash_loop(tmp_path, workload, lambda p, a, pe: check(p, a, pe, urls), n_kills=n,
                       acks_per_round=(1, 12), max_delay=0.08)
    print(f"streams crash ({online or 'sqlite'}, {streams or 'embedded'}): {stats}")
    assert stats["kills"] == n
    return stats


def test_crash_stream_processor(tmp_path: Path) -> None:
    """100 kills (or LAKEBED_CRASH_KILLS if larger) on the embedded log and SQLite. Each
    round forks a writer from the harness's fork server (about 2.1 s a round here; a fresh
    interpreter per round took 4.6 s, and 100 rounds 457 s of CI's 30-minute budget)."""
    _run(tmp_path, max(100, kills()))


@pytest.mark.slow
@pytest.mark.redis
def test_crash_stream_processor_redis(tmp_path: Path, redis_url: str) -> None:
    _run(tmp_path, kills(), online=redis_url, streams=redis_url)


@pytest.mark.slow
@pytest.mark.postgres
def test_crash_stream_processor_postgres(tmp_path: Path, pg_url: str) -> None:
    _run(tmp_path, kills(), online=pg_url)


@pytest.mark.slow
@pytest.mark.nats
def test_crash_stream_processor_nats(tmp_path: Path, nats_url: str) -> None:
    _run(tmp_path, kills(), streams=nats_url)

