"""A lake served by a real uvicorn server on a loopback port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

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


@pytest.fixture
def served() -> Iterator[Served]:
    import uvicorn

    from lakebed.server import create_app

    with lakebed.connect(":memory:") as lake:
        port = _free_port()
        config = uvicorn.Config(create_app(lake, max_body_bytes=8 * 1024 * 1024), host="127.0.0.1", port=port,
                                log_level="error")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline:  # pragma: no cover
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        try:
            yield Served(lake, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            thread.join(timeout=20)
