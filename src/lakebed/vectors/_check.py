"""``lakebed check`` and ``lakebed repair`` for one vector collection.

:func:`check_collection` reads a collection's files without changing them and returns a
:class:`~lakebed._integrity.Problem` per damaged file: every manifest (parse, CRC32,
required fields), the files of every segment a manifest references (size and CRC32 as
recorded in the manifest; segments written before checksums existed must decode and agree
on their row counts), tombstone files (CRC32), every write-ahead log record (length and
CRC32 framing; a torn tail left by a crash is normal and not reported) and the BM25 text
index (opens and answers a query).

:func:`repair_collection` is explicit, never automatic. It:

1. moves damaged manifests aside (``manifests/<v>.json.corrupt-<time>``), so the newest
   intact manifest becomes current (a rollback); segment directories that only the newer
   versions used are moved to ``segments/.lost-<time>/`` (kept for manual recovery);
2. publishes a new version without the segments of the current version whose files are
   damaged (their points are lost and listed);
3. moves each damaged write-ahead log file aside (``wal/<file>.corrupt-<time>``) and writes
   in its place every record that still reads;
4. removes the BM25 index when it is damaged or anything above changed (it is derived data,
   rebuilt from the points on the next open);

and returns one line per action saying exactly what was lost: write sequence numbers,
record counts and point ids where they are known. Both work on a closed lake directory
(no catalog access); the caller holds the lake's writer lock or makes sure no writer runs.

Example:
    >>> import lakebed, numpy as np, pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp()) / "lake"
    >>> with lakebed.connect(root) as lake:
    ...     col = lake.collections.create("docs", dim=2)
    ...     col.upsert([1], [[1.0, 0.0]])
    ...     col.upsert([2], [[0.0, 1.0]])
    >>> check_collection(root, "docs", root / "collections" / "docs")
    []
    >>> wal = next((root / "collections" / "docs" / "wal").glob("*.wal"))
    >>> raw = bytearray(wal.read_bytes()); raw[10] ^= 0xFF; _ = wal.write_bytes(bytes(raw))
    >>> [p.what for p in check_collection(root, "docs", root / "collections" / "docs")]
    ['damaged at byte 0 (1 write unreadable, 1 valid record after it)']
    >>> lines = repair_collection(root, "docs", root / "collections" / "docs")
    >>> print(lines[0])  # doctest: +ELLIPSIS
    write-ahead log collections/docs/wal/...wal moved aside to ...; kept 1 readable record; lost write 1 ...
    >>> with lakebed.connect(root) as lake:
    ...     [p.id for p in lake.collections.open("docs").get([1, 2])]
    [2]
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from lakebed._integrity import Problem, rel_path
from lakebed.errors import CorruptionError
from lakebed.storage import atomic_write_bytes, fsync_dir
from lakebed.vectors._maintenance import encode_manifest, list_versions, manifest_path, read_manifest
from lakebed.vectors._segment import read_segment, read_tombstones, verify_files
from lakebed.vectors._wal import WalScan, encode_record, log_files, refused, scan_file

__all__ = ["check_collection", "repair_collection"]


def _why(exc: Exception) -> str:
    """The reason inside "... is unreadable (reason)"."""
    why = str(exc).split(" is unreadable ", 1)[-1]
    return why[1:-1] if why.startswith("(") and why.endswith(")") else why


def _seg_dir(path: Path, seg_id: int) -> Path:
    return path / "segments" / f"{seg_id:08d}"


class _SegmentDamage:
    """``(file, what)`` for each damaged file of a manifest's segment entry. Versions share
    segment and tombstone files: each is verified once per check or repair."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files: dict[tuple[int, str], list[tuple[Path, str]]] = {}
        self._tombs: dict[tuple[int, str, int | None], list[tuple[Path, str]]] = {}

    def __call__(self, seg: dict[str, Any]) -> list[tuple[Path, str]]:
        seg_id = int(seg["id"])
        sdir = _seg_dir(self.path, seg_id)
        if not sdir.is_dir():
            return [(sdir, "is missing")]
        files = seg.get("files")
        key = (seg_id, json.dumps(files, sort_keys=True))
        if key not in self._files:
            self._files[key] = self._segment_files(sdir, seg_id, files)
        out = list(self._files[key])
        if seg.get("tombstones"):
            tkey = (seg_id, seg["tombstones"], seg.get("tombstones_crc32"))
            if tkey not in self._tombs:
                self._tombs[tkey] = self._tombstones(sdir, seg["tombstones"], seg.get("tombstones_crc32"))
            out.extend(self._tombs[tkey])
        return out

    @staticmethod
    def _segment_files(sdir: Path, seg_id: int, files: dict[str, dict[str, int]] | None) -> list[tuple[Path, str]]:
        if files is not None:
            return [(sdir / name, what) for name, what in verify_files(sdir, files, cached=False)]
        try:  # written before checksums: the files must decode and agree
            read_segment(sdir, seg_id, {})
        except CorruptionError as exc:
            return [(sdir, str(exc).replace(f"segment file {sdir}", "").strip() or str(exc))]
        return []

    @staticmethod
    def _tombstones(sdir: Path, name: str, crc: int | None) -> list[tuple[Path, str]]:
        try:
            read_tombstones(sdir, name, crc)
        except CorruptionError as exc:
            return [(sdir / name, str(exc))]
        return []


