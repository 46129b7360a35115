"""``log_seq``: a write's position in an external log is stored in the same write-ahead
record as its points (what a cluster replica resumes from). Under SIGKILL the collection
holds exactly the writes 1..log_seq: never a write without its position, never a position
without its write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import lakebed

WRITER = r"""
import sys, numpy as np, lakebed
path = sys.argv[1]
lake = lakebed.connect(path, segment_size=50, fsync="always")
cols = lake.collections
col = cols.open("c") if cols.exists("c") else cols.create("c", dim=4, metric="l2")
step = col.log_seq
while True:
    step += 1
    rng = np.random.default_rng(step)
    if step % 7 == 0:
        col.delete(ids=[int(i) for i in rng.integers(0, 60, 3)], log_seq=step)
    else:
        ids = sorted(set(int(i) for i in rng.integers(0, 60, 5)))
        col.upsert(ids, rng.standard_normal((len(ids), 4)), payloads=[{"s": step}] * len(ids), log_seq=step)
    print(step, flush=True)
"""


def _model(upto: int) -> dict[int, int]:
    """id -> the step that wrote it last, after steps 1..upto."""
    state: dict[int, int] = {}
    for step in range(1, upto + 1):
        rng = np.random.default_rng(step)
        if step % 7 == 0:
            for i in rng.integers(0, 60, 3):
                state.pop(int(i), None)
        else:
            for i in sorted(set(int(i) for i in rng.integers(0, 60, 5))):
                state[i] = step
    return state


def test_log_seq_survives_reopen_seal_and_empty_deletes(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    with lakebed.connect(path, segment_size=4) as lake:
        col = lake.collections.create("c", dim=2)
        assert col.log_seq == 0
        col.upsert([1, 2, 3, 4, 5], np.ones((5, 2)), log_seq=10)  # seals a segment
        col.flush()
        col.upsert([6], [[1.0, 2.0]], log_seq=11)  # only in the write-ahead log
        assert col.delete(ids=["missing"], log_seq=12) == 0
        assert col.delete(filter={"nope": 1}, log_seq=13) == 0
        col.upsert([], np.zeros((0, 2)), log_seq=14)
        col.upsert([8], [[0.5, 1.0]], log_seq=15, log_digest="abc")
        col.upsert([7], [[0.0, 1.0]])  # a write without a position keeps the last one
        assert (col.log_seq, col.log_digest) == (15, "abc")
    with lakebed.connect(path) as lake:
        col = lake.collections.open("c")
        assert (col.log_seq, col.log_digest) == (15, "abc")
        assert col.count() == 8
        col.flush()
    with lakebed.connect(path) as lake:
        col = lake.collections.open("c")
        assert (col.log_seq, col.log_digest) == (15, "abc")


def test_log_seq_is_atomic_with_the_write_under_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    rng = np.random.default_rng(int(os.environ.get("LAKEBED_CRASH_SEED", "7")))
    last_acked = 0
    for _round in range(int(os.environ.get("LAKEBED_CRASH_KILLS", "6"))):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is up and has written once
        assert first.strip().isdigit(), first
        time.sleep(float(rng.uniform(0.05, 0.6)))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        acked = [int(x) for x in [first, *out.split()] if x.strip().isdigit()]
        last_acked = max([last_acked, *acked])
        with lakebed.connect(path) as lake:
            col = lake.collections.open("c")
            upto = col.log_seq
            # every acknowledged write is there; at most the one in flight beyond it
            assert last_acked <= upto <= last_acked + 1
            want = _model(upto)
            pts = col.get(list(range(60)))
            assert {p.id: p.payload["s"] for p in pts} == want
        last_acked = upto
