"""Metric flushes honour the lake's ``fsync`` setting; ``log_metrics`` is all-or-nothing;
a lake moved to another directory keeps its artifacts."""

from __future__ import annotations

import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest
from tests._strace import count_fsyncs

import lakebed
from lakebed.errors import InvalidArgument

LOGGER = textwrap.dedent(
    """
    import os, sys
    import lakebed
    lake = lakebed.connect(sys.argv[1], fsync=sys.argv[2])
    lake.runs.flush_interval = 0
    run = lake.runs.start(experiment="dur")
    os.write(2, b"MARK-BEGIN\\n")
    for i in range(20):
        run.log_metrics({"loss": 1.0 / (i + 1), "auc": i / 20}, step=i)
    os.write(2, b"MARK-END\\n")
    lake.close()
    """
)


def catalog_fsyncs(tmp_path: Path, fsync: str) -> int:
    """fsyncs of the SQLite catalog while 20 flushed ``log_metrics`` calls run, by strace."""
    return count_fsyncs(tmp_path / f"trace-{fsync}", LOGGER, [str(tmp_path / f"lake-{fsync}"), fsync], "catalog.db")


def test_metric_flushes_fsync_under_always_and_not_under_never(tmp_path):
    always = catalog_fsyncs(tmp_path, "always")
    never = catalog_fsyncs(tmp_path, "never")
    assert always >= 20, f"20 metric flushes under fsync='always' made {always} fsyncs of the catalog"
    assert never == 0, f"20 metric flushes under fsync='never' made {never} fsyncs of the catalog"


def _flush_setting(lake: lakebed.Lake) -> str:
    """The durability setting in force inside a metric flush's own transaction."""
    seen: list[str] = []

    def probe(conn) -> None:
        if lake.catalog.dialect == "sqlite":
            level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            seen.append(("OFF", "NORMAL", "FULL", "EXTRA")[int(level)])
        else:
            seen.append(str(conn.exec_driver_sql("SHOW synchronous_commit").scalar()))

    run = lake.runs.start()
    run.log_metric("m", 1.0)
    lake.runs.flush(also=probe)
    return seen[0]


@pytest.mark.parametrize(("fsync", "sqlite_level", "pg_level"),
                         [("always", "FULL", "on"), ("batch", "NORMAL", None), ("never", "NORMAL", "off")])
def test_metric_flush_transaction_uses_the_fsync_setting(tmp_path, catalog_url, fsync, sqlite_level, pg_level):
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url, fsync=fsync) as lake:
        got = _flush_setting(lake)
        if catalog_url is None:
            assert got == sqlite_level
        elif pg_level is not None:
            assert got == pg_level


def test_log_metrics_enters_the_buffer_whole(lake):
    lake.runs.max_buffered = 2  # a flush is due in the middle of the call
    run = lake.runs.start()
    run.log_metrics({f"m{i}": float(i) for i in range(5)}, step=1)
    assert lake.runs._buffer == []  # flushed together, not after the second point
    assert run.metrics == {f"m{i}": float(i) for i in range(5)}


def test_log_metrics_with_a_bad_value_logs_nothing_of_the_call(lake):
    lake.runs.flush_interval = 0
    run = lake.runs.start()
    with pytest.raises(InvalidArgument, match="metric 'b' must be a number"):
        run.log_metrics({"a": 1.0, "b": "high", "c": 3.0})
    assert run.metrics == {}


def test_a_moved_lake_keeps_its_artifacts_and_models(tmp_path):
    old = tmp_path / "old" / "lake"
    with lakebed.connect(old) as lake:
        with lake.runs.start(experiment="move") as run:
            run.log_artifact(b"weights", name="w.bin")
            run.log_model({"a": 1}, flavor="pickle")
        lake.models.register("mover", run=run)
    catalog = (old / "catalog.db").read_bytes()
    assert str(old).encode() not in catalog  # no absolute path in the catalog
    with sqlite3.connect(old / "catalog.db") as con:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in con.execute(f'SELECT * FROM "{table}"'):
                assert not any(isinstance(v, str) and str(tmp_path) in v for v in row), (table, row)
    new = tmp_path / "elsewhere" / "lake"
    new.parent.mkdir()
    shutil.move(old, new)
    with lakebed.connect(new) as lake:
        run = lake.runs.get(run.id)
        assert run.load_artifact("w.bin") == b"weights"
        assert lake.models.load("mover@1") == {"a": 1}
