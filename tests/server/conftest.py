"""A lake served by a real uvicorn server on a loopback port, in a thread; and the same
behind a read worker (``lakebed serve --workers``), in threads of this process too."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import lakebed


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
def _running(app: Any, **where: Any) -> Iterator[None]:
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


@pytest.fixture
def served() -> Iterator[Served]:
    from lakebed.server import create_app

    with lakebed.connect(":memory:") as lake:
        port = _free_port()
        with _running(create_app(lake, max_body_bytes=MAX_BODY), host="127.0.0.1", port=port):
            yield Served(lake, f"http://127.0.0.1:{port}")


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
        with _running(create_app(lake, max_body_bytes=MAX_BODY, changes=changes), sockets=[primary]), \
                lakebed.connect(lake.path, read_only=True) as reader:
            port = _free_port()
            with _running(ReadWorker(reader, tmp_path, 1, MAX_BODY), host="127.0.0.1", port=port, lifespan="on"):
                yield Served(lake, f"http://127.0.0.1:{port}")
