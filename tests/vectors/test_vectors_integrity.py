"""Integrity of vector collections: a damaged write-ahead log stops instead of discarding,
damaged manifests and segment files raise CorruptionError naming the file, `check` finds
every damaged file and `repair` makes the collection openable again and says what was
lost; lakes are relocatable; k is bounded; operator-looking filters without `$` refuse."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

import lakebed
from lakebed.errors import CorruptionError, FilterError, InvalidArgument
from lakebed.vectors._check import check_collection, repair_collection
from lakebed.vectors._schema import vector_collections
from lakebed.vectors._wal import scan_file

DIM = 8


def _vec(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def _col_dir(root: Path, name: str) -> Path:
    return root / "collections" / name


def _flip(p: Path, at: float = 0.5, n: int = 1) -> None:
    raw = bytearray(p.read_bytes())
    i = min(int(len(raw) * at), len(raw) - n)
    for j in range(i, i + n):
        raw[j] ^= 0xFF
    p.write_bytes(bytes(raw))


def _truncate(p: Path) -> None:
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])


# -- the write-ahead log ------------------------------------------------------------------


def _hundred_upserts(root: Path) -> Path:
    with lakebed.connect(root) as lake:
        col = lake.collections.create("c", dim=DIM)
        for i in range(100):
            col.upsert([i], _vec(1, i), payloads=[{"i": i}])
    (wal,) = sorted((_col_dir(root, "c") / "wal").glob("*.wal"))
    return wal


def test_damaged_wal_stops_and_leaves_the_file_untouched(tmp_path: Path) -> None:
    # issue 14 item 3: 4 bytes overwritten at 10% of the log used to cut it to 10 records
    root = tmp_path / "lake"
    wal = _hundred_upserts(root)
    raw = bytearray(wal.read_bytes())
    at = len(raw) // 10
    raw[at : at + 4] = b"\x00\x01\x02\x03"
    wal.write_bytes(bytes(raw))
    before = wal.read_bytes()
    with lakebed.connect(root) as lake, pytest.raises(CorruptionError) as err:
        lake.collections.open("c")
    msg = str(err.value)
    assert str(wal) in msg and "byte " in msg and "lakebed repair" in msg and "lakebed check" in msg
    assert wal.read_bytes() == before  # nothing truncated
    problems = check_collection(root, "c", _col_dir(root, "c"))
    assert [p.file for p in problems] == [wal.relative_to(root).as_posix()]
    assert problems[0].repairable and "lakebed repair" in problems[0].action
    lines = repair_collection(root, "c", _col_dir(root, "c"))
    assert any("lost write 10 " in line or "lost write 11 " in line for line in lines), lines
    assert any("kept 99 readable records" in line for line in lines), lines
    assert list(wal.parent.glob("*.corrupt-*"))  # the damaged file is kept aside
    with lakebed.connect(root) as lake:
        col = lake.collections.open("c")
        assert col.count() == 99
    assert check_collection(root, "c", _col_dir(root, "c")) == []


def test_torn_tail_is_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "lake"
    wal = _hundred_upserts(root)
    size = wal.stat().st_size
    with open(wal, "r+b") as fh:  # a crash in the middle of the last append
        fh.truncate(size - 30)
    assert check_collection(root, "c", _col_dir(root, "c")) == []  # a torn tail is no damage
    with caplog.at_level(logging.WARNING, logger="lakebed.vectors"), lakebed.connect(root) as lake:
        assert lake.collections.open("c").count() == 99
    assert any("incomplete record" in r.getMessage() and "bytes" in r.getMessage() for r in caplog.records)
    assert wal.stat().st_size < size - 30


def test_zeroed_tail_is_a_torn_tail(tmp_path: Path) -> None:
    # a file system may leave zeros after the last complete write
    root = tmp_path / "lake"
    wal = _hundred_upserts(root)
    with open(wal, "ab") as fh:
        fh.write(b"\x00" * 4096)
    with lakebed.connect(root) as lake:
        assert lake.collections.open("c").count() == 100


def test_damaged_last_record_with_nothing_after_is_a_torn_tail(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    wal = _hundred_upserts(root)
    _flip(wal, at=0.999)
    with lakebed.connect(root) as lake:
        assert lake.collections.open("c").count() == 99


@pytest.mark.parametrize("seed", range(12))
def test_any_damage_before_the_last_record_is_refused(tmp_path: Path, seed: int) -> None:
    # property: damage anywhere but the last record never loses records silently
    root = tmp_path / "lake"
    wal = _hundred_upserts(root)
    raw = bytearray(wal.read_bytes())
    rng = np.random.default_rng(seed)
    at = int(rng.integers(0, int(len(raw) * 0.98)))
    n = int(rng.integers(1, 9))
    for j in range(at, min(at + n, len(raw))):
        raw[j] = (raw[j] + 1 + int(rng.integers(0, 255))) % 256
    wal.write_bytes(bytes(raw))
    try:
        with lakebed.connect(root) as lake:
            count = lake.collections.open("c").count()
        assert count == 100, "damage that changed no record must change nothing"
    except CorruptionError:
        lines = repair_collection(root, "c", _col_dir(root, "c"))
        with lakebed.connect(root) as lake:
            count = lake.collections.open("c").count()
        assert 100 - 3 <= count < 100, lines


# -- manifests ----------------------------------------------------------------------------


def _manifests(root: Path) -> list[Path]:
    """The manifest files of collection "c", oldest first."""
    return sorted((_col_dir(root, "c") / "manifests").glob("*.json"))


def _two_versions(root: Path, **settings: Any) -> list[Path]:
    """Collection "c" with two flushed versions; its manifest files, oldest first."""
    with lakebed.connect(root, **settings) as lake:
        col = lake.collections.create("c", dim=DIM)
        col.upsert(list(range(50)), _vec(50))
        col.flush()
        col.upsert(list(range(50, 80)), _vec(30, 1))
        col.flush()
    return _manifests(root)


def test_truncated_newest_manifest_raises_and_repair_rolls_back(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    newest = _two_versions(root)[-1]
    _truncate(newest)
    with lakebed.connect(root) as lake, pytest.raises(CorruptionError) as err:
        lake.collections.open("c")
    assert str(newest) in str(err.value) and "lakebed repair" in str(err.value)
    problems = check_collection(root, "c", _col_dir(root, "c"))
    assert [p.file for p in problems] == [newest.relative_to(root).as_posix()]
    lines = repair_collection(root, "c", _col_dir(root, "c"))
    text = "\n".join(lines)
    assert "rolled back to version 1" in text
    # the second flush's rows were sealed and their log file deleted: lost, and said so
    assert "writes 2..2 are lost" in text or "writes 2" in text, text
    assert "ids 50, 51" in text, text
    with lakebed.connect(root) as lake:
        col = lake.collections.open("c")
        assert col.count() == 50
        col.upsert([99], _vec(1, 9))  # writable again
        col.flush()
    assert check_collection(root, "c", _col_dir(root, "c")) == []


def test_rollback_replays_the_log_still_present(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    with lakebed.connect(root) as lake:
        col = lake.collections.create("c", dim=DIM)
        col.upsert(list(range(20)), _vec(20))
        col.flush()
        col.create_payload_index("x", "integer")  # a new version, no write
        col.upsert([20, 21], _vec(2, 1))  # in the log only
    _truncate(_manifests(root)[-1])
    lines = repair_collection(root, "c", _col_dir(root, "c"))
    assert not any("lost" in line and "writes" in line for line in lines), lines
    with lakebed.connect(root) as lake:
        assert lake.collections.open("c").count() == 22


def test_damaged_older_manifest_leaves_the_collection_usable(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    older = _two_versions(root)[-2]
    _flip(older)
    with lakebed.connect(root) as lake:
        assert lake.collections.open("c").count() == 80
    problems = check_collection(root, "c", _col_dir(root, "c"))
    assert [p.file for p in problems] == [older.relative_to(root).as_posix()]
    lines = repair_collection(root, "c", _col_dir(root, "c"))
    assert len(lines) == 1 and "moved aside" in lines[0]
    with lakebed.connect(root) as lake:
        assert lake.collections.open("c").count() == 80


# -- every kind of file ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with three collections covering every kind of file: an HNSW segment (vectors
    inside index.faiss) with tombstones and a text index, an int8 one (refine.faiss), a
    small unindexed one (vectors.npy); each with records in the log."""
    root = tmp_path_factory.mktemp("integrity") / "lake"
    with lakebed.connect(root, segment_size=2100) as lake:
        for name, kw, n in (("hnsw", {"text_field": True}, 2200), ("int8", {"quantization": "int8"}, 2200),
                            ("small", {}, 300)):
            col = lake.collections.create(name, dim=DIM, **kw)
            col.create_payload_index("g", "integer")
            ids = list(range(n))
            col.upsert(ids, _vec(n), payloads=[{"g": i % 7} for i in ids],
                       texts=[f"point number {i}" for i in ids] if kw.get("text_field") else None)
            col.flush()
            col.delete(filter={"g": 3})
            col.flush()
            col.upsert([10_000], _vec(1, 5), payloads=[{"g": 1}])
            col.upsert([10_001], _vec(1, 6), payloads=[{"g": 2}])
    return root


