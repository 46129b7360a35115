"""The crash harness: a child process writes to a lake and acknowledges each call in an
operations log; the parent SIGKILLs it at a random instant, then checks the lake from a
fresh open against what was acknowledged.

The child's script is a workload body run after a prelude that defines::

    PATH, SEED        the lake's path and this round's seed
    begin(spec)       log the operation about to run (a JSON-able dict)
    ack()             log that the call returned (the write is acknowledged)

A workload loops forever (``while True: begin(spec); <the call>; ack()``); the harness kills it.

After each kill the harness calls ``check(path, acked, pending)``: ``acked`` lists the
acknowledged operations of every round so far (in order), ``pending`` is the one that was in
flight when the kill came (or None). ``check`` asserts that every acknowledged write is there
and returns True if the in-flight operation turned out wholly applied, False if not at all
(a half-applied batch must fail the check). The answer is logged, so the next round's model
includes the settled operation.

Kills per area: ``LAKEBED_CRASH_KILLS`` (10 by default; the slow run uses 100::

    LAKEBED_CRASH_KILLS=100 ./scripts/test tests/crash
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PRELUDE = r"""
import json, os, sys
PATH, _LOG, SEED = sys.argv[1], sys.argv[2], int(sys.argv[3])
_out = open(_LOG, "a", buffering=1)
def begin(spec):
    _out.write("BEGIN " + json.dumps(spec) + "\n")
def ack():
    _out.write("ACK\n")
"""

Check = Callable[[Path, list[dict[str, Any]], "dict[str, Any] | None"], bool]


def kills() -> int:
    """How many kills a crash test makes (``LAKEBED_CRASH_KILLS``, default 10)."""
    return int(os.environ.get("LAKEBED_CRASH_KILLS", "10"))


def read_ops(log: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The acknowledged operations, in order, and the one in flight (or None)."""
    acked: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    if not log.exists():
        return acked, None
    for line in log.read_text().splitlines():
        if line.startswith("BEGIN "):
            pending = json.loads(line[6:])
        elif line in ("ACK", "SETTLED") and pending is not None:
            acked.append(pending)
            pending = None
        elif line == "DROPPED":
            pending = None
    return acked, pending


def _acks(log: Path) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line == "ACK")


def crash_loop(
    tmp_path: Path,
    workload: str,
    check: Check,
    *,
    n_kills: int | None = None,
    seed: int = 0,
    acks_per_round: tuple[int, int] = (1, 40),
    max_delay: float = 0.05,
    timeout: float = 120.0,
) -> dict[str, int]:
    """Run ``workload`` in a child, kill it ``n_kills`` times at random instants, check after
    each kill. Returns counts: kills, acknowledged operations, in-flight ones found applied
    and found not applied."""
    path = tmp_path / "lake"
    log = tmp_path / "ops.log"
    script = tmp_path / "workload.py"
    script.write_text(PRELUDE + "\n" + workload)
    rng = np.random.default_rng(seed)
    n = kills() if n_kills is None else n_kills
    stats = {"kills": 0, "acked": 0, "inflight_applied": 0, "inflight_absent": 0}
    for round_ in range(n):
        start = _acks(log)
        want = start + int(rng.integers(acks_per_round[0], acks_per_round[1] + 1))
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path), str(log), str(seed * 100_003 + round_)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while _acks(log) < want:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise AssertionError(f"the writer exited by itself in round {round_}:\n{err}")
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"the writer made no progress in {timeout} s (round {round_})")
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0.0, max_delay)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
        stats["kills"] += 1
        acked, pending = read_ops(log)
        applied = check(path, acked, pending)
        if pending is not None:
            stats["inflight_applied" if applied else "inflight_absent"] += 1
            with open(log, "a") as fh:
                fh.write("SETTLED\n" if applied else "DROPPED\n")
        elif applied:
            raise AssertionError("check said an operation was in flight, but none was")
    stats["acked"] = len(read_ops(log)[0])
    return stats


def run_crash_test(label: str, tmp_path: Path, workload: str, check: Check, **options: Any) -> dict[str, int]:
    """:func:`crash_loop` with the kill count of this run (:func:`kills`) asserted, its
    duration in ``stats["seconds"]``, and the stats printed under ``label``."""
    start = time.monotonic()
    stats = crash_loop(tmp_path, workload, check, **options)
    stats["seconds"] = int(time.monotonic() - start)
    print(f"{label}: {stats}")
    assert stats["kills"] == kills()
    return stats
