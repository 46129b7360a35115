"""The embedded stream log: CRC-framed segment files inside the lake (the default backend).

Layout::

    streams/<name>/stream.json           the definition (written atomically)
    streams/<name>/p<k>/<base>.log       partition k's segments, named by their first offset
    streams/groups.db                    consumer groups: committed offsets and members (SQLite)

A segment is a run of frames. A frame holds one append's records of one partition:

    magic "LBSF" | body length u32 | CRC-32 u32 | base offset u64 | count u32 | time u64 | body

The CRC covers everything after it (header fields and body); the body is an Arrow IPC
stream of one record batch: the stream's columns and ``_id`` (the message ids). One
append of n partitions writes n frames and, under ``fsync="always"``, fsyncs each
touched segment once before it returns; appends from several threads share fsyncs
(group commit: a thread whose frames were made durable by another's fsync returns
without its own). ``batch`` fsyncs at :meth:`EmbeddedBackend.flush` and close; ``never``
leaves it to the OS.

An append whose records go to several partitions first writes its intent (each
partition's frame: base offset and count) to ``streams/<name>/append.intent`` in one
write, then the frames. A writer killed between two partitions' frames left part of an
append that was never acknowledged: when the next writer opens the stream, those frames
are set aside as torn frames are, so a batch is stored whole or not at all. (The intent
is not fsynced on its own: after a power loss, as opposed to a killed process, a batch
spanning partitions may survive in part.)

One process writes (the lake's writer); other processes open the lake read-only and
tail the files: a reader stops at a frame that is not complete yet. When the writer
opens a partition it cuts off a last frame that is incomplete (an append that crashed
before it returned, so nobody was told it was stored), keeping its bytes beside the
segment (``<segment>.torn-<byte>-<time>``) and logging a warning. A complete frame that
fails its CRC, anywhere, is corruption: opening the partition for writing or reading
those records raises CorruptionError naming the file and offsets, and ``lakebed check``
reports it.

Message ids are remembered for the stream's dedup window: the writer rebuilds that memory
from the frames of the window when it opens the stream.

Example:
    >>> import tempfile, pathlib, pyarrow as pa
    >>> from lakebed.streams._spec import StreamSpec
    >>> backend = EmbeddedBackend(pathlib.Path(tempfile.mkdtemp()), fsync="never")
    >>> spec = StreamSpec.build("s", schema={"a": "int64"})
    >>> backend.create(spec)
    >>> backend.append(spec, {0: (pa.record_batch({"a": [7, 8]}), ["m1", "m2"])})
    {0: [0, 1]}
    >>> backend.append(spec, {0: (pa.record_batch({"a": [8]}), ["m2"])})  # a repeat: stored once
    {0: [1]}
    >>> backend.read(spec, 0, 0, 10).batch.to_pylist()
    [{'a': 7}, {'a': 8}]
    >>> backend.close()
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import struct
import threading
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lakebed.errors import AlreadyExists, CorruptionError, NotFound
from lakebed.storage._atomic import atomic_write_bytes, fsync_dir
from lakebed.streams._backend import Records, StreamBackend, empty_records
from lakebed.streams._spec import StreamSpec, check_stream_name

log = logging.getLogger("lakebed.streams")

MAGIC = b"LBSF"
_DAMAGE_ACTION = ("run `lakebed check`; restore the segment from a backup, or drop the stream and append its "
                  "records again from their source")
_HEAD = struct.Struct("<4sIIQIQ")  # magic, body length, crc, base offset, count, time
HEAD_SIZE = _HEAD.size
SEGMENT_BYTES = 64 << 20
# The intent of an append that spans partitions: written (one pwrite) before its frames,
# so that a writer killed between two partitions' frames leaves no half batch behind.
INTENT_NAME = "append.intent"
_INTENT_MAGIC = b"LBSI"
_INTENT_HEAD = struct.Struct("<4sII")  # magic, crc of the entries, number of entries
_INTENT_ENTRY = struct.Struct("<IQI")  # partition, base offset of its frame, count
_TRIM_EVERY_S = 1.0
_POLL_S = 0.005


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclasses.dataclass
class _Frame:
    base: int
    count: int
    time_us: int
    segment: Path
    pos: int
    length: int  # header + body


class _Partition:
    """The frame index of one partition, built by scanning segment headers."""

    def __init__(self, root: Path, spec_name: str, index: int, *, writer: bool) -> None:
        self.root = root
        self.stream = spec_name
        self.index = index
        self.frames: list[_Frame] = []
        self.bases: list[int] = []  # frames' base offsets, for bisect
        self.first = 0  # first retained offset
        self.next = 0
        self.last_time = 0
        self.bytes = 0
        self.scanned: dict[Path, int] = {}  # segment -> bytes indexed so far
        self.fd: int | None = None  # the writer's open active segment
        self.active: Path | None = None
        self.active_first: int | None = None  # append time of the active segment's first frame
        self.dirty = False
        self.cache: tuple[int, pa.RecordBatch] | None = None  # last decoded frame (base, batch)
        self.read_fds: dict[Path, int] = {}  # segment -> descriptor the reads use
        self.read_lock = threading.Lock()
        self.refresh(writer=writer)

    def segments(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("*.log"))

    def refresh(self, *, writer: bool = False) -> None:
        """Index frames appended since the last call (by this or another process)."""
        segs = self.segments()
        gone = [s for s in self.scanned if s not in segs]
        if gone:  # retention removed old segments
            self._close_reads(keep=segs)
            for s in gone:
                del self.scanned[s]
            keep = [f for f in self.frames if f.segment in segs]
            self.frames, self.bases = keep, [f.base for f in keep]
        for seg in segs:
            start = self.scanned.get(seg, 0)
            size = seg.stat().st_size
            if size <= start:
                continue
            is_last = seg == segs[-1]
            end = self._scan(seg, start, size, last=is_last, writer=writer)
            self.scanned[seg] = end
        if self.frames:
            self.first = self.frames[0].base
            last = self.frames[-1]
            self.next = last.base + last.count
            self.last_time = max(self.last_time, last.time_us)
        elif segs:
            self.first = self.next = int(segs[-1].stem)
        self.bytes = sum(self.scanned.values())

    def _scan(self, seg: Path, start: int, size: int, *, last: bool, writer: bool) -> int:
        with open(seg, "rb") as fh:
            fh.seek(start)
            pos = start
            while pos < size:
                head = fh.read(HEAD_SIZE)
                if len(head) < HEAD_SIZE:
                    break
                magic, blen, crc, base, count, tus = _HEAD.unpack(head)
                complete = pos + HEAD_SIZE + blen <= size
                if magic != MAGIC or not complete:
                    if last and (magic == MAGIC or not any(head + fh.read())):
                        break  # the tail being written, or cut short (or zero-filled) by a crash
                    raise CorruptionError(
                        f"stream {self.stream!r} partition {self.index}: no frame at byte {pos} of {seg}; "
                        f"{_DAMAGE_ACTION}"
                    )
                if writer and last:  # the writer checks the CRC of frames it has not written itself
                    body = fh.read(blen)
                    if zlib.crc32(body, zlib.crc32(head[12:])) != crc:
                        raise CorruptionError(
                            f"stream {self.stream!r} partition {self.index}: the frame at byte {pos} of {seg} "
                            f"(offsets {base}..{base + count - 1}) fails its CRC-32 check; {_DAMAGE_ACTION}"
                        )
                else:
                    fh.seek(blen, os.SEEK_CUR)
                if self.frames and base != self.frames[-1].base + self.frames[-1].count:
                    raise CorruptionError(
                        f"stream {self.stream!r} partition {self.index}: offsets jump at byte {pos} of {seg} "
                        f"(expected {self.frames[-1].base + self.frames[-1].count}, found {base}); "
                        f"{_DAMAGE_ACTION}"
                    )
                self.frames.append(_Frame(base, count, tus, seg, pos, HEAD_SIZE + blen))
                self.bases.append(base)
                pos += HEAD_SIZE + blen
        if writer and last and pos < size:
            # a frame cut short: an append that crashed before it returned (nobody was told
            # it was stored). Its bytes are kept beside the segment, never silently dropped.
            with open(seg, "r+b") as fh:
                fh.seek(pos)
                torn = fh.read()
                aside = seg.with_name(f"{seg.name}.torn-{pos}-{time.time_ns()}")
                aside.write_bytes(torn)
                fh.truncate(pos)
                os.fsync(fh.fileno())
            log.warning("stream %r partition %d: an append cut short by a crash (%d bytes at byte %d of %s, never "
                        "acknowledged) was set aside to %s", self.stream, self.index, len(torn), pos, seg, aside)
        return pos

    def frame_at(self, offset: int) -> int:
        """Index of the frame holding ``offset`` (which must be in [first, next))."""
        return bisect.bisect_right(self.bases, offset) - 1

    def load(self, frames: list[_Frame]) -> list[pa.RecordBatch]:
        """Decode ``frames`` (consecutive in the log), reading each run of frames that
        lie next to each other in one segment with one ``pread``; each frame's CRC-32 is
        checked before it is decoded."""
        out: list[pa.RecordBatch] = []
        k = 0
        while k < len(frames):
            f = frames[k]
            cached = self.cache
            if cached is not None and cached[0] == f.base:
                out.append(cached[1])
                k += 1
                continue
            j = k + 1
            while (j < len(frames) and frames[j].segment == f.segment
                   and frames[j].pos == frames[j - 1].pos + frames[j - 1].length):
                j += 1
            start = f.pos
            data = memoryview(self._pread(f.segment, start, frames[j - 1].pos + frames[j - 1].length - start))
            for g in frames[k:j]:
                out.append(self._decode(g, data[g.pos - start:g.pos - start + g.length]))
            k = j
        if out:
            self.cache = (frames[-1].base, out[-1])
        return out

    def _decode(self, frame: _Frame, data: memoryview) -> pa.RecordBatch:
        head, body = data[:HEAD_SIZE], data[HEAD_SIZE:]
        if len(body) != frame.length - HEAD_SIZE or zlib.crc32(body, zlib.crc32(head[12:])) != _HEAD.unpack(head)[2]:
            raise CorruptionError(
                f"stream {self.stream!r} partition {self.index}: the frame at byte {frame.pos} of {frame.segment} "
                f"(offsets {frame.base}..{frame.base + frame.count - 1}) fails its CRC-32 check; {_DAMAGE_ACTION}"
            )
        return pa.ipc.open_stream(pa.py_buffer(body)).read_next_batch()

    def _pread(self, segment: Path, pos: int, size: int) -> bytes:
        """Bytes of a segment, through a descriptor kept open per segment (closed when
        retention removes the segment, or with the partition)."""
        with self.read_lock:
            fd = self.read_fds.get(segment)
            if fd is None:
                fd = self.read_fds[segment] = os.open(segment, os.O_RDONLY)
            return os.pread(fd, size, pos)

    def _close_reads(self, keep: list[Path] | None = None) -> None:
        with self.read_lock:
            for seg in [s for s in self.read_fds if keep is None or s not in keep]:
                os.close(self.read_fds.pop(seg))

    def open_for_append(self, fsync: str) -> None:
        if self.fd is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        segs = self.segments()
        if segs and segs[-1].stat().st_size < SEGMENT_BYTES:
            self.active = segs[-1]
        else:
            self.active = self.root / f"{self.next:020d}.log"
        self.fd = os.open(self.active, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if fsync == "always":
            fsync_dir(self.root)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self._close_reads()


class _Stream:
    def __init__(self, spec: StreamSpec, root: Path, writer: bool) -> None:
        self.spec = spec
        self.root = root
        self.parts = [_Partition(root / f"p{k}", spec.name, k, writer=writer) for k in range(spec.partitions)]
        self.intent_fd: int | None = None
        if writer:
            self._finish_interrupted_append()
        self.write_lock = threading.Lock()
        self.sync_lock = threading.Lock()
        self.written = 0  # appends written (a counter for group commit)
        self.synced = 0  # appends made durable
        self.dedup: OrderedDict[str, tuple[int, int, int]] = OrderedDict()  # id -> (partition, offset, time)
        self.dedup_loaded = False
        self.last_trim = 0.0

    def close(self) -> None:
        for p in self.parts:
            p.close()
        if self.intent_fd is not None:
            os.close(self.intent_fd)
            self.intent_fd = None

    def write_intent(self, frames: list[tuple[int, int, int]]) -> None:
        """Record (partition, base offset, count) of the frames an append is about to write."""
        body = b"".join(_INTENT_ENTRY.pack(k, base, n) for k, base, n in frames)
        record = _INTENT_HEAD.pack(_INTENT_MAGIC, zlib.crc32(body), len(frames)) + body
        if self.intent_fd is None:
            self.intent_fd = os.open(self.root / INTENT_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(self.intent_fd, record, 0)  # one write: a killed process leaves it whole or old

    def _finish_interrupted_append(self) -> None:
        """A writer killed while an append wrote its frames (partitions in turn) left some
        of them: the append was never acknowledged, so its frames are set aside (as a torn
        frame is), and no batch stays half applied. The intent names the frames."""
        path = self.root / INTENT_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        if len(raw) < _INTENT_HEAD.size:
            return
        magic, crc, n = _INTENT_HEAD.unpack_from(raw)
        body = raw[_INTENT_HEAD.size:_INTENT_HEAD.size + n * _INTENT_ENTRY.size]
        if magic != _INTENT_MAGIC or len(body) != n * _INTENT_ENTRY.size or zlib.crc32(body) != crc:
            return  # an intent cut short: its append wrote no frame yet
        frames = [_INTENT_ENTRY.unpack_from(body, j * _INTENT_ENTRY.size) for j in range(n)]
        frames = [(k, base, cnt) for k, base, cnt in frames if k < len(self.parts)]
        written = [(k, base, cnt) for k, base, cnt in frames if self.parts[k].next >= base + cnt]
        if len(written) == len(frames):
            return  # the append wrote every frame (or later appends followed it)
        for k, base, cnt in written:
            p = self.parts[k]
            last = p.frames[-1] if p.frames else None
            if last is None or (last.base, last.count) != (base, cnt) or p.next != base + cnt:
                raise CorruptionError(
                    f"stream {self.spec.name!r} partition {k}: an interrupted append left offsets {base}.."
                    f"{base + cnt - 1}, which are not the partition's last frame; {_DAMAGE_ACTION}")
            with open(last.segment, "r+b") as fh:
                fh.seek(last.pos)
                torn = fh.read()
                aside = last.segment.with_name(f"{last.segment.name}.torn-{last.pos}-{time.time_ns()}")
                aside.write_bytes(torn)
                fh.truncate(last.pos)
                os.fsync(fh.fileno())
            log.warning("stream %r partition %d: an append killed before it wrote every partition left offsets "
                        "%d..%d (never acknowledged); they were set aside to %s", self.spec.name, k, base,
                        base + cnt - 1, aside)
            self.parts[k] = _Partition(p.root, self.spec.name, k, writer=True)
        path.unlink()


class EmbeddedBackend(StreamBackend):
    """Streams in the lake's own files. See the module doc for the format."""

    name = "embedded"

    def __init__(self, path: Path, *, fsync: str = "always", read_only: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.read_only = read_only
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.RLock()
        self._appended = threading.Condition(threading.Lock())
        self._appends = 0  # appends by this process (a waiter that saw n sleeps only while it is n)
        self._groups: sqlite3.Connection | None = None
        self._groups_lock = threading.Lock()

    # -- definitions -------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        return self.path / check_stream_name(name)

    def _stream(self, spec: StreamSpec) -> _Stream:
        s = self._streams.get(spec.name)
        if s is None:
            with self._lock:
                s = self._streams.get(spec.name)
                if s is None:
                    if not (self._dir(spec.name) / "stream.json").exists():
                        raise NotFound(f"stream {spec.name!r} does not exist (it was dropped?)")
                    s = self._streams[spec.name] = _Stream(spec, self._dir(spec.name), not self.read_only)
        return s

    def create(self, spec: StreamSpec) -> None:
        root = self._dir(spec.name)
        with self._lock:
            if (root / "stream.json").exists():
                raise AlreadyExists(f"stream {spec.name!r} exists; append to it, or drop it first")
            if root.exists():  # left by a create that crashed before its definition was written
                shutil.rmtree(root)
            for k in range(spec.partitions):
                (root / f"p{k}").mkdir(parents=True)
            durable = self.fsync == "always"
            if durable:
                for k in range(spec.partitions):
                    fsync_dir(root / f"p{k}")
            atomic_write_bytes(root / "stream.json", spec.to_json().encode(), durable=durable)
            if durable:
                fsync_dir(self.path)

    def load_spec(self, name: str) -> StreamSpec | None:
        f = self._dir(name) / "stream.json"
        try:
            return StreamSpec.from_json(f.read_bytes())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError) as exc:
            raise CorruptionError(f"the definition of stream {name!r} in {f} is damaged ({exc}); "
                                  "restore it from a backup or drop the stream's directory") from None

    def list_specs(self) -> list[StreamSpec]:
        if not self.path.is_dir():
            return []
        out = []
        for d in sorted(self.path.iterdir()):
            if (d / "stream.json").exists():
                spec = self.load_spec(d.name)
                if spec is not None:
                    out.append(spec)
        return out

    def drop(self, spec: StreamSpec) -> None:
        with self._lock:
            s = self._streams.pop(spec.name, None)
            if s is not None:
                s.close()
            root = self._dir(spec.name)
            if (root / "stream.json").exists():
                (root / "stream.json").unlink()  # first: a crash in rmtree leaves no half stream
            shutil.rmtree(root, ignore_errors=True)
        with self._groups_lock:
            con = self._con()
            con.execute("DELETE FROM offsets WHERE stream = ?", (spec.name,))
            con.execute("DELETE FROM members WHERE stream = ?", (spec.name,))
            con.commit()

    # -- records -----------------------------------------------------------------------
    def _load_dedup(self, s: _Stream) -> None:
        """Remember the ids of the dedup window (the writer's first append after open)."""
        if s.dedup_loaded:
            return
        horizon = _now_us() - s.spec.dedup_window_us
        found: list[tuple[int, str, int, int]] = []
        for p in s.parts:
            k = len(p.frames)
            while k > 0 and p.frames[k - 1].time_us >= horizon:
                k -= 1
            for at in range(k, len(p.frames), 256):  # a few frames at a time: only the ids are kept
                window = p.frames[at:at + 256]
                for f, batch in zip(window, p.load(window), strict=True):
                    ids = batch.column("_id").to_pylist()
                    found += [(f.time_us, i, p.index, f.base + j) for j, i in enumerate(ids) if i is not None]
        for t, i, part, off in sorted(found):
            s.dedup[i] = (part, off, t)
        s.dedup_loaded = True

    def append(self, spec: StreamSpec, parts: dict[int, tuple[pa.RecordBatch, list[str]]], *,
               generated: bool = False) -> dict[int, list[int]]:
        s = self._stream(spec)
        out: dict[int, list[int]] = {}
        with s.write_lock:
            self._load_dedup(s)
            now = _now_us()
            horizon = now - spec.dedup_window_us
            while s.dedup:
                first = next(iter(s.dedup.values()))
                if first[2] >= horizon:
                    break
                s.dedup.popitem(last=False)
            planned: list[tuple[int, pa.RecordBatch, list[int], list[str | None], list[int], dict[str, int]]] = []
            for k, (batch, ids) in sorted(parts.items()):
                p = s.parts[k]
                offsets: list[int] = []
                keep: list[int] = []
                fresh: dict[str, int] = {}
                nxt = p.next
                stored: list[str | None]
                if generated:  # unique, and this log never resends: nothing to look up or remember
                    keep = list(range(len(ids)))
                    offsets = list(range(p.next, p.next + len(ids)))
                    stored = [None] * len(ids)
                else:
                    for j, i in enumerate(ids):
                        seen = s.dedup.get(i)
                        if seen is not None:
                            offsets.append(seen[1])
                        elif i in fresh:
                            offsets.append(fresh[i])
                        else:
                            fresh[i] = nxt
                            offsets.append(nxt)
                            keep.append(j)
                            nxt += 1
                    stored = [ids[j] for j in keep]
                out[k] = offsets
                if keep:
                    planned.append((k, batch, keep, stored, offsets, fresh))
            if len(planned) > 1:  # frames in several partitions: say which, before writing any
                s.write_intent([(k, s.parts[k].next, len(keep)) for k, _, keep, _, _, _ in planned])
            for k, batch, keep, stored, _offsets, fresh in planned:
                p = s.parts[k]
                p.open_for_append(self.fsync)
                t = max(now, p.last_time)
                if len(keep) < batch.num_rows:
                    batch = batch.take(pa.array(keep, pa.int64()))
                body = _encode(batch.append_column("_id", pa.array(stored, pa.string())))
                fields = struct.pack("<QIQ", p.next, len(keep), t)
                crc = zlib.crc32(body, zlib.crc32(fields))
                frame = _HEAD.pack(MAGIC, len(body), crc, p.next, len(keep), t) + body
                if p.fd is not None and p.active is not None and self._should_roll(spec, p, t):
                    self._roll(p)
                assert p.fd is not None and p.active is not None
                pos = os.lseek(p.fd, 0, os.SEEK_END)
                os.write(p.fd, frame)
                p.frames.append(_Frame(p.next, len(keep), t, p.active, pos, len(frame)))
                p.bases.append(p.next)
                p.scanned[p.active] = pos + len(frame)
                p.bytes += len(frame)
                p.next += len(keep)
                p.last_time = t
                p.dirty = True
                for i, off in fresh.items():
                    s.dedup[i] = (k, off, t)
            s.written += 1
            ticket = s.written
        if self.fsync == "always":
            self._sync(s, ticket)
        with self._appended:
            self._appends += 1
            self._appended.notify_all()
        if time.monotonic() - s.last_trim > _TRIM_EVERY_S and (spec.retention_us or spec.retention_bytes):
            self.trim(spec, _now_us())
        return out

    @staticmethod
    def _should_roll(spec: StreamSpec, p: _Partition, now_us: int) -> bool:
        """A segment is full at 64 MiB, or (with retention by age) when its first record
        is an eighth of the retention old, so that whole segments expire on time."""
        assert p.active is not None
        if p.scanned.get(p.active, 0) >= SEGMENT_BYTES:
            return True
        if spec.retention_us is None or not p.frames or p.frames[-1].segment != p.active:
            return False
        if p.active_first is None:
            p.active_first = next(f.time_us for f in p.frames if f.segment == p.active)
        return p.active_first < now_us - spec.retention_us // 8

    def _roll(self, p: _Partition) -> None:
        """Start a new segment (the old one is fsynced first: durable data never waits on
        a file nobody writes to any more)."""
        assert p.fd is not None
        if self.fsync != "never":
            os.fsync(p.fd)
        os.close(p.fd)
        p.fd = None
        p.active = p.root / f"{p.next:020d}.log"
        p.active_first = None
        p.fd = os.open(p.active, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if self.fsync == "always":
            fsync_dir(p.root)

    def _sync(self, s: _Stream, ticket: int) -> None:
        """Group commit: fsync the dirty segments unless another thread's fsync, begun
        after this thread's write, covered it."""
        with s.sync_lock:
            if s.synced >= ticket:
                return
            with s.write_lock:
                upto = s.written
                fds = [p.fd for p in s.parts if p.dirty and p.fd is not None]
                for p in s.parts:
                    p.dirty = False
            for fd in fds:
                os.fdatasync(fd)
            s.synced = upto

    def flush(self) -> None:
        """fsync every stream's unsynced appends (``fsync="batch"``)."""
        if self.fsync == "never":
            return
        for s in list(self._streams.values()):
            self._sync(s, s.written)

    def _part(self, spec: StreamSpec, partition: int) -> _Partition:
        s = self._stream(spec)
        p = s.parts[partition]
        if self.read_only or p.fd is None:
            p.refresh()
        return p

    def read(self, spec: StreamSpec, partition: int, offset: int, max_records: int) -> Records:
        p = self._part(spec, partition)
        offset = max(offset, p.first)
        if offset >= p.next or max_records <= 0:
            return empty_records(spec)
        first = offset
        frames: list[_Frame] = []
        cuts: list[tuple[int, int]] = []  # (start, length) inside each frame
        i = p.frame_at(offset)
        want = max_records
        while want > 0 and i < len(p.frames):
            f = p.frames[i]
            start = offset - f.base
            n = min(f.count - start, want)
            frames.append(f)
            cuts.append((start, n))
            offset += n
            want -= n
            i += 1
        batches = [b.slice(a, n) for b, (a, n) in zip(p.load(frames), cuts, strict=True)]
        if len(batches) == 1:
            out = batches[0].drop_columns(["_id"])
        else:
            out = pa.Table.from_batches(batches).drop_columns(["_id"]).combine_chunks().to_batches()[0]
        times = np.repeat(np.array([f.time_us for f in frames], np.int64), [n for _, n in cuts])
        return Records(out, np.arange(first, offset, dtype=np.int64), times)

    def bounds(self, spec: StreamSpec) -> list[tuple[int, int]]:
        out = []
        for k in range(spec.partitions):
            p = self._part(spec, k)
            out.append((p.first, p.next))
        return out

    def offset_for_time(self, spec: StreamSpec, partition: int, time_us: int) -> int:
        p = self._part(spec, partition)
        times = [f.time_us for f in p.frames]
        i = bisect.bisect_left(times, time_us)
        return p.frames[i].base if i < len(p.frames) else p.next

    def wait(self, spec: StreamSpec, positions: dict[int, int], timeout: float) -> bool:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            with self._appended:
                seen = self._appends
            bounds = self.bounds(spec)
            if any(bounds[k][1] > pos for k, pos in positions.items()):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._appended:  # woken at once by this process's appends; polls for others'
                if self._appends == seen:  # none since the bounds were read
                    self._appended.wait(min(left, _POLL_S if self.read_only else 0.05))

    def trim(self, spec: StreamSpec, now_us: int) -> int:
        s = self._stream(spec)
        s.last_trim = time.monotonic()
        dropped = 0
        with s.write_lock:
            for p in s.parts:
                segs = p.segments()
                while len(segs) > 1:
                    head = segs[0]
                    in_head = [f for f in p.frames if f.segment == head]
                    too_old = (spec.retention_us is not None and in_head
                               and in_head[-1].time_us < now_us - spec.retention_us)
                    too_big = spec.retention_bytes is not None and p.bytes > spec.retention_bytes
                    if not (too_old or too_big):
                        break
                    dropped += sum(f.count for f in in_head)
                    head.unlink()
                    segs.pop(0)
                    p.refresh(writer=False)
                if self.fsync == "always" and dropped:
                    fsync_dir(p.root)
        return dropped

    # -- consumer groups ----------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        if self._groups is None:
            self.path.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path / "groups.db", check_same_thread=False, timeout=30)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(f"PRAGMA synchronous={'FULL' if self.fsync == 'always' else 'NORMAL'}")
            con.execute("CREATE TABLE IF NOT EXISTS offsets (stream TEXT, grp TEXT, part INTEGER, off INTEGER, "
                        "PRIMARY KEY (stream, grp, part))")
            con.execute("CREATE TABLE IF NOT EXISTS members (stream TEXT, grp TEXT, member TEXT, expires REAL, "
                        "PRIMARY KEY (stream, grp, member))")
            con.commit()
            self._groups = con
        return self._groups

    def committed(self, spec: StreamSpec, group: str) -> dict[int, int]:
        with self._groups_lock:
            rows = self._con().execute("SELECT part, off FROM offsets WHERE stream = ? AND grp = ?",
                                       (spec.name, group)).fetchall()
        return {int(p): int(o) for p, o in rows}

    def commit(self, spec: StreamSpec, group: str, offsets: dict[int, int]) -> None:
        with self._groups_lock:
            con = self._con()
            con.executemany(
                "INSERT INTO offsets VALUES (?, ?, ?, ?) "
                "ON CONFLICT(stream, grp, part) DO UPDATE SET off = excluded.off",
                [(spec.name, group, int(p), int(o)) for p, o in offsets.items()])
            con.commit()

    def heartbeat(self, spec: StreamSpec, group: str, member: str, ttl_s: float) -> list[str]:
        now = time.time()
        with self._groups_lock:
            con = self._con()
            con.execute("DELETE FROM members WHERE stream = ? AND grp = ? AND expires < ?", (spec.name, group, now))
            con.execute("INSERT INTO members VALUES (?, ?, ?, ?) ON CONFLICT(stream, grp, member) "
                        "DO UPDATE SET expires = excluded.expires", (spec.name, group, member, now + ttl_s))
            con.commit()
            rows = con.execute("SELECT member FROM members WHERE stream = ? AND grp = ? ORDER BY member",
                               (spec.name, group)).fetchall()
        return [r[0] for r in rows]

    def leave(self, spec: StreamSpec, group: str, member: str) -> None:
        with self._groups_lock:
            con = self._con()
            con.execute("DELETE FROM members WHERE stream = ? AND grp = ? AND member = ?", (spec.name, group, member))
            con.commit()

    def groups(self, spec: StreamSpec) -> list[str]:
        with self._groups_lock:
            rows = self._con().execute("SELECT DISTINCT grp FROM offsets WHERE stream = ? ORDER BY grp",
                                       (spec.name,)).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.flush()
        with self._lock:
            for s in self._streams.values():
                s.close()
            self._streams.clear()
        with self._groups_lock:
            if self._groups is not None:
                self._groups.close()
                self._groups = None

    def describe_files(self, spec: StreamSpec) -> dict[str, Any]:
        """Segment files and bytes per partition (for ``lakebed streams ls``)."""
        s = self._stream(spec)
        return {"partitions": [{"segments": len(p.segments()), "bytes": p.bytes} for p in s.parts]}


def _encode(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def stream_dirs(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(name, definition JSON) of every stream directory (for ``lakebed check``)."""
    out = []
    if path.is_dir():
        for d in sorted(path.iterdir()):
            f = d / "stream.json"
            if f.exists():
                out.append((d.name, json.loads(f.read_bytes())))
    return out
