"""The DuckDB connections made ahead of time: each is as sandboxed as one made on demand,
none is handed out twice, and a forked child never takes its parent's."""

from __future__ import annotations

import os
import time

import duckdb
import pytest

from lakebed.tables import _sandbox


def _wait_for_spare(timezone: str | None = "UTC") -> None:
    deadline = time.monotonic() + 10
    while timezone not in _sandbox._spares:
        assert time.monotonic() < deadline, "no spare connection was made"
        time.sleep(0.01)


def test_a_spare_is_sandboxed_fresh_and_used_once() -> None:
    first = _sandbox.connect()
    _wait_for_spare()
    spare = _sandbox._spares["UTC"]
    second = _sandbox.connect()
    assert second is spare and second is not first
    for con in (first, second):
        with pytest.raises(duckdb.Error):
            con.sql("SELECT * FROM read_csv('/etc/passwd')").fetchall()
        with pytest.raises(duckdb.Error):
            con.execute("SET enable_external_access = true")
        assert con.sql("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
        assert con.sql("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]
    first.execute("CREATE VIEW leftover AS SELECT 1 AS x")
    first.close()
    _wait_for_spare()
    third = _sandbox.connect()
    assert third is not first and third is not second
    assert third.sql("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]
    for con in (second, third):
        con.close()


def test_a_forked_child_makes_its_own() -> None:
    _sandbox.connect().close()
    _wait_for_spare()
    parent_spare = _sandbox._spares["UTC"]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's spare is set aside, a new connection works
        try:
            ok = "UTC" not in _sandbox._spares and parent_spare in _sandbox._forked_away
            con = _sandbox.connect()
            ok = ok and con is not parent_spare and con.sql("SELECT 41 + 1").fetchall() == [(42,)]
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert _sandbox._spares.get("UTC") is parent_spare
