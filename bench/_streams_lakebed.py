"""lakebed runners for ``bench/streams.py``: append, consume, processor, freshness.

Backends: the embedded log (a fresh lake directory), JetStream (``nats://127.0.0.1:4222``)
and Redis Streams (``redis://127.0.0.1:6379/<db>``); every stream has one partition, keyed
by ``user_id``, event time ``ts``. Broker streams are dropped after each case and the
Redis database is flushed.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from _streams_data import STREAM_SCHEMA, with_now

NATS_URL = "nats://127.0.0.1:4222"
REDIS_DB = 11
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
URLS = {"embedded": None, "nats": NATS_URL, "redis": REDIS_URL}
BATCH = 10_000


def flush_redis(db: int) -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()


def connect(root: Path, backend: str, *, fsync: str = "always", online: str | None = None) -> Any:
    import lakebed

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return lakebed.connect(root, streams=URLS[backend], fsync=fsync, online=online)


def close(lake: Any, backend: str) -> None:
    """Close the lake and remove what it left on the broker: the Redis database is flushed;
    on JetStream the lake's namespace (its KV buckets outlive a dropped stream) is purged."""
    ns = lake.namespace if backend == "nats" else None
    lake.close()
    if backend == "redis":
        flush_redis(REDIS_DB)
    if ns is not None:
        from lakebed.streams._nats import purge_namespace

        purge_namespace(NATS_URL, ns)


def _create(lake: Any, name: str) -> Any:
    if lake.streams.exists(name):
        lake.streams.drop(name)
    return lake.streams.create(name, schema=STREAM_SCHEMA, key="user_id", event_time="ts", partitions=1)


def _append_all(stream: Any, table: pa.Table, batch: int = BATCH) -> None:
    for at in range(0, table.num_rows, batch):
        stream.append(table.slice(at, batch))


# ------------------------------------------------------------------ append + consume


def append_consume(root: Path, backend: str, table: pa.Table, repeats: int, *, fsync: str = "always",
                   consume: bool = True) -> dict[str, Any]:
    """Append ``table`` in batches of 10k (a fresh stream per repeat), then consume the
    last one with a new group per repeat (batches of 10k, commit per batch)."""
    lake = connect(root, backend, fsync=fsync)
    n = table.num_rows
    app: list[float] = []
    con: list[float] = []
    try:
        for r in range(repeats):
            stream = _create(lake, "clicks")
            t0 = time.perf_counter()
            _append_all(stream, table)
            app.append(n / (time.perf_counter() - t0))
            print(f"  lakebed {backend} fsync={fsync} append #{r}: {app[-1]:,.0f} ev/s", flush=True)
        if consume:
            for r in range(repeats):
                got = 0
                t0 = time.perf_counter()
                for b in stream.consume(f"g{r}", max_records=BATCH, timeout=0):
                    got += b.num_rows
                dt = time.perf_counter() - t0
                if got != n:
                    raise AssertionError(f"consumed {got} of {n}")
                con.append(n / dt)
                print(f"  lakebed {backend} consume #{r}: {con[-1]:,.0f} ev/s", flush=True)
        lake.streams.drop("clicks")
    finally:
        close(lake, backend)
    return {"append": app, "consume": con}


# ------------------------------------------------------------------ processor


def _view(name: str) -> Any:
    from lakebed.features import Aggregation, Entity, StreamFeatureView

    return StreamFeatureView(
        name, entities=[Entity("user", join_keys=["user_id"])], source="stream:clicks", timestamp_field="ts",
        aggregations=[Aggregation("item_id", "count", window=timedelta(minutes=5)),
                      Aggregation("price", "sum", window=timedelta(hours=1)),
                      Aggregation("price", "max", window=timedelta(minutes=30))],
        watermark=timedelta(seconds=30))


