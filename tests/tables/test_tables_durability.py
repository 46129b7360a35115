"""Table commits honour the lake's ``fsync`` setting (issue 13 item 6). delta-rs never
fsyncs; lakebed fsyncs what each commit added. An fsync-counting shim around ``os.fsync``
records which paths were fsynced (the real fsync still runs)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

import lakebed

NAME = "bronze.d"


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    real = os.fsync

    def shim(fd: int) -> None:
        calls.append(os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", shim)
    yield calls


def _expected(table: Path, version: int) -> set[str]:
    """What the commit of ``version`` must fsync: its data files, its log entry, their dirs."""
    log = table / "_delta_log" / f"{version:020d}.json"
    want = {str(log), str(table), str(table / "_delta_log")}
    for line in log.read_text().splitlines():
        add = json.loads(line).get("add")
        if add:
            f = table / unquote(add["path"])
            want |= {str(f), str(f.parent)}
    return {os.path.realpath(p) for p in want}


def _ops(lake: lakebed.Lake) -> list[Callable[[], int]]:
    t = lake.tables

    def append(i: int) -> Callable[[], int]:
        return lambda: t.write(NAME, [{"id": i * 10 + k, "r": f"r {i % 3}/é", "v": k} for k in range(5)])

    def merge(i: int) -> Callable[[], int]:
        rows = [{"id": i, "r": "r 0/é", "v": 99}, {"id": 1000 + i, "r": "x", "v": 1}]
        return lambda: t.merge(NAME, rows, on="id")

    ops = [append(i) for i in range(14)] + [merge(i) for i in range(3)]
    ops.append(lambda: t.delete(NAME, where="v = 1"))
    ops.append(lambda: t.restore(NAME, 3))
    ops.append(lambda: t.write(NAME, [{"id": 5000, "r": "new%dir", "v": 0}], mode="overwrite"))
    return ops


def _lake(tmp_path: Path, mode: str) -> tuple[lakebed.Lake, Path]:
    lake = lakebed.connect(tmp_path / "lake", fsync=mode)
    lake.tables.create(NAME, schema={"id": "int64", "r": "string", "v": "int64"}, partition_by=["r"])
    return lake, tmp_path / "lake" / "tables" / "bronze" / "d"


def test_always_fsyncs_every_commit_before_it_returns(tmp_path: Path, fsynced: list[str]) -> None:
    lake, table = _lake(tmp_path, "always")
    assert _expected(table, 0) <= set(fsynced)  # the create, too
    assert os.path.realpath(tmp_path / "lake" / "tables" / "bronze") in fsynced
    with lake:
        ops = _ops(lake)
        assert len(ops) == 20
        for op in ops:
            fsynced.clear()
            version = op()
            want = _expected(table, version)
            assert len(want) >= 4
            missing = want - set(fsynced)
            assert not missing, (version, missing)


def test_never_fsyncs_nothing(tmp_path: Path, fsynced: list[str]) -> None:
    lake, table = _lake(tmp_path, "never")
    with lake:
        for op in _ops(lake):
            op()
        lake.tables.flush()
    assert not [p for p in fsynced if p.startswith(os.path.realpath(table))]


def test_batch_fsyncs_at_flush_and_close(tmp_path: Path, fsynced: list[str]) -> None:
    lake, table = _lake(tmp_path, "batch")
    under = os.path.realpath(table)
    with lake:
        versions = [op() for op in _ops(lake)]
        assert not [p for p in fsynced if p.startswith(under)]  # nothing yet
        lake.tables.flush()
        want = set().union(*(_expected(table, v) for v in [0, *versions]))
        assert want <= set(fsynced)
        assert lake.tables._durability.pending == 0
        fsynced.clear()
        v = lake.tables.write(NAME, [{"id": 9, "r": "z", "v": 0}])
        assert not [p for p in fsynced if p.startswith(under)]
    assert _expected(table, v) <= set(fsynced)  # closing the lake flushed the last commit


def test_commit_with_line_separators_in_values_is_made_durable(tmp_path: Path) -> None:
    """A value holding U+2028 or U+0085 stays inside one log line (its min/max stats)."""
    with lakebed.connect(tmp_path / "lake", fsync="always") as lk:
        assert lk.tables.create("s.t", data=[{"c": "a\u2028b"}, {"c": "c\x85d"}]) == 0
        assert lk.tables.write("s.t", [{"c": "\u2029"}]) == 1
        assert sorted(lk.tables.read("s.t").column("c").to_pylist()) == ["a\u2028b", "c\x85d", "\u2029"]
