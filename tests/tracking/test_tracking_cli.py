"""The tracking CLI: runs ls/show/compare, models ls/show, lineage."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

import lakebed
from lakebed.tracking.cli import lineage_command, models_app, runs_app

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def lake_dir(tmp_path):
    path = tmp_path / "lake"
    with lakebed.connect(path) as lake:
        lake.tables.create("gold.train", data=[{"x": 1.0, "y": 0}])
        ids = []
        for lr in (0.1, 0.01):
            with lake.runs.start(experiment="fraud", name=f"lr{lr}") as run:
                run.log_input("gold.train@0")
                run.log_params({"lr": lr, "same": 1})
                run.log_metric("auc", 0.5 + lr)
                run.log_model({"lr": lr})
            ids.append(run.id)
        lake.models.register("fraud", run=ids[0])
        lake.models.set_alias("fraud", "champion", 1)
    return str(path), ids


def _lineage_app() -> typer.Typer:
    app = typer.Typer()
    app.command("lineage")(lineage_command)
    app.command("noop", hidden=True)(lambda: None)
    return app


def test_runs_ls_show_compare(lake_dir):
    path, ids = lake_dir
    res = runner.invoke(runs_app, ["ls", "--lake", path], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "2 run(s)" in res.output and ids[0][:12] in res.output
    res = runner.invoke(runs_app, ["ls", "--lake", path, "-f", "metrics.auc > 0.55"], terminal_width=200)
    assert res.exit_code == 0 and "1 run(s)" in res.output
    res = runner.invoke(runs_app, ["show", ids[0][:8], "--lake", path], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "table:gold.train@0" in res.output and "auc" in res.output and "model" in res.output
    res = runner.invoke(runs_app, ["compare", ids[0], ids[1], "--lake", path], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "params.lr" in res.output and "params.same" not in res.output


def test_runs_errors_exit_nonzero(lake_dir):
    path, _ = lake_dir
    res = runner.invoke(runs_app, ["show", "zzzz", "--lake", path])
    assert res.exit_code == 1 and "no run" in res.output
    res = runner.invoke(runs_app, ["ls", "--lake", path, "-f", "metrics.auc >"], terminal_width=200)
    assert res.exit_code == 1 and "^" in res.output


def test_models_ls_show(lake_dir):
    path, ids = lake_dir
    res = runner.invoke(models_app, ["ls", "--lake", path], terminal_width=200)
    assert res.exit_code == 0 and "fraud" in res.output and "champion" in res.output
    res = runner.invoke(models_app, ["show", "fraud@champion", "--lake", path], terminal_width=200)
    assert res.exit_code == 0 and ids[0][:12] in res.output
    res = runner.invoke(models_app, ["show", "fraud", "--lake", path], terminal_width=200)
    assert res.exit_code == 0


def test_lineage_tree(lake_dir):
    path, ids = lake_dir
    app = _lineage_app()
    res = runner.invoke(app, ["lineage", "model:fraud@champion", "--lake", path], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert f"run:{ids[0]}" in res.output and "table:gold.train@0" in res.output
    res = runner.invoke(app, ["lineage", "table:gold.train@0", "-d", "--lake", path], terminal_width=200)
    assert res.exit_code == 0 and "model:fraud@1" in res.output


def test_every_command_has_help():
    for app in (runs_app, models_app, _lineage_app()):
        for cmd in app.registered_commands:
            if cmd.hidden:
                continue
            assert cmd.help or (cmd.callback and cmd.callback.__doc__), cmd.name
    for args in (["ls", "--help"], ["show", "--help"], ["compare", "--help"]):
        assert runner.invoke(runs_app, args).exit_code == 0
