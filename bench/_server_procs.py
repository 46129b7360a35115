"""Servers and checks for ``bench/server.py``: start each server pinned to its CPU set,
wait until it answers, check its answers (feature values, recall@10), drive the load
generator pinned to the client CPU set, and stop the server (its own process group)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
FEATURE_REFS = [f"user_feats:f{i:02d}" for i in range(50)]


@dataclass
class Server:
    """One running server process group (pinned with taskset)."""

    name: str
    cmd: list[str]
    base: str
    health: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    urls: dict[str, str] = field(default_factory=dict)

    def start(self, cpus: str, timeout: float = 120.0) -> None:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen(["taskset", "-c", cpus, *self.cmd], stdout=fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            try:
                if httpx.get(self.base + self.health, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {self.health} within {timeout} s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the server's own pid
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its children so far."""
        assert self.proc is not None
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def pids(self) -> list[int]:
        assert self.proc is not None
        root = psutil.Process(self.proc.pid)
        return [root.pid, *(c.pid for c in root.children(recursive=True))]


def lakebed_server(lake: Path, port: int, threads: int, logdir: Path, workers: int = 1) -> Server:
    base = f"http://127.0.0.1:{port}"
    s = Server(f"lakebed-w{workers}", [str(BIN / "lakebed"), "serve", str(lake), "--host", "127.0.0.1", "--port",
                                       str(port), "--threads", str(threads), "--workers", str(workers)],
               base, "/health", logdir / f"lakebed-w{workers}.log")
    s.urls = {"features": base + "/v1/features/online", "search": base + "/v1/collections/docs/search"}
    return s


def feast_server(repo: Path, port: int, logdir: Path, workers: int = 1) -> Server:
    base = f"http://127.0.0.1:{port}"
    # -w worker processes (one, like lakebed's one process, in the pinned tables); --max-requests 0
    # turns off gunicorn's periodic worker restarts (default 1000 requests), which would punish
    # Feast mid-run.
    s = Server(f"feast-w{workers}", [str(BIN / "feast"), "-c", str(repo), "serve", "-h", "127.0.0.1", "-p",
                                     str(port), "--no-access-log", "-w", str(workers), "--max-requests", "0",
                                     "--registry_ttl_sec", "3600"],
               base, "/health", logdir / f"feast-w{workers}.log")
    s.urls = {"features": base + "/get-online-features"}
    return s


def chroma_server(path: Path, port: int, logdir: Path) -> Server:
    base = f"http://127.0.0.1:{port}"
    return Server("chroma", [str(BIN / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1",
                             "--port", str(port)], base, "/api/v2/heartbeat", logdir / "chroma.log")


def chroma_urls(s: Server) -> None:
    """The query URL needs the collection's id."""
    r = httpx.get(s.base + "/api/v2/tenants/default_tenant/databases/default_database/collections/docs")
    r.raise_for_status()
    cid = r.json()["id"]
    s.urls = {"search": f"{s.base}/api/v2/tenants/default_tenant/databases/default_database/collections/{cid}/query"}


# ------------------------------------------------------------------ request bodies


def _vec_json(v: np.ndarray) -> list[float]:
    return [float(x) for x in v]


def write_bodies(bodydir: Path, queries: np.ndarray, n_users: int, n_feature_bodies: int = 5000) -> dict[str, Path]:
    """Pre-encoded JSON bodies, one per line, per (system, case). The same users and
    query vectors in the same order for every system; floats are written identically."""
    bodydir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    users = rng.integers(1, n_users + 1, n_feature_bodies).tolist()
    out: dict[str, Path] = {}

    def dump(name: str, rows: list[Any]) -> None:
        p = bodydir / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
        out[name] = p

    dump("lakebed-features", [{"entity_rows": [{"user_id": u}], "features": FEATURE_REFS} for u in users])
    dump("feast-features", [{"features": FEATURE_REFS, "entities": {"user_id": [u]}} for u in users])
    vecs = [_vec_json(q) for q in queries]
    dump("lakebed-search", [{"vector": v, "k": 10} for v in vecs])
    dump("chroma-search", [{"query_embeddings": [v], "n_results": 10, "include": ["metadatas", "distances"]}
                           for v in vecs])
    return out


# ------------------------------------------------------------------ correctness checks


def check_features(system: str, url: str, truth: np.ndarray, n: int = 200) -> dict[str, Any]:
    """Values of n random users through the server's HTTP API vs the generated data."""
    rng = np.random.default_rng(11)
    users = rng.integers(1, truth.shape[0] + 1, n).tolist()
    bad = 0
    with httpx.Client(timeout=30) as c:
        for u in users:
            if system == "lakebed":
                r = c.post(url, json={"entity_rows": [{"user_id": u}], "features": FEATURE_REFS})
                r.raise_for_status()
                vals = r.json()["values"]
                got = [vals[f"f{i:02d}"][0] for i in range(50)]
            else:
                r = c.post(url, json={"features": FEATURE_REFS, "entities": {"user_id": [u]}})
                r.raise_for_status()
                body = r.json()
                names = body["metadata"]["feature_names"]
                by = {n: res["values"][0] for n, res in zip(names, body["results"], strict=True)}
                got = [by[f"f{i:02d}"] for i in range(50)]
            bad += got != truth[u - 1].tolist()
    return {"checked": n, "mismatched": bad}


def check_recall(system: str, url: str, queries: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
    """recall@10 of the server's answers over all queries, vs the exact top-10."""
    hits = 0
    with httpx.Client(timeout=30) as c:
        for q, truth in zip(queries, gt, strict=True):
            v = _vec_json(q)
            if system == "lakebed":
                r = c.post(url, json={"vector": v, "k": 10})
                r.raise_for_status()
                ids = [int(h["id"]) for h in r.json()]
            else:
                r = c.post(url, json={"query_embeddings": [v], "n_results": 10, "include": ["distances"]})
                r.raise_for_status()
                ids = [int(i) for i in r.json()["ids"][0]]
            hits += len(set(ids) & set(truth.tolist()))
    return {"queries": len(queries), "recall@10": hits / (10 * len(queries))}


# ------------------------------------------------------------------ load


def load(server: Server, url: str, bodies: Path, concurrency: int, duration: float, max_requests: int,
         warmup: float, client_cpus: str) -> dict[str, Any]:
    """One closed-loop load run (its own process, pinned to ``client_cpus``)."""
    cmd = ["taskset", "-c", client_cpus, sys.executable, str(HERE / "_server_load.py"), "--url", url,
           "--bodies", str(bodies), "--concurrency", str(concurrency), "--duration", str(duration),
           "--max-requests", str(max_requests), "--warmup", str(warmup)]
    c0, t0 = server.cpu_seconds(), time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 120)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    # Over the load process's whole life (warm-up included): how busy the server's core was.
    out["server_cpu"] = (server.cpu_seconds() - c0) / wall
    return out
