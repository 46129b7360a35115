"""Vector search benchmark: lakebed against raw FAISS, hnswlib, Chroma, LanceDB and Qdrant local.

Runs every system on the same data (``../shared/datasets/ann-dev``: 55,013 MiniLM vectors,
1,000 queries, exact ground truth unfiltered and for three filters), each system in its own
subprocesses (one to build, a fresh one to reopen and query) so that peak memory is per system.
Prints a table with ratios and writes ``bench/results/vectors.md``.

Usage (run heavy work under the machine-wide lock)::

    /work/venv-vbench/bin/python bench/vectors.py      # takes /tmp/lakebed-bench.lock per system
    python bench/vectors.py --quick                    # smoke run: 10k base rows, 200 queries
    python bench/vectors.py --systems faiss-hnsw,hnswlib --no-report
    python bench/vectors.py --report-only              # rebuild the report from cached results
    python bench/vectors.py --scale                    # 1M synthetic vectors into lakebed (locked)

Threads: FAISS (raw and inside lakebed) runs with ``omp_set_num_threads(1)`` for single-query
timing and 2 (all cores) for batch; hnswlib likewise (num_threads=1 / 2); Chroma, LanceDB and
Qdrant use their own defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ORDER = [
    "faiss-hnsw", "lakebed-hnsw", "faiss-hnsw-int8", "lakebed-hnsw-int8", "faiss-ivf_pq", "lakebed-ivf_pq",
    "hnswlib", "chroma", "lancedb", "qdrant-local",
]
# the systems whose single-query QPS decide the ratios: run in interleaved rounds (--rounds)
ROUNDED = ["faiss-hnsw", "lakebed-hnsw", "faiss-hnsw-int8", "lakebed-hnsw-int8", "faiss-ivf_pq", "lakebed-ivf_pq",
           "hnswlib"]
DEFAULT_CACHE = Path(os.environ.get("LAKEBED_VBENCH_CACHE", "/tmp/lakebed-vbench-results"))
RSS_LIMIT = 20 * 2**30  # stay well inside the shared 24 GiB machine


def _adapter_class(name: str) -> Any:
    from _vectors_systems import SYSTEMS

    if name.startswith("lakebed"):
        from _vectors_lakebed import LAKEBED_SYSTEMS

        return LAKEBED_SYSTEMS[name]
    return SYSTEMS[name]


def memory_watchdog(limit: int = RSS_LIMIT) -> None:
    """Kill this process if it grows past ``limit`` or the machine runs short of memory."""
    import psutil

    def watch() -> None:
        proc = psutil.Process()
        while True:
            rss = proc.memory_info().rss
            avail = psutil.virtual_memory().available
            if rss > limit or avail < 1.5 * 2**30:
                sys.stderr.write(f"vectors bench: memory guard hit (rss={rss >> 20} MiB, "
                                 f"available={avail >> 20} MiB); aborting\n")
                os._exit(3)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


# --------------------------------------------------------------------------- worker


def worker_build(name: str, workdir: Path, quick: bool) -> dict[str, Any]:
    from _vectors_common import disk_bytes, load, peak_rss_bytes, rss_bytes

    data = load(quick)
    cls = _adapter_class(name)
    ad = cls(workdir, data)
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    info = ad.build()
    build_s = time.perf_counter() - t0
    return {
        "build_s": build_s,
        "build_info": info,
        "build_peak_rss": peak_rss_bytes(),
        "build_rss_before": rss0,
        "disk_bytes": disk_bytes(workdir),
    }


def worker_query(name: str, workdir: Path, quick: bool) -> dict[str, Any]:
    from _vectors_common import (
        FILTERS,
        TARGET_RECALL,
        anon_bytes,
        load,
        peak_rss_bytes,
        recall_at_k,
        rss_bytes,
        set_threads,
        short_count,
        time_batch,
        time_single,
    )

    data = load(quick)
    cls = _adapter_class(name)
    ad = cls(workdir, data)
    rss0, anon0 = rss_bytes(), anon_bytes()
    t0 = time.perf_counter()
    ad.open()
    reopen_s = time.perf_counter() - t0
    rss_open = rss_bytes()
    set_threads(1)
    ad.set_threads(1)
    q = data.queries
    out: dict[str, Any] = {"reopen_s": reopen_s, "rss_before_open": rss0, "rss_after_open": rss_open,
                           "anon_before_open": anon0,
                           "n_base": data.n, "n_queries": int(q.shape[0]), "notes": list(ad.notes)}
    if ad.knob is not None:
        ad.set_knob(ad.knob_default)
    # warm caches, lazy loads and memory-mapped pages: one pass over the queries (10 s at most)
    t_warm = time.perf_counter()
    for i in range(q.shape[0]):
        ad.search(q[i])
        if time.perf_counter() - t_warm > 10:
            break

    sweep: list[dict[str, Any]] = []
    chosen = ad.knob_default
    if ad.knob is not None:
        reached_at = None
        best = (-1.0, ad.knob_default)
        for v in ad.knob_values:
            ad.set_knob(v)
            if ad.knob is None:  # the adapter gave up on the knob
                break
            t = time_single(ad.search, q, repeats=1, budget_s=60)
            rec = recall_at_k(t.results, data.gt)
            sweep.append({"value": v, "recall": rec, "qps": t.qps, "p50_ms": t.p50_ms, "n": t.n})
            print(f"  [{name}] {ad.knob}={v}: recall {rec:.4f}  {t.qps:,.0f} QPS", flush=True)
            if rec > best[0]:
                best = (rec, v)
            if rec >= TARGET_RECALL and reached_at is None:
                reached_at = len(sweep)
            if reached_at is not None and (len(sweep) - reached_at >= 2 or rec >= 0.995):
                break
        hit = [s for s in sweep if s["recall"] >= TARGET_RECALL]
        chosen = hit[0]["value"] if hit else best[1]
        if ad.knob is not None:
            ad.set_knob(chosen)
    out["knob"] = ad.knob
    out["knob_value"] = chosen
    out["sweep"] = sweep

    t = time_single(ad.search, q, repeats=5)
    out["single"] = {"qps": t.qps, "p50_ms": t.p50_ms, "p99_ms": t.p99_ms, "n": t.n, "repeats": t.repeats,
                     "all_qps": t.all_qps, "recall": recall_at_k(t.results, data.gt)}
    print(f"  [{name}] single: recall {out['single']['recall']:.4f} {t.qps:,.0f} QPS "
          f"p50 {t.p50_ms:.2f} ms p99 {t.p99_ms:.2f} ms (n={t.n})", flush=True)
    set_threads(2)
    ad.set_threads(2)
    try:
        # a system slower than ~50 QPS gets a batch of what it answers in about a minute
        nb = q.shape[0] if t.qps * 60 >= q.shape[0] else max(10, int(t.qps * 60))
        bqps, bres, bn = time_batch(ad.search_batch, q[:nb], repeats=3)
        out["batch"] = {"qps": bqps, "recall": recall_at_k(bres, data.gt[:nb]), "n": bn}
        print(f"  [{name}] batch: {bqps:,.0f} QPS", flush=True)
    except Exception as exc:  # a peer without a usable batch API
        out["batch"] = {"error": f"{type(exc).__name__}: {exc}"}
    set_threads(1)
    ad.set_threads(1)

    out["filtered"] = {}
    if ad.supports_filter:
        for f in FILTERS:
            try:
                t = time_single(lambda v, f=f: ad.search_filtered(v, f), q, repeats=3, budget_s=60)
                gt = data.gt_filtered[f][: t.n]
                rec = recall_at_k(t.results, gt)
                valid = all(bool(data.masks[f][i]) for r in t.results for i in r if i >= 0)
                entry: dict[str, Any] = {"qps": t.qps, "p50_ms": t.p50_ms, "p99_ms": t.p99_ms, "recall": rec,
                                         "n": t.n, "short": short_count(t.results), "all_match": valid}
                if hasattr(ad, "explain"):
                    entry["plan"] = ad.explain(q[0], f)
                out["filtered"][f] = entry
                print(f"  [{name}] {f}: recall {rec:.4f} {t.qps:,.0f} QPS short={entry['short']} "
                      f"(n={t.n})", flush=True)
            except Exception as exc:
                out["filtered"][f] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"  [{name}] {f}: ERROR {exc!r}", flush=True)
    out["rss_end"] = rss_bytes()
    out["anon_end"] = anon_bytes()
    out["query_peak_rss"] = peak_rss_bytes()
    out["stats"] = ad.stats()
    ad.close()
    return out


def run_worker(args: argparse.Namespace) -> int:
    memory_watchdog()
    workdir = Path(args.workdir)
    if args.phase == "build":
        res = worker_build(args.worker, workdir, args.quick)
    else:
        res = worker_query(args.worker, workdir, args.quick)
    Path(args.out).write_text(json.dumps(res, indent=1, default=str))
    return 0


# --------------------------------------------------------------------------- orchestration


def _subprocess(argv: list[str], timeout: float) -> tuple[int, str]:
    proc = subprocess.run(argv, stdout=None, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return proc.returncode, proc.stderr[-4000:]


@contextlib.contextmanager
def bench_lock(path: str | None) -> Iterator[None]:
    """Hold the machine-wide benchmark lock (the one ``flock(1)`` uses) around one system,
    so other benchmarks interleave between systems but never overlap a measurement."""
    if not path:
        yield
        return
    import fcntl

    with open(path, "a") as fh:
        t0 = time.perf_counter()
        fcntl.flock(fh, fcntl.LOCK_EX)
        waited = time.perf_counter() - t0
        if waited > 1:
            print(f"  (waited {waited:.0f} s for {path})", flush=True)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_system(name: str, quick: bool, cache: Path, tmp_root: Path, lock: str | None = None) -> dict[str, Any]:
    """Build then query ``name`` in two fresh subprocesses; returns the merged result."""
    with bench_lock(lock):
        return _run_system(name, quick, cache, tmp_root)


def _run_system(name: str, quick: bool, cache: Path, tmp_root: Path) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"vbench-{name}-", dir=tmp_root))
    result: dict[str, Any] = {"system": name, "quick": quick, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                     time.gmtime())}
    try:
        for phase in ("build", "query"):
            out = workdir.parent / f"{workdir.name}.{phase}.json"
            argv = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--phase", phase,
                    "--workdir", str(workdir), "--out", str(out)] + (["--quick"] if quick else [])
            print(f"[{name}] {phase} ...", flush=True)
            t0 = time.perf_counter()
            try:
                rc, err = _subprocess(argv, timeout=1800)
            except subprocess.TimeoutExpired:
                rc, err = -1, "timed out after 1800 s"
            if rc != 0 or not out.exists():
                result["error"] = f"{phase} failed (rc={rc}): {err.strip()[-1500:]}"
                print(f"[{name}] {phase} FAILED rc={rc}\n{err[-1500:]}", flush=True)
                break
            result[phase] = json.loads(out.read_text())
            out.unlink()
            print(f"[{name}] {phase} done in {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{name}{'.quick' if quick else ''}.json").write_text(json.dumps(result, indent=1))
    return result


def merge_rounds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several rounds of a system: QPS figures are the medians over the
    rounds; latencies come from the round whose single-query QPS is the median."""
    import statistics

    ok = [r for r in runs if "query" in r and "error" not in r]
    if not ok:
        return runs[-1]
    single = [r["query"]["single"]["qps"] for r in ok]
    med = statistics.median(single)
    base = json.loads(json.dumps(min(ok, key=lambda r: abs(r["query"]["single"]["qps"] - med))))
    q = base["query"]
    q["single"]["qps"] = med
    q["single"]["round_qps"] = single
    if all("batch" in r["query"] for r in ok):
        q["batch"]["qps"] = statistics.median(r["query"]["batch"]["qps"] for r in ok)
    for f in q.get("filtered", {}):
        vals = [r["query"]["filtered"][f]["qps"] for r in ok if f in r["query"].get("filtered", {})]
        q["filtered"][f]["qps"] = statistics.median(vals)
        q["filtered"][f]["round_qps"] = vals
    for i, row in enumerate(q.get("sweep", [])):
        vals = [r["query"]["sweep"][i]["qps"] for r in ok if len(r["query"].get("sweep", [])) > i]
        row["qps"] = statistics.median(vals)
    if all("build_s" in r.get("build", {}) for r in ok):
        base["build"]["build_s"] = statistics.median(r["build"]["build_s"] for r in ok)
    base["rounds"] = len(ok)
    return base


