"""What-if runs for ``bench/server.py --what-if``: lakebed's server next to two bare ASGI
servers on the same lake and core (``_server_fastpath.py``), online reads only, to show how
much of the per-request cost is the web stack and what a fast path would reach."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import _server_procs as procs

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent


def _bare(lake: Path, port: int, mode: str, logdir: Path) -> procs.Server:
    base = f"http://127.0.0.1:{port}"
    s = procs.Server(f"asgi-{mode}", [sys.executable, str(HERE / "_server_fastpath.py"), str(lake), str(port), mode],
                     base, "/health", logdir / f"asgi-{mode}.log")
    s.urls = {"features": base + "/v1/features/online"}
    return s


def run(work: Path, runs: int, conc: list[int], duration: float, max_requests: int, warmup: float,
        server_cpus: str, client_cpus: str, lakebed_workers: list[int], log: Any = print) -> dict[str, list[Any]]:
    """Online reads (1 x 50) through each server; returns {"system|c": [run results]}."""
    logs = work / "logs"
    bodies = work / "bodies" / "lakebed-features.jsonl"
    makers = {f"lakebed-w{w}": (lambda w=w: procs.lakebed_server(work / "lake", 18780, w, logs))
              for w in lakebed_workers}
    makers["asgi-fastpath"] = lambda: _bare(work / "lake", 18781, "fastpath", logs)
    makers["asgi-empty"] = lambda: _bare(work / "lake", 18782, "empty", logs)
    out: dict[str, list[Any]] = {}
    for rnd in range(runs):
        for name, make in makers.items():
            server = make()
            server.start(server_cpus)
            try:
                for c in conc:
                    r = procs.load(server, server.urls["features"], bodies, c, duration, max_requests, warmup,
                                   client_cpus)
                    out.setdefault(f"{name}|{c}", []).append(r)
                    log(f"  what-if round {rnd + 1} {name:14s} c={c:<4d} {r['throughput']:8.0f} req/s  p50 "
                        f"{r.get('p50_ms', 0):6.2f} ms  p99 {r.get('p99_ms', 0):6.2f} ms  errors {r['errors']}  "
                        f"server cpu {r['server_cpu'] * 100:.0f}%  client cpu {r['client_cpu'] * 100:.0f}%")
            finally:
                server.stop()
    return out
