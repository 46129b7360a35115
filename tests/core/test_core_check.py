"""`lakebed check` and `lakebed repair` on lakes damaged in each way a file can be: truncated,
or a byte flipped, in lakebed.toml, catalog.db, the online store and an artifact."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.core._lakes import add_stats_view
from typer.testing import CliRunner

import lakebed
from lakebed.check import check_lake, repair_lake
from lakebed.cli import app

runner = CliRunner()


def _make_lake(path: Path) -> str:
    """A lake with a table, a materialized feature view and a run artifact; returns the
    artifact's sha256."""
    with lakebed.connect(path) as lake:
        add_stats_view(lake, dt.datetime.now(dt.UTC))
        with lake.runs.start(experiment="e") as run:
            art = run.log_artifact(b"model bytes " * 100, "model.bin")
    return str(art.sha256)


def _truncate(path: Path, keep: int | None = None) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3 if keep is None else keep])


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def built(lake_path: Path) -> tuple[Path, str]:
    return lake_path, _make_lake(lake_path)


def test_intact_lake_has_no_problems(built: tuple[Path, str]) -> None:
    path, _ = built
    assert check_lake(path) == []
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_toml_is_reported_refused_on_open_and_repaired(built: tuple[Path, str], damage: str) -> None:
    path, _ = built
    toml = path / "lakebed.toml"
    _truncate(toml, 40) if damage == "truncate" else _flip(toml, 10)  # cut inside format_version
    with pytest.raises(lakebed.LakebedError, match=r"lakebed\.toml"):
        lakebed.connect(path)
    problems = check_lake(path)
    assert [(p.area, p.file, p.repairable) for p in problems] == [("config", "lakebed.toml", True)]
    done = repair_lake(path)
    assert len(done) == 1 and "lost: every [settings] value" in done[0]
    assert check_lake(path) == []
    with lakebed.connect(path) as lake:
        assert lake.tables.read("silver.tx").num_rows == 2
    assert any(p.name.startswith("lakebed.toml.") for p in (path / ".damaged").iterdir())


def test_non_text_toml_is_corruption_naming_the_file_and_check(built: tuple[Path, str]) -> None:
    path, _ = built
    (path / "lakebed.toml").write_bytes(b"\x00\x01\xfe garbage")
    with pytest.raises(lakebed.CorruptionError) as info:
        lakebed.connect(path)
    assert str(path / "lakebed.toml") in str(info.value)
    assert "lakebed check" in str(info.value)


def test_toml_syntax_error_is_invalid_argument_naming_file_and_line(built: tuple[Path, str]) -> None:
    path, _ = built
    with open(path / "lakebed.toml", "a") as fh:
        fh.write("fsync = always\n")  # unquoted: a person's typo
    with pytest.raises(lakebed.InvalidArgument, match=r"lakebed.toml is not valid TOML.*line"):
        lakebed.connect(path)


@pytest.mark.parametrize("damage", ["truncate", "header", "page"])
def test_damaged_catalog_raises_corruption_and_is_reported_not_repaired(
    built: tuple[Path, str], damage: str
) -> None:
    path, _ = built
    db = path / "catalog.db"
    if damage == "truncate":
        _truncate(db)
    elif damage == "header":
        _flip(db, 3)
    else:  # the b-tree page header of the second page
        for offset in range(4096, 4104):
            _flip(db, offset)
    with pytest.raises(lakebed.CorruptionError) as info, lakebed.connect(path) as lake:
        lake.tables.list()
        lake.runs.search("")
    assert str(db) in str(info.value) and "lakebed check" in str(info.value)
    problems = check_lake(path)
    assert [(p.area, p.file, p.repairable) for p in problems] == [("catalog", "catalog.db", False)]
    assert "backup" in problems[0].action
    assert repair_lake(path) == []
    assert check_lake(path) == problems  # left as it was


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_online_store_is_set_aside_and_rebuilt(built: tuple[Path, str], damage: str) -> None:
    path, _ = built
    db = path / "online" / "online.db"
    if damage == "truncate":
        _truncate(db)
    else:
        for offset in range(16):  # the header
            _flip(db, offset)
    problems = check_lake(path)
    assert [(p.area, p.file, p.repairable) for p in problems] == [("online", "online/online.db", True)]
    done = repair_lake(path)
    assert len(done) == 1 and "materialize" in done[0] and "lost" in done[0]
    assert check_lake(path) == []
    with lakebed.connect(path) as lake:
        lake.features.materialize()
        resp = lake.features.online([{"user_id": 1}], ["stats:amount"])
        assert resp["amount"] == [2.5]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_artifact_is_reported_and_set_aside(built: tuple[Path, str], damage: str) -> None:
    path, sha = built
    art = path / "artifacts" / sha
    _truncate(art) if damage == "truncate" else _flip(art, 7)
    problems = check_lake(path)
    assert [(p.area, p.file, p.repairable) for p in problems] == [("artifact", f"artifacts/{sha}", True)]
    assert "model.bin" in problems[0].what  # names who uses it
    done = repair_lake(path)
    assert len(done) == 1 and done[0].startswith(f"artifacts/{sha}: moved to artifacts/.damaged/")
    left = check_lake(path)  # the content is gone: the run's artifact is now missing
    assert [(p.area, p.repairable) for p in left] == [("artifact", False)]
    assert "missing" in left[0].what


