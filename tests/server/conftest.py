"""A lake served by a real uvicorn server on a loopback port, in a thread; the same
behind a read worker (``lakebed serve --workers``), in threads of this process too; and
``lakebed serve --workers 2`` as a child process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

import lakebed
from lakebed.features import Entity, FeatureView, Field
from lakebed.server import keys as key_store


@dataclass
class Served:
    lake: lakebed.Lake
    url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MAX_BODY = 8 * 1024 * 1024


@contextmanager
def running(app: Any, **where: Any) -> Iterator[None]:
    """``app`` served by uvicorn in a thread (``host``/``port`` or ``sockets``)."""
    import uvicorn

    sockets = where.pop("sockets", None)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", **where))
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():  # pragma: no cover
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served on a free loopback port; yields its base URL."""
    port = _free_port()
    with running(app, host="127.0.0.1", port=port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def served() -> Iterator[Served]:
    from lakebed.server import create_app

    with lakebed.connect(":memory:") as lake, serving(create_app(lake, max_body_bytes=MAX_BODY)) as url:
        yield Served(lake, url)


@pytest.fixture(params=["one process", "read worker"])
def served_any(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The served lake reached directly, or through a read worker that answers the hot
    reads itself and forwards everything else to the writer (``--workers``)."""
    if request.param == "one process":
        yield request.getfixturevalue("served")
        return
    from lakebed.server import create_app
    from lakebed.server._workers import ChangeLog, ReadWorker

    with lakebed.connect(":memory:") as lake:
        changes = ChangeLog(tmp_path, create=True)
        primary = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        primary.bind(str(tmp_path / "primary.sock"))
        primary.listen(64)
        with running(create_app(lake, max_body_bytes=MAX_BODY, changes=changes), sockets=[primary]), \
                lakebed.connect(lake.path, read_only=True) as reader:
            port = _free_port()
            with running(ReadWorker(reader, tmp_path, 1, MAX_BODY), host="127.0.0.1", port=port, lifespan="on"):
                yield Served(lake, f"http://127.0.0.1:{port}")


def one_shot(method: str, url: str, **kw: Any) -> httpx.Response:
    """A request on a new connection, so that any server process may accept it."""
    with httpx.Client(timeout=30, headers={"connection": "close"}) as c:
        return c.request(method, url, **kw)


def fill_for_workers(path: Path, now: datetime, dim: int, n_vectors: int) -> key_store.ApiKey:
    """A lake with what the read workers answer (a materialized feature view ``stats`` of
    ``silver.tx``, a collection ``docs`` of ``dim``-d vectors) and one admin key."""
    with lakebed.connect(path) as lake:
        lake.tables.create("silver.tx", data=pa.table({
            "user_id": [1, 2], "ts": pa.array([now - timedelta(hours=1)] * 2, pa.timestamp("us", "UTC")),
            "amount": [1.0, 2.0]}))
        user = Entity("user", join_keys=["user_id"])
        lake.features.apply([user, FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts",
                                               fields=[Field("amount", "float64")])])
        lake.features.materialize(now)
        col = lake.collections.create("docs", dim=dim, metric="l2")
        col.upsert(list(range(n_vectors)),
                   np.random.default_rng(0).normal(size=(n_vectors, dim)).astype("float32"))
        return key_store.create(lake, "ops", ["admin"])


@contextmanager
def serve_workers(path: Path, *flags: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``lakebed serve PATH --workers 2 [flags]`` on a free port, once both processes
    answer; yields the base URL and the process, which is interrupted at the end."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lakebed.cli", "serve", str(path), "--port", str(port),
                             "--workers", "2", *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 90
        while seen != {0, 1}:  # both processes accept on the socket
            try:
                seen.add(one_shot("GET", f"{url}/health").json()["worker"])
            except httpx.TransportError:
                time.sleep(0.1)
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"workers did not start (saw {seen}): "
                                     f"{proc.stdout.read() if proc.stdout and proc.poll() is not None else ''!r}")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
