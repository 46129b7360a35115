"""The embedded log's integrity: a crash's cut-short append is set aside (never silently
dropped), damage elsewhere is reported by `lakebed check` and refused on read, naming the
file and offsets, and nothing is lost that was acknowledged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import lakebed
from lakebed.check import check_lake, repair_lake
from lakebed.errors import CorruptionError


def _lake_with_frames(path: Path, frames: int = 3) -> Path:
    with lakebed.connect(path) as lake:
        s = lake.streams.create("s", schema={"v": "int64"})
        for i in range(frames):
            s.append([{"v": 10 * i}, {"v": 10 * i + 1}])
    return next((path / "streams" / "s" / "p0").glob("*.log"))


@pytest.mark.parametrize("tail", [b"LBSF\x40\x00\x00\x00" + b"x" * 20, b"\x00" * 37])
def test_a_cut_short_append_is_set_aside(tmp_path: Path, tail: bytes, caplog: pytest.LogCaptureFixture) -> None:
    seg = _lake_with_frames(tmp_path / "lake")
    size = seg.stat().st_size
    with open(seg, "ab") as fh:
        fh.write(tail)
    assert check_lake(tmp_path / "lake") == []  # the normal trace of a crash
    with caplog.at_level(logging.WARNING, logger="lakebed.streams"), lakebed.connect(tmp_path / "lake") as lake:
        s = lake.streams.get("s")
        assert s.append([{"v": 99}])[0].offset == 6
        assert s.read(0, 0).column("v").to_pylist() == [0, 1, 10, 11, 20, 21, 99]
    aside = list(seg.parent.glob(f"{seg.name}.torn-{size}-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == tail
    assert any("set aside" in r.getMessage() for r in caplog.records)


def test_damage_inside_the_log_is_reported_and_refused(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    seg = _lake_with_frames(root)
    raw = bytearray(seg.read_bytes())
    raw[40] ^= 0xFF  # inside the first frame's body
    seg.write_bytes(bytes(raw))
    problems = check_lake(root)
    assert len(problems) == 1
    p = problems[0]
    assert p.area == "stream" and p.name == "s" and p.file == "streams/s/p0/" + seg.name
    assert "offsets 0..1" in p.what and "backup" in p.action and not p.repairable
    with lakebed.connect(root, read_only=True) as lake:
        s = lake.streams.get("s")
        assert s.read(0, 2).column("v").to_pylist() == [10, 11, 20, 21]  # the intact frames still read
        with pytest.raises(CorruptionError, match=seg.name):
            s.read(0, 0)
    assert repair_lake(root) == []  # nothing is dropped behind the user's back
    assert check_lake(root) == problems


def test_a_damaged_last_frame_is_not_cut_off(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    seg = _lake_with_frames(root)
    raw = bytearray(seg.read_bytes())
    raw[-5] ^= 0xFF  # inside the last (complete, acknowledged) frame
    seg.write_bytes(bytes(raw))
    assert [p.what for p in check_lake(root)] == [
        f"the frame at byte {len(raw) - _frame_len(raw)} fails its CRC-32 check: offsets 4..5 are unreadable"]
    with lakebed.connect(root) as lake, pytest.raises(CorruptionError, match=r"offsets 4\.\.5"):
        lake.streams.get("s").append([{"v": 1}])
    assert seg.read_bytes() == bytes(raw)  # the writer changed nothing


def _frame_len(raw: bytearray) -> int:
    import struct

    pos, last = 0, 0
    while pos < len(raw):
        blen = struct.unpack_from("<I", raw, pos + 4)[0]
        last = 32 + blen
        pos += last
    return last


def test_a_damaged_groups_file_is_reported_and_set_aside(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    with lakebed.connect(root) as lake:
        s = lake.streams.create("s", schema={"v": "int64"})
        s.append([{"v": 1}])
        list(s.consume("g", timeout=0))
    db = root / "streams" / "groups.db"
    db.write_bytes(b"garbage" * 100)
    (problem,) = check_lake(root)
    assert problem.file == "streams/groups.db" and problem.repairable
    (line,) = repair_lake(root)
    assert "committed offsets" in line
    assert check_lake(root) == []
    with lakebed.connect(root) as lake:
        assert lake.streams.get("s").committed("g") == {}
