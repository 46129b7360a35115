"""Text on collections: BM25 and hybrid search, embed-for-you, and a text index that
stays consistent with the points through upserts, deletes, compaction, reopen and SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import lakebed
from lakebed.errors import InvalidArgument

WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "kiwi"]


def live_texts(col) -> dict:
    out, cursor = {}, None
    while True:
        page, cursor = col.scroll(limit=500, cursor=cursor)
        out.update({p.id: p.text for p in page})
        if cursor is None:
            return out


def assert_text_index_consistent(col) -> None:
    texts = live_texts(col)
    for word in WORDS:
        got = {h.id for h in col.search_text(word, k=10_000)}
        want = {i for i, t in texts.items() if t and word in t.split()}
        assert got == want, word


def test_search_text_with_filter_and_meta(lake) -> None:
    col = lake.collections.create("c", dim=2, text_field=True)
    col.upsert(
        [1, 2, 3, 4],
        [[1, 0], [0, 1], [1, 1], [1, -1]],
        payloads=[{"lang": "en"}, {"lang": "de"}, {"lang": "en"}, {"lang": "en"}],
        texts=["red apple pie", "red apple", "green apple", None],
    )
    hits = col.search_text("red apple", k=10)
    assert [h.id for h in hits] == [2, 1, 3]
    assert hits[0].meta == {"plan": "bm25", "text_rank": 1, "text_score": hits[0].score}
    assert hits[0].text == "red apple"
    assert [h.id for h in col.search_text("red apple", k=10, filter={"lang": "en"})] == [1, 3]
    assert col.search_text("zebra", k=3) == []


def test_hybrid_search_fuses_both_sides(lake) -> None:
    col = lake.collections.create("c", dim=2, text_field=True)
    col.upsert(
        ["a", "b", "c"],
        [[1, 0], [0.8, 0.6], [0, 1]],
        payloads=[{"g": 1}, {"g": 1}, {"g": 2}],
        texts=["nothing relevant", "the keyword here", "keyword keyword"],
    )
    hits = col.hybrid_search("keyword", vector=[1, 0], k=3)
    by_id = {h.id: h for h in hits}
    assert by_id["b"].meta["found_by"] == "both"
    assert by_id["a"].meta["found_by"] == "vector" and by_id["a"].meta["text_rank"] is None
    assert by_id["b"].meta["vector_rank"] == 2
    assert by_id["b"].score == pytest.approx(1 / 62 + 1 / (60 + by_id["b"].meta["text_rank"]))
    assert hits[0].meta["found_by"] == "both" and hits[-1].id == "a"
    filtered = col.hybrid_search("keyword", vector=[1, 0], k=3, filter={"g": 2})
    assert [h.id for h in filtered] == ["c"]
    w = col.hybrid_search("keyword", vector=[1, 0], k=3, fusion="weighted", alpha=1.0)
    assert w[0].id == "a" and w[0].score == pytest.approx(1.0)
    with pytest.raises(InvalidArgument):
        col.hybrid_search("keyword", k=3)  # no embedder and no vector
    with pytest.raises(InvalidArgument):
        col.hybrid_search("keyword", vector=[1, 0], fusion="max")


def test_add_texts_and_query_modes(lake) -> None:
    col = lake.collections.create("notes", dim=64, text_field=True, embedder="hash")
    ids = col.add_texts(["red apples", "green apples", "a red car"], payloads=[{"n": i} for i in range(3)])
    assert len(ids) == 3 and len(set(ids)) == 3
    for mode in ("hybrid", "vector", "text"):
        hits = col.query("red apples", k=2, mode=mode)
        assert hits[0].id == ids[0], mode
    with pytest.raises(InvalidArgument):
        col.query("x", mode="fuzzy")
    plain = lake.collections.create("plain", dim=2)
    with pytest.raises(InvalidArgument):
        plain.search_text("x")
    with pytest.raises(InvalidArgument):
        plain.add_texts(["x"])


def test_embedder_binding_is_checked(lake_path) -> None:
    with lakebed.connect(lake_path) as lake:
        with pytest.raises(InvalidArgument):
            lake.collections.create("bad", dim=3, embedder="hash")
        lake.collections.create("ok", dim=64, text_field=True, embedder="hash").add_texts(["hi"], ids=[1])
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.open("ok")
        assert col.embedder_name == "hash"
        assert [h.id for h in col.query("hi", mode="vector")] == [1]


def test_text_index_consistent_after_writes_compaction_and_reopen(lake_path) -> None:
    rng = random.Random(7)
    with lakebed.connect(lake_path, segment_size=40, compaction_threshold=0.1) as lake:
        col = lake.collections.create("t", dim=4, text_field=True)
        for step in range(30):
            ids = rng.sample(range(120), 10)
            texts = [" ".join(rng.choices(WORDS, k=3)) if rng.random() > 0.1 else None for _ in ids]
            col.upsert(ids, np.random.default_rng(step).normal(size=(10, 4)), texts=texts)
            if step % 4 == 3:
                col.delete(ids=rng.sample(range(120), 8))
            if step % 10 == 9:
                col.flush()
                col.compact()
        assert_text_index_consistent(col)
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.open("t")
        assert_text_index_consistent(col)
        # A lost text index is rebuilt from the segments on open.
        col.close()
    import shutil

    text_dirs = list(Path(lake_path).rglob("textindex.json"))
    assert text_dirs
    shutil.rmtree(text_dirs[0].parent)
    with lakebed.connect(lake_path) as lake:
        assert_text_index_consistent(lake.collections.open("t"))


def test_old_versions_and_read_only_opens_search_their_own_texts(lake_path) -> None:
    """A collection opened at an older version searches the texts of that version, and a
    read-only open whose on-disk text index is stale or missing builds its own."""
    with lakebed.connect(lake_path) as lake:
        col = lake.collections.create("t", dim=4, text_field=True)
        col.upsert([1, 2], np.eye(2, 4), texts=["apple banana", "cherry"])
        col.flush()
        v1 = col.versions()[-1]["version"]
        col.upsert([1, 3], np.eye(2, 4), texts=["kiwi", "apple grape"])
        col.delete(ids=[2])
        col.flush()
        assert {h.id for h in col.search_text("apple")} == {3}
        old = lake.collections.open("t", version=v1)
        assert {h.id for h in old.search_text("apple")} == {1}
        assert {h.id for h in old.search_text("cherry")} == {2}
        assert {h.id for h in old.hybrid_search("apple", vector=[1, 0, 0, 0], k=5)} <= {1, 2}
        assert_text_index_consistent(old)
        old.close()
        assert {h.id for h in col.search_text("apple")} == {3}  # the writer's index is untouched
    import shutil

    (text_dir,) = {p.parent for p in Path(lake_path).rglob("textindex.json")}
    shutil.rmtree(text_dir)
    with lakebed.connect(lake_path, read_only=True) as lake:
        col = lake.collections.open("t")
        assert {h.id for h in col.search_text("apple")} == {3}
        assert_text_index_consistent(col)
        tmp = col._text_tmp
        assert tmp is not None and tmp.exists()
    assert not tmp.exists()
    assert not text_dir.exists()  # a read-only open wrote nothing into the lake


WRITER = textwrap.dedent(
    """
    import random, sys
    import numpy as np
    import lakebed
    path = sys.argv[1]
    words = WORDS_REPR
    rng = random.Random(int(sys.argv[2]))
    lake = lakebed.connect(path, segment_size=60)
    cols = lake.collections
    col = cols.open("t") if cols.exists("t") else cols.create("t", dim=4, text_field=True)
    step = 0
    while True:
        ids = rng.sample(range(300), 8)
        texts = [" ".join(rng.choices(words, k=3)) for _ in ids]
        col.upsert(ids, np.random.default_rng(step).normal(size=(8, 4)), texts=texts)
        if step % 3 == 2:
            col.delete(ids=rng.sample(range(300), 5))
        if step % 25 == 24:
            col.flush()
        step += 1
        if step == 5:
            print("ready", flush=True)
    """
).replace("WORDS_REPR", repr(WORDS))


@pytest.mark.slow
def test_text_index_consistent_after_sigkill(lake_path, tmp_path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(lake_path), str(round_)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else ""
        time.sleep(0.3 + 0.4 * round_)  # let it run into the middle of some write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with lakebed.connect(lake_path) as lake:
            col = lake.collections.open("t")
            assert col.count() > 0
            assert_text_index_consistent(col)