def processor(root: Path, backend: str, table: pa.Table, repeats: int, *, online: str | None = None,
              max_records: int = 50_000) -> dict[str, Any]:
    """Append ``table`` once (not timed); per repeat a new view over the stream: time
    ``step(offline=False)`` until the online sink has read everything, then the offline
    (Delta) landing of the same events; check one user's values."""
    lake = connect(root, backend, online=online)
    n = table.num_rows
    on: list[float] = []
    off: list[float] = []
    cpu: list[float] = []
    try:
        stream = _create(lake, "clicks")
        _append_all(stream, table)
        for r in range(repeats):
            name = f"clicks_r{r}"
            lake.features.apply([_view(name)])
            proc = lake.features.stream_processor(name, max_records=max_records)
            try:
                got = 0
                c0 = time.process_time()
                t0 = time.perf_counter()
                while got < n:
                    k = proc.step(offline=False)
                    if k == 0:
                        raise AssertionError(f"processor stalled at {got} of {n}")
                    got += k
                dt = time.perf_counter() - t0
                cpu.append(time.process_time() - c0)
                on.append(n / dt)
                t0 = time.perf_counter()
                landed = 0
                while (k := proc.views[0].offline_step()):
                    landed += k
                off.append(landed / (time.perf_counter() - t0))
            finally:
                proc.close()
            print(f"  lakebed processor {backend}->{'redis' if online else 'sqlite'} #{r}: online {on[-1]:,.0f} ev/s "
                  f"(cpu {cpu[-1]:.1f} s / {dt:.1f} s), offline {off[-1]:,.0f} ev/s", flush=True)
        check = _check_values(lake, table, name)
        lake.streams.drop("clicks")
    finally:
        close(lake, backend)
        if online:
            flush_redis(REDIS_DB)
    return {"online": on, "offline": off, "cpu_s": cpu, "check": check}


def _check_values(lake: Any, table: pa.Table, view: str, users: int = 20) -> str:
    """Compare the three windows of the users of the newest events with numpy over the
    raw events."""
    from datetime import UTC, datetime

    user = table.column("user_id").to_numpy()
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    price = table.column("price").to_numpy()
    now_us = int(ts.max()) + 1
    uids = list(dict.fromkeys(user[np.argsort(ts)[::-1][:users]].tolist()))
    now = datetime.fromtimestamp(now_us / 1e6, tz=UTC)
    names = ["item_id_count_5m", "price_sum_1h", "price_max_30m"]
    got = lake.features.online([{"user_id": u} for u in uids], [f"{view}:{k}" for k in names], now=now)
    bad = []
    for i, uid in enumerate(uids):
        m = user == uid
        t, pr = ts[m], price[m]
        want = [int((t > now_us - 300_000_000).sum()), float(pr[t > now_us - 3_600_000_000].sum()),
                float(pr[t > now_us - 1_800_000_000].max()) if (t > now_us - 1_800_000_000).any() else None]
        for k, w in zip(names, want, strict=True):
            g = got[k][i]
            if w is None and g in (None, 0):
                continue
            if g is None or abs(float(g) - float(w)) > 1e-6 * max(1.0, abs(float(w))):
                bad.append(f"user {uid} {k}: got {g}, want {w}")
    if bad:
        return "MISMATCH " + "; ".join(bad[:5])
    return f"ok ({len(uids)} users x 3 features equal)"


# ------------------------------------------------------------------ freshness


