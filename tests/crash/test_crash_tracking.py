"""Crash test for tracking: a child starts runs and logs ``log_metric``, ``log_metrics``
(20 keys per call) and ``end`` calls, acknowledging each; it is SIGKILLed at random
instants. After every kill a fresh process reads the catalog and checks the documented
promise (docs/tracking.md, "Metric durability"):

- with ``flush_interval = 0`` every acknowledged point is there;
- with the default buffer (``flush_interval = 1.0``) a kill may lose the points logged
  since the last flush, so an acknowledged ``log_metric``/``log_metrics`` is only promised
  once a flush followed it: the points of a run form a prefix of its calls, and an
  acknowledged ``end`` has all its run's points (the end and the last points commit
  together);
- in both, a ``log_metrics`` call is there for all of its keys or for none (a partial call
  fails), and the in-flight call is wholly there or wholly absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.crash._harness import run_crash_test

import lakebed

KEYS = 20

WORKLOAD = r"""
import random, time
import lakebed

rng = random.Random(SEED)
lake = lakebed.connect(PATH)
if FLUSH_INTERVAL is not None:
    lake.runs.flush_interval = FLUSH_INTERVAL
n_run = 0
while True:
    name = f"{SEED}-{n_run}"
    n_run += 1
    begin({"op": "start", "run": name})
    run = lake.runs.start(experiment="crash", name=name)
    ack()
    for step in range(rng.randint(5, 60)):
        if rng.random() < 0.5:
            begin({"op": "metric", "run": name, "step": step})
            run.log_metric("single", float(step), step=step)
        else:
            begin({"op": "metrics", "run": name, "step": step})
            run.log_metrics({f"k{j}": float(step) for j in range(KEYS)}, step=step)
        ack()
        if FLUSH_INTERVAL is None:  # lets the default 1 s flush interval pass within a round
            time.sleep(rng.uniform(0, 0.02))
    begin({"op": "end", "run": name})
    run.end()
    ack()
"""


def _keys(op: dict[str, Any]) -> set[tuple[str, str, int]]:
    if op["op"] == "metric":
        return {(op["run"], "single", op["step"])}
    if op["op"] == "metrics":
        return {(op["run"], f"k{j}", op["step"]) for j in range(KEYS)}
    return set()


def make_check(buffered: bool):
    def check(path: Path, acked: list[dict[str, Any]], pending: dict[str, Any] | None) -> bool:
        with lakebed.connect(path) as lake, lake.catalog.connect() as conn:
            runs = dict(conn.execute(sa.text("SELECT name, status FROM runs")).all())
            points = {
                (name, key, step)
                for name, key, step in conn.execute(sa.text(
                    "SELECT r.name, m.key, m.step FROM run_metrics m JOIN runs r ON r.id = m.run_id"))
            }
        calls: dict[str, list[dict[str, Any]]] = {}
        for op in [*acked, *([pending] if pending else [])]:
            calls.setdefault(op["run"], []).append(op)
        seen: set[tuple[str, str, int]] = set()
        pending_applied = False
        for name, ops in calls.items():
            present = [op for op in ops if op["op"] in ("metric", "metrics") and _keys(op) & points]
            for op in present:  # never part of a call
                missing = _keys(op) - points
                assert not missing, f"call {op} is half-applied: {len(missing)} of {len(_keys(op))} points missing"
                seen |= _keys(op)
            logged = [op for op in ops if op["op"] in ("metric", "metrics")]
            ended = any(op["op"] == "end" and op is not pending for op in ops)
            if buffered and not ended:
                assert present == logged[: len(present)], f"run {name}: the points kept are not a prefix of its calls"
            else:
                lost = [op for op in logged if op not in present and op is not pending]
                assert not lost, f"run {name}: acknowledged calls lost: {lost[:3]}"
            if pending is not None and pending["run"] == name:
                if pending["op"] == "start":
                    pending_applied = name in runs
                elif pending["op"] == "end":
                    pending_applied = runs.get(name) == "FINISHED"
                    if pending_applied:
                        assert present == logged, f"run {name} ended without all its points"
                else:
                    pending_applied = pending in present
            if ended:
                assert runs.get(name) == "FINISHED", f"run {name}: acknowledged end but status {runs.get(name)}"
            elif not (pending is not None and pending["op"] == "start" and pending["run"] == name):
                assert name in runs, f"acknowledged run {name} is missing"
        assert points <= seen, f"points of calls never made: {sorted(points - seen)[:3]}"
        return pending_applied

    return check


def run_crash(tmp_path: Path, flush_interval: float | None) -> dict[str, int]:
    workload = f"FLUSH_INTERVAL = {flush_interval!r}\nKEYS = {KEYS}\n" + WORKLOAD
    return run_crash_test(f"tracking crash (flush_interval={flush_interval})", tmp_path, workload,
                          make_check(flush_interval is None), acks_per_round=(1, 80), max_delay=0.2)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_metrics_survive_kills_with_each_call_flushed(tmp_path):
    run_crash(tmp_path, 0.0)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_metrics_survive_kills_with_the_default_buffer(tmp_path):
    run_crash(tmp_path, None)
