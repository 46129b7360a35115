"""A damaged table raises CorruptionError naming the file and pointing at `lakebed check`
(issue 14 item 9), and ``check_table`` reports each damage with the file and a fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import lakebed
from lakebed.errors import CorruptionError
from lakebed.tables._check import check_table

NAME = "silver.c"


@pytest.fixture
def lake_path(tmp_path: Path) -> Path:
    path = tmp_path / "lake"
    with lakebed.connect(path) as lake:
        lake.tables.create(NAME, data=[{"id": i, "s": f"row {i}"} for i in range(200)])
        lake.tables.write(NAME, [{"id": 1000 + i, "s": "two"} for i in range(50)])
        lake.tables.write(NAME, [{"id": 2000 + i, "s": "three"} for i in range(50)])
    return path


def _table(lake_path: Path) -> Path:
    return lake_path / "tables" / "silver" / "c"


def _file_of(lake_path: Path, version: int) -> Path:
    """The data file the commit of ``version`` added."""
    table = _table(lake_path)
    log = table / "_delta_log" / f"{version:020d}.json"
    adds = [json.loads(line)["add"]["path"] for line in log.read_text().splitlines() if '"add"' in line]
    return table / adds[0]


def _truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _flip_footer(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-6] ^= 0xFF  # the footer length: the footer no longer reads, the size is unchanged
    p.write_bytes(bytes(data))


def _flip_log(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[0] ^= 0xFF  # the first action's opening brace
    p.write_bytes(bytes(data))


def _truncate_newest(lp: Path) -> Path:
    _truncate(f := _file_of(lp, 2))
    return f


def _flip_newest(lp: Path) -> Path:
    _flip_footer(f := _file_of(lp, 2))
    return f


def _delete_newest(lp: Path) -> Path:
    (f := _file_of(lp, 2)).unlink()
    return f


def _truncate_oldest(lp: Path) -> Path:
    _truncate(f := _file_of(lp, 0))
    return f


DAMAGES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("truncated parquet", _truncate_newest, "truncated"),
    ("flipped parquet footer", _flip_newest, "does not read as Parquet"),
    ("deleted parquet", _delete_newest, "missing"),
    ("truncated old parquet", _truncate_oldest, "truncated"),
]


@pytest.mark.parametrize(("case", "damage", "what"), DAMAGES, ids=[d[0] for d in DAMAGES])
def test_damaged_data_file(lake_path: Path, case: str, damage: Callable[[Path], Path], what: str) -> None:
    damaged = damage(lake_path)
    rel = str(damaged.relative_to(lake_path))
    with lakebed.connect(lake_path) as lake:
        for read in (
            lambda: lake.tables.read(NAME),
            lambda: lake.tables.read(NAME, where="id > 5"),
            lambda: lake.sql(f"SELECT count(*) FROM {NAME}"),
            lambda: lake.tables.info(NAME),
        ):
            with pytest.raises(CorruptionError) as info:
                read()
            assert rel in str(info.value) and "lakebed check" in str(info.value)
        problems = check_table(lake_path, NAME, _table(lake_path))
        assert [p.file for p in problems] == [rel]
        assert what in problems[0].what
        if "old" in case:  # every version holds the file: no version to go back to
            assert "backup" in problems[0].action and "restore(" not in problems[0].action
        else:  # the newest commit's file: the action is a restore to version 1, and it works
            assert f"lake.tables.restore('{NAME}', 1)" in problems[0].action
            lake.tables.restore(NAME, 1)
            assert lake.tables.read(NAME).num_rows == 250
            assert check_table(lake_path, NAME, _table(lake_path)) == []


@pytest.mark.parametrize("damage", [_truncate, _flip_log], ids=["truncated", "flipped"])
def test_damaged_newest_log_entry(lake_path: Path, damage: Callable[[Path], None]) -> None:
    entry = _table(lake_path) / "_delta_log" / f"{2:020d}.json"
    damage(entry)
    rel = str(entry.relative_to(lake_path))
    with lakebed.connect(lake_path) as lake:
        for call in (
            lambda: lake.tables.read(NAME),
            lambda: lake.tables.version(NAME),
            lambda: lake.tables.write(NAME, [{"id": 1, "s": "x"}]),
            lambda: lake.tables.merge(NAME, [{"id": 1, "s": "x"}], on="id"),
        ):
            with pytest.raises(CorruptionError) as info:
                call()
            assert rel in str(info.value) and "lakebed check" in str(info.value)
            assert "Traceback" not in str(info.value) and "backtrace" not in str(info.value).lower()
        problems = check_table(lake_path, NAME, _table(lake_path))
        assert [p.file for p in problems] == [rel]
        assert "version 2" in problems[0].what and "move" in problems[0].action
        assert lake.tables.read(NAME, version=1).num_rows == 250  # older versions stay readable
    entry.rename(entry.with_name("damaged-2.json.bak"))  # the action: move it aside
    with lakebed.connect(lake_path) as lake:
        assert lake.tables.read(NAME).num_rows == 250
        assert check_table(lake_path, NAME, _table(lake_path)) == []


def test_damaged_middle_log_entry_and_missing_entry(lake_path: Path) -> None:
    entry = _table(lake_path) / "_delta_log" / f"{1:020d}.json"
    _truncate(entry)
    problems = check_table(lake_path, NAME, _table(lake_path))
    assert [p.file for p in problems] == [str(entry.relative_to(lake_path))]
    assert "backup" in problems[0].action and "version=0" in problems[0].action
    entry.unlink()
    problems = check_table(lake_path, NAME, _table(lake_path))
    assert "missing" in problems[0].what


def test_intact_table_has_no_problems_even_fully_read(lake_path: Path) -> None:
    assert check_table(lake_path, NAME, _table(lake_path), full=True) == []
    with lakebed.connect(lake_path) as lake:
        lake.tables.merge(NAME, [{"id": 1, "s": "m"}], on="id")
        lake.tables.delete(NAME, where="id = 2")
    assert check_table(lake_path, NAME, _table(lake_path), full=True) == []


def test_missing_log_folder(lake_path: Path) -> None:
    import shutil

    shutil.rmtree(_table(lake_path) / "_delta_log")
    problems = check_table(lake_path, NAME, _table(lake_path))
    assert problems[0].file == "tables/silver/c/_delta_log" and "backup" in problems[0].action
