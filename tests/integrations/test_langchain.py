"""LakebedVectorStore: LangChain's standard vector store suite, unmodified, on an embedded
lake; then filters against a brute-force reference, MMR against LangChain's own
``maximal_marginal_relevance``, relevance scores per metric, a served lake through
``lakebed serve``, and attempts to smuggle operators or syntax through filter values.
Every embedding is LangChain's deterministic fake (no model is downloaded)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance as lc_mmr
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from langchain_tests.integration_tests.vectorstores import EMBEDDING_SIZE
from tests.server.conftest import serve_workers

import lakebed
from lakebed.errors import FilterError, InvalidArgument, NotFound
from lakebed.integrations.langchain import (
    LakebedVectorStore,
    equality_filter,
    maximal_marginal_relevance,
    to_filter,
)


@pytest.fixture
def anyio_backend() -> str:
    """The standard suite's async tests run on asyncio (LangChain's executor helpers need it)."""
    return "asyncio"


class TestLakebedStandard(VectorStoreIntegrationTests):
    """LangChain's own suite (sync and async), as published; a fresh lake on disk per test."""

    pytestmark = pytest.mark.anyio  # runs the suite's async tests (no pytest-asyncio config needed)

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        with lakebed.connect(tmp_path / "lake", fsync="never") as lake:
            col = lake.collections.create("langchain", dim=EMBEDDING_SIZE, metric="cosine")
            yield LakebedVectorStore(col, self.get_embeddings())


# -- a corpus and the references ----------------------------------------------------------

DIM = 16
EMB = DeterministicFakeEmbedding(size=DIM)
SOURCES = ["man", "doc", "blog", "wiki"]


def _metadata(i: int) -> dict[str, Any]:
    md: dict[str, Any] = {"source": SOURCES[i % 4], "year": 1995 + (i * 7) % 30, "n": i}
    if i % 3:
        md["tags"] = [["rust", "python", "go"][i % 3], "db"] if i % 2 else ["python"]
    if i % 5 != 4:
        md["meta"] = {"lang": ["en", "de", "fr"][i % 3], "draft": i % 2 == 0}
    if i % 7 == 0:
        md["rating"] = None
    return md


N = 60
TEXTS = [f"document {i} about {'cats' if i % 2 else 'dogs'}" for i in range(N)]
METAS = [_metadata(i) for i in range(N)]
IDS = [f"doc-{i}" for i in range(N)]
VECS = np.asarray(EMB.embed_documents(TEXTS), dtype=np.float64)


def _tags(m: dict[str, Any]) -> list[Any]:
    return m.get("tags", [])


# (lakebed filter, the same condition in plain Python)
FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"source": "man"}, lambda m: m["source"] == "man"),
    ({"source": "doc", "year": 2002}, lambda m: m["source"] == "doc" and m["year"] == 2002),
    ({"year": {"$gte": 2005, "$lt": 2015}}, lambda m: 2005 <= m["year"] < 2015),
    ({"$or": [{"source": "blog"}, {"year": {"$lt": 2000}}]}, lambda m: m["source"] == "blog" or m["year"] < 2000),
    ({"tags": "rust"}, lambda m: "rust" in _tags(m)),
    ({"tags": {"$in": ["go", "rust"]}}, lambda m: bool({"go", "rust"} & set(_tags(m)))),
    ({"meta.lang": {"$in": ["en", "de"]}}, lambda m: m.get("meta", {}).get("lang") in ("en", "de")),
    ({"meta.draft": True}, lambda m: m.get("meta", {}).get("draft") is True),
    ({"source": {"$ne": "man"}}, lambda m: m["source"] != "man"),
    ({"meta": {"$exists": False}}, lambda m: "meta" not in m),
    ({"rating": None}, lambda m: "rating" in m and m["rating"] is None),
    ({"$not": {"source": {"$in": ["man", "doc"]}}}, lambda m: m["source"] not in ("man", "doc")),
    ({"n": {"$nin": [1, 2, 3]}, "year": {"$not": {"$gt": 2010}}}, lambda m: m["n"] not in (1, 2, 3)
     and not m["year"] > 2010),
    ({"source": "nobody"}, lambda m: False),
]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (b @ a) / (np.linalg.norm(b, axis=1) * np.linalg.norm(a))


