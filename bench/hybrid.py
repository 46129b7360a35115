"""Hybrid retrieval benchmark: lakebed BM25 / vector / hybrid vs bm25s and LanceDB.

Dataset: ``../shared/datasets/hybrid-dev`` from the project root, or
``$LAKEBED_DATASETS/hybrid-dev`` (man pages; 9,825 chunks of 3,000 pages, 2,931 queries,
all-MiniLM-L6-v2 vectors precomputed for chunks and queries). Evaluation is at
document level: a page's rank is the rank of its best chunk in a 100-chunk result list.
Metrics: nDCG@10, Recall@10, MRR (over the top 100 chunks), and per-query latency p50/p99
(one query at a time, one thread, vectors given: the embedding model is not timed).

Systems:
- lakebed: ``search_text`` (BM25, tantivy), ``search`` (HNSW), ``hybrid_search`` with
  RRF (rrf_k=60) and weighted (alpha=0.5) fusion, defaults otherwise.
- bm25s (the BM25 reference): English stop words + Snowball stemmer (PyStemmer),
  k1=1.2, b=0.75 (lakebed's parameters) and bm25s' default k1=1.5.
- LanceDB: native FTS (English stemming + stop words, its defaults), flat vector search,
  and its hybrid query (RRF reranker, its default).

Run (peers in bench/requirements-hybrid.txt):
    flock /tmp/lakebed-bench.lock python bench/hybrid.py [--dataset PATH] [--queries N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("LANCE_LOG", "error")  # LanceDB prints deprecation warnings per query

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _datasets import dataset_dir

import lakebed

HERE = Path(__file__).resolve().parent
DEFAULT_DATASET = dataset_dir("hybrid-dev")
DEPTH = 100  # chunks retrieved per query

Ranker = Callable[[int], list[int]]  # query index -> chunk row indexes, best first


def load(dataset: Path, n_queries: int | None) -> dict:
    corpus = pq.read_table(dataset / "corpus.parquet")
    queries = pq.read_table(dataset / "queries.parquet")
    qrels: dict[str, set[str]] = {}
    with open(dataset / "qrels.jsonl") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("relevance", 1) > 0:
                qrels.setdefault(r["qid"], set()).add(r["doc_id"])
    cvec = np.load(dataset / "corpus_vectors.f16.npy").astype(np.float32)
    qvec = np.load(dataset / "query_vectors.f16.npy").astype(np.float32)
    n = queries.num_rows if n_queries is None else min(n_queries, queries.num_rows)
    return {
        "texts": corpus.column("text").to_pylist(),
        "doc_ids": corpus.column("doc_id").to_pylist(),
        "cvec": cvec,
        "qids": queries.column("qid").to_pylist()[:n],
        "qtexts": queries.column("text").to_pylist()[:n],
        "qvec": qvec[:n],
        "qrels": qrels,
    }


def evaluate(data: dict, ranker: Ranker) -> dict:
    """Document-level metrics and latency of ``ranker`` over all queries."""
    doc_ids = data["doc_ids"]
    ndcg = rec = mrr = 0.0
    lat = []
    for qi, qid in enumerate(data["qids"]):
        t0 = time.perf_counter()
        rows = ranker(qi)
        lat.append(time.perf_counter() - t0)
        docs: list[str] = []
        seen = set()
        for r in rows:
            d = doc_ids[r]
            if d not in seen:
                seen.add(d)
                docs.append(d)
        rel = data["qrels"].get(qid, set())
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(docs[:10]) if d in rel)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), 10)))
        ndcg += dcg / idcg if idcg else 0.0
        rec += len(set(docs[:10]) & rel) / len(rel) if rel else 0.0
        mrr += next((1 / (i + 1) for i, d in enumerate(docs) if d in rel), 0.0)
    n = len(data["qids"])
    lat_ms = sorted(x * 1000 for x in lat)
    return {
        "ndcg@10": ndcg / n,
        "recall@10": rec / n,
        "mrr": mrr / n,
        "p50_ms": statistics.median(lat_ms),
        "p99_ms": lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))],
    }


# -- lakebed -------------------------------------------------------------------------------
def lakebed_systems(data: dict, workdir: Path) -> tuple[dict[str, Ranker], dict]:
    lake = lakebed.connect(workdir / "lake", fsync="batch")
    dim = data["cvec"].shape[1]
    # Exact vector search, like LanceDB's table without a vector index, so that the
    # fusion comparison is not about ANN recall; the HNSW default is reported beside it.
    col = lake.collections.create("man", dim=dim, metric="cosine", text_field=True, index={"type": "flat"})
    hnsw = lake.collections.create("man_hnsw", dim=dim, metric="cosine")
    n = len(data["texts"])
    t0 = time.perf_counter()
    for i in range(0, n, 2000):
        ids = list(range(i, min(i + 2000, n)))
        col.upsert(ids, data["cvec"][i : i + 2000], texts=data["texts"][i : i + 2000])
    col.flush()
    build = time.perf_counter() - t0
    for i in range(0, n, 2000):
        hnsw.upsert(list(range(i, min(i + 2000, n))), data["cvec"][i : i + 2000])
    hnsw.flush()

    def rows(hits: list) -> list[int]:
        return [int(h.id) for h in hits]

    qt, qv = data["qtexts"], data["qvec"]
    systems: dict[str, Ranker] = {
        "lakebed BM25": lambda i: rows(col.search_text(qt[i], k=DEPTH)),
        "lakebed vector (flat)": lambda i: rows(col.search(qv[i], k=DEPTH)),
        "lakebed vector (HNSW, default ef_search=64)": lambda i: rows(hnsw.search(qv[i], k=DEPTH)),
        "lakebed hybrid RRF": lambda i: rows(col.hybrid_search(qt[i], vector=qv[i], k=DEPTH)),
        "lakebed hybrid weighted (alpha=0.5)": lambda i: rows(
            col.hybrid_search(qt[i], vector=qv[i], k=DEPTH, fusion="weighted", alpha=0.5)
        ),
    }
    info = {"lakebed build s": build, "_lake": lake}
    return systems, info


# -- bm25s ----------------------------------------------------------------------------------
def bm25s_systems(data: dict) -> dict[str, Ranker]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    out: dict[str, Ranker] = {}
    corpus_tokens = bm25s.tokenize(data["texts"], stopwords="en", stemmer=stemmer, show_progress=False)
    for k1 in (1.2, 1.5):
        retriever = bm25s.BM25(k1=k1, b=0.75)
        retriever.index(corpus_tokens, show_progress=False)

        def rank(i: int, r=retriever) -> list[int]:
            q = bm25s.tokenize([data["qtexts"][i]], stopwords="en", stemmer=stemmer, show_progress=False)
            if not q.vocab:
                return []
            res, _ = r.retrieve(q, k=DEPTH, show_progress=False, n_threads=1)
            return [int(x) for x in res[0]]

        label = "bm25s (k1=1.2, b=0.75)" if k1 == 1.2 else "bm25s (k1=1.5, its default)"
        out[label] = rank
    return out


# -- LanceDB --------------------------------------------------------------------------------
def lancedb_systems(data: dict, workdir: Path) -> dict[str, Ranker]:
    import lancedb

    db = lancedb.connect(str(workdir / "lancedb"))
    table = pa.table(
        {
            "row": pa.array(range(len(data["texts"])), pa.int64()),
            "text": pa.array(data["texts"]),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(data["cvec"].reshape(-1)), data["cvec"].shape[1]),
        }
    )
    tbl = db.create_table("man", table)
    tbl.create_fts_index("text")  # English stemming, stop words, ASCII folding (its defaults)
    qt, qv = data["qtexts"], data["qvec"]

    def rows(res: pa.Table) -> list[int]:
        return res.column("row").to_pylist()

    return {
        "LanceDB FTS": lambda i: rows(tbl.search(qt[i], query_type="fts").limit(DEPTH).select(["row"]).to_arrow()),
        "LanceDB vector (flat)": lambda i: rows(
            tbl.search(qv[i], query_type="vector").distance_type("cosine").limit(DEPTH).select(["row"]).to_arrow()
        ),
        "LanceDB hybrid (RRF)": lambda i: rows(
            tbl.search(query_type="hybrid").vector(qv[i]).text(qt[i]).limit(DEPTH).select(["row"]).to_arrow()
        ),
    }


def markdown(results: dict[str, dict], meta: dict) -> str:
    ref = results.get("bm25s (k1=1.2, b=0.75)", {}).get("ndcg@10")
    lines = [
        "# Hybrid retrieval benchmark",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}",
        f"- dataset: {meta['dataset']} ({meta['chunks']:,} chunks of {meta['pages']:,} man pages, "
        f"{meta['queries']:,} queries; vectors: all-MiniLM-L6-v2, precomputed)",
        f"- evaluation: document level (a page ranks at its best chunk), top {DEPTH} chunks per query; "
        "latency per query, one thread, sequential, query vectors given (model not timed)",
        f"- lakebed: upsert + BM25 index + seal of {meta['chunks']:,} points (flat index): "
        f"{meta['lakebed build s']:.1f} s; hybrid candidates per side: max(50, k) = {DEPTH}",
        "",
        "| system | nDCG@10 | Recall@10 | MRR | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | {r['mrr']:.4f} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        )
    lines.append("")
    if ref is not None and "lakebed BM25" in results:
        lines.append(
            f"lakebed BM25 nDCG@10 minus bm25s (same k1, b, stemming, stop words): "
            f"{results['lakebed BM25']['ndcg@10'] - ref:+.4f} (target: within 0.02)."
        )
    best_single = max(
        results.get("lakebed BM25", {}).get("ndcg@10", 0), results.get("lakebed vector (flat)", {}).get("ndcg@10", 0)
    )
    lance = results.get("LanceDB hybrid (RRF)", {}).get("ndcg@10")
    for name in ("lakebed hybrid RRF", "lakebed hybrid weighted (alpha=0.5)"):
        if name in results:
            lines.append(
                f"{name}: {results[name]['ndcg@10'] - best_single:+.4f} nDCG@10 over the best single mode"
                + (f", {results[name]['ndcg@10'] - lance:+.4f} over LanceDB hybrid." if lance else ".")
            )
    lines.append("")
    lines.append(f"Versions: {meta['versions']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--queries", type=int, default=None, help="only the first N queries")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "hybrid.md")
    ap.add_argument("--skip-peers", action="store_true")
    args = ap.parse_args()
    data = load(args.dataset, args.queries)
    workdir = Path(tempfile.mkdtemp(prefix="lakebed-bench-hybrid-"))
    results: dict[str, dict] = {}
    versions = {"lakebed": lakebed.__version__, "python": platform.python_version()}
    try:
        systems, info = lakebed_systems(data, workdir)
        if not args.skip_peers:
            import bm25s
            import lancedb

            versions.update({"bm25s": bm25s.__version__, "lancedb": lancedb.__version__})
            systems.update(bm25s_systems(data))
            systems.update(lancedb_systems(data, workdir))
        for name, ranker in systems.items():
            for i in range(min(20, len(data["qids"]))):  # warm caches and lazy inits
                ranker(i)
            results[name] = evaluate(data, ranker)
            r = results[name]
            print(
                f"{name:40s} nDCG@10 {r['ndcg@10']:.4f}  R@10 {r['recall@10']:.4f}  MRR {r['mrr']:.4f}  "
                f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms",
                flush=True,
            )
        info["_lake"].close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} (shared with other jobs)",
        "dataset": args.dataset.name,
        "chunks": len(data["texts"]),
        "pages": len(set(data["doc_ids"])),
        "queries": len(data["qids"]),
        "lakebed build s": info["lakebed build s"],
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(results, meta))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
