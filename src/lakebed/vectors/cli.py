"""``lakebed collections ...``: list, inspect, search and maintain vector collections.

A thin layer over :class:`lakebed.vectors.Collections`; mounted by the main CLI.

Example:
    $ lakebed collections ls --lake ./lake
    $ lakebed collections search docs --vector "[0.1, 0.2, ...]" --filter '{"lang": "en"}'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

import lakebed
from lakebed.config import DEFAULT_LAKE
from lakebed.errors import InvalidArgument, LakebedError
from lakebed.lake import open_local

app = typer.Typer(help="Vector collections: list, inspect, search, flush, compact, vacuum.", no_args_is_help=True)
console = Console()

LakeOpt = typer.Option(Path(DEFAULT_LAKE), "--lake", "-l", help="Path of the lake.", envvar="LAKEBED_LAKE")


def _open(lake: Path, read_only: bool = True) -> lakebed.Lake:
    try:
        return open_local(lake, read_only=read_only, create=False)
    except LakebedError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command("ls")
def ls(lake: Path = LakeOpt) -> None:
    """List the collections of a lake with their size and configuration."""
    with _open(lake) as lk:
        table = Table("name", "dim", "metric", "index", "quantization", "points", "segments", "version")
        for name in lk.collections.list():
            try:
                st = lk.collections.open(name).stats()
            except LakebedError as exc:
                table.add_row(name, "?", "?", f"[red]{exc}[/red]", "", "", "", "")
                continue
            table.add_row(name, str(st["dim"]), st["metric"], st["index"]["type"], str(st["quantization"] or "-"),
                          str(st["points"]), str(st["segments"]), str(st["version"]))
        console.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="Collection name."), lake: Path = LakeOpt) -> None:
    """Show a collection's statistics, payload indexes and versions."""
    with _open(lake) as lk:
        try:
            col = lk.collections.open(name)
        except LakebedError as exc:
            _fail(exc)
        st = col.stats()
        table = Table("property", "value", title=f"collection {name}")
        for key, value in st.items():
            table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
        console.print(table)
        versions = Table("version", "points", "segments", title="versions")
        for v in col.versions():
            versions.add_row(str(v["version"]), str(v["points"]), str(v["segments"]))
        console.print(versions)


def _parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"--{what} is not valid JSON: {exc}") from None


@app.command("search")
def search(
    name: str = typer.Argument(..., help="Collection name."),
    vector: str = typer.Option(None, "--vector", "-v", help="Query vector as a JSON list."),
    text: str = typer.Option(None, "--text", "-t", help="Query text (needs an embedder or a text field)."),
    k: int = typer.Option(10, "--k", "-k", help="Number of results."),
    filter: str = typer.Option(None, "--filter", "-f", help='Payload filter as JSON, e.g. \'{"lang": "en"}\'.'),
    exact: bool = typer.Option(False, "--exact", help="Brute-force instead of the index."),
    explain: bool = typer.Option(False, "--explain", help="Print the plan too."),
    lake: Path = LakeOpt,
) -> None:
    """Search a collection by vector (or text) and print the hits."""
    with _open(lake) as lk:
        try:
            col = lk.collections.open(name)
            flt = _parse_json(filter, "filter")
            if vector is not None:
                vec = _parse_json(vector, "vector")
                hits = col.search(vec, k=k, filter=flt, exact=exact)
                plan = col.explain(vec, k=k, filter=flt, exact=exact) if explain else None
            elif text is not None:
                query = getattr(col, "query", None)
                if query is None:
                    raise InvalidArgument("text search is not available in this build")
                hits = query(text, k=k, filter=flt)
                plan = None
            else:
                raise InvalidArgument("pass --vector or --text")
        except LakebedError as exc:
            _fail(exc)
        table = Table("#", "id", "score", "payload", "text")
        for i, h in enumerate(hits, 1):
            table.add_row(str(i), str(h.id), f"{h.score:.4f}", json.dumps(h.payload)[:80], (h.text or "")[:60])
        console.print(table)
        if plan is not None:
            console.print_json(data=plan)


@app.command("flush")
def flush(name: str = typer.Argument(..., help="Collection name."), lake: Path = LakeOpt) -> None:
    """Seal the growing segment (build its index) and publish a new version."""
    with _open(lake, read_only=False) as lk, console.status(f"sealing {name} ..."):
        try:
            lk.collections.open(name).flush()
        except LakebedError as exc:
            _fail(exc)
    console.print(f"[green]flushed[/green] {name}")


@app.command("compact")
def compact(name: str = typer.Argument(..., help="Collection name."), lake: Path = LakeOpt) -> None:
    """Rewrite segments with many deletes and merge small segments."""
    with _open(lake, read_only=False) as lk, console.status(f"compacting {name} ..."):
        try:
            result = lk.collections.open(name).compact()
        except LakebedError as exc:
            _fail(exc)
    console.print_json(data=result)


@app.command("vacuum")
def vacuum(
    name: str = typer.Argument(..., help="Collection name."),
    keep: int = typer.Option(1, "--keep", help="Versions to keep."),
    lake: Path = LakeOpt,
) -> None:
    """Delete old versions and the files only they used."""
    with _open(lake, read_only=False) as lk:
        try:
            result = lk.collections.open(name).vacuum(keep_versions=keep)
        except LakebedError as exc:
            _fail(exc)
    console.print_json(data=result)


@app.command("drop")
def drop(
    name: str = typer.Argument(..., help="Collection name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    lake: Path = LakeOpt,
) -> None:
    """Delete a collection and all its data."""
    if not yes and not typer.confirm(f"drop collection {name!r} and all its data?"):
        raise typer.Exit(1)
    with _open(lake, read_only=False) as lk:
        try:
            lk.collections.drop(name)
        except LakebedError as exc:
            _fail(exc)
    console.print(f"[green]dropped[/green] {name}")
