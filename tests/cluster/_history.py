"""A history checker for cluster fault tests.

A writer thread upserts batches (new ids and new versions of earlier ids; each point's
vector and payload are a function of its id and version) and records, per id, every
version it attempted and the newest one acknowledged. After each acknowledged batch it
reads the batch back with ``consistency="session"`` from whichever replica the client
picks: a session read that misses one of the session's own acknowledged versions is a
violation. A reader thread keeps searching with ``eventual`` and counts what failed.

:func:`check_replicas` then reads every id from every node on its own (``strong``) and
fails on a lost acknowledged write (missing, or older than acknowledged), a phantom (an
id or version never written), or replicas that differ in ids, vectors or payloads.
"""

from __future__ import annotations

import itertools
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lakebed.cluster._local import LocalCluster
from lakebed.errors import LakebedError

DIM = 8


def vector(i: int, version: int) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(f"{i}:{version}".encode()))
    return rng.standard_normal(DIM).astype(np.float32)


@dataclass
class History:
    attempted: dict[int, set[int]] = field(default_factory=dict)
    acked: dict[int, int] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    write_errors: list[str] = field(default_factory=list)
    session_violations: list[str] = field(default_factory=list)
    session_reads: int = 0
    reads: int = 0
    read_errors: list[tuple[float, str]] = field(default_factory=list)


class Workload:
    """Writer and reader threads against a cluster collection."""

    def __init__(self, cluster: LocalCluster, name: str, seed: int, batch: int = 20) -> None:
        self.cluster = cluster
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.batch = batch
        self.h = History()
        self._stop = threading.Event()
        self._next = 0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for target in (self._write_loop, self._read_loop):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(120)

    def _client_col(self) -> Any:
        c = self.cluster.client(api_key=self.cluster.keys.get("admin"), timeout=20)
        return c, c.collections.open(self.name)

    def _write_loop(self) -> None:
        client, col = self._client_col()
        h = self.h
        try:
            while not self._stop.is_set():
                fresh = list(range(self._next, self._next + self.batch // 2))
                self._next += len(fresh)
                old = [int(x) for x in self.rng.choice(self._next, size=self.batch - len(fresh), replace=False)
                       ] if self._next > self.batch else []
                ids = sorted(set(fresh) | set(old))
                versions = {i: max(h.attempted.get(i, {0})) + 1 for i in ids}
                for i in ids:
                    h.attempted.setdefault(i, set()).add(versions[i])
                vecs = np.stack([vector(i, versions[i]) for i in ids])
                try:
                    col.upsert(ids, vecs, payloads=[{"v": versions[i]} for i in ids])
                except LakebedError as exc:
                    h.write_errors.append(f"{time.monotonic():.2f} {exc}")
                    time.sleep(0.2)
                    continue
                now = time.monotonic()
                h.ack_times.append(now)
                for i in ids:
                    h.acked[i] = versions[i]
                try:
                    got = {p.id: p.payload["v"] for p in col.get(ids, consistency="session", timeout=5)}
                except LakebedError as exc:
                    h.read_errors.append((time.monotonic(), f"session get: {exc}"))
                    continue
                h.session_reads += 1
                for i in ids:
                    if got.get(i, -1) < versions[i]:
                        h.session_violations.append(f"id {i}: acked v{versions[i]}, session read {got.get(i)}")
        finally:
            client.close()

    def _read_loop(self) -> None:
        client, col = self._client_col()
        try:
            while not self._stop.is_set():
                try:
                    col.search(self.rng.standard_normal(DIM), k=5, timeout=5)
                    self.h.reads += 1
                except LakebedError as exc:
                    self.h.read_errors.append((time.monotonic(), str(exc)))
                time.sleep(0.02)
        finally:
            client.close()


def wait_converged(cluster: LocalCluster, name: str, timeout: float = 90.0) -> dict[str, Any]:
    """Until every replica of every shard has applied the shard's last sequence."""
    client = cluster.client(api_key=cluster.keys.get("admin"))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                st = client.status()
                shards = st["collections"][name]["shard_status"]
                if all(r["lag"] == 0 and r["alive"] for s in shards for r in s["replicas"]) and all(
                        len({r["digest"] for r in s["replicas"]}) == 1 for s in shards):
                    return st
            except LakebedError:
                st = None
            if time.monotonic() > deadline:
                raise AssertionError(f"replicas did not converge within {timeout:g} s: {st}")
            time.sleep(0.5)
    finally:
        client.close()


def check_replicas(cluster: LocalCluster, name: str, h: History,
                   nodes: list[int] | None = None) -> dict[str, int]:
    """Every node's copy against the history and against each other."""
    client = cluster.client(api_key=cluster.keys.get("admin"))
    try:
        spec = client.collections.open(name).spec
        ids = sorted(h.attempted)
        copies = []
        for n in nodes if nodes is not None else range(len(cluster.node_ports)):
            shards = [int(s) for s, holders in spec["assignment"].items() if f"n{n}" in holders]
            points: dict[int, tuple[int, list[float]]] = {}
            for a in range(0, len(ids), 5000):
                out = client.http(cluster.node_url(n)).request(
                    "POST", f"/v1/cluster/collections/{name}/get", idempotent=True,
                    json={"ids": ids[a:a + 5000], "shards": shards, "consistency": "strong", "timeout": 30})
                for entry in out["shards"].values():
                    for p in entry["points"]:
                        from lakebed._wire import decode_vectors

                        points[p["id"]] = (p["payload"]["v"], decode_vectors(p["vector"])[0].tolist())
            copies.append((n, shards, points))
    finally:
        client.close()
    lost, phantom, wrong = [], [], []
    for n, _shards, points in copies:
        for i, version in h.acked.items():
            if i not in points or points[i][0] < version:
                lost.append(f"node n{n}: id {i} acked v{version}, found {points.get(i, (None,))[0]}")
        for i, (version, vec) in points.items():
            if version not in h.attempted.get(i, set()):
                phantom.append(f"node n{n}: id {i} v{version} was never written")
            elif not np.allclose(vec, vector(i, version) / np.linalg.norm(vector(i, version)), atol=1e-5):
                wrong.append(f"node n{n}: id {i} v{version} has another vector")
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:5]}"
    assert not phantom, f"{len(phantom)} phantom points: {phantom[:5]}"
    assert not wrong, f"{len(wrong)} wrong vectors: {wrong[:5]}"
    # replicas of a shard hold identical contents
    by_shard: dict[int, list[dict[int, Any]]] = {}
    for _n, shards, points in copies:
        for s in shards:
            from lakebed.cluster import shard_of

            by_shard.setdefault(s, []).append({i: v for i, v in points.items() if shard_of(i, spec["shards"]) == s})
    for s, reps in by_shard.items():
        for other in reps[1:]:
            assert other == reps[0], f"replicas of shard {s} differ"
    assert not h.session_violations, h.session_violations[:5]
    return {"acked": len(h.acked), "points": len(copies[0][2]), "ack_batches": len(h.ack_times)}


def largest_gap(times: list[float], start: float, end: float) -> float:
    """The longest time without an acknowledgement within [start, end]."""
    ts = [t for t in times if start <= t <= end]
    if not ts:
        return end - start
    edges = [start, *ts, end]
    return max(b - a for a, b in itertools.pairwise(edges))


Fault = Callable[[LocalCluster, np.random.Generator], str]
