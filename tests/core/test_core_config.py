"""Settings are checked the same way from lakebed.toml, LAKEBED_* variables and connect():
unknown names and mistyped values are errors naming the setting, its source and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakebed
from lakebed.config import Settings


def _set(lake_path: Path, line: str) -> Path:
    lakebed.connect(lake_path).close()
    toml = lake_path / "lakebed.toml"
    toml.write_text(toml.read_text() + line + "\n")
    return toml


def test_unknown_toml_setting_names_key_file_known_keys_and_close_match(lake_path: Path) -> None:
    toml = _set(lake_path, "segmnt_size = 1000")
    with pytest.raises(lakebed.InvalidArgument) as info:
        lakebed.connect(lake_path)
    msg = str(info.value)
    assert "'segmnt_size'" in msg and str(toml) in msg
    assert "did you mean 'segment_size'" in msg
    assert "catalog, online, streams, fsync, segment_size, compaction_threshold" in msg


def test_unknown_top_level_toml_key_is_refused(lake_path: Path) -> None:
    lakebed.connect(lake_path).close()
    toml = lake_path / "lakebed.toml"
    toml.write_text("fsync = 'never'\n" + toml.read_text())  # outside [settings]
    with pytest.raises(lakebed.InvalidArgument, match=r"unknown key 'fsync'.*under \[settings\]"):
        lakebed.connect(lake_path)


@pytest.mark.parametrize(
    ("line", "setting", "expected"),
    [
        ('segment_size = "big"', "segment_size", "an integer"),
        ("segment_size = 1.5", "segment_size", "an integer"),
        ("segment_size = true", "segment_size", "an integer"),
        ("segment_size = 0", "segment_size", "above 0"),
        ('compaction_threshold = "x"', "compaction_threshold", "a number"),
        ("compaction_threshold = 2", "compaction_threshold", "in (0, 1]"),
        ("fsync = 1", "fsync", "one of 'always', 'batch', 'never'"),
        ("online = 5", "online", "a URL string"),
    ],
)
def test_mistyped_toml_setting_is_invalid_argument(lake_path: Path, line: str, setting: str, expected: str) -> None:
    toml = _set(lake_path, line)
    with pytest.raises(lakebed.InvalidArgument) as info:
        lakebed.connect(lake_path)
    msg = str(info.value)
    assert f"setting {setting}" in msg and str(toml) in msg and expected in msg


def test_mistyped_connect_argument_is_invalid_argument_not_type_error(lake_path: Path) -> None:
    with pytest.raises(lakebed.InvalidArgument, match=r"segment_size in lakebed.connect\(\) is 'big' \(str\)"):
        lakebed.connect(lake_path, segment_size="big")
    assert not lake_path.exists()  # nothing half-made
    with pytest.raises(lakebed.InvalidArgument, match="compaction_threshold"):
        lakebed.connect(":memory:", compaction_threshold=[0.5])


def test_mistyped_environment_variable_names_the_variable(
    lake_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEBED_SEGMENT_SIZE", "big")
    with pytest.raises(lakebed.InvalidArgument, match="environment variable LAKEBED_SEGMENT_SIZE is 'big'"):
        lakebed.connect(lake_path)
    monkeypatch.setenv("LAKEBED_SEGMENT_SIZE", "1_000")
    with lakebed.connect(lake_path) as lake:
        assert lake.settings.segment_size == 1000


def test_settings_constructed_directly_are_checked() -> None:
    with pytest.raises(lakebed.InvalidArgument, match="segment_size"):
        Settings(segment_size="big")  # type: ignore[arg-type]
    assert Settings(compaction_threshold=1).compaction_threshold == 1.0


def test_valid_settings_from_every_source_apply(lake_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _set(lake_path, "segment_size = 123")
    monkeypatch.setenv("LAKEBED_COMPACTION_THRESHOLD", "0.5")
    with lakebed.connect(lake_path, fsync="batch") as lake:
        assert (lake.settings.segment_size, lake.settings.compaction_threshold, lake.settings.fsync) == (
            123, 0.5, "batch")


# -- where the catalog lives ------------------------------------------------------------------
def test_new_lake_records_its_catalog_backend(lake_path: Path) -> None:
    lakebed.connect(lake_path).close()
    assert 'catalog_backend = "sqlite"' in (lake_path / "lakebed.toml").read_text()


def test_sqlite_lake_refuses_a_postgres_catalog_and_creates_nothing_there(lake_path: Path, pg_url: str) -> None:
    import sqlalchemy as sa

    with lakebed.connect(lake_path) as lake:
        lake.tables.create("bronze.t", data=[{"a": 1}])
    with pytest.raises(lakebed.ConflictError) as info:
        lakebed.connect(lake_path, catalog=pg_url)
    msg = str(info.value)
    assert str(lake_path / "catalog.db") in msg and "without catalog=" in msg
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    with lakebed.connect(lake_path) as lake:
        assert lake.tables.list() == ["bronze.t"]


def test_postgres_lake_refuses_to_open_without_its_catalog(lake_path: Path, pg_url: str) -> None:
    with lakebed.connect(lake_path, catalog=pg_url) as lake:
        lake.tables.create("bronze.t", data=[{"a": 1}])
    assert 'catalog_backend = "postgresql"' in (lake_path / "lakebed.toml").read_text()
    with pytest.raises(lakebed.ConflictError, match="keeps its catalog in PostgreSQL"):
        lakebed.connect(lake_path)
    assert not (lake_path / "catalog.db").exists()
    with lakebed.connect(lake_path, catalog=pg_url) as lake:
        assert lake.tables.list() == ["bronze.t"]


def test_old_lake_without_the_record_is_inferred(lake_path: Path, pg_url: str) -> None:
    with lakebed.connect(lake_path) as lake:
        lake.tables.create("bronze.t", data=[{"a": 1}])
    toml = lake_path / "lakebed.toml"
    toml.write_text(toml.read_text().replace('catalog_backend = "sqlite"\n', ""))
    with pytest.raises(lakebed.ConflictError, match=r"catalog\.db"):
        lakebed.connect(lake_path, catalog=pg_url)
    (lake_path / "catalog.db").rename(lake_path / "elsewhere.db")
    with pytest.raises(lakebed.ConflictError, match=r"holds data but no catalog\.db"):
        lakebed.connect(lake_path)