def _damage_record(point_id: int, n: int) -> Callable[[Path], None]:
    def damage(p: Path) -> None:
        scan = scan_file(p, None)
        rec = next(r for r in scan.records if r.header.get("ids") == [point_id])
        raw = bytearray(p.read_bytes())
        for j in range(rec.offset + 20, rec.offset + 20 + n):
            raw[j] ^= 0x5A
        p.write_bytes(bytes(raw))

    return damage


def _target(col: Path, kind: str) -> Path:
    seg = sorted(p for p in (col / "segments").iterdir() if p.name.isdigit())[-1]
    if kind == "wal":
        return sorted((col / "wal").glob("*.wal"))[-1]
    if kind == "manifest":
        return sorted((col / "manifests").glob("*.json"))[-1]
    if kind == "tombstones":
        return sorted(seg.glob("tomb-*.roar"))[-1]
    if kind == "text":
        return max((col / "text" / "tantivy").glob("*.term"), key=lambda p: p.stat().st_size)
    return seg / kind


CASES = [
    ("hnsw", "wal"), ("hnsw", "manifest"), ("hnsw", "index.faiss"), ("hnsw", "rows.parquet"),
    ("hnsw", "meta.json"), ("hnsw", "tombstones"), ("hnsw", "text"),
    ("int8", "refine.faiss"), ("int8", "index.faiss"), ("small", "vectors.npy"), ("small", "rows.parquet"),
]


