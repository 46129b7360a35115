"""``lakebed check`` for the embedded stream log: definitions, every frame of every
segment (magic, length, CRC-32, offsets without gaps) and the consumer groups file.

A frame cut short (or zero-filled) at the very end of a partition's last segment is the
trace of an append that crashed before it returned (nobody was told it was stored; the
writer sets its bytes aside when it opens the partition): not reported. Any other damage is, naming the file, the byte
and the offsets it makes unreadable. There is no automatic repair: the records are the
data itself, and dropping them would leave a gap in the offsets that consumers and stream
processors have recorded.

Example:
    >>> import lakebed, pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp()) / "lake"
    >>> with lakebed.connect(root) as lake:
    ...     s = lake.streams.create("s", schema={"v": "int64"})
    ...     _ = s.append([{"v": 1}, {"v": 2}]); _ = s.append([{"v": 3}])
    >>> check_streams(root)
    []
    >>> seg = next((root / "streams" / "s" / "p0").glob("*.log"))
    >>> raw = bytearray(seg.read_bytes()); raw[40] ^= 0xFF; _ = seg.write_bytes(bytes(raw))
    >>> [p.what for p in check_streams(root)]
    ['the frame at byte 0 fails its CRC-32 check: offsets 0..1 are unreadable']
"""

from __future__ import annotations

import zlib
from pathlib import Path

from lakebed._integrity import Problem, rel_path
from lakebed.streams._embedded import _HEAD, HEAD_SIZE, MAGIC
from lakebed.streams._spec import StreamSpec

_ACTION = ("restore the segment file from a backup; or drop the stream (`lake.streams.drop`) and append its "
           "records again from their source; consumers and stream views that read past it keep what they applied")


def check_streams(root: Path) -> list[Problem]:
    """Every problem of the embedded streams of the lake at ``root`` (changes nothing)."""
    folder = root / "streams"
    problems: list[Problem] = []
    if not folder.is_dir():
        return problems
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        f = d / "stream.json"
        if not f.exists():
            continue  # a create that crashed before its definition was written: not a stream
        try:
            spec = StreamSpec.from_json(f.read_bytes())
        except Exception as exc:
            problems.append(Problem("stream", d.name, rel_path(root, f), f"the definition cannot be read ({exc})",
                                    "restore stream.json from a backup, or drop the stream's directory"))
            continue
        for k in range(spec.partitions):
            _check_partition(root, spec.name, d / f"p{k}", problems)
    return problems


def _check_partition(root: Path, name: str, part: Path, problems: list[Problem]) -> None:
    segs = sorted(part.glob("*.log")) if part.is_dir() else []
    expected: int | None = None
    for n, seg in enumerate(segs):
        last = n == len(segs) - 1
        data = seg.read_bytes()
        pos = 0
        try:
            start = int(seg.stem)
        except ValueError:
            problems.append(Problem("stream", name, rel_path(root, seg), "a segment name that is not an offset",
                                    "move the file out of the stream's directory"))
            continue
        if expected is not None and start != expected:
            problems.append(Problem("stream", name, rel_path(root, seg),
                                    f"starts at offset {start}, the segment before ends at {expected}",
                                    _ACTION))
        expected = start
        while pos < len(data):
            head = data[pos:pos + HEAD_SIZE]
            if len(head) < HEAD_SIZE:
                if not last:
                    problems.append(Problem("stream", name, rel_path(root, seg),
                                            f"ends inside a frame header at byte {pos}", _ACTION))
                break
            magic, blen, crc, base, count, _t = _HEAD.unpack(head)
            end = pos + HEAD_SIZE + blen
            if magic != MAGIC or end > len(data):
                torn = last and ((magic == MAGIC and end > len(data)) or not any(data[pos:]))
                if not torn:
                    problems.append(Problem("stream", name, rel_path(root, seg),
                                            f"no frame at byte {pos} (the rest of the segment is unreadable)",
                                            _ACTION))
                break
            body = data[pos + HEAD_SIZE:end]
            if zlib.crc32(body, zlib.crc32(head[12:])) != crc:
                problems.append(Problem("stream", name, rel_path(root, seg),
                                        f"the frame at byte {pos} fails its CRC-32 check: offsets "
                                        f"{base}..{base + count - 1} are unreadable", _ACTION))
            elif base != expected:
                problems.append(Problem("stream", name, rel_path(root, seg),
                                        f"the frame at byte {pos} holds offset {base}, {expected} was expected",
                                        _ACTION))
            expected = base + count
            pos = end
