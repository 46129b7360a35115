"""Collections API: lifecycle, writes, reads, scores, bad input, versions, reopen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lakebed
from lakebed.errors import (
    AlreadyExists,
    FilterError,
    InvalidArgument,
    LakebedError,
    NotFound,
    ReadOnlyError,
)
from lakebed.vectors import Collection, Hit


def _vecs(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_create_open_list_drop(lake: lakebed.Lake) -> None:
    col = lake.collections.create("docs", dim=8)
    assert isinstance(col, Collection)
    assert lake.collections.list() == ["docs"]
    assert lake.collections.exists("docs")
    assert lake.collections.open("docs") is col
    with pytest.raises(AlreadyExists):
        lake.collections.create("docs", dim=8)
    lake.collections.drop("docs")
    assert not lake.collections.exists("docs")
    assert not (lake.path / "collections" / "docs").exists()
    with pytest.raises(NotFound):
        lake.collections.open("docs")


def test_catalog_on_postgres_and_sqlite(catalog_url: str | None, lake_path: Path) -> None:
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        col = lake.collections.create("c", dim=4, metric="dot", index={"type": "flat"})
        col.upsert([1, "x"], _vecs(2, 4))
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        col = lake.collections.open("c")
        assert col.metric == "dot" and col.index_config == {"type": "flat"}
        assert col.count() == 2
        assert lake.collections.list() == ["c"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 0},
        {"dim": 4, "metric": "hamming"},
        {"dim": 4, "quantization": "int4"},
        {"dim": 4, "index": {"type": "annoy"}},
        {"dim": 4, "index": {"type": "hnsw", "mm": 3}},
        {"dim": 10, "index": {"type": "ivf_pq", "m": 4}},
    ],
)
def test_create_rejects_bad_config(lake: lakebed.Lake, kwargs: dict) -> None:
    with pytest.raises(InvalidArgument):
        lake.collections.create("bad", **kwargs)
    assert lake.collections.list() == []


def test_bad_names(lake: lakebed.Lake) -> None:
    for name in ["", "../x", "a/b", ".hidden", "x" * 201]:
        with pytest.raises(InvalidArgument):
            lake.collections.create(name, dim=2)


def test_scores_per_metric(lake: lakebed.Lake) -> None:
    x = np.array([[1, 0], [3, 4], [-1, 1]], np.float32)
    q = np.array([1, 1], np.float32)
    for metric in ("cosine", "dot", "l2"):
        col = lake.collections.create(f"m_{metric}", dim=2, metric=metric)
        col.upsert([0, 1, 2], x)
        hits = col.search(q, k=3)
        if metric == "cosine":
            xn = x / np.linalg.norm(x, axis=1, keepdims=True)
            expect = xn @ (q / np.linalg.norm(q))
        elif metric == "dot":
            expect = x @ q
        else:
            expect = -((x - q) ** 2).sum(1)
        got = {h.id: h.score for h in hits}
        for i in range(3):
            assert got[i] == pytest.approx(float(expect[i]), abs=1e-5)
        assert [h.id for h in hits] == list(np.argsort(-expect, kind="stable"))
        assert all(isinstance(h, Hit) for h in hits)


def test_upsert_replaces_payload_and_vector(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=2, metric="l2")
    col.upsert(["a", "b"], [[0, 0], [5, 5]], payloads=[{"v": 1}, {"v": 2}])
    col.upsert(["a"], [[9, 9]], payloads=[{"v": 3}])
    assert col.count() == 2
    (pa,) = col.get(["a"], include_vectors=True)
    assert pa.payload == {"v": 3}
    np.testing.assert_allclose(pa.vector, [9, 9])
    assert col.search([0, 0], k=1)[0].id == "b"


def test_int_and_str_ids_are_distinct(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=2)
    col.upsert([1, "1"], [[1, 0], [0, 1]], payloads=[{"t": "int"}, {"t": "str"}])
    assert col.count() == 2
    assert [p.payload["t"] for p in col.get([1, "1", 2])] == ["int", "str"]


def test_delete_by_ids_and_filter(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=4)
    col.upsert(list(range(10)), _vecs(10, 4), payloads=[{"g": i % 3} for i in range(10)])
    assert col.delete(ids=[0, 1, 99]) == 2
    assert col.delete(filter={"g": 2}) == 3
    assert col.count() == 5
    assert sorted(p.id for p in col.scroll(limit=100)[0]) == [3, 4, 6, 7, 9]
    with pytest.raises(InvalidArgument):
        col.delete()
    with pytest.raises(InvalidArgument):
        col.delete(ids=[1], filter={"g": 1})


def test_scroll_pages(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=2)
    col.upsert(list(range(25)), _vecs(25, 2), payloads=[{"even": i % 2 == 0} for i in range(25)])
    seen, cursor = [], None
    while True:
        page, cursor = col.scroll(filter={"even": True}, limit=4, cursor=cursor)
        seen += [p.id for p in page]
        if cursor is None:
            break
    assert seen == list(range(0, 25, 2))


def _stored(col: Collection) -> list:
    return sorted(((p.id, json.dumps(p.payload, sort_keys=True), tuple(p.vector.round(5)))
                   for p in col.scroll(limit=10_000)[0] for p in [col.get([p.id], include_vectors=True)[0]]),
                  key=str)


@pytest.mark.parametrize(
    ("ids", "vectors", "payloads", "texts"),
    [
        ([1, 2], np.ones((2, 3)), None, None),  # wrong dimension
        ([1, 2], [[1, 1, 1, 1], [1, float("nan"), 1, 1]], None, None),
        ([1, 2], [[1, 1, 1, 1], [1, float("inf"), 1, 1]], None, None),
        ([1, 1], np.ones((2, 4)), None, None),  # duplicate ids in one batch
        ([1.5, 2], np.ones((2, 4)), None, None),  # unsupported id type
        ([(1,), 2], np.ones((2, 4)), None, None),
        ([True, 2], np.ones((2, 4)), None, None),
        ([1, 2], np.ones((2, 4)), [{"a": 1}, {"b": {1, 2}}], None),  # non-JSON payload
        ([1, 2], np.ones((2, 4)), [{"a": 1}, {"b": float("nan")}], None),
        ([1, 2], np.ones((2, 4)), [{"a": 1}, {2: "x"}], None),
        ([1, 2], np.ones((2, 4)), [{"a": 1}, "not a dict"], None),
        ([1, 2], np.ones((2, 4)), [{"a": 1}], None),  # wrong count
        ([1, 2], np.ones((3, 4)), None, None),
        ([1, 2], np.ones((2, 4)), None, ["a", 3]),
        ([1, 2], np.zeros((2, 4)), None, None),  # zero vector under cosine
    ],
)
def test_bad_upsert_stores_nothing(lake: lakebed.Lake, ids, vectors, payloads, texts) -> None:
    col = lake.collections.create("c", dim=4)
    col.upsert([1, 7], [[1, 2, 3, 4], [4, 3, 2, 1]], payloads=[{"keep": True}, {"keep": 1}])
    before = _stored(col)
    with pytest.raises(LakebedError):
        col.upsert(ids, vectors, payloads=payloads, texts=texts)
    assert _stored(col) == before
    path = lake.path
    col.close()
    lake.collections._open.clear()
    col2 = lake.collections.open("c")
    assert _stored(col2) == before
    assert path.exists()


@pytest.mark.parametrize(
    "flt",
    [
        {"a": {"$regex": "x"}},
        {"$nor": [{"a": 1}]},
        {"a": {"$in": 3}},
        {"a": {"$gt": [1]}},
        {"a": {"$exists": 1}},
        {"$or": []},
        {"$and": {"a": 1}},
        {"a": {"$gt": 1, "b": 2}},
        [("a", 1)],
        "a == 1",
        {"a": {"$gt": float("nan")}},
    ],
)
def test_bad_filters_raise(lake: lakebed.Lake, flt) -> None:
    col = lake.collections.create("c", dim=2)
    col.upsert([1], [[1, 0]], payloads=[{"a": 1}])
    with pytest.raises(FilterError):
        col.search([1, 0], k=1, filter=flt)
    with pytest.raises(FilterError):
        col.count(flt)
    with pytest.raises(FilterError):
        col.delete(filter=flt)
    assert col.count() == 1


def test_payload_index_type_checks(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=2)
    col.upsert([1, 2], [[1, 0], [0, 1]], payloads=[{"year": 2001, "tag": "a", "ok": True,
                                                    "at": "2024-01-02T00:00:00"},
                                                   {"year": 2010, "tag": "b", "ok": False,
                                                    "at": "2024-03-01T00:00:00+00:00"}])
    col.create_payload_index("year", "integer")
    col.create_payload_index("tag", "keyword")
    col.create_payload_index("ok", "bool")
    col.create_payload_index("at", "datetime")
    with pytest.raises(FilterError):
        col.search([1, 0], filter={"year": "2001"})
    with pytest.raises(FilterError):
        col.search([1, 0], filter={"tag": {"$in": ["a", 3]}})
    with pytest.raises(FilterError):
        col.search([1, 0], filter={"ok": {"$gt": True}})
    with pytest.raises(FilterError):
        col.count({"at": {"$gte": "yesterday"}})
    with pytest.raises(InvalidArgument):
        col.create_payload_index("x", "geo")
    assert col.count({"year": {"$gte": 2005}}) == 1
    assert col.count({"tag": {"$in": ["a", "b"]}}) == 2
    assert col.count({"ok": False}) == 1
    assert col.count({"at": {"$gte": "2024-02-01T00:00:00Z"}}) == 1
    col.flush()
    assert col.count({"at": {"$lt": "2024-02-01"}}) == 1


def test_bad_queries(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=3)
    col.upsert([1], [[1, 2, 3]])
    for bad in ([1, 2], [1, 2, float("nan")], "abc", [[1, 2, 3], [1, 2, 3]]):
        with pytest.raises(InvalidArgument):
            col.search(bad)
    for k in (0, -1, 1.5, True):
        with pytest.raises(InvalidArgument):
            col.search([1, 2, 3], k=k)
    with pytest.raises(InvalidArgument):
        col.search([1, 2, 3], ef=0)


def test_k_larger_than_collection(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=3)
    col.upsert([1, 2], _vecs(2, 3))
    assert len(col.search([1, 2, 3], k=10)) == 2
    col.flush()
    assert len(col.search([1, 2, 3], k=10)) == 2


def test_versions_and_time_travel(lake_path: Path) -> None:
    with lakebed.connect(lake_path, segment_size=10) as lake:
        col = lake.collections.create("c", dim=4)
        col.upsert(list(range(10)), _vecs(10, 4))
        col.flush()
        v_first = col.versions()[-1]["version"]
        col.upsert(list(range(10, 20)), _vecs(10, 4, seed=1))
        col.delete(ids=[0, 1])
        col.flush()
        assert col.count() == 18
        old = lake.collections.open("c", version=v_first)
        assert old.count() == 10
        with pytest.raises(ReadOnlyError):
            old.upsert([99], _vecs(1, 4))
        with pytest.raises(NotFound):
            lake.collections.open("c", version=999)
        col.vacuum()
        assert len(col.versions()) == 1
        assert col.count() == 18


def test_reopen_gives_identical_results(lake_path: Path) -> None:
    x = _vecs(3000, 16, seed=3)
    q = _vecs(20, 16, seed=4)
    with lakebed.connect(lake_path, segment_size=1000, fsync="batch") as lake:
        col = lake.collections.create("c", dim=16, metric="l2")
        for i in range(0, 3000, 250):
            col.upsert(list(range(i, i + 250)), x[i : i + 250], payloads=[{"g": j % 5} for j in range(i, i + 250)])
        col.delete(ids=list(range(0, 3000, 7)))
        col.flush()  # sealed (indexed) on both sides, so the kernels are the same
        before = [[(h.id, round(h.score, 4)) for h in col.search(v, k=10)] for v in q]
        before_f = [[h.id for h in col.search(v, k=10, filter={"g": 2})] for v in q]
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.open("c")
        after = [[(h.id, round(h.score, 4)) for h in col.search(v, k=10)] for v in q]
        after_f = [[h.id for h in col.search(v, k=10, filter={"g": 2})] for v in q]
    assert before == after
    assert before_f == after_f


def test_read_only_lake_can_search(lake_path: Path) -> None:
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.create("c", dim=4)
        col.upsert([1, 2], _vecs(2, 4))
    with lakebed.connect(lake_path, read_only=True) as lake:
        col = lake.collections.open("c")
        assert col.count() == 2
        assert len(col.search(_vecs(1, 4)[0], k=2)) == 2
        with pytest.raises(ReadOnlyError):
            col.upsert([3], _vecs(1, 4))


def test_stats_and_explain(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=8)
    col.upsert(list(range(100)), _vecs(100), payloads=[{"g": i % 10} for i in range(100)])
    col.delete(ids=[1, 2])
    s = col.stats()
    assert s["points"] == 98 and s["deleted"] == 2 and s["bytes_on_disk"] > 0
    plan = col.explain(_vecs(1)[0], k=5, filter={"g": 3})
    assert plan["matching"] == 10
    assert plan["segments"][0]["plan"] in ("exact", "exact_subset")
    hits = col.search(_vecs(1)[0], k=5, filter={"g": 3})
    assert hits[0].meta["plan"] == plan["plan"]


def test_search_batch_matches_single(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=8, metric="dot")
    col.upsert(list(range(300)), _vecs(300), payloads=[{"g": i % 4} for i in range(300)])
    qs = _vecs(5, seed=9)
    batch = col.search_batch(qs, k=7, filter={"g": {"$ne": 1}})
    single = [col.search(v, k=7, filter={"g": {"$ne": 1}}) for v in qs]
    assert [[h.id for h in r] for r in batch] == [[h.id for h in r] for r in single]


@pytest.mark.parametrize(("metric", "quant"), [("cosine", None), ("l2", None), ("cosine", "int8")])
def test_search_batch_on_an_indexed_segment_matches_single(lake: lakebed.Lake, metric: str, quant: Any) -> None:
    col = lake.collections.create("c", dim=8, metric=metric, index={"type": "hnsw", "m": 8}, quantization=quant)
    col.upsert(list(range(3000)), _vecs(3000), texts=None)
    col.flush()
    assert col._snap.fast is not None  # one indexed segment: the batch fast path
    qs = _vecs(6, seed=11)
    for ef in (None, 4, 40):
        batch = col.search_batch(qs, k=5, ef=ef)
        single = [col.search(v, k=5, ef=ef) for v in qs]
        assert [[(h.id, h.meta["plan"]) for h in r] for r in batch] == [
            [(h.id, h.meta["plan"]) for h in r] for r in single
        ]
        for rb, rs in zip(batch, single, strict=True):
            assert [h.score for h in rb] == pytest.approx([h.score for h in rs], abs=1e-5)
    # k beyond what the graph reaches: every point, by exact search, in both paths
    big = col.search_batch(qs, k=5000)
    assert [len(r) for r in big] == [3000] * len(qs)
    assert [h.id for h in big[1]] == [h.id for h in col.search(qs[1], k=5000)]
    assert [h.id for h in big[1]][:5] == [h.id for h in col.search(qs[1], k=5, exact=True)]


def test_closed_lake_closes_collections(lake_path: Path) -> None:
    lake = lakebed.connect(lake_path)
    col = lake.collections.create("c", dim=2)
    col.upsert([1], [[1, 0]])
    lake.close()
    with pytest.raises(LakebedError):
        col.upsert([2], [[0, 1]])


def test_text_field_round_trip(lake_path: Path) -> None:
    pytest.importorskip("tantivy")
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.create("t", dim=2, text_field=True)
        col.upsert([1, 2], [[1, 0], [0, 1]], texts=["the quick brown fox", "lazy dogs sleep"])
        assert col.search([1, 0], k=1)[0].text == "the quick brown fox"
        assert [k for k, _ in col._text.search("fox", 5)] == [0]
        col.delete(ids=[1])
        assert col._text.search("fox", 5) == []
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.open("t")
        assert col._text.count() == 1
        assert [h.id for h in col._hits_for_keys([1], [1.0])] == [2]


def test_texts_kept_without_text_field(lake_path: Path) -> None:
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.create("c", dim=2)
        col.upsert([1, 2], [[1, 0], [0, 1]], texts=["one", None])
        assert [h.text for h in col.search([1, 0], k=2)] == ["one", None]
        col.flush()
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.open("c")
        assert col.get([1])[0].text == "one"
        assert col.search([1, 0], k=1)[0].text == "one"
