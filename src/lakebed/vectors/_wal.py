"""The write-ahead log of a collection.

A log is a directory of files ``<first_seq>.wal``; each file is a sequence of records
framed as ``[u32 length][u32 crc32][body]`` (little endian). A record's body is
``[u32 header length][JSON header][raw float32 vectors]``. The header carries the record's
sequence number, so replay can skip what a manifest already covers.

A torn tail (a crash in the middle of an append) fails its length or checksum and is
discarded together with anything after it; it was never acknowledged, because an append
returns only after the whole record is written (and fsynced, per the fsync policy).
The file is rotated when the growing segment is frozen, so that files can be deleted
whole once a manifest covers them.
"""

from __future__ import annotations

import json
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


@dataclass
class WalRecord:
    """One decoded record: its JSON header and its vectors (or None)."""

    header: dict[str, Any]
    vectors: np.ndarray | None

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


def _decode_body(body: bytes, dim: int) -> WalRecord:
    (hlen,) = _HLEN.unpack_from(body, 0)
    header = json.loads(body[4 : 4 + hlen])
    rest = body[4 + hlen :]
    vectors = None
    if rest:
        vectors = np.frombuffer(rest, dtype="<f4").reshape(-1, dim)
    return WalRecord(header, vectors)


def read_file(path: Path, dim: int) -> tuple[list[WalRecord], int]:
    """Records of one file and the byte offset after the last good record."""
    data = path.read_bytes()
    out: list[WalRecord] = []
    pos = 0
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        start = pos + _FRAME.size
        end = start + length
        if length == 0 or length > _MAX_RECORD or end > len(data):
            break
        body = data[start:end]
        if zlib.crc32(body) != crc:
            break
        try:
            out.append(_decode_body(body, dim))
        except (ValueError, KeyError) as exc:  # checksum passed but undecodable: real damage
            raise CorruptionError(
                f"write-ahead log {path} has an undecodable record at byte {pos}: {exc}; "
                "restore the collection from a backup"
            ) from None
        pos = end
    return out, pos


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
        out = []
        for p in self.dir.glob("*.wal"):
            try:
                out.append((int(p.stem), p))
            except ValueError:
                continue
        return sorted(out)

    def replay(self, after_seq: int, *, repair: bool = True) -> Iterator[WalRecord]:
        """Yield the records with ``seq > after_seq``, oldest first; cut torn tails
        (and truncate them on disk when ``repair``)."""
        files = [(p, p.stat().st_size) for _, p in self.files()]
        for i, (path, size) in enumerate(files):
            records, good = read_file(path, self.dim)
            if good < size:
                if any(s > 0 for _, s in files[i + 1 :]):
                    # damage followed by more log would lose acknowledged writes
                    raise CorruptionError(
                        f"write-ahead log file {path} is damaged at byte {good} and newer log "
                        "files follow; restore the collection from a backup"
                    )
                if repair:
                    # the torn tail was never acknowledged: drop it
                    with open(path, "r+b") as fh:
                        fh.truncate(good)
                        fh.flush()
                        os.fsync(fh.fileno())
            for rec in records:
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