def _reference(query: str, pred: Callable[[dict[str, Any]], bool], k: int) -> list[tuple[str, float]]:
    q = np.asarray(EMB.embed_query(query), dtype=np.float64)
    sims = _cos(q, VECS)
    rows = [i for i in range(N) if pred(METAS[i])]
    rows.sort(key=lambda i: -sims[i])
    return [(IDS[i], float(sims[i])) for i in rows[:k]]


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[lakebed.Lake]:
    with lakebed.connect(tmp_path / "lake", fsync="never") as lk:
        yield lk


@pytest.fixture
def store(lake: lakebed.Lake) -> LakebedVectorStore:
    return LakebedVectorStore.from_texts(TEXTS, EMB, METAS, ids=IDS, lake=lake, collection_name="corpus")


def _pairs(results: list[tuple[Document, float]]) -> list[tuple[str | None, float]]:
    return [(d.id, s) for d, s in results]


def _assert_ranked(got: list[tuple[str | None, float]], want: list[tuple[str, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


# -- storage ------------------------------------------------------------------------------


def test_from_texts_creates_the_collection_and_stores_documents_as_points(lake: lakebed.Lake,
                                                                         store: LakebedVectorStore) -> None:
    info = lake.collections.info("corpus")
    assert (info["dim"], info["metric"]) == (DIM, "cosine")
    col = lake.collections.open("corpus")
    p = col.get(["doc-5"])[0]
    # the text is the point's text, the metadata is the payload as it is (flat, no wrapper)
    assert (p.id, p.text, p.payload) == ("doc-5", TEXTS[5], METAS[5])
    assert store.get_by_ids(["doc-7", "nope", "doc-3", "doc-7"]) == [
        Document(id="doc-7", page_content=TEXTS[7], metadata=METAS[7]),
        Document(id="doc-3", page_content=TEXTS[3], metadata=METAS[3])]
    # from_texts on the existing collection opens it and adds
    again = LakebedVectorStore.from_texts(["one more"], EMB, [{"k": 1}], ids=["x"], lake=lake,
                                          collection_name="corpus")
    assert col.count() == N + 1 and again.get_by_ids(["x"])[0].metadata == {"k": 1}
    # metadata keys named like the text or the id are ordinary payload fields
    store.add_texts(["clash"], [{"text": "not the text", "id": 99, "page_content": "p"}], ids=["c"])
    assert store.get_by_ids(["c"]) == [Document(id="c", page_content="clash",
                                                metadata={"text": "not the text", "id": 99, "page_content": "p"})]
    assert [d.id for d in store.similarity_search("x", k=3, filter={"text": "not the text"})] == ["c"]


def test_ids_map_to_string_point_ids_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    with lakebed.connect(path) as lake:
        store = LakebedVectorStore.from_texts(["a", "b"], EMB, lake=lake,
                                              ids=["1", "550e8400-e29b-41d4-a716-446655440000"])
        generated = store.add_texts(["c"])
        col = lake.collections.open("langchain")
        col.upsert([1], [EMB.embed_query("int id")], payloads=[{"by": "other code"}], texts=["int"])
    with lakebed.connect(path) as lake:
        store = LakebedVectorStore.from_existing_collection(lake, "langchain", EMB)
        col = lake.collections.open("langchain")
        # "1" (LangChain's) and 1 (written by other code) are different points
        assert [p.text for p in col.get(["1", 1])] == ["a", "int"]
        assert [d.page_content for d in store.get_by_ids(["1", generated[0]])] == ["a", "c"]
        assert len(generated[0]) == 36 and generated[0].count("-") == 4  # a UUID4 string
        found = store.similarity_search("int id", k=1)[0]
        assert (found.id, found.page_content, found.metadata) == ("1", "int", {"by": "other code"})
        store.delete(["1"])  # the string id only
        assert [p.id for p in col.get(["1", 1])] == [1]
    with lakebed.connect(path) as lake, pytest.raises(NotFound):
        LakebedVectorStore.from_existing_collection(lake, "nope", EMB)


class Zero(DeterministicFakeEmbedding):
    """The fake embedding, but all zeros for the text "zero"."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[0.0] * self.size if t == "zero" else v for t, v in zip(texts, super().embed_documents(texts),
                                                                          strict=True)]


def test_bad_input_raises_and_writes_nothing(lake: lakebed.Lake, store: LakebedVectorStore) -> None:
    import datetime as dt

    col = lake.collections.open("corpus")
    before = col.count()
    bad_calls: list[Callable[[], Any]] = [
        lambda: store.add_texts(["a", "b"], [{"ok": 1}, {"when": dt.datetime(2024, 1, 1)}]),
        lambda: store.add_texts(["a"], [{"x": math.nan}]),
        lambda: store.add_texts(["a"], [{1: "int key"}]),  # type: ignore[dict-item]
        lambda: store.add_texts(["a", "b"], [{}]),
        lambda: store.add_texts(["a"], ids=[""]),
        lambda: store.add_texts(["a"], ids=["1", "2"]),
        lambda: store.add_texts(["a"], ids=[7]),  # type: ignore[list-item]
        lambda: LakebedVectorStore.from_texts(["a"], DeterministicFakeEmbedding(size=DIM + 1), lake=lake,
                                              collection_name="corpus"),
        lambda: store.similarity_search("x", k=0),
        lambda: store.similarity_search("x", fitler={"source": "man"}),
        lambda: store.max_marginal_relevance_search("x", lambda_mult=2),
        lambda: store.delete(),
        lambda: store.delete(["doc-1"], filter={"source": "man"}),
        lambda: LakebedVectorStore(object(), EMB),  # type: ignore[arg-type]
        lambda: LakebedVectorStore.from_texts(["a"], EMB),
        lambda: LakebedVectorStore.from_texts(["a"], EMB, [{"when": dt.date(2024, 1, 1)}], lake=lake,
                                              collection_name="new"),
        lambda: LakebedVectorStore.from_texts(["a"], EMB, lake=lake, collection_name="new", batch_size=0),
        lambda: LakebedVectorStore.from_texts(["a"], EMB, lake=lake, collection_name="new", metric="cos"),
        lambda: LakebedVectorStore(col, Zero(size=DIM), batch_size=1).add_texts(["fine", "zero"]),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidArgument):
            call()
    assert col.count() == before and not lake.collections.exists("new")
    assert store.get_by_ids(["doc-1"])[0].metadata == METAS[1]
    # duplicate ids in one batch: the last wins, like any later add
    assert store.add_texts(["v1", "v2"], [{"v": 1}, {"v": 2}], ids=["dup", "dup"]) == ["dup", "dup"]
    assert store.get_by_ids(["dup"]) == [Document(id="dup", page_content="v2", metadata={"v": 2})]


# -- filters ------------------------------------------------------------------------------


@pytest.mark.parametrize("flt,pred", FILTERS, ids=[json.dumps(f) for f, _ in FILTERS])
def test_filters_match_a_brute_force_reference(store: LakebedVectorStore, flt: dict[str, Any],
                                               pred: Callable[[dict[str, Any]], bool]) -> None:
    query = "document 3 about cats"
    for k in (N, 3):
        want = _reference(query, pred, k)
        as_dict = store.similarity_search_with_score(query, k=k, filter=flt)
        as_text = store.similarity_search_with_score(query, k=k, filter=json.dumps(flt))
        _assert_ranked(_pairs(as_dict), want)
        _assert_ranked(_pairs(as_text), want)
    docs = store.similarity_search(query, k=N, filter=flt)
    assert all(pred(d.metadata) and d.page_content == TEXTS[IDS.index(d.id or "")] for d in docs)


def test_equality_filter_and_filters_in_retrievers_and_deletes(store: LakebedVectorStore) -> None:
    query = "document 8 about dogs"
    eq = equality_filter({"source": "doc", "meta.lang": "en"})
    want = _reference(query, lambda m: m["source"] == "doc" and m.get("meta", {}).get("lang") == "en", N)
    assert want and _pairs(store.similarity_search_with_score(query, k=N, filter=eq))[0][0] == want[0][0]
    _assert_ranked(_pairs(store.similarity_search_with_score(query, k=N, filter=eq)), want)

    retriever = store.as_retriever(search_kwargs={"k": 4, "filter": {"tags": "python"}})
    got = [d.id for d in retriever.invoke(query)]
    assert got == [i for i, _ in _reference(query, lambda m: "python" in _tags(m), 4)]

    assert store.delete(filter='{"year": {"$lt": 2005}}') is True
    remaining = {d.id for d in store.similarity_search(query, k=N)}
    assert remaining == {IDS[i] for i in range(N) if METAS[i]["year"] >= 2005}


def test_to_filter_parses_strictly() -> None:
    assert to_filter(None) is None and to_filter("") is None and to_filter({}) is None and to_filter(" {} ") is None
    assert to_filter('{"a": [1, 2]}') == {"a": [1, 2]}
    for bad in ['{"a": 1', "[1]", '"a"', '{"a": NaN}', '{"a": Infinity}', '{"a": 1, "a": 2}',
                '{"$where": "1 == 1"}', '{"a": {"$regex": ".*"}}', '{"a": {"gt": 1}}', "source = 'man'"]:
        with pytest.raises(FilterError):
            to_filter(bad)
    with pytest.raises(FilterError):
        to_filter(["source", "man"])  # type: ignore[arg-type]
    with pytest.raises(FilterError):
        equality_filter({"$or": [{"a": 1}]})


# -- relevance scores ---------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_relevance_scores_per_metric(lake: lakebed.Lake, metric: str) -> None:
    # unit vectors, as LangChain's relevance functions assume
    unit = VECS / np.linalg.norm(VECS, axis=1, keepdims=True)

    class Unit(DeterministicFakeEmbedding):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [list(v / np.linalg.norm(v)) for v in np.asarray(super().embed_documents(texts))]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    store = LakebedVectorStore.from_texts(TEXTS, Unit(size=DIM), METAS, ids=IDS, lake=lake,
                                          collection_name=f"m-{metric}", metric=metric)
    query = "document 11 about cats"
    q = np.asarray(Unit(size=DIM).embed_query(query))
    dist = np.linalg.norm(unit - q, axis=1)
    raw = {"cosine": unit @ q, "dot": unit @ q, "l2": -(dist**2)}[metric]
    rel = {"cosine": unit @ q, "dot": unit @ q, "l2": 1 - dist / math.sqrt(2)}[metric]
    order = np.argsort(-raw, kind="stable")[:10]
    _assert_ranked(_pairs(store.similarity_search_with_score(query, k=10)), [(IDS[i], raw[i]) for i in order])
    got = store.similarity_search_with_relevance_scores(query, k=10)
    _assert_ranked(_pairs(got), [(IDS[i], min(1.0, max(0.0, rel[i]))) for i in order])
    assert all(0.0 <= s <= 1.0 for _, s in store.similarity_search_with_relevance_scores(query, k=N))
    threshold = float(sorted(rel, reverse=True)[4])
    kept = store.similarity_search_with_relevance_scores(query, k=N, score_threshold=threshold)
    assert [d.id for d, _ in kept] == [IDS[i] for i in np.argsort(-raw, kind="stable")[:5]]
    custom = LakebedVectorStore(lake.collections.open(f"m-{metric}"), Unit(size=DIM), relevance_score_fn=lambda s: 0.5)
    assert {s for _, s in custom.similarity_search_with_relevance_scores(query, k=3)} == {0.5}


# -- MMR ----------------------------------------------------------------------------------


def test_mmr_function_matches_langchain() -> None:
    rng = np.random.default_rng(3)
    for trial in range(30):
        n, dim = int(rng.integers(1, 40)), int(rng.integers(2, 12))
        cands = rng.normal(size=(n, dim))
        if trial % 3 == 0:
            cands[: n // 2] += rng.normal(size=dim) * 3  # clusters of near duplicates
        query = rng.normal(size=dim)
        for lam in (0.0, 0.25, 0.5, 0.9, 1.0):
            k = int(rng.integers(1, n + 3))
            assert maximal_marginal_relevance(query, cands, k, lam) == lc_mmr(query, list(cands), lam, k)
    assert maximal_marginal_relevance([1.0, 0.0], np.zeros((0, 2)), 3) == []


@pytest.mark.parametrize("flt", [None, {"source": {"$in": ["man", "blog"]}}], ids=["all", "filtered"])
def test_mmr_search_matches_langchain_over_the_fetched_candidates(store: LakebedVectorStore,
                                                                  flt: dict[str, Any] | None) -> None:
    query = "which notes mention cats?"
    q = np.asarray(EMB.embed_query(query))
    pred = (lambda m: m["source"] in ("man", "blog")) if flt else (lambda m: True)
    for k, fetch_k, lam in [(4, 20, 0.5), (6, 12, 0.1), (3, 40, 0.9), (5, 3, 0.5)]:
        fetched = [IDS.index(i) for i, _ in _reference(query, pred, max(k, fetch_k))]
        want = [IDS[fetched[j]] for j in lc_mmr(q, [VECS[i] for i in fetched], lam, k)]
        got = store.max_marginal_relevance_search(query, k=k, fetch_k=fetch_k, lambda_mult=lam, filter=flt)
        assert [d.id for d in got] == want
        assert all(d.metadata == METAS[IDS.index(d.id or "")] for d in got)
    retriever = store.as_retriever(search_type="mmr", search_kwargs={"k": 3, "fetch_k": 15, "filter": flt})
    fetched = [IDS.index(i) for i, _ in _reference(query, pred, 15)]
    assert [d.id for d in retriever.invoke(query)] == [IDS[fetched[j]]
                                                       for j in lc_mmr(q, [VECS[i] for i in fetched], 0.5, 3)]


def test_mmr_by_vector_on_an_l2_collection(lake: lakebed.Lake) -> None:
    # candidates are the nearest by Euclidean distance; diversity is cosine, as in LangChain
    store = LakebedVectorStore.from_texts(TEXTS, EMB, METAS, ids=IDS, lake=lake, collection_name="l2", metric="l2")
    q = np.asarray(EMB.embed_query("and dogs?"))
    nearest = np.argsort(np.linalg.norm(VECS - q, axis=1), kind="stable")
    for k, fetch_k, lam in [(4, 20, 0.5), (5, 10, 0.0), (3, 30, 1.0)]:
        fetched = nearest[:fetch_k]
        want = [IDS[fetched[j]] for j in lc_mmr(q, [VECS[i] for i in fetched], lam, k)]
        got = store.max_marginal_relevance_search_by_vector(list(q), k=k, fetch_k=fetch_k, lambda_mult=lam)
        assert [d.id for d in got] == want


# -- injection ----------------------------------------------------------------------------

EVIL_VALUES = [
    '" OR 1=1 --',
    "'; DROP TABLE vector_collections; --",
    '{"$ne": null}',
    '"}, {"$or": [{"owner": {"$exists": true}}]}, {"x": "',
    'alice", "$or": [{"owner": {"$exists": true}}], "y": "',
    "$exists",
    "\\u0000\\",
    "line\nbreak\u0000nul",
    "__import__('os').system('touch pwned')",
    "owner.secret",
]
WIDEN = 'x", "owner": "bob'  # pasted into '{"owner": "..."}' it repeats the key: bob's notes for x


def _fill_owned(store: LakebedVectorStore) -> None:
    owners = ["alice", "bob", *EVIL_VALUES]
    store.add_texts([f"note of {o!r}" for o in owners], [{"owner": o, "secret": i} for i, o in enumerate(owners)],
                    ids=[f"o{i}" for i in range(len(owners))])


def _snapshot(store: LakebedVectorStore, n: int) -> list[Document]:
    return store.get_by_ids([f"o{i}" for i in range(n)])


def _check_injections(store: LakebedVectorStore) -> None:
    owners = ["alice", "bob", *EVIL_VALUES]
    before = _snapshot(store, len(owners))
    assert len(before) == len(owners)
    for value in ["alice", *EVIL_VALUES]:
        want = [f"o{owners.index(value)}"]
        # a value is data: in a dict, in the JSON text made by json.dumps, through equality_filter
        for flt in ({"owner": value}, json.dumps({"owner": value}), equality_filter({"owner": value}),
                    json.dumps(equality_filter({"owner": value}))):
            assert [d.id for d in store.similarity_search("note", k=50, filter=flt)] == want, (value, flt)
        assert store.max_marginal_relevance_search("note", k=5, filter={"owner": value})[0].id == want[0]
    # an object value is an operator in a lakebed filter (as in MongoDB) ...
    assert len(store.similarity_search("note", k=50, filter={"owner": {"$ne": None}})) == len(owners)
    # ... and data through equality_filter: no stored owner is that object
    assert store.similarity_search("note", k=50, filter=equality_filter({"owner": {"$ne": None}})) == []
    # text pasted into a filter string by hand: refused when it breaks JSON or repeats a key,
    # and otherwise never matches beyond its first "owner" condition
    for value in [*EVIL_VALUES, WIDEN]:
        pasted = '{"owner": "' + value + '"}'
        try:
            docs = store.similarity_search("note", k=50, filter=pasted)
        except FilterError:
            continue
        first = json.loads(pasted, object_pairs_hook=lambda pairs: pairs[0][1] if pairs[0][0] == "owner" else {})
        assert all(d.metadata["owner"] == first for d in docs), (value, docs)
    with pytest.raises(FilterError, match="twice"):
        store.similarity_search("note", filter='{"owner": "' + WIDEN + '"}')
    # (read with plain json.loads, the repeated key would have answered with bob's note)
    assert [d.id for d in store.similarity_search("note", k=50, filter=json.loads('{"owner": "' + WIDEN + '"}'))] == [
        "o1"]
    with pytest.raises(FilterError):
        store.delete(filter='{"owner": "alice", "owner": "bob"}')
    with pytest.raises(FilterError):
        store.delete(filter={"$where": "true"})
    # deleting by an evil value removes exactly that document
    store.delete(filter={"owner": EVIL_VALUES[3]})
    after = _snapshot(store, len(owners))
    assert after == [d for d in before if d.metadata["owner"] != EVIL_VALUES[3]]
    store.add_texts([before[5].page_content], [before[5].metadata], ids=[before[5].id])  # type: ignore[list-item]


def test_filter_values_cannot_inject(lake: lakebed.Lake, tmp_path: Path) -> None:
    store = LakebedVectorStore.from_texts([], EMB, lake=lake, collection_name="owned")
    _fill_owned(store)
    _check_injections(store)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


# -- a served lake ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``lakebed serve --workers 2`` (a writer and a read worker) on a fresh lake."""
    path = tmp_path_factory.mktemp("served") / "lake"
    lakebed.connect(path).close()
    with serve_workers(path) as (url, _):
        yield url


def test_served_lake_answers_like_the_embedded_one(served_url: str, store: LakebedVectorStore) -> None:
    query = "anything on dogs"
    with lakebed.connect(served_url) as remote:
        served = LakebedVectorStore.from_documents(
            [Document(id=i, page_content=t, metadata=m) for i, t, m in zip(IDS, TEXTS, METAS, strict=True)],
            EMB, lake=remote, collection_name="corpus")
        assert served.metric == "cosine" and remote.collections.info("corpus")["dim"] == DIM
        # searches, filters (dict and text), relevance scores and MMR: the same answers
        for flt, _ in FILTERS[:6]:
            _assert_ranked(_pairs(served.similarity_search_with_score(query, k=7, filter=json.dumps(flt))),
                           _pairs(store.similarity_search_with_score(query, k=7, filter=flt)))  # type: ignore[arg-type]
        _assert_ranked(_pairs(served.similarity_search_with_relevance_scores(query, k=5)),
                       _pairs(store.similarity_search_with_relevance_scores(query, k=5)))  # type: ignore[arg-type]
        for lam in (0.2, 0.8):
            assert ([d.id for d in served.max_marginal_relevance_search(query, k=5, fetch_k=15, lambda_mult=lam)]
                    == [d.id for d in store.max_marginal_relevance_search(query, k=5, fetch_k=15, lambda_mult=lam)])
        assert served.get_by_ids(["doc-4", "nope"]) == store.get_by_ids(["doc-4"])
        # writes are read back at once (the read worker answers searches and gets)
        served.add_texts(["fresh"], [{"source": "new"}], ids=["doc-4"])
        assert [d.page_content for d in served.similarity_search(query, k=3, filter={"source": "new"})] == ["fresh"]
        served.delete(["doc-4", "missing"])
        assert served.get_by_ids(["doc-4"]) == []
        assert served.delete(filter={"source": "man"})
        assert {d.metadata["source"] for d in served.similarity_search(query, k=N)} == {"doc", "blog", "wiki"}
        # a store over the remote collection object itself, and the injection attempts over HTTP
        count = remote.collections.open("corpus").count()
        with pytest.raises(InvalidArgument, match="17-d"):
            LakebedVectorStore.from_texts(["x"], DeterministicFakeEmbedding(size=DIM + 1), lake=remote,
                                          collection_name="corpus")
        assert remote.collections.open("corpus").count() == count
        bare = LakebedVectorStore(remote.collections.open("corpus"), EMB)
        assert bare.similarity_search(query, k=2) == served.similarity_search(query, k=2)
        # the remote collection names its metric, as the embedded one does
        assert bare.metric == "cosine"
        assert (_pairs(bare.similarity_search_with_relevance_scores(query, k=3))
                == _pairs(served.similarity_search_with_relevance_scores(query, k=3)))
        owned = LakebedVectorStore.from_texts([], EMB, lake=remote, collection_name="owned")
        _fill_owned(owned)
        _check_injections(owned)


def test_langchain_indexing_api_keeps_the_collection_in_step(lake: lakebed.Lake) -> None:
    from langchain_core.indexing import InMemoryRecordManager, index

    store = LakebedVectorStore.from_texts([], EMB, lake=lake, collection_name="indexed")
    records = InMemoryRecordManager("lakebed/indexed")
    records.create_schema()
    docs = [Document(f"chunk {i} of {src}", metadata={"source": src}) for src in ("a.md", "b.md") for i in range(3)]
    kw: dict[str, Any] = {"cleanup": "full", "source_id_key": "source", "key_encoder": "sha256", "batch_size": 2}
    assert index(docs, records, store, **kw)["num_added"] == 6
    # b.md edited (one chunk changed), a.md removed: only what changed is written or deleted
    changed = [Document("chunk 0 of b.md, edited", metadata={"source": "b.md"}), *docs[4:]]
    result = index(changed, records, store, **kw)
    assert (result["num_added"], result["num_skipped"], result["num_deleted"]) == (1, 2, 4)
    col = lake.collections.open("indexed")
    texts = sorted(p.text or "" for p in col.scroll(limit=100)[0])
    assert texts == ["chunk 0 of b.md, edited", "chunk 1 of b.md", "chunk 2 of b.md"]
