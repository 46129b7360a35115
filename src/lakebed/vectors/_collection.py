"""A vector collection: write path, durability, sealing, compaction and versions.

Layout of ``<lake>/collections/<name>/``::

    wal/<first_seq>.wal        write-ahead log files (see _wal.py)
    segments/<id>/             sealed segments (see _segment.py), never modified
    manifests/<version>.json   one per published version; the newest is current
    text/                      the BM25 index when the collection has a text field

A manifest lists the sealed segments with their tombstone files (and the size and CRC32
of each file), the next row key and ``wal_seq``: every record with a larger sequence
number is replayed from the WAL on open. A manifest ends with a CRC32 of itself.
Manifests are written with an atomic rename; WAL files are deleted only after a manifest
covers them. Reads go through an immutable snapshot object that is swapped atomically,
so a search sees one state and never takes the write lock.
"""

from __future__ import annotations

import json
import queue
import shutil
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss as _faiss
import numpy as np
from pyroaring import BitMap

from lakebed.api._vectors import CollectionAPI
from lakebed.errors import CorruptionError, InvalidArgument, NotFound, ReadOnlyError
from lakebed.storage import atomic_write_bytes
from lakebed.vectors import _index
from lakebed.vectors._filters import KINDS
from lakebed.vectors._maintenance import (
    EXTEND_FACTOR,
    MaintenanceOps,
    encode_manifest,
    list_versions,
    read_manifest,
)
from lakebed.vectors._maintenance import manifest_path as _manifest_path
from lakebed.vectors._reads import ReadOps, Snapshot
from lakebed.vectors._search import SearchConfig
from lakebed.vectors._segment import (
    Growing,
    SegmentData,
    SegmentView,
    concat_segments,
    read_segment,
    read_tombstones,
    write_segment,
)
from lakebed.vectors._text_mixin import TextSearchMixin
from lakebed.vectors._validate import check_ids, check_payloads, check_texts, check_vectors
from lakebed.vectors._wal import Wal, WalRecord

# the bundled faiss stubs are partial (no SearchParametersHNSW, IndexHNSW.hnsw ...)
faiss: Any = _faiss

if TYPE_CHECKING:
    from lakebed.lake import Lake

