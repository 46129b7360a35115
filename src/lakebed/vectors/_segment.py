"""Segments: immutable sets of rows (sealed on disk, or a frozen prefix of the growing
segment) and views of them with a tombstone bitmap.

A sealed segment lives in ``segments/<id>/``: ``rows.parquet`` (row key, id, JSON payload,
text, and a typed column per payload-indexed field), ``index.faiss`` and the
full-precision vectors: inside the index itself for HNSW without quantization (the index
file is memory-mapped and its storage is used as the vectors), ``refine.faiss`` (a flat
FAISS index, memory-mapped, which also re-ranks inside FAISS) next to a quantized or PQ
index, ``vectors.npy`` for an unindexed segment (and in segments written before
``refine.faiss`` existed). Tombstones are separate files ``tomb-<version>.roar`` named by
the manifest, so a segment's files never change.

The manifest records each new segment file's size and CRC32 (``files``), and each
tombstone file's CRC32; :func:`verify_files` checks them before FAISS, numpy or Arrow read
a byte (a damaged index file could otherwise crash the process or answer wrongly).
Segments written before the checksums existed are checked for decoding and for agreeing
row counts. Every failure is a :class:`CorruptionError` naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap

from lakebed.errors import CorruptionError
from lakebed.storage import fsync_dir
from lakebed.vectors._filters import MISSING, Column, resolve, typed_values

# the bundled faiss stubs are partial (no SearchParametersHNSW, IndexHNSW.hnsw ...)
faiss: Any = _faiss

_FILTER_CACHE = 32


class SegmentData:
    """Rows that never change: vectors, row keys, ids, payloads, texts, optional index."""

    def __init__(
        self,
        seg_id: int,
        vectors: np.ndarray,
        keys: np.ndarray,
        ids: list[Any],
        payloads: list[Any],
        texts: list[str | None] | None,
        index: Any = None,
        first_seq: int | None = None,
        last_seq: int | None = None,
        kinds: dict[str, str] | None = None,
    ) -> None:
        self.seg_id = seg_id
        self.vectors = vectors
        self.keys = keys
        self.ids = ids
        self._payloads = payloads
        self._decoded = not (len(payloads) and isinstance(payloads[0], str))
        self.texts = texts
        self.index = index
        self.n = len(keys)
        self.first_seq = first_seq
        self.last_seq = last_seq
        self.min_key = int(keys[0]) if self.n else 0
        self.max_key = int(keys[-1]) if self.n else -1
        self.kinds = kinds or {}
        self._columns: dict[str, Column] = {}
        # typed Arrow columns of payload-indexed fields, stored at seal time ("v:" values,
        # "n:" epoch seconds of a datetime index): filters read them instead of the payloads
        self.stored: dict[str, Any] = {}
        self._masks: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._sqnorms: np.ndarray | None = None
        self.sealed = False
        # the index wrapped with its full-precision flat index (quantized and PQ segments)
        self.refined: Any = None
        # {file name: {"size", "crc32"}} of a sealed segment (None: written before checksums)
        self.files: dict[str, dict[str, int]] | None = None

    # payloads of sealed segments arrive as JSON strings and are decoded on first use:
    # one at a time for hits, all at once for filter columns
    @property
    def payloads(self) -> list[Any]:
        if not self._decoded:
            with self._lock:
                if not self._decoded:
                    p = self._payloads
                    self._payloads = [json.loads(x) if isinstance(x, str) else x for x in p]
                    self._decoded = True
        return self._payloads

    def payload(self, pos: int) -> Any:
        p = self._payloads[pos]
        if isinstance(p, str):
            p = json.loads(p)
            self._payloads[pos] = p  # same value from any thread: no lock needed
        return dict(p)

    def payload_json(self) -> list[str]:
        """The payloads as JSON strings (the stored form, without re-encoding)."""
        return [x if isinstance(x, str) else json.dumps(x, separators=(",", ":"))
                for x in islice(self._payloads, self.n)]

    def column(self, path: str) -> Column:
        col = self._columns.get(path)
        if col is None:
            kind = self.kinds.get(path)
            arrow = self.stored.get("v:" + path)
            if arrow is not None:
                num = self.stored.get("n:" + path) if kind == "datetime" else None
                col = Column(None, kind, arrow=arrow,
                             num=None if num is None else num.to_numpy(zero_copy_only=False))
            else:
                values = [resolve(p, path) for p in islice(self.payloads, self.n)]
                col = Column(values, kind)
            self._columns[path] = col
        return col

    def set_kinds(self, kinds: dict[str, str]) -> None:
        # a new payload index may change how values compare (datetime): rebuild lazily
        for path in list(self._columns):
            if self._columns[path].kind != kinds.get(path):
                del self._columns[path]
        self.kinds = dict(kinds)
        self._masks.clear()

    def payload_mask(self, key: str, compute: Any) -> np.ndarray:
        """The payload-filter mask for ``key`` (canonical filter), cached (LRU)."""
        with self._lock:
            mask = self._masks.get(key)
            if mask is not None:
                self._masks.move_to_end(key)
                return mask
        mask = compute(self)
        with self._lock:
            self._masks[key] = mask
            if len(self._masks) > _FILTER_CACHE:
                self._masks.popitem(last=False)
        return mask

    def sqnorms(self) -> np.ndarray:
        if self._sqnorms is None:
            v = np.asarray(self.vectors, dtype=np.float32)
            self._sqnorms = np.einsum("ij,ij->i", v, v)
        return self._sqnorms

    def locate(self, keys: np.ndarray) -> np.ndarray:
        """Positions of ``keys`` in this segment, -1 where absent."""
        if not self.n or not len(keys):
            return np.full(len(keys), -1, np.int64)
        pos = np.searchsorted(self.keys[: self.n], keys)
        pos = np.minimum(pos, self.n - 1)
        hit = self.keys[pos] == keys
        return np.where(hit, pos, -1)


class FilterResult:
    """A filter's outcome on one segment view: live matching rows, count and a selector."""

    __slots__ = ("_packed", "count", "ivf", "mask", "params", "positions", "sub", "uses")

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask
        self.positions = np.flatnonzero(mask)
        self.count = len(self.positions)
        self._packed: np.ndarray | None = None
        self.sub: np.ndarray | None = None
        # FAISS search parameters (with the selector) per (ef, nprobe); read-only once made
        self.params: dict[tuple[Any, ...], Any] = {}
        # times this result was reused from the cache, and a small IVF over the matching
        # rows built once a filter proves to be repeated (see _search.subset_ivf)
        self.uses = 0
        self.ivf: Any = None

    def packed(self) -> np.ndarray:
        if self._packed is None:
            self._packed = np.packbits(self.mask, bitorder="little")
        return self._packed


class SegmentView:
    """A segment with the tombstones of one snapshot."""

    def __init__(self, data: SegmentData, n: int, deleted: BitMap, tomb_file: str | None = None,
                 tomb_crc: int | None = None) -> None:
        self.data = data
        self.n = n
        self.deleted = deleted
        self.tomb_file = tomb_file
        self.tomb_crc = tomb_crc
        self.live = n - len(deleted)
        self._alive: FilterResult | None = None
        self._fcache: OrderedDict[str, FilterResult] = OrderedDict()
        self._lock = threading.Lock()

    def alive(self) -> FilterResult:
        if self._alive is None:
            mask = np.ones(self.n, bool)
            if self.deleted:
                mask[np.fromiter(self.deleted, np.int64, len(self.deleted))] = False
            self._alive = FilterResult(mask)
        return self._alive

    def filtered(self, key: str, compute: Any) -> FilterResult:
        """Live rows matching a filter (cached per view; views change with tombstones)."""
        with self._lock:
            res = self._fcache.get(key)
            if res is not None:
                self._fcache.move_to_end(key)
                res.uses += 1
                return res
        mask = self.data.payload_mask(key, compute)
        if self.n != len(mask):
            mask = mask[: self.n]
        mask = mask & self.alive().mask if self.deleted else mask.copy()
        res = FilterResult(mask)
        with self._lock:
            self._fcache[key] = res
            if len(self._fcache) > _FILTER_CACHE:
                self._fcache.popitem(last=False)
        return res

    def with_deleted(self, positions: np.ndarray) -> SegmentView:
        deleted = BitMap(self.deleted)
        deleted.update(int(p) for p in positions)
        return SegmentView(self.data, self.n, deleted, None)


class Growing:
    """The append-only growing segment; ``snapshot(n)`` exposes an immutable prefix."""

    def __init__(self, seg_id: int, dim: int, with_text: bool, capacity: int = 1024) -> None:
        self.seg_id = seg_id
        self.dim = dim
        self.vectors = np.empty((capacity, dim), np.float32)
        self.keys = np.empty(capacity, np.uint32)
        self.ids: list[Any] = []
        self.payloads: list[Any] = []
        self.texts: list[str | None] | None = [] if with_text else None
        self.n = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None

    def append(
        self,
        keys: np.ndarray,
        vectors: np.ndarray,
        ids: list[Any],
        payloads: list[Any],
        texts: list[str | None] | None,
        seq: int,
    ) -> None:
        m = len(keys)
        need = self.n + m
        if need > len(self.keys):
            cap = max(need, 2 * len(self.keys))
            # old arrays stay valid for snapshots that still reference them
            vec = np.empty((cap, self.dim), np.float32)
            vec[: self.n] = self.vectors[: self.n]
            k = np.empty(cap, np.uint32)
            k[: self.n] = self.keys[: self.n]
            self.vectors, self.keys = vec, k
        self.vectors[self.n : need] = vectors
        self.keys[self.n : need] = keys
        self.ids.extend(ids)
        self.payloads.extend(payloads)
        if self.texts is not None:
            self.texts.extend(texts if texts is not None else [None] * m)
        self.n = need
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq = seq

    def snapshot(self, kinds: dict[str, str]) -> SegmentData:
        n = self.n
        # the lists are shared, not copied: they only ever grow, so a snapshot's first n
        # entries never change
        data = SegmentData(
            self.seg_id,
            self.vectors[:n],
            self.keys[:n],
            self.ids,
            self.payloads,
            self.texts,
            first_seq=self.first_seq,
            last_seq=self.last_seq,
            kinds=kinds,
        )
        return data


# -- files ------------------------------------------------------------------------------


def _id_columns(ids: list[Any]) -> tuple[pa.Array, pa.Array]:
    ints = [i if isinstance(i, int) else None for i in ids]
    strs = [i if isinstance(i, str) else None for i in ids]
    return pa.array(ints, pa.int64()), pa.array(strs, pa.string())


