"""Command line of the rag area: ``lakebed ingest PATH...`` and ``lakebed query COLLECTION
QUESTION``. The lead registers :func:`ingest_command` and :func:`query_command`.

Example:
    $ lakebed ingest docs/ notes/*.md --lake ./lake --collection docs
    $ lakebed query docs "how do I install it?" --lake ./lake --mode hybrid
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import lakebed
from lakebed.config import DEFAULT_LAKE
from lakebed.errors import LakebedError
from lakebed.rag.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from lakebed.rag.ingest import FileResult

__all__ = ["ingest_command", "query_command"]

LakeOpt = Annotated[
    str,
    typer.Option("--lake", "-l", envvar="LAKEBED_LAKE", help="Path of the lake (or LAKEBED_LAKE)."),
]


def _fail(console: Console, exc: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(1)


def ingest_command(
    paths: Annotated[list[str], typer.Argument(help="Files, directories (recursive) or glob patterns.")],
    lake: LakeOpt = DEFAULT_LAKE,
    collection: Annotated[str, typer.Option("--collection", "-c", help="Target collection.")] = "docs",
    embedder: Annotated[
        str | None,
        typer.Option(help="Embedder of a new collection: minilm (default) or hash; existing ones keep theirs."),
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Tokens (words) per chunk at most.")] = DEFAULT_CHUNK_SIZE,
    overlap: Annotated[int, typer.Option(help="Tokens shared by consecutive windows.")] = DEFAULT_OVERLAP,
) -> None:
    """Ingest documents (.txt .md .html .pdf) into a collection: chunk, embed, index.

    Unchanged files are skipped; changed files have their chunks replaced.
    """
    console = Console()
    try:
        with (
            lakebed.connect(lake, create=True) as lk,
            Progress(
                TextColumn("[bold]ingest[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task("scanning", total=None)

            def progress(result: FileResult, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=Path(result.source).name)

            report = lk.rag.ingest(
                paths,
                collection=collection,
                chunk_size=chunk_size,
                overlap=overlap,
                embedder=embedder,
                progress=progress,
            )
    except LakebedError as exc:
        raise _fail(console, exc) from None
    if not report.files:
        console.print("[yellow]no .txt, .md, .html or .pdf files found in the given paths[/]")
        raise typer.Exit(1)
    for f in report.failed:
        console.print(f"[red]failed[/] {f.source}: {f.error}")
    colour = "yellow" if report.failed else "green"
    console.print(f"[bold {colour}]{report.summary()}[/]")
    if report.files and len(report.failed) == len(report.files):
        raise typer.Exit(1)


def query_command(
    collection: Annotated[str, typer.Argument(help="Collection to search.")],
    question: Annotated[str, typer.Argument(help="The question, in words.")],
    lake: LakeOpt = DEFAULT_LAKE,
    mode: Annotated[str, typer.Option(help="hybrid (BM25 + vectors), vector or text (BM25).")] = "hybrid",
    k: Annotated[int, typer.Option("-k", "--k", help="Number of chunks.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Retrieve the chunks of COLLECTION that best answer QUESTION, with citations."""
    console = Console()
    try:
        with lakebed.connect(lake, read_only=True) as lk:
            chunks = lk.rag.retrieve(question, k=k, collection=collection, mode=mode)
    except LakebedError as exc:
        raise _fail(console, exc) from None
    if as_json:
        rows = [
            {
                "rank": i,
                "score": c.score,
                "citation": c.citation,
                "source": c.source,
                "page": c.page,
                "start": c.start,
                "end": c.end,
                "text": c.text,
            }
            for i, c in enumerate(chunks, start=1)
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not chunks:
        console.print("no matching chunks")
        return
    table = Table(title=f"{collection}: {question}", header_style="bold cyan", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("source")
    table.add_column("text")
    for i, c in enumerate(chunks, start=1):
        text = c.text if len(c.text) <= 300 else c.text[:297] + "..."
        table.add_row(str(i), f"{c.score:.4f}", c.citation, text)
    console.print(table)
