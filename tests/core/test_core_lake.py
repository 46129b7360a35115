from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lakebed
from lakebed.config import Settings


def test_connect_creates_lake_with_format_version(lake_path: Path) -> None:
    with lakebed.connect(lake_path) as lake:
        assert lake.path == lake_path.resolve()
        assert lake.catalog.current_revision() is not None
    text = (lake_path / "lakebed.toml").read_text()
    assert "format_version = 1" in text


def test_reopen_keeps_tables(lake_path: Path) -> None:
    with lakebed.connect(lake_path) as lake:
        lake.tables.create("bronze.t", data=[{"a": 1}])
    with lakebed.connect(lake_path) as lake:
        assert lake.tables.read("bronze.t").to_pylist() == [{"a": 1}]


def test_memory_lake_is_removed_on_close() -> None:
    lake = lakebed.connect(":memory:")
    root = lake.path
    lake.tables.create("bronze.t", data=[{"a": 1}])
    assert root.exists()
    lake.close()
    assert not root.exists()
    lake.close()  # idempotent


def test_closed_lake_refuses_use() -> None:
    lake = lakebed.connect(":memory:")
    lake.close()
    with pytest.raises(lakebed.InvalidArgument, match="closed"):
        _ = lake.tables


def test_second_writer_in_same_process_is_named_as_this_process(lake_path: Path) -> None:
    with lakebed.connect(lake_path):
        with pytest.raises(lakebed.LockedError) as info:
            lakebed.connect(lake_path)
        msg = str(info.value)
        assert "this process already has the lake" in msg and "another process" not in msg
        assert "close the other Lake handle" in msg and "with lakebed.connect" in msg
        with lakebed.connect(lake_path, read_only=True) as reader:
            assert reader.read_only
    with lakebed.connect(lake_path):  # released on close
        pass


def test_rebinding_after_close_reopens(lake_path: Path) -> None:
    lake = lakebed.connect(lake_path)
    lake.close()
    lake = lakebed.connect(lake_path)
    lake.close()


def test_second_writer_process_gets_locked_error_naming_holder(lake_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time, lakebed
        lake = lakebed.connect({str(lake_path)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        lake.close()
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(lakebed.LockedError) as info:
            lakebed.connect(lake_path)
        assert f"pid {holder.pid}" in str(info.value)
        assert "read_only=True" in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    with lakebed.connect(lake_path):  # released on close
        pass


def test_lock_released_when_holder_is_killed(lake_path: Path) -> None:
    code = (
        f"import lakebed, time; lake = lakebed.connect({str(lake_path)!r}); "
        "print('ready', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    holder.kill()
    holder.wait()
    with lakebed.connect(lake_path):
        pass


def test_read_only_lake_refuses_writes(lake_path: Path) -> None:
    with lakebed.connect(lake_path) as lake:
        lake.tables.create("bronze.t", data=[{"a": 1}])
    with lakebed.connect(lake_path, read_only=True) as lake:
        assert lake.tables.read("bronze.t").num_rows == 1
        with pytest.raises(lakebed.ReadOnlyError, match="read_only"):
            lake.tables.write("bronze.t", [{"a": 2}])
    with lakebed.connect(lake_path) as lake:
        assert lake.tables.read("bronze.t").num_rows == 1


def test_read_only_on_missing_lake_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(lakebed.NotFound, match="no lake"):
        lakebed.connect(tmp_path / "nope", read_only=True)
    assert not (tmp_path / "nope").exists()


def test_non_empty_foreign_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(lakebed.InvalidArgument, match="not a lake"):
        lakebed.connect(tmp_path)


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(lakebed.InvalidArgument, match="unknown setting 'fsynk'"):
        lakebed.connect(":memory:", fsynk="always")


def test_newer_format_version_is_refused(lake_path: Path) -> None:
    lakebed.connect(lake_path).close()
    toml = lake_path / "lakebed.toml"
    toml.write_text(toml.read_text().replace("format_version = 1", "format_version = 99"))
    with pytest.raises(lakebed.InvalidArgument, match="upgrade lakebed"):
        lakebed.connect(lake_path)


def test_settings_precedence_arguments_over_environment_over_toml() -> None:
    toml = {"fsync": "never", "segment_size": 10}
    env = {"LAKEBED_FSYNC": "batch", "LAKEBED_SEGMENT_SIZE": "20"}
    assert Settings.resolve(toml=toml, environ={}).fsync == "never"
    assert Settings.resolve(toml=toml, environ=env).segment_size == 20
    resolved = Settings.resolve(overrides={"fsync": "always"}, toml=toml, environ=env)
    assert (resolved.fsync, resolved.segment_size) == ("always", 20)
    with pytest.raises(lakebed.InvalidArgument, match="fsync"):
        Settings.resolve(overrides={"fsync": "sometimes"}, environ={})
    with pytest.raises(lakebed.InvalidArgument, match="LAKEBED_SEGMENT_SIZE"):
        Settings.resolve(environ={"LAKEBED_SEGMENT_SIZE": "many"})


def test_settings_from_toml_apply(lake_path: Path) -> None:
    lakebed.connect(lake_path).close()
    toml = lake_path / "lakebed.toml"
    toml.write_text(toml.read_text().replace('# fsync = "always"', 'fsync = "batch"'))
    with lakebed.connect(lake_path) as lake:
        assert lake.settings.fsync == "batch"


def test_api_key_only_for_servers() -> None:
    with pytest.raises(lakebed.InvalidArgument, match="api_key"):
        lakebed.connect(":memory:", api_key="k")
