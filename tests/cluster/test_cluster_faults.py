"""Faults under load, checked by the history checker (tests/cluster/_history.py):

- SIGKILL of a lakebed node during writes: reads keep being answered by the others, the
  node restarts and catches up, no acknowledged write is lost;
- SIGKILL of the JetStream leader of a shard during writes: writes resume after the
  election, nothing acknowledged is lost;
- a node frozen (SIGSTOP) for seconds, as a node cut off by a partition looks to the rest;
- randomized schedules of all of these (``LAKEBED_CLUSTER_SCHEDULES``: 1 by default, 50 in
  the long run).

After every schedule all replicas converge to identical ids, vectors and payloads, and no
``session`` read missed the session's own acknowledged writes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest

from lakebed.cluster._local import LocalCluster

from ._history import Workload, check_replicas, largest_gap, wait_converged
from .conftest import running

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from running(tmp_path_factory.mktemp("faults"))


def _collection(lc: LocalCluster, name: str, shards: int = 2) -> None:
    c = lc.client(api_key=lc.keys["admin"])
    try:
        c.collections.create(name, dim=8, shards=shards, replicas=3)
    finally:
        c.close()


def test_node_killed_during_writes_catches_up(faulty: LocalCluster) -> None:
    _collection(faulty, "nk")
    w = Workload(faulty, "nk", seed=1)
    w.start()
    time.sleep(2.0)
    reads_before = w.h.reads
    faulty.kill_node(1)
    killed = time.monotonic()
    time.sleep(4.0)
    down_reads = w.h.reads - reads_before
    faulty.start_node(1)
    time.sleep(2.0)
    w.stop()
    wait_converged(faulty, "nk")
    summary = check_replicas(faulty, "nk", w.h)
    assert summary["acked"] > 100
    assert down_reads > 20, "reads stopped while one node was down"
    errors_while_down = [e for t, e in w.h.read_errors if killed <= t <= killed + 4.0]
    assert not errors_while_down, errors_while_down[:3]
    assert largest_gap(w.h.ack_times, killed, killed + 4.0) < 3.0


def test_stream_leader_killed_during_writes(faulty: LocalCluster) -> None:
    _collection(faulty, "lk", shards=1)
    c = faulty.client(api_key=faulty.keys["admin"])
    stream = c.status()["collections"]["lk"]["shard_status"][0]["stream"]
    c.close()
    w = Workload(faulty, "lk", seed=2)
    w.start()
    time.sleep(2.0)
    leader = faulty.leader_of(stream)
    assert leader is not None
    faulty.kill_nats(leader)
    killed = time.monotonic()
    # JetStream elects a new leader in 5-7 s here; the benchmark measures the gap against
    # its 10 s target, this test only bounds it (a loaded CI machine is slower)
    time.sleep(15.0)
    acked_while_down = [t for t in w.h.ack_times if t > killed]
    faulty.start_nats(leader)
    time.sleep(3.0)
    w.stop()
    wait_converged(faulty, "lk")
    check_replicas(faulty, "lk", w.h)
    assert acked_while_down, "no write was acknowledged in the 15 s after the leader died"
    # an election is not a missing stream: no write may fail as if the stream were gone
    assert not [e for e in w.h.write_errors if "no JetStream stream" in e], w.h.write_errors[:3]
    failover = acked_while_down[0] - max([t for t in w.h.ack_times if t <= killed], default=killed)
    assert failover < 15.0, f"failover took {failover:.1f} s"


def test_node_frozen_then_resumed(faulty: LocalCluster) -> None:
    _collection(faulty, "fz")
    w = Workload(faulty, "fz", seed=3)
    w.start()
    time.sleep(1.5)
    proc = faulty.procs[2]
    assert proc is not None
    proc.send_signal(signal.SIGSTOP)
    time.sleep(4.0)
    proc.send_signal(signal.SIGCONT)
    time.sleep(2.0)
    w.stop()
    wait_converged(faulty, "fz")
    check_replicas(faulty, "fz", w.h)


def _random_fault(lc: LocalCluster, rng: np.random.Generator, name: str) -> None:
    kind = rng.choice(["kill_node", "kill_leader", "kill_nats", "freeze_node"])
    hold = float(rng.uniform(1.0, 5.0))
    if kind == "kill_node":
        i = int(rng.integers(len(lc.node_ports)))
        lc.kill_node(i)
        time.sleep(hold)
        lc.start_node(i)
    elif kind in ("kill_leader", "kill_nats"):
        i = int(rng.integers(len(lc.nats_ports)))
        if kind == "kill_leader":
            c = lc.client(api_key=lc.keys["admin"])
            stream = c.status()["collections"][name]["shard_status"][0]["stream"]
            c.close()
            i = lc.leader_of(stream) or 0
        lc.kill_nats(i)
        time.sleep(hold)
        lc.start_nats(i)
    else:
        proc = lc.procs[int(rng.integers(len(lc.node_ports)))]
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        time.sleep(hold)
        proc.send_signal(signal.SIGCONT)


# randomized schedules: 1 by default (the suite's time budget), LAKEBED_CLUSTER_SCHEDULES=50 for the long run
SCHEDULES = int(os.environ.get("LAKEBED_CLUSTER_SCHEDULES", "1"))


@pytest.mark.slow
@pytest.mark.parametrize("schedule", range(SCHEDULES))
def test_random_fault_schedule(faulty: LocalCluster, schedule: int) -> None:
    _schedule(faulty, schedule)


def _schedule(faulty: LocalCluster, schedule: int) -> None:
    rng = np.random.default_rng(1000 + schedule)
    name = f"rs{schedule}"
    _collection(faulty, name, shards=int(rng.integers(1, 4)))
    w = Workload(faulty, name, seed=schedule)
    w.start()
    try:
        for _ in range(int(rng.integers(1, 3))):
            time.sleep(float(rng.uniform(0.5, 2.0)))
            _random_fault(faulty, rng, name)
        time.sleep(1.0)
    finally:
        w.stop()
    wait_converged(faulty, name)
    summary = check_replicas(faulty, name, w.h)
    assert summary["acked"] > 0
    c = faulty.client(api_key=faulty.keys["admin"])
    c.collections.drop(name)  # the next schedule starts from a cluster without it
    c.close()


def test_the_checker_sees_loss_phantoms_and_session_misses(faulty: LocalCluster) -> None:
    """The checker itself: a history that claims an unwritten acknowledgement, a stored
    version it never attempted, or a session miss must fail it."""
    import copy

    _collection(faulty, "chk")
    w = Workload(faulty, "chk", seed=9)
    w.start()
    time.sleep(1.0)
    w.stop()
    wait_converged(faulty, "chk")
    check_replicas(faulty, "chk", w.h)  # the true history passes
    lost = copy.deepcopy(w.h)
    lost.acked[10**6] = 1
    lost.attempted[10**6] = {1}
    with pytest.raises(AssertionError, match="acknowledged writes lost"):
        check_replicas(faulty, "chk", lost)
    phantom = copy.deepcopy(w.h)
    some = next(iter(phantom.acked))
    phantom.attempted[some] = {v + 100 for v in phantom.attempted[some]}
    phantom.acked.pop(some)
    with pytest.raises(AssertionError, match="phantom"):
        check_replicas(faulty, "chk", phantom)
    missed = copy.deepcopy(w.h)
    missed.session_violations.append("id 1: acked v2, session read 1")
    with pytest.raises(AssertionError, match="session read"):
        check_replicas(faulty, "chk", missed)


def test_a_diverged_replica_is_rebuilt_from_the_log(faulty: LocalCluster) -> None:
    """A replica that applied something the others did not (here: a write slipped into its
    lake while the node was down, as a server that served writes a partition later
    discarded would cause) disagrees with the others' log digests, is rebuilt from the
    log, and converges; the foreign point is gone."""
    import lakebed

    _collection(faulty, "dv")
    w = Workload(faulty, "dv", seed=5)
    w.start()
    time.sleep(1.5)
    w.stop()
    wait_converged(faulty, "dv")
    faulty.kill_node(2)
    with lakebed.connect(faulty.root / "node2") as lake:
        for local in [n for n in lake.collections.list() if n.startswith("dv.")]:
            col = lake.collections.open(local)
            col.upsert([10**8], np.ones((1, 8), dtype=np.float32), payloads=[{"v": -1}], log_seq=col.log_seq,
                       log_digest="f" * 16)
    faulty.start_node(2)
    st = wait_converged(faulty, "dv")
    assert st["nodes"]["n2"]["rebuilds"] >= 1
    check_replicas(faulty, "dv", w.h)  # the point 10**8 would be a phantom