class Producer(threading.Thread):
    """Appends small batches at a steady rate with ``ts = now``."""

    def __init__(self, append: Any, template: pa.Table, rate: float, seconds: float, tick: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.append, self.template, self.rate, self.seconds, self.tick = append, template, rate, seconds, tick
        self.sent = 0
        self.elapsed = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            t0 = time.perf_counter()
            at = 0
            n = self.template.num_rows
            next_at = t0
            while True:
                el = time.perf_counter() - t0
                if el >= self.seconds:
                    break
                due = int(el * self.rate) + 1 - self.sent  # what the rate owes since the start
                if due > 0:
                    if at + due > n:
                        at = 0
                    self.append(with_now(self.template.slice(at, due), time.time_ns() // 1000))
                    at += due
                    self.sent += due
                # one batch per tick (a producer that lingers ~10 ms, as Kafka's linger.ms
                # does), not one call per event; late ticks are made up by larger batches
                next_at = max(next_at + self.tick, time.perf_counter() - self.tick)
                sleep = next_at - time.perf_counter()
                if sleep > 0:
                    time.sleep(sleep)
            self.elapsed = time.perf_counter() - t0
        except BaseException as exc:
            self.error = exc


def _produce_main() -> None:
    """The producer of ``freshness(..., producer_process=True)``, in a process of its own:
    argv = lake dir, streams URL (with the processor lake's namespace), rate, seconds."""
    import json
    import sys

    import lakebed

    root, url, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    import _streams_data as data

    with lakebed.connect(root, streams=url) as lake:
        prod = Producer(lake.streams.get("clicks").append, data.events(200_000), rate, seconds)
        prod.run()
    if prod.error is not None:
        raise prod.error
    print(json.dumps({"sent": prod.sent, "elapsed": prod.elapsed}), flush=True)


def freshness(root: Path, backend: str, template: pa.Table, rate: float, seconds: float,
              warmup: float = 2.0, offline_interval: float = 1.0, producer_process: bool = False) -> dict[str, Any]:
    """Producer thread at ``rate`` for ``seconds``; the processor runs
    (``StreamProcessor.run(stop=...)``, the path of ``run_stream``) in another thread and
    records event-time-to-online-visible per event; percentiles after ``warmup`` s.
    ``offline_interval`` is the processor's (1 s by default: a Delta commit a second in the
    same loop); 3600 shows the online path alone. ``producer_process`` (brokers only): the
    producer is another process, with a lake of its own on the same broker namespace, as an
    application appending events would be."""
    lake = connect(root, backend)
    try:
        stream = _create(lake, "clicks")
        lake.features.apply([_view("fresh")])
        proc = lake.features.stream_processor("fresh", offline_interval=offline_interval)
        v = proc.views[0]
        lats: list[np.ndarray] = []
        seen = [0]
        start = time.monotonic()

        def collect(_status: Any) -> None:
            n = v.lat_n
            new = n - seen[0]
            if new <= 0:
                return
            new = min(new, len(v.latency))
            idx = (np.arange(n - new, n) % len(v.latency))
            if time.monotonic() - start >= warmup:
                lats.append(v.latency[idx].copy())
            seen[0] = n

        stop = threading.Event()
        runner = threading.Thread(target=lambda: proc.run(stop=stop, on_status=collect, status_every=0.2),
                                  daemon=True)
        prod = Producer(stream.append, template, rate, seconds)
        runner.start()
        if producer_process:
            import json
            import subprocess
            import sys

            url = f"{URLS[backend]}?namespace={lake.namespace}"
            code = "import sys; sys.path.insert(0, sys.argv.pop(1)); import _streams_lakebed as m; m._produce_main()"
            out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(root) + "-producer",
                                  url, str(rate), str(seconds)], capture_output=True, text=True, timeout=seconds + 120)
            if out.returncode != 0:
                raise RuntimeError(f"the producer process failed: {out.stderr[-2000:]}")
            got = json.loads(out.stdout.strip().splitlines()[-1])
            prod.sent, prod.elapsed = got["sent"], got["elapsed"]
        else:
            prod.start()
            prod.join()
        time.sleep(1.0)
        stop.set()
        runner.join(timeout=60)
        collect(None)
        proc.close()
        if prod.error is not None:
            raise prod.error
        lake.streams.drop("clicks")
    finally:
        close(lake, backend)
    lat = np.concatenate(lats) if lats else np.zeros(0)
    return _lat_summary(lat, prod.sent, prod.elapsed, rate)


def _lat_summary(lat: np.ndarray, sent: int, elapsed: float, rate: float) -> dict[str, Any]:
    if not len(lat):
        return {"error": "no latencies recorded", "sent": sent}
    p50, p99, pmax = np.percentile(lat, [50, 99, 100])
    return {"p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(pmax), "events": len(lat),
            "sent": sent, "achieved_rate": sent / elapsed if elapsed else 0.0, "target_rate": rate}
