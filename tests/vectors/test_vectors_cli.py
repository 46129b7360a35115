"""The ``collections`` CLI and the demo section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.console import Console
from typer.testing import CliRunner

import lakebed
from lakebed.vectors._demo import demo_section
from lakebed.vectors.cli import app

runner = CliRunner()


def test_every_command_has_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("ls", "show", "search", "flush", "compact", "vacuum", "drop"):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0, cmd
        assert "Usage" in res.output


def test_ls_show_search(lake_path: Path) -> None:
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.create("docs", dim=3)
        col.upsert([1, 2], np.eye(3)[:2], payloads=[{"lang": "en"}, {"lang": "de"}])
    res = runner.invoke(app, ["ls", "--lake", str(lake_path)])
    assert res.exit_code == 0 and "docs" in res.output
    res = runner.invoke(app, ["show", "docs", "--lake", str(lake_path)])
    assert res.exit_code == 0 and "points" in res.output
    res = runner.invoke(app, ["search", "docs", "--vector", json.dumps([1, 0, 0]), "--filter",
                              json.dumps({"lang": "de"}), "--lake", str(lake_path)])
    assert res.exit_code == 0, res.output
    assert "de" in res.output
    res = runner.invoke(app, ["search", "docs", "--vector", "[1, 0]", "--lake", str(lake_path)])
    assert res.exit_code == 1 and "error" in res.output
    res = runner.invoke(app, ["flush", "docs", "--lake", str(lake_path)])
    assert res.exit_code == 0
    res = runner.invoke(app, ["drop", "docs", "--yes", "--lake", str(lake_path)])
    assert res.exit_code == 0
    with lakebed.connect(lake_path) as lake:
        assert lake.collections.list() == []


def test_demo_section_runs(lake: lakebed.Lake) -> None:
    console = Console(record=True, width=120)
    demo_section(lake, console)
    text = console.export_text()
    assert "exact_subset" in text and "demo_docs" in text