def _wal_scans(path: Path) -> list[tuple[int, WalScan]]:
    """Every log file scanned (the dimension inferred), with the sequence it starts at."""
    return [(first, scan_file(p, None)) for first, p in log_files(path / "wal")]


def _damaged_wals(scans: list[tuple[int, WalScan]]) -> list[tuple[int, WalScan, int | None]]:
    """``(first sequence, scan, first sequence of the next file or None)`` of each log file
    that replay refuses (damage that is more than a torn tail of the newest file)."""
    bad = {id(scan) for scan, _ in refused([scan for _, scan in scans])}
    return [(first, scan, scans[i + 1][0] if i + 1 < len(scans) else None)
            for i, (first, scan) in enumerate(scans) if id(scan) in bad]


def _lost_seqs(first: int, scan: WalScan, next_first: int | None, after: int) -> tuple[list[int], list[str]]:
    """Sequence numbers ``> after`` missing from the readable records of one log file (it
    starts at its name's sequence and ends where the next file begins), and a note when
    the newest file has a damaged end whose record count cannot be known."""
    have = {r.seq for r in scan.records}
    end = next_first - 1 if next_first is not None else max(have, default=first - 1)
    lost = [s for s in range(max(first, after + 1), end + 1) if s not in have]
    notes = []
    if next_first is None and scan.damage and scan.damage[-1][1] == scan.size and not scan.torn:
        notes.append(f"an unknown number of writes after write {end} "
                     f"({scan.size - scan.damage[-1][0]} bytes at the end of {scan.path.name})")
    return lost, notes


def _ranges(seqs: list[int]) -> str:
    parts = []
    start = prev = None
    for s in sorted(seqs):
        if prev is not None and s == prev + 1:
            prev = s
            continue
        if start is not None:
            parts.append(f"{start}" if start == prev else f"{start}..{prev}")
        start = prev = s
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}..{prev}")
    return ", ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def check_collection(lake_root: Path, name: str, path: Path) -> list[Problem]:
    """Every damaged file of the collection ``name`` at ``path`` (empty: all intact).

    Reads only; see the module doc for what is verified.
    """
    lake_root, path = Path(lake_root), Path(path)
    cmd = f"`lakebed repair {lake_root}`"
    problems: list[Problem] = []

    def add(p: Path, what: str, action: str, repairable: bool = True) -> None:
        problems.append(Problem("collection", name, rel_path(lake_root, p), what, action, repairable))

    versions = list_versions(path) if (path / "manifests").is_dir() else []
    if not versions:
        add(path / "manifests", "has no manifest (the collection's directory is missing or empty)",
            f"restore {rel_path(lake_root, path)} from a backup, or drop the collection", False)
        return problems
    intact: dict[int, dict[str, Any]] = {}
    for v in versions:
        try:
            intact[v] = read_manifest(path, v)
        except CorruptionError as exc:
            what = _why(exc)
            intact_older = [u for u in versions if u < v]
            if v == versions[-1]:
                action = (f"run {cmd}: it rolls back to the newest intact manifest and replays the "
                          "write-ahead log" if intact_older else
                          f"restore {rel_path(lake_root, path)} from a backup (no older manifest is kept)")
            else:
                action = f"run {cmd}: it moves the damaged manifest aside (version {v} can no longer be opened)"
            add(manifest_path(path, v), f"is unreadable ({what})", action, bool(intact_older) or v != versions[-1])
    current = max(intact) if intact else None
    segment_damage = _SegmentDamage(path)
    seen: set[str] = set()
    for v in sorted(intact, reverse=True):
        for seg in intact[v]["segments"]:
            for f, what in segment_damage(seg):
                key = str(f)
                if key in seen:
                    continue
                seen.add(key)
                if v == current:
                    action = (f"run {cmd}: it publishes a version without segment {seg['id']} "
                              "and lists the points lost with it (or restore the file from a backup)")
                else:
                    action = (f"run {cmd}: it moves manifest {v} aside (only older versions use this "
                              "file), or `col.vacuum()` to drop old versions")
                add(f, what, action)
    scans = _wal_scans(path)
    wal_seq = int(intact[current]["wal_seq"]) if current is not None else 0
    for first, scan, next_first in _damaged_wals(scans):
        start, end, kind = scan.damage[0]
        lost, notes = _lost_seqs(first, scan, next_first, wal_seq)
        after = sum(1 for r in scan.records if r.offset >= end)
        bits = [_plural(len(lost), "write") + " unreadable" if lost else "",
                *notes, f"{_plural(after, 'valid record')} after it" if after else ""]
        detail = ", ".join(b for b in bits if b)
        what = f"damaged at byte {start}" + (" (a record passes its CRC32 but does not decode)"
                                            if kind == "undecodable" else "")
        add(scan.path, f"{what} ({detail})" if detail else what,
            f"run {cmd}: it moves the file aside and keeps the records that still read")
    text = path / "text"
    if text.is_dir():
        err = _text_error(text)
        if err is not None:
            add(err[0], f"{err[1]} (a file of the BM25 text index)",
                f"run {cmd}: it removes the index, which is rebuilt from the points on the next open "
                "(opening the collection for writing also rebuilds it)")
    return problems


def _text_error(text: Path) -> tuple[Path, str] | None:
    """The damaged file of the BM25 index and what is wrong, or None."""
    from lakebed.vectors.text import INDEX_DIR, TextIndex, damaged_files

    bad = damaged_files(text)
    if bad:
        return text / INDEX_DIR / bad[0][0], bad[0][1]
    try:
        idx = TextIndex(text, durable=False, read_only=True)
        try:
            idx.search("lakebed check", 1)
        finally:
            idx.close()
    except Exception as exc:  # tantivy raises ValueError and OSError, and its own
        return text, f"is unreadable ({type(exc).__name__}: {exc})"
    return None


def _segment_ids(path: Path, seg: dict[str, Any]) -> tuple[list[Any] | None, bool]:
    """The ids of the live points of a segment entry (all rows when the tombstones are
    unreadable: the bool says whether deleted points were excluded); None if the rows
    file is unreadable."""
    sdir = _seg_dir(path, int(seg["id"]))
    try:
        table = pq.read_table(sdir / "rows.parquet", columns=["id_int", "id_str"])
        ids = [s if i is None else i for i, s in zip(table.column("id_int").to_pylist(),
                                                    table.column("id_str").to_pylist(), strict=True)]
    except Exception:  # any Arrow or OS error: the ids are unknown
        return None, False
    if not seg.get("tombstones"):
        return ids, True
    try:
        dead = read_tombstones(sdir, seg["tombstones"], seg.get("tombstones_crc32"))
    except CorruptionError:
        return ids, False
    return [x for j, x in enumerate(ids) if j not in dead], True