def init_layout(root: Path, durable: bool) -> None:
    """Create an empty collection directory with manifest version 0."""
    for sub in ("wal", "segments", "manifests"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    manifest = {
        "version": 0,
        "created_at": time.time(),
        "seq": 0,
        "wal_seq": 0,
        "next_key": 0,
        "next_segment": 1,
        "segments": [],
        "payload_indexes": {},
    }
    atomic_write_bytes(_manifest_path(root, 0), encode_manifest(manifest), durable=durable)


class Collection(ReadOps, MaintenanceOps, TextSearchMixin, CollectionAPI):
    """A named set of points (id, vector, JSON payload, optional text) with ANN search.

    Get one from ``lake.collections.create(...)`` or ``lake.collections.open(name)``.

    Example:
        >>> import lakebed, numpy as np
        >>> with lakebed.connect(":memory:") as lake:
        ...     col = lake.collections.create("docs", dim=3)
        ...     col.upsert([1, 2], np.eye(3)[:2], payloads=[{"k": "a"}, {"k": "b"}])
        ...     [h.id for h in col.search([1, 0, 0], k=1, filter={"k": "a"})]
        [1]
    """

    def __init__(
        self,
        lake: Lake,
        name: str,
        config: dict[str, Any],
        *,
        version: int | None = None,
        embedder: Any = None,
    ) -> None:
        self._lake = lake
        self.name = name
        self.dim = int(config["dim"])
        self.metric = str(config["metric"])
        self.index_config = dict(config["index_config"])
        self.quantization = config.get("quantization")
        self.text_field = bool(config.get("text_field"))
        self.embedder_name = config.get("embedder")
        self._embedder = embedder
        self.path = Path(config["location"])
        self._fixed_version = version
        self._read_only = lake.read_only or version is not None
        self._durable = lake.settings.fsync != "never"
        self._segment_size = lake.settings.segment_size
        self._compaction_threshold = lake.settings.compaction_threshold
        self._wlock = threading.RLock()
        # sealing and compaction both replace sealed segments: one at a time
        self._maint = threading.Lock()
        self._closed = False
        self._build_error: BaseException | None = None
        self._cfg = SearchConfig(
            metric=self.metric,
            index_type=self.index_config["type"],
            quantization=self.quantization,
            ef_search=int(self.index_config.get("ef_search", 64)),
            nprobe=int(self.index_config.get("nprobe", 32)),
        )
        self._fast_ok = self.index_config["type"] == "hnsw" and self.quantization is None
        self._text: Any = None
        self._text_tmp: Path | None = None  # a read-only snapshot's own BM25 index
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._builder: threading.Thread | None = None
        self._wal: Wal | None = None
        self._load(version)
        if self.text_field:
            self._open_text()
        if not self._read_only:
            self._builder = threading.Thread(target=self._build_loop, name=f"lakebed-seal-{name}", daemon=True)
            self._builder.start()
            if self._growing.n >= self._segment_size:
                self._freeze()

    # -- loading and recovery -------------------------------------------------------------
    def _load(self, version: int | None) -> None:
        versions = list_versions(self.path)
        if not versions:
            raise CorruptionError(f"collection {self.name!r} has no manifest in {self.path}/manifests")
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise NotFound(
                f"collection {self.name!r} has no version {version}; versions kept: "
                f"{versions[0]}..{versions[-1]} (see col.versions())"
            )
        try:
            manifest = read_manifest(self.path, version)
        except CorruptionError as exc:
            lake = self._lake.path
            older = [v for v in versions if v < version]
            hint = (f"`lakebed repair {lake}` rolls it back to the newest intact manifest "
                    f"(of versions {older[0]}..{older[-1]}) and replays the write-ahead log"
                    if older else f"no older manifest is kept; restore {self.path} from a backup")
            raise CorruptionError(
                f"collection {self.name!r}: {exc}; run `lakebed check {lake}` to see the damage; "
                f"{hint}"
            ) from None
        self._version = int(manifest["version"])
        self._manifest_time = float(manifest["created_at"])
        self._seq = int(manifest["seq"])
        self._next_key = int(manifest["next_key"])
        self._next_seg = int(manifest["next_segment"])
        self._log_seq = int(manifest.get("log_seq", 0))
        self._log_digest = str(manifest.get("log_digest", ""))
        self._kinds: dict[str, str] = dict(manifest.get("payload_indexes", {}))
        if version == versions[-1] and not self._read_only:
            self._remove_orphans()
        self._sealed: list[SegmentView] = []
        for seg in manifest["segments"]:
            sdir = self.path / "segments" / f"{seg['id']:08d}"
            try:
                data = read_segment(sdir, int(seg["id"]), self._kinds, seg.get("files"))
                deleted = BitMap()
                if seg.get("tombstones"):
                    deleted = read_tombstones(sdir, seg["tombstones"], seg.get("tombstones_crc32"))
            except CorruptionError as exc:
                lake = self._lake.path
                raise CorruptionError(
                    f"collection {self.name!r}, version {version}: {exc}; run `lakebed check "
                    f"{lake}` to see the damage; `lakebed repair {lake}` publishes a version "
                    "without the damaged segment and reports the points it held"
                ) from None
            if self.text_field and data.texts is None:
                data.texts = [None] * data.n
            self._sealed.append(SegmentView(data, data.n, deleted, seg.get("tombstones"),
                                            seg.get("tombstones_crc32")))
        self._frozen: list[SegmentView] = []
        self._growing = Growing(self._next_seg, self.dim, True)
        self._next_seg += 1
        self._growing_deleted = BitMap()
        self._id_map: dict[Any, int] = {}
        for view in self._sealed:
            data = view.data
            alive = view.alive().positions if view.deleted else range(data.n)
            ids, keys = data.ids, data.keys
            for p in alive:
                self._id_map[ids[p]] = int(keys[p])
        self._dirty = False
        if version == versions[-1] and self._fixed_version is None:
            self._wal = Wal(self.path / "wal", self.dim, self._lake.settings.fsync)
            for rec in self._wal.replay(int(manifest["wal_seq"]), repair=not self._read_only):
                self._apply(rec)
                self._seq = max(self._seq, rec.seq)
            if not self._read_only:
                self._wal.open_new(self._seq + 1)
        self._refresh()

    def _remove_orphans(self) -> None:
        # segments written by a sealing that crashed before its manifest: never referenced
        for sdir in (self.path / "segments").iterdir():
            name = sdir.name
            if name.startswith(".tmp-") or (name.isdigit() and int(name) >= self._next_seg):
                shutil.rmtree(sdir, ignore_errors=True)

    def _open_text(self) -> None:
        from lakebed.vectors import text as _textmod

        if self._read_only:
            self._open_text_read_only()
            return
        self._text = _textmod.TextIndex(self.path / "text", durable=self._durable)
        if self._text.marker() != self._seq:
            # the BM25 index missed writes (a crash, or a new index): rebuild from the points
            self._text.clear()
            self._fill_text()

    def _open_text_read_only(self) -> None:
        """The on-disk BM25 index when it is exactly at this snapshot; otherwise (an older
        version, a stale or missing index) one built from this snapshot's points in a
        private temporary directory, removed on close: never a silently different index."""
        from lakebed.vectors import text as _textmod

        try:
            disk = _textmod.TextIndex(self.path / "text", durable=self._durable, read_only=True)
        except (OSError, ValueError):
            disk = None
        if disk is not None and disk.marker() == self._seq:
            self._text = disk
            return
        tokenizer = "en_stem_stop"
        try:
            state = json.loads((self.path / "text" / _textmod.STATE_FILE).read_text())
            if state.get("tokenizer") in _textmod.TOKENIZERS:
                tokenizer = state["tokenizer"]
        except (OSError, ValueError, AttributeError):
            pass
        if disk is not None:
            disk.close()
        self._text_tmp = Path(tempfile.mkdtemp(prefix="lakebed-text-"))
        self._text = _textmod.TextIndex(self._text_tmp, tokenizer=tokenizer, durable=False)
        self._fill_text()

    def _fill_text(self) -> None:
        """Index the texts of every live point and commit at the current WAL position."""
        for view in self._views():
            texts = view.data.texts
            if texts is None:
                continue
            pos = view.alive().positions
            keys = [int(view.data.keys[p]) for p in pos if texts[p] is not None]
            vals = [texts[p] for p in pos if texts[p] is not None]
            if keys:
                self._text.upsert(keys, vals)
        self._text.commit(self._seq)

    # -- snapshots --------------------------------------------------------------------------
    def _views(self) -> list[SegmentView]:
        views = [*self._sealed, *self._frozen]
        if self._growing.n:
            views.append(
                SegmentView(self._growing.snapshot(self._kinds), self._growing.n, BitMap(self._growing_deleted))
            )
        return views

    def _refresh(self) -> None:
        views = tuple(v for v in self._views() if v.n)
        self._snap = Snapshot(self._version, views)

    # -- writes ---------------------------------------------------------------------------
    def _check_writable(self) -> None:
        if self._closed:
            raise InvalidArgument(f"collection {self.name!r} is closed; open it again")
        if self._fixed_version is not None:
            raise ReadOnlyError(
                f"collection {self.name!r} was opened at version {self._fixed_version}, which is "
                "read-only; open it without version= to write"
            )
        self._lake.check_writable()
        if self._build_error is not None:
            raise CorruptionError(
                f"sealing a segment of {self.name!r} failed earlier ({self._build_error}); "
                "reopen the collection (acknowledged writes are in the write-ahead log)"
            )

    def upsert(
        self,
        ids: Any,
        vectors: Any,
        payloads: Any = None,
        texts: Any = None,
        *,
        log_seq: int | None = None,
        log_digest: str | None = None,
    ) -> None:
        self._check_writable()
        id_list = check_ids(ids)
        n = len(id_list)
        vecs = check_vectors(vectors, n, self.dim, self.metric)
        pls = check_payloads(payloads, n)
        txts = check_texts(texts, n)
        if n == 0:
            if log_seq is not None:
                self._delete_record([], log_seq, log_digest)
            return
        with self._wlock:
            self._check_writable()
            start = self._next_key
            if start + n >= 2**32:
                raise InvalidArgument("this collection has used all 2**32 row keys; copy it to a new one")
            tomb = [self._id_map[i] for i in id_list if i in self._id_map]
            seq = self._seq + 1
            header = {"seq": seq, "op": "upsert", "key": start, "ids": id_list, "payloads": pls,
                      "texts": txts, "tomb": tomb}
            self._log_header(header, log_seq, log_digest)
            assert self._wal is not None
            self._wal.append(header, vecs)
            self._apply(WalRecord(header, vecs))
            self._seq = seq
            if self._growing.n >= self._segment_size:
                self._freeze()
            self._refresh()

    def delete(self, ids: Any = None, filter: dict[str, Any] | None = None, *,
               log_seq: int | None = None, log_digest: str | None = None) -> int:
        self._check_writable()
        if (ids is None) == (filter is None):
            raise InvalidArgument("pass either ids= or filter= to delete (exactly one)")
        with self._wlock:
            self._check_writable()
            if ids is not None:
                id_list = check_ids(ids, unique=False)
                keys = sorted({self._id_map[i] for i in id_list if i in self._id_map})
            else:
                bm = self._filter_keys(filter, snap=self._snap_now())
                keys = list(bm) if bm is not None else []
            if keys or log_seq is not None:  # no keys: the record only carries the log position
                self._delete_record(keys, log_seq, log_digest)
            return len(keys)

    @property
    def log_seq(self) -> int:
        """The last external log position recorded by a write (``log_seq=``); 0 when none.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert([1], [[1.0, 0.0]], log_seq=41)
            ...     col.delete(ids=[7], log_seq=42)  # nothing to delete: the position still moves
            ...     col.log_seq
            0
            42
        """
        return self._log_seq

    @property
    def log_digest(self) -> str:
        """The ``log_digest`` recorded with the write of :attr:`log_seq` ("" when none)."""
        return self._log_digest

    @staticmethod
    def _log_header(header: dict[str, Any], log_seq: int | None, log_digest: str | None) -> None:
        if log_seq is not None:
            header["log"] = int(log_seq)
            if log_digest is not None:
                header["log_digest"] = str(log_digest)

    def _delete_record(self, keys: list[int], log_seq: int | None = None, log_digest: str | None = None) -> None:
        """Write and apply a delete record; with no keys it records a log position and
        changes no point (older versions replay it as a no-op)."""
        with self._wlock:
            self._check_writable()
            seq = self._seq + 1
            header = {"seq": seq, "op": "delete", "keys": keys}
            self._log_header(header, log_seq, log_digest)
            assert self._wal is not None
            self._wal.append(header)
            self._apply(WalRecord(header, None))
            self._seq = seq
            self._refresh()

    def _snap_now(self) -> Snapshot:
        self._refresh()
        return self._snap

    def _apply(self, rec: WalRecord) -> None:
        """Apply one record to the in-memory state (live writes and replay alike)."""
        h = rec.header
        if "log" in h and int(h["log"]) >= self._log_seq:
            self._log_seq = int(h["log"])
            self._log_digest = str(h.get("log_digest", ""))
        if h["op"] == "upsert":
            ids = h["ids"]
            n = len(ids)
            keys = np.arange(h["key"], h["key"] + n, dtype=np.uint32)
            self._tombstone(h["tomb"])
            assert rec.vectors is not None
            self._growing.append(keys, rec.vectors, ids, h["payloads"], h["texts"], rec.seq)
            for i, key in zip(ids, keys.tolist(), strict=True):
                self._id_map[i] = key
            self._next_key = max(self._next_key, h["key"] + n)
            if self._text is not None and h["texts"] is not None:
                pairs = [(k, t) for k, t in zip(keys.tolist(), h["texts"], strict=True) if t is not None]
                if pairs:
                    self._text.upsert([p[0] for p in pairs], [p[1] for p in pairs])
        elif h["op"] == "delete":
            self._tombstone(h["keys"])
        else:
            raise CorruptionError(f"unknown write-ahead log record {h['op']!r} in {self.name!r}")
        self._dirty = True

    def _tombstone(self, keys: list[int]) -> None:
        if not keys:
            return
        arr = np.asarray(sorted(set(keys)), dtype=np.int64)
        gone: list[int] = []
        for lst in (self._sealed, self._frozen):
            for j, view in enumerate(lst):
                data = view.data
                if arr[-1] < data.min_key or arr[0] > data.max_key:
                    continue
                pos = data.locate(arr)
                pos = pos[pos >= 0]
                new = [int(p) for p in pos if int(p) not in view.deleted]
                if new:
                    lst[j] = view.with_deleted(np.asarray(new))
                    gone.extend(int(data.keys[p]) for p in new)
        g = self._growing
        if g.n:
            pos = SegmentData(g.seg_id, g.vectors[: g.n], g.keys[: g.n], [], [], None).locate(arr)
            for p in pos[pos >= 0].tolist():
                if p not in self._growing_deleted:
                    self._growing_deleted.add(p)
                    gone.append(int(g.keys[p]))
        if gone:
            self._drop_ids(set(gone))
            if self._text is not None:
                self._text.delete(gone)

    def _drop_ids(self, keys: set[int]) -> None:
        # an id maps to its newest key; remove entries whose key was just tombstoned
        # (upserts re-add the id right after with the new key)
        if len(keys) * 4 < len(self._id_map):
            for view in [*self._sealed, *self._frozen]:
                data = view.data
                arr = np.asarray(sorted(keys), dtype=np.int64)
                if arr[-1] < data.min_key or arr[0] > data.max_key:
                    continue
                pos = data.locate(arr)
                for p in pos[pos >= 0].tolist():
                    i = data.ids[p]
                    if self._id_map.get(i) == int(data.keys[p]):
                        del self._id_map[i]
            g = self._growing
            if g.n:
                arr = np.asarray(sorted(keys), dtype=np.int64)
                pos = SegmentData(g.seg_id, g.vectors[: g.n], g.keys[: g.n], [], [], None).locate(arr)
                for p in pos[pos >= 0].tolist():
                    i = g.ids[p]
                    if self._id_map.get(i) == int(g.keys[p]):
                        del self._id_map[i]
        else:
            self._id_map = {i: k for i, k in self._id_map.items() if k not in keys}

    # -- sealing ----------------------------------------------------------------------------
    def _freeze(self) -> None:
        """Turn the growing segment into a frozen one (still searched exactly) and queue
        its sealing; new writes go to a new growing segment and a new WAL file."""
        g = self._growing
        if not g.n:
            return
        frozen = SegmentView(g.snapshot(self._kinds), g.n, BitMap(self._growing_deleted))
        self._frozen.append(frozen)
        self._growing = Growing(self._next_seg, self.dim, True)
        self._next_seg += 1
        self._growing_deleted = BitMap()
        assert self._wal is not None
        self._wal.open_new(self._seq + 1)
        self._queue.put(frozen.data.seg_id)

    def _build_loop(self) -> None:
        while True:
            seg_id = self._queue.get()
            try:
                if seg_id is None:
                    return
                self._seal(seg_id)
            except BaseException as exc:  # surfaced to the next writer and to flush()
                self._build_error = exc
            finally:
                self._queue.task_done()

    def _extend_target(self, data: SegmentData) -> SegmentView | None:
        """The newest sealed segment, if the frozen rows should be appended to it rather
        than sealed alone: fewer, larger segments search faster (one graph instead of
        several), and HNSW accepts new vectors without a rebuild."""
        with self._wlock:
            if not self._sealed:
                return None
            last = self._sealed[-1]
        if last.data.max_key >= data.min_key or last.n + data.n > EXTEND_FACTOR * self._segment_size:
            return None
        return last

    def _seal(self, seg_id: int) -> None:
        with self._maint:
            self._seal_locked(seg_id)

    def _seal_locked(self, seg_id: int) -> None:
        view = next(v for v in self._frozen if v.data.seg_id == seg_id)
        data = view.data
        target = self._extend_target(data)
        sdir = self.path / "segments" / f"{seg_id:08d}"
        if target is None:
            index = _index.build_index(np.asarray(data.vectors), self.metric, self.index_config, self.quantization)
            meta = write_segment(sdir, data, index, self._durable)
        else:
            old = target.data
            combined = concat_segments(seg_id, old, data)
            old_file = self.path / "segments" / f"{old.seg_id:08d}" / "index.faiss"
            if old.index is not None and isinstance(old.index, faiss.IndexHNSW):
                index = faiss.read_index(str(old_file))
                index.hnsw.efConstruction = int(self.index_config["ef_construction"])
                index.add(np.ascontiguousarray(data.vectors, dtype=np.float32))
            else:
                index = _index.build_index(
                    np.asarray(combined.vectors), self.metric, self.index_config, self.quantization
                )
            meta = write_segment(sdir, combined, index, self._durable)
        del index
        sealed = read_segment(sdir, seg_id, self._kinds)
        sealed.files = meta["files"]
        if self.text_field and sealed.texts is None:
            sealed.texts = [None] * sealed.n
        with self._wlock:
            j = next(i for i, v in enumerate(self._frozen) if v.data.seg_id == seg_id)
            current = self._frozen.pop(j)
            sealed.set_kinds(self._kinds)
            if target is None:
                self._sealed.append(SegmentView(sealed, sealed.n, BitMap(current.deleted)))
            else:
                t = next(i for i, v in enumerate(self._sealed) if v.data.seg_id == target.data.seg_id)
                deleted = BitMap(self._sealed[t].deleted)
                deleted.update(p + target.n for p in current.deleted)
                self._sealed[t] = SegmentView(sealed, sealed.n, deleted)
            self._publish()
            self._refresh()

    def _publish(self) -> None:
        """Write the next manifest (atomic rename), then drop the WAL files it covers."""
        v = self._version + 1
        segs = []
        for view in self._sealed:
            sdir = self.path / "segments" / f"{view.data.seg_id:08d}"
            if view.deleted and view.tomb_file is None:
                name = f"tomb-{v:08d}.roar"
                raw = view.deleted.serialize()
                atomic_write_bytes(sdir / name, raw, durable=self._durable)
                view.tomb_file = name
                view.tomb_crc = zlib.crc32(raw)
            entry: dict[str, Any] = {
                "id": view.data.seg_id,
                "n": view.n,
                "tombstones": view.tomb_file if view.deleted else None,
                "deleted": len(view.deleted),
            }
            if view.deleted and view.tomb_crc is not None:
                entry["tombstones_crc32"] = view.tomb_crc
            if view.data.files is not None:
                entry["files"] = view.data.files
            segs.append(entry)
        firsts = [x.data.first_seq for x in self._frozen if x.data.first_seq is not None]
        if self._growing.first_seq is not None:
            firsts.append(self._growing.first_seq)
        wal_seq = min(firsts) - 1 if firsts else self._seq
        now = time.time()
        manifest = {
            "version": v,
            "created_at": now,
            "seq": self._seq,
            "wal_seq": wal_seq,
            "next_key": self._next_key,
            "next_segment": self._next_seg,
            "segments": segs,
            "payload_indexes": self._kinds,
            "points": sum(s.live for s in self._sealed),
            "log_seq": self._log_seq,
            "log_digest": self._log_digest,
        }
        if self._wal is not None and self._durable:
            self._wal.sync()
        atomic_write_bytes(_manifest_path(self.path, v), encode_manifest(manifest), durable=self._durable)
        self._version = v
        self._manifest_time = now
        if self._wal is not None:
            self._wal.drop_through(wal_seq)
        if self._text is not None:
            self._text.commit(self._seq)
        self._dirty = False

    def flush(self, seal: bool = True) -> None:
        self._check_writable()
        with self._wlock:
            if seal:
                self._freeze()
                self._refresh()
        self._queue.join()
        if self._build_error is not None:
            self._check_writable()
        with self._wlock:
            assert self._wal is not None
            if seal and self._dirty:
                self._publish()
                self._refresh()
            else:
                self._wal.sync()
                if self._text is not None:
                    self._text.commit(self._seq)

    def create_payload_index(self, field: str, kind: str) -> None:
        self._check_writable()
        if not isinstance(field, str) or not field or field.startswith("$"):
            raise InvalidArgument(f"field must be a payload path like 'meta.year', got {field!r}")
        if kind not in KINDS:
            raise InvalidArgument(f"unknown payload index kind {kind!r}; use one of {', '.join(KINDS)}")
        with self._wlock:
            self._kinds = {**self._kinds, field: kind}
            for view in [*self._sealed, *self._frozen]:
                view.data.set_kinds(self._kinds)
                col = view.data.column(field)
                _ = col.num if kind in ("integer", "float", "datetime") else col.eq
            self._publish()
            self._refresh()

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Wait for background sealing, make writes durable and release files. Idempotent."""
        if self._closed:
            return
        try:
            if self._builder is not None:
                self._queue.join()
                self._queue.put(None)
                self._builder.join()
            if self._wal is not None and not self._read_only:
                with self._wlock:
                    if self._dirty and self._build_error is None:
                        self._wal.sync()
                        if self._text is not None:
                            self._text.commit(self._seq)
            if self._wal is not None:
                self._wal.close()
        finally:
            if self._text is not None:
                self._text.close()
            if self._text_tmp is not None:
                shutil.rmtree(self._text_tmp, ignore_errors=True)
            self._closed = True

    def versions(self) -> list[dict[str, Any]]:
        out = []
        for v in list_versions(self.path):
            try:
                m = read_manifest(self.path, v)
            except CorruptionError:
                continue  # reported by `lakebed check`
            out.append(
                {
                    "version": v,
                    "created_at": m["created_at"],
                    "points": m.get("points", sum(s["n"] - s.get("deleted", 0) for s in m["segments"])),
                    "segments": len(m["segments"]),
                }
            )
        return out

    def segments(self) -> list[dict[str, Any]]:
        out = []
        for view in self._snap.views:
            data = view.data
            size = None
            if data.sealed:
                sdir = self.path / "segments" / f"{data.seg_id:08d}"
                size = sum(p.stat().st_size for p in sdir.iterdir() if p.is_file()) if sdir.is_dir() else None
            out.append({
                "segment": data.seg_id, "sealed": bool(data.sealed), "rows": view.n, "live": view.live,
                "deleted": len(view.deleted),
                "index": type(data.index).__name__.removeprefix("Index") if data.index is not None else "exact",
                "first_seq": data.first_seq, "last_seq": data.last_seq, "bytes_on_disk": size,
            })
        return out

    def stats(self) -> dict[str, Any]:
        snap = self._snap
        disk = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        current = sum(p.stat().st_size for p in (self.path / "wal").glob("*") if p.is_file())
        for view in snap.views:
            if view.data.sealed:
                sdir = self.path / "segments" / f"{view.data.seg_id:08d}"
                current += sum(p.stat().st_size for p in sdir.iterdir() if p.is_file() and
                               (not p.name.startswith("tomb-") or p.name == view.tomb_file))
        mem = 0
        mapped = 0
        for view in snap.views:
            data = view.data
            if data.sealed:
                mem += _index.index_bytes(data.index)
                if not isinstance(data.index, faiss.IndexHNSWFlat):
                    mapped += data.n * self.dim * 4
            else:
                mem += data.n * (self.dim * 4 + 8)
        return {
            "name": self.name,
            "version": snap.version,
            "points": sum(v.live for v in snap.views),
            "segments": len(snap.views),
            "sealed_segments": sum(1 for v in snap.views if v.data.sealed),
            "growing_points": self._growing.n - len(self._growing_deleted),
            "deleted": sum(len(v.deleted) for v in snap.views),
            "pending_seals": len(self._frozen),
            "bytes_on_disk": disk,
            "bytes_current_version": current,
            "bytes_in_memory": mem,
            "bytes_mapped": mapped,
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index_config,
            "quantization": self.quantization,
            "payload_indexes": dict(self._kinds),
            "text_field": self.text_field,
        }

    def __repr__(self) -> str:
        return f"<Collection {self.name!r} dim={self.dim} metric={self.metric} version={self._snap.version}>"
