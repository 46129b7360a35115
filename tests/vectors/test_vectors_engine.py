"""Engine behaviour: concurrent reads during writes and background seals, snapshot
isolation, segment growth and compaction, text index recovery."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import lakebed


def test_searches_during_writes_and_seals(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6000, 16)).astype(np.float32)
    errors: list[BaseException] = []
    done = threading.Event()
    with lakebed.connect(tmp_path / "lake", segment_size=1000, fsync="never") as lake:
        col = lake.collections.create("c", dim=16)

        def reader() -> None:
            q = np.random.default_rng(1).standard_normal((50, 16)).astype(np.float32)
            try:
                while not done.is_set():
                    for v in q:
                        hits = col.search(v, k=10, filter={"g": {"$lt": 3}})
                        assert len({h.id for h in hits}) == len(hits) <= 10
                        assert all(h.payload["g"] < 3 for h in hits)
                        col.search(v, k=5)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        for i in range(0, 6000, 200):
            col.upsert(list(range(i, i + 200)), x[i : i + 200], payloads=[{"g": j % 7} for j in range(i, i + 200)])
            if i % 1000 == 0:
                col.delete(ids=list(range(0, i, 5)))
        col.flush()
        done.set()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        deleted = {j for i in range(0, 6000, 1000) for j in range(0, i, 5)}
        assert col.count() == 6000 - len(deleted)
        assert col.stats()["pending_seals"] == 0


def test_snapshot_is_stable_while_writing(lake: lakebed.Lake) -> None:
    col = lake.collections.create("c", dim=4)
    col.upsert([1, 2], np.eye(4)[:2])
    snap = col._snap
    col.upsert([3], np.eye(4)[2:3])
    col.delete(ids=[1])
    assert sum(v.live for v in snap.views) == 2
    assert col.count() == 2


def test_segments_grow_by_appending_and_compact(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5000, 8)).astype(np.float32)
    with lakebed.connect(tmp_path / "lake", segment_size=1000, compaction_threshold=0.3, fsync="never") as lake:
        col = lake.collections.create("c", dim=8, metric="l2")
        for i in range(0, 5000, 500):
            col.upsert(list(range(i, i + 500)), x[i : i + 500])
        col.flush()
        sizes = [v.n for v in col._snap.views]
        assert sum(sizes) == 5000 and len(sizes) == 2  # 4000 (appended) + 1000
        q = x[17]
        before = [h.id for h in col.search(q, k=10, exact=True)]
        col.delete(ids=list(range(0, 5000, 2)))
        result = col.compact()
        assert result["removed_rows"] == 2500
        assert col.stats()["deleted"] == 0
        after = [h.id for h in col.search(q, k=10, exact=True)]
        assert after == [i for i in before if i % 2] + after[len([i for i in before if i % 2]) :]
        assert all(i % 2 for i in after)
        v = col.versions()[-1]["version"]
        col.upsert([2], x[:1])
        col.flush()
        assert lake.collections.open("c", version=v).get([2]) == []
        assert len(col.get([2])) == 1


def test_text_index_rebuilt_when_behind(tmp_path: Path) -> None:
    pytest.importorskip("tantivy")
    path = tmp_path / "lake"
    with lakebed.connect(path) as lake:
        col = lake.collections.create("t", dim=2, text_field=True)
        col.upsert([1, 2], [[1, 0], [0, 1]], texts=["alpha beta", "gamma delta"])
        col.flush()
        col.upsert([3], [[1, 1]], texts=["epsilon alpha"])
        col.delete(ids=[2])
        text = col._text
        # simulate a crash: the WAL has the writes, the text index never committed them
        text.commit(0)
    with lakebed.connect(path) as lake:
        col = lake.collections.open("t")
        assert col._text.marker() == col._seq
        assert sorted(k for k, _ in col._text.search("alpha", 10)) == [0, 2]
        assert col._text.search("gamma", 10) == []