def _ids_text(ids: list[Any], limit: int = 50) -> str:
    shown = ", ".join(repr(x) for x in ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


def repair_collection(lake_root: Path, name: str, path: Path) -> list[str]:
    """Repair the collection ``name`` at ``path`` (see the module doc); return one line per
    action, saying what was lost. An intact collection is left alone (``[]``)."""
    lake_root, path = Path(lake_root), Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    lines: list[str] = []
    versions = list_versions(path) if (path / "manifests").is_dir() else []
    if not versions:
        raise CorruptionError(
            f"collection {name!r} has no manifest in {path}/manifests: nothing to roll back to; "
            "restore it from a backup or drop the collection"
        )
    # 1. manifests: move the damaged ones aside, roll back to the newest intact one
    intact: dict[int, dict[str, Any]] = {}
    for v in versions:
        try:
            intact[v] = read_manifest(path, v)
        except CorruptionError as exc:
            src = manifest_path(path, v)
            dst = src.with_name(f"{src.name}.corrupt-{stamp}")
            os.replace(src, dst)
            lines.append(f"manifest {rel_path(lake_root, src)} was damaged "
                         f"({_why(exc)}); moved aside to "
                         f"{rel_path(lake_root, dst)}")
    rolled_back = bool(intact) and max(intact) < versions[-1]
    if not intact:
        # no manifest reads at all: start from an empty one that keeps every segment id
        seg_ids = [int(p.name) for p in (path / "segments").iterdir() if p.name.isdigit()] \
            if (path / "segments").is_dir() else []
        base: dict[str, Any] = {"version": versions[-1] + 1, "created_at": time.time(), "seq": 0,
                                "wal_seq": 0, "next_key": 0,
                                "next_segment": max(seg_ids, default=0) + 1,
                                "segments": [], "payload_indexes": {}, "points": 0}
        atomic_write_bytes(manifest_path(path, base["version"]), encode_manifest(base))
        intact[base["version"]] = base
        lines.append(f"no manifest was intact: published an empty version {base['version']}; "
                     "the points of every sealed segment are lost (segment files are kept in "
                     f"{rel_path(lake_root, path / 'segments')})")
    current = max(intact)
    manifest = intact[current]
    scans = _wal_scans(path)
    if rolled_back:
        lines.append(f"rolled back to version {current}, the newest intact manifest; the "
                     f"write-ahead log is replayed from write {int(manifest['wal_seq']) + 1}")
    # 2. segments of the current version with damaged files: a version without them
    segment_damage = _SegmentDamage(path)
    dropped: list[dict[str, Any]] = []
    for seg in manifest["segments"]:
        damage = segment_damage(seg)
        if damage:
            dropped.append(seg)
            files = "; ".join(f"{rel_path(lake_root, f)} {what}" for f, what in damage)
            ids, live_only = _segment_ids(path, seg)
            who = (f"{_plural(len(ids), 'point')} lost: ids {_ids_text(ids)}"
                   + ("" if live_only else " (the tombstones are unreadable: some of these were deleted)")
                   if ids is not None else
                   f"{_plural(int(seg['n']) - int(seg.get('deleted', 0)), 'point')} lost, ids "
                   "unknown (rows.parquet is unreadable)")
            lines.append(f"segment {seg['id']} is damaged ({files}); left out of the new version: {who}")
    if dropped:
        new = dict(manifest)
        new["version"] = max(versions[-1], current) + 1
        new["created_at"] = time.time()
        new["segments"] = [s for s in manifest["segments"] if s not in dropped]
        new["points"] = sum(int(s["n"]) - int(s.get("deleted", 0)) for s in new["segments"])
        atomic_write_bytes(manifest_path(path, new["version"]), encode_manifest(new))
        lines.append(f"published version {new['version']} without segment(s) "
                     f"{', '.join(str(s['id']) for s in dropped)}")
        manifest = new
        current = new["version"]
        intact[current] = new
    # older versions that use a damaged file can no longer be opened: move them aside
    for v in sorted(intact):
        if v == current:
            continue
        bad = [f for seg in intact[v]["segments"] for f, _ in segment_damage(seg)]
        if bad:
            src = manifest_path(path, v)
            dst = src.with_name(f"{src.name}.corrupt-{stamp}")
            os.replace(src, dst)
            del intact[v]
            lines.append(f"version {v} uses the damaged file {rel_path(lake_root, bad[0])}: its manifest is "
                         f"moved aside to {rel_path(lake_root, dst)} (that old version can no longer be opened)")
    wal_seq = int(manifest["wal_seq"])
    # segments no version uses any more (those of the rolled-back versions): keep them aside
    used = {int(s["id"]) for m in intact.values() for s in m["segments"]}
    orphans = [p for p in (path / "segments").iterdir() if p.name.isdigit() and int(p.name) not in used] \
        if rolled_back and (path / "segments").is_dir() else []
    orphan_ids: list[Any] = []
    if orphans:
        lost_dir = path / "segments" / f".lost-{stamp}"
        lost_dir.mkdir(parents=True, exist_ok=True)
        for p in sorted(orphans):
            ids, _ = _segment_ids(path, {"id": int(p.name), "n": 0})
            orphan_ids.extend(ids or [])
            os.replace(p, lost_dir / p.name)
        fsync_dir(path / "segments")
    # 3. the write-ahead log
    first_seq = min((f for f, _ in scans), default=None)
    if rolled_back and first_seq is not None and first_seq > wal_seq + 1:
        lines.append(f"writes {wal_seq + 1}..{first_seq - 1} are lost: the rolled-back versions "
                     "had sealed them and their log files were deleted (their upserts are missing, "
                     "and points their deletes removed may be back)")
    elif rolled_back and first_seq is None:
        lines.append(f"the writes after write {wal_seq} that the rolled-back versions had sealed "
                     "are lost (no log file is left to count them)")
    for first, scan, next_first in _damaged_wals(scans):
        lost, notes = _lost_seqs(first, scan, next_first, wal_seq)
        dst = scan.path.with_name(f"{scan.path.name}.corrupt-{stamp}")
        os.replace(scan.path, dst)
        kept = scan.records
        atomic_write_bytes(scan.path, b"".join(encode_record(r.header, r.vectors) for r in kept))
        what = [f"lost write{'s' if len(lost) > 1 else ''} {_ranges(lost)} "
                f"({_plural(len(lost), 'write')}, {'their' if len(lost) > 1 else 'its'} point ids are unreadable)"
                if lost else "", *[f"lost {n}" for n in notes]]
        lost_text = "; ".join(w for w in what if w) or (
            "no write is lost (the damage was in records a manifest already covers)")
        lines.append(f"write-ahead log {rel_path(lake_root, scan.path)} moved aside to "
                     f"{rel_path(lake_root, dst)}; kept {_plural(len(kept), 'readable record')}; {lost_text}")
    if orphan_ids:
        present = _present_ids(path, manifest, scans, wal_seq)
        gone = [x for x in dict.fromkeys(orphan_ids) if x not in present]
        if gone:
            lines.append(f"points of the rolled-back versions that the repaired collection lacks "
                         f"(some may have been deleted before the damage): ids {_ids_text(gone)}; "
                         f"their segment files are kept in {rel_path(lake_root, path / 'segments')}/.lost-{stamp}")
    # 4. the BM25 index: derived, rebuilt on the next open
    text = path / "text"
    if text.is_dir():
        err = _text_error(text)
        if err is not None or lines:
            shutil.rmtree(text)
            why = (f"was damaged ({rel_path(lake_root, err[0])} {err[1]})" if err is not None
                   else "may be ahead of the repaired points")
            lines.append(f"the BM25 index {rel_path(lake_root, text)} {why}: removed; it is rebuilt "
                         "from the points when the collection is next opened")
    return lines


def _present_ids(path: Path, manifest: dict[str, Any], scans: list[tuple[int, WalScan]],
                 wal_seq: int) -> set[Any]:
    """Ids live in the manifest's segments or upserted by the log after it (``scans``: the
    repair keeps every record they read; deletes in the log are ignored, an approximation
    that only shortens the lost list)."""
    present: set[Any] = set()
    for seg in manifest["segments"]:
        ids, _ = _segment_ids(path, seg)
        present.update(ids or [])
    for _, scan in scans:
        for r in scan.records:
            if r.seq > wal_seq and r.header.get("op") == "upsert":
                present.update(r.header.get("ids") or [])
    return present
