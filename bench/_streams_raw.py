"""Raw-client baselines for ``bench/streams.py``: the client's own limit on the same broker.

The payloads are the same 200-byte JSON records lakebed writes, encoded before the clock
starts (the raw clients move bytes; lakebed also encodes Arrow to JSON and back).

- JetStream (nats-py): one file-storage stream, one replica, one subject. Append:
  ``js.publish_async`` (nats-py's own pipelined publish, up to 4,000 in flight, every
  ack awaited) and a hand-pipelined core ``nc.publish`` with a reply subject on one
  wildcard inbox (window 4,096; what lakebed does, without the message-id header); the
  faster of the two is the baseline (a third run with a ``Nats-Msg-Id`` header per
  message, as lakebed sends, is reported beside it). Consume: a durable pull consumer
  (ack policy ``all``) read in batches of 10,000, one ack of each batch's last message,
  with nats-py's ``fetch`` and with a hand-rolled pull (``CONSUMER.MSG.NEXT`` to an inbox
  callback); the faster is the baseline.
- Redis (redis-py, hiredis parser): one stream. Append: ``XADD key * d <payload>``
  pipelined 1,000 per round trip (no transaction). Consume: ``XREADGROUP COUNT 10000``
  then one ``XACK`` of the batch's ids.
- End to end (publish -> consumer receive): a producer at a steady rate puts its send
  time in each message; the consumer runs in another thread (Redis: ``XREADGROUP BLOCK
  50``; JetStream: a pull request every 50 ms that waits up to 100 ms on the server, so one
  is always waiting and each message is delivered as it is stored) and records receive -
  send per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import time
from typing import Any

import numpy as np

NATS_URL = "nats://127.0.0.1:4222"
REDIS_DB = 12
STREAM = "SBENCH_RAW"
SUBJECT = "sbench.raw"
WINDOW = 4096
BATCH = 10_000


def flush_redis(db: int = REDIS_DB) -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()


# ------------------------------------------------------------------ JetStream


async def _nats_stream(js: Any) -> None:
    from nats.js.api import StorageType, StreamConfig

    with contextlib.suppress(Exception):  # absent
        await js.delete_stream(STREAM)
    await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT], storage=StorageType.FILE, num_replicas=1))


async def _publish_async(js: Any, payloads: list[bytes]) -> None:
    futs = []
    for p in payloads:
        futs.append(await js.publish_async(SUBJECT, p))
    await js.publish_async_completed()
    for f in futs[-1:]:
        f.result()


async def _publish_pipelined(nc: Any, payloads: list[bytes], msg_ids: str | None = None) -> None:
    """Core publish with a reply subject on one wildcard inbox, ``WINDOW`` in flight; with
    ``msg_ids`` each message also gets a ``Nats-Msg-Id`` header (as lakebed's appends)."""
    prefix = nc.new_inbox() + "."
    state: dict[str, Any] = {"inflight": 0, "done": 0, "err": None}
    total = len(payloads)
    wake = asyncio.Event()

    async def on_ack(msg: Any) -> None:
        state["inflight"] -= 1
        state["done"] += 1
        if not msg.data or b'"error"' in msg.data:
            state["err"] = msg.data
        if state["inflight"] <= WINDOW // 2 or state["done"] >= total:
            wake.set()

    sub = await nc.subscribe(prefix + "*", cb=on_ack)
    try:
        for i, p in enumerate(payloads):
            if state["inflight"] >= WINDOW:
                wake.clear()
                await asyncio.wait_for(wake.wait(), 10)
            state["inflight"] += 1
            await nc.publish(SUBJECT, p, reply=f"{prefix}{i}",
                             headers={"Nats-Msg-Id": f"{msg_ids}{i}"} if msg_ids is not None else None)
        while state["done"] < total:
            wake.clear()
            if state["done"] < total:
                await asyncio.wait_for(wake.wait(), 10)
        if state["err"] is not None:
            raise RuntimeError(f"JetStream refused a publish: {state['err']!r}")
    finally:
        await sub.unsubscribe()


class _RawPull:
    """A hand-rolled pull on a durable consumer (what nats-py's ``fetch`` does, minus its
    per-message bookkeeping): a ``CONSUMER.MSG.NEXT`` request whose messages come to an
    inbox callback; the batch ends at ``want`` messages or at the server's 404/408 status;
    then one ack of the last message (ack policy ``all``)."""

    def __init__(self, nc: Any, durable: str, on_msg: Any = None) -> None:
        self.nc, self.durable, self.on_msg = nc, durable, on_msg
        self.msgs: list[Any] = []
        self.want = 0
        self.end = asyncio.Event()

    async def open(self) -> None:
        self.inbox = self.nc.new_inbox()
        self.sub = await self.nc.subscribe(self.inbox, cb=self._cb, pending_msgs_limit=200_000,
                                           pending_bytes_limit=1 << 30)

    async def _cb(self, msg: Any) -> None:
        if not msg.data and msg.headers and "Status" in msg.headers:
            if msg.headers["Status"] != "100":  # 100 = heartbeat; 404/408 end the request
                self.end.set()
            return
        if self.on_msg is not None:
            self.on_msg(msg)
        self.msgs.append(msg)
        if len(self.msgs) >= self.want:
            self.end.set()

    async def fetch(self, want: int, expires_s: float | None = None) -> list[Any]:
        import orjson

        self.msgs, self.want = [], want
        self.end.clear()
        req: dict[str, Any] = {"batch": want}
        if expires_s is None:
            req["no_wait"] = True
        else:
            req["expires"] = int(expires_s * 1e9)
        await self.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{self.durable}", orjson.dumps(req),
                              reply=self.inbox)
        await asyncio.wait_for(self.end.wait(), 10 + (expires_s or 0))
        msgs = self.msgs
        if msgs:
            await msgs[-1].ack()
        return msgs

    async def request(self, want: int, expires_s: float) -> None:
        """Send a pull request without waiting for its end (messages go to the callback)."""
        import orjson

        self.want = 1 << 62
        await self.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{self.durable}",
                              orjson.dumps({"batch": want, "expires": int(expires_s * 1e9)}), reply=self.inbox)

    async def close(self) -> None:
        await self.sub.unsubscribe()


