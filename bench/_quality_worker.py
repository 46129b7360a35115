"""One measured task of ``bench/quality.py`` in a fresh process (for an honest peak RSS).

Usage: ``python bench/_quality_worker.py '<json spec>'``; writes a JSON result to
``spec["out"]``. Peak RSS is this process's ``VmHWM`` (/proc/self/status), read right after
the measured work (see ``_mem`` for why not ``ru_maxrss``); ``rss_before_mb`` is the resident
set just before the clock starts (the interpreter, the imports, and for drift the data).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _cpu() -> float:
    """CPU seconds (user + system, every thread) of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _src_hash() -> str:
    import hashlib

    import lakebed

    h = hashlib.sha1()
    root = Path(lakebed.__file__).resolve().parent
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root.parent.parent)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _mem(out: dict[str, Any]) -> dict[str, Any]:
    """The peak is VmHWM: ``ru_maxrss`` of a process started by fork/vfork + exec keeps the
    parent's resident set at the fork (Linux folds the old image's high-water mark into it),
    so it is recorded apart (``ru_maxrss_mb``) and not used."""
    out["vmhwm_mb"] = _status_mb("VmHWM")
    out["ru_maxrss_mb"] = _peak_mb()
    out["peak_rss_mb"] = out["vmhwm_mb"] if out["vmhwm_mb"] is not None else out["ru_maxrss_mb"]
    return out


# -- lakebed -----------------------------------------------------------------------------------
def lakebed_checks() -> list[Any]:
    import _quality_data as d

    from lakebed.quality import between, freshness, isin, matches, not_null, row_count, sql, unique

    return [
        not_null("user_id", name="not_null_user_id"),
        unique("event_id", name="unique_event_id"),
        between("age", d.AGE_MIN, d.AGE_MAX, name="between_age"),
        isin("plan", d.PLANS, name="isin_plan"),
        matches("email", d.EMAIL_RE, name="matches_email"),
        not_null("ts", name="not_null_ts"),
        between("amount", d.AMOUNT_MIN, d.AMOUNT_MAX, name="between_amount"),
        row_count(min=1, name="row_count"),
        freshness("ts", max_age=d.MAX_AGE, now=d.NOW, name="freshness_ts"),
        sql(d.SQL_EXPR, name="sql_refund"),
        isin("country", d.COUNTRIES, name="isin_country"),
    ]


