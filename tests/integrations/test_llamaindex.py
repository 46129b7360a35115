"""LakebedVectorStore under LlamaIndex: retrieval through a VectorStoreIndex against a
brute-force cosine ranking, metadata filters against a plain-Python reference of
LlamaIndex's filter semantics, MMR against LlamaIndex's own MMR, deletes, persistence,
the query modes, bad input, and a served lake; nothing reaches the network."""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import Document, MetadataMode, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

import lakebed
from lakebed.errors import FilterError, InvalidArgument
from lakebed.integrations.llamaindex import LakebedVectorStore, to_lakebed_filter

DIM = 64


class HashEmbedding(BaseEmbedding):
    """Deterministic bag-of-words embedding: each word adds +-1 to a hashed bucket."""

    dim: int = DIM

    @classmethod
    def class_name(cls) -> str:
        return "HashEmbedding"

    def _vec(self, text: str) -> list[float]:
        v = np.zeros(self.dim)
        v[0] = 0.05  # never the zero vector
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            h = hashlib.sha1(word.encode()).digest()
            v[1 + h[0] % (self.dim - 1)] += 1.0 if h[1] % 2 else -1.0
        return (v / np.linalg.norm(v)).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vec(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vec(query)


DOCS: list[tuple[str, str, dict[str, Any]]] = [
    ("grep", "grep searches files for lines that match a regular expression pattern",
     {"topic": "search", "year": 1974, "lang": "c", "rating": 4.5, "tags": ["text", "regex"]}),
    ("find", "find walks a directory tree and lists files by name size or age",
     {"topic": "search", "year": 1971, "lang": "c", "rating": 4.0, "tags": ["files"]}),
    ("tar", "tar packs many files into one archive and unpacks archives again",
     {"topic": "archive", "year": 1979, "lang": "c", "rating": 3.5, "tags": ["files", "archive"]}),
    ("gzip", "gzip compresses a single file with the deflate algorithm",
     {"topic": "archive", "year": 1992, "rating": 3.9, "tags": ["compression"]}),
    ("ripgrep", "ripgrep recursively searches directories for a regex pattern fast",
     {"topic": "search", "year": 2016, "lang": "rust", "rating": 4.9, "tags": ["regex", "text"]}),
    ("fd", "fd is a simple fast alternative to find for finding entries in the filesystem",
     {"topic": "search", "year": 2017, "lang": "rust", "rating": 4.6, "tags": ["files"]}),
    ("zstd", "zstd offers fast compression with high ratios and dictionaries",
     {"topic": "archive", "year": 2016, "lang": "c", "rating": 4.7, "tags": ["compression"]}),
    ("curl", "curl transfers data from or to a server over http and many protocols",
     {"topic": "network", "year": 1998, "lang": "c", "rating": 4.8, "tags": ["http"]}),
    ("wget", "wget downloads files from the web non interactively",
     {"topic": "network", "year": 1996, "lang": "c", "rating": 4.1, "tags": ["http", "files"]}),
    ("ssh", "ssh logs into a remote machine and runs commands over an encrypted channel",
     {"topic": "network", "year": 1995, "lang": "c", "rating": 4.9, "tags": ["crypto"]}),
    ("jq", "jq slices filters and transforms json data on the command line",
     {"topic": "text", "year": 2012, "lang": "c", "rating": 4.4, "tags": ["json", "text"]}),
    ("sed", "sed edits a stream of text with substitutions and scripts",
     {"topic": "text", "year": 1974, "rating": 3.8, "tags": ["text", "regex"]}),
    ("awk", "awk scans text by fields and runs pattern action programs",
     {"topic": "text", "year": 1977, "lang": "c", "rating": 4.2, "tags": ["text"]}),
    ("htop", "htop shows running processes interactively with cpu and memory meters",
     {"topic": "system", "year": 2004, "lang": "c", "rating": 4.3, "tags": []}),
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record (and refuse) any attempt to reach a host that is not loopback: LlamaIndex
    must use its bundled NLTK and tiktoken data, never download them."""
    monkeypatch.delenv("NLTK_DATA", raising=False)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def local(host: Any) -> bool:
        return host in (None, "localhost", "127.0.0.1", "::1", "") or str(host).startswith("127.")

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not local(host):
            attempts.append(f"resolve {host}")
            raise OSError(f"test: no network (resolving {host})")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            attempts.append(f"connect {address}")
            raise OSError(f"test: no network (connecting to {address})")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert attempts == [], f"something tried to reach the network: {attempts}"


def documents() -> list[Document]:
    return [Document(text=text, id_=doc_id, metadata=dict(meta)) for doc_id, text, meta in DOCS]


def build(lake: Any, **store_kw: Any) -> tuple[VectorStoreIndex, LakebedVectorStore]:
    store = LakebedVectorStore(lake, "docs", **store_kw)
    ctx = StorageContext.from_defaults(vector_store=store)
    index = VectorStoreIndex.from_documents(documents(), storage_context=ctx, embed_model=HashEmbedding())
    return index, store


def brute_force(store: LakebedVectorStore, query: str, keep: Any = None) -> list[tuple[str, float]]:
    """(ref_doc_id, cosine) of every stored node passing ``keep``, best first: each node's
    embedding is recomputed as the index computed it (text with its embed metadata)."""
    emb = HashEmbedding()
    q = np.asarray(emb.get_query_embedding(query))
    out = []
    for node in store.get_nodes():
        if keep is not None and not keep(node.metadata):
            continue
        v = np.asarray(emb.get_text_embedding(node.get_content(metadata_mode=MetadataMode.EMBED)))
        out.append((node.ref_doc_id, float(q @ v / np.linalg.norm(q) / np.linalg.norm(v))))
    return sorted(out, key=lambda t: -t[1])


def test_retrieval_round_trip_matches_brute_force(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        index, store = build(lake)
        assert store.collection.count() == len(DOCS)  # one node per (short) document
        retriever = index.as_retriever(similarity_top_k=3)
        for query, expected in [("compress a file with deflate", "gzip"),
                                ("transfer data over http protocols", "curl"),
                                ("remote machine encrypted channel", "ssh")]:
            got = retriever.retrieve(query)
            ref = brute_force(store, query)
            assert got[0].node.ref_doc_id == expected == ref[0][0]
            assert [n.node.ref_doc_id for n in got] == [r[0] for r in ref[:3]]
            np.testing.assert_allclose([n.score for n in got], [r[1] for r in ref[:3]], atol=1e-5)
            # the node comes back whole: text, metadata, relationship to its document
            doc = next(d for d in DOCS if d[0] == expected)
            assert got[0].node.get_content() == doc[1]
            assert got[0].node.metadata == doc[2]


def llama_matches(f: MetadataFilter | MetadataFilters, meta: dict[str, Any]) -> bool:
    """LlamaIndex's filter semantics in plain Python (missing keys match only != and nin)."""
    if isinstance(f, MetadataFilters):
        results = [llama_matches(x, meta) for x in f.filters]
        if f.condition == FilterCondition.OR:
            return any(results)
        if f.condition == FilterCondition.NOT:
            return not any(results)
        return all(results)
    op, value = f.operator, f.value
    if op == FilterOperator.IS_EMPTY:
        return meta.get(f.key) in (None, "", [])
    if f.key not in meta or meta[f.key] is None:
        return op in (FilterOperator.NE, FilterOperator.NIN)
    m = meta[f.key]
    assert isinstance(value, list) or op not in (FilterOperator.IN, FilterOperator.NIN,
                                                 FilterOperator.ANY, FilterOperator.ALL)
    return {
        FilterOperator.EQ: lambda: m == value,
        FilterOperator.NE: lambda: m != value,
        FilterOperator.GT: lambda: m > value,
        FilterOperator.GTE: lambda: m >= value,
        FilterOperator.LT: lambda: m < value,
        FilterOperator.LTE: lambda: m <= value,
        FilterOperator.IN: lambda: m in value,
        FilterOperator.NIN: lambda: m not in value,
        FilterOperator.CONTAINS: lambda: value in m,
        FilterOperator.ANY: lambda: any(v in m for v in value),
        FilterOperator.ALL: lambda: all(v in m for v in value),
        FilterOperator.TEXT_MATCH: lambda: value in m,
        FilterOperator.TEXT_MATCH_INSENSITIVE: lambda: value.lower() in m.lower(),
    }[op]()


def F(key: str, value: Any, op: str = "==") -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=FilterOperator(op))


def G(*filters: Any, condition: str = "and") -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=FilterCondition(condition))