async def _durable(js: Any, name: str) -> None:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    await js.add_consumer(STREAM, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.ALL,
                                                 deliver_policy=DeliverPolicy.ALL, max_ack_pending=-1))


async def _nats_append_consume(payloads: list[bytes], repeats: int, consume: bool) -> dict[str, Any]:
    import nats

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    n = len(payloads)
    out: dict[str, list[float]] = {"append_publish_async": [], "append_pipelined": [], "append_msgid": [],
                                   "consume": [], "consume_fetch": [], "consume_pull": []}
    try:
        for r in range(repeats):
            for how, fn in (("append_publish_async", lambda: _publish_async(js, payloads)),
                            ("append_pipelined", lambda: _publish_pipelined(nc, payloads)),
                            ("append_msgid", lambda r=r: _publish_pipelined(nc, payloads, msg_ids=f"r{r}-"))):
                await _nats_stream(js)
                t0 = time.perf_counter()
                await fn()
                out[how].append(n / (time.perf_counter() - t0))
                info = await js.stream_info(STREAM)
                if info.state.messages != n:
                    raise AssertionError(f"{how}: {info.state.messages} of {n} stored")
                print(f"  raw nats {how} #{r}: {out[how][-1]:,.0f} ev/s", flush=True)
        if consume:
            for r in range(repeats):
                await _durable(js, f"f{r}")
                sub = await js.pull_subscribe_bind(f"f{r}", STREAM)
                got = 0
                t0 = time.perf_counter()
                while got < n:
                    msgs = await sub.fetch(BATCH, timeout=5)
                    got += len(msgs)
                    await msgs[-1].ack()
                out["consume_fetch"].append(n / (time.perf_counter() - t0))
                await sub.unsubscribe()
                await _durable(js, f"p{r}")
                pull = _RawPull(nc, f"p{r}")
                await pull.open()
                got = 0
                t0 = time.perf_counter()
                while got < n:
                    got += len(await pull.fetch(BATCH))
                out["consume_pull"].append(n / (time.perf_counter() - t0))
                await pull.close()
                print(f"  raw nats consume #{r}: fetch {out['consume_fetch'][-1]:,.0f} ev/s, hand pull "
                      f"{out['consume_pull'][-1]:,.0f} ev/s", flush=True)
            out["consume"] = [max(a, b) for a, b in zip(out["consume_fetch"], out["consume_pull"], strict=True)]
        await js.delete_stream(STREAM)
    finally:
        await nc.close()
    out["append"] = [max(a, b) for a, b in zip(out["append_publish_async"], out["append_pipelined"], strict=True)]
    return out


