"""A writer killed with SIGKILL in the middle of a large write leaves the table readable at its
last committed version, with exactly that version's content."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import lakebed

ROWS = 2_000_000  # per write: large enough that a kill usually lands inside one
NAME = "bronze.crash"

# The child appends batches forever. Batch k (making version k) holds ids k*ROWS .. (k+1)*ROWS-1,
# so version v holds exactly the ids 0 .. (v+1)*ROWS-1. It prints each version once the write
# has returned (acknowledged), flushing, so the parent knows what was committed.
CHILD = r"""
import sys
import numpy as np
import pyarrow as pa
import lakebed

path, name, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
with lakebed.connect(path) as lake:
    v = lake.tables.version(name)
    print(f"ready {v}", flush=True)
    while True:
        start = (v + 1) * rows
        ids = np.arange(start, start + rows, dtype=np.int64)
        batch = pa.table({"id": ids, "x": ids.astype(np.float64) * 0.5})
        v = lake.tables.write(name, batch)
        print(f"acked {v}", flush=True)
"""


def _expected_ids_ok(table: pa.Table, version: int) -> None:
    """Version ``version`` holds exactly the ids 0 .. (version+1)*ROWS-1, each once, with their x."""
    import numpy as np

    n = (version + 1) * ROWS
    assert table.num_rows == n, (version, table.num_rows, n)
    ids = table.column("id").to_numpy()
    assert ids.min() == 0 and ids.max() == n - 1
    seen = np.zeros(n, dtype=bool)
    seen[ids] = True  # n ids in [0, n) covering all n slots: each exactly once
    assert seen.all()
    assert pc.all(pc.equal(table.column("x"), pc.multiply(table.column("id"), 0.5))).as_py()


def _run_and_kill(lake_path: Path, delay: float) -> int:
    """Start a writer, kill it ``delay`` s after it is ready; return the last acknowledged version."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(lake_path), NAME, str(ROWS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if not ready.wait(120):
        proc.kill()
        raise AssertionError(f"the writer never started: {proc.stderr.read() if proc.stderr else ''}")
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    reader.join(30)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr.read() if proc.stderr else "")
    assert lines[0].startswith("ready"), lines
    acked = [int(line.split()[1]) for line in lines if line.startswith("acked")]
    return acked[-1] if acked else int(lines[0].split()[1])


def test_sigkill_mid_write_leaves_last_committed_version(lake_path: Path) -> None:
    import numpy as np

    ids = np.arange(ROWS, dtype=np.int64)
    with lakebed.connect(lake_path) as lake:
        lake.tables.create(NAME, data=pa.table({"id": ids, "x": ids.astype(np.float64) * 0.5}))
    rng = random.Random(1234)
    acked = 0
    for _ in range(3):
        acked = max(acked, _run_and_kill(lake_path, rng.uniform(0.3, 1.2)))
        # The kernel dropped the dead writer's lock: a new writer may open the lake.
        with lakebed.connect(lake_path) as lake:
            latest = lake.tables.version(NAME)
            # Every acknowledged write is there; at most one more (committed just before the kill,
            # its acknowledgement not yet printed).
            assert latest in (acked, acked + 1), (latest, acked)
            acked = latest
            _expected_ids_ok(lake.tables.read(NAME), latest)
            for v in range(latest + 1):
                assert lake.tables.dataset(NAME, version=v).count_rows() == (v + 1) * ROWS
            assert [h["version"] for h in lake.tables.history(NAME)] == list(range(latest, -1, -1))
    # Files of the killed, uncommitted writes are ignored; the table still takes writes.
    with lakebed.connect(lake_path) as lake:
        v = lake.tables.write(NAME, {"id": [-1], "x": [0.0]})
        assert v == acked + 1
        assert lake.tables.read(NAME).num_rows == (acked + 1) * ROWS + 1
