"""Read workers: ``lakebed serve --workers N`` runs N processes on one port.

The first process (the primary) is the lake's single writer and serves every route. The
other N-1 (read workers) open the lake with ``read_only=True`` and answer the hot read
routes themselves (online features, vector search, ``/health``); every other request is
forwarded, unchanged, to the primary over a Unix socket. Throughput of the hot reads grows
with the cores, writes keep one writer.

Freshness: before the primary answers a write it records what changed (features, keys, a
collection, or everything) in a :class:`ChangeLog` shared through a small file; a read
worker checks the log's counter (8 bytes read from a memory map) before each request and
refreshes what changed first. A read that starts after a write was answered sees the write.

Metrics: each read worker writes its Prometheus samples to a file every second; the
primary's ``/metrics`` adds them to its own, so one scrape covers all workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mmap
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakebed._wire import error_body
from lakebed.errors import BackendUnavailable, LakebedError
from lakebed.lake import open_local
from lakebed.storage._atomic import atomic_write_bytes

if TYPE_CHECKING:
    from lakebed.lake import Lake

# POST routes that only read: answering them changes nothing a read worker has cached
_READ_POSTS = ("/search", "/search_batch", "/search_text", "/hybrid", "/query", "/scroll", "/get", "/count",
               "/explain", "/plan", "/training_set", "/online", "/sql", "/resolve", "/key_types")
_HOP = {b"connection", b"keep-alive", b"date", b"server", b"transfer-encoding"}


def write_scope(method: str, path: str) -> str | None:
    """What a request may change, as a scope for :meth:`ChangeLog.bump` (None: nothing).

    Example:
        >>> write_scope("POST", "/v1/collections/docs/upsert")
        'collections/docs'
        >>> write_scope("POST", "/v1/collections/docs/search") is None
        True
        >>> write_scope("POST", "/v1/rag/handbook/ingest"), write_scope("POST", "/v1/rag/handbook/retrieve")
        ('collections/handbook', None)
    """
    if method in ("GET", "HEAD", "OPTIONS") or (method == "POST" and path.endswith(_READ_POSTS)):
        return None
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "v1":
        if parts[1] == "features":
            return "features"
        if parts[1] == "keys":
            return "keys"
        if parts[1] == "collections" and len(parts) >= 3:
            return f"collections/{parts[2]}"
        if parts[1] == "rag" and len(parts) >= 4:  # /v1/rag/{collection}/{op}: ingest and remove write
            return None if parts[3] in ("retrieve", "context") else f"collections/{parts[2]}"
        if parts[1] in ("tables", "streams", "runs", "models", "lineage", "predictions", "quality"):
            return None  # read workers serve none of these themselves (stream appends: no refresh)
    return "*"


class ChangeLog:
    """A change counter shared by the server's processes: ``<dir>/generation`` (8 bytes,
    memory-mapped) and ``<dir>/changes.json`` (scope -> the counter value of its last
    change). The primary writes the scopes first, then the counter."""

    def __init__(self, directory: Path, create: bool = False) -> None:
        self.dir = Path(directory)
        self._counter = self.dir / "generation"
        self._changes = self.dir / "changes.json"
        if create:
            self._counter.write_bytes(b"\0" * 8)
            self._changes.write_text("{}")
        self._fh = open(self._counter, "r+b")  # noqa: SIM115 - mapped for the object's life
        self._map = mmap.mmap(self._fh.fileno(), 8)
        self._scopes: dict[str, int] = {}
        self._lock = threading.Lock()

    def generation(self) -> int:
        return int.from_bytes(self._map[:8], "little")

    def bump(self, scope: str) -> None:
        with self._lock:
            gen = self.generation() + 1
            self._scopes[scope] = gen
            atomic_write_bytes(self._changes, json.dumps(self._scopes).encode(), durable=False)
            self._map[:8] = gen.to_bytes(8, "little")

    def changed_since(self, generation: int) -> list[str]:
        scopes: dict[str, int] = json.loads(self._changes.read_text())
        return [s for s, g in scopes.items() if g > generation]

    def close(self) -> None:
        self._map.close()
        self._fh.close()


def merge_metrics(texts: list[str]) -> bytes:
    """Prometheus text expositions of several processes as one: samples with the same
    name and labels are added (counters, histogram buckets, sums and counts add up);
    ``_created`` timestamps are dropped."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for text in texts:
        for fam in text_string_to_metric_families(text):
            if fam.name.endswith("_created"):
                continue
            _, _, samples = families.setdefault(fam.name, (fam.documentation, fam.type, {}))
            for s in fam.samples:
                if s.name.endswith("_created"):
                    continue
                key = (s.name, tuple(s.labels.items()))
                samples[key] = samples.get(key, 0.0) + s.value

    class _Merged:
        def collect(self) -> Any:
            for name, (doc, typ, samples) in families.items():
                m = Metric(name, doc, typ)
                for (sname, labels), value in samples.items():
                    m.add_sample(sname, dict(labels), value)
                yield m

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())  # type: ignore[arg-type]
    return generate_latest(registry)


