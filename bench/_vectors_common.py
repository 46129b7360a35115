"""Shared pieces of ``bench/vectors.py``: the dataset, filters, recall, timing, memory, disk.

Everything here is deliberately free of any system under test so that every worker
process measures the same way.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _datasets import dataset_dir

# $LAKEBED_ANN_DEV names this dataset alone; $LAKEBED_DATASETS the folder of all of them.
DATASET = Path(os.environ["LAKEBED_ANN_DEV"]) if os.environ.get("LAKEBED_ANN_DEV") else dataset_dir("ann-dev")
K = 10
TARGET_RECALL = 0.95

# The three filtered query sets of the dataset (README: "Filters"); each is given in every
# dialect the systems speak, so that all of them answer exactly the same question.
FILTERS: dict[str, dict[str, Any]] = {
    "f1": {
        "text": 'source == "man" AND 2020 <= year <= 2021',
        "mongo": {"source": "man", "year": {"$gte": 2020, "$lte": 2021}},
        "chroma": {"$and": [{"source": "man"}, {"year": {"$gte": 2020}}, {"year": {"$lte": 2021}}]},
        "sql": "source = 'man' AND year >= 2020 AND year <= 2021",
    },
    "f10": {
        "text": "1995 <= year <= 1997",
        "mongo": {"year": {"$gte": 1995, "$lte": 1997}},
        "chroma": {"$and": [{"year": {"$gte": 1995}}, {"year": {"$lte": 1997}}]},
        "sql": "year >= 1995 AND year <= 1997",
    },
    "f50": {
        "text": "year >= 2010",
        "mongo": {"year": {"$gte": 2010}},
        "chroma": {"year": {"$gte": 2010}},
        "sql": "year >= 2010",
    },
}


def filter_mask(name: str, source: np.ndarray, year: np.ndarray) -> np.ndarray:
    """Boolean mask of the base rows matching filter ``name`` (the reference definition)."""
    if name == "f1":
        return (source == "man") & (year >= 2020) & (year <= 2021)
    if name == "f10":
        return (year >= 1995) & (year <= 1997)
    if name == "f50":
        return year >= 2010
    raise KeyError(name)


@dataclass
class Data:
    """The benchmark's data: float32 base and queries, payloads, ground truth (top-K ids)."""

    base: np.ndarray
    queries: np.ndarray
    payload_columns: dict[str, np.ndarray]
    gt: np.ndarray
    gt_filtered: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    quick: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.base.shape[0])

    @property
    def dim(self) -> int:
        return int(self.base.shape[1])

    def payloads(self) -> list[dict[str, Any]]:
        """One JSON dict per base row (all payload fields except the id)."""
        cols = self.payload_columns
        names = [c for c in cols if c != "id"]
        out: list[dict[str, Any]] = []
        lists = {c: cols[c].tolist() for c in names}
        for i in range(self.n):
            out.append({c: lists[c][i] for c in names})
        return out


