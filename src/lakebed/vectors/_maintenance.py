"""Compaction and vacuum of a collection (a mixin of Collection)."""

from __future__ import annotations

import json
import shutil
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from pyroaring import BitMap

from lakebed.api._vectors import CollectionAPI
from lakebed.errors import CorruptionError, InvalidArgument
from lakebed.vectors import _index
from lakebed.vectors._segment import Growing, SegmentData, SegmentView, read_segment, write_segment

# a sealed segment grows by appending newly sealed rows up to this many segment_size
EXTEND_FACTOR = 4


def manifest_path(root: Path, version: int) -> Path:
    return root / "manifests" / f"{version:08d}.json"


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """A manifest's JSON with a ``crc32`` of the rest appended (checked by
    :func:`read_manifest`; manifests written before it have none and are only parsed).

    Example:
        >>> m = {"version": 3, "created_at": 0.5, "seq": 9, "wal_seq": 9, "next_key": 4,
        ...      "next_segment": 2, "segments": []}
        >>> raw = encode_manifest(m)
        >>> raw[-20:]
        b'],"crc32":762834588}'
        >>> decode_manifest(raw) == m
        True
        >>> decode_manifest(raw.replace(b'"seq":9', b'"seq":8'))
        Traceback (most recent call last):
        ...
        ValueError: it fails its CRC32 check
    """
    body = json.dumps({k: v for k, v in manifest.items() if k != "crc32"}, separators=(",", ":"))
    return f'{body[:-1]},"crc32":{zlib.crc32(body.encode())}}}'.encode()


_FIELDS = ("version", "created_at", "seq", "wal_seq", "next_key", "next_segment", "segments")


def decode_manifest(raw: bytes) -> dict[str, Any]:
    """Parse and validate a manifest; ValueError saying what is wrong."""
    m = json.loads(raw)
    if not isinstance(m, dict):
        raise ValueError("it is not a JSON object")
    crc = m.pop("crc32", None)
    if crc is not None:
        body = json.dumps(m, separators=(",", ":")).encode()
        if zlib.crc32(body) != crc:
            raise ValueError("it fails its CRC32 check")
    missing = [f for f in _FIELDS if f not in m]
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
    for f in _FIELDS[2:6]:
        if not isinstance(m[f], int):
            raise ValueError(f"{f} is not an integer")
    if not isinstance(m["segments"], list) or not all(
        isinstance(x, dict) and isinstance(x.get("id"), int) and isinstance(x.get("n"), int)
        for x in m["segments"]
    ):
        raise ValueError("its segment list is malformed")
    return m


def read_manifest(root: Path, version: int) -> dict[str, Any]:
    """Manifest ``version`` of the collection at ``root``; CorruptionError naming the file
    when it cannot be read, parsed or fails its checksum."""
    path = manifest_path(root, version)
    try:
        return decode_manifest(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        what = f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)
        raise CorruptionError(f"manifest {path} is unreadable ({what})") from None


def list_versions(root: Path) -> list[int]:
    out = []
    for p in (root / "manifests").glob("*.json"):
        try:
            out.append(int(p.stem))
        except ValueError:
            continue
    return sorted(out)


