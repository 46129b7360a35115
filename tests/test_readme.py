"""The README's snippets run verbatim: every fenced ```python block, in order, in one
namespace, in a fresh directory; then every concrete `lakebed` command of the ```bash
blocks. The test defines only the placeholders in :func:`_placeholders` (the data a reader
brings); a snippet that no longer runs fails this test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.server.conftest import running
from typer.testing import CliRunner

import lakebed
from lakebed.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

# The block that talks to a server: the test serves the README's lake on this address (in a
# thread) and defines ``secret``, the key `lakebed keys create` would print.
SERVED = 'lakebed.connect("http://127.0.0.1:8765"'
# The block that talks to a cluster: the test starts one (3 NATS servers, 3 nodes) on these ports.
CLUSTER = "lakebed+cluster://127.0.0.1:8771,127.0.0.1:8772,127.0.0.1:8773"
# `lakebed` commands that are not run: long-running, needing a terminal, or a cluster
# (the cluster commands run against the README's cluster in tests/cluster).
COMMANDS_NOT_RUN = ("lakebed serve", "lakebed demo", "lakebed cluster", "lakebed ui")


def blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == kind]


def _placeholders(pg_url: str, redis_url: str) -> dict[str, Any]:
    """The data the README's snippets assume a reader has; nothing else is defined."""
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rng = np.random.default_rng(0)
    pd = pytest.importorskip("pandas")
    return {
        "pg_url": pg_url,
        "redis_url": redis_url,
        "events": [{"id": i, "kind": k} for i, k in enumerate(["click", "view", "click"])],
        "df": pd.DataFrame({"user_id": [1, 2, 3], "plan": ["pro", "trial", "free"]}),
        "df_with_new_col": pd.DataFrame({"user_id": [4], "plan": ["pro"], "country": ["NZ"]}),
        "updates": pd.DataFrame({"user_id": [1, 5], "plan": ["free", "pro"], "country": ["FR", "DE"]}),
        "transactions": [
            {"user_id": u, "amount": float(10 * u + d), "ts": t0 + dt.timedelta(days=d),
             "created_at": t0 + dt.timedelta(days=d, minutes=1)}
            for u in (1, 2, 3) for d in range(3)
        ],
        "ids": [1, 2, 3],
        "vectors": rng.random((3, 384), dtype=np.float32),
        "payloads": [{"source": "man", "year": 2014}, {"source": "man", "year": 1999},
                     {"source": "blog", "year": 2020}],
        "query": rng.random(384, dtype=np.float32),
        "entity_df": pd.DataFrame({"user_id": [1, 2], "event_timestamp": [t0 + dt.timedelta(days=5)] * 2}),
        "rows": [{"user_id": 1, "amount": 99.0, "ts": t0 + dt.timedelta(days=6),
                  "created_at": t0 + dt.timedelta(days=6)}],
        "model": {"weights": [0.1, 0.2]},
        "inputs": [{"user_id": 1}, {"user_id": 2}, {"user_id": 3}],
        "outputs": [0.1, 0.7, 0.3],
    }


def _write_docs(root: Path) -> None:
    """The files the README's ingestion globs name (docs/**/*.md, manuals/*.pdf)."""
    (root / "docs" / "guide").mkdir(parents=True)
    (root / "docs" / "guide" / "logs.md").write_text(
        "# Logs\n\nA torn log record at the end of the write-ahead log is dropped on recovery; "
        "a damaged record followed by valid ones stops recovery instead.\n")
    (root / "manuals").mkdir()


@contextlib.contextmanager
def _served(lake: lakebed.Lake) -> Iterator[None]:
    """``lake`` served on 127.0.0.1:8765 in a thread, as `lakebed serve` would."""
    from lakebed.server import create_app

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8765)) == 0:
            pytest.skip("port 8765, which the README's server snippet uses, is taken")
    with running(create_app(lake), host="127.0.0.1", port=8765):
        yield


@contextlib.contextmanager
def _cluster(root: Path) -> Iterator[None]:
    """A local cluster whose nodes listen where the README's cluster block connects."""
    from lakebed.cluster._local import LocalCluster

    ports = [8771, 8772, 8773]
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"port {port}, which the README's cluster snippet uses, is taken")
    lc = LocalCluster(root, node_ports=ports)
    try:
        lc.start()
        yield
    finally:
        lc.stop()


def test_the_served_block_is_still_in_the_readme() -> None:
    assert SERVED in README.read_text()
    assert CLUSTER in README.read_text()


def test_python_blocks_then_lakebed_commands_run_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str, redis_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAKEBED_LAKE", raising=False)
    _write_docs(tmp_path)
    namespace: dict[str, Any] = _placeholders(pg_url, redis_url)
    ran = 0
    try:
        for i, body in enumerate(blocks("python")):
            served: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            if SERVED in body:
                from lakebed.server import keys

                namespace["secret"] = keys.create(namespace["lake"], "readme", ["admin"]).secret
                served = _served(namespace["lake"])
            elif CLUSTER in body:
                served = _cluster(tmp_path / "readme-cluster")
            try:
                with served:
                    exec(compile(body, f"README.md python block {i + 1}", "exec"), namespace)
            except Exception as exc:
                pytest.fail(f"README python block {i + 1} fails: {type(exc).__name__}: {exc}\n{body}")
            ran += 1
    finally:
        for client in ("remote", "cluster"):
            if namespace.get(client) is not None:
                namespace[client].close()
        for value in list(namespace.values()):  # the CLI below needs the writer lock
            if isinstance(value, lakebed.Lake):
                value.close()
    assert ran == len(blocks("python"))

    runner = CliRunner()
    commands = 0
    for body in blocks("bash"):
        for line in body.splitlines():
            line = line.split("#", 1)[0].strip()
            for part in (p.strip() for p in line.split(";")):
                if part.startswith("export LAKEBED_LAKE="):
                    monkeypatch.setenv("LAKEBED_LAKE", part.split("=", 1)[1])
                    continue
                if not part.startswith("lakebed ") or part.startswith(COMMANDS_NOT_RUN):
                    continue
                if any(s in part for s in ("...", "|", "[", "RUN")):
                    continue  # a synopsis, not a command
                result = runner.invoke(app, shlex.split(part)[1:])
                assert result.exit_code == 0, f"README command `{part}` fails:\n{result.output}"
                commands += 1
    assert commands >= 10
