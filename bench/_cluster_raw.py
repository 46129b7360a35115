"""Raw JetStream baselines for ``bench/cluster.py``: nats-py publishing the very messages a
lakebed cluster node publishes, to streams on the same local 3-server NATS cluster.

The messages are built before the clock starts with ``lakebed.cluster._wire.upsert_messages``
(what a node makes of one upsert call: per shard, ``[u32 header length][JSON header]
[float32 vectors]``, at most 768 KiB each), one call per batch of 1,000 points. Each shard
has its own stream (``RAWB_R<replicas>_<shard>``, subject ``rawb.<shard>``, file storage,
two-minute duplicate window: the configuration of a lakebed shard stream); one variant
puts all four subjects in one stream. Ways to publish (every acknowledgement awaited and
checked; the stream's message count checked after the run):

- ``pipelined``: core ``nc.publish`` with a reply subject on one wildcard inbox, up to
  ``WINDOW`` messages in flight across batches (the broker's limit for one connection);
- ``msgid``: the same with a ``Nats-Msg-Id`` header per message, as lakebed sends (the
  server then checks each id against the duplicate window);
- ``publish_async``: nats-py's own ``js.publish_async`` (its default of 4,000 pending);
- ``per_batch``: one batch's messages pipelined (with ``Nats-Msg-Id``), then wait for all
  of their acknowledgements before the next batch: what one lakebed upsert call does
  between the node and JetStream, without HTTP, validation or encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

WINDOW = 64  # messages in flight (about 25 MB of 390 KB messages)


def build_messages(ids: list[int], vectors: Any, shards: int, batch: int) -> list[list[tuple[int, bytes]]]:
    """Per batch of ``batch`` points: [(shard, message bytes)], exactly as a node publishes
    them (payloads ``{}``, no texts: what ``check_payloads(None, n)`` gives a node)."""
    import numpy as np

    from lakebed.cluster._wire import upsert_messages

    vecs = np.asarray(vectors, dtype=np.float32)
    vecs = np.ascontiguousarray(vecs / np.linalg.norm(vecs, axis=1, keepdims=True))  # as check_vectors does
    out = []
    for a in range(0, len(ids), batch):
        part = ids[a:a + batch]
        msgs = upsert_messages(part, vecs[a:a + batch], [{} for _ in part], None, shards)
        out.append([(s, m) for s, ms in sorted(msgs.items()) for m in ms])
    return out


async def _make_streams(js: Any, replicas: int, shards: int, one_stream: bool) -> list[str]:
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

    names = [f"RAWB_R{replicas}_ALL"] if one_stream else [f"RAWB_R{replicas}_{s}" for s in range(shards)]
    subjects = [[f"rawb.{s}" for s in range(shards)]] if one_stream else [[f"rawb.{s}"] for s in range(shards)]
    for name, subj in zip(names, subjects, strict=True):
        with contextlib.suppress(Exception):  # absent
            await js.delete_stream(name)
        await js.add_stream(StreamConfig(name=name, subjects=subj, storage=StorageType.FILE, num_replicas=replicas,
                                         retention=RetentionPolicy.LIMITS, discard=DiscardPolicy.OLD,
                                         duplicate_window=120.0))
    return names


async def _pipelined(nc: Any, batches: list[list[tuple[int, bytes]]], msg_ids: bool, per_batch: bool) -> None:
    prefix = nc.new_inbox() + "."
    state: dict[str, Any] = {"inflight": 0, "done": 0, "err": None, "sent": 0}
    wake = asyncio.Event()
    run = uuid.uuid4().hex

    async def on_ack(msg: Any) -> None:
        state["inflight"] -= 1
        state["done"] += 1
        if (not msg.data or b'"error"' in msg.data) and state["err"] is None:
            state["err"] = msg.data or f"status {(msg.headers or {}).get('Status')}"
        if state["inflight"] <= WINDOW // 2 or state["done"] >= state["sent"]:
            wake.set()

    async def settle(upto: int) -> None:
        while state["inflight"] > upto and state["err"] is None:
            wake.clear()
            if state["inflight"] > upto:
                await asyncio.wait_for(wake.wait(), 30)

    sub = await nc.subscribe(prefix + "*", cb=on_ack)
    try:
        i = 0
        for b, msgs in enumerate(batches):
            for j, (shard, payload) in enumerate(msgs):
                if state["inflight"] >= WINDOW:
                    await settle(WINDOW // 2)
                state["inflight"] += 1
                state["sent"] += 1
                headers = {"Nats-Msg-Id": f"{run[:12]}:{run}{b}:{shard}:{j}"} if msg_ids else None
                await nc.publish(f"rawb.{shard}", payload, reply=f"{prefix}{i}", headers=headers)
                i += 1
            if per_batch:
                await settle(0)
        await settle(0)
        if state["err"] is not None:
            raise RuntimeError(f"JetStream refused a publish: {state['err']!r:.300}")
    finally:
        await sub.unsubscribe()


async def _publish_async(js: Any, batches: list[list[tuple[int, bytes]]]) -> None:
    futs = []
    for msgs in batches:
        for shard, payload in msgs:
            futs.append(await js.publish_async(f"rawb.{shard}", payload))
    await js.publish_async_completed()
    for f in futs:
        f.result()


VARIANTS = {
    # name: (replicas, one stream, how)
    "r3.pipelined": (3, False, "pipelined"),
    "r3.msgid": (3, False, "msgid"),
    "r3.publish_async": (3, False, "publish_async"),
    "r3.one_stream": (3, True, "pipelined"),
    "r3.per_batch": (3, False, "per_batch"),
    "r1.pipelined": (1, False, "pipelined"),
    "r1.msgid": (1, False, "msgid"),
    "r1.per_batch": (1, False, "per_batch"),
}


async def _run(urls: str, batches: list[list[tuple[int, bytes]]], points: int, shards: int, repeats: int,
               variants: list[str], cpu: Any) -> dict[str, Any]:
    import nats

    nc = await nats.connect(urls.split(","), connect_timeout=5)
    js = nc.jetstream(timeout=30)
    n_msgs = sum(len(m) for m in batches)
    out: dict[str, Any] = {"points": points, "messages": n_msgs, "bytes": sum(len(p) for m in batches for _, p in m),
                           "window": WINDOW, "server": nc.connected_url.netloc if nc.connected_url else "?"}
    try:
        for r in range(repeats):
            for v in variants:
                replicas, one, how = VARIANTS[v]
                names = await _make_streams(js, replicas, shards, one)
                await asyncio.sleep(0.5)  # let the new Raft groups settle
                c0 = cpu()
                t0 = time.perf_counter()
                if how == "publish_async":
                    await _publish_async(js, batches)
                else:
                    await _pipelined(nc, batches, msg_ids=how in ("msgid", "per_batch"), per_batch=how == "per_batch")
                el = time.perf_counter() - t0
                c1 = cpu()
                stored = 0
                for name in names:
                    stored += (await js.stream_info(name)).state.messages
                if stored != n_msgs:
                    raise AssertionError(f"{v}: {stored} of {n_msgs} messages stored")
                e = out.setdefault(v, {"points_s": [], "seconds": [], "nats_cpu_s": []})
                e["points_s"].append(points / el)
                e["seconds"].append(el)
                e["nats_cpu_s"].append(c1 - c0)
                print(f"  raw JetStream {v} #{r}: {points / el:,.0f} points/s ({el:.2f} s, nats CPU "
                      f"{c1 - c0:.1f} s)", flush=True)
                for name in names:
                    await js.delete_stream(name)
    finally:
        await nc.close()
    return out


def raw_publish(urls: str, batches: list[list[tuple[int, bytes]]], points: int, shards: int, repeats: int,
                variants: list[str] | None = None, cpu: Any = lambda: 0.0) -> dict[str, Any]:
    """Points/s of each variant (per repeat), on the NATS servers at ``urls``."""
    return asyncio.run(_run(urls, batches, points, shards, repeats, variants or list(VARIANTS), cpu))


# ------------------------------------------------------------------ failover


async def _failover(outage: Any, urls: str, batch_msgs: list[tuple[int, bytes]], kill: Any, start: Any, repeats: int,
                    before: float, after: float, timeout: float) -> dict[str, Any]:
    import nats

    nc = await nats.connect(urls.split(","), connect_timeout=2, reconnect_time_wait=0.5,
                            max_reconnect_attempts=-1)
    js = nc.jetstream(timeout=5)
    names = []
    from nats.js.api import StorageType, StreamConfig

    for s in range(4):
        name = f"RAWFO_{s}"
        with contextlib.suppress(Exception):
            await js.delete_stream(name)
        await js.add_stream(StreamConfig(name=name, subjects=[f"rawfo.{s}"], storage=StorageType.FILE, num_replicas=3,
                                         duplicate_window=120.0))
        names.append(name)
    runs = []
    try:
        for r in range(repeats):
            acks: list[tuple[float, float]] = []
            errors = [0]
            stop = [False]

            async def writer(r: int = r, acks: list[tuple[float, float]] = acks, errors: list[int] = errors,
                             stop: list[bool] = stop) -> None:
                k = 0
                while not stop[0]:
                    t0 = time.perf_counter()
                    for shard, payload in batch_msgs:
                        mid = f"fo{r}-{k}-{shard}"
                        while True:  # the same message (same id) until JetStream acknowledges it
                            try:
                                m = await nc.request(f"rawfo.{shard}", payload, timeout=0.5,
                                                     headers={"Nats-Msg-Id": mid})
                                if m.data and b'"error"' not in m.data:
                                    break
                            except Exception:  # timeout, no responders, reconnecting
                                pass
                            errors[0] += 1
                            await asyncio.sleep(0.05)
                    acks.append((t0, time.perf_counter()))
                    k += 1

            task = asyncio.create_task(writer())
            await asyncio.sleep(before)
            stream = names[r % 4]
            leader = int((await js.stream_info(stream)).cluster.leader[1:])
            t_kill = time.perf_counter()
            await asyncio.to_thread(kill, leader)
            while time.perf_counter() - t_kill < timeout and not any(s > t_kill for s, _ in acks):
                await asyncio.sleep(0.01)
            await asyncio.sleep(after)
            stop[0] = True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(task, 60)
            run: dict[str, Any] = {"shard": r % 4, "killed": f"s{leader}", **outage(acks, t_kill),
                                   "retries": errors[0]}
            await asyncio.to_thread(start, leader)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 120:
                try:
                    infos = [await js.stream_info(n) for n in names]
                    if all(i.cluster and i.cluster.leader and len(i.cluster.replicas or []) == 2 and
                           all(p.current for p in i.cluster.replicas) for i in infos):
                        break
                except Exception:
                    pass
                await asyncio.sleep(0.2)
            run["current_after_restart_s"] = time.perf_counter() - t0
            runs.append(run)
            print(f"  raw JetStream failover #{r}: killed s{leader}: "
                  f"{'-' if run['failover_s'] is None else format(run['failover_s'], '.2f')} s", flush=True)
        for n in names:
            with contextlib.suppress(Exception):
                await js.delete_stream(n)
    finally:
        await nc.close()
    return {"runs": runs, "how": "nats-py request per message (timeout 0.5 s, retried with the same Nats-Msg-Id), "
                                 "4 streams R3, batches of 100 points as 4 shard messages; client reconnect wait 0.5 s"}


def raw_failover(outage: Any, urls: str, batch_msgs: list[tuple[int, bytes]], kill: Any, start: Any, repeats: int,
                 before: float = 3.0, after: float = 2.0, timeout: float = 60.0) -> dict[str, Any]:
    """JetStream's own failover, without lakebed, for a client that retries quickly (measured
    as ``outage`` of bench/cluster.py computes it)."""
    return asyncio.run(_failover(outage, urls, batch_msgs, kill, start, repeats, before, after, timeout))
