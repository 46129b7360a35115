"""TextIndex: BM25 against a reference computation, filtering, durability markers."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from lakebed.errors import InvalidArgument
from lakebed.vectors import text as text_mod
from lakebed.vectors.text import TextIndex, analyzer

CORPUS = {
    1: "ls lists the contents of a directory",
    2: "cp copies files and directories",
    3: "rm removes files or directories; rm -r removes directories recursively",
    4: "mkdir makes directories",
    5: "cat concatenates files and prints them on the standard output",
    6: "grep prints lines that match patterns in files",
    7: "find searches for files in a directory hierarchy",
    8: "the quick brown fox jumps over the lazy dog",
    9: "directory directory directory listing",
    10: "Listing files: ls -l prints a long listing of files",
}


def reference_bm25(docs: dict[int, str], query: str, tokenizer: str = "en_stem_stop") -> dict[int, float]:
    """Standard BM25 (k1=1.2, b=0.75) with tantivy's IDF, written out by hand."""
    an = analyzer(tokenizer)
    toks = {k: an.analyze(t) for k, t in docs.items()}
    n_docs = len(docs)
    avgdl = sum(len(t) for t in toks.values()) / n_docs
    k1, b = 1.2, 0.75
    scores: dict[int, float] = {}
    for term in dict.fromkeys(an.analyze(query)):
        df = sum(1 for t in toks.values() if term in t)
        if df == 0:
            continue
        idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
        for key, t in toks.items():
            tf = Counter(t)[term]
            if tf:
                norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(t) / avgdl))
                scores[key] = scores.get(key, 0.0) + idf * norm
    return scores


def ranked(scores: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda p: (-p[1], p[0]))


@pytest.fixture
def idx(tmp_path: Path):
    index = TextIndex(tmp_path / "text")
    yield index
    index.close()


@pytest.mark.parametrize(
    "query",
    ["directory", "list files", "removes directories recursively", "prints the files", "fox dog", "zebra"],
)
@pytest.mark.parametrize("tokenizer", ["en_stem_stop", "simple"])
def test_bm25_matches_reference(tmp_path: Path, query: str, tokenizer: str) -> None:
    index = TextIndex(tmp_path / tokenizer, tokenizer=tokenizer)
    index.upsert(list(CORPUS), list(CORPUS.values()))
    index.commit(1)
    got = index.search(query, k=20)
    want = ranked(reference_bm25(CORPUS, query, tokenizer))
    assert [k for k, _ in got] == [k for k, _ in want]
    for (_, g), (_, w) in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-4)
    index.close()


def test_stemming_matches_word_forms(idx: TextIndex) -> None:
    idx.upsert([1, 2], ["listing directories", "copying files"])
    assert [k for k, _ in idx.search("directory list", k=5)] == [1]
    assert idx.search("the of and", k=5) == []  # only stop words: nothing to match


def test_upsert_replaces_text_of_a_key(idx: TextIndex) -> None:
    idx.upsert([1], ["apple"])
    idx.upsert([1], ["banana"])
    assert idx.search("apple", k=5) == []
    assert [k for k, _ in idx.search("banana", k=5)] == [1]
    assert idx.count() == 1
    idx.upsert([1], [None])  # no text: the key leaves the index
    assert idx.count() == 0


def test_delete_and_clear(idx: TextIndex) -> None:
    idx.upsert(list(CORPUS), list(CORPUS.values()))
    idx.delete([2, 3, 999])
    keys = {k for k, _ in idx.search("files directories", k=20)}
    assert keys.isdisjoint({2, 3}) and {4, 5} <= keys
    idx.clear()
    assert idx.count() == 0 and idx.search("files", k=5) == []


@pytest.mark.parametrize("force_oversample", [False, True])
def test_allowed_keys_still_return_k(idx: TextIndex, monkeypatch, force_oversample: bool) -> None:
    if force_oversample:
        monkeypatch.setattr(text_mod, "TERM_SET_MAX", 0)
        monkeypatch.setattr(text_mod, "TERM_SET_MAX_SHARE", 0.0)
    n = 500
    # Every doc matches "common"; the allowed ones rank last (longest texts).
    texts = ["common " + ("pad " * (k % 7)) for k in range(n)]
    idx.upsert(list(range(n)), texts)
    allowed = BitMap(k for k in range(n) if k % 7 == 6)
    got = idx.search("common", k=20, allowed=allowed)
    assert len(got) == 20 and all(k in allowed for k, _ in got)
    unfiltered = [k for k, _ in idx.search("common", k=n) if k in allowed][:20]
    assert [k for k, _ in got] == unfiltered
    assert idx.search("common", k=5, allowed=BitMap()) == []
    assert len(idx.search("common", k=1000, allowed=allowed)) == len(allowed)


