"""Cluster benchmark: a lakebed cluster (3 nats-server processes with clustered JetStream +
3 lakebed nodes, ``LocalCluster``) against raw JetStream and against one lakebed node, on
the ann-dev vectors (MiniLM, 384-d), all on this one machine.

Cases (each the median of ``--repeats``; ``--quick``: 1 repeat, 10k vectors):

1. write throughput, batches of 1,000 points:
   a. raw nats-py publishing the messages a node publishes (``_wire.upsert_messages``) to
      4 streams of 3 replicas (and of 1, for reference) on the same NATS servers
      (``bench/_cluster_raw.py``);
   b. the cluster (shards=4, replicas=3) through ``ClusterClient.upsert`` from one client
      thread and from ``--threads`` concurrent ones (each its own client); points/s until
      the last acknowledgement, and until every replica has applied everything;
   c. one node: an embedded collection, and one ``lakebed serve`` process over HTTP;
2. search QPS and recall@10 on the 1,000 queries (k=10): the cluster (``eventual``) from 1
   and 4 client threads, one HTTP node, embedded;
3. failover: SIGKILL of the nats-server leading one shard's stream during steady writes
   (one thread, batches of 100): last acknowledged write before the kill -> first after;
   the killed server is restarted between repeats; then a ``strong`` count must equal the
   acknowledged ids;
4. replica catch-up: node n2 killed, every vector written, n2 restarted: time from its
   restart until its replicas' lag is 0 (cluster status, polled every 0.1 s; and asked
   of the node itself);
5. replication lag under load: one thread writes 100 points every 20 ms; after each
   acknowledgement every node is asked directly for a ``session`` count at the sequences
   just acknowledged: time from the acknowledgement to its answer, per node;
6. diagnostic: the search of 2. again with the nodes restarted with
   ``OPENBLAS_NUM_THREADS=1``.

Usage (the data dir, /tmp/cbench by default, is removed at the start)::

    flock /tmp/lakebed-bench.lock .venv/bin/python bench/cluster.py --quick
    flock /tmp/lakebed-bench.lock .venv/bin/python bench/cluster.py

Results go to ``<data-dir>/results.json`` as they are measured and to
``bench/results/cluster.md`` (``--report-only`` rewrites the report from the json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _datasets import dataset_dir  # noqa: E402

DATASET = Path(os.environ["LAKEBED_ANN_DEV"]) if os.environ.get("LAKEBED_ANN_DEV") else dataset_dir("ann-dev")
BATCH = 1000
SHARDS = 4
REPLICAS = 3
DIM = 384
K = 10
NODE_MAIN = "import sys; from lakebed.cli import main; sys.argv[0] = 'lakebed'; main()"
CLK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ plumbing


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Results:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def put(self, key: str, value: Any) -> None:
        if isinstance(value, dict):
            value = {**value, "measured": now_utc()}
        self.data[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)


def _note_write(w: dict[str, Any], n: int, el: float, t1: float, label: str) -> None:
    """Record one single-node write repeat (``t1``: when the wait for sealing began)."""
    w["points_s"].append(n / el)
    w["seconds"].append(el)
    w["seal_wait_s"].append(time.perf_counter() - t1)
    print(f"  {label} write: {n / el:,.0f} points/s (sealing after: {w['seal_wait_s'][-1]:.1f} s)", flush=True)


def _stats_and_search(out: dict[str, Any], d: Any, keep: Any, repeats: int, threads: list[int], label: str,
                      cpu: Callable[[], dict[str, float]]) -> None:
    st = keep.stats()
    out["stats"] = {k: st.get(k) for k in ("points", "segments", "sealed_segments", "growing_points",
                                           "pending_seals")}
    out["search"] = search_runs(d, lambda _i: lambda q: [h.id for h in keep.search(q, k=K)], repeats, threads,
                                label, cpu=cpu)


def src_state() -> str:
    """A hash of every source file of lakebed (src/ may change while a run goes on: the
    processes started after a change run the new code)."""
    import hashlib

    h = hashlib.sha1()
    for p in sorted((HERE.parent / "src" / "lakebed").rglob("*.py")):
        with contextlib.suppress(OSError):
            h.update(p.read_bytes())
    return h.hexdigest()[:10]


def guarded(res: Results, key: str, fn: Callable[[], Any]) -> Any:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {key}", flush=True)
    load0 = os.getloadavg()[0]
    src0 = src_state()
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:
        traceback.print_exc()
        out = {"error": f"{type(exc).__name__}: {exc}"[:800]}
    if isinstance(out, dict):
        out["wall_s"] = time.perf_counter() - t0
        out["loadavg_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        out["src"] = [src0, src_state()]
    res.put(key, out)
    return out


def proc_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    if pid is None:
        return 0.0
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = text[text.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK


def med(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def machine_info() -> dict[str, Any]:
    import importlib.metadata as md

    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "python": platform.python_version(), "os": platform.platform()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        info["memory_gib"] = round(kb / 1024**2, 1)
    for pkg in ("lakebed", "nats-py", "numpy", "faiss-cpu", "httpx", "fastapi", "uvicorn"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = "missing"
    try:
        nats_bin = shutil.which("nats-server") or "/usr/sbin/nats-server"
        info["nats_server"] = subprocess.run([nats_bin, "--version"], capture_output=True, text=True,
                                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        info["nats_server"] = f"unknown ({exc})"
    info["commit"] = git_head()
    from lakebed.config import Settings

    info["segment_size"] = Settings().segment_size
    return info


def git_head() -> str:
    """The commit under test and whether src/ differs from it (read-only git, no index refresh)."""
    try:
        head = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(HERE.parent), "status", "--porcelain",
                                "--", "src"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return head + (" + uncommitted changes in src/" if dirty else "")


# ------------------------------------------------------------------ data


class Data:
    """ann-dev: the first ``n`` base vectors (float16 -> float32), their ids, the queries and
    the exact top-10 ids of each query among those ``n`` (the dataset's own ground truth
    for the full set; numpy brute force, inner product, on a subset)."""

    def __init__(self, n: int, queries: int) -> None:
        base = np.load(DATASET / "base_vectors.f16.npy", mmap_mode="r")
        self.total = int(base.shape[0])
        self.n = min(n, self.total)
        self.base = np.ascontiguousarray(base[:self.n], dtype=np.float32)
        ids = np.load(DATASET / "base_ids.i64.npy")[:self.n]
        self.ids: list[int] = ids.tolist()
        self.queries = np.ascontiguousarray(np.load(DATASET / "query_vectors.f16.npy")[:queries], dtype=np.float32)
        if self.n == self.total:
            # README: exact top-100 *base ids* per query (row i has id i)
            self.gt = np.load(DATASET / "gt_top100.i32.npy")[:len(self.queries), :K].astype(np.int64)
            self.gt_source = "gt_top100.i32.npy (the dataset's exact top-100 ids)"
        else:
            s = self.queries @ self.base.T
            top = np.argsort(-s, axis=1, kind="stable")[:, :K]
            self.gt = ids[top]
            self.gt_source = f"numpy brute force (inner product) over the first {self.n:,} base vectors"

    def recall(self, found: list[list[Any]]) -> float:
        return float(np.mean([len(set(map(int, f[:K])) & set(g.tolist())) / K for f, g in zip(found, self.gt,
                                                                                              strict=True)]))

    def batches(self) -> list[tuple[int, int]]:
        return [(a, min(a + BATCH, self.n)) for a in range(0, self.n, BATCH)]


def run_queries(make_search: Callable[[int], Callable[[np.ndarray], list[Any]]], queries: np.ndarray,
                threads: int) -> tuple[float, list[float], list[list[Any]]]:
    """QPS over all queries split among ``threads`` threads, per-query latencies, results."""
    chunks = np.array_split(np.arange(len(queries)), threads)
    fns = [make_search(i) for i in range(threads)]
    for fn in fns:  # warm-up, not timed
        for q in queries[:5]:
            fn(q)
    results: list[list[Any]] = [[] for _ in range(len(queries))]
    lat = [0.0] * len(queries)

    def work(i: int) -> None:
        fn = fns[i]
        for j in chunks[i]:
            t = time.perf_counter()
            results[j] = fn(queries[j])
            lat[j] = time.perf_counter() - t

    with ThreadPoolExecutor(threads) as ex:
        t0 = time.perf_counter()
        list(ex.map(work, range(threads)))
        el = time.perf_counter() - t0
    return len(queries) / el, lat, results


def search_runs(d: Data, make_search: Callable[[int], Callable[[np.ndarray], list[Any]]], repeats: int,
                threads: list[int], label: str, cpu: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in threads:
        e: dict[str, Any] = {"qps": [], "p50_ms": [], "p99_ms": [], "recall": [], "cpu": []}
        for r in range(repeats):
            c0 = cpu() if cpu else {}
            qps, lat, found = run_queries(make_search, d.queries, t)
            c1 = cpu() if cpu else {}
            e["qps"].append(qps)
            e["p50_ms"].append(pct(lat, 50) * 1000)
            e["p99_ms"].append(pct(lat, 99) * 1000)
            e["recall"].append(d.recall(found))
            e["cpu"].append({k: c1[k] - c0.get(k, 0.0) for k in c1})
            print(f"  {label} search, {t} thread(s) #{r}: {qps:,.0f} QPS, p50 {e['p50_ms'][-1]:.2f} ms, "
                  f"recall@10 {e['recall'][-1]:.4f}", flush=True)
        e["queries"] = len(d.queries)
        out[f"t{t}"] = e
    return out


# ------------------------------------------------------------------ one node


def embedded(root: Path, d: Data, repeats: int, threads: list[int]) -> dict[str, Any]:
    import lakebed

    lake = lakebed.connect(root / "embedded")
    out: dict[str, Any] = {"fsync": lake.settings.fsync, "write": {"points_s": [], "seconds": [], "cpu_s": [],
                                                                  "seal_wait_s": []}}
    try:
        keep = None
        for r in range(repeats):
            col = lake.collections.create(f"w{r}", dim=DIM, metric="cosine")
            c0, t0 = time.process_time(), time.perf_counter()
            for a, b in d.batches():
                col.upsert(d.ids[a:b], d.base[a:b])
            el = time.perf_counter() - t0
            cpu = time.process_time() - c0
            t1 = time.perf_counter()
            col.flush(seal=False)  # waits for the background sealing (HNSW build) the writes queued
            w = out["write"]
            w["cpu_s"].append(cpu)
            _note_write(w, d.n, el, t1, "embedded")
            if r < repeats - 1:
                lake.collections.drop(col.name)
            else:
                keep = col
        assert keep is not None
        _stats_and_search(out, d, keep, repeats, threads, "embedded", lambda: {"process": time.process_time()})
    finally:
        lake.close()
    return out


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not answer within {timeout} s: {log.read_text()[-2000:]}")


def stop_proc(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def http_node(root: Path, d: Data, repeats: int, threads: list[int]) -> dict[str, Any]:
    import lakebed
    from lakebed.cluster._local import free_ports

    lake_dir = root / "single"
    lakebed.connect(lake_dir).close()
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    log = root / "single.log"
    proc = None
    out: dict[str, Any] = {"write": {"points_s": [], "seconds": [], "server_cpu_s": [], "client_cpu_s": [],
                                     "seal_wait_s": []}}
    try:
        with open(log, "ab") as fh:
            proc = subprocess.Popen([sys.executable, "-c", NODE_MAIN, "serve", str(lake_dir), "--port", str(port)],
                                    stdout=fh, stderr=subprocess.STDOUT)
        wait_http(url, proc, 60, log)
        client = lakebed.connect(url)
        keep = None
        for r in range(repeats):
            col = client.collections.create(f"w{r}", dim=DIM, metric="cosine")
            s0, c0, t0 = proc_cpu(proc.pid), time.process_time(), time.perf_counter()
            for a, b in d.batches():
                col.upsert(d.ids[a:b], d.base[a:b])
            el = time.perf_counter() - t0
            w = out["write"]
            w["server_cpu_s"].append(proc_cpu(proc.pid) - s0)
            w["client_cpu_s"].append(time.process_time() - c0)
            t1 = time.perf_counter()
            while col.stats().get("pending_seals", 0) and time.perf_counter() - t1 < 600:
                time.sleep(0.2)
            _note_write(w, d.n, el, t1, "HTTP node")
            if r < repeats - 1:
                client.collections.drop(col.name)
            else:
                keep = col
        assert keep is not None
        _stats_and_search(out, d, keep, repeats, threads, "HTTP node",
                          lambda: {"server": proc_cpu(proc.pid), "client": time.process_time()})
        client.close()
    finally:
        stop_proc(proc)
    return out


# ------------------------------------------------------------------ the cluster


def start_cluster(root: Path, env: dict[str, str] | None = None) -> Any:
    from lakebed.cluster._local import LocalCluster

    lc = LocalCluster(root, servers=3, nodes=3, node_env=env)
    try:
        lc.start()
    except BaseException:
        stop_cluster(lc)
        raise
    return lc


def stop_cluster(lc: Any) -> None:
    try:
        lc.stop()
    except Exception as exc:
        print(f"  stopping the cluster: {exc}; killing what is left", flush=True)
    for p in [*lc.procs, *lc.nats]:
        if p is not None and p.poll() is None:
            p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)


def cluster_cpu(lc: Any) -> dict[str, float]:
    out = {f"node{i}": proc_cpu(p.pid if p is not None else None) for i, p in enumerate(lc.procs)}
    out.update({f"nats{i}": proc_cpu(p.pid if p is not None else None) for i, p in enumerate(lc.nats)})
    out["client"] = time.process_time()
    return out


def cpu_delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    out = {k: b[k] - a.get(k, 0.0) for k in b}
    out["nodes"] = sum(v for k, v in out.items() if k.startswith("node"))
    out["nats"] = sum(v for k, v in out.items() if k.startswith("nats"))
    return out


def create_col(c: Any, name: str) -> Any:
    return c.collections.create(name, dim=DIM, metric="cosine", shards=SHARDS, replicas=REPLICAS)


def node_applied(c: Any, lc: Any, i: int, name: str, timeout: float = 5.0) -> dict[str, int]:
    out = c.http(lc.node_url(i)).request("POST", f"/v1/cluster/collections/{name}/count", idempotent=True,
                                         json={"consistency": "eventual", "timeout": timeout})
    return {s: int(e["applied"]) for s, e in out["shards"].items()}


def wait_applied(c: Any, lc: Any, name: str, target: dict[str, int], nodes: list[int],
                 timeout: float = 300.0, every: float = 0.05) -> float:
    """Seconds until every replica on ``nodes`` has applied ``target`` (asked of the nodes)."""
    from lakebed.errors import LakebedError

    t0 = time.perf_counter()
    spec = c.collections.open(name).spec
    while True:
        done = True
        for i in nodes:
            try:
                got = node_applied(c, lc, i, name)
            except LakebedError:
                done = False
                break
            held = [s for s, holders in spec["assignment"].items() if f"n{i}" in holders]
            if any(got.get(s, 0) < target.get(s, 0) for s in held):
                done = False
                break
        if done:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{name}: replicas on nodes {nodes} did not apply {target} within {timeout:g} s")
        time.sleep(every)


def wait_status_converged(c: Any, name: str | None, timeout: float = 120.0) -> float:
    """Seconds until the cluster status shows every replica (of ``name``, or of every
    collection) alive with lag 0."""
    from lakebed.errors import LakebedError

    t0 = time.perf_counter()
    while True:
        with contextlib.suppress(LakebedError, KeyError):
            cols = c.status()["collections"]
            st = [s for n, col in cols.items() if name is None or n == name for s in col["shard_status"]]
            if (name is None or name in cols) and all(r["alive"] and r["lag"] == 0 for s in st
                                                      for r in s["replicas"]):
                return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{name}: replicas did not converge within {timeout:g} s")
        time.sleep(0.1)


def cluster_write(lc: Any, d: Data, threads: int, name: str, drop: bool = True) -> dict[str, Any]:
    clients = [lc.client() for _ in range(threads)]
    try:
        create_col(clients[0], name)
        cols = [cl.collections.open(name) for cl in clients]
        batches = d.batches()
        lat: list[float] = []
        seqs: dict[str, int] = {}
        lock = threading.Lock()

        def work(t: int) -> None:
            for a, b in batches[t::threads]:
                ts = time.perf_counter()
                got = cols[t].upsert(d.ids[a:b], d.base[a:b])
                el = time.perf_counter() - ts
                with lock:
                    lat.append(el)
                    for s, q in got.items():
                        seqs[s] = max(seqs.get(s, 0), q)

        c0 = cluster_cpu(lc)
        with ThreadPoolExecutor(threads) as ex:
            t0 = time.perf_counter()
            list(ex.map(work, range(threads)))
            el = time.perf_counter() - t0
        c1 = cluster_cpu(lc)
        conv = wait_applied(clients[0], lc, name, seqs, [0, 1, 2])
        c2 = cluster_cpu(lc)
        out = {"threads": threads, "points": d.n, "seconds": el, "points_s": d.n / el,
               "applied_s": el + conv, "applied_points_s": d.n / (el + conv),
               "batch_p50_ms": pct(lat, 50) * 1000, "batch_p99_ms": pct(lat, 99) * 1000,
               "cpu_write": cpu_delta(c0, c1), "cpu_until_applied": cpu_delta(c0, c2), "seqs": seqs}
        print(f"  cluster write, {threads} client thread(s): {d.n / el:,.0f} points/s acknowledged, "
              f"{d.n / (el + conv):,.0f} points/s applied on every replica", flush=True)
        if drop:
            clients[0].collections.drop(name)
            time.sleep(1.5)  # the nodes close and delete their replicas within a heartbeat
        return out
    finally:
        for cl in clients:
            cl.close()


def cluster_writes(lc: Any, d: Data, repeats: int, threads: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in threads:
        out[f"t{t}"] = [cluster_write(lc, d, t, f"w{t}x{r}") for r in range(repeats)]
    # one client last; its last repeat stays as "docs", the collection searched afterwards
    out["t1"] = [cluster_write(lc, d, 1, "docs" if r == repeats - 1 else f"w1x{r}", drop=r < repeats - 1)
                 for r in range(repeats)]
    return out


def cluster_search(lc: Any, d: Data, repeats: int, threads: list[int], label: str = "cluster") -> dict[str, Any]:
    from lakebed._wire import encode_vectors

    clients = [lc.client() for _ in range(max(threads))]
    try:
        cols = [cl.collections.open("docs") for cl in clients]
        out: dict[str, Any] = {"count_strong": cols[0].count(consistency="strong")}
        used: dict[str, int] = {}

        def make(i: int) -> Callable[[np.ndarray], list[Any]]:
            col = cols[i]

            def search(q: np.ndarray) -> list[Any]:
                hits = col.search(q, k=K, consistency="eventual")
                for n in hits.nodes.values():
                    used[n] = used.get(n, 0) + 1
                return [h.id for h in hits]
            return search

        out["search"] = search_runs(d, make, repeats, threads, label, cpu=lambda: cluster_cpu(lc))
        for e in out["search"].values():
            e["cpu"] = [cpu_delta({}, c) | {"client": c["client"]} for c in e["cpu"]]
        out["shard_answers_by_node"] = used
        # per-shard cost on one node, asked directly (no fan-out): 1 shard vs all 4 in one request
        h = clients[0].http(lc.node_url(0))
        qs = d.queries[:200]
        for shards in ([0], [0, 1, 2, 3]):
            lat = []
            p0 = proc_cpu(lc.procs[0].pid)
            for q in qs:
                t = time.perf_counter()
                h.request("POST", "/v1/cluster/collections/docs/search", idempotent=True,
                          json={"vector": encode_vectors(q), "k": K, "shards": shards, "consistency": "eventual"})
                lat.append(time.perf_counter() - t)
            out[f"direct_{len(shards)}_shards"] = {"p50_ms": pct(lat, 50) * 1000, "mean_ms": float(np.mean(lat)) * 1000,
                                                   "node_cpu_ms": (proc_cpu(lc.procs[0].pid) - p0) / len(qs) * 1000,
                                                   "queries": len(qs)}
        return out
    finally:
        for cl in clients:
            cl.close()


def replication_lag(lc: Any, d: Data, seconds: float, interval: float = 0.02, batch: int = 100,
                    warmup: float = 1.0) -> dict[str, Any]:
    from lakebed.errors import LakebedError

    name = "lag"
    cw, cs = lc.client(), lc.client()
    pool = ThreadPoolExecutor(3)
    try:
        col = create_col(cw, name)
        spec = cs.collections.open(name).spec
        held = {i: [int(s) for s, h in spec["assignment"].items() if f"n{i}" in h] for i in range(3)}
        path = f"/v1/cluster/collections/{name}/count"

        def ask(i: int, seqs: dict[str, int] | None) -> float:
            body: dict[str, Any] = {"consistency": "session" if seqs else "eventual", "timeout": 10,
                                    "shards": held[i]}
            if seqs:
                body["min_seqs"] = seqs
            cs.http(lc.node_url(i)).request("POST", path, json=body, idempotent=True)
            return time.perf_counter()

        # the round trip of a count that waits for nothing, idle cluster
        col.upsert(d.ids[:batch], d.base[:batch])
        idle: dict[int, list[float]] = {i: [] for i in range(3)}
        for _ in range(30):
            for i in range(3):
                t = time.perf_counter()
                idle[i].append(ask(i, None) - t)
        latest: list[Any] = [None]
        cond = threading.Condition()
        stop = threading.Event()
        acks: list[float] = []
        errors: list[str] = []
        sent = [0]

        def writer() -> None:
            k = 0
            start = time.perf_counter()
            due = start
            while time.perf_counter() - start < seconds:
                rows = np.arange(k * batch, (k + 1) * batch) % d.n
                ids = [d.n + k * batch + j for j in range(batch)]
                ts = time.perf_counter()
                try:
                    seqs = col.upsert(ids, d.base[rows])
                except LakebedError as exc:
                    errors.append(str(exc)[:200])
                    continue
                t_ack = time.perf_counter()
                acks.append(t_ack - ts)
                with cond:
                    latest[0] = (k, t_ack, seqs)
                    cond.notify_all()
                k += 1
                sent[0] = k * batch
                due += interval
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -interval:
                    due = time.perf_counter()  # behind: go on at the rate from here, no burst
            stop.set()
            with cond:
                cond.notify_all()

        lags: dict[int, list[float]] = {i: [] for i in range(3)}
        failed: dict[int, list[str]] = {i: [] for i in range(3)}
        sampled = [0]
        skipped = [0]

        def sampler() -> None:
            last_k = -1
            t_start = time.perf_counter()
            while True:
                with cond:
                    while (latest[0] is None or latest[0][0] == last_k) and not stop.is_set():
                        cond.wait(0.5)
                    if latest[0] is None or latest[0][0] == last_k:
                        return
                    k, t_ack, seqs = latest[0]
                skipped[0] += max(0, k - last_k - 1)
                last_k = k
                futs = {i: pool.submit(ask, i, seqs) for i in range(3)}
                for i, f in futs.items():
                    try:
                        t_ans = f.result()
                    except LakebedError as exc:
                        failed[i].append(str(exc)[:200])
                        continue
                    if t_ack - t_start >= warmup:
                        lags[i].append(t_ans - t_ack)
                sampled[0] += 1

        tw = threading.Thread(target=writer, daemon=True)
        ts_ = threading.Thread(target=sampler, daemon=True)
        t0 = time.perf_counter()
        tw.start()
        ts_.start()
        tw.join(seconds + 120)
        el = time.perf_counter() - t0
        ts_.join(60)
        allv = [v for i in range(3) for v in lags[i]]
        out: dict[str, Any] = {
            "seconds": seconds, "interval_ms": interval * 1000, "batch": batch,
            "target_points_s": batch / interval, "achieved_points_s": sent[0] / el,
            "ack_p50_ms": pct(acks, 50) * 1000, "ack_p99_ms": pct(acks, 99) * 1000, "write_errors": errors[:5],
            "sampled_writes": sampled[0], "skipped_writes": skipped[0],
            "idle_rtt_p50_ms": {f"n{i}": pct(idle[i], 50) * 1000 for i in range(3)},
            "nodes": {f"n{i}": {"samples": len(lags[i]), "p50_ms": pct(lags[i], 50) * 1000,
                                "p99_ms": pct(lags[i], 99) * 1000, "max_ms": max(lags[i], default=0) * 1000,
                                "errors": len(failed[i]), "first_error": failed[i][0] if failed[i] else None}
                      for i in range(3)},
            "overall": {"samples": len(allv), "p50_ms": pct(allv, 50) * 1000, "p99_ms": pct(allv, 99) * 1000,
                        "max_ms": max(allv, default=0) * 1000},
        }
        print(f"  lag under {sent[0] / el:,.0f} points/s: p50 {out['overall']['p50_ms']:.1f} ms, p99 "
              f"{out['overall']['p99_ms']:.1f} ms", flush=True)
        cw.collections.drop(name)
        return out
    finally:
        pool.shutdown(wait=False)
        cw.close()
        cs.close()


def catchup(lc: Any, d: Data, repeats: int, node: int = 2, timeout: float = 600.0) -> dict[str, Any]:
    from lakebed.errors import LakebedError

    runs = []
    for r in range(repeats):
        name = f"cu{r}"
        c = lc.client()
        try:
            create_col(c, name)
            col = c.collections.open(name)
            # baseline: the same restart with nothing to catch up (startup time and CPU)
            wait_applied(c, lc, name, {}, [node])
            lc.kill_node(node)  # SIGKILL
            t0 = time.perf_counter()
            lc.start_node(node)
            base_up = time.perf_counter() - t0
            while True:
                with contextlib.suppress(LakebedError):
                    node_applied(c, lc, node, name)
                    break
                time.sleep(0.05)
            base_ready = time.perf_counter() - t0
            base_cpu = proc_cpu(lc.procs[node].pid)
            lc.wait_members(3)
            lc.kill_node(node)  # SIGKILL
            seqs: dict[str, int] = {}
            t0 = time.perf_counter()
            for a, b in d.batches():
                for s, q in col.upsert(d.ids[a:b], d.base[a:b]).items():
                    seqs[s] = max(seqs.get(s, 0), q)
            write_s = time.perf_counter() - t0
            others = [i for i in range(3) if i != node]
            others_s = wait_applied(c, lc, name, seqs, others)
            time.sleep(0.5)
            t0 = time.perf_counter()
            lc.start_node(node)
            up_s = time.perf_counter() - t0
            pid = lc.procs[node].pid
            cpu_up = proc_cpu(pid)
            t_status = t_direct = None
            cpu_direct = None
            polls = 0
            while (t_status is None or t_direct is None) and time.perf_counter() - t0 < timeout:
                polls += 1
                if t_direct is None:
                    with contextlib.suppress(LakebedError):
                        got = node_applied(c, lc, node, name)
                        if len(got) == len(seqs) and all(got[s] >= q for s, q in seqs.items()):
                            t_direct = time.perf_counter() - t0
                            cpu_direct = proc_cpu(pid)
                if t_status is None:
                    with contextlib.suppress(LakebedError, KeyError):
                        st = c.status()["collections"][name]["shard_status"]
                        mine = [rep for s in st for rep in s["replicas"] if rep["node"] == f"n{node}"]
                        if mine and all(rep["alive"] and rep["lag"] == 0 for rep in mine):
                            t_status = time.perf_counter() - t0
                time.sleep(0.1)
            if t_status is None or t_direct is None:
                raise TimeoutError(f"node n{node} did not catch up within {timeout:g} s")
            run = {"points": d.n, "write_one_node_down_points_s": d.n / write_s, "others_applied_after_s": others_s,
                   "node_up_s": up_s, "caught_up_status_s": t_status, "caught_up_direct_s": t_direct,
                   "points_s_status": d.n / t_status, "points_s_direct": d.n / t_direct,
                   "points_s_after_up": d.n / max(t_direct - up_s, 1e-9),
                   "node_cpu_at_up_s": cpu_up, "node_cpu_at_caught_up_s": cpu_direct,
                   "baseline_restart": {"up_s": base_up, "ready_s": base_ready, "cpu_s": base_cpu},
                   "node_cpu_apply_s": (cpu_direct or 0.0) - base_cpu, "polls": polls}
            runs.append(run)
            print(f"  catch-up #{r}: node up in {up_s:.1f} s, lag 0 in status after {t_status:.1f} s "
                  f"({d.n / t_status:,.0f} points/s), applied (asked directly) after {t_direct:.1f} s", flush=True)
            lc.wait_members(3)
            c.collections.drop(name)
            time.sleep(1.5)
        finally:
            c.close()
    return {"runs": runs, "node": f"n{node}"}


def stream_current(lc: Any, gen: str, timeout: float = 120.0) -> float:
    """Seconds until every shard stream of ``gen`` has all 3 JetStream replicas current."""
    from lakebed.cluster._log import ClusterLog
    from lakebed.errors import LakebedError

    t0 = time.perf_counter()
    log = None
    try:
        while True:
            with contextlib.suppress(LakebedError, TimeoutError, KeyError):
                if log is None:
                    log = ClusterLog(lc.nats_urls, cluster=lc.name)
                infos = [log.shard_info(gen, s) for s in range(SHARDS)]
                if all(i["leader"] and len(i["replicas"]) == REPLICAS - 1 and
                       all(p["current"] and not p["lag"] for p in i["replicas"]) for i in infos):
                    return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"the JetStream replicas did not catch up within {timeout:g} s")
            time.sleep(0.2)
    finally:
        if log is not None:
            log.close()


def outage(acks: list[tuple[float, float]], t_kill: float) -> dict[str, Any]:
    """From (write started, write acknowledged) pairs around a kill at ``t_kill``:
    ``failover_s``: the longest time without an acknowledgement from the last one before the
    kill to the first acknowledgement of a write *started* after it (a write in flight at
    the kill may still be acknowledged just after it: that does not end the outage);
    ``literal_s``: last acknowledgement before the kill -> first acknowledgement after it."""
    ends = sorted(a for _, a in acks)
    before = [a for a in ends if a <= t_kill]
    after = [a for a in ends if a > t_kill]
    fresh = sorted(a for s, a in acks if s > t_kill)
    out: dict[str, Any] = {"acks_before": len(before), "acks_after": len(after), "failover_s": None,
                           "literal_s": None, "kill_to_first_fresh_ack_s": None}
    if before and after:
        out["literal_s"] = after[0] - before[-1]
    if before and fresh:
        window = [a for a in ends if before[-1] <= a <= fresh[0]]
        out["failover_s"] = float(max(np.diff(window))) if len(window) > 1 else 0.0
        out["kill_to_first_fresh_ack_s"] = fresh[0] - t_kill
        gaps = np.diff(before[-50:])
        out["ack_interval_before_p50_ms"] = float(np.median(gaps)) * 1000 if len(gaps) else None
    return out


def failover(lc: Any, d: Data, repeats: int, before: float = 3.0, after: float = 2.0, timeout: float = 60.0,
             batch: int = 100) -> dict[str, Any]:
    from lakebed.errors import LakebedError

    name = "fo"
    c = lc.client()
    acked: set[int] = set()
    next_id = [0]
    runs = []
    try:
        create_col(c, name)
        st = c.status()["collections"][name]
        streams = [s["stream"] for s in st["shard_status"]]
        gen = st["gen"]
        for r in range(repeats):
            shard = r % SHARDS
            stream = streams[shard]
            leader = lc.leader_of(stream)
            assert leader is not None, f"stream {stream} has no leader"
            acks: list[tuple[float, float]] = []
            errors: list[tuple[float, str]] = []
            seen: list[tuple[float, int, str, float]] = []  # (time, nodes alive in status, error, seconds)
            stop = threading.Event()
            wc, mc = lc.client(), lc.client()
            wcol = wc.collections.open(name)

            def writer(wcol: Any = wcol, acks: list[tuple[float, float]] = acks,
                       errors: list[tuple[float, str]] = errors, stop: threading.Event = stop) -> None:
                hard = None
                while not stop.is_set():
                    ids = list(range(next_id[0], next_id[0] + batch))
                    rows = np.asarray(ids) % d.n
                    while True:  # the same ids until acknowledged: stored == acknowledged at the end
                        t0 = time.perf_counter()
                        try:
                            wcol.upsert(ids, d.base[rows])
                            acks.append((t0, time.perf_counter()))
                            acked.update(ids)
                            break
                        except LakebedError as exc:
                            errors.append((time.perf_counter(), f"{type(exc).__name__}: {exc}"[:300]))
                            if stop.is_set():
                                hard = hard or time.perf_counter() + 120
                                if time.perf_counter() > hard:
                                    return
                            time.sleep(0.05)
                    next_id[0] += batch

            def monitor(mc: Any = mc, seen: list[tuple[float, int, str, float]] = seen,
                        stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    t = time.perf_counter()
                    try:
                        nodes = len(mc.status()["nodes"])
                        seen.append((t, nodes, "", time.perf_counter() - t))
                    except LakebedError as exc:
                        seen.append((t, -1, str(exc)[:200], time.perf_counter() - t))
                    stop.wait(0.5)

            threads = [threading.Thread(target=f, daemon=True) for f in (writer, monitor)]
            for th in threads:
                th.start()
            time.sleep(before)
            t_kill = time.perf_counter()
            lc.kill_nats(leader)  # SIGKILL
            while time.perf_counter() - t_kill < timeout and not any(s > t_kill for s, _ in acks):
                time.sleep(0.01)
            time.sleep(after)
            stop.set()
            for th in threads:
                th.join(180)
            wc.close()
            mc.close()
            run: dict[str, Any] = {"shard": shard, "stream": stream, "killed": f"s{leader}",
                                   **outage(acks, t_kill), "write_errors": len(errors),
                                   "first_errors": [e for _, e in errors[:3]],
                                   "error_kinds": sorted({e.split(":")[0] for _, e in errors}),
                                   "status_samples_after_kill": len([x for x in seen if x[0] > t_kill]),
                                   "status_short_of_3_nodes": len([x for x in seen if x[0] > t_kill and
                                                                   0 <= x[1] < 3]),
                                   "status_errors": len([x for x in seen if x[1] < 0]),
                                   "status_slowest_after_kill_s": max((x[3] for x in seen if x[0] + x[3] > t_kill),
                                                                      default=None)}
            try:
                nl = lc.leader_of(stream)
                run["new_leader"] = f"s{nl}" if nl is not None else None
            except Exception as exc:
                run["new_leader"] = f"? ({type(exc).__name__})"
            t_restart = time.perf_counter()
            lc.start_nats(leader)
            run["jetstream_current_s"] = stream_current(lc, gen)
            run["replicas_converged_s"] = wait_status_converged(c, name)
            run["restart_to_converged_s"] = time.perf_counter() - t_restart
            runs.append(run)
            fs = run["failover_s"]
            print(f"  failover #{r}: killed s{leader} (leader of shard {shard}): "
                  f"{'no fresh ack after the kill' if fs is None else f'{fs:.2f} s'}, {len(errors)} write errors",
                  flush=True)
        count = c.collections.open(name).count(consistency="strong", timeout=30)
        out = {"runs": runs, "acked_ids": len(acked), "count_strong": count, "lost": len(acked) - count,
               "batch": batch}
        print(f"  failover: {len(acked):,} ids acknowledged, strong count {count:,}", flush=True)
        return out
    finally:
        c.close()


def failover_after_raw(lc: Any, d: Data, repeats: int) -> dict[str, Any]:
    """The lakebed failover, once the cluster is whole again after the raw one."""
    lc.wait_members(3, timeout=120)
    c = lc.client()
    try:
        healthy = wait_status_converged(c, None, timeout=180)
    finally:
        c.close()
    return {**failover(lc, d, repeats), "healthy_before_s": healthy}


def scan_node_logs(root: Path) -> dict[str, Any]:
    """What the nodes logged about NATS over the whole run (their logs carry no times)."""
    pats = {"lost_connection": "lost the connection to NATS", "append_resent": "unacknowledged by NATS",
            "heartbeat_failed": "heartbeat failed", "heartbeat_60s": "did not answer within 60 s",
            "apply_read_failed": "reading the log failed",
            "digest_rebuild": "applied other messages than the shard's other replicas",
            "stuck_new_consumer": "reading through a new consumer"}
    out: dict[str, Any] = {}
    for f in sorted(root.glob("node*.log")):
        text = f.read_text(errors="replace")
        out[f.stem] = {k: text.count(v) for k, v in pats.items()}
        out[f.stem]["examples"] = [ln[:300] for ln in text.splitlines()
                                   if any(v in ln for v in pats.values())][:6]
    return out


def restart_nodes(lc: Any, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    lc.node_env.update(env)
    for i in range(len(lc.procs)):
        lc.kill_node(i, signal.SIGTERM)
        lc.start_node(i)
    lc.wait_members(len(lc.procs))
    c = lc.client()
    try:
        wait_status_converged(c, "docs")
    finally:
        c.close()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ report


def fmt(x: Any, nd: int = 0) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    return f"{x:,.{nd}f}"


def runs_txt(xs: list[float], nd: int = 0) -> str:
    return ", ".join(fmt(x, nd) for x in xs)


def write_report(data: dict[str, Any], path: Path) -> None:
    run = data.get("run", {})
    m = run.get("machine", {})
    n = run.get("points", 0)
    L: list[str] = []
    add = L.append
    started, ended = run.get("started", "?"), data.get("run_end", {}).get("finished", "?")
    dur = data.get("run_end", {}).get("duration_s")
    add("# Cluster benchmark\n")
    argv = " ".join(run.get("argv", [])) or "(defaults)"
    add(f"Written {now_utc()} by `bench/cluster.py` (run started {started}, finished {ended}"
        + (f", {dur / 60:.1f} min" if dur else "") + f"). Arguments: `{argv}`; "
        f"{n:,} ann-dev vectors, {run.get('queries', 0):,} queries, medians of {run.get('repeats', '?')} repeats "
        "(all runs listed).\n")
    add("## What was measured, and how\n")
    add(f"- Machine: {m.get('cpu', '?')}, **{m.get('cores', '?')} cores**, {m.get('memory_gib', '?')} GiB, "
        f"Python {m.get('python', '?')}, {m.get('os', '?')}. The machine is shared: other sessions' tests ran at the "
        "same time (1-minute load average at the start/end of each case is in the json; "
        f"range during this run: {load_range(data)}).")
    add("- **Everything runs on this one machine**: 3 nats-server processes (clustered JetStream, file storage), "
        "3 lakebed nodes (`lakebed serve --cluster`, one process each, lakes with fsync=always) and the "
        "benchmark's client threads share 2 cores, so the cluster is **not expected to be faster than one node "
        "here**: with replicas=3 every node applies every point, and each search fans out over HTTP to the "
        "nodes. The numbers say what the cluster's machinery costs; the projection at the end says what 3 "
        "machines would do.")
    src0 = run.get("src")
    changed = [k for k, v in data.items()
               if isinstance(v, dict) and isinstance(v.get("src"), list) and set(v["src"]) != {src0}]
    add(f"- src/ at the start: hash `{src0}` (sha1 of every .py under src/lakebed). " + (
        "**src/ changed during the run** (another session was editing it): the cases "
        f"{', '.join(f'`{k}`' for k in changed)} ran with src/ differing from the start at their start or end; "
        "a node process runs the code it was started with, and the nodes are restarted by the catch-up (n2) and the "
        "diagnostic (all), so those ran newer code than the rest." if changed else "src/ did not change during the "
        "run."))
    add(f"- lakebed commit `{m.get('commit', '?')}`; {m.get('nats_server', 'nats-server ?')}; nats-py "
        f"{m.get('nats-py', '?')}, numpy {m.get('numpy', '?')}, faiss-cpu {m.get('faiss-cpu', '?')}, "
        f"httpx {m.get('httpx', '?')}, fastapi {m.get('fastapi', '?')}, uvicorn {m.get('uvicorn', '?')}.")
    add(f"- Data: `ann-dev` (MiniLM all-MiniLM-L6-v2, 384-d, float16 stored, used as float32), the first {n:,} "
        f"base vectors with their ids, no payloads; recall@10 against {run.get('gt_source', '?')}.")
    add(f"- Collections: cosine, HNSW (M=16, ef_construction=200, ef_search=64, lakebed's default). Cluster "
        f"collections: shards={SHARDS}, replicas={REPLICAS} on 3 nodes (every node holds every shard). A segment "
        f"is sealed into an HNSW index at {m.get('segment_size', 50000):,} points (`segment_size`): a cluster "
        f"shard holds ~{n // SHARDS:,} points and stays in its growing segment (searched exactly), while one node "
        "holding all points seals the first 50,000 into HNSW in the background (sealing time is listed, not "
        "part of the write rate).")
    add("- Write rates are points/s from the first call to the last acknowledgement (cluster: a quorum of each "
        "shard's JetStream replicas holds the write, not yet applied by the nodes; embedded/HTTP: the "
        "point is in the fsynced write-ahead log). 'Applied' rates run until every replica has applied the last "
        "sequence (asked of each node).\n")
    add("Reproduce:\n")
    add("```\nflock /tmp/lakebed-bench.lock .venv/bin/python bench/cluster.py --quick   # smoke\n"
        "flock /tmp/lakebed-bench.lock .venv/bin/python bench/cluster.py           # this report\n```\n")

    raw = data.get("write.raw", {})
    cw = data.get("write.cluster", {})
    emb = data.get("single.embedded", {})
    htp = data.get("single.http", {})

    def raw_med(v: str) -> float:
        return med(raw.get(v, {}).get("points_s", []))

    base_variants = [v for v in ("r3.pipelined", "r3.publish_async", "r3.one_stream") if raw.get(v)]
    baseline_v = max(base_variants, key=raw_med) if base_variants else None
    baseline = raw_med(baseline_v) if baseline_v else float("nan")
    cl_rows = []
    for key, entries in sorted(cw.items()) if isinstance(cw, dict) else []:
        if not (key.startswith("t") and key[1:].isdigit() and entries):
            continue
        cl_rows.append((key, entries))
    best_key, best = None, float("nan")
    for key, entries in cl_rows:
        v = med([e["points_s"] for e in entries])
        if best_key is None or v > best:
            best_key, best = key, v
    one_client = med([e["points_s"] for e in dict(cl_rows).get("t1", [])])

    # --- targets
    add("## Targets\n")
    add("| target | measured | met? |")
    add("| --- | --- | --- |")

    def yes(ok: bool | None) -> str:
        return "—" if ok is None else ("yes" if ok else "**no**")

    if baseline_v and best_key:
        r_ = best / baseline
        add(f"| cluster write >= 0.5x raw JetStream R3 (best of 1-4 client threads vs the faster raw publish) | "
            f"{r_:.2f}x ({fmt(best)} points/s, {best_key[1:]} thread(s), vs {fmt(baseline)} `{baseline_v}`) | "
            f"{yes(r_ >= 0.5)} |")
    fo = data.get("failover", {})
    fos = [x["failover_s"] for x in fo.get("runs", []) if x.get("failover_s") is not None]
    if fo.get("runs"):
        ok = len(fos) == len(fo["runs"]) and max(fos) < 10
        add(f"| failover < 10 s (SIGKILL of a shard's stream leader; longest time without an ack around it) | median "
            f"{fmt(med(fos), 2)} s, max {fmt(max(fos, default=None), 2)} s over {len(fo['runs'])} kills | {yes(ok)} |")
        add(f"| nothing acknowledged lost (strong count = distinct acknowledged ids) | {fmt(fo.get('count_strong'))} "
            f"of {fmt(fo.get('acked_ids'))} | {yes(fo.get('lost') == 0)} |")
    cu = data.get("catchup", {})
    if cu.get("runs"):
        v = med([x["points_s_status"] for x in cu["runs"]])
        add(f"| replica catch-up >= 20k points/s (points / time from restart to lag 0 in status) | {fmt(v)} "
            f"points/s | {yes(v >= 20000)} |")
    cs = data.get("search.cluster", {})
    if cs.get("search") and emb.get("search"):
        rc = med(cs["search"]["t1"]["recall"])
        rn = med(emb["search"]["t1"]["recall"])
        add(f"| recall@10 of the cluster matches one node holding the same data | cluster {rc:.4f}, one node "
            f"(embedded) {rn:.4f}, HTTP node {med(htp.get('search', {}).get('t1', {}).get('recall', [])):.4f} | "
            f"{yes(rc >= rn - 0.005)} (>=) |")
    lag = data.get("lag", {})
    if lag.get("overall"):
        add(f"| (reported) replication lag p99 under {fmt(lag['achieved_points_s'])} points/s | "
            f"{fmt(lag['overall']['p99_ms'], 1)} ms (p50 {fmt(lag['overall']['p50_ms'], 1)} ms) | — |")
    add("")

    # --- 1. writes
    add("## 1. Write throughput (batches of 1,000 points)\n")
    add("Points/s, median of the repeats. `x raw R3` = against the faster raw JetStream publish to 3-replica "
        f"streams (`{baseline_v}`). CPU = CPU-seconds per 1,000 points of the processes named, over the write "
        "(cluster: until every replica applied it).\n")
    add("| system | how | median points/s | x raw R3 | runs | notes |")
    add("| --- | --- | ---: | ---: | --- | --- |")
    raw_desc = {
        "r3.pipelined": "4 streams (one per shard), R3; core publish + reply inbox, window 64 msgs across batches",
        "r3.msgid": "same, with a `Nats-Msg-Id` header per message (as lakebed)",
        "r3.publish_async": "4 streams, R3; nats-py `js.publish_async`",
        "r3.one_stream": "1 stream holding the 4 subjects, R3; pipelined",
        "r3.per_batch": "4 streams, R3; one batch's messages pipelined with `Nats-Msg-Id`, all acks, then the "
                        "next batch (what one upsert call does inside a node)",
        "r1.pipelined": "4 streams, **R1**; pipelined",
        "r1.msgid": "4 streams, R1; with `Nats-Msg-Id`",
        "r1.per_batch": "4 streams, R1; batch at a time with `Nats-Msg-Id`",
    }
    for v, desc in raw_desc.items():
        e = raw.get(v)
        if not e:
            continue
        x = med(e["points_s"])
        ncpu = med(e.get("nats_cpu_s", [])) / max(n, 1) * 1000
        add(f"| raw JetStream | {desc} | {fmt(x)} | {x / baseline:.2f}x | {runs_txt(e['points_s'])} | "
            f"nats CPU {ncpu:.3f} s/1k points |")
    if raw.get("error"):
        add(f"| raw JetStream | — | — | — | — | error: {raw['error']} |")
    for key, entries in cl_rows:
        t = int(key[1:])
        x = med([e["points_s"] for e in entries])
        ap = med([e["applied_points_s"] for e in entries])
        cpu = entries[len(entries) // 2]["cpu_until_applied"]
        add(f"| lakebed cluster | `ClusterClient.upsert`, {t} client thread(s), shards=4, replicas=3 | {fmt(x)} | "
            f"{x / baseline:.2f}x | {runs_txt([e['points_s'] for e in entries])} | applied everywhere: {fmt(ap)} "
            f"points/s; batch p50 {fmt(med([e['batch_p50_ms'] for e in entries]), 1)} ms, p99 "
            f"{fmt(med([e['batch_p99_ms'] for e in entries]), 1)} ms; CPU nodes {cpu['nodes'] / n * 1000:.3f}, nats "
            f"{cpu['nats'] / n * 1000:.3f}, client {cpu['client'] / n * 1000:.3f} s/1k |")
    if isinstance(cw, dict) and cw.get("error"):
        add(f"| lakebed cluster | — | — | — | — | error: {cw['error']} |")
    for label, e, how in (("lakebed, one node", emb, "embedded `Collection.upsert` (fsync=always)"),
                          ("lakebed, one node", htp, "one `lakebed serve` process, `lakebed.connect(\"http://…\")`")):
        w = e.get("write")
        if not w:
            if e.get("error"):
                add(f"| {label} | {how} | — | — | — | error: {e['error']} |")
            continue
        x = med(w["points_s"])
        cpu = med(w.get("cpu_s") or w.get("server_cpu_s", []))
        add(f"| {label} | {how} | {fmt(x)} | {x / baseline:.2f}x | {runs_txt(w['points_s'])} | then "
            f"{fmt(med(w['seal_wait_s']), 1)} s of background sealing (HNSW of 50k); CPU "
            f"{'process' if 'cpu_s' in w else 'server'} {cpu / n * 1000:.3f} s/1k |")
    add("")
    if baseline_v and not np.isnan(one_client):
        per_batch = raw_med("r3.per_batch")
        add(f"One cluster client does one batch at a time (HTTP to a node, validation, encoding, pipelined "
            f"publish of the batch's 4 messages, wait for their quorum acks): {fmt(one_client)} points/s = "
            f"{one_client / per_batch:.2f}x raw JetStream doing the same batch-at-a-time publish "
            f"({fmt(per_batch)} points/s, `r3.per_batch`).\n")

    # --- 2. search
    add("## 2. Search (k=10, 1,000 queries)\n")
    add("QPS over all queries (split among the client threads), median of the repeats; latency percentiles "
        "per query from the median-QPS repeat's pool; recall@10 against the exact top 10. The cluster searches "
        "with `consistency=\"eventual\"`: per query one HTTP request to each node holding a chosen replica "
        "(the 4 shards rotate over the 3 replicas), top 10 per shard, merged in the client.\n")
    add("| system | client threads | median QPS | p50 ms | p99 ms | recall@10 | runs | node CPU ms/query |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")

    def srow(label: str, e: dict[str, Any], cpu_key: str | None) -> None:
        for key, s in sorted(e.get("search", {}).items(), key=lambda kv: int(kv[0][1:])):
            i = int(np.argsort(s["qps"])[len(s["qps"]) // 2])
            cpu = "—"
            if cpu_key and s.get("cpu"):
                cpu = f"{s['cpu'][i].get(cpu_key, 0.0) / s['queries'] * 1000:.2f}"
            add(f"| {label} | {key[1:]} | {fmt(med(s['qps']))} | {s['p50_ms'][i]:.2f} | {s['p99_ms'][i]:.2f} | "
                f"{med(s['recall']):.4f} | {runs_txt(s['qps'])} | {cpu} |")

    srow("lakebed cluster (3 nodes, 4 shards)", cs, "nodes")
    srow("cluster, nodes with `OPENBLAS_NUM_THREADS=1` (diagnostic)", data.get("search.cluster_blas1", {}), "nodes")
    srow("lakebed, one HTTP node", htp, "server")
    srow("lakebed, embedded (in process)", emb, "process")
    for k in ("search.cluster", "search.cluster_blas1"):
        if data.get(k, {}).get("error"):
            add(f"| {k} | — | — | — | — | — | error: {data[k]['error']} | — |")
    add("")
    if cs.get("search"):
        d1, d4 = cs.get("direct_1_shards", {}), cs.get("direct_4_shards", {})
        add(f"Strong count of the searched collection: {fmt(cs.get('count_strong'))} (expected {n:,}). Per-shard cost "
            f"on one node asked directly (no fan-out, 200 queries, 1 thread): 1 shard {fmt(d1.get('p50_ms'), 2)} ms "
            f"p50 ({fmt(d1.get('node_cpu_ms'), 2)} ms node CPU), all 4 shards in one request "
            f"{fmt(d4.get('p50_ms'), 2)} ms ({fmt(d4.get('node_cpu_ms'), 2)} ms node CPU). Shard answers per node: "
            f"{cs.get('shard_answers_by_node')}. One node's stats: embedded {emb.get('stats')}, "
            f"HTTP {htp.get('stats')}.\n")
    diag = data.get("search.cluster_blas1", {})
    if diag.get("search") and cs.get("search"):
        add(f"Diagnostic: the same cluster with its nodes restarted with `OPENBLAS_NUM_THREADS=1` answers "
            f"{med(diag['search']['t1']['qps']) / med(cs['search']['t1']['qps']):.1f}x the QPS from one client thread "
            f"(restart and convergence {fmt(diag.get('restart_s'), 1)} s). The shards' growing segments are searched "
            "by a numpy matrix product (`vectors/_search.py`, `_raw_scores`), which OpenBLAS runs on as many threads "
            "as cores; three node processes doing it at once on 2 cores spin-wait on each other's threads (node CPU "
            f"per query {diag['search']['t1']['cpu'][0]['nodes'] / diag['search']['t1']['queries'] * 1000:.1f} ms "
            f"instead of {cs['search']['t1']['cpu'][0]['nodes'] / cs['search']['t1']['queries'] * 1000:.1f} ms). "
            "The same happens within one process: embedded search from 4 threads is slower than from 1 (the 5,013 "
            "unsealed points are searched by the same product).\n")

    # --- 3. failover
    add("## 3. Failover: SIGKILL of a shard stream's JetStream leader during writes\n")
    add(f"One client thread writes batches of {fo.get('batch', 100)} new points back to back (a batch that fails is "
        "sent again until acknowledged; each batch touches all 4 shards). After ~3 s the nats-server leading one "
        "shard's stream is SIGKILLed. **failover** = the longest time without an acknowledgement from the last "
        "acknowledgement before the kill until the first acknowledgement of a write *started* after the kill (a "
        "write in flight at the kill can still be acknowledged right after it, which does not end the outage); "
        "*literal* = last acknowledgement before -> first acknowledgement after the kill, whatever write it was. "
        "Then the server is restarted and the run waits until the streams' JetStream replicas are current and "
        "every lakebed replica has lag 0. A second client polls `status()` every 0.5 s meanwhile.\n")
    add("| repeat | shard | killed | new leader | **failover s** | literal s | kill -> first fresh ack s | acks "
        "before/after | write errors (kinds) | status polls short of 3 nodes / failed | slowest status call s "
        "| JetStream current after restart s | replicas converged s |")
    add("| ---: | ---: | --- | --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: | ---: |")
    for i, x in enumerate(fo.get("runs", [])):
        add(f"| {i + 1} | {x['shard']} | {x['killed']} | {x.get('new_leader', '?')} | "
            f"**{fmt(x.get('failover_s'), 2)}** | "
            f"{fmt(x.get('literal_s'), 2)} | {fmt(x.get('kill_to_first_fresh_ack_s'), 2)} | "
            f"{x['acks_before']}/{x['acks_after']} | {x['write_errors']} ({', '.join(x.get('error_kinds', []))}) | "
            f"{x.get('status_short_of_3_nodes')}/{x.get('status_errors')} of {x.get('status_samples_after_kill')} | "
            f"{fmt(x.get('status_slowest_after_kill_s'), 1)} | "
            f"{fmt(x.get('jetstream_current_s'), 1)} | {fmt(x.get('replicas_converged_s'), 1)} |")
    if fo.get("error"):
        add(f"\nerror: {fo['error']}")
    fr = data.get("failover.raw", {})
    if fr.get("runs"):
        rs = [x["failover_s"] for x in fr["runs"] if x.get("failover_s") is not None]
        add(f"\nJetStream alone, for comparison (same cluster, just before; {fr.get('how')}): failover median "
            f"{fmt(med(rs), 2)} s (runs: {runs_txt(rs, 2)}; killed {', '.join(x['killed'] for x in fr['runs'])}; "
            f"retried requests {', '.join(str(x['retries']) for x in fr['runs'])}). This is the Raft election of "
            "the stream (and the client's reconnect): the floor for any JetStream client on this machine.")
    elif fr.get("error"):
        add(f"\nraw JetStream failover: error {fr['error']}")
    if fo.get("runs") and fr.get("runs"):
        add("\nHow a write gets through a kill: a node sends a write's messages once and resends those still "
            "unacknowledged only after its acknowledgement timeout (`ClusterLog(ack_timeout=5.0)`, then 0.5 s of "
            "backoff; `streams/_nats.py` `_append`/`_settle`), so a write whose messages got no answer takes at "
            "least ~5.5 s, in steps of ~5.5 s; a write that reaches the stream while it has no leader gets 'no "
            "responders' at once, which the node reports as `NotFound` 'the stream was dropped' and `ClusterClient` "
            "does not retry (it moves on only on `BackendUnavailable`): the caller sees the error (column *write "
            "errors*) and this benchmark's writer sends the batch again every 50 ms. During the election "
            "`status()` took up to the *slowest status call* to answer.")
    logs = {k: v for k, v in data.get("node_logs", {}).items() if isinstance(v, dict)}
    if logs:
        tot = {k: sum(v.get(k, 0) for v in logs.values()) for k in ("lost_connection", "append_resent",
                                                                    "heartbeat_failed", "heartbeat_60s",
                                                                    "apply_read_failed", "digest_rebuild",
                                                                    "stuck_new_consumer")}
        per_node = ", ".join(f"{k}: {v.get('digest_rebuild', 0)}" for k, v in logs.items())
        add(f"\nThe nodes' logs over the whole run (raw and lakebed failovers, restarts): {tot['lost_connection']} "
            f"lost NATS connections, {tot['append_resent']} appends resent after the 1.5 s acknowledgement timeout, "
            f"{tot['heartbeat_failed']} failed heartbeats ({tot['heartbeat_60s']} of them after waiting 60 s), "
            f"{tot['apply_read_failed']} failed log reads of apply loops, {tot['digest_rebuild']} replica "
            f"rebuilds after a digest mismatch ({per_node}), {tot['stuck_new_consumer']} new consumers for a "
            "stuck replica.")
    if fo.get("runs"):
        errs = [e for x in fo["runs"] for e in x.get("first_errors", [])]
        add(f"\nAcknowledged ids {fmt(fo.get('acked_ids'))}, `count(consistency=\"strong\")` "
            f"{fmt(fo.get('count_strong'))}"
            f" (lost: {fo.get('lost')}). " + (f"First write error seen: `{errs[0][:200]}`" if errs else ""))
    add("")

    # --- 4. catch-up
    add("## 4. Replica catch-up\n")
    add(f"Node n2 SIGKILLed, then all {n:,} points written to a new collection (shards=4, replicas=3) through the "
        "other nodes, then n2 restarted (`lc.start_node(2)`: a new `lakebed serve` process; it reopens its "
        "collections and goes on from each replica's stored log sequence). *Up* = process start until its port "
        "answers; *status* = until `status()` shows lag 0 for all n2's replicas (status carries the nodes' "
        "once-a-second heartbeats, so it lags by up to 1 s); *direct* = until n2 itself reports every shard "
        "applied (polled every 0.1 s).\n")
    add("| repeat | node up s | lag 0 in status s | points/s (status) | applied, direct s | points/s (direct) | "
        "same restart, nothing to apply: up / answering s | apply CPU s per 1k points | writes with n2 down, "
        "points/s |")
    add("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, x in enumerate(cu.get("runs", [])):
        b = x.get("baseline_restart", {})
        add(f"| {i + 1} | {x['node_up_s']:.2f} | {x['caught_up_status_s']:.2f} | {fmt(x['points_s_status'])} | "
            f"{x['caught_up_direct_s']:.2f} | {fmt(x['points_s_direct'])} | {fmt(b.get('up_s'), 2)} / "
            f"{fmt(b.get('ready_s'), 2)} | {x['node_cpu_apply_s'] / n * 1000:.3f} | "
            f"{fmt(x['write_one_node_down_points_s'])} |")
    if cu.get("runs"):
        add(f"| **median** | {med([x['node_up_s'] for x in cu['runs']]):.2f} | "
            f"{med([x['caught_up_status_s'] for x in cu['runs']]):.2f} | "
            f"**{fmt(med([x['points_s_status'] for x in cu['runs']]))}** | "
            f"{med([x['caught_up_direct_s'] for x in cu['runs']]):.2f} | "
            f"{fmt(med([x['points_s_direct'] for x in cu['runs']]))} | | | |")
        add("\nThe apply CPU is n2's CPU from process start until caught up, minus its CPU for the same restart "
            "with nothing to apply (measured just before). A node starts applying its logs during startup, "
            "before its port answers, so part of the catch-up hides in *node up*.")
    if cu.get("error"):
        add(f"\nerror: {cu['error']}")
    add("")

    # --- 5. lag
    add("## 5. Replication lag under load\n")
    if lag.get("nodes"):
        idle = ", ".join(f"{k} {v:.1f} ms" for k, v in lag["idle_rtt_p50_ms"].items())
        add(f"One thread writes {lag['batch']} new points every {lag['interval_ms']:.0f} ms (target "
            f"{fmt(lag['target_points_s'])} points/s, achieved {fmt(lag['achieved_points_s'])}; ack p50 "
            f"{fmt(lag['ack_p50_ms'], 1)} ms, p99 {fmt(lag['ack_p99_ms'], 1)} ms) for {lag['seconds']:.0f} s. After "
            "each acknowledged write a sampler asks each node directly "
            "(`POST /v1/cluster/collections/lag/count`, `consistency=\"session\"`, `min_seqs` = the sequences just "
            "acknowledged) and records acknowledgement -> answer; the first second is dropped. "
            f"{lag['sampled_writes']} writes sampled, {lag['skipped_writes']} skipped (a newer one was "
            "acknowledged while the nodes were still being asked). The time includes one HTTP round trip: idle, a "
            f"count that waits for nothing takes p50 {idle}.\n")
        add("| node | samples | p50 ms | p99 ms | max ms | errors |")
        add("| --- | ---: | ---: | ---: | ---: | ---: |")
        for k, x in lag["nodes"].items():
            add(f"| {k} | {x['samples']} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['max_ms']:.1f} | {x['errors']} |")
        o = lag["overall"]
        add(f"| **all** | {o['samples']} | **{o['p50_ms']:.1f}** | **{o['p99_ms']:.1f}** | {o['max_ms']:.1f} | |")
    if lag.get("error"):
        add(f"error: {lag['error']}")
    add("")

    # --- projection
    add("## Projection to 3 machines (on paper, not measured)\n")
    add(projection(data, n, baseline))
    add("")
    add("## Notes\n")
    for note in run.get("notes", []):
        add(f"- {note}")
    if lag.get("nodes") and lag["achieved_points_s"] < 0.9 * lag["target_points_s"]:
        add(f"- The lag writer could not hold {fmt(lag['target_points_s'])} points/s: one 100-point write takes "
            f"{fmt(lag['ack_p50_ms'], 1)} ms p50 (HTTP to a node, 4 shard messages, quorum acks) on this loaded "
            f"machine, so it wrote {fmt(lag['achieved_points_s'])} points/s back to back; the lag is measured at "
            "that rate.")
    add("- Cluster searches here are exact (unsealed shards) and cost far more node CPU per query than one "
        "node's HNSW search; most of the difference is OpenBLAS threads of three processes on 2 cores (see the "
        "diagnostic rows) plus ~3 HTTP requests per query instead of 1.")
    add("- Every number shares the 2 cores with other sessions' work (load average in the header); medians of 3 "
        "repeats, all runs listed: spreads of 1.5-2x between runs of the same case are common here.")
    start_s = fmt(data.get("cluster.start", {}).get("seconds"), 1)
    add(f"- Cluster start (3 nats-servers, JetStream meta leader, 3 nodes joined): {start_s} s.")
    path.write_text("\n".join(L) + "\n")


def load_range(data: dict[str, Any]) -> str:
    loads = [x for v in data.values() if isinstance(v, dict) for x in v.get("loadavg_1m", [])]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "?"


def projection(data: dict[str, Any], n: int, baseline: float) -> str:
    """From the measured CPU per point / per query, what 3 machines of 2 cores would do."""
    cw = data.get("write.cluster", {})
    cs = data.get("search.cluster", {})
    cu = data.get("catchup", {})
    raw = data.get("write.raw", {})
    htp = data.get("single.http", {})
    parts = []
    try:
        e = cw["t1"][len(cw["t1"]) // 2]
        c = e["cpu_until_applied"]
        nodes, nats, client = c["nodes"] / n, c["nats"] / n, c["client"] / n
        # one client sends every write to the same node: the other two only apply
        per_node = sorted(c[f"node{i}"] / n for i in range(3))
        apply_pp = (per_node[0] + per_node[1]) / 2
        ingest = per_node[2] - apply_pp
        cu_apply = med([x["node_cpu_apply_s"] for x in cu.get("runs", [])]) / n if cu.get("runs") else float("nan")
        total = nodes + nats
        one_node = med(htp["write"]["server_cpu_s"]) / n
        raw_nats = med(raw.get("r3.msgid", {}).get("nats_cpu_s", [])) / n if raw.get("r3.msgid") else float("nan")
        parts.append(
            f"**Writes.** Measured over one client's write until every replica applied it: the 3 nodes spent "
            f"{nodes * 1e6:.0f} µs CPU per point, the 3 nats-servers {nats * 1e6:.0f} µs (raw JetStream R3 alone: "
            f"{raw_nats * 1e6:.0f} µs), the client {client * 1e6:.0f} µs. The client sends every batch to one node, "
            f"so the two others only apply: a replica applies a point for ~{apply_pp * 1e6:.0f} µs CPU (a "
            f"returning replica in catch-up: {cu_apply * 1e6:.0f} µs), and the receiving node spends "
            f"~{max(ingest, 0) * 1e6:.0f} µs more (HTTP, validation, encoding, publish). The cluster as a whole "
            f"needs ~{total * 1e6:.0f} µs of CPU per "
            f"point, wherever it runs. Here those {total * 1e6:.0f} µs plus the client's share 2 cores: a ceiling of "
            f"~{2 / (total + client):,.0f} points/s. On 3 machines of 2 cores (one nats-server and one node each, "
            f"clients elsewhere, writes spread over the nodes) every machine carries a third of it: a CPU ceiling of "
            f"~{6 / total:,.0f} points/s, 3x here; one `lakebed serve` node alone spends "
            f"~{one_node * 1e6:.0f} µs of server CPU per point, a ceiling of ~{2 / one_node:,.0f} points/s on one "
            f"such machine "
            f"(replicas=3 on 3 nodes means every node applies every point: replication buys availability, not "
            f"write capacity; more machines than replicas would spread shards and add capacity). One client doing "
            f"one batch at a time stays latency-bound (its batch round trip, plus the network's, ~0.1-0.5 ms per "
            f"hop in a datacenter).")
    except (KeyError, TypeError, IndexError, ZeroDivisionError) as exc:
        parts.append(f"(write projection unavailable: {exc!r})")
    try:
        s = cs["search"]["t1"]
        i = int(np.argsort(s["qps"])[len(s["qps"]) // 2])
        node_q = s["cpu"][i]["nodes"] / s["queries"]
        client_q = (s["cpu"][i]["client"]) / s["queries"]
        d1, d4 = cs["direct_1_shards"]["node_cpu_ms"] / 1000, cs["direct_4_shards"]["node_cpu_ms"] / 1000
        per_shard = max((d4 - d1) / 3, 0.0)
        per_req = max(d1 - per_shard, 0.0)
        hs = htp.get("search", {}).get("t1")
        one = ""
        if hs:
            j = int(np.argsort(hs["qps"])[len(hs["qps"]) // 2])
            srv = hs["cpu"][j]["server"] / hs["queries"]
            one = (f" One HTTP node holding everything spends {srv * 1e3:.2f} ms of server CPU per query: "
                   f"~{2 / srv:,.0f} QPS on one 2-core machine.")
        parts.append(
            f"**Search.** Per query the nodes spent {node_q * 1e3:.2f} ms CPU in all (the client "
            f"{client_q * 1e3:.2f} ms). Asked directly, a node request costs ~{per_req * 1e3:.2f} ms CPU plus "
            f"~{per_shard * 1e3:.2f} ms per shard searched (1 shard {d1 * 1e3:.2f} ms, 4 shards {d4 * 1e3:.2f} ms). "
            f"3 machines of 2 cores, clients elsewhere: ~{6 / node_q:,.0f} QPS if the nodes' CPU were the only "
            f"limit (the same per-query cost spread over 6 cores instead of 2, where it also competes with the "
            f"client).{one} A cluster query makes ~3 node requests (4 shards over 3 replicas): ~3 x "
            f"{per_req * 1e3:.1f} + 4 x {per_shard * 1e3:.1f} ms; with replicas=3 any node can answer every shard, "
            f"so one request per query would cost ~{(per_req + 4 * per_shard) * 1e3:.1f} ms. The shards here are "
            "unindexed (below `segment_size`): exact search over ~13.7k points per shard.")
    except (KeyError, TypeError, IndexError, ZeroDivisionError) as exc:
        parts.append(f"(search projection unavailable: {exc!r})")
    try:
        apply_pp = med([x["node_cpu_apply_s"] for x in cu["runs"]]) / n
        up = med([x["baseline_restart"]["ready_s"] for x in cu["runs"]])
        parts.append(
            f"**Catch-up.** A returning replica applied a point for ~{apply_pp * 1e6:.0f} µs CPU; its 4 apply threads "
            f"share one process (GIL), so on an otherwise idle machine it would apply up to ~{1 / apply_pp:,.0f} "
            f"points/s (one core's worth). The restart itself (~{up:.1f} s here until the node answers, with "
            f"nothing to apply) does not shrink with more machines: {n:,} points would take ~{up + n * apply_pp:.1f} "
            f"s from restart, {n / (up + n * apply_pp):,.0f} points/s; the 20k points/s target needs either larger "
            "backlogs (the restart amortized) or a cheaper start.")
    except (KeyError, TypeError, IndexError, ZeroDivisionError) as exc:
        parts.append(f"(catch-up projection unavailable: {exc!r})")
    parts.append("**Failover and lag** are timing-bound (JetStream's Raft election, the nodes' 1.5 s acknowledgement "
                 "timeout and reconnects; apply latency) rather than CPU-bound: expect similar values on 3 machines, "
                 "plus network round trips.")
    return "\n\n".join(parts)


# ------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke sizes: 10k vectors, 1 repeat, 200 queries")
    ap.add_argument("--points", type=int, default=0, help="vectors written (default: all 55,013; --quick 10,000)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="2,4", help="concurrent client threads of the cluster write case")
    ap.add_argument("--lag-seconds", type=float, default=20.0)
    ap.add_argument("--failovers", type=int, default=3)
    ap.add_argument("--parts", default="single,raw,write,search,lag,catchup,failover,diag")
    ap.add_argument("--data-dir", default="/tmp/cbench")
    ap.add_argument("--report", default=str(HERE / "results" / "cluster.md"))
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.points = args.points or 10_000
        args.repeats = 1
        args.queries = min(args.queries, 200)
        args.lag_seconds = 6.0
        args.failovers = 1
    root = Path(args.data_dir)
    if args.report_only:
        write_report(Results(root / "results.json").data, Path(args.report))
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    res = Results(root / "results.json")
    parts = args.parts.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    t_run = time.perf_counter()
    d = Data(args.points or 10**9, args.queries)
    print(f"data: {d.n:,} vectors, {len(d.queries):,} queries; ground truth: {d.gt_source}", flush=True)
    res.put("run", {"started": now_utc(), "src": src_state(), "argv": sys.argv[1:], "points": d.n,
                    "queries": len(d.queries),
                    "repeats": args.repeats, "threads": threads, "gt_source": d.gt_source, "machine": machine_info(),
                    "notes": []})
    reps = args.repeats

    if "single" in parts:
        guarded(res, "single.embedded", lambda: embedded(root, d, reps, [1, 4]))
        guarded(res, "single.http", lambda: http_node(root, d, reps, [1, 4]))

    cluster_parts = {"raw", "write", "search", "lag", "catchup", "failover", "diag"} & set(parts)
    if cluster_parts:
        lc = None
        try:
            t0 = time.perf_counter()
            lc = start_cluster(root / "cluster")
            res.put("cluster.start", {"seconds": time.perf_counter() - t0, "nats_urls": lc.nats_urls,
                                      "nodes": [lc.node_url(i) for i in range(3)]})
            if "raw" in parts:
                import _cluster_raw as raw

                msgs = raw.build_messages(d.ids, d.base, SHARDS, BATCH)
                guarded(res, "write.raw", lambda: raw.raw_publish(
                    lc.nats_urls, msgs, d.n, SHARDS, reps,
                    cpu=lambda: sum(proc_cpu(p.pid) for p in lc.nats if p is not None)))
                del msgs
            if "write" in parts or "search" in parts or "diag" in parts:
                guarded(res, "write.cluster", lambda: cluster_writes(lc, d, reps, threads if "write" in parts else []))
            if "search" in parts:
                guarded(res, "search.cluster", lambda: cluster_search(lc, d, reps, [1, 4]))
            if "lag" in parts:
                guarded(res, "lag", lambda: replication_lag(lc, d, args.lag_seconds))
            if "catchup" in parts:
                guarded(res, "catchup", lambda: catchup(lc, d, reps))
            if "failover" in parts:
                import _cluster_raw as raw

                fo_msgs = raw.build_messages(d.ids[:100], d.base[:100], SHARDS, 100)[0]
                guarded(res, "failover.raw", lambda: raw.raw_failover(outage, lc.nats_urls, fo_msgs, lc.kill_nats,
                                                                      lc.start_nats, args.failovers))
                guarded(res, "failover", lambda: failover_after_raw(lc, d, args.failovers))
                res.put("node_logs", scan_node_logs(root / "cluster"))
            if "diag" in parts:
                def diag() -> dict[str, Any]:
                    restart = restart_nodes(lc, {"OPENBLAS_NUM_THREADS": "1"})
                    return {"restart_s": restart, **cluster_search(lc, d, reps, [1, 4], label="cluster (BLAS 1)")}
                guarded(res, "search.cluster_blas1", diag)
        finally:
            if lc is not None:
                stop_cluster(lc)
    res.put("run_end", {"finished": now_utc(), "duration_s": time.perf_counter() - t_run})
    write_report(res.data, Path(args.report))
    print(f"wrote {args.report} ({(time.perf_counter() - t_run) / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
