"""Durability: SIGKILL a real writer process mid-stream, reopen, and find every
acknowledged write and nothing else; a torn WAL tail is discarded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lakebed

DIM = 8

WRITER = r"""
import json, sys, numpy as np, lakebed
path, log, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(seed)
lake = lakebed.connect(path, segment_size=40, fsync="always")
cols = lake.collections
col = cols.open("c") if cols.exists("c") else cols.create("c", dim=%(dim)d, metric="l2")
out = open(log, "a", buffering=1)
step = 0
while True:
    step += 1
    r = rng.random()
    if r < 0.7:
        n = int(rng.integers(1, 8))
        ids = sorted(set(int(i) for i in rng.integers(0, 150, n)))
        vseed = int(rng.integers(0, 2**31))
        spec = {"op": "upsert", "ids": ids, "seed": vseed}
        out.write("BEGIN " + json.dumps(spec) + "\n")
        vecs = np.random.default_rng(vseed).standard_normal((len(ids), %(dim)d)).astype("float32")
        col.upsert(ids, vecs, payloads=[{"seed": vseed, "i": i} for i in ids])
    elif r < 0.9:
        ids = [int(i) for i in rng.integers(0, 150, 3)]
        spec = {"op": "delete", "ids": ids}
        out.write("BEGIN " + json.dumps(spec) + "\n")
        col.delete(ids=ids)
    elif r < 0.97:
        out.write("BEGIN " + json.dumps({"op": "flush"}) + "\n")
        col.flush()
    else:
        out.write("BEGIN " + json.dumps({"op": "compact"}) + "\n")
        col.compact()
    out.write("ACK\n")
""".replace("%(dim)d", str(DIM))


def _apply(model: dict[int, int], spec: dict[str, Any]) -> None:
    if spec["op"] == "upsert":
        for i in spec["ids"]:
            model[i] = spec["seed"]
    elif spec["op"] == "delete":
        for i in spec["ids"]:
            model.pop(i, None)


def _replay_log(log: Path) -> tuple[dict[int, int], dict[str, Any] | None]:
    model: dict[int, int] = {}
    pending = None
    for line in log.read_text().splitlines():
        if line.startswith("BEGIN "):
            pending = json.loads(line[6:])
        elif line == "ACK" and pending is not None:
            _apply(model, pending)
            pending = None
    return model, pending


def _state(col: Any) -> dict[int, int]:
    pts = col.scroll(limit=100_000)[0]
    out = {}
    for p in pts:
        assert p.payload["i"] == p.id
        out[p.id] = p.payload["seed"]
    return out


def _check_vectors(col: Any, state: dict[int, int], log: Path) -> None:
    batches = {}
    for line in log.read_text().splitlines():
        if line.startswith("BEGIN "):
            spec = json.loads(line[6:])
            if spec["op"] == "upsert":
                batches[spec["seed"]] = spec["ids"]
    for pt in col.get(list(state), include_vectors=True):
        ids = batches[state[pt.id]]
        # the vector is row ``ids.index(id)`` of the batch generated from the seed
        want = np.random.default_rng(state[pt.id]).standard_normal((len(ids), DIM)).astype(np.float32)
        np.testing.assert_array_equal(pt.vector, want[ids.index(pt.id)])


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    log = tmp_path / "ops.log"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = np.random.default_rng(7)
    for round_ in range(8):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(log), str(round_)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        start = log.read_text().count("ACK") if log.exists() else 0
        want = start + int(rng.integers(5, 60))
        # let it do some work (opening the lake takes a moment), then kill it mid-stream
        while time.time() < deadline and (not log.exists() or log.read_text().count("ACK") < want):
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "writer died")
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, 0.05)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        model, pending = _replay_log(log)
        with lakebed.connect(path) as lake:
            col = lake.collections.open("c")
            state = _state(col)
            if state != model:
                assert pending is not None, "state differs from acknowledged writes"
                alt = dict(model)
                _apply(alt, pending)
                assert state == alt, "state is neither before nor after the in-flight write"
                model = alt
            assert col.count() == len(model)
            if os.environ.get("LAKEBED_TEST_VERBOSE"):
                print(round_, len(model), col.stats()["segments"], col.stats()["version"], pending)
            _check_vectors(col, state, log)
            # searches agree with the stored points
            q = np.zeros(DIM, np.float32)
            assert {h.id for h in col.search(q, k=1000, exact=True)} == set(model)
        # the in-flight write is now settled either way: record it for the next round
        with open(log, "a") as fh:
            if pending is not None:
                fh.write("ACK\n" if state == model and _differs(model, pending) else "DROP\n")


def _differs(model: dict[int, int], pending: dict[str, Any]) -> bool:
    """True if ``model`` already includes the pending op (it was applied)."""
    if pending["op"] == "upsert":
        return all(model.get(i) == pending["seed"] for i in pending["ids"])
    if pending["op"] == "delete":
        return all(i not in model for i in pending["ids"])
    return False


def test_torn_wal_tail_is_discarded(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    x = np.random.default_rng(0).standard_normal((3, DIM)).astype(np.float32)
    with lakebed.connect(path) as lake:
        col = lake.collections.create("c", dim=DIM)
        col.upsert([1], x[:1], payloads=[{"n": 1}])
        col.upsert([2], x[1:2], payloads=[{"n": 2}])
        wal_dir = col.path / "wal"
    newest = sorted(wal_dir.glob("*.wal"))[-1]
    size_before_last = None
    data = newest.read_bytes()
    # find the start of the last record by re-reading frames
    pos = 0
    starts = []
    while pos < len(data):
        starts.append(pos)
        length = int.from_bytes(data[pos : pos + 4], "little")
        pos += 8 + length
    size_before_last = starts[-1]
    newest.write_bytes(data[: size_before_last + (len(data) - size_before_last) // 2])  # tear it
    with lakebed.connect(path) as lake:
        col = lake.collections.open("c")
        assert sorted(p.id for p in col.scroll()[0]) == [1]
        col.upsert([3], x[2:3], payloads=[{"n": 3}])
    with lakebed.connect(path) as lake:
        col = lake.collections.open("c")
        assert sorted(p.id for p in col.scroll()[0]) == [1, 3]


def test_corrupt_checksum_in_tail_is_discarded(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    with lakebed.connect(path) as lake:
        col = lake.collections.create("c", dim=DIM)
        col.upsert([1, 2], np.ones((2, DIM)))
        col.upsert([3], np.ones((1, DIM)))
        wal_dir = col.path / "wal"
    newest = sorted(wal_dir.glob("*.wal"))[-1]
    data = bytearray(newest.read_bytes())
    data[-3] ^= 0xFF  # flip a byte inside the last record
    newest.write_bytes(bytes(data))
    with lakebed.connect(path) as lake:
        assert sorted(p.id for p in lake.collections.open("c").scroll()[0]) == [1, 2]
