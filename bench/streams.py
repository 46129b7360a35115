"""Streams benchmark: lakebed streams and stream feature views against the raw broker
clients (nats-py on JetStream, redis-py on Redis Streams) and Feast's push API.

One run, the same events for every system: 200-byte click events (``user_id``,
``item_id``, ``price``, ``ts``, ``page`` padded so the JSON record is 200 bytes), made with
numpy from a fixed seed (``bench/_streams_data.py``). Cases (median of ``--repeats``):

1. append throughput, batches of 10k: lakebed embedded log (``fsync="always"``, the lake's
   default, and ``"never"``), lakebed on JetStream vs raw nats-py (``js.publish_async`` and a
   hand-pipelined publish with a reply inbox; the faster is the baseline), lakebed on Redis
   Streams vs raw pipelined ``XADD`` (``bench/_streams_raw.py``);
2. consume throughput: ``Stream.consume(group, max_records=10_000)`` vs a durable pull
   consumer read 10,000 at a time with one ack per batch (nats-py ``fetch`` and a
   hand-rolled pull; the faster is the baseline) and ``XREADGROUP`` + ``XACK``;
3. stream processor: a ``StreamFeatureView`` with three windows (count 5m, sum 1h, max 30m)
   over 100k users; ``stream_processor(...).step(offline=False)`` timed until the online
   sink has read every event (embedded -> SQLite, embedded -> Redis, JetStream -> SQLite,
   Redis Streams -> SQLite), then the offline (Delta) landing of the same events timed
   separately;
4. freshness: a producer thread appends at a steady 1k and 10k events/s with ``ts = now``
   while ``StreamProcessor.run(stop=...)`` (the loop of ``run_stream``) runs in another
   thread; event-time-to-online-visible per event as the processor records it (``views[0]``
   latencies, collected from ``on_status``), first 2 s dropped; the raw brokers' own publish
   -> consumer-receive latency for comparison;
5. Feast 0.67 push API (``PushSource``, SQLite online store): throughput and freshness
   (``bench/_streams_feast.py``);
6. (part ``density``; in the default run, or alone with ``--parts density``) processor
   throughput, embedded -> SQLite, against the
   number of events per user in the largest window: ``--density-events`` events over 1 h of
   event time spread over fewer and fewer users, in steps of 1,000 records (as a live
   processor takes them; one run each);
7. (part ``split``) freshness at the top rate with the producer in a process of its own
   (brokers only: the embedded log has one writer process).

Setup and usage (Feast is not in lakebed's dev venv; this venv has lakebed, Feast and the
broker clients; the brokers must run on 127.0.0.1:4222 with JetStream and 127.0.0.1:6379;
Redis dbs 11 and 12 are flushed)::

    python3 -m venv /work/venv-sbench
    /work/venv-sbench/bin/pip install -e /work/main -r bench/requirements-streams.txt
    flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py --quick
    flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py
    flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py --parts density  # section 6 alone
    flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py --parts split    # 7 alone

Results go to ``<data-dir>/results.json`` as they are measured (a run killed halfway keeps
what it had) and ``bench/results/streams.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _streams_data as data  # noqa: E402
from _streams_report import write_report  # noqa: E402

PARTS = ["append", "processor", "freshness", "feast", "density", "split"]


def machine_info() -> dict[str, Any]:
    import importlib.metadata as md

    import psutil

    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for pkg in ("lakebed", "feast", "nats-py", "redis", "hiredis", "orjson", "pyarrow", "numpy", "pandas"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = "missing"
    info["servers"] = _servers()
    info["lakebed_commit"] = _git_head()
    return info


def _git_head() -> str:
    """The lakebed commit under test, and whether src/ differs from it (read-only git)."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(HERE.parent), "log", "-1", "--format=%h %ad", "--date=iso"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return head + (" + uncommitted changes in src/" if dirty else "")


def _servers() -> dict[str, str]:
    out = {}
    try:
        import redis

        i = redis.Redis(host="127.0.0.1", port=6379).info("server")
        cfg = redis.Redis(host="127.0.0.1", port=6379).config_get("append*")
        out["redis"] = f"redis-server {i['redis_version']} (appendonly={cfg.get('appendonly')})"
    except Exception as exc:
        out["redis"] = f"unavailable ({exc})"
    try:
        import asyncio

        import nats

        async def ver() -> str:
            nc = await nats.connect("nats://127.0.0.1:4222")
            v = nc._server_info.get("version", "?")
            await nc.close()
            return str(v)

        out["nats"] = f"nats-server {asyncio.run(ver())} (JetStream, file storage)"
    except Exception as exc:
        out["nats"] = f"unavailable ({exc})"
    return out


class Results:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def put(self, key: str, value: Any) -> None:
        value = {**value, "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")} \
            if isinstance(value, dict) else value
        self.data[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)