def lakebed_setup(spec: dict[str, Any]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import lakebed

    t0 = time.perf_counter()
    lake = lakebed.connect(spec["lake"])
    pf = pq.ParquetFile(spec["path"])
    first = True
    for batch in pf.iter_batches(batch_size=1_000_000):
        t = pa.Table.from_batches([batch])
        if first:
            lake.tables.create("bench.events", data=t)
            first = False
        else:
            lake.tables.write("bench.events", t)
    t_create = time.perf_counter() - t0
    lake.quality.contract("bench.events", checks=lakebed_checks(), on_violation="warn")
    out = {"create_s": t_create, "contract_s": time.perf_counter() - t0 - t_create,
           "version": lake.tables.version("bench.events")}
    lake.close()
    return out


def _outcome(o: Any) -> dict[str, Any]:
    if o.level == "dataset":
        return {"passed": bool(o.passed), "value": o.detail, "failing": o.failing}
    return {"failing": int(o.failing), "passed": bool(o.passed), "rows": o.rows}


def lakebed_validate(spec: dict[str, Any]) -> dict[str, Any]:
    import lakebed

    lake = lakebed.connect(spec["lake"])
    _warm_imports("lakebed")
    src = _src_hash()
    rss0 = _status_mb("VmRSS")
    c0 = _cpu()
    t0 = time.perf_counter()
    res = lake.quality.validate("bench.events")
    el = time.perf_counter() - t0
    out = {"seconds": el, "cpu_s": _cpu() - c0, "rss_before_mb": rss0, "lakebed_src_sha1": src}
    _mem(out)
    out["checks"] = {o.name: _outcome(o) for o in res.checks}
    out["notes"] = {"passed": bool(res.passed), "outcomes": len(res.checks),
                    "names": [o.name for o in res.checks]}
    lake.close()
    return out


# -- peers -------------------------------------------------------------------------------------
def peer_validate(spec: dict[str, Any]) -> dict[str, Any]:
    import _quality_validate as v

    fn = v.SYSTEMS[spec["system"]]
    _warm_imports(spec["system"])
    rss0 = _status_mb("VmRSS")
    c0 = _cpu()
    el, checks, notes = fn(Path(spec["path"]))
    out = {"seconds": el, "cpu_s": _cpu() - c0, "rss_before_mb": rss0}
    _mem(out)
    out.update(checks=checks, notes=notes)
    return out


def _warm_imports(system: str) -> None:
    """Import the system's modules before the clock starts (for every system alike)."""
    mods = {"lakebed": ["polars", "deltalake", "duckdb", "pyarrow.parquet", "pyarrow.dataset"],
            "polars": ["polars"], "polars_streaming": ["polars"], "polars_lakefiles": ["polars"],
            "duckdb_parquet": ["duckdb"],
            "duckdb_arrow": ["duckdb", "pyarrow.parquet", "pyarrow.dataset"],
            "pandera_polars": ["pandera.polars", "polars"], "pandera_pandas": ["pandera.pandas", "pandas"],
            "gx": ["great_expectations", "pandas"], "soda": ["soda.scan", "duckdb"],
            # lakebed's drift imports scipy lazily: imported before the clock, as for the scipy peer
            "drift_lakebed": ["scipy.spatial.distance", "scipy.special", "scipy.stats"],
            "drift_scipy": ["scipy.spatial.distance", "scipy.stats"], "drift_evidently": ["evidently.presets"]}
    import importlib

    for m in mods.get(system, []):
        importlib.import_module(m)


# -- drift -------------------------------------------------------------------------------------
def drift(spec: dict[str, Any]) -> dict[str, Any]:
    import _quality_drift as dr
    import pyarrow.parquet as pq

    ref, cur = pq.read_table(spec["ref"]), pq.read_table(spec["cur"])
    system = spec["system"]
    lake = None
    if system == "lakebed":
        import lakebed

        lake = lakebed.connect(spec["lake"])
        _warm_imports("drift_lakebed")
        src = _src_hash()
        rss0 = _status_mb("VmRSS")
        c0 = _cpu()
        el, cols, notes = dr.lakebed_drift(lake, ref, cur)
        notes["lakebed_src_sha1"] = src
    elif system == "numpy":
        rss0 = _status_mb("VmRSS")
        c0 = _cpu()
        el, cols, notes = dr.numpy_drift(ref, cur, spec["methods"])
    elif system == "scipy":
        _warm_imports("drift_scipy")
        rss0 = _status_mb("VmRSS")
        c0 = _cpu()
        el, cols, notes = dr.scipy_drift(ref, cur)
    elif system == "evidently":
        _warm_imports("drift_evidently")
        ref_df, cur_df = ref.to_pandas(), cur.to_pandas()
        del ref, cur
        rss0 = _status_mb("VmRSS")
        c0 = _cpu()
        el, cols, notes = dr.evidently_drift(ref_df, cur_df)
    else:
        raise SystemExit(f"unknown drift system {system!r}")
    out = {"seconds": el, "cpu_s": _cpu() - c0, "rss_before_mb": rss0}
    _mem(out)
    out.update(columns=cols, notes=notes)
    if lake is not None:
        lake.close()
    return out


def main(spec: dict[str, Any]) -> dict[str, Any]:
    task = spec["task"]
    if task == "lakebed_setup":
        return _mem(lakebed_setup(spec))
    if task == "validate":
        return lakebed_validate(spec) if spec["system"] == "lakebed" else peer_validate(spec)
    if task == "drift":
        return drift(spec)
    raise SystemExit(f"unknown task {task!r}")


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    try:
        result = {"status": "ok", **main(spec)}
    except Exception as exc:  # report, do not crash the benchmark
        result = {"status": f"error: {type(exc).__name__}: {str(exc)[:600]}",
                  "traceback": traceback.format_exc()[-4000:], "peak_rss_mb": _peak_mb()}
    Path(spec["out"]).write_text(json.dumps(result, default=str))
