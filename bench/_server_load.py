"""Closed-loop HTTP load generator for ``bench/server.py`` (run in its own process).

``concurrency`` workers share one aiohttp session (keep-alive, one connection each) on
uvloop; each sends the next pre-encoded JSON body, waits for the whole response, and
sends again. A warm-up phase (not recorded) opens the connections and warms the server;
then the measured phase runs until ``duration`` seconds or ``max_requests`` requests,
whichever comes first. Loopback only. Prints one JSON object: count, errors, elapsed,
throughput, latency percentiles (ms) and the client's own CPU use (to show whether the
client, not the server, was the limit).

    python bench/_server_load.py --url http://127.0.0.1:8765/v1/features/online \
        --bodies bodies.jsonl --concurrency 10 --duration 10 --max-requests 50000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any
from urllib.parse import urlparse

import numpy as np

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


async def _phase(session: Any, url: str, bodies: list[bytes], concurrency: int, seconds: float,
                 max_requests: int, record: bool) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    lat: list[int] = []
    state = {"sent": 0, "errors": 0, "next": 0}
    first_error: list[str] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline and state["sent"] < max_requests:
            state["sent"] += 1
            body = bodies[state["next"] % len(bodies)]
            state["next"] += 1
            t0 = time.perf_counter_ns()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    data = await resp.read()
                    status = resp.status
            except Exception as exc:  # counted, never fatal: a benchmark reports errors
                status, data = -1, repr(exc).encode()
            t1 = time.perf_counter_ns()
            if status != 200:
                state["errors"] += 1
                if not first_error:
                    first_error.append(f"{status}: {data[:300]!r}")
            elif record:
                lat.append(t1 - t0)

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    arr = np.asarray(lat, dtype=np.float64) / 1e6
    out: dict[str, Any] = {
        "count": int(arr.size), "errors": state["errors"], "elapsed_s": elapsed,
        "throughput": arr.size / elapsed if elapsed > 0 else 0.0,
        "client_cpu": cpu / elapsed if elapsed > 0 else 0.0,
        "first_error": first_error[0] if first_error else None,
    }
    if arr.size:
        p = np.percentile(arr, [50, 90, 99, 99.9])
        out.update(p50_ms=p[0], p90_ms=p[1], p99_ms=p[2], p999_ms=p[3], mean_ms=float(arr.mean()),
                   max_ms=float(arr.max()))
    return out


async def run(url: str, bodies: list[bytes], concurrency: int, duration: float, max_requests: int,
              warmup: float) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await _phase(session, url, bodies, concurrency, warmup, 10**9, record=False)
        return await _phase(session, url, bodies, concurrency, duration, max_requests, record=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--bodies", required=True, help="file with one JSON request body per line")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds (upper bound)")
    ap.add_argument("--max-requests", type=int, default=50_000, help="measured requests (upper bound)")
    ap.add_argument("--warmup", type=float, default=2.0)
    a = ap.parse_args()
    host = urlparse(a.url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to load {host!r}: the load generator runs on loopback only")
    if not (0 < a.duration <= 60 and 0 < a.max_requests <= 1_000_000 and 1 <= a.concurrency <= 1000):
        raise SystemExit("duration must be in (0, 60] s, max-requests in (0, 1e6], concurrency in [1, 1000]")
    with open(a.bodies, "rb") as fh:
        bodies = [line.rstrip(b"\n") for line in fh if line.strip()]
    coro = run(a.url, bodies, a.concurrency, a.duration, a.max_requests, a.warmup)
    try:
        import uvloop
    except ImportError:
        loop_name, out = "asyncio", asyncio.run(coro)
    else:
        loop_name, out = "uvloop", uvloop.run(coro)
    out.update(concurrency=a.concurrency, loop=loop_name)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
