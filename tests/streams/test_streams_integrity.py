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


@pytest.mark.parametrize("frames_written", [1, 2])
def test_an_append_killed_between_partitions_leaves_no_half_batch(
    tmp_path: Path, frames_written: int, caplog: pytest.LogCaptureFixture
) -> None:
    """An append over three partitions writes one frame per partition, in turn; a writer
    killed after some of them (here: a forked writer that dies at the next frame) left an
    append nobody was told about. The next writer sets those frames aside: every batch is
    there whole or not at all."""
    import os

    root = tmp_path / "lake"
    rows = [{"k": i, "v": i} for i in range(30)]  # keys over all three partitions
    with lakebed.connect(root) as lake:
        s = lake.streams.create("s", schema={"k": "int64", "v": "int64"}, key="k", partitions=3)
        s.append(rows)
        before = [b[1] for b in s.bounds()]
    pid = os.fork()
    if pid == 0:  # the writer: dies (as under SIGKILL) when it starts the next frame
        try:
            import lakebed.streams._embedded as embedded

            real, seen = os.write, {"frames": 0}

            def write(fd: int, data: bytes) -> int:
                if bytes(data[:4]) == embedded.MAGIC:
                    if seen["frames"] == frames_written:
                        os._exit(0)
                    seen["frames"] += 1
                return real(fd, data)

            with lakebed.connect(root) as lake:
                embedded.os.write = write  # type: ignore[attr-defined]
                lake.streams.get("s").append([{"k": i, "v": 100 + i} for i in range(30)])
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # it died mid-append
    with caplog.at_level(logging.WARNING, logger="lakebed.streams"), lakebed.connect(root) as lake:
        s = lake.streams.get("s")
        assert [b[1] for b in s.bounds()] == before  # the half batch is gone from every partition
        values = sorted(v for k in range(3) for v in s.read(k, 0, 1000).column("v").to_pylist())
        assert values == list(range(30))
        s.append([{"k": i, "v": 200 + i} for i in range(30)])  # and the log goes on from there
        got = sorted(v for k in range(3) for v in s.read(k, 0, 1000).column("v").to_pylist())
        assert got == [*range(30), *range(200, 230)]
    aside = list((root / "streams" / "s").glob("p*/*.torn-*"))
    assert len(aside) == frames_written
    assert sum("never acknowledged" in r.getMessage() for r in caplog.records) == frames_written
    with lakebed.connect(root) as lake:  # opening again finds nothing more to set aside
        assert sorted(v for k in range(3) for v in lake.streams.get("s").read(k, 0, 1000).column("v").to_pylist()) \
            == [*range(30), *range(200, 230)]
    assert len(list((root / "streams" / "s").glob("p*/*.torn-*"))) == frames_written