def test_check_cli_prints_problems_as_table_and_json_and_exits_1(built: tuple[Path, str]) -> None:
    path, sha = built
    _flip(path / "artifacts" / sha, 0)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "artifact" in result.output and "lakebed repair" in result.output
    result = runner.invoke(app, ["check", str(path), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert [p["file"] for p in payload["problems"]] == [f"artifacts/{sha}"]
    result = runner.invoke(app, ["repair", str(path), "--json"])
    assert result.exit_code == 1  # the artifact's content stays lost
    payload = json.loads(result.output)
    assert len(payload["repaired"]) == 1 and payload["remaining"][0]["repairable"] is False


def test_repair_refuses_while_a_writer_has_the_lake_open(built: tuple[Path, str]) -> None:
    path, _ = built
    with lakebed.connect(path), pytest.raises(lakebed.LockedError):
        repair_lake(path)


def test_check_of_a_missing_lake_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(lakebed.NotFound):
        check_lake(tmp_path / "nowhere")
    os.mkdir(tmp_path / "empty")
    with pytest.raises(lakebed.NotFound, match="no lake"):
        check_lake(tmp_path / "empty")


def test_damaged_table_data_file_is_reported_not_repaired(built: tuple[Path, str]) -> None:
    path, _ = built
    data = sorted((path / "tables" / "silver" / "tx").glob("part-*.parquet"))[0]
    _truncate(data)
    problems = check_lake(path)
    assert [(p.area, p.name, p.file, p.repairable) for p in problems] == [
        ("table", "silver.tx", data.relative_to(path).as_posix(), False)]
    assert repair_lake(path) == []
    assert check_lake(path) == problems


def test_damaged_table_log_entry_is_reported(built: tuple[Path, str]) -> None:
    path, _ = built
    entry = path / "tables" / "silver" / "tx" / "_delta_log" / f"{0:020d}.json"
    _flip(entry, 5)
    problems = check_lake(path)
    assert [(p.area, p.name) for p in problems] == [("table", "silver.tx")]
    assert problems[0].file.startswith("tables/silver/tx/_delta_log/")


def test_missing_table_log_and_collection_directory_are_reported(built: tuple[Path, str]) -> None:
    path, _ = built
    with lakebed.connect(path) as lake:
        lake.collections.create("docs", dim=4)
    shutil.rmtree(path / "tables" / "silver" / "tx" / "_delta_log")
    shutil.rmtree(path / "collections" / "docs")
    problems = check_lake(path)
    assert [(p.area, p.name, p.file, p.repairable) for p in problems] == [
        ("table", "silver.tx", "tables/silver/tx/_delta_log", False),
        ("collection", "docs", "collections/docs", False),
    ]
    assert "log directory is missing" in problems[0].what
    assert "directory is missing" in problems[1].what


def test_damaged_wal_is_repaired_keeping_readable_records(lake_path: Path) -> None:
    rng = np.random.default_rng(1)
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.create("docs", dim=4)
        for i in range(100):
            col.upsert([i], rng.random((1, 4), dtype=np.float32), payloads=[{"n": i}])
    wal = sorted((lake_path / "collections" / "docs" / "wal").glob("*.wal"))[-1]
    size = wal.stat().st_size
    for offset in range(size // 10, size // 10 + 4):
        _flip(wal, offset)
    problems = check_lake(lake_path)
    assert [(p.area, p.name, p.file, p.repairable) for p in problems] == [
        ("collection", "docs", wal.relative_to(lake_path).as_posix(), True)]
    done = repair_lake(lake_path)
    assert len(done) == 1 and done[0].startswith("collection docs: ") and "lost" in done[0]
    assert check_lake(lake_path) == []
    with lakebed.connect(lake_path) as lake:
        assert lake.collections.open("docs").count() == 99


def test_check_of_a_postgres_catalog_lake(lake_path: Path, pg_url: str) -> None:
    with lakebed.connect(lake_path, catalog=pg_url) as lake:
        lake.tables.create("bronze.t", data=[{"a": 1}])
    assert check_lake(lake_path, catalog=pg_url) == []
    problems = check_lake(lake_path)
    assert [(p.area, p.file) for p in problems] == [("catalog", "lakebed.toml")]
    assert "--catalog" in problems[0].action


def test_a_table_directory_the_catalog_does_not_name_is_reported_and_set_aside(built: tuple[Path, str]) -> None:
    # a create killed between writing the table's files and its catalog commit leaves a
    # directory no table names: check reports it, repair moves it aside, a create replaces it
    path, _ = built
    orphan = path / "tables" / "silver" / "half"
    (orphan / "_delta_log").mkdir(parents=True)
    (orphan / "_delta_log" / "00000000000000000000.json").write_text("{}")
    problems = check_lake(path)
    assert [(p.area, p.name, p.file, p.repairable) for p in problems] == [
        ("table", "silver.half", "tables/silver/half", True)]
    assert "no table of the catalog names" in problems[0].what and "lakebed repair" in problems[0].action
    done = repair_lake(path)
    assert len(done) == 1 and done[0].startswith("tables/silver/half: moved to tables/silver/.damaged/half.")
    assert not orphan.exists() and check_lake(path) == []
    (orphan / "_delta_log").mkdir(parents=True)  # again; this time the name is created
    with lakebed.connect(path) as lake:
        lake.tables.create("silver.half", data=[{"x": 1}])
        assert lake.tables.read("silver.half").num_rows == 1
    assert check_lake(path) == []
