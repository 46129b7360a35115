"""Data-quality benchmark: lakebed's contracts (``lake.quality.validate``) and drift
(``lake.quality.drift``) against the raw engines (polars, DuckDB, numpy, scipy) and the data
quality tools (Pandera with its polars and pandas backends, Great Expectations GX Core 1.x,
Soda Core on DuckDB, Evidently).

Data (``bench/_quality_data.py``, numpy + pyarrow, fixed seeds, written once under the data
dir, which is removed at the start unless ``--report-only``):

- validation table: 10M rows (``--quick``: 1M; ``--rows`` for any size), one Parquet file
  (zstd, row groups of 1M), 10 columns: event_id int64 (~0.01% of the rows repeat an earlier
  id), user_id int64 (1% null), age int32 (a few outside 0..130, 0.1% null), amount float64
  (0.5% negative, a few outside -1000..10000, 0.2% null), refunded bool, plan string (4 plans
  + 0.1% "trial?"), country string (30 codes + a few "XX"/"us"), email string (0.2%
  malformed), ts timestamp[us, UTC] (the 30 days before a fixed now, 2026-06-01), score
  float32. The true failing counts are counted while the data is made (numpy and Python's
  ``re``, neither polars nor DuckDB) and every system's counts are compared with them.
- drift: reference and current sets of 1M rows x 20 columns (``--quick``: 100k): 12 numeric
  (normal, lognormal, uniform, Poisson counts; one of each family shifted) and 8 categorical
  (3 with changed shares): 7 columns drift, 13 do not.

The checks (the same semantics everywhere; a null passes every check but not_null):
not_null(user_id); unique(event_id) (failing = every row whose value repeats); between(age,
0, 130); isin(plan, 4 plans); matches(email, ``^[a-z0-9._]+@[a-z0-9]+\\.[a-z]{2,}$``, a
search); not_null(ts); between(amount, -1000, 10000); row_count(min=1); freshness(ts, 2 days,
now=2026-06-01); sql("amount >= 0 OR refunded") (failing where FALSE; NULL passes, as in an
SQL CHECK constraint); isin(country, 30 codes).

Cases (median of ``--repeats``, ``--gx-repeats`` for GX; every repeat of every system is a
fresh process (``bench/_quality_worker.py``) on the same file, the repeats interleaved across
systems; each system's imports happen before its clock starts; peak memory is the process's
VmHWM, read by itself after the work: its ``ru_maxrss`` would include the parent's image at
the fork; the process's CPU seconds over the work and the load average are recorded too, as
other work on the 2 cores moves the wall times; the peers are in ``bench/_quality_validate.py``):

1. validation (part ``validate``), from the data on disk to the per-check failing counts:
   a. lakebed: the table made once in a setup process (``lake.tables.create`` with the first
      1M rows, ``lake.tables.write`` for each further 1M, then ``lake.quality.contract(...,
      on_violation="warn")``); timed: ``lake.quality.validate("bench.events")``;
   b. raw polars: one ``pl.scan_parquet(path).select(<all aggregates>).collect()``, with the
      default in-memory engine and with ``engine="streaming"``;
   c. raw DuckDB: one SQL statement of all the aggregates over ``read_parquet`` and over an
      Arrow table read from the file (the read is timed too);
      the faster of b and c (median) is the raw limit; a diagnostic row runs b's query over
      lakebed's own files of the table (10 snappy files written by ``lake.tables``, the
      shared file is one zstd file) to tell the file layout from lakebed's own work;
   d. Pandera 0.35 (``pandera.polars`` on ``pl.read_parquet``; ``pandera.pandas`` on
      ``pd.read_parquet``; the read is timed), ``DataFrameSchema.validate(lazy=True)``,
      failures counted per check from ``SchemaErrors.failure_cases``;
   e. GX Core 1.x: a pandas data source, one expectation suite, one ``ValidationDefinition.run``
      (result_format BASIC) on ``pd.read_parquet`` (timed; building the context and the suite
      is set-up, reported apart); freshness is ``expect_column_max_to_be_between``; the SQL
      check is ``expect_column_values_to_be_in_set(refunded, [True], row_condition="amount <
      0")``: the pandas source runs no SQL (``UnexpectedRowsExpectation`` is SQL-only), and
      ``amount >= 0 OR refunded`` is FALSE exactly where amount < 0 and refunded is false;
   f. Soda Core 3.3 (SodaCL) on DuckDB (a view over ``read_parquet``): missing_count,
      duplicate_count, invalid_count with valid min/max/values/regex, row_count, freshness
      (``NOW`` pinned), failed rows with a fail condition; defaults otherwise (Soda queries
      samples of the failed rows). ``duplicate_count`` counts the distinct values that
      repeat, not the rows: it is compared with that truth and left out of the row counts.
2. drift (part ``drift``), the two sets in memory (Arrow; pandas for Evidently, converted
   before the clock): lakebed ``lake.quality.drift(ref, cur)`` (defaults), Evidently 0.7
   ``Report([DataDriftPreset()])`` (defaults), numpy (the statistic lakebed's default chose per
   column, read from lakebed's report: normed Wasserstein-1, Jensen-Shannon distance), scipy
   (``ks_2samp`` + ``wasserstein_distance`` / ``jensenshannon`` per column); per-column
   verdicts of lakebed and Evidently side by side (``bench/_quality_drift.py``).

Targets: validation within 1.5x of the raw limit, ahead of both Pandera backends and Soda,
>= 5x faster than GX, peak memory under 1.5x the raw limit's; drift within 2x of numpy and
>= 10x faster than Evidently.

Setup and usage (the peers are not in lakebed's dev venv; one venv holds lakebed and every
peer: see bench/requirements-quality.txt for the pins and why pandas is 2.3.3)::

    python3 -m venv /work/venv-qbench
    /work/venv-qbench/bin/pip install -e '/work/main[all]' -r bench/requirements-quality.txt
    flock /tmp/lakebed-bench.lock /work/venv-qbench/bin/python bench/quality.py --quick
    flock /tmp/lakebed-bench.lock /work/venv-qbench/bin/python bench/quality.py
    flock /tmp/lakebed-bench.lock /work/venv-qbench/bin/python bench/quality.py --repeats 5 --gx-repeats 3
    flock /tmp/lakebed-bench.lock /work/venv-qbench/bin/python bench/quality.py --parts drift
    /work/venv-qbench/bin/python bench/quality.py --report-only

Results go to ``<data-dir>/results.json`` as they are measured (a run killed halfway keeps
what it had) and ``bench/results/quality.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quality_report import write_report  # noqa: E402

PARTS = ["validate", "drift"]
VALIDATE_SYSTEMS = ["lakebed", "polars", "polars_streaming", "duckdb_parquet", "duckdb_arrow", "polars_lakefiles",
                    "pandera_polars", "pandera_pandas", "soda", "gx"]
DRIFT_SYSTEMS = ["lakebed", "numpy", "scipy", "evidently"]
WORKER = HERE / "_quality_worker.py"
PACKAGES = ("lakebed", "polars", "duckdb", "pyarrow", "numpy", "pandas", "scipy", "pandera", "great_expectations",
            "soda-core", "soda-core-duckdb", "evidently", "deltalake")


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def machine_info() -> dict[str, Any]:
    import importlib.metadata as md

    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "python": platform.python_version(), "os": platform.platform(),
                            "executable": sys.executable}
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 1024**3, 1)
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for pkg in PACKAGES:
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = "missing"
    info["env"] = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "POLARS", "RAYON"))}
    info["lakebed_commit"] = git_head()
    info["lakebed_src_sha1"] = src_hash()
    return info


def src_hash() -> str:
    """A hash of lakebed's source files (src/ changes while others work: this names the code run)."""
    import hashlib

    h = hashlib.sha1()
    for f in sorted((HERE.parent / "src" / "lakebed").rglob("*.py")):
        h.update(str(f.relative_to(HERE.parent)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def git_head() -> str:
    """``git rev-parse --short HEAD`` and whether src/ differs from it (read-only git)."""
    try:
        head = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    n = len(dirty.splitlines())
    return head + (f" + uncommitted changes in src/ ({n} paths)" if dirty else " (src/ clean)")


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


def run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    out = Path(spec["out"])
    out.unlink(missing_ok=True)
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PYTHONHASHSEED": "0"}
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, str(WORKER), json.dumps(spec)], env=env, timeout=timeout,
                           capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return {"status": f"error: timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    if not out.exists():
        return {"status": f"error: worker exited {p.returncode} without a result", "stderr": p.stderr[-3000:]}
    res = json.loads(out.read_text())
    res["process_wall_s"] = wall
    res["load_1min"] = [round(load0, 2), round(os.getloadavg()[0], 2)]  # before and after: others share the cores
    if p.returncode != 0:
        res["exit"] = p.returncode
    return res


def _append(entry: dict[str, Any], r: dict[str, Any], key: str) -> None:
    """Fold one repeat into the system's entry (lists of times and peaks; the checks of the
    first repeat, and whether later repeats gave the same)."""
    if r.get("status") != "ok":
        entry.setdefault("errors", []).append({k: r.get(k) for k in ("status", "traceback", "stderr")})
        return
    entry.setdefault("seconds", []).append(r["seconds"])
    entry.setdefault("peak_rss_mb", []).append(r["peak_rss_mb"])
    entry.setdefault("vmhwm_mb", []).append(r.get("vmhwm_mb"))
    entry.setdefault("rss_before_mb", []).append(r.get("rss_before_mb"))
    entry.setdefault("process_wall_s", []).append(r.get("process_wall_s"))
    entry.setdefault("load_1min", []).append(r.get("load_1min"))
    entry.setdefault("cpu_s", []).append(r.get("cpu_s"))
    src = r.get("lakebed_src_sha1") or (r.get("notes") or {}).get("lakebed_src_sha1")
    if src:
        entry.setdefault("lakebed_src_sha1", []).append(src)
    if key not in entry:
        entry[key] = r[key]
        entry["notes"] = r.get("notes")
    elif json.dumps(entry[key], sort_keys=True, default=str) != json.dumps(r[key], sort_keys=True, default=str):
        entry.setdefault("differs_between_repeats", []).append(r[key])
    print(f"  {r['seconds']:8.2f} s  peak {r['peak_rss_mb']:7.0f} MB", flush=True)


def lakebed_available() -> str | None:
    """None when lakebed's quality API is importable and complete; else why not."""
    p = subprocess.run([sys.executable, "-c", "import lakebed, lakebed.quality as q; "
                        "[getattr(q, n) for n in ('not_null','unique','between','isin','matches','row_count',"
                        "'freshness','sql')]; q.Quality.validate; q.Quality.contract; q.Quality.drift"],
                       capture_output=True, text=True, timeout=120)
    return None if p.returncode == 0 else (p.stderr.strip().splitlines() or ["?"])[-1]


def part_validate(args: argparse.Namespace, root: Path, res: Results) -> None:
    import _quality_data as data

    path = root / "events.parquet"
    t0 = time.perf_counter()
    truth = data.write_events(path, args.rows)
    res.put("validate.data", {"rows": args.rows, "path": str(path), "bytes": path.stat().st_size,
                              "generate_s": time.perf_counter() - t0, "truth": truth})
    print(f"wrote {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s",
          flush=True)
    systems = [s for s in VALIDATE_SYSTEMS if s in args.systems]
    if "lakebed" in systems:
        why = lakebed_available()
        if why is None:
            print(f"[{datetime.now(UTC):%H:%M:%S}] lakebed setup", flush=True)
            setup = run_worker({"task": "lakebed_setup", "lake": str(root / "lake"), "path": str(path),
                                "out": str(root / "worker.json")}, args.timeout)
            res.put("validate.lakebed.setup", setup)
            if setup.get("status") != "ok":
                print(f"  lakebed setup failed: {setup.get('status')}", flush=True)
                systems.remove("lakebed")
        else:
            res.put("validate.lakebed.setup", {"status": f"error: lakebed.quality unavailable: {why}"})
            systems.remove("lakebed")
    if "lakebed" not in systems and "polars_lakefiles" in systems:
        systems.remove("polars_lakefiles")  # it reads the lakebed table's files
    entries: dict[str, dict[str, Any]] = {s: {"system": s} for s in systems}
    for rep in range(args.repeats):
        for s in systems:
            if s == "gx" and rep >= args.gx_repeats:
                continue
            print(f"[{datetime.now(UTC):%H:%M:%S}] validate {s} (repeat {rep + 1}/{args.repeats})", flush=True)
            spec = {"task": "validate", "system": s, "path": str(path), "lake": str(root / "lake"),
                    "out": str(root / "worker.json")}
            try:
                r = run_worker(spec, args.timeout)
            except Exception as exc:
                traceback.print_exc()
                r = {"status": f"error: {type(exc).__name__}: {exc}"}
            _append(entries[s], r, "checks")
            if r.get("status") != "ok":
                print(f"  {r.get('status')}", flush=True)
            res.put(f"validate.{s}", entries[s])


def part_drift(args: argparse.Namespace, root: Path, res: Results) -> None:
    import _quality_data as data
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    ref, cur = data.drift_tables(args.drift_rows)
    pq.write_table(ref, root / "drift_ref.parquet")
    pq.write_table(cur, root / "drift_cur.parquet")
    res.put("drift.data", {"rows": args.drift_rows, "columns": ref.num_columns, "expected_drifted":
                           sorted(data.DRIFTED), "generate_s": time.perf_counter() - t0})
    del ref, cur
    systems = [s for s in DRIFT_SYSTEMS if s in args.systems]
    if "lakebed" in systems and (why := lakebed_available()) is not None:
        res.put("drift.lakebed", {"system": "lakebed", "errors": [{"status": f"lakebed.quality unavailable: {why}"}]})
        systems.remove("lakebed")
    entries: dict[str, dict[str, Any]] = {s: {"system": s} for s in systems}
    methods: dict[str, str] | None = None
    for rep in range(args.repeats):
        for s in systems:
            print(f"[{datetime.now(UTC):%H:%M:%S}] drift {s} (repeat {rep + 1}/{args.repeats})", flush=True)
            spec: dict[str, Any] = {"task": "drift", "system": s, "ref": str(root / "drift_ref.parquet"),
                                    "cur": str(root / "drift_cur.parquet"), "lake": str(root / "lake-drift"),
                                    "out": str(root / "worker.json")}
            if s == "numpy":
                if methods is None:  # lakebed's choice unknown: the documented default (> 1000 rows)
                    methods = {c: ("jensenshannon" if c.startswith("cat_") else "wasserstein")
                               for c in [*data.NUMS, *data.CATS]}
                    entries[s]["methods_from"] = "the documented default (lakebed's report was not available)"
                else:
                    entries[s]["methods_from"] = "lakebed's report (column.method)"
                spec["methods"] = methods
            r = run_worker(spec, args.timeout)
            _append(entries[s], r, "columns")
            if r.get("status") != "ok":
                print(f"  {r.get('status')}", flush=True)
            elif s == "lakebed" and methods is None:
                methods = {c: v["method"] for c, v in r["columns"].items()}
            res.put(f"drift.{s}", entries[s])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke sizes: 1M validation rows, 100k drift rows")
    ap.add_argument("--rows", type=int, default=None, help="validation rows (default 10M; --quick 1M)")
    ap.add_argument("--drift-rows", type=int, default=None, help="rows per drift set (default 1M; --quick 100k)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gx-repeats", type=int, default=None, help="repeats of GX (default: --repeats)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma list of: {', '.join(PARTS)}")
    ap.add_argument("--systems", default=",".join(dict.fromkeys(VALIDATE_SYSTEMS + DRIFT_SYSTEMS)),
                    help="comma list of systems to run (default: all)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per worker process")
    ap.add_argument("--data-dir", default="/tmp/qbench")
    ap.add_argument("--report", default=str(HERE / "results" / "quality.md"))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--note", action="append", default=[],
                    help="a remark for the report's notes (kept in results.json; works with --report-only)")
    args = ap.parse_args()
    args.rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    args.drift_rows = args.drift_rows or (100_000 if args.quick else 1_000_000)
    args.gx_repeats = args.repeats if args.gx_repeats is None else args.gx_repeats
    args.systems = args.systems.split(",")
    root = Path(args.data_dir)
    if args.report_only:
        res = Results(root / "results.json")
        if args.note:
            res.put("notes", [*res.data.get("notes", []), *args.note])
        write_report(res.data, Path(args.report))
        print(f"wrote {args.report}")
        return
    parts = args.parts.split(",")
    if set(parts) >= set(PARTS):
        shutil.rmtree(root, ignore_errors=True)  # a full run starts from nothing
    else:  # a run of some parts keeps the other parts' results
        files = {"validate": ("lake", "events.parquet"), "drift": ("lake-drift", "drift_ref.parquet",
                                                                   "drift_cur.parquet")}
        for p in [f for part in parts for f in files.get(part, ())]:
            if (root / p).is_dir():
                shutil.rmtree(root / p)
            else:
                (root / p).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    res = Results(root / "results.json")
    for key in [k for k in res.data if k.split(".")[0] in parts]:
        del res.data[key]
    if args.note:
        res.put("notes", [*res.data.get("notes", []), *args.note])
    run_key = "run" if set(parts) >= set(PARTS) else "run." + "+".join(parts)
    res.put(run_key, {"started": now_utc(), "argv": sys.argv[1:], "quick": args.quick, "rows": args.rows,
                      "drift_rows": args.drift_rows, "repeats": args.repeats, "gx_repeats": args.gx_repeats,
                      "machine": machine_info()})
    if "validate" in parts:
        part_validate(args, root, res)
    if "drift" in parts:
        part_drift(args, root, res)
    res.put(run_key + "_end", {"finished": now_utc(), "lakebed_commit_at_end": git_head(),
                               "lakebed_src_sha1_at_end": src_hash()})
    write_report(res.data, Path(args.report))
    print(f"wrote {args.report}", flush=True)


if __name__ == "__main__":
    main()