FILTERS = [
    G(F("topic", "search")),
    G(F("topic", "search", "!=")),
    G(F("year", 2000, ">")), G(F("year", 1995, ">=")), G(F("year", 1977, "<")), G(F("year", 1974, "<=")),
    G(F("rating", 4.5, ">=")),
    G(F("lang", "rust")), G(F("lang", "rust", "!=")),          # != matches docs without a lang
    G(F("lang", ["rust", "go"], "in")), G(F("lang", ["c"], "nin")),
    G(F("topic", ["text", "system"], "in"), F("year", 2000, "<")),
    G(F("topic", "archive"), F("rating", 4.5, ">"), condition="or"),
    G(F("topic", "search"), G(F("year", 2010, ">"), F("lang", "c", "!="), condition="or")),
    G(G(F("topic", "network"), F("topic", "text"), condition="or"), G(F("year", 1990, "<"), condition="not")),
    G(F("topic", "search"), F("topic", "text"), condition="not"),
    G(F("tags", "regex", "contains")), G(F("tags", ["http", "json"], "any")), G(F("tags", ["files", "archive"], "all")),
    G(F("tags", None, "is_empty")), G(F("lang", None, "is_empty")),
    G(F("topic", "arch", "text_match")), G(F("topic", "SEAR", "text_match_insensitive"), F("year", 2000, "<")),
    G(F("topic", "nothing-like-this")),
    G(),
]


