"""One measured task of ``bench/features.py`` in a fresh process (for an honest peak RSS).

Usage: ``python bench/_features_worker.py '<json spec>'``; writes a JSON result to
``spec["out"]``. Peak RSS is ``ru_maxrss`` of this process, read right after the measured
work (before the result table is written out for the row-by-row check).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq

    case_dir = Path(spec["case_dir"])
    task = spec["task"]
    if task == "train":
        from _features_offline import RUNNERS

        rss0 = _peak_mb()
        times, out, info = RUNNERS[spec["system"]](case_dir, spec["repeats"])
        peak = _peak_mb()
        rid = out.column("row_id").to_numpy()
        order_kept = bool(len(rid) == spec["n_entity"] and np.array_equal(rid, np.arange(len(rid))))
        pq.write_table(out, spec["result_parquet"])
        return {"times": times, "peak_rss_mb": peak, "rss_before_mb": rss0, "rows": out.num_rows,
                "order_kept": order_kept, "cpu_times": info.pop("cpu_times", []), "versions": info}
    if task == "setup_lakebed":
        from _features_offline import setup_lakebed

        t0 = time.perf_counter()
        info = setup_lakebed(case_dir, spec.get("online"))
        return {"seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_mb(), **info}
    if task == "online":
        from _features_online import run_online

        res = run_online(spec["system"], case_dir, spec["n1"], spec["n100"])
        return {**res, "peak_rss_mb": _peak_mb()}
    if task == "materialize":
        from _features_online import run_materialize

        res = run_materialize(spec["system"], case_dir)
        return {**res, "peak_rss_mb": _peak_mb()}
    raise SystemExit(f"unknown task {task!r}")


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    try:
        result = {"status": "ok", **main(spec)}
    except Exception as exc:  # report, do not crash the benchmark
        result = {"status": f"error: {type(exc).__name__}: {str(exc)[:400]}",
                  "traceback": traceback.format_exc()[-3000:], "peak_rss_mb": _peak_mb()}
    Path(spec["out"]).write_text(json.dumps(result, default=str))
