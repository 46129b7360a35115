"""Benchmark: the throughput cost of each ``fsync`` setting (always / batch / never), per area.

Small writes, where the cost of an fsync is largest, each in a fresh lake on the same
filesystem (default: a temporary folder next to the repository, not a tmpfs):

- tables: appends of 10 rows to one table (``lake.tables.write``);
- vectors: upserts of 10 vectors (dim 64) with payloads into one collection;
- features online: pushes of 10 rows to the embedded SQLite online store;
- features both: pushes of 10 rows online and to the view's source table (``to="both"``);
- tracking: ``log_metrics`` of 5 keys with ``flush_interval = 0`` (each call flushed);
  with the default buffer (one flush a second) the setting costs nothing measurable.

The clock covers the writes and ``lake.close()`` (so "batch" pays its flush at close);
creating the table, collection, view or run is not timed. Settings are interleaved in
each repeat; the report gives the median rate of ``--repeats`` runs and the ratio to
"never".

    flock /tmp/lakebed-bench.lock python bench/durability.py [--ops 150] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

import lakebed

SETTINGS = ("always", "batch", "never")
ROOT = Path(__file__).resolve().parent


def _tables(lake: lakebed.Lake, ops: int) -> Callable[[], None]:
    lake.tables.create("bench.t", schema={"id": "int64", "v": "float64"})

    def run() -> None:
        for i in range(ops):
            lake.tables.write("bench.t", [{"id": i * 10 + j, "v": float(j)} for j in range(10)])

    return run


def _vectors(lake: lakebed.Lake, ops: int) -> Callable[[], None]:
    col = lake.collections.create("bench", dim=64)
    rng = np.random.default_rng(0)
    batches = [rng.random((10, 64), dtype=np.float32) for _ in range(ops)]

    def run() -> None:
        for i, vecs in enumerate(batches):
            col.upsert(ids=list(range(i * 10, i * 10 + 10)), vectors=vecs,
                       payloads=[{"n": i} for _ in range(10)])

    return run


def _features(to: str) -> Callable[[lakebed.Lake, int], Callable[[], None]]:
    def setup(lake: lakebed.Lake, ops: int) -> Callable[[], None]:
        from lakebed.features import Entity, FeatureView, Field

        user = Entity("user", join_keys=["user_id"])
        view = FeatureView("v", entities=[user], source="bench.src", timestamp_field="ts",
                           ttl=timedelta(days=1), fields=[Field("x", "int64")])
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        lake.tables.create("bench.src", data=[{"user_id": 0, "ts": t0, "x": 0}])
        lake.features.apply([user, view])
        lake.features.push("v", [{"user_id": 0, "ts": t0, "x": 0}])  # opens the online store

        def run() -> None:
            for i in range(ops):
                ts = t0 + timedelta(seconds=i)
                lake.features.push("v", [{"user_id": i * 10 + j, "ts": ts, "x": i} for j in range(10)], to=to)

        return run

    return setup


def _tracking(lake: lakebed.Lake, ops: int) -> Callable[[], None]:
    lake.runs.flush_interval = 0
    run_ = lake.runs.start(experiment="bench")

    def run() -> None:
        for i in range(ops):
            run_.log_metrics({f"m{k}": float(i) for k in range(5)}, step=i)

    return run


AREAS: dict[str, tuple[str, Callable[[lakebed.Lake, int], Callable[[], None]], float]] = {
    # name: (what one operation is, setup, share of --ops)
    "tables": ("append of 10 rows", _tables, 1.0),
    "vectors": ("upsert of 10 vectors", _vectors, 1.0),
    "features online": ("push of 10 rows, online", _features("online"), 0.25),
    "features both": ("push of 10 rows, online + offline", _features("both"), 0.15),
    "tracking": ("log_metrics of 5 keys, flushed", _tracking, 2.0),
}


def measure(base: Path, area: str, fsync: str, ops: int) -> float:
    """Operations per second of one run."""
    path = Path(tempfile.mkdtemp(dir=base)) / "lake"
    lake = lakebed.connect(path, fsync=fsync)
    try:
        run = AREAS[area][1](lake, ops)
        start = time.perf_counter()
        run()
        lake.close()
        return ops / (time.perf_counter() - start)
    finally:
        lake.close()
        shutil.rmtree(path.parent, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=150, help="operations per run (scaled per area)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=ROOT.parent / ".bench-durability",
                    help="where the lakes are made (a disk, not a tmpfs)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "durability.md")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    rates: dict[tuple[str, str], list[float]] = {}
    began = time.perf_counter()
    try:
        for rep in range(args.repeats):
            for area, (_, _, share) in AREAS.items():
                order = SETTINGS if rep % 2 == 0 else tuple(reversed(SETTINGS))
                for fsync in order:
                    ops = max(5, int(args.ops * share))
                    rates.setdefault((area, fsync), []).append(measure(args.dir, area, fsync, ops))
                    print(f"repeat {rep + 1} {area:<16} {fsync:<7} {rates[(area, fsync)][-1]:8.1f} ops/s",
                          file=sys.stderr)
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)
    elapsed = time.perf_counter() - began
    lines = [
        "# Durability benchmark: the cost of the `fsync` setting",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} (shared with other jobs)",
        f"- {args.repeats} repeats, median rate; operations per run: --ops {args.ops} scaled per area; "
        f"run time {elapsed:.0f} s",
        "- the clock covers the writes and `lake.close()`; `bench/durability.py` describes the workloads",
        "",
        "| area | operation | always ops/s | batch ops/s | never ops/s | always / never | batch / never |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for area, (what, _, _) in AREAS.items():
        med = {s: statistics.median(rates[(area, s)]) for s in SETTINGS}
        lines.append(
            f"| {area} | {what} | {med['always']:.0f} | {med['batch']:.0f} | {med['never']:.0f} | "
            f"{med['always'] / med['never']:.2f} | {med['batch'] / med['never']:.2f} |"
        )
    lines += ["", f"Versions: lakebed {lakebed.__version__}, Python {platform.python_version()}", ""]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
