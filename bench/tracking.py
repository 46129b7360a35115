"""Benchmark: lakebed tracking vs MLflow (SQLite backend, local artifacts).

Workloads (same data on both sides, one process each, stores on the same filesystem):

1. logging: 100,000 metric points into one run, one call per point (10 keys x 10,000
   steps); MLflow's per-call ``log_metric`` is measured on a sample (``--mlflow-points``)
   and its rate extrapolated, and MLflow's ``log_batch`` (1,000 points per call) is
   measured on all points as its best case;
2. create 10,000 runs with 20 params and 10 metrics each (MLflow: create_run + log_batch +
   set_terminated, its cheapest path);
3. search the 10,000 runs with a two-condition filter
   ``metrics.m0 > 0.5 and params.p0 = 'v3'`` (about 5% match), median of repeats;
4. load the run list (all 10,000 runs with their params and metrics), median of repeats.

MLflow runs in its own virtualenv (``--mlflow-python``) as a subprocess of this script.

    flock /tmp/lakebed-bench.lock /work/venv/bin/python bench/tracking.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FILTER = "metrics.m0 > 0.5 and params.p0 = 'v3'"
N_KEYS = 10


def _run_data(i: int) -> tuple[dict[str, str], dict[str, float]]:
    rnd = random.Random(i)
    params = {f"p{k}": f"v{rnd.randrange(20)}" for k in range(20)}
    metrics = {f"m{k}": rnd.random() for k in range(10)}
    return params, metrics


def _median_time(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


# -- lakebed --------------------------------------------------------------------------
def bench_lakebed(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    import lakebed

    out: dict[str, Any] = {}
    with lakebed.connect(workdir / "lake") as lake:
        run = lake.runs.start(experiment="logging")
        t = time.perf_counter()
        for i in range(args.points):
            run.log_metric(f"m{i % N_KEYS}", i * 0.001, step=i // N_KEYS)
        run.end()  # includes the final flush: every point is in the catalog
        out["log_points_s"] = time.perf_counter() - t
        out["log_points"] = args.points

        t = time.perf_counter()
        for i in range(args.runs):
            params, metrics = _run_data(i)
            with lake.runs.start(experiment="bench") as r:
                r.log_params(params)
                r.log_metrics(metrics)
        out["create_runs_s"] = time.perf_counter() - t

        out["search_s"], res = _median_time(
            lambda: lake.runs.search(FILTER, experiment="bench", limit=args.runs), args.repeats
        )
        out["search_matches"] = res.num_rows
        out["list_s"], res = _median_time(lambda: lake.runs.search("", experiment="bench", limit=None), args.repeats)
        out["list_rows"] = res.num_rows
    return out


# -- MLflow (runs inside its own venv) ------------------------------------------------
def bench_mlflow(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    out: dict[str, Any] = {"version": mlflow.__version__}
    uri = f"sqlite:///{workdir}/mlflow.db"
    mlflow.set_tracking_uri(uri)  # for the fluent mlflow.search_runs below
    client = MlflowClient(tracking_uri=uri)
    art = f"file://{workdir}/artifacts"
    exp_log = client.create_experiment("logging", artifact_location=art)
    exp = client.create_experiment("bench", artifact_location=art)

    run = client.create_run(exp_log)
    n = min(args.mlflow_points, args.points)
    t = time.perf_counter()
    for i in range(n):
        client.log_metric(run.info.run_id, f"m{i % N_KEYS}", i * 0.001, step=i // N_KEYS)
    out["log_points_s"] = time.perf_counter() - t
    out["log_points"] = n

    run = client.create_run(exp_log)
    t = time.perf_counter()
    batch: list[Any] = []
    for i in range(args.points):
        batch.append(Metric(f"m{i % N_KEYS}", i * 0.001, int(time.time() * 1000), i // N_KEYS))
        if len(batch) == 1000:
            client.log_batch(run.info.run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run.info.run_id, metrics=batch)
    out["log_batch_s"] = time.perf_counter() - t

    t = time.perf_counter()
    for i in range(args.runs):
        params, metrics = _run_data(i)
        r = client.create_run(exp)
        now = int(time.time() * 1000)
        client.log_batch(
            r.info.run_id,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(r.info.run_id)
    out["create_runs_s"] = time.perf_counter() - t

    out["search_s"], res = _median_time(lambda: client.search_runs([exp], FILTER, max_results=args.runs), args.repeats)
    out["search_matches"] = len(res)
    out["list_s"], res = _median_time(lambda: client.search_runs([exp], "", max_results=args.runs), args.repeats)
    out["list_rows"] = len(res)
    out["list_df_s"], df = _median_time(
        lambda: mlflow.search_runs([exp], max_results=args.runs), max(1, args.repeats // 2)
    )
    out["list_df_rows"] = len(df)
    return out


def _fmt(x: float) -> str:
    return f"{x:.3f}" if x < 100 else f"{x:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--mlflow-points", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--mlflow-python", default="/work/venv-mlflow/bin/python")
    ap.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    ap.add_argument("--worker", choices=["mlflow", "lakebed"], help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "tracking.md"))
    args = ap.parse_args()

    if args.worker:
        work = Path(tempfile.mkdtemp(prefix=f"bench-{args.worker}-", dir=args.workdir))
        try:
            fn = bench_mlflow if args.worker == "mlflow" else bench_lakebed
            print("RESULT " + json.dumps(fn(work, args)), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return

    common = [
        "--runs",
        str(args.runs),
        "--points",
        str(args.points),
        "--mlflow-points",
        str(args.mlflow_points),
        "--repeats",
        str(args.repeats),
    ] + (["--workdir", args.workdir] if args.workdir else [])
    results: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()[0]
    for name, python in (("lakebed", sys.executable), ("mlflow", args.mlflow_python)):
        print(f"running {name} ...", flush=True)
        proc = subprocess.run(
            [python, __file__, "--worker", name, *common],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            sys.exit(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        results[name] = json.loads(line[len("RESULT ") :])
        print(f"  {results[name]}", flush=True)

    lb, ml = results["lakebed"], results["mlflow"]
    lb_rate = lb["log_points"] / lb["log_points_s"]
    ml_rate = ml["log_points"] / ml["log_points_s"]
    ml_batch_rate = args.points / ml["log_batch_s"]
    rows = [
        ("metric logging, points/s (one call per point)", lb_rate, ml_rate, lb_rate / ml_rate),
        ("  vs MLflow log_batch (1,000 points per call)", lb_rate, ml_batch_rate, lb_rate / ml_batch_rate),
        (
            f"create {args.runs:,} runs x 20 params x 10 metrics, s",
            lb["create_runs_s"],
            ml["create_runs_s"],
            ml["create_runs_s"] / lb["create_runs_s"],
        ),
        (f"search `{FILTER}`, ms", lb["search_s"] * 1e3, ml["search_s"] * 1e3, ml["search_s"] / lb["search_s"]),
        (
            f"load the run list ({args.runs:,} runs), ms",
            lb["list_s"] * 1e3,
            ml["list_s"] * 1e3,
            ml["list_s"] / lb["list_s"],
        ),
        (
            "  vs mlflow.search_runs -> pandas, ms",
            lb["list_s"] * 1e3,
            ml["list_df_s"] * 1e3,
            ml["list_df_s"] / lb["list_s"],
        ),
    ]
    table = ["| workload | lakebed | MLflow | lakebed speed-up |", "| --- | ---: | ---: | ---: |"]
    table += [f"| {w} | {_fmt(a)} | {_fmt(b)} | {r:.1f}x |" for w, a, b, r in rows]
    print("\n".join(table))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    md = [
        "# Tracking benchmark: lakebed vs MLflow",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"- MLflow {ml['version']} (SQLite backend, local file artifacts, MlflowClient API); "
        "lakebed with its embedded SQLite catalog",
        f"- stores on {args.workdir or 'the default temp dir'} for both (the same filesystem)",
        f"- 1-minute load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (the machine "
        "is shared; other work running at the same time slows both sides)",
        f"- parameters: {args.points:,} metric points (10 keys); {args.runs:,} runs with 20 params "
        f"and 10 metrics; search/list medians of {args.repeats} repeats; MLflow per-call logging "
        f"measured on {ml['log_points']:,} points and reported as a rate",
        f"- search matches: lakebed {lb['search_matches']}, MLflow {ml['search_matches']}; "
        f"list rows: lakebed {lb['list_rows']}, MLflow {ml['list_rows']}",
        "",
        *table,
        "",
        "Raw results (seconds):",
        "",
        "```json",
        json.dumps(results, indent=1),
        "```",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(md))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
