"""Congruence of collections: embedded and served lakes answer the same, filters included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import lakebed


def _hits(hits: list[Any]) -> list[tuple[Any, float, dict[str, Any]]]:
    return [(h.id, round(float(h.score), 4), h.payload) for h in hits]


def _recorder() -> tuple[list[Any], Callable[[Callable[[], Any]], None]]:
    """A list of answers and ``step(fn)``, which appends ``fn()`` (or its error's type)."""
    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            out.append(fn())
        except lakebed.LakebedError as exc:
            out.append(("error", type(exc).__name__))

    return out, step


def _script(lake: Any) -> list[Any]:
    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(300, 16)).astype(np.float32)
    payloads = [{"cat": ["a", "b", "c"][i % 3], "year": 2000 + i % 25, "tags": {"n": i % 7}} for i in range(300)]
    texts = [f"document {i} about {'cats' if i % 2 else 'dogs'} and number {i % 10}" for i in range(300)]
    queries = rng.normal(size=(5, 16)).astype(np.float32)
    out, step = _recorder()

    step(lambda: lake.collections.create("docs", dim=16, metric="cosine", text_field=True) and None)
    step(lambda: lake.collections.create("docs", dim=16) and None)
    col = lake.collections.open("docs")
    step(lambda: col.upsert(list(range(300)), vecs, payloads=payloads, texts=texts))
    step(lambda: col.upsert([1, 1], vecs[:2]))                      # duplicate ids
    step(lambda: col.upsert([1000], vecs[:1, :8]))                  # wrong dimension
    step(lambda: col.upsert([1000], np.full((1, 16), np.nan)))      # NaN
    step(lambda: col.count())
    step(lambda: col.count({"cat": "a", "year": {"$gte": 2010}}))
    step(lambda: col.create_payload_index("cat", "keyword"))
    for q in queries:
        step(lambda q=q: _hits(col.search(q, k=5, exact=True)))
        step(lambda q=q: _hits(col.search(q, k=5, filter={"$or": [{"cat": "b"}, {"tags.n": {"$in": [1, 2]}}]},
                                          exact=True)))
    step(lambda: _hits(col.search(queries[0], k=3, filter={"year": {"$bogus": 1}})))
    step(lambda: [[h.id for h in hits] for hits in col.search_batch(queries, k=3, exact=True)])
    step(lambda: _hits(col.search_text("cats number 7", k=5)))
    step(lambda: _hits(col.hybrid_search("dogs number 3", vector=queries[1], k=5)))
    step(lambda: col.delete(ids=[0, 1, 2]))
    step(lambda: col.delete(filter={"cat": "c", "year": {"$lt": 2003}}))
    step(lambda: col.count())
    step(lambda: [(p.id, p.payload) for p in col.get([3, 4, 0])])
    step(lambda: [p.id for p in col.scroll(limit=5)[0]])
    step(lambda: col.flush())
    step(lambda: _hits(col.search(queries[2], k=5, exact=True)))
    step(lambda: sorted(lake.collections.list()))
    step(lambda: lake.collections.open("nope"))
    step(lambda: lake.collections.drop("docs"))
    step(lambda: lake.collections.list())
    return out


def test_collections_congruence(served_any: Any) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _script(embedded)
    with lakebed.connect(served_any.url) as remote:
        got = _script(remote)
    assert got == expected
    assert ("error", "InvalidArgument") in got