def lakebed_usable() -> tuple[bool, str]:
    """Can lakebed create, fill, flush and search a tiny collection (in a subprocess)?"""
    code = (
        "import numpy as np, lakebed\n"
        "lake = lakebed.connect(':memory:')\n"
        "col = lake.collections.create('t', dim=8, metric='cosine')\n"
        "x = np.random.default_rng(0).standard_normal((50, 8)).astype('float32')\n"
        "col.upsert(list(range(50)), x, [{'y': i} for i in range(50)])\n"
        "col.flush()\n"
        "h = col.search(x[3], k=5)\n"
        "assert int(h[0].id) == 3, h\n"
        "lake.close()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, (proc.stderr.strip().splitlines() or [""])[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run on a 10k subset and 200 queries")
    p.add_argument("--systems", default=",".join(ORDER), help="comma-separated systems to run")
    p.add_argument("--skip", default="", help="comma-separated systems to skip")
    p.add_argument("--report-only", action="store_true", help="write the report from cached results")
    p.add_argument("--no-report", action="store_true", help="run, cache, but do not write the report")
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help="directory of per-system JSON results")
    p.add_argument("--out", default=str(HERE / "results" / "vectors.md"), help="the results file")
    p.add_argument("--lock", default="/tmp/lakebed-bench.lock",
                   help="machine-wide lock held around each system ('' = none, e.g. under flock(1))")
    p.add_argument("--lock-scope", default="run", choices=["run", "system"],
                   help="hold the lock for the whole run (default) or around each system")
    p.add_argument("--with-scale", action="store_true", help="also do the scale run, inside the same lock")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds of lakebed and its kernels (FAISS, hnswlib); QPS = median")
    p.add_argument("--tmp", default=None, help="where indexes are built (default: system temp dir)")
    p.add_argument("--scale", action="store_true", help="the 1M synthetic-vector scale run into lakebed")
    p.add_argument("--scale-n", type=int, default=1_000_000)
    p.add_argument("--scale-index", default="int8", choices=["ivf_pq", "int8"])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--scale-worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.script = str(Path(__file__).resolve())
    if args.worker:
        return run_worker(args)
    from _vectors_report import write_report

    cache = Path(args.cache)
    if args.scale_worker:
        from _vectors_scale import run_scale_worker

        memory_watchdog()
        return run_scale_worker(args)
    if args.scale:
        from _vectors_scale import run_scale

        with bench_lock(args.lock or None):
            res = run_scale(args, cache)
        print(json.dumps(res, indent=1))
        if not args.no_report:
            write_report(cache, Path(args.out), quick=False)
        return 0 if "error" not in res else 1
    if not args.report_only:
        # one acquisition for the whole run (default) or one per system
        with bench_lock(args.lock or None if args.lock_scope == "run" else None):
            _run_all(args, cache)
    if not args.no_report:
        text = write_report(cache, Path(args.out), quick=args.quick)
        print(text)
    return 0


