from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import lakebed
from lakebed.cli import app

runner = CliRunner()


def _all_commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: Any, prefix: list[str]) -> None:
        paths.append(prefix)
        if hasattr(cmd, "list_commands"):  # a group (typer's own click)
            ctx = type(cmd).context_class(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "lakebed")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    root = typer.main.get_command(app)
    cmd: Any = root
    for name in path:
        assert hasattr(cmd, "get_command")
        sub = cmd.get_command(type(cmd).context_class(cmd), name)
        assert sub is not None
        cmd = sub
    assert (cmd.help or "").strip(), f"'lakebed {' '.join(path)}' has no help text"


def test_area_commands_load_lazily_with_the_listed_help() -> None:
    """`lakebed --help` lists area commands from a table without importing them; the
    table's one-line help must be the command's own."""
    import subprocess
    import sys

    from lakebed.cli import LAZY_COMMANDS, load_command

    for name, (_, _, listed) in LAZY_COMMANDS.items():
        cmd = load_command(name)
        assert cmd.name == name
        assert (cmd.help or "").strip().splitlines()[0] == listed, name
    code = ("import sys; from typer.testing import CliRunner; from lakebed.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
            "assert 'collections' in r.output and 'ingest' in r.output; "
            "print(sorted(m for m in ('faiss', 'tantivy', 'torch', 'lakebed.vectors') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


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


def _lake_options() -> list[tuple[str, Any]]:
    """Every command's --lake option (or lake path argument) with its default."""
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []
    for path in _all_commands():
        cmd: Any = root
        for name in path:
            cmd = cmd.get_command(type(cmd).context_class(cmd), name)
        for param in getattr(cmd, "params", []):
            if "--lake" in getattr(param, "opts", ()) or (
                param.name == "path" and path and path[-1] in ("init", "check", "repair")
            ):
                found.append((" ".join(path), param.default))
    return found


def test_every_lake_option_defaults_to_dot_slash_lake() -> None:
    options = _lake_options()
    names = {name for name, _ in options}
    for expected in ("tables ls", "keys ls", "collections ls", "features ls", "runs ls", "models ls",
                     "lineage", "ingest", "query", "init", "check", "repair"):
        assert expected in names, expected
    wrong = [(name, default) for name, default in options if str(default) not in ("./lake", "lake")]
    assert wrong == []
    assert {Path(str(d)) for _, d in options} == {Path("./lake")}


def test_init_then_area_commands_find_the_lake_without_lake_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAKEBED_LAKE", raising=False)
    assert runner.invoke(app, ["init", "./lake"]).exit_code == 0
    for command in (["collections", "ls"], ["tables", "ls"], ["runs", "ls"], ["models", "ls"],
                    ["features", "ls"], ["keys", "ls"], ["check"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)


def test_error_messages_keep_their_brackets(
    lake_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakebed import cli

    lakebed.connect(lake_path).close()
    with open(lake_path / "lakebed.toml", "a") as fh:
        fh.write("segmnt_size = 10\n")
    monkeypatch.setattr("sys.argv", ["lakebed", "tables", "ls", "--lake", str(lake_path)])
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    assert "in [settings] of" in capsys.readouterr().out


def test_check_and_repair_commands_on_an_intact_lake(lake_path: Path) -> None:
    lakebed.connect(lake_path).close()
    result = runner.invoke(app, ["check", str(lake_path), "--json"])
    assert result.exit_code == 0 and '"problems": []' in result.output
    result = runner.invoke(app, ["repair", str(lake_path)])
    assert result.exit_code == 0 and "nothing to repair" in result.output
