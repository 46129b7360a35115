"""The write-ahead log of a collection.

A log is a directory of files ``<first_seq>.wal``; each file is a sequence of records
framed as ``[u32 length][u32 crc32][body]`` (little endian). A record's body is
``[u32 header length][JSON header][raw float32 vectors]``. The header carries the record's
sequence number, so replay can skip what a manifest already covers.

A torn tail (a crash in the middle of an append) is the last bytes of the newest file
failing their framing (the file ends before the declared length, or the checksum fails)
with no valid record after them: it was never acknowledged, because an append returns
only after the whole record is written (and fsynced, per the fsync policy), so it is
dropped, with a warning giving the byte count. Any other damage (a bad record followed by
valid ones, a bad file followed by newer files, a record that passes its checksum but
does not decode) is corruption: opening raises :class:`CorruptionError` naming the file
and the offset and leaves the log untouched; ``lakebed repair`` moves the file aside and
keeps every record that still reads (see :func:`scan_file`).

To tell the two apart without a format change, the scanner looks past a bad frame for the
next offset where a whole record validates (length, CRC32, and a header starting with
``{"seq":``, which every record has): a hit means damage in the middle.
The file is rotated when the growing segment is frozen, so that files can be deleted
whole once a manifest covers them.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lakebed.errors import CorruptionError
from lakebed.storage import fsync_dir

_FRAME = struct.Struct("<II")
_HLEN = struct.Struct("<I")
_MAX_RECORD = 1 << 31
# every record's JSON header starts with its sequence number: the resync anchor
_ANCHOR = b'{"seq":'

log = logging.getLogger("lakebed.vectors")


@dataclass
class WalRecord:
    """One decoded record: its JSON header and its vectors (or None)."""

    header: dict[str, Any]
    vectors: np.ndarray | None
    offset: int = -1  # where the record starts in its file (-1: not read from a file)

    @property
    def seq(self) -> int:
        return int(self.header["seq"])


def encode_record(header: dict[str, Any], vectors: np.ndarray | None) -> bytes:
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    parts = [_HLEN.pack(len(head)), head]
    if vectors is not None:
        parts.append(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
    body = b"".join(parts)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def _decode_body(body: bytes, dim: int | None) -> WalRecord:
    (hlen,) = _HLEN.unpack_from(body, 0)
    if 4 + hlen > len(body):
        raise ValueError("the header length exceeds the record")
    header = json.loads(body[4 : 4 + hlen])
    if not isinstance(header, dict) or not isinstance(header.get("seq"), int) or "op" not in header:
        raise ValueError("the header lacks seq or op")
    rest = body[4 + hlen :]
    vectors = None
    if rest:
        n = len(header.get("ids") or ())
        if dim is None:  # `lakebed check` reads a log without the catalog: infer it
            if not n or len(rest) % (4 * n):
                raise ValueError("the vector bytes do not match the ids")
            dim = len(rest) // (4 * n)
        vectors = np.frombuffer(rest, dtype="<f4").reshape(-1, dim)
        if n and len(vectors) != n:
            raise ValueError(f"{len(vectors)} vectors for {n} ids")
    return WalRecord(header, vectors)


@dataclass
class WalScan:
    """What one log file holds: every record that validates (also past damage), and the
    damaged byte ranges ``(start, end, why)``."""

    path: Path
    size: int
    records: list[WalRecord]
    damage: list[tuple[int, int, str]]

    @property
    def good_end(self) -> int:
        """The offset after the last good record before the first damage."""
        return self.damage[0][0] if self.damage else self.size

    @property
    def torn(self) -> bool:
        """The only damage is an unframed tail with nothing valid after it: a crash in the
        middle of an append, safe to drop."""
        return (len(self.damage) == 1 and self.damage[0][1] == self.size
                and self.damage[0][2] != "undecodable")

    def before_damage(self) -> list[WalRecord]:
        """The records before the first damage (what replay keeps from a torn file)."""
        if not self.damage:
            return self.records
        return [r for r in self.records if r.offset < self.damage[0][0]]


def _frame_at(data: bytes, pos: int) -> int | None:
    """The end of a valid frame at ``pos`` (length fits, CRC32 matches), else None."""
    if pos + _FRAME.size > len(data):
        return None
    length, crc = _FRAME.unpack_from(data, pos)
    end = pos + _FRAME.size + length
    if length < _HLEN.size or length > _MAX_RECORD or end > len(data):
        return None
    if zlib.crc32(data[pos + _FRAME.size : end]) != crc:
        return None
    return end


def _resync(data: bytes, start: int) -> int | None:
    """The first offset ``>= start`` where a whole record validates, else None."""
    hit = data.find(_ANCHOR, start + _FRAME.size + _HLEN.size)
    while hit >= 0:
        pos = hit - _FRAME.size - _HLEN.size
        if pos >= start and _frame_at(data, pos) is not None:
            return pos
        hit = data.find(_ANCHOR, hit + 1)
    return None


def scan_file(path: Path, dim: int | None) -> WalScan:
    """Read one log file without changing it: its valid records and its damaged ranges
    (``dim=None`` infers the dimension from each record).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "0000000000000001.wal"
        >>> recs = [encode_record({"seq": s, "op": "delete", "keys": [s]}, None) for s in (1, 2, 3)]
        >>> _ = p.write_bytes(recs[0] + b"garbage!" + recs[1] + recs[2])
        >>> scan = scan_file(p, dim=4)
        >>> [r.seq for r in scan.records], scan.damage, scan.torn
        ([1, 2, 3], [(46, 54, 'bad frame')], False)
        >>> _ = p.write_bytes(recs[0] + recs[1][:20])  # a crash in the middle of an append
        >>> scan = scan_file(p, dim=4)
        >>> [r.seq for r in scan.records], scan.torn
        ([1], True)
    """
    data = path.read_bytes()
    out: list[WalRecord] = []
    damage: list[tuple[int, int, str]] = []
    pos = 0
    while pos < len(data):
        end = _frame_at(data, pos)
        why = "bad frame"
        if end is not None:
            try:
                rec = _decode_body(data[pos + _FRAME.size : end], dim)
                rec.offset = pos
                out.append(rec)
                pos = end
                continue
            except (ValueError, KeyError, TypeError, IndexError, struct.error):
                why = "undecodable"  # the checksum passed but the body does not decode
        nxt = _resync(data, pos + 1)
        stop = len(data) if nxt is None else nxt
        damage.append((pos, stop, why))
        pos = stop
    return WalScan(path, len(data), out, damage)


def read_file(path: Path, dim: int) -> tuple[list[WalRecord], int]:
    """Records of one file before any damage and the byte offset after the last good one."""
    scan = scan_file(path, dim)
    return scan.before_damage(), scan.good_end


def _lake_of(path: Path) -> Path:
    # <lake>/collections/<name>/wal/<file>
    return path.parents[3] if len(path.parents) > 3 else path.parent


def damage_error(scan: WalScan, why: str = "") -> CorruptionError:
    start, end, kind = scan.damage[0]
    after = sum(1 for r in scan.records if r.offset >= end)
    what = "a record that passes its checksum but does not decode" if kind == "undecodable" else (
        f"{end - start} unreadable bytes")
    lake = _lake_of(scan.path)
    return CorruptionError(
        f"write-ahead log {scan.path} is damaged at byte {start} ({what}"
        f"{f', {after} valid records after it' if after else ''}{why}); nothing was changed. "
        f"Run `lakebed check {lake}` to see the damage and `lakebed repair {lake}` to move the "
        "file aside and keep every record that still reads"
    )


def log_files(directory: Path) -> list[tuple[int, Path]]:
    """The log files of ``directory`` with the sequence number each starts at, oldest first."""
    out = []
    for p in directory.glob("*.wal"):
        try:
            out.append((int(p.stem), p))
        except ValueError:
            continue
    return sorted(out)


def refused(scans: list[WalScan]) -> list[tuple[WalScan, str]]:
    """The scanned files (oldest first) whose damage is more than a torn tail of the newest
    non-empty file, each with the detail :func:`damage_error` adds: replay refuses them,
    ``lakebed check`` reports them and ``lakebed repair`` rewrites them."""
    out = []
    for i, scan in enumerate(scans):
        if not scan.damage:
            continue
        if not scan.torn:
            out.append((scan, ""))
        elif any(s.size > 0 for s in scans[i + 1 :]):
            # a bad end of a file that newer files follow is no crash of an append
            out.append((scan, ", and newer log files follow"))
    return out


class Wal:
    """Appends records to the newest file of a log directory; thread-safe."""

    def __init__(self, directory: Path, dim: int, fsync: str) -> None:
        self.dir = directory
        self.dim = dim
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fh: Any = None
        self._path: Path | None = None
        self.dir.mkdir(parents=True, exist_ok=True)

    def files(self) -> list[tuple[int, Path]]:
        return log_files(self.dir)

    def replay(self, after_seq: int, *, repair: bool = True) -> Iterator[WalRecord]:
        """Yield the records with ``seq > after_seq``, oldest first.

        Every file is read before anything is yielded or changed: a torn tail of the newest
        file is dropped (and truncated on disk when ``repair``, with a warning); any other
        damage raises :class:`CorruptionError` and leaves every file as it was."""
        scans = [scan_file(p, self.dim) for _, p in self.files()]
        for scan, why in refused(scans):
            raise damage_error(scan, why)
        for scan in scans:
            if scan.damage:
                dropped = scan.size - scan.good_end
                log.warning(
                    "write-ahead log %s ends in an incomplete record (a crash in the middle of "
                    "an append): %d bytes at offset %d dropped%s", scan.path, dropped,
                    scan.good_end, "" if repair else " (in memory; the file is left as is)")
                if repair:
                    # the torn tail was never acknowledged: drop it
                    with open(scan.path, "r+b") as fh:
                        fh.truncate(scan.good_end)
                        fh.flush()
                        os.fsync(fh.fileno())
            for rec in scan.before_damage():
                if rec.seq > after_seq:
                    yield rec

    def open_new(self, first_seq: int) -> None:
        """Start a new file for records from ``first_seq`` on."""
        with self._lock:
            self._close_fh()
            path = self.dir / f"{first_seq:016d}.wal"
            self._fh = open(path, "ab")  # noqa: SIM115 - held open across appends
            self._path = path
            if self.fsync != "never":
                fsync_dir(self.dir)

    def append(self, header: dict[str, Any], vectors: np.ndarray | None = None) -> None:
        data = encode_record(header, vectors)
        with self._lock:
            if self._fh is None:
                raise CorruptionError("the write-ahead log is closed; reopen the collection")
            self._fh.write(data)
            self._fh.flush()
            if self.fsync == "always":
                os.fsync(self._fh.fileno())

    def sync(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()
                if self.fsync != "never":
                    os.fsync(self._fh.fileno())

    def drop_through(self, seq: int) -> None:
        """Delete whole files whose records all have ``seq <= seq`` (covered by a manifest)."""
        with self._lock:
            files = self.files()
            for i, (_, path) in enumerate(files):
                if path == self._path:
                    break
                nxt = files[i + 1][0] if i + 1 < len(files) else None
                if nxt is not None and nxt - 1 <= seq:
                    path.unlink(missing_ok=True)

    def _close_fh(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            if self.fsync != "never":
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        with self._lock:
            self._close_fh()