@pytest.mark.parametrize("flt", FILTERS, ids=[str(i) for i in range(len(FILTERS))])
def test_metadata_filters_match_reference(flt: MetadataFilters, store_cache: dict[str, Any]) -> None:
    store = store_cache["store"]
    q = HashEmbedding().get_query_embedding("fast search of text files")
    res = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=100, filters=flt))
    want = {d[0] for d in DOCS if llama_matches(flt, d[2])}
    assert {n.ref_doc_id for n in res.nodes or []} == want
    # top-k inside the filter: the brute-force ranking restricted to the matching nodes
    res3 = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=3, filters=flt))
    ref = brute_force(store, "fast search of text files", keep=lambda m: llama_matches(flt, m))
    assert [n.ref_doc_id for n in res3.nodes or []] == [r[0] for r in ref[:3]]


@pytest.fixture(scope="module")
def store_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with lakebed.connect(tmp_path_factory.mktemp("filters") / "lake") as lake:
        _, store = build(lake)
        yield {"store": store}


def test_filter_translation_is_data_not_syntax() -> None:
    # a value that looks like an operator stays a value; keys that would be operators are refused
    out = to_lakebed_filter(G(F("title", "$or"), F("note", "{'$gt': 1}")))
    assert out == {"$and": [{"title": {"$eq": "$or"}}, {"note": {"$eq": "{'$gt': 1}"}}]}
    for key in ("$or", "$where", "a..b", ""):
        with pytest.raises(FilterError):
            to_lakebed_filter(G(F(key, 1)))
    with pytest.raises(FilterError, match="list"):
        to_lakebed_filter(G(F("lang", "c", "in")))
    assert to_lakebed_filter(None) is None and to_lakebed_filter(G()) is None


