"""`lakebed serve` and `lakebed keys` as a user runs them."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import lakebed
from lakebed.cli import app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_a_key_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    with lakebed.connect(path) as lake:
        lake.tables.create("gold.kpis", data=[{"k": "users", "v": 10}])
    created = CliRunner().invoke(app, ["keys", "create", "--lake", str(path), "--name", "ops", "--scope", "write"])
    assert created.exit_code == 0, created.output
    secret = re.search(r"(lb_\S+)", created.output)
    assert secret is not None
    listed = CliRunner().invoke(app, ["keys", "ls", "--lake", str(path)])
    assert "ops" in listed.output and secret.group(1) not in listed.output

    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "lakebed.cli", "serve", str(path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"server did not start: {proc.stdout.read() if proc.stdout else ''!r}")
            time.sleep(0.2)
        with pytest.raises(lakebed.AuthError):
            lakebed.connect(f"http://127.0.0.1:{port}").tables.list()
        with lakebed.connect(f"http://127.0.0.1:{port}", api_key=secret.group(1)) as remote:
            assert remote.tables.read("gold.kpis").to_pylist() == [{"k": "users", "v": 10}]
            assert remote.tables.write("gold.kpis", [{"k": "orders", "v": 3}]) == 1
        with pytest.raises(lakebed.LockedError):  # the server is the writer
            lakebed.connect(path)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    with lakebed.connect(path, read_only=True) as lake:
        assert lake.tables.read("gold.kpis").num_rows == 2
    revoked = CliRunner().invoke(app, ["keys", "revoke", "ops", "--lake", str(path)])
    assert revoked.exit_code == 0
    assert CliRunner().invoke(app, ["keys", "ls", "--lake", str(path)]).output.count("ops") == 0