@pytest.mark.parametrize("damage", [_flip, _truncate], ids=["flip", "truncate"])
@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_each_kind_of_damaged_file(
    built_lake: Path, tmp_path: Path, name: str, kind: str, damage: Callable[[Path], None]
) -> None:
    root = tmp_path / "lake"
    if kind == "wal":
        # damage in the record of point 10000, so a valid record (10001) follows
        # (a cut inside the last record is a torn tail, which is not damage)
        damage = _damage_record(10_000, 1 if damage is _flip else 16)
    for attempt in ("open", "repair"):
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(built_lake, root)
        col_dir = _col_dir(root, name)
        target = _target(col_dir, kind)
        damage(target)
        rel = target.relative_to(root).as_posix()
        problems = check_collection(root, name, col_dir)
        assert [p.file for p in problems] == [rel], [str(p) for p in problems]
        assert problems[0].repairable and "lakebed repair" in problems[0].action
        if attempt == "repair":
            break
        if kind == "text":
            # derived data: a writable open rebuilds it (with a warning)
            with lakebed.connect(root) as lake:
                col = lake.collections.open(name)
                assert [h.id for h in col.search_text("point number 18", k=1)] == [18]
        else:
            with lakebed.connect(root) as lake, pytest.raises(CorruptionError) as err:
                lake.collections.open(name)
            assert rel in str(err.value).replace(str(root) + "/", ""), str(err.value)
    lines = repair_collection(root, name, col_dir)
    assert lines
    total = 2200 if name != "small" else 300
    before = total - sum(1 for i in range(total) if i % 7 == 3) + 2
    with lakebed.connect(root) as lake:
        col = lake.collections.open(name)
        col.search(_vec(1)[0], k=5)
        col.upsert([20_000], _vec(1, 7), payloads=[{"g": 0}])
        n = col.count()
    assert check_collection(root, name, col_dir) == [], lines
    text = "\n".join(lines)
    if kind == "wal":
        # the record of 10000 is lost (and named), one point added
        assert n == before and "lost write" in text and "kept" in text, lines
        with lakebed.connect(root) as lake:
            assert [p.id for p in lake.collections.open(name).get([10_000, 10_001])] == [10_001]
    elif kind == "manifest":
        assert n == before + 1 and "rolled back to version" in text, lines  # the log had it all
    elif kind == "text":
        assert n == before + 1 and "rebuilt" in text, lines
    else:
        # the damaged segment is left out: only the log's points (and the new one) remain
        assert n == 3, lines
        assert "point" in text and "lost" in text, lines