def test_mmr_matches_llamaindex_mmr(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        _, store = build(lake)
        q = HashEmbedding().get_query_embedding("search files fast with regex")
        for threshold in (0.2, 0.5, 0.9):
            res = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=4, mode=VectorStoreQueryMode.MMR,
                                               mmr_threshold=threshold), mmr_prefetch_k=len(DOCS))
            points = store.collection.get([n.node_id for n in store.get_nodes()], include_vectors=True)
            scores, ids = get_top_k_mmr_embeddings(q, [p.vector.tolist() for p in points], similarity_top_k=4,
                                                   embedding_ids=[p.id for p in points], mmr_threshold=threshold)
            assert res.ids == ids
            np.testing.assert_allclose(res.similarities or [], scores, atol=1e-5)
        # through a retriever, the threshold comes as a vector store keyword
        index = VectorStoreIndex.from_vector_store(store, embed_model=HashEmbedding())
        retriever = index.as_retriever(similarity_top_k=4, vector_store_query_mode="mmr",
                                       vector_store_kwargs={"mmr_threshold": 0.2, "mmr_prefetch_k": len(DOCS)})
        points = store.collection.get([n.node_id for n in store.get_nodes()], include_vectors=True)
        _, ids = get_top_k_mmr_embeddings(q, [p.vector.tolist() for p in points], similarity_top_k=4,
                                          embedding_ids=[p.id for p in points], mmr_threshold=0.2)
        assert [n.node.node_id for n in retriever.retrieve("search files fast with regex")] == ids
        plain = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=4))
        diverse = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=4, mode="mmr", mmr_threshold=0.1))
        assert plain.ids[0] == diverse.ids[0] and plain.ids != diverse.ids


