"""Ingestion benchmark: lakebed RAG ingestion vs LangChain's recursive splitter, same model.

Documents: man pages from ``../shared/datasets/hybrid-dev`` (from the project root, or
``$LAKEBED_DATASETS/hybrid-dev``; a page's chunks joined back
into one Markdown file per page, ``# <command>`` then its paragraphs), written to a
temporary folder. Both pipelines embed with the same all-MiniLM-L6-v2 embedder
(``lakebed.rag.embedders.get_embedder("minilm")``: CPU, batch 64, bf16 autocast where the
CPU has native bf16, float32 elsewhere; the report says which and why), loaded and warmed
up before timing.

- lakebed: ``lake.rag.ingest(folder)``: read, hash, parse Markdown, structure-aware
  chunking (180 words, overlap 30), embed, upsert into a collection (WAL, BM25 text
  index, seal + FAISS HNSW), catalog rows and lineage.
- LangChain: read files, ``RecursiveCharacterTextSplitter`` (1,100 characters ~ 180
  words, overlap 180 characters), embed. Nothing is stored: its total is a lower bound
  of a pipeline that also writes somewhere.

The model dominates; the report gives totals, the embedding time and the rest
("non-embedding overhead").

    flock /tmp/lakebed-bench.lock python bench/ingest.py [--pages 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from _datasets import dataset_dir

import lakebed
from lakebed.rag.embedders import get_embedder

HERE = Path(__file__).resolve().parent
DEFAULT_DATASET = dataset_dir("hybrid-dev")


def write_docs(dataset: Path, folder: Path, pages: int) -> int:
    t = pq.read_table(dataset / "corpus.parquet", columns=["doc_id", "chunk_index", "text"]).to_pylist()
    by_doc: dict[str, list[tuple[int, str]]] = {}
    for r in t:
        by_doc.setdefault(r["doc_id"], []).append((r["chunk_index"], r["text"]))
    names = sorted(by_doc)[:pages]
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in names:
        body = "\n\n".join(text for _, text in sorted(by_doc[name]))
        data = f"# {name}\n\n{body}\n"
        (folder / f"{name}.md").write_text(data)
        total += len(data)
    return total


def run_lakebed(folder: Path, work: Path) -> dict:
    with lakebed.connect(work / "lake") as lake:
        t0, c0 = time.perf_counter(), time.process_time()
        report = lake.rag.ingest(folder, collection="man", embedder="minilm")
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "docs": len(report.added),
        "chunks": report.chunks,
        "total": total,
        "cpu": cpu,
        "embed": report.embed_seconds,
    }


def run_langchain(folder: Path, emb) -> dict:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1100, chunk_overlap=180)
    t0, c0 = time.perf_counter(), time.process_time()
    texts: list[str] = []
    n_docs = 0
    for path in sorted(folder.glob("*.md")):
        texts.extend(splitter.split_text(path.read_text()))
        n_docs += 1
    t1 = time.perf_counter()
    vectors = [emb.embed(texts[i : i + 256]) for i in range(0, len(texts), 256)]
    t2, cpu = time.perf_counter(), time.process_time() - c0
    assert sum(len(v) for v in vectors) == len(texts)
    return {"docs": n_docs, "chunks": len(texts), "total": t2 - t0, "cpu": cpu, "embed": t2 - t1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ingest.md")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lakebed-bench-ingest-"))
    try:
        chars = write_docs(args.dataset, work / "docs", args.pages)
        emb = get_embedder("minilm")
        t0 = time.perf_counter()
        emb.embed(["warm up the model"] * 64)
        load_s = time.perf_counter() - t0
        results = {}
        results["lakebed rag.ingest"] = run_lakebed(work / "docs", work)
        results["LangChain recursive splitter + embed"] = run_langchain(work / "docs", emb)
        choice = getattr(emb, "dtype_choice", None)
        dtype = f"{choice.dtype} ({choice.reason})" if choice is not None else "float32"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "# Ingestion benchmark",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} (shared with other jobs)",
        f"- documents: {args.pages} man pages of {args.dataset.name} as Markdown files ({chars / 1e6:.2f} MB)",
        f"- embedder (both): all-MiniLM-L6-v2, CPU, batch 64, {dtype}; model load + warm-up "
        f"{load_s:.1f} s, not counted",
        "- lakebed: chunk_size 180 words, overlap 30; LangChain: 1,100 characters, overlap 180",
        "",
        "| pipeline | docs | chunks | total s | CPU s | docs/s | chunks/s | embedding s | non-embedding s | "
        "non-embedding ms/chunk |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        other = r["total"] - r["embed"]
        lines.append(
            f"| {name} | {r['docs']} | {r['chunks']} | {r['total']:.1f} | {r['cpu']:.1f} | "
            f"{r['docs'] / r['total']:.1f} | "
            f"{r['chunks'] / r['total']:.1f} | {r['embed']:.1f} | {other:.2f} | "
            f"{1000 * other / max(r['chunks'], 1):.2f} |"
        )
        print(f"{name:40s} {r}")
    lb, lc = results["lakebed rag.ingest"], results["LangChain recursive splitter + embed"]
    lines += [
        "",
        f"Embedding share of the total: lakebed {lb['embed'] / lb['total']:.0%}, LangChain "
        f"{lc['embed'] / lc['total']:.0%}. Embedding throughput: lakebed "
        f"{lb['chunks'] / lb['embed']:.1f} chunks/s, LangChain {lc['chunks'] / lc['embed']:.1f} chunks/s "
        "(chunk counts and lengths differ with the splitters).",
        f"lakebed's non-embedding work (parse, chunk, WAL, BM25 index, seal + HNSW, catalog) is "
        f"{lb['total'] - lb['embed']:.2f} s for {lb['chunks']} chunks; LangChain's (split only, "
        f"no storage) {lc['total'] - lc['embed']:.2f} s.",
        "",
        f"Versions: lakebed {lakebed.__version__}, numpy {np.__version__}",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