def _text_and_maintenance_script(lake: Any) -> list[Any]:
    """The rest of the collection API: a bound embedder (add_texts, query with options),
    hybrid candidates, flush without sealing, segments, versions and vacuum."""
    out, step = _recorder()

    col = lake.collections.create("notes", dim=64, text_field=True, embedder="hash")
    out.append((col.dim, col.metric, col.index_config, col.text_field))
    words = ["cats", "dogs", "birds", "fish", "lakes", "rivers"]
    texts = [f"{words[i % 6]} and {words[(i * 5) % 6]} number {i}" for i in range(60)]
    step(lambda: col.add_texts(texts[:40], ids=list(range(40)), payloads=[{"n": i} for i in range(40)]))
    step(lambda: col.flush(seal=False))
    step(lambda: [(s["segment"], s["sealed"], s["rows"], s["live"]) for s in col.segments()])
    step(lambda: col.add_texts(texts[40:], ids=list(range(40, 60))))
    step(lambda: col.flush())
    step(lambda: [(s["sealed"], s["rows"], s["live"], s["deleted"]) for s in col.segments()])
    step(lambda: _hits(col.query("cats and fish", k=5)))
    step(lambda: _hits(col.query("cats and fish", k=5, fusion="weighted", alpha=0.8, candidates=20)))
    step(lambda: _hits(col.query("rivers", k=3, mode="text")))
    step(lambda: _hits(col.query("rivers", k=3, mode="vector", alpha=0.3)))      # vector takes no options
    step(lambda: _hits(col.hybrid_search("dogs number 7", k=4, candidates=10)))
    step(lambda: col.delete(ids=list(range(10))))
    step(lambda: col.compact() and None)
    step(lambda: len(col.versions()) > 1)
    step(lambda: col.vacuum(keep_versions=1))
    step(lambda: len(col.versions()))
    step(lambda: col.vacuum(keep_versions=0))                                    # invalid
    step(lambda: col.count())
    return out


def test_collections_text_and_maintenance_congruence(served_any: Any) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _text_and_maintenance_script(embedded)
    with lakebed.connect(served_any.url) as remote:
        got = _text_and_maintenance_script(remote)
    assert got == expected
    assert got[-1] == 50
    assert ("error", "InvalidArgument") in got


def _old_version_script(lake: Any) -> list[Any]:
    """A collection read at an older manifest version: searches, counts, points, stats and
    segments as they were; writes refused; a version not kept is NotFound."""
    out, step = _recorder()

    rng = np.random.default_rng(11)
    vecs = rng.normal(size=(60, 8)).astype(np.float32)
    col = lake.collections.create("hist", dim=8, text_field=True)
    col.upsert(list(range(30)), vecs[:30], payloads=[{"n": i} for i in range(30)],
               texts=[f"first batch {i}" for i in range(30)])
    col.flush()
    v1 = col.versions()[-1]["version"]
    col.upsert(list(range(30, 60)), vecs[30:], payloads=[{"n": i} for i in range(30, 60)],
               texts=[f"second batch {i}" for i in range(30, 60)])
    col.delete(ids=[0, 1])
    col.flush()
    old = lake.collections.open("hist", version=v1)
    step(lambda: (old.count(), col.count()))
    step(lambda: old.count({"n": {"$gte": 25}}))
    step(lambda: _hits(old.search(vecs[45], k=5, exact=True)))
    step(lambda: [[h.id for h in hits] for hits in old.search_batch(vecs[:3], k=2, exact=True)])
    step(lambda: _hits(old.search_text("batch 3", k=3)))
    step(lambda: _hits(old.hybrid_search("first batch 7", vector=vecs[7], k=3)))
    step(lambda: [p.id for p in old.get([0, 1, 45])])
    step(lambda: [p.id for p in old.scroll(limit=5)[0]])
    step(lambda: old.explain(vecs[0], k=3, exact=True)["plan"] if "plan" in old.explain(vecs[0], k=3, exact=True)
         else sorted(old.explain(vecs[0], k=3, exact=True)))
    step(lambda: (old.stats()["points"], [(s["rows"], s["live"]) for s in old.segments()]))
    step(lambda: old.upsert([99], vecs[:1]))
    step(lambda: old.delete(ids=[2]))
    step(lambda: old.flush())
    step(lambda: old.add_texts(["x"], ids=[100]))
    step(lambda: lake.collections.open("hist", version=99))
    step(lambda: col.count())
    return out


def test_collections_read_at_an_old_version_congruence(served_any: Any) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _old_version_script(embedded)
    with lakebed.connect(served_any.url) as remote:
        got = _old_version_script(remote)
    assert got == expected
    assert expected[0] == (30, 58)
    assert expected[-6:-2] == [("error", "ReadOnlyError")] * 4 and expected[-2] == ("error", "NotFound")
    # the version is a number, checked before anything is opened
    import httpx

    base = f"{served_any.url}/v1/collections/hist"
    for bad in (-1, "1; DROP TABLE x", 2**40, "../1", 1.5):
        assert httpx.post(f"{base}/count", json={"version": bad}, timeout=10).status_code == 422, bad
        assert httpx.get(f"{base}/stats", params={"version": str(bad)}, timeout=10).status_code == 422, bad