def test_delete_by_ref_doc_and_nodes(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        index, store = build(lake)
        retriever = index.as_retriever(similarity_top_k=len(DOCS))
        index.delete_ref_doc("gzip")
        got = [n.node.ref_doc_id for n in retriever.retrieve("compress a file with deflate")]
        assert "gzip" not in got and len(got) == len(DOCS) - 1
        assert store.collection.count() == len(DOCS) - 1
        store.delete("no-such-document")  # nothing to delete is not an error
        assert store.collection.count() == len(DOCS) - 1
        # delete_nodes: ids and filters together delete their intersection
        ids = {n.ref_doc_id: n.node_id for n in store.get_nodes()}
        store.delete_nodes(node_ids=[ids["curl"], ids["grep"]], filters=G(F("topic", "network")))
        left = {n.ref_doc_id for n in store.get_nodes()}
        assert "curl" not in left and "grep" in left
        store.delete_nodes(filters=G(F("topic", "text")))
        assert {n.ref_doc_id for n in store.get_nodes()} == left - {"jq", "sed", "awk"}
        got_nodes = store.get_nodes(node_ids=[ids["grep"], "missing", ids["ssh"]])
        assert [n.ref_doc_id for n in got_nodes] == ["grep", "ssh"]
        assert {n.ref_doc_id for n in store.get_nodes(filters=G(F("lang", "rust")))} == {"ripgrep", "fd"}
        store.clear()
        assert store.collection.count() == 0 and store.get_nodes() == []
        assert lake.collections.exists("docs")


def test_persistence_reopen_and_query_again(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    query = "unpack an archive of many files"
    with lakebed.connect(path) as lake:
        index, _ = build(lake)
        before = [(n.node.node_id, n.score, n.node.get_content()) for n in index.as_retriever(
            similarity_top_k=5).retrieve(query)]
    with lakebed.connect(path) as lake:
        store = LakebedVectorStore(lake, "docs")
        index = VectorStoreIndex.from_vector_store(store, embed_model=HashEmbedding())
        after = [(n.node.node_id, n.score, n.node.get_content()) for n in index.as_retriever(
            similarity_top_k=5).retrieve(query)]
        assert [a[0] for a in after] == [b[0] for b in before] and after[0][2].startswith("tar ")
        np.testing.assert_allclose([a[1] for a in after], [b[1] for b in before], atol=1e-6)
        # and the reopened store keeps writing into the same collection
        index.insert(Document(text="unzip extracts files from a zip archive", id_="unzip"))
        assert store.collection.count() == len(DOCS) + 1


def test_text_and_hybrid_modes(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        _, store = build(lake, text_field=True)
        res = store.query(VectorStoreQuery(query_str="dictionaries ratios", similarity_top_k=2,
                                           mode=VectorStoreQueryMode.TEXT_SEARCH))
        assert res.nodes and res.nodes[0].ref_doc_id == "zstd"
        res = store.query(VectorStoreQuery(query_str="fast", similarity_top_k=10, mode="text_search",
                                           filters=G(F("lang", "rust"))))
        assert {n.ref_doc_id for n in res.nodes or []} == {"ripgrep", "fd"}
        q = HashEmbedding().get_query_embedding("encrypted remote commands")
        res = store.query(VectorStoreQuery(query_str="encrypted remote commands", query_embedding=q,
                                           similarity_top_k=3, mode="hybrid"))
        assert res.nodes and res.nodes[0].ref_doc_id == "ssh" and len(res.ids or []) == 3
        # alpha=1: only the vector side counts, so the order is the vector search's order
        vec = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=3))
        res = store.query(VectorStoreQuery(query_str="encrypted remote commands", query_embedding=q,
                                           similarity_top_k=3, mode="hybrid", alpha=1.0))
        assert res.ids == vec.ids


def test_bad_input_raises_and_stores_nothing(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        store = LakebedVectorStore(lake, "docs")
        assert store.query(VectorStoreQuery(query_embedding=[1.0] * DIM)).ids == []  # no collection yet
        with pytest.raises(InvalidArgument, match="no embedding"):
            store.add([TextNode(id_="a", text="x", embedding=[1.0] * DIM), TextNode(id_="b", text="y")])
        assert not lake.collections.exists("docs")
        store.add([TextNode(id_="a", text="x", embedding=[1.0] * DIM)])
        with pytest.raises(InvalidArgument):  # wrong dimension: the batch is refused whole
            store.add([TextNode(id_="b", text="y", embedding=[1.0] * DIM), TextNode(id_="c", text="z",
                                                                                  embedding=[1.0] * 3)])
        assert store.collection.count() == 1
        with pytest.raises(InvalidArgument, match="not supported"):
            store.query(VectorStoreQuery(query_embedding=[1.0] * DIM, mode="svm"))
        with pytest.raises(InvalidArgument, match="query_str"):
            store.query(VectorStoreQuery(query_embedding=[1.0] * DIM, mode="text_search"))
        with pytest.raises(InvalidArgument, match="text"):  # no BM25 index on this collection
            store.query(VectorStoreQuery(query_str="x", mode="text_search"))
        with pytest.raises(FilterError):
            store.query(VectorStoreQuery(query_embedding=[1.0] * DIM, filters=G(F("$where", 1))))
        with pytest.raises(InvalidArgument):
            LakebedVectorStore("./not-a-lake")


# -- a served lake -----------------------------------------------------------------------


@pytest.fixture
def served_url() -> Iterator[str]:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from tests.server.conftest import serving

    from lakebed.server import create_app

    with lakebed.connect(":memory:") as lake, serving(create_app(lake)) as url:
        yield url


def test_served_lake(served_url: str) -> None:
    with lakebed.connect(served_url) as lake:
        index, store = build(lake)
        query = "transfer data over http protocols"
        got = index.as_retriever(similarity_top_k=3).retrieve(query)
        ref = brute_force(store, query)
        assert [n.node.ref_doc_id for n in got] == [r[0] for r in ref[:3]]
        assert got[0].node.get_content().startswith("curl ")
        flt = G(F("topic", "network"), F("year", 1996, ">="))
        res = store.query(VectorStoreQuery(query_embedding=HashEmbedding().get_query_embedding(query),
                                           similarity_top_k=10, filters=flt))
        assert {n.ref_doc_id for n in res.nodes or []} == {d[0] for d in DOCS if llama_matches(flt, d[2])}
        store.delete("curl")
        assert "curl" not in {n.ref_doc_id for n in store.get_nodes()}
        assert len(store.get_nodes()) == len(DOCS) - 1
