"""The whole machine, for ``bench/server.py --cores``: servers and the load generator share
both cores unpinned, as on a small production host, and the load generator is wrk (C), so
the client is not the limit (the aiohttp generator of the main tables tops out near 10k
req/s). Systems: lakebed with 1 and 2 processes (``--workers``), Feast with 1 and 2 worker
processes (``-w``), Chroma's server (multi-threaded), and a bare uvicorn ASGI app that
returns a fixed response without reading anything (``_server_fastpath.py``, 1 and 2
processes): the ceiling of any Python server answering over uvicorn on this machine.

Each run: wrk warm-up (discarded), then a measured run bounded by time (``-d``) and by
count (the Lua script stops wrk after ``max_requests`` requests; counting in ``response``
would make wrk parse every answer in Lua and halve its speed); latency percentiles come from
wrk's own histogram. TCP segments retransmitted on loopback during the run are reported:
they are the kernel's, not a server's, and put seconds-long outliers in a p99.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _server_procs as procs
import httpx

HERE = Path(__file__).resolve().parent
ALL = "0-1"
# per measured run; wrk then reports the whole -d as the duration, so a run that reaches the
# cap is refused rather than reported with a wrong rate
MAX_REQUESTS = 1_500_000

_LUA = """
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i, n, max = 0, 0, %(max)d
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(headers)s
request = function()
  n = n + 1
  if n > max then wrk.thread:stop() end
  i = i %% #bodies + 1
  return wrk.format(nil, "%(path)s", nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "p999_us": %%d, ' ..
    '"mean_us": %%f, "max_us": %%d, "socket_errors": %%d, "status_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _retrans() -> int:
    lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines() if ln.startswith("Tcp:")]
    return int(lines[1][lines[0].index("RetransSegs")])


def wrk_load(server: procs.Server, url: str, bodies: Path, concurrency: int, duration: float, max_requests: int,
             warmup: float, workdir: Path, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One closed-loop wrk run (one thread, ``concurrency`` connections) against ``url``."""
    from urllib.parse import urlparse

    u = urlparse(url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load {u.hostname!r}: loopback only")
    extra = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
    script = workdir / f"wrk-{server.name}.lua"
    script.write_text(_LUA % {"bodies": bodies, "max": max_requests, "path": u.path, "headers": extra})
    base = f"{u.scheme}://{u.netloc}"
    if warmup > 0:
        subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(warmup))}s", "-s", str(script), base],
                       capture_output=True, timeout=warmup + 60)
    r0, c0, t0 = _retrans(), server.cpu_seconds(), time.perf_counter()
    done = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
                           "-s", str(script), base], capture_output=True, text=True, timeout=duration + 60)
    wall = time.perf_counter() - t0
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith('{"requests"')), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    w = json.loads(line)
    if w["requests"] >= max_requests:
        raise RuntimeError(f"{server.name}: the run reached the request cap ({max_requests}); shorten --cores-duration")
    secs = w["duration_us"] / 1e6
    return {
        "throughput": w["requests"] / secs, "count": w["requests"],
        "p50_ms": w["p50_us"] / 1e3, "p90_ms": w["p90_us"] / 1e3, "p99_ms": w["p99_us"] / 1e3,
        "p999_ms": w["p999_us"] / 1e3, "mean_ms": w["mean_us"] / 1e3, "max_ms": w["max_us"] / 1e3,
        "errors": w["socket_errors"] + w["status_errors"], "first_error": None,
        "server_cpu": (server.cpu_seconds() - c0) / wall, "retrans": _retrans() - r0,
    }


def _empty(lake: Path, port: int, processes: int, logdir: Path) -> procs.Server:
    base = f"http://127.0.0.1:{port}"
    s = procs.Server(f"asgi-empty-p{processes}", [sys.executable, str(HERE / "_server_fastpath.py"), str(lake),
                                                  str(port), str(processes)], base, "/health",
                     logdir / f"asgi-empty-p{processes}.log")
    s.urls = {"features": base + "/v1/features/online"}
    return s


def _wait_workers(base: str, count: int, timeout: float = 30.0) -> None:
    """Until every lakebed process answers /health (read workers start after the writer)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < count and time.monotonic() < deadline:
        try:
            with httpx.Client(headers={"connection": "close"}, timeout=5) as c:
                seen.add(int(c.get(base + "/health").json().get("worker", 0)))
        except httpx.HTTPError:
            time.sleep(0.1)
    if len(seen) < count:
        raise RuntimeError(f"only lakebed processes {sorted(seen)} of {count} answered")


WHAT = {
    "lakebed-w1": "`lakebed serve` (1 process)",
    "lakebed-w2": "`lakebed serve --workers 2` (writer + 1 read worker)",
    "feast-w1": "`feast serve -w 1`",
    "feast-w2": "`feast serve -w 2`",
    "chroma": "`chroma run` (Rust, multi-threaded)",
    "asgi-empty-p1": "bare uvicorn ASGI app, fixed answer, no store read, 1 process (ceiling)",
    "asgi-empty-p2": "bare uvicorn ASGI app, fixed answer, no store read, 2 processes (ceiling)",
}


def run(work: Path, runs: int, conc: list[int], duration: float, max_requests: int, warmup: float,
        threads: int, log: Any = print) -> dict[str, list[dict[str, Any]]]:
    """Returns {"system|case|c": [run results]}; rounds interleave the systems."""
    logs = work / "logs"
    bodies = work / "bodies"
    makers = {
        "lakebed-w1": lambda: procs.lakebed_server(work / "lake", 18790, threads, logs, workers=1),
        "lakebed-w2": lambda: procs.lakebed_server(work / "lake", 18791, threads, logs, workers=2),
        "feast-w1": lambda: procs.feast_server(work / "feast", 18792, logs, workers=1),
        "feast-w2": lambda: procs.feast_server(work / "feast", 18793, logs, workers=2),
        "asgi-empty-p1": lambda: _empty(work / "lake", 18794, 1, logs),
        "asgi-empty-p2": lambda: _empty(work / "lake", 18795, 2, logs),
        "chroma": lambda: procs.chroma_server(work / "chroma", 18796, logs),
    }
    cases = {"lakebed-w1": ["features", "search"], "lakebed-w2": ["features", "search"], "feast-w1": ["features"],
             "feast-w2": ["features"], "asgi-empty-p1": ["features"], "asgi-empty-p2": ["features"],
             "chroma": ["search"]}
    out: dict[str, list[dict[str, Any]]] = {}
    for rnd in range(runs):
        for name, make in makers.items():
            server = make()
            log(f"cores round {rnd + 1}/{runs}: {name}")
            server.start(ALL)
            try:
                if name.startswith("lakebed-w"):
                    _wait_workers(server.base, int(name[-1]))
                if name == "chroma":
                    procs.chroma_urls(server)
                for case in cases[name]:
                    # the bare app answers lakebed's route, so it gets lakebed's bodies
                    system = "lakebed" if name.startswith("asgi") else name.split("-")[0]
                    body_file = bodies / f"{system}-{case}.jsonl"
                    for c in conc:
                        r = wrk_load(server, server.urls[case], body_file, c, duration, max_requests, warmup, work)
                        out.setdefault(f"{name}|{case}|{c}", []).append(r)
                        log(f"  {name:14s} {case:8s} c={c:<4d} {r['throughput']:8.0f} req/s  p50 {r['p50_ms']:7.2f}"
                            f" ms  p99 {r['p99_ms']:8.2f} ms  errors {r['errors']}  retrans {r['retrans']}"
                            f"  server cpu {r['server_cpu'] * 100:.0f}%")
            finally:
                server.stop()
    return out