def nats_append_consume(payloads: list[bytes], repeats: int, consume: bool = True) -> dict[str, Any]:
    return asyncio.run(_nats_append_consume(payloads, repeats, consume))


# ------------------------------------------------------------------ Redis


def _redis() -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)


def redis_append_consume(payloads: list[bytes], repeats: int, consume: bool = True) -> dict[str, Any]:
    r = _redis()
    n = len(payloads)
    key = "sbench:raw"
    out: dict[str, list[float]] = {"append": [], "consume": []}
    try:
        for i in range(repeats):
            r.delete(key)
            t0 = time.perf_counter()
            for at in range(0, n, 1000):
                pipe = r.pipeline(transaction=False)
                for p in payloads[at:at + 1000]:
                    pipe.xadd(key, {"d": p})
                pipe.execute()
            out["append"].append(n / (time.perf_counter() - t0))
            if r.xlen(key) != n:
                raise AssertionError("raw XADD lost records")
            print(f"  raw redis append #{i}: {out['append'][-1]:,.0f} ev/s", flush=True)
        if consume:
            for i in range(repeats):
                group = f"g{i}"
                r.xgroup_create(key, group, id="0")
                got = 0
                t0 = time.perf_counter()
                while got < n:
                    res = r.xreadgroup(group, "c1", {key: ">"}, count=BATCH)
                    entries = res[0][1]
                    got += len(entries)
                    r.xack(key, group, *[e[0] for e in entries])
                out["consume"].append(n / (time.perf_counter() - t0))
                print(f"  raw redis consume #{i}: {out['consume'][-1]:,.0f} ev/s", flush=True)
    finally:
        r.delete(key)
        flush_redis()
    return out


# ------------------------------------------------------------------ end to end


