"""Feature-store benchmark: lakebed against Feast and a raw DuckDB ASOF join.

One run, on the same generated data (``bench/_features_data.py``):

* training sets (point-in-time joins with a TTL, ties broken by ``created_at``): raw DuckDB
  ASOF join (the reference and the kernel's limit), ``lake.features.training_set``, Feast
  0.67 with its ``duckdb`` offline store and with its default ``file`` (dask) store; every
  result is checked row by row against the raw join;
* online reads of a 50-feature view, 1 and 100 entities: lakebed (sqlite, Redis), Feast
  (sqlite, Redis) and a raw primary-key lookup of a pre-serialized row in the same stores;
* materialization of a 20-feature view with one source row per entity (1M rows in the
  small case, 10M in the large), rows/s and peak memory, read back and checked.

Every measurement runs in its own subprocess, watched for memory (process tree RSS over
``--mem-cap-gb``, or less than 1.5 GiB left on the machine) and time (``--time-cap-s``); a
system over a cap is killed and reported as "exceeded ...".

Usage (heavy runs under the machine-wide lock)::

    flock /tmp/lakebed-bench.lock /work/venv-fbench/bin/python bench/features.py --quick
    flock /tmp/lakebed-bench.lock /work/venv-fbench/bin/python bench/features.py --cases small,large

Results accumulate in ``<data-dir>/results-<mode>.json`` (one entry per measurement, with
the time it was taken), so a later run with ``--systems lakebed`` adds lakebed's numbers
next to peers measured earlier on the same files; the report says when each was taken.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _features_data import CASES, FEATURES, Case, generate  # noqa: E402

TRAIN_SYSTEMS = ["raw", "raw_key", "lakebed", "feast_duckdb", "feast_file"]
ONLINE_SYSTEMS = ["raw_sqlite", "lakebed_sqlite", "feast_sqlite", "raw_redis", "lakebed_redis", "feast_redis"]
MAT_SYSTEMS = ["lakebed_sqlite", "lakebed_redis", "feast_sqlite", "feast_redis"]
GIB = 1024**3


# ------------------------------------------------------------------ subprocess control


def run_task(spec: dict[str, Any], mem_cap_gb: float, time_cap_s: float) -> dict[str, Any]:
    """Run one worker; kill it (and report) past the memory or time cap."""
    out = Path(spec["out"])
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / "_features_worker.py"), json.dumps(spec)]
    log = open(out.with_suffix(".log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.monotonic()
    peak_tree = 0
    killed = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            ps = psutil.Process(proc.pid)
            tree = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
        except psutil.Error:
            tree = 0
        peak_tree = max(peak_tree, tree)
        elapsed = time.monotonic() - t0
        avail = psutil.virtual_memory().available
        if killed is None and tree > mem_cap_gb * GIB:
            killed = f"exceeded {mem_cap_gb:g} GB (killed after {elapsed:.0f} s)"
        elif killed is None and avail < 1.5 * GIB:
            killed = f"killed: machine had < 1.5 GiB free at {tree / GIB:.1f} GB RSS after {elapsed:.0f} s"
        elif killed is None and elapsed > time_cap_s:
            killed = f"exceeded {time_cap_s:g} s (killed at {tree / GIB:.1f} GB RSS)"
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.1)
    log.close()
    wall = time.monotonic() - t0
    if killed:
        res: dict[str, Any] = {"status": killed}
    elif out.exists():
        res = json.loads(out.read_text())
    else:
        res = {"status": f"error: worker exited with status {status} and no result (see {out.with_suffix('.log')})"}
    res["wall_s"] = wall
    res["process_peak_rss_mb"] = usage.ru_maxrss / 1024 if not killed else peak_tree / 2**20
    res["tree_peak_rss_mb_sampled"] = peak_tree / 2**20
    res["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return res


# ------------------------------------------------------------------ row-by-row check


def check_rows(reference: Path, result: Path) -> dict[str, Any]:
    """Compare a training set with the raw join by ``row_id``: missing, extra, mismatched rows.

    Values are compared as DOUBLE, with NaN taken as null (pandas-based systems turn nulls
    into NaN), which is exact for these integers (< 2**53).
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE VIEW ref AS SELECT * FROM read_parquet('{reference}')")
    con.execute(f"CREATE VIEW res AS SELECT * FROM read_parquet('{result}')")
    res_cols = {r[0] for r in con.execute("DESCRIBE res").fetchall()}
    missing_cols = [c for c in FEATURES if c not in res_cols]
    if missing_cols:
        return {"error": f"result lacks columns {missing_cols}"}

    def norm(side: str, c: str) -> str:
        return f"CASE WHEN isnan(CAST({side}.{c} AS DOUBLE)) THEN NULL ELSE CAST({side}.{c} AS DOUBLE) END"

    differs = " OR ".join(f"{norm('ref', c)} IS DISTINCT FROM {norm('res', c)}" for c in FEATURES)
    ref_null = " AND ".join(f"ref.{c} IS NULL" for c in FEATURES)
    row = con.execute(f"""
        WITH r AS (SELECT DISTINCT ON (row_id) * FROM res ORDER BY row_id)
        SELECT
          (SELECT count(*) FROM ref),
          (SELECT count(*) FROM res),
          (SELECT count(*) - count(DISTINCT row_id) FROM res),
          count(*) FILTER (WHERE res.row_id IS NULL),
          count(*) FILTER (WHERE res.row_id IS NULL AND {ref_null}),
          count(*) FILTER (WHERE res.row_id IS NOT NULL AND ({differs})),
          count(*) FILTER (WHERE {ref_null}),
          count(*) FILTER (WHERE res.row_id IS NOT NULL AND (ref.user_id IS DISTINCT FROM res.user_id
                            OR ref.event_timestamp IS DISTINCT FROM res.event_timestamp)),
          count(*) FILTER (WHERE res.row_id IS NULL AND NOT ({ref_null}) AND ref.row_id IN (
              SELECT row_id FROM ref QUALIFY count(*) OVER (PARTITION BY user_id, event_timestamp) > 1))
        FROM ref LEFT JOIN r AS res USING (row_id)
    """).fetchone()
    assert row is not None
    keys = ["ref_rows", "rows", "duplicate_rows", "missing_rows", "missing_all_null_rows",
            "mismatched_rows", "ref_all_null_rows", "mismatched_keys", "missing_duplicated_entity_rows"]
    return dict(zip(keys, row, strict=True))


