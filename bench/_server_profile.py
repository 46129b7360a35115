"""py-spy profile of lakebed's server under load, summarised as markdown.

``py-spy record --gil --nonblocking -f raw`` samples only the thread holding the GIL
(on one pinned core that is where the server's CPU goes), without pausing the server.
The collapsed stacks are summarised as self time per function and inclusive time per
function (line numbers dropped), plus a few buckets (HTTP stack, validation, store, ...).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
_LINE = re.compile(r":\d+\)$")

# Area -> substrings of a frame "function (file)". Inclusive: a stack counts in every area
# one of its frames matches; exclusive: in the area of its leaf-most matching frame.
BUCKETS = {
    "uvicorn/httptools protocol (parse, write)": ["uvicorn/protocols/http"],
    "starlette/fastapi routing + request handling": ["fastapi/routing.py", "starlette/routing.py"],
    "pydantic body validation": ["pydantic", "fastapi/_compat", "fastapi/dependencies/utils.py"],
    "ASGI middleware stack (starlette/fastapi/_Gate)": ["starlette/middleware", "fastapi/middleware",
                                                        "fastapi/telemetry", "fastapi/_body_limit", "_Gate."],
    "JSON decode of the body": ["json/decoder.py"],
    "auth dependency (sync: run in the thread pool)": ["dependency (lakebed/server/_app.py)"],
    "metrics (prometheus_client)": ["prometheus_client", "lakebed/server/_metrics.py"],
    "thread-pool hops (run_in_threadpool, worker wake-up)": ["anyio/to_thread.py", "starlette/concurrency.py",
                                                             "anyio/_backends/_asyncio.py)"],
    "features.online (lakebed)": ["lakebed/features/_serving.py"],
    "online store read (sqlite)": ["lakebed/features/online", "sqlite3"],
    "response encoding (fast_json / JSONResponse)": ["fast_json (", "json/encoder.py", "render ("],
    "vector search (lakebed)": ["lakebed/vectors/"],
}


# The main thread's and worker threads' entry frames: in every stack, not informative.
ROOTS = ("typer/", "lakebed/cli.py", "uvicorn/main.py", "uvicorn/_compat.py", "uvicorn/server.py",
         "asyncio/runners.py", "asyncio/base_events.py", "lakebed/server/_serve.py", "(lakebed)",
         "_bootstrap", "Thread.run (threading.py)", "<module>")


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, n = line.rpartition(" ")
    return [_LINE.sub(")", f) for f in stack.split(";")], int(n)


def summarize(raw: Path, top: int = 15) -> str:
    stacks = []
    for line in raw.read_text().splitlines():
        if line.strip():
            try:
                stacks.append(_frames(line))
            except ValueError:
                continue
    total = sum(n for _, n in stacks) or 1
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    exclusive: Counter[str] = Counter()
    for frames, n in stacks:
        # Exclusive: the leaf-most frame that belongs to an area decides (sums to 100%).
        area = next((b for f in reversed(frames) for b, needles in BUCKETS.items() if any(x in f for x in needles)),
                    "other (event loop, asyncio, idle wake-ups)")
        exclusive[area] += n
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
        joined = ";".join(frames)
        for b, needles in BUCKETS.items():
            if any(x in joined for x in needles):
                buckets[b] += n

    def table(counter: Counter[str], head: str) -> list[str]:
        rows = [f"| {head} | share |", "| --- | --- |"]
        rows += [f"| `{f[:110]}` | {c / total * 100:.1f}% |" for f, c in counter.most_common(top)]
        return rows

    out = [f"{total} samples of the GIL-holding thread.", "",
           "| area | exclusive (leaf-most area frame) | inclusive (any frame) |", "| --- | --- | --- |"]
    out += [f"| {b} | {exclusive[b] / total * 100:.1f}% | {buckets[b] / total * 100:.1f}% |"
            for b in [*BUCKETS, "other (event loop, asyncio, idle wake-ups)"]]
    out += ["", *table(self_c, "self time (leaf function)"), "",
            *table(Counter({k: v for k, v in incl.items() if not any(r in k for r in ROOTS)}),
                   "inclusive (function, entry frames left out)")]
    return "\n".join(out)


def record(pid: int, seconds: float, out: Path, cpus: str) -> threading.Thread:
    """Start py-spy (pinned to ``cpus``) in a thread; join it to wait for the file."""

    def go() -> None:
        subprocess.run(["taskset", "-c", cpus, str(BIN / "py-spy"), "record", "-p", str(pid), "-d", str(int(seconds)),
                        "-r", "200", "--gil", "--nonblocking", "-f", "raw", "-o", str(out)],
                       capture_output=True, timeout=seconds + 60)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def profile_case(server: Any, url: str, bodies: Path, concurrency: int, seconds: float, out: Path,
                 client_cpus: str) -> str | None:
    """Profile ``server`` while the load generator drives ``url``; markdown or None."""
    from _server_procs import load

    out.unlink(missing_ok=True)
    t = record(server.proc.pid, seconds, out, client_cpus)
    load(server, url, bodies, concurrency, seconds + 2, 10**6, 1.0, client_cpus)
    t.join(timeout=seconds + 90)
    return summarize(out) if out.exists() else None