def _run_all(args: argparse.Namespace, cache: Path) -> None:
    per_system_lock = args.lock or None if args.lock_scope == "system" else None
    tmp_root = Path(args.tmp or tempfile.gettempdir())
    skip = {s for s in args.skip.split(",") if s}
    systems = [s for s in args.systems.split(",") if s and s not in skip]
    if any(s.startswith("lakebed") for s in systems):
        ok, why = lakebed_usable()
        if not ok:
            print(f"lakebed's engine is not usable yet ({why}); running the peers only", flush=True)
            systems = [s for s in systems if not s.startswith("lakebed")]
            cache.mkdir(parents=True, exist_ok=True)
            (cache / "lakebed-status.json").write_text(json.dumps({"usable": False, "why": why}))
        else:
            (cache / "lakebed-status.json").unlink(missing_ok=True)
    rounds = max(1, args.rounds)
    rounded = [s for s in systems if s in ROUNDED] if rounds > 1 else []
    for r in range(rounds if rounded else 1):
        # every round builds and queries each system afresh, in the same order, so that the
        # machine's slow minutes (it is shared) fall on lakebed and its kernels alike
        for s in rounded:
            if rounds > 1:
                print(f"== round {r + 1}/{rounds}: {s}", flush=True)
            res = run_system(s, args.quick, cache, tmp_root, per_system_lock)
            (cache / "rounds").mkdir(parents=True, exist_ok=True)
            (cache / "rounds" / f"{s}.r{r}.json").write_text(json.dumps(res))
    for s in rounded:
        merged = merge_rounds([json.loads((cache / "rounds" / f"{s}.r{r}.json").read_text()) for r in range(rounds)])
        (cache / f"{s}{'.quick' if args.quick else ''}.json").write_text(json.dumps(merged, indent=1))
    for s in systems:
        if s not in rounded:
            run_system(s, args.quick, cache, tmp_root, per_system_lock)
    if args.with_scale and not args.quick:
        from _vectors_scale import run_scale

        run_scale(args, cache)


if __name__ == "__main__":
    raise SystemExit(main())