# ------------------------------------------------------------------ the parts


def train_part(case: Case, case_dir: Path, systems: list[str], args: argparse.Namespace,
               results: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    n_entity = pq.ParquetFile(case_dir / "entity.parquet").metadata.num_rows
    ref = case_dir / "result-raw.parquet"
    order = ["raw"] + [s for s in systems if s != "raw"]
    for system in order:
        if system not in systems and (system != "raw" or ref.exists()):
            continue
        if system == "lakebed" and not ensure_lakebed(case_dir, args, results, case):
            results[f"train/{case.name}/lakebed"] = {"status": "lakebed setup failed (see setup entry)"}
            continue
        heavy = case.name == "large" and system.startswith("feast")
        repeats = 1 if heavy else args.repeats
        spec = {"task": "train", "system": system, "case_dir": str(case_dir), "repeats": repeats,
                "n_entity": n_entity, "result_parquet": str(case_dir / f"result-{system}.parquet"),
                "out": str(case_dir / f"train-{system}.json")}
        print(f"[train {case.name}] {system} x{repeats} ...", flush=True)
        res = run_task(spec, args.mem_cap_gb, args.time_cap_s)
        if res["status"] == "ok" and ref.exists():
            res["check"] = check_rows(ref, Path(spec["result_parquet"]))
        results[f"train/{case.name}/{system}"] = res
        save(args, results)
        print("   ", summarize(res), flush=True)
    # Extra rounds of the raw join and lakebed, alternating, so that load from other
    # processes on a shared machine hits both alike; times are pooled, peaks maxed.
    pair = [s for s in ("raw", "raw_key", "lakebed") if s in systems]
    for rnd in range(1, args.rounds):
        for system in pair:
            key = f"train/{case.name}/{system}"
            if results.get(key, {}).get("status") != "ok":
                continue
            spec = {"task": "train", "system": system, "case_dir": str(case_dir), "repeats": args.repeats,
                    "n_entity": n_entity, "result_parquet": str(case_dir / f"result-{system}-r.parquet"),
                    "out": str(case_dir / f"train-{system}-r.json")}
            print(f"[train {case.name}] {system} round {rnd + 1} ...", flush=True)
            res = run_task(spec, args.mem_cap_gb, args.time_cap_s)
            print("   ", summarize(res), flush=True)
            if res["status"] != "ok":
                results[key]["status"] = f"round {rnd + 1}: {res['status']}"
                continue
            prev = results[key]
            prev["times"] = prev["times"] + res["times"]
            prev["cpu_times"] = prev.get("cpu_times", []) + res.get("cpu_times", [])
            prev["peak_rss_mb"] = max(prev["peak_rss_mb"], res["peak_rss_mb"])
            prev["order_kept"] = prev["order_kept"] and res["order_kept"]
            prev["rounds"] = rnd + 1
            results[key] = prev
            save(args, results)


def ensure_lakebed(case_dir: Path, args: argparse.Namespace, results: dict[str, Any], case: Case,
                   online: str | None = None) -> bool:
    key = f"setup/{case.name}/lakebed-{'redis' if online else 'sqlite'}"
    from _features_offline import LAKE_LAYOUT

    lake_dir = case_dir / ("lake-redis" if online else "lake")
    if (lake_dir / "READY").exists() and (lake_dir / "READY").read_text() == LAKE_LAYOUT:
        return True
    if lake_dir.exists():
        import shutil

        shutil.rmtree(lake_dir)
    spec = {"task": "setup_lakebed", "case_dir": str(case_dir), "online": online,
            "out": str(case_dir / f"setup-lakebed-{'redis' if online else 'sqlite'}.json")}
    print(f"[setup {case.name}] lakebed tables + apply ({'redis' if online else 'sqlite'}) ...", flush=True)
    res = run_task(spec, args.mem_cap_gb, args.time_cap_s)
    results[key] = res
    save(args, results)
    print("   ", summarize(res), flush=True)
    return res["status"] == "ok"


def online_part(case: Case, case_dir: Path, systems: list[str], args: argparse.Namespace,
                results: dict[str, Any]) -> None:
    from _features_online import LAKEBED_REDIS, OTHER_REDIS_DB, flush_redis

    n1, n100 = (300, 60) if args.quick else (2000, 300)
    for system in systems:
        if system.startswith("lakebed"):
            online = LAKEBED_REDIS if system.endswith("redis") else None
            if system.endswith("redis"):
                flush_redis(14)
            if not ensure_lakebed(case_dir, args, results, case, online):
                results[f"online/{case.name}/{system}"] = {"status": "lakebed setup failed"}
                continue
        elif system.endswith("redis"):
            flush_redis(OTHER_REDIS_DB)
        spec = {"task": "online", "system": system, "case_dir": str(case_dir), "n1": n1, "n100": n100,
                "out": str(case_dir / f"online-{system}.json")}
        print(f"[online {case.name}] {system} ...", flush=True)
        res = run_task(spec, args.mem_cap_gb, args.time_cap_s)
        results[f"online/{case.name}/{system}"] = res
        save(args, results)
        print("   ", summarize(res), flush=True)


def materialize_part(case: Case, case_dir: Path, systems: list[str], args: argparse.Namespace,
                     results: dict[str, Any]) -> None:
    from _features_online import LAKEBED_REDIS, OTHER_REDIS_DB, flush_redis

    for system in systems:
        if system.startswith("feast") and case.name == "large" and not args.feast_materialize_large:
            # ~3,600 rows/s and ~17 KB of RSS per row at 100k rows: 10M rows would take
            # about 45 minutes and pass the memory cap; see the small case instead.
            results[f"materialize/{case.name}/{system}"] = {
                "status": "not run at this size (use --feast-materialize-large); see the small case"}
            continue
        if system.startswith("lakebed"):
            online = LAKEBED_REDIS if system.endswith("redis") else None
            if not ensure_lakebed(case_dir, args, results, case, online):
                results[f"materialize/{case.name}/{system}"] = {"status": "lakebed setup failed"}
                continue
            if system.endswith("redis"):
                flush_redis(14)
        elif system.endswith("redis"):
            flush_redis(OTHER_REDIS_DB)
        spec = {"task": "materialize", "system": system, "case_dir": str(case_dir),
                "out": str(case_dir / f"materialize-{system}.json")}
        print(f"[materialize {case.name}] {system} ...", flush=True)
        res = run_task(spec, args.mem_cap_gb, args.time_cap_s)
        results[f"materialize/{case.name}/{system}"] = res
        save(args, results)
        print("   ", summarize(res), flush=True)


def summarize(res: dict[str, Any]) -> str:
    if res.get("status") != "ok":
        return f"{res.get('status')}\n{res.get('traceback', '')[-1500:]}"
    parts = []
    if "times" in res:
        parts.append(f"median {sorted(res['times'])[len(res['times']) // 2]:.2f} s")
    if "seconds" in res:
        parts.append(f"{res['seconds']:.2f} s")
    for k in ("1x50", "100x50"):
        if k in res:
            parts.append(f"{k} p50 {res[k]['p50_us']:.0f} us p99 {res[k]['p99_us']:.0f} us")
    parts.append(f"peak {res.get('peak_rss_mb', 0):.0f} MB")
    if "check" in res:
        parts.append(json.dumps(res["check"]))
    for k in ("mismatched_rows", "mismatched_entities"):
        if k in res:
            parts.append(f"{k}={res[k]}")
    return ", ".join(parts)


# ------------------------------------------------------------------ main


def results_path(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) / f"results-{'quick' if args.quick else 'full'}.json"


class Results(dict[str, Any]):
    """Measurements by key; remembers which keys this run set, so that two runs (say the
    small and the large case, queued on the lock) can share one results file."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.touched: set[str] = set()

    def __setitem__(self, key: str, value: Any) -> None:
        self.touched.add(key)
        super().__setitem__(key, value)


def save(args: argparse.Namespace, results: dict[str, Any]) -> None:
    path = results_path(args)
    merged = json.loads(path.read_text()) if path.exists() else {}
    touched = getattr(results, "touched", set(results))
    merged.update({k: v for k, v in results.items() if k in touched})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=1, default=str))
    tmp.replace(path)


def machine_info() -> dict[str, Any]:
    import importlib.metadata as md

    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / GIB, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for pkg in ("lakebed", "feast", "duckdb", "pyarrow", "deltalake", "pandas", "dask", "ibis-framework",
                "redis"):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = "missing"
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run on the small 'quick' case")
    ap.add_argument("--cases", default="small,large", help="comma list of: small, large (ignored with --quick)")
    ap.add_argument("--parts", default="train,online,materialize")
    ap.add_argument("--systems", default="all", help="comma list of names or prefixes (raw, lakebed, feast...)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats inside one process")
    ap.add_argument("--rounds", type=int, default=1,
                    help="processes of raw and lakebed per case, alternating (times pooled)")
    ap.add_argument("--data-dir", default="/tmp/fbench")
    ap.add_argument("--mem-cap-gb", type=float, default=18.0)
    ap.add_argument("--time-cap-s", type=float, default=1500.0)
    ap.add_argument("--feast-materialize-large", action="store_true",
                    help="also materialize the 10M-row table with Feast (very long)")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the report from stored results")
    ap.add_argument("--report", default=str(HERE / "results" / "features.md"))
    args = ap.parse_args()

    root = Path(args.data_dir)
    root.mkdir(parents=True, exist_ok=True)
    rp = results_path(args)
    results = Results(json.loads(rp.read_text()) if rp.exists() else {})
    case_names = ["quick"] if args.quick else args.cases.split(",")
    parts = args.parts.split(",")

    def pick(names: list[str]) -> list[str]:
        if args.systems == "all":
            return names
        wanted = args.systems.split(",")
        return [n for n in names if any(n == w or n.startswith(w) for w in wanted)]

    if not args.report_only:
        for name in case_names:
            case = CASES[name]
            t0 = time.perf_counter()
            case_dir = generate(case, root)
            print(f"[data {name}] {case_dir} ({time.perf_counter() - t0:.1f} s)", flush=True)
            if "train" in parts:
                train_part(case, case_dir, pick(TRAIN_SYSTEMS), args, results)
            # Online reads need one case only: the wide view has the same size in both.
            if "online" in parts and name in ("quick", "small"):
                online_part(case, case_dir, pick(ONLINE_SYSTEMS), args, results)
            if "materialize" in parts:
                materialize_part(case, case_dir, pick(MAT_SYSTEMS), args, results)
        results["machine"] = machine_info()
        save(args, results)

    from _features_report import write_report

    merged = json.loads(rp.read_text()) if rp.exists() else dict(results)
    # The report covers every case measured into this results file, not only this run's.
    shown = [c for c in CASES if any(k.split("/")[1:2] == [c] for k in merged)]
    text = write_report(merged, shown or case_names, args)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        Path(args.report).write_text(text)
        print(f"wrote {args.report}")
    print(text)


if __name__ == "__main__":
    main()