def brute_force_topk(base: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Exact top-k ids by inner product (ties by smaller id), optionally among ``mask`` rows."""
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    ids = np.arange(base.shape[0]) if mask is None else np.flatnonzero(mask)
    sub = base if mask is None else base[ids]
    for s in range(0, queries.shape[0], 256):
        scores = queries[s : s + 256] @ sub.T
        # lexsort: primary key -score, secondary id, so ties go to the smaller id like the dataset
        for j in range(scores.shape[0]):
            kk = min(k + 32, scores.shape[1] - 1)
            top = np.argpartition(-scores[j], kk)[: kk + 1]
            order = np.lexsort((ids[top], -scores[j][top]))[:k]
            out[s + j] = ids[top[order]]
    return out


def load(quick: bool = False, quick_n: int = 10_000, quick_q: int = 200) -> Data:
    """Load ann-dev; ``quick`` keeps the first ``quick_n`` base rows and recomputes ground truth."""
    import pyarrow.parquet as pq

    base = np.load(DATASET / "base_vectors.f16.npy").astype(np.float32)
    queries = np.load(DATASET / "query_vectors.f16.npy").astype(np.float32)
    table = pq.read_table(DATASET / "base_payload.parquet")
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    if not np.array_equal(cols["id"], np.arange(base.shape[0])):
        raise RuntimeError("base_payload.parquet rows are expected in id order 0..n-1")
    masks_full = {f: filter_mask(f, cols["source"], cols["year"]) for f in FILTERS}
    if not quick:
        gt = np.load(DATASET / "gt_top100.i32.npy")[:, :K].astype(np.int64)
        gtf = {f: np.load(DATASET / f"gt_top100_{f}.i32.npy")[:, :K].astype(np.int64) for f in FILTERS}
        return Data(base, queries, cols, gt, gtf, masks_full)
    base = np.ascontiguousarray(base[:quick_n])
    queries = np.ascontiguousarray(queries[:quick_q])
    cols = {c: v[:quick_n] for c, v in cols.items()}
    masks = {f: m[:quick_n] for f, m in masks_full.items()}
    gt = brute_force_topk(base, queries, K)
    gtf = {f: brute_force_topk(base, queries, K, masks[f]) for f in FILTERS}
    return Data(base, queries, cols, gt, gtf, masks, quick=True,
                notes=[f"quick: first {quick_n} base rows, first {quick_q} queries, ground truth recomputed"])


def recall_at_k(results: Sequence[Sequence[int]], gt: np.ndarray, k: int = K) -> float:
    """Mean |result[:k] ∩ gt[:k]| / k over the queries that were run."""
    total = 0.0
    for i, res in enumerate(results):
        total += len(set(int(x) for x in list(res)[:k]) & set(gt[i, :k].tolist())) / k
    return total / max(1, len(results))


def short_count(results: Sequence[Sequence[int]], k: int = K) -> int:
    """How many queries returned fewer than k valid ids (FAISS pads with -1)."""
    return sum(1 for r in results if sum(1 for x in r if int(x) >= 0) < k)


@dataclass
class Timing:
    qps: float
    p50_ms: float
    p99_ms: float
    n: int
    repeats: int
    results: list[list[int]]
    all_qps: list[float]


def time_single(
    fn: Callable[[np.ndarray], Sequence[int]],
    queries: np.ndarray,
    repeats: int = 3,
    budget_s: float = 90.0,
) -> Timing:
    """One query at a time over all queries, ``repeats`` times; QPS = median over repeats.

    A system too slow to run every query within ``budget_s`` is measured on the first queries
    that fit (``n`` says how many), so one slow peer cannot eat the whole time budget.
    """
    n_total = queries.shape[0]
    runs: list[tuple[float, list[float], list[list[int]]]] = []
    n_run = n_total
    for rep in range(repeats):
        lat: list[float] = []
        res: list[list[int]] = []
        start = time.perf_counter()
        for i in range(n_run):
            t0 = time.perf_counter()
            r = fn(queries[i])
            lat.append(time.perf_counter() - t0)
            res.append([int(x) for x in r])
            if rep == 0 and time.perf_counter() - start > budget_s and i + 1 < n_total:
                n_run = i + 1
                break
        elapsed = time.perf_counter() - start
        runs.append((len(lat) / elapsed, lat, res))
        if elapsed > budget_s / 3:  # slow system: more repeats would not change the picture
            break
    qps_list = [r[0] for r in runs]
    med = statistics.median(qps_list)
    pick = min(runs, key=lambda r: abs(r[0] - med))
    lat_ms = np.array(pick[1]) * 1000.0
    return Timing(
        qps=float(med),
        p50_ms=float(np.percentile(lat_ms, 50)),
        p99_ms=float(np.percentile(lat_ms, 99)),
        n=len(pick[1]),
        repeats=len(runs),
        results=runs[0][2],
        all_qps=qps_list,
    )


def time_batch(fn: Callable[[np.ndarray], list[list[int]]], queries: np.ndarray, repeats: int = 3,
               budget_s: float = 90.0) -> tuple[float, list[list[int]], int]:
    """All queries in one call; QPS = median over repeats; returns (qps, results, n)."""
    qps: list[float] = []
    results: list[list[int]] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        results = fn(queries)
        el = time.perf_counter() - t0
        qps.append(queries.shape[0] / el)
        if el > budget_s / 3:
            break
    return float(statistics.median(qps)), results, queries.shape[0]


def rss_bytes() -> int:
    """Current resident set size of this process."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def anon_bytes() -> int:
    """Anonymous (heap) resident memory of this process: RSS without the pages of files it
    maps, which the kernel can drop and re-read (Linux ``RssAnon``; 0 where unknown)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def disk_bytes(path: str | Path) -> int:
    """Apparent size of every file under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def set_threads(n: int) -> None:
    """Set FAISS's OpenMP threads (used by raw FAISS and by lakebed, whose kernel is FAISS)."""
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass
