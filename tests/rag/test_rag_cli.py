"""The rag commands, driven through a Typer app as the lead mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from lakebed.rag.cli import ingest_command, query_command

app = typer.Typer()
app.command("ingest")(ingest_command)
app.command("query")(query_command)
runner = CliRunner()


def test_ingest_then_query(tmp_path: Path, docs_dir: Path) -> None:
    lake = str(tmp_path / "lake")
    (docs_dir / "broken.pdf").write_bytes(b"not a pdf")
    res = runner.invoke(app, ["ingest", str(docs_dir), "--lake", lake, "--embedder", "hash"])
    assert res.exit_code == 0, res.output
    assert "4 added" in res.output and "1 failed" in res.output and "broken.pdf" in res.output
    res = runner.invoke(app, ["ingest", str(docs_dir), "--lake", lake])
    assert "4 unchanged" in res.output
    res = runner.invoke(app, ["query", "docs", "write-ahead log checksum", "--lake", lake, "--json", "-k", "2"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert len(rows) == 2 and rows[0]["source"].endswith("manual.pdf") and rows[0]["page"] == 1
    res = runner.invoke(app, ["query", "docs", "time travel", "--lake", lake, "--mode", "text"])
    assert res.exit_code == 0 and "notes.txt" in res.output


def test_errors_exit_with_a_message(tmp_path: Path, docs_dir: Path) -> None:
    lake = str(tmp_path / "lake")
    runner.invoke(app, ["ingest", str(docs_dir / "guide.md"), "--lake", lake, "--embedder", "hash"])
    res = runner.invoke(app, ["query", "nope", "x", "--lake", lake])
    assert res.exit_code == 1 and "no collection 'nope'" in res.output
    res = runner.invoke(app, ["query", "docs", "x", "--lake", lake, "--mode", "fuzzy"])
    assert res.exit_code == 1 and "unknown mode" in res.output
    res = runner.invoke(app, ["ingest", str(tmp_path / "empty"), "--lake", lake])
    assert res.exit_code == 1
    for cmd in ("ingest", "query"):
        assert runner.invoke(app, [cmd, "--help"]).exit_code == 0