def test_filtered_scores_equal_unfiltered_scores(idx: TextIndex) -> None:
    idx.upsert(list(CORPUS), list(CORPUS.values()))
    full = dict(idx.search("files directory", k=20))
    part = idx.search("files directory", k=20, allowed=BitMap([2, 7, 9]))
    assert [k for k, _ in part] == [k for k, _ in ranked({k: full[k] for k in (2, 7, 9)})]
    for k, s in part:
        assert s == pytest.approx(full[k])


def test_marker_is_durable_and_invalidated_by_changes(tmp_path: Path) -> None:
    path = tmp_path / "t"
    idx = TextIndex(path)
    assert idx.marker() is None
    idx.upsert([1], ["alpha"])
    assert idx.marker() is None
    idx.commit(5)
    assert idx.marker() == 5
    idx.upsert([2], ["beta"])
    assert idx.marker() is None  # pending change: the stored marker no longer describes the index
    idx.search("beta", k=1)  # publishes the change, without a marker
    idx.close()  # never committed with a marker
    again = TextIndex(path)
    assert again.marker() is None
    again.commit(6)
    again.close()
    third = TextIndex(path)
    assert third.marker() == 6
    assert {k for k, _ in third.search("alpha beta", k=5)} == {1, 2}
    third.close()


def test_uncommitted_writes_are_dropped_on_close(tmp_path: Path) -> None:
    idx = TextIndex(tmp_path / "t")
    idx.upsert([1], ["alpha"])
    idx.commit(1)
    idx.upsert([2], ["beta"])
    idx.close()
    again = TextIndex(tmp_path / "t")
    # The on-disk marker was invalidated when the change began, so the owner rebuilds.
    assert again.marker() is None
    again.close()


def test_unreadable_index_starts_over(tmp_path: Path) -> None:
    idx = TextIndex(tmp_path / "t")
    idx.upsert([1], ["alpha"])
    idx.commit(3)
    idx.close()
    (tmp_path / "t" / "tantivy" / "meta.json").write_text("{ not json")
    again = TextIndex(tmp_path / "t")
    assert again.marker() is None and again.count() == 0
    again.close()


def test_read_only_index_follows_writer(tmp_path: Path) -> None:
    w = TextIndex(tmp_path / "t")
    w.upsert([1], ["alpha"])
    w.commit(1)
    r = TextIndex(tmp_path / "t", read_only=True)
    assert [k for k, _ in r.search("alpha", k=1)] == [1]
    w.upsert([2], ["alpha beta"])
    w.commit(2)
    assert {k for k, _ in r.search("alpha", k=5)} == {1, 2}
    with pytest.raises(InvalidArgument):
        r.upsert([3], ["x"])
    r.close()
    w.close()


def test_bad_arguments(idx: TextIndex) -> None:
    with pytest.raises(InvalidArgument):
        idx.upsert([1, 2], ["one"])
    with pytest.raises(InvalidArgument):
        idx.upsert([-1], ["x"])
    with pytest.raises(InvalidArgument):
        idx.search("x", k=0)
    with pytest.raises(InvalidArgument):
        TextIndex(Path("/tmp/never"), tokenizer="klingon")


WORDS = ["apple", "banana", "cherry", "date", "elder", "fig"]


@settings(max_examples=40, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(
                st.just("upsert"),
                st.lists(st.integers(0, 30), min_size=1, max_size=5, unique=True),
                st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), min_size=5, max_size=5),
            ),
            st.tuples(st.just("delete"), st.lists(st.integers(0, 30), max_size=5), st.just([])),
            st.tuples(st.just("commit"), st.just([]), st.just([])),
        ),
        max_size=25,
    ),
    word=st.sampled_from(WORDS),
    allowed=st.one_of(st.none(), st.lists(st.integers(0, 30), max_size=10)),
)
def test_matches_model_after_random_writes(tmp_path_factory, ops, word, allowed) -> None:
    model: dict[int, list[str]] = {}
    idx = TextIndex(tmp_path_factory.mktemp("prop"))
    for i, (op, keys, words) in enumerate(ops):
        if op == "upsert":
            texts = [" ".join(w) for w in words[: len(keys)]]
            idx.upsert(keys, texts)
            model.update({k: w for k, w in zip(keys, words, strict=False)})
        elif op == "delete":
            idx.delete(keys)
            for k in keys:
                model.pop(k, None)
        else:
            idx.commit(i)
    bitmap = None if allowed is None else BitMap(allowed)
    got = {k for k, _ in idx.search(word, k=100, allowed=bitmap)}
    want = {k for k, w in model.items() if word in w and (bitmap is None or k in bitmap)}
    assert got == want
    assert idx.count() == len(model)
    idx.close()