def guarded(res: Results, key: str, fn: Any) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {key}", flush=True)
    try:
        res.put(key, fn())
    except Exception as exc:
        traceback.print_exc()
        res.put(key, {"error": f"{type(exc).__name__}: {exc}"[:500]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke sizes (20k events, 5 s freshness runs)")
    ap.add_argument("--events", type=int, default=1_000_000, help="events per append/consume case")
    ap.add_argument("--processor-events", type=int, default=1_000_000, help="events per processor case")
    ap.add_argument("--feast-events", type=int, default=1_000_000, help="events per Feast push run")
    ap.add_argument("--fresh-seconds", type=float, default=20.0, help="seconds per freshness case")
    ap.add_argument("--rates", default="1000,10000", help="freshness rates, events/s")
    ap.add_argument("--density-events", type=int, default=200_000,
                    help="events per run of the window-density sweep (part 'density')")
    ap.add_argument("--density-users", default="100000,20000,4000,1000",
                    help="user counts of the density sweep (events per user in the 1 h window = events / users)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma list of: {', '.join(PARTS)}")
    ap.add_argument("--data-dir", default="/tmp/sbench")
    ap.add_argument("--report", default=str(HERE / "results" / "streams.md"))
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.events = args.processor_events = args.feast_events = 20_000
        args.fresh_seconds = 5.0
    root = Path(args.data_dir) / ("quick" if args.quick else "full")
    root.mkdir(parents=True, exist_ok=True)
    res = Results(root / "results.json")
    if args.report_only:
        write_report(res.data, Path(args.report))
        return
    parts = args.parts.split(",")
    rates = [float(r) for r in args.rates.split(",")]
    # a run of some parts only adds its results next to the earlier ones (its own "run" entry)
    run_key = "run" if set(parts) >= set(PARTS[:4]) else "run." + "+".join(parts)
    res.put(run_key, {"started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "argv": sys.argv[1:],
                    "events": args.events, "processor_events": args.processor_events,
                    "feast_events": args.feast_events, "fresh_seconds": args.fresh_seconds,
                    "repeats": args.repeats, "machine": machine_info()})

    import _streams_lakebed as lb
    import _streams_raw as raw

    n_max = max(args.events, args.processor_events, args.feast_events)
    t0 = time.perf_counter()
    table = data.events(n_max)
    print(f"generated {n_max:,} events in {time.perf_counter() - t0:.1f} s", flush=True)
    ev = table.slice(0, args.events)
    reps = args.repeats
    lb.flush_redis(lb.REDIS_DB)
    raw.flush_redis()

    if "append" in parts:
        payloads = data.json_payloads(ev)
        guarded(res, "append.embedded.always", lambda: lb.append_consume(root / "lake", "embedded", ev, reps))
        guarded(res, "append.embedded.never",
                lambda: lb.append_consume(root / "lake", "embedded", ev, reps, fsync="never", consume=False))
        guarded(res, "append.nats.lakebed", lambda: lb.append_consume(root / "lake", "nats", ev, reps))
        guarded(res, "append.nats.raw", lambda: raw.nats_append_consume(payloads, reps))
        guarded(res, "append.redis.lakebed", lambda: lb.append_consume(root / "lake", "redis", ev, reps))
        guarded(res, "append.redis.raw", lambda: raw.redis_append_consume(payloads, reps))
        del payloads

    if "processor" in parts:
        pe = table.slice(0, args.processor_events)
        guarded(res, "processor.embedded.sqlite", lambda: lb.processor(root / "lake", "embedded", pe, reps))
        guarded(res, "processor.embedded.redis",
                lambda: lb.processor(root / "lake", "embedded", pe, reps, online=lb.REDIS_URL))
        guarded(res, "processor.nats.sqlite", lambda: lb.processor(root / "lake", "nats", pe, reps))
        guarded(res, "processor.redis.sqlite", lambda: lb.processor(root / "lake", "redis", pe, reps))

    if "freshness" in parts:
        tmpl = table.slice(0, min(200_000, n_max))
        payloads = data.json_payloads(tmpl.slice(0, 50_000))
        secs = args.fresh_seconds
        for rate in rates:
            r = int(rate)
            for backend in ("embedded", "redis", "nats"):
                guarded(res, f"freshness.{backend}.{r}",
                        lambda backend=backend, rate=rate: lb.freshness(root / "lake", backend, tmpl, rate, secs))
            guarded(res, f"freshness.raw_redis.{r}", lambda rate=rate: raw.redis_e2e(payloads, rate, secs))
            guarded(res, f"freshness.raw_nats.{r}", lambda rate=rate: raw.nats_e2e(payloads, rate, secs))
        top = int(max(rates))
        for backend in ("embedded", "redis", "nats"):
            guarded(res, f"freshness.{backend}.{top}.online_only",
                    lambda backend=backend: lb.freshness(root / "lake", backend, tmpl, max(rates), secs,
                                                         offline_interval=3600.0))

    if "split" in parts:
        tmpl = table.slice(0, min(200_000, n_max))
        top = int(max(rates))
        for backend in ("redis", "nats"):
            guarded(res, f"freshness.{backend}.{top}.producer_process",
                    lambda backend=backend: lb.freshness(root / "lake", backend, tmpl, max(rates),
                                                         args.fresh_seconds, producer_process=True))

    if "density" in parts:
        dn = args.density_events
        for users in [int(u) for u in args.density_users.split(",")]:
            dt = data.events(dn, users=users)
            guarded(res, f"density.{users}", lambda dt=dt, users=users: {
                "users": users, "events": dn, "max_records": 1000,
                **lb.processor(root / "lake", "embedded", dt, 1, max_records=1000)})

    if "feast" in parts:
        try:
            import _streams_feast as fe
            import feast  # noqa: F401
        except ImportError as exc:
            res.put("feast.push", {"error": f"Feast is not installed in this venv ({exc})"})
        else:
            fe_ev = table.slice(0, args.feast_events)
            guarded(res, "feast.push", lambda: fe.throughput(root / "feast", fe_ev, reps))
            tmpl = table.slice(0, min(200_000, n_max))
            for rate in rates:
                guarded(res, f"feast.freshness.{int(rate)}",
                        lambda rate=rate: fe.freshness(root / "feast", tmpl, rate, args.fresh_seconds))

    lb.flush_redis(lb.REDIS_DB)
    raw.flush_redis()
    res.put(run_key + "_end", {"finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")})
    write_report(res.data, Path(args.report))
    print(f"wrote {args.report}", flush=True)


if __name__ == "__main__":
    main()