class MaintenanceOps(CollectionAPI):
    """compact() and vacuum(); the Collection provides the state attributes."""

    path: Path
    dim: int
    metric: str
    index_config: dict[str, Any]
    quantization: str | None
    text_field: bool
    _segment_size: int
    _compaction_threshold: float
    _durable: bool
    _maint: threading.Lock
    _wlock: threading.RLock
    _sealed: list[SegmentView]
    _frozen: list[SegmentView]
    _growing: Growing
    _next_seg: int
    _kinds: dict[str, str]

    def _check_writable(self) -> None:
        raise NotImplementedError

    def flush(self, seal: bool = True) -> None:
        raise NotImplementedError

    def _publish(self) -> None:
        raise NotImplementedError

    def _refresh(self) -> None:
        raise NotImplementedError

    def compact(self) -> dict[str, Any]:
        self._check_writable()
        self.flush(seal=False)
        with self._maint, self._wlock:
            small = [v for v in self._sealed if v.live < self._segment_size // 4]
            heavy = [v for v in self._sealed if v.n and len(v.deleted) / v.n >= self._compaction_threshold]
            chosen = {id(v): v for v in heavy}
            if len(small) >= 2:
                chosen.update({id(v): v for v in small})
            if not chosen:
                return {"rewritten": 0, "removed_rows": 0}
            groups: list[list[SegmentView]] = [[]]
            size = 0
            for view in self._sealed:
                if id(view) not in chosen:
                    continue
                if size and size + view.live > EXTEND_FACTOR * self._segment_size:
                    groups.append([])
                    size = 0
                groups[-1].append(view)
                size += view.live
            removed = sum(len(v.deleted) for v in chosen.values())
            new_views = []
            for group in groups:
                new_views.append(self._merge(group))
            keep = [v for v in self._sealed if id(v) not in chosen]
            self._sealed = sorted([*keep, *[v for v in new_views if v is not None]], key=lambda v: v.data.min_key)
            self._publish()
            self._refresh()
            return {"rewritten": len(chosen), "removed_rows": removed, "segments": len(self._sealed)}

    def _merge(self, group: list[SegmentView]) -> SegmentView | None:
        parts = [(v, v.alive().positions) for v in group]
        total = sum(len(p) for _, p in parts)
        if total == 0:
            return None
        keys = np.concatenate([v.data.keys[p] for v, p in parts])
        order = np.argsort(keys, kind="stable")
        vecs = np.concatenate([np.asarray(v.data.vectors[p], np.float32) for v, p in parts])[order]
        ids = [v.data.ids[i] for v, p in parts for i in p.tolist()]
        pls = [v.data.payloads[i] for v, p in parts for i in p.tolist()]
        texts = None
        if self.text_field:
            texts = [v.data.texts[i] if v.data.texts is not None else None for v, p in parts for i in p.tolist()]
        o = order.tolist()
        seg_id = self._next_seg
        self._next_seg += 1
        data = SegmentData(
            seg_id, vecs, keys[order], [ids[i] for i in o], [pls[i] for i in o],
            None if texts is None else [texts[i] for i in o], kinds=self._kinds,
        )
        index = _index.build_index(vecs, self.metric, self.index_config, self.quantization)
        sdir = self.path / "segments" / f"{seg_id:08d}"
        meta = write_segment(sdir, data, index, self._durable)
        sealed = read_segment(sdir, seg_id, self._kinds)
        sealed.files = meta["files"]
        if self.text_field and sealed.texts is None:
            sealed.texts = [None] * sealed.n
        return SegmentView(sealed, sealed.n, BitMap())

    def vacuum(self, keep_versions: int = 1) -> dict[str, int]:
        self._check_writable()
        if keep_versions < 1:
            raise InvalidArgument("keep_versions must be at least 1")
        with self._wlock:
            versions = list_versions(self.path)
            drop = versions[:-keep_versions]
            kept = versions[-keep_versions:]
            used: set[tuple[int, str | None]] = set()
            used_segs: set[int] = {v.data.seg_id for v in [*self._sealed, *self._frozen]}
            for ver in kept:
                m = read_manifest(self.path, ver)
                for s in m["segments"]:
                    used_segs.add(int(s["id"]))
                    used.add((int(s["id"]), s.get("tombstones")))
            for view in self._sealed:
                used.add((view.data.seg_id, view.tomb_file))
            for ver in drop:
                manifest_path(self.path, ver).unlink(missing_ok=True)
            files = 0
            for sdir in (self.path / "segments").iterdir():
                try:
                    sid = int(sdir.name)
                except ValueError:
                    continue
                if sid not in used_segs:
                    shutil.rmtree(sdir, ignore_errors=True)
                    files += 1
                    continue
                for f in sdir.glob("tomb-*.roar"):
                    if (sid, f.name) not in used:
                        f.unlink(missing_ok=True)
                        files += 1
            return {"manifests_removed": len(drop), "files_removed": files}