def test_old_segments_without_checksums_still_checked(tmp_path: Path) -> None:
    import json

    root = tmp_path / "lake"
    with lakebed.connect(root) as lake:
        col = lake.collections.create("c", dim=DIM)
        col.upsert(list(range(30)), _vec(30))
        col.flush()
    mfile = sorted((_col_dir(root, "c") / "manifests").glob("*.json"))[-1]
    m = json.loads(mfile.read_text())
    m.pop("crc32")
    for s in m["segments"]:
        s.pop("files")
    mfile.write_text(json.dumps(m))  # as written by an older lakebed
    with lakebed.connect(root) as lake:
        assert lake.collections.open("c").count() == 30
    rows = _col_dir(root, "c") / "segments" / "00000001" / "rows.parquet"
    _truncate(rows)
    assert check_collection(root, "c", _col_dir(root, "c"))[0].file.startswith("collections/c/segments/00000001")
    with lakebed.connect(root) as lake, pytest.raises(CorruptionError, match=r"rows\.parquet"):
        lake.collections.open("c")


# -- relocation -------------------------------------------------------------------------------


def _make(root: Path) -> None:
    with lakebed.connect(root) as lake:
        col = lake.collections.create("c", dim=DIM)
        col.upsert([1, 2], _vec(2))
        col.flush()
        col.upsert([3], _vec(1, 1))


def test_a_copied_lake_is_independent(tmp_path: Path) -> None:
    orig, copy = tmp_path / "lake", tmp_path / "copy"
    _make(orig)
    with lakebed.connect(orig) as lake, lake.catalog.connect() as conn:
        stored = conn.execute(sa.select(vector_collections.c.location)).scalar_one()
    assert stored == "collections/c"  # relative to the lake root
    shutil.copytree(orig, copy)
    with lakebed.connect(copy) as lake:
        col = lake.collections.open("c")
        assert col.path == _col_dir(copy, "c")
        col.upsert([4, 5], _vec(2, 2))
        col.flush()
        assert col.count() == 5
        assert lake.collections.info("c")["location"] == str(_col_dir(copy, "c"))
    with lakebed.connect(orig) as lake:
        assert lake.collections.open("c").count() == 3


def test_a_moved_lake_works(tmp_path: Path) -> None:
    orig, moved = tmp_path / "lake", tmp_path / "moved"
    _make(orig)
    shutil.move(orig, moved)
    with lakebed.connect(moved) as lake:
        col = lake.collections.open("c")
        assert col.count() == 3
        col.upsert([9], _vec(1, 9))
    with lakebed.connect(moved) as lake:
        assert lake.collections.open("c").count() == 4


def test_absolute_locations_of_older_lakes_are_rerooted(tmp_path: Path) -> None:
    orig, copy = tmp_path / "lake", tmp_path / "copy"
    _make(orig)
    with lakebed.connect(orig) as lake, lake.catalog.begin() as conn:  # what older versions stored
        conn.execute(sa.update(vector_collections).values(location=str(_col_dir(orig, "c"))))
    shutil.copytree(orig, copy)
    with lakebed.connect(copy) as lake:
        col = lake.collections.open("c")
        assert col.path == _col_dir(copy, "c")
        col.upsert([7], _vec(1, 7))
        col.flush()
    with lakebed.connect(orig) as lake:
        assert lake.collections.open("c").count() == 3
    shutil.rmtree(orig)
    with lakebed.connect(copy) as lake:
        assert lake.collections.open("c").count() == 4
        lake.collections.drop("c")
        assert not _col_dir(copy, "c").exists()


