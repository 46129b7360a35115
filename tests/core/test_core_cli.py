from __future__ import annotations

from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

import lakebed
from lakebed.cli import app

runner = CliRunner()


def _all_commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: click.Command, prefix: list[str]) -> None:
        paths.append(prefix)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "lakebed")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    root = typer.main.get_command(app)
    cmd: click.Command = root
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    assert (cmd.help or "").strip(), f"'lakebed {' '.join(path)}' has no help text"


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert lakebed.__version__ in result.output


def test_init_ls_show_history_sql(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    assert runner.invoke(app, ["init", str(lake_dir)]).exit_code == 0
    with lakebed.connect(lake_dir) as lake:
        lake.tables.create("silver.users", data=[{"id": 1, "name": "ada"}, {"id": 2, "name": "bo"}])
        lake.tables.write("silver.users", [{"id": 3, "name": "cy"}])
    ls = runner.invoke(app, ["tables", "ls", "--lake", str(lake_dir)])
    assert ls.exit_code == 0 and "silver.users" in ls.output
    show = runner.invoke(app, ["tables", "show", "silver.users", "-l", str(lake_dir)])
    assert show.exit_code == 0 and "ada" in show.output and "version 1" in show.output
    hist = runner.invoke(app, ["tables", "history", "silver.users"], env={"LAKEBED_LAKE": str(lake_dir)})
    assert hist.exit_code == 0 and "WRITE" in hist.output
    sql = runner.invoke(app, ["tables", "sql", "SELECT count(*) AS n FROM silver.users", "--lake", str(lake_dir)])
    assert sql.exit_code == 0 and "3" in sql.output


def test_errors_are_one_line_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lakebed import cli

    with pytest.raises(SystemExit) as exit_info:
        import sys

        old = sys.argv
        sys.argv = ["lakebed", "tables", "ls", "--lake", str(tmp_path / "missing")]
        try:
            cli.main()
        finally:
            sys.argv = old
    assert exit_info.value.code == 1