def _stamp(payload: bytes) -> bytes:
    return struct.pack("<q", time.time_ns() // 1000) + payload[8:]


def _stamped(payload: bytes) -> int:
    return struct.unpack("<q", payload[:8])[0]


def _summary(lat: list[float], sent: int, elapsed: float, rate: float) -> dict[str, Any]:
    if not lat:
        return {"error": "nothing received", "sent": sent}
    a = np.asarray(lat)
    p50, p99, pmax = np.percentile(a, [50, 99, 100])
    return {"p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(pmax), "events": len(a), "sent": sent,
            "achieved_rate": sent / elapsed if elapsed else 0.0, "target_rate": rate}


def redis_e2e(payloads: list[bytes], rate: float, seconds: float, warmup: float = 2.0) -> dict[str, Any]:
    key = "sbench:e2e"
    prod_r, cons_r = _redis(), _redis()
    prod_r.delete(key)
    cons_r.xgroup_create(key, "g", id="0", mkstream=True)
    lat: list[float] = []
    stop = threading.Event()
    t_start = time.time_ns() // 1000 + int(warmup * 1e6)

    def consumer() -> None:
        while not stop.is_set():
            res = cons_r.xreadgroup("g", "c1", {key: ">"}, count=BATCH, block=50)
            if not res:
                continue
            now = time.time_ns() // 1000
            entries = res[0][1]
            for _, fields in entries:
                sent = _stamped(fields[b"d"])
                if sent >= t_start:
                    lat.append((now - sent) / 1000.0)
            cons_r.xack(key, "g", *[e[0] for e in entries])

    th = threading.Thread(target=consumer, daemon=True)
    th.start()
    sent = 0
    t0 = time.perf_counter()
    at = 0
    while (el := time.perf_counter() - t0) < seconds:
        due = int(el * rate) + 1 - sent
        if due > 0:
            pipe = prod_r.pipeline(transaction=False)
            for _ in range(due):
                pipe.xadd(key, {"d": _stamp(payloads[at % len(payloads)])})
                at += 1
            pipe.execute()
            sent += due
        sleep = sent / rate - (time.perf_counter() - t0)
        if sleep > 0:
            time.sleep(min(sleep, 0.01))
    elapsed = time.perf_counter() - t0
    time.sleep(1.0)
    stop.set()
    th.join()
    prod_r.delete(key)
    flush_redis()
    return _summary(lat, sent, elapsed, rate)


async def _nats_e2e_consumer(lat: list[float], t_start: int, done: threading.Event, ready: threading.Event,
                             batch: int) -> None:
    import nats

    def on_msg(m: Any) -> None:
        s = _stamped(m.data)
        if s >= t_start:
            lat.append((time.time_ns() // 1000 - s) / 1000.0)

    nc = await nats.connect(NATS_URL)
    pull = _RawPull(nc, "e2e", on_msg)
    await pull.open()
    ready.set()
    # a pull request (up to ``batch``, 100 ms) every 50 ms: one is always waiting on the
    # server, which delivers each message as it arrives; one ack per interval
    while not done.is_set():
        await pull.request(batch, 0.1)
        await asyncio.sleep(0.05)
        if pull.msgs:
            last, pull.msgs = pull.msgs[-1], []
            await last.ack()
    await pull.close()
    await nc.close()


async def _nats_e2e(payloads: list[bytes], rate: float, seconds: float, warmup: float) -> dict[str, Any]:
    import nats

    nc_p = await nats.connect(NATS_URL)
    js_p = nc_p.jetstream()
    await _nats_stream(js_p)
    await _durable(js_p, "e2e")
    lat: list[float] = []
    done, ready = threading.Event(), threading.Event()
    t_start = time.time_ns() // 1000 + int(warmup * 1e6)
    th = threading.Thread(target=lambda: asyncio.run(_nats_e2e_consumer(lat, t_start, done, ready, 1000)),
                          daemon=True)
    th.start()
    ready.wait(10)
    sent = 0
    at = 0
    t0 = time.perf_counter()
    while (el := time.perf_counter() - t0) < seconds:
        due = int(el * rate) + 1 - sent
        for _ in range(max(due, 0)):
            await js_p.publish_async(SUBJECT, _stamp(payloads[at % len(payloads)]))
            at += 1
        sent += max(due, 0)
        sleep = sent / rate - (time.perf_counter() - t0)
        await asyncio.sleep(min(max(sleep, 0), 0.01))
    elapsed = time.perf_counter() - t0
    await js_p.publish_async_completed()
    await asyncio.sleep(1.0)
    done.set()
    th.join(10)
    await js_p.delete_stream(STREAM)
    await nc_p.close()
    return _summary(lat, sent, elapsed, rate)


def nats_e2e(payloads: list[bytes], rate: float, seconds: float, warmup: float = 2.0) -> dict[str, Any]:
    return asyncio.run(_nats_e2e(payloads, rate, seconds, warmup))