class ReadWorker:
    """The ASGI app of a read worker: hot reads answered here, the rest forwarded."""

    def __init__(self, lake: Lake, directory: Path, worker: int, max_body: int) -> None:
        import httpx

        from lakebed.server._app import Auth, hot_routes
        from lakebed.server._metrics import Metrics

        self.lake = lake
        self.dir = Path(directory)
        self.worker = worker
        self.changes = ChangeLog(self.dir)
        self.seen = self.changes.generation()
        self.metrics = Metrics(lake, sizes=False)
        self.auth = Auth(lake)
        self.fast = hot_routes(lake, self.auth, self.metrics, max_body)
        self.client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(self.dir / "primary.sock")),
                                        base_url="http://primary", timeout=None)
        self._dump: asyncio.Task[None] | None = None
        self.stale: dict[str, int] = {}  # changed collections being reopened -> change counter
        self._reopening: set[str] = set()

    def catch_up(self) -> None:
        """Refresh what the primary changed since the last request (one 8-byte read when
        nothing did)."""
        gen = self.changes.generation()
        if gen == self.seen:
            return
        for scope in self.changes.changed_since(self.seen):
            if scope in ("features", "*"):
                self.lake.reload("features")
            if scope in ("keys", "*"):
                self.auth.refresh()  # closed stays closed, whatever was revoked
            cols = self.lake.collections
            if scope == "*":
                cols.forget()
            elif scope.startswith("collections/"):
                name = scope.split("/", 1)[1]
                if cols.is_cached(name) or name in self.stale:
                    self.stale[name] = gen
                    self._reopen_soon(name)
        self.seen = gen

    def _reopen_soon(self, name: str) -> None:
        """Reopen a changed collection in a thread; until then its searches go to the
        writer (reopening replays the write-ahead log: tens of ms that would stall every
        request of this process)."""
        if name not in self._reopening:
            self._reopening.add(name)
            asyncio.get_running_loop().create_task(self._reopen(name))

    async def _reopen(self, name: str) -> None:
        cols = self.lake.collections
        try:
            while name in self.stale:
                gen = self.stale[name]

                def again() -> None:
                    cols.forget(name)
                    cols.open(name)

                try:
                    await asyncio.to_thread(again)
                except LakebedError:  # dropped, say: the next open answers for it
                    cols.forget(name)
                    self.stale.pop(name, None)
                    return
                if self.stale.get(name) == gen:
                    del self.stale[name]
        finally:
            self._reopening.discard(name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self.catch_up()
        method, path = scope["method"], scope["path"]
        if method == "POST":
            match = self.fast.match(path)
            if match is not None and match[1] not in self.stale:
                handler, name = match
                await handler(scope, receive, send, name)
                return
        elif method == "GET" and path == "/health":
            t0 = time.perf_counter()
            body = json.dumps({"status": "ok", "worker": self.worker}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            self.metrics.observe_request("GET", "/health", 200, time.perf_counter() - t0)
            return
        await self.forward(scope, receive, send)

    async def forward(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Pass the request to the primary and stream its answer back unchanged."""
        import httpx

        async def body() -> Any:
            more = True
            while more:
                message = await receive()
                yield message.get("body", b"")
                more = message.get("more_body", False)

        headers = [(k, v) for k, v in scope["headers"] if k not in _HOP]
        # the path as the client sent it (percent-escapes kept, no dot-segment removal)
        target = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target += b"?" + query if query else b""
        url = httpx.URL("http://primary", raw_path=target)
        has_body = any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        request = self.client.build_request(scope["method"], url, headers=headers,
                                            content=body() if has_body else None, extensions={"target": target})
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TransportError as exc:
            err = BackendUnavailable(f"the primary server process does not answer ({exc!r}); restart the server")
            out = json.dumps(error_body(err)).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": out})
            return
        try:
            raw = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in _HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": raw})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._dump = asyncio.create_task(self._dump_metrics())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._dump is not None:
                    self._dump.cancel()
                await self.client.aclose()
                self.changes.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _dump_metrics(self, every: float = 1.0) -> None:
        target = self.dir / f"metrics-{self.worker}.prom"
        while True:
            body, _ = self.metrics.render()
            atomic_write_bytes(target, body, durable=False)
            await asyncio.sleep(every)


def _exit_with_parent() -> None:
    """Exit when the primary goes away: it holds our stdin's other end."""

    def watch() -> None:
        while sys.stdin.buffer.read(1 << 16):
            pass
        os._exit(0)

    threading.Thread(target=watch, name="lakebed-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """Entry point of a read worker process (started by :func:`lakebed.server.serve`)."""
    import uvicorn

    from lakebed.server._serve import listen, settle_heap

    ap = argparse.ArgumentParser(prog="lakebed-read-worker")
    ap.add_argument("--lake", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--worker", type=int, required=True)
    ap.add_argument("--max-body", type=int, required=True)
    ap.add_argument("--log-level", default="warning")
    ap.add_argument("--loop", default="asyncio")
    a = ap.parse_args(argv)
    _exit_with_parent()
    sock = listen(a.host, a.port)
    lake = open_local(a.lake, read_only=True, create=False)
    app = ReadWorker(lake, a.dir, a.worker, a.max_body)
    settle_heap()
    config = uvicorn.Config(app, log_level=a.log_level, access_log=False, lifespan="on", proxy_headers=False,
                            loop=a.loop)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        lake.close()


class WorkerPool:
    """The read worker processes of a server, each listening on ``host:port`` beside the
    writer (SO_REUSEPORT: the kernel spreads new connections evenly over the processes;
    with one shared socket, the first process to wake took a whole burst of them). A worker
    that dies is started again (its connections fall to the other processes meanwhile);
    one that dies within seconds of starting is retried with a growing delay."""

    def __init__(self, path: str | Path, host: str, port: int, directory: Path, count: int, max_body: int,
                 log_level: str, loop: str = "asyncio") -> None:
        self._cmd = [sys.executable, "-m", "lakebed.server._workers", "--lake", str(path), "--host", host,
                     "--port", str(port), "--dir", str(directory), "--max-body", str(max_body),
                     "--log-level", log_level, "--loop", loop]
        self.procs: dict[int, Any] = {}
        self._started: dict[int, float] = {}
        self._delay: dict[int, float] = {}
        self._stop = threading.Event()
        for i in range(1, count + 1):
            self._start(i)
        self._watcher = threading.Thread(target=self._watch, name="lakebed-worker-pool", daemon=True)
        self._watcher.start()

    def _start(self, i: int) -> None:
        import subprocess

        # a session of its own: Ctrl-C in a terminal reaches the writer only, which stops the
        # workers itself (rather than seeing them die and starting them again)
        self.procs[i] = subprocess.Popen([*self._cmd, "--worker", str(i)], stdin=subprocess.PIPE,
                                         start_new_session=True)
        self._started[i] = time.monotonic()

    def _watch(self, every: float = 0.5) -> None:
        import logging

        log = logging.getLogger("lakebed.server")
        due: dict[int, float] = {}
        while not self._stop.wait(every):
            now = time.monotonic()
            for i, p in list(self.procs.items()):
                if p.poll() is None:
                    continue
                if i not in due:
                    quick = now - self._started[i] < 5.0
                    self._delay[i] = min(30.0, self._delay.get(i, 0.5) * 2) if quick else 0.0
                    due[i] = now + self._delay[i]
                    log.warning("read worker %d exited with %s; starting it again in %.1f s", i, p.returncode,
                                self._delay[i])
                if now >= due[i]:
                    if p.stdin is not None:
                        p.stdin.close()
                    del due[i]
                    self._start(i)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, then SIGTERM every worker (SIGKILL after ``timeout`` seconds)."""
        self._stop.set()
        self._watcher.join()
        procs = list(self.procs.values())
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except Exception:  # still running after the grace period
                p.kill()
                p.wait()
            if p.stdin is not None:
                p.stdin.close()


if __name__ == "__main__":
    main()
