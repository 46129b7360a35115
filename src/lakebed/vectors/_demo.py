"""The vector collections section of ``lakebed demo``: a short, deterministic tour."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table

_TOPICS = ["databases", "networking", "compilers", "graphics", "security"]


def demo_section(lake: Any, console: Any) -> None:
    """Build a small collection with payloads, run filtered searches, print the plans."""
    console.rule("[bold]Vector collections")
    rng = np.random.default_rng(42)
    dim, n = 64, 20_000
    centers = rng.standard_normal((len(_TOPICS), dim)).astype(np.float32)
    topic = rng.integers(0, len(_TOPICS), n)
    vectors = centers[topic] + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)
    payloads = [
        {"topic": _TOPICS[t], "year": int(2000 + (i * 7) % 25), "meta": {"lang": "en" if i % 3 else "de"}}
        for i, t in enumerate(topic.tolist())
    ]
    name = "demo_docs"
    if lake.collections.exists(name):
        lake.collections.drop(name)
    col = lake.collections.create(name, dim=dim, metric="cosine", index={"type": "hnsw", "m": 16})
    for start in range(0, n, 5_000):
        stop = start + 5_000
        col.upsert(list(range(start, stop)), vectors[start:stop], payloads=payloads[start:stop])
    console.print(f"upserted {n:,} points of {dim} dimensions into [cyan]{name}[/cyan]")
    col.create_payload_index("topic", "keyword")
    col.create_payload_index("year", "integer")
    col.flush()
    st = col.stats()
    console.print(
        f"sealed: {st['points']:,} points in {st['segments']} segment(s), version {st['version']}, "
        f"{st['bytes_on_disk'] / 1e6:.1f} MB on disk"
    )
    query = centers[2] + 0.5 * rng.standard_normal(dim).astype(np.float32)
    cases = [
        ("no filter", None),
        ("topic = compilers, year >= 2020", {"topic": "compilers", "year": {"$gte": 2020}}),
        ("lang = de (nested path)", {"meta.lang": "de"}),
        ("topic in [graphics, security] or year < 2003",
         {"$or": [{"topic": {"$in": ["graphics", "security"]}}, {"year": {"$lt": 2003}}]}),
    ]
    table = Table("filter", "matching", "plan", "top ids", "top score")
    for label, flt in cases:
        plan = col.explain(query, k=5, filter=flt)
        hits = col.search(query, k=5, filter=flt)
        table.add_row(escape(label), f"{plan['matching']:,}", plan["plan"], ", ".join(str(h.id) for h in hits),
                      f"{hits[0].score:.3f}" if hits else "-")
    console.print(table)
    removed = col.delete(filter={"topic": "networking", "year": {"$lt": 2005}})
    console.print(f"deleted {removed:,} points by filter; {col.count():,} remain "
                  f"(tombstones are excluded inside the FAISS kernel)")
    console.print(f"versions kept: {[v['version'] for v in col.versions()]}")
