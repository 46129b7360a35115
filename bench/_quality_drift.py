"""The drift systems of ``bench/quality.py``: each takes the reference and current sets in
memory and returns ``(seconds, {column: {"method", "score", "threshold", "drifted"}}, notes)``.

- lakebed: ``lake.quality.drift(ref, cur)`` on the Arrow tables, defaults;
- Evidently: ``Report([DataDriftPreset()]).run(reference_data=..., current_data=...)`` on
  pandas DataFrames (made before the clock starts: they are its input), defaults; a column's
  verdict is its ``ValueDrift`` score against the method's threshold (distances drift at
  ``score >= threshold``, p-values at ``score < threshold``, as Evidently decides), checked
  against its own ``DriftedColumnsCount``;
- numpy: for each column the statistic lakebed's default chose (read from lakebed's report
  of the same data in a setup step, passed in as ``methods``), written in numpy: normed
  Wasserstein-1 (W1 / max(std(reference), 0.001)) and the Jensen-Shannon distance (natural
  log) of category shares; the categories are counted with ``pyarrow.compute.value_counts``
  (numpy has no fast string counting), numbers come zero-copy from the Arrow columns;
- scipy: per column ``ks_2samp`` + ``wasserstein_distance`` (numbers) or ``jensenshannon``
  of the shares (categories), the verdict by the same thresholds as numpy.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

THRESHOLD = 0.1


def _kind(col: pa.ChunkedArray) -> str:
    return "categorical" if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) else "numeric"


def _num(col: pa.ChunkedArray) -> np.ndarray:
    a = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if a.null_count:
        a = a.drop_null()
    x = a.to_numpy(zero_copy_only=False)
    return x.astype(np.float64, copy=False)


def w1_norm(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 between the empirical distributions / max(std(a), 0.001)."""
    sa, sb = np.sort(a), np.sort(b)
    if len(sa) == len(sb):
        w = float(np.mean(np.abs(sa - sb)))
    else:  # the CDF form (scipy's)
        allv = np.sort(np.concatenate([sa, sb]))
        deltas = np.diff(allv)
        fa = np.searchsorted(sa, allv[:-1], "right") / len(sa)
        fb = np.searchsorted(sb, allv[:-1], "right") / len(sb)
        w = float(np.sum(np.abs(fa - fb) * deltas))
    return w / max(float(np.std(a)), 0.001)


def _shares(ref: pa.ChunkedArray, cur: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    cr, cc = pc.value_counts(ref.drop_null()), pc.value_counts(cur.drop_null())
    ra = dict(zip(cr.field("values").to_pylist(), cr.field("counts").to_numpy(), strict=True))
    ca = dict(zip(cc.field("values").to_pylist(), cc.field("counts").to_numpy(), strict=True))
    keys = sorted(set(ra) | set(ca))
    p = np.array([ra.get(k, 0) for k in keys], dtype=np.float64)
    q = np.array([ca.get(k, 0) for k in keys], dtype=np.float64)
    return p / p.sum(), q / q.sum()


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2.0

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log(x[nz] / m[nz])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2.0, 0.0)))


# -- systems -----------------------------------------------------------------------------------
def lakebed_drift(lake: Any, ref: pa.Table, cur: pa.Table) -> tuple[float, dict[str, Any], dict[str, Any]]:
    t0 = time.perf_counter()
    rep = lake.quality.drift(ref, cur)
    el = time.perf_counter() - t0
    cols = {c.column: {"kind": c.kind, "method": c.method, "score": c.score, "threshold": c.threshold,
                       "drifted": bool(c.drifted), "stats": sorted(c.stats)} for c in rep.columns}
    return el, cols, {"dataset_drifted": bool(rep.drifted)}


def numpy_drift(ref: pa.Table, cur: pa.Table, methods: dict[str, str]) -> tuple[float, dict[str, Any], dict]:
    """``methods``: column -> "wasserstein" | "jensenshannon" (lakebed's choice)."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    for name in ref.column_names:
        m = methods.get(name)
        if m == "wasserstein":
            score = w1_norm(_num(ref.column(name)), _num(cur.column(name)))
        elif m == "jensenshannon" and _kind(ref.column(name)) == "categorical":
            score = js_distance(*_shares(ref.column(name), cur.column(name)))
        else:
            out[name] = {"na": f"method {m!r} not written in numpy here"}
            continue
        out[name] = {"method": m, "score": score, "threshold": THRESHOLD, "drifted": score >= THRESHOLD}
    return time.perf_counter() - t0, out, {}


def scipy_drift(ref: pa.Table, cur: pa.Table) -> tuple[float, dict[str, Any], dict]:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import ks_2samp, wasserstein_distance

    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    for name in ref.column_names:
        if _kind(ref.column(name)) == "numeric":
            a, b = _num(ref.column(name)), _num(cur.column(name))
            ks = ks_2samp(a, b)
            score = wasserstein_distance(a, b) / max(float(np.std(a)), 0.001)
            out[name] = {"method": "wasserstein", "score": float(score), "threshold": THRESHOLD,
                         "drifted": bool(score >= THRESHOLD), "ks_stat": float(ks.statistic),
                         "ks_pvalue": float(ks.pvalue)}
        else:
            p, q = _shares(ref.column(name), cur.column(name))
            score = float(jensenshannon(p, q))
            out[name] = {"method": "jensenshannon", "score": score, "threshold": THRESHOLD,
                         "drifted": bool(score >= THRESHOLD)}
    return time.perf_counter() - t0, out, {}


_PVALUE_METHODS = ("p_value", "K-S", "chi-square", "Z-test", "Fisher", "Anderson", "Cramer", "Epps", "T-Test",
                   "Mann-Whitney", "Empirical-MMD", "g-test")


def evidently_drift(ref_df: Any, cur_df: Any) -> tuple[float, dict[str, Any], dict]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    t0 = time.perf_counter()
    snap = Report([DataDriftPreset()]).run(reference_data=ref_df, current_data=cur_df)
    metrics = snap.dict()["metrics"]
    el = time.perf_counter() - t0
    out: dict[str, Any] = {}
    count = None
    for m in metrics:
        cfg = m["config"]
        if cfg.get("type", "").endswith("DriftedColumnsCount"):
            count = m["value"]
            continue
        col, method, th = cfg.get("column"), str(cfg.get("method")), float(cfg.get("threshold"))
        score = float(m["value"])
        pvalue = any(k.lower() in method.lower() for k in _PVALUE_METHODS)
        out[col] = {"method": method, "score": score, "threshold": th,
                    "drifted": bool(score < th) if pvalue else bool(score >= th)}
    n_drift = sum(v["drifted"] for v in out.values())
    notes: dict[str, Any] = {"drifted_columns_count": count, "verdicts_counted": n_drift}
    if count is not None and int(count["count"]) != n_drift:
        notes["warning"] = f"DriftedColumnsCount says {count['count']}, the per-column verdicts {n_drift}"
    return el, out, notes