# -- k bounds -------------------------------------------------------------------------------


def test_huge_k_returns_the_live_points_quickly(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        col = lake.collections.create("c", dim=DIM, text_field=True)
        col.upsert(list(range(100)), _vec(100), texts=[f"doc {i} words" for i in range(100)])
        col.delete(ids=[0, 1])
        t = time.perf_counter()
        assert len(col.search(_vec(1)[0], k=10**9)) == 98
        assert [len(r) for r in col.search_batch(_vec(3), k=10**9)] == [98, 98, 98]
        assert len(col.search(_vec(1)[0], k=10**9, filter={"x": {"$exists": False}})) == 98
        col.explain(_vec(1)[0], k=10**9)
        assert len(col.search_text("words", k=10**9)) == 98
        assert len(col.hybrid_search("words", _vec(1)[0], k=10**9)) == 98
        col.flush()
        assert len(col.search(_vec(1)[0], k=10**9)) == 98
        assert len(col.search(_vec(1)[0], k=10**9, exact=True)) == 98
        assert time.perf_counter() - t < 10
        bad: Any
        for bad in (0, -1, 1.5, True, "10", None):
            with pytest.raises(InvalidArgument, match="k must be a positive integer"):
                col.search(_vec(1)[0], k=bad)
            with pytest.raises(InvalidArgument, match="k must be a positive integer"):
                col.search_text("words", k=bad)
        with pytest.raises(InvalidArgument, match="candidates must be a positive integer"):
            col.hybrid_search("words", _vec(1)[0], candidates=0)


def test_empty_collection_huge_k(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        col = lake.collections.create("c", dim=DIM)
        assert col.search(_vec(1)[0], k=10**9) == []


# -- filters that would silently match nothing ---------------------------------------------


@pytest.mark.parametrize(
    ("flt", "hint"),
    [
        ({"year": {"gte": 2010}}, "'$gte': 2010"),
        ({"year": {"gte": 2010, "lt": 2020}}, "'$lt': 2020"),
        ({"tag": {"in": ["a", "b"]}}, "'$in'"),
        ({"tag": {"ne": "a"}}, "'$ne'"),
        ({"tag": {"exists": True}}, "'$exists'"),
        ({"meta": {"year": {"$gte": 2010}}}, "dotted path"),
        ({"or": [{"a": 1}, {"b": 2}]}, "'$or'"),
    ],
)
def test_operator_without_dollar_is_refused(tmp_path: Path, flt: dict[str, Any], hint: str) -> None:
    with lakebed.connect(":memory:") as lake:
        col = lake.collections.create("c", dim=2)
        col.upsert([1], [[1.0, 0.0]], payloads=[{"year": 2015, "tag": "a"}])
        with pytest.raises(FilterError) as err:
            col.search([1.0, 0.0], filter=flt)
        assert hint in str(err.value)
        with pytest.raises(FilterError):
            col.count(filter=flt)
        with pytest.raises(FilterError):
            col.delete(filter=flt)
        assert col.count() == 1


def test_payload_objects_still_match_by_value(tmp_path: Path) -> None:
    with lakebed.connect(":memory:") as lake:
        col = lake.collections.create("c", dim=2)
        col.upsert([1, 2, 3], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
                   payloads=[{"m": {"gte": 1}}, {"m": {"a": 1, "in": 2}}, {"or": [{"a": 1}]}])
        assert col.count(filter={"m": {"$eq": {"gte": 1}}}) == 1  # the explicit form
        assert col.count(filter={"m": {"a": 1, "in": 2}}) == 1  # not all operator names
        assert col.count(filter={"m.gte": 1}) == 1
        assert col.count(filter={"or": {"$eq": [{"a": 1}]}}) == 1
        assert col.count(filter={"year": {"$gte": 2010}}) == 0