def write_segment(
    directory: Path, data: SegmentData, index: Any, durable: bool
) -> dict[str, Any]:
    """Write a sealed segment's files into ``directory`` (created by a rename)."""
    tmp = directory.with_name(f".tmp-{directory.name}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    id_int, id_str = _id_columns(data.ids[: data.n])
    columns: dict[str, Any] = {
        "key": pa.array(np.asarray(data.keys), pa.uint32()),
        "id_int": id_int,
        "id_str": id_str,
        "payload": pa.array(data.payload_json(), pa.string()),
        "text": pa.array(data.texts[: data.n] if data.texts is not None else [None] * data.n, pa.string()),
    }
    for path, kind in sorted(data.kinds.items()):
        col = data.column(path)
        typed = typed_values(col.values)
        if typed is None:
            continue  # mixed types: filters decode the payloads
        columns["v:" + path] = typed
        if kind == "datetime":
            columns["n:" + path] = pa.array(col.num, pa.float64())
    table = pa.table(columns)
    pq.write_table(table, tmp / "rows.parquet")
    vectors_in_index = isinstance(index, faiss.IndexHNSWFlat)
    refine_file = False
    if not vectors_in_index:
        x = np.ascontiguousarray(data.vectors, dtype=np.float32)
        if index is not None:
            # a quantized or PQ index: the full-precision vectors as a flat FAISS index, which
            # re-ranks the candidates inside FAISS and is memory-mapped like the index
            flat = faiss.IndexFlat(x.shape[1], index.metric_type)
            flat.add(x)
            faiss.write_index(flat, str(tmp / "refine.faiss"))
            del flat
            refine_file = True
        else:
            np.save(tmp / "vectors.npy", x)
    if index is not None:
        faiss.write_index(index, str(tmp / "index.faiss"))
    meta: dict[str, Any] = {"n": data.n, "vectors_in_index": vectors_in_index,
                            "has_index": index is not None, "refine_file": refine_file}
    (tmp / "meta.json").write_text(json.dumps(meta))
    meta["files"] = {p.name: checksum(p) for p in sorted(tmp.iterdir()) if p.is_file()}
    if durable:
        for p in tmp.iterdir():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(tmp)
    if directory.exists():  # an orphan of a crash before its manifest was published
        shutil.rmtree(directory)
    os.replace(tmp, directory)
    if durable:
        fsync_dir(directory.parent)
    return meta


def concat_segments(seg_id: int, old: SegmentData, new: SegmentData) -> SegmentData:
    """The rows of ``old`` followed by those of ``new`` (positions of ``old`` unchanged)."""
    texts = None
    if old.texts is not None or new.texts is not None:
        texts = [*(old.texts[: old.n] if old.texts else [None] * old.n),
                 *(new.texts[: new.n] if new.texts else [None] * new.n)]
    vectors = np.concatenate([np.asarray(old.vectors, np.float32), np.asarray(new.vectors, np.float32)])
    return SegmentData(
        seg_id,
        vectors,
        np.concatenate([old.keys[: old.n], new.keys[: new.n]]),
        [*old.ids[: old.n], *new.ids[: new.n]],
        [*old.payload_json(), *new.payload_json()],
        texts,
        kinds=new.kinds,
    )


def checksum(path: Path) -> dict[str, int]:
    """The size and CRC32 of a file, read in chunks."""
    crc = 0
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return {"size": size, "crc32": crc}


# files this process verified, by path: (size, mtime, inode, crc32). Segment files never
# change, so a reopen (the server's read workers reopen after every change) does not read
# them again unless their stat changed.
_VERIFIED: dict[str, tuple[int, int, int, int]] = {}
_VERIFIED_MAX = 100_000


def verify_files(directory: Path, files: dict[str, dict[str, int]], *, cached: bool = True) -> list[tuple[str, str]]:
    """``(file name, what is wrong)`` for each file of ``files`` that is missing or whose
    size or CRC32 differs from the manifest's record; empty when all match. With
    ``cached``, a file already verified by this process with the same stat is not read."""
    out = []
    for name, want in sorted(files.items()):
        p = directory / name
        try:
            st = p.stat()
        except OSError:
            out.append((name, "is missing"))
            continue
        if st.st_size != want["size"]:
            out.append((name, f"has {st.st_size} bytes, the manifest recorded {want['size']}"))
            continue
        key = (st.st_size, st.st_mtime_ns, st.st_ino, want["crc32"])
        if cached and _VERIFIED.get(str(p)) == key:
            continue
        if checksum(p)["crc32"] != want["crc32"]:
            out.append((name, "fails its CRC32 check (the bytes changed since it was written)"))
            continue
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[str(p)] = key
    return out


@contextmanager
def _reading(directory: Path, name: str) -> Iterator[None]:
    """Turn any failure to decode ``directory/name`` into a CorruptionError naming it."""
    try:
        yield
    except CorruptionError:
        raise
    except Exception as exc:  # numpy, Arrow, FAISS, JSON: each has its own errors
        raise CorruptionError(
            f"segment file {directory / name} is unreadable ({type(exc).__name__}: {exc})"
        ) from None


def read_segment(
    directory: Path, seg_id: int, kinds: dict[str, str],
    files: dict[str, dict[str, int]] | None = None,
) -> SegmentData:
    """Open a sealed segment; with ``files`` (the manifest's record) verify sizes and CRC32
    first. Raises CorruptionError naming the damaged file."""
    if files is not None:
        bad = verify_files(directory, files)
        if bad:
            name, what = bad[0]
            raise CorruptionError(f"segment file {directory / name} {what}")
    with _reading(directory, "meta.json"):
        meta = json.loads((directory / "meta.json").read_text())
        n = int(meta["n"])
    with _reading(directory, "rows.parquet"):
        table = pq.read_table(directory / "rows.parquet")
        if table.num_rows != n:
            raise ValueError(f"it has {table.num_rows} rows, meta.json says {n}")
        keys = table.column("key").to_numpy().astype(np.uint32)
        ints = table.column("id_int").to_pylist()
        strs = table.column("id_str").to_pylist()
        ids = [s if i is None else i for i, s in zip(ints, strs, strict=True)]
        payloads = table.column("payload").to_pylist()
        texts_col = table.column("text")
        texts = texts_col.to_pylist() if texts_col.null_count < len(texts_col) else None
        stored = {name: table.column(name).combine_chunks() for name in table.column_names
                  if name.startswith(("v:", "n:"))}
        del table, texts_col
    # the rows now live as Python objects: hand Arrow's freed buffers back to the OS
    # (mimalloc otherwise keeps ~0.6 KiB per row of a large segment resident)
    pa.default_memory_pool().release_unused()
    index: Any = None
    if meta["has_index"]:
        with _reading(directory, "index.faiss"):
            # IO_FLAG_MMAP_IFC maps flat and scalar-quantized codes and the HNSW graph from the
            # file (no copy into the heap); plain IO_FLAG_MMAP would read them into memory
            index = faiss.read_index(str(directory / "index.faiss"), faiss.IO_FLAG_MMAP_IFC)
            if isinstance(index, faiss.IndexIVF):
                # memory-mapped inverted lists scan ~10x slower; PQ codes are small: load them
                index = faiss.read_index(str(directory / "index.faiss"))
            if index.ntotal != n:
                raise ValueError(f"it holds {index.ntotal} vectors, meta.json says {n}")
    refine: Any = None
    if meta["vectors_in_index"]:
        with _reading(directory, "index.faiss"):
            storage = faiss.downcast_index(index.storage)
            vectors = faiss.rev_swig_ptr(storage.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
            vectors.flags.writeable = False  # a view of the index file's read-only mapping
    elif meta.get("refine_file"):
        with _reading(directory, "refine.faiss"):
            # (read_index returns the concrete type and owns it: no downcast, whose proxy would not)
            refine = faiss.read_index(str(directory / "refine.faiss"), faiss.IO_FLAG_MMAP_IFC)
            if refine.ntotal != n:
                raise ValueError(f"it holds {refine.ntotal} vectors, meta.json says {n}")
            vectors = faiss.rev_swig_ptr(refine.get_xb(), refine.ntotal * refine.d).reshape(refine.ntotal, refine.d)
            vectors.flags.writeable = False
    else:
        with _reading(directory, "vectors.npy"):
            # a plain ndarray over the read-only mapping: np.memmap's subclass hooks cost
            # microseconds on every fancy index of the re-ranking path
            vectors = np.asarray(np.load(directory / "vectors.npy", mmap_mode="r", allow_pickle=False))
            if vectors.ndim != 2 or len(vectors) != n:
                raise ValueError(f"it has shape {vectors.shape}, meta.json says {n} rows")
    data = SegmentData(seg_id, vectors, keys, ids, payloads, texts, index, kinds=kinds)
    data.stored = stored
    data.sealed = True
    data.files = files
    if refine is not None and index is not None:
        # one FAISS call searches the quantized index and re-ranks with the exact vectors
        # (faiss' Python wrapper keeps both indexes referenced from the IndexRefine)
        data.refined = faiss.IndexRefine(index, refine)
    return data


def read_tombstones(directory: Path, name: str, crc: int | None) -> BitMap:
    """A segment's tombstone bitmap; CorruptionError naming the file if it fails its
    CRC32 (when the manifest recorded one) or does not decode."""
    path = directory / name
    with _reading(directory, name):
        raw = path.read_bytes()
        if crc is not None and zlib.crc32(raw) != crc:
            raise CorruptionError(f"tombstone file {path} fails its CRC32 check")
        return BitMap.deserialize(raw)


def segment_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


__all__ = ["MISSING", "FilterResult", "Growing", "SegmentData", "SegmentView", "read_segment", "write_segment"]
