"""Benchmark: lakebed tables vs raw ``deltalake`` + pyarrow on the same data, in one run.

Measures, for a deterministic table of ``--rows`` rows (default 10,000,000):

- write: ``lake.tables.create(name, data=t)`` vs ``write_deltalake(path, t)`` (fresh directory each time);
- full read: ``lake.tables.read(name)`` vs ``DeltaTable(path).to_pyarrow_table()``;
- projected read of 2 columns (``columns=[...]``);
- time-travel read of version 0 of a table that has since had two appends and an overwrite.

Medians of ``--read-repeats`` (>= 5) reads and ``--write-repeats`` (>= 3) writes; the order of the
two systems alternates between repeats. Prints the medians and the ratio lakebed/raw per operation and
writes ``bench/results/tables.md``. Run the full size under the machine-wide lock::

    flock /tmp/lakebed-bench.lock /work/venv/bin/python bench/tables.py
    /work/venv/bin/python bench/tables.py --rows 200000 --out /tmp/tables.md   # quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import deltalake
import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

import lakebed

NAME = "bench.events"
HISTORY = "bench.events_history"
PROJECTED = ["user", "amount"]
TARGET = 1.10  # lakebed may take at most 10% longer than raw deltalake
CATEGORIES = [
    "books",
    "electronics",
    "garden",
    "grocery",
    "health",
    "home",
    "kids",
    "music",
    "office",
    "outdoor",
    "pets",
    "shoes",
    "sports",
    "tools",
    "toys",
    "travel",
]


def make_table(rows: int, seed: int = 42, start_id: int = 0) -> pa.Table:
    """A deterministic event table: ids, users, UTC timestamps, amounts, a low-cardinality string."""
    rng = np.random.default_rng(seed)
    base = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1_000_000)
    ts = base + np.sort(rng.integers(0, 90 * 86_400 * 1_000_000, rows))
    cats = pa.array(CATEGORIES)
    return pa.table(
        {
            "id": pa.array(np.arange(start_id, start_id + rows, dtype=np.int64)),
            "user": pa.array(rng.integers(0, 1_000_000, rows, dtype=np.int64)),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "amount": pa.array(np.round(rng.lognormal(3.0, 1.0, rows), 2)),
            "category": cats.take(pa.array(rng.integers(0, len(CATEGORIES), rows))),
            "flag": pa.array(rng.random(rows) < 0.1),
            "quantity": pa.array(rng.integers(1, 10, rows, dtype=np.int32)),
            "score": pa.array(rng.random(rows, dtype=np.float32)),
            "discount": pa.array(rng.random(rows) * 0.3),
            "session": pa.array(rng.integers(0, 50_000_000, rows, dtype=np.int64)),
        }
    )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


class Systems:
    """Both systems' set-up (not timed) and one callable per timed operation."""

    def __init__(self, work: Path, table: pa.Table, extra: pa.Table) -> None:
        self.work = work
        self.table = table
        self.extra = extra
        self.lake_dir = work / "lakebed-read"
        self.raw_dir = work / "raw-read"
        self.raw_hist = work / "raw-read-history"
        # Two tables per system: NAME holds the full table as its only version (full and projected
        # reads); HISTORY starts with the same content, then gets two appends and an overwrite, so
        # reading its version 0 is a real time-travel read of the full table.
        self.lake = lakebed.connect(self.lake_dir)
        self.lake.tables.create(NAME, data=table)
        self.lake.tables.create(HISTORY, data=table)
        self.lake.tables.write(HISTORY, extra)
        self.lake.tables.write(HISTORY, extra)
        self.lake.tables.write(HISTORY, extra, mode="overwrite")
        write_deltalake(str(self.raw_dir), table, mode="error")
        write_deltalake(str(self.raw_hist), table, mode="error")
        write_deltalake(str(self.raw_hist), extra, mode="append")
        write_deltalake(str(self.raw_hist), extra, mode="append")
        write_deltalake(str(self.raw_hist), extra, mode="overwrite")
        self._n = 0

    def close(self) -> None:
        self.lake.close()

    def _fresh(self, prefix: str) -> Path:
        self._n += 1
        return self.work / f"{prefix}-write-{self._n}"

    # -- writes (each into a fresh directory; only the write itself is timed) -----------
    def write_lakebed(self) -> float:
        path = self._fresh("lakebed")
        lake = lakebed.connect(path)
        try:
            elapsed, _ = timed(lambda: lake.tables.create(NAME, data=self.table))
        finally:
            lake.close()
        shutil.rmtree(path)
        return elapsed

    def write_raw(self) -> float:
        path = self._fresh("raw")
        path.mkdir()
        elapsed, _ = timed(lambda: write_deltalake(str(path), self.table, mode="error"))
        shutil.rmtree(path)
        return elapsed

    # -- reads ---------------------------------------------------------------------------
    def read_lakebed(self, op: str) -> tuple[float, pa.Table]:
        t = self.lake.tables
        fns: dict[str, Callable[[], pa.Table]] = {
            "full read": lambda: t.read(NAME),
            "projected read (2 cols)": lambda: t.read(NAME, columns=PROJECTED),
            "time-travel read (v0)": lambda: t.read(HISTORY, version=0),
        }
        return timed(fns[op])

    def read_raw(self, op: str) -> tuple[float, pa.Table]:
        p, h = str(self.raw_dir), str(self.raw_hist)
        fns: dict[str, Callable[[], pa.Table]] = {
            "full read": lambda: DeltaTable(p).to_pyarrow_table(),
            "projected read (2 cols)": lambda: DeltaTable(p).to_pyarrow_table(columns=PROJECTED),
            "time-travel read (v0)": lambda: DeltaTable(h, version=0).to_pyarrow_table(),
        }
        return timed(fns[op])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores{mem}"


def run(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    table = make_table(args.rows)
    extra = make_table(max(args.rows // 10, 1), seed=7, start_id=args.rows)
    times: dict[str, dict[str, list[float]]] = {}
    base = Path(tempfile.mkdtemp(prefix="lakebed-bench-tables-", dir=args.workdir))
    try:
        print(f"{args.rows:,} rows, {table.nbytes / 2**20:.0f} MiB in memory; work dir {base}", flush=True)
        systems = Systems(base, table, extra)
        try:
            # Sanity (not timed): both systems hold the same content.
            for op in ("full read", "projected read (2 cols)", "time-travel read (v0)"):
                _, a = systems.read_lakebed(op)
                _, b = systems.read_raw(op)
                if not a.sort_by("id" if "id" in a.column_names else "user").equals(
                    b.sort_by("id" if "id" in b.column_names else "user")
                ):
                    raise SystemExit(f"lakebed and raw deltalake disagree on {op}")
                del a, b
            op = "write"
            times[op] = {"lakebed": [], "raw": []}
            for i in range(args.write_repeats):
                order = ["lakebed", "raw"] if i % 2 == 0 else ["raw", "lakebed"]
                for who in order:
                    fn = systems.write_lakebed if who == "lakebed" else systems.write_raw
                    times[op][who].append(fn())
                print(f"  {op} #{i + 1}: " + _fmt_pair(times[op], -1), flush=True)
            for op in ("full read", "projected read (2 cols)", "time-travel read (v0)"):
                times[op] = {"lakebed": [], "raw": []}
                for i in range(args.read_repeats):
                    order = ["lakebed", "raw"] if i % 2 == 0 else ["raw", "lakebed"]
                    for who in order:
                        reader = systems.read_lakebed if who == "lakebed" else systems.read_raw
                        elapsed, out = reader(op)
                        del out
                        times[op][who].append(elapsed)
                    print(f"  {op} #{i + 1}: " + _fmt_pair(times[op], -1), flush=True)
        finally:
            systems.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return times


def _fmt_pair(t: dict[str, list[float]], i: int) -> str:
    return f"lakebed {t['lakebed'][i]:.3f}s raw {t['raw'][i]:.3f}s"


def report(args: argparse.Namespace, times: dict[str, dict[str, list[float]]]) -> str:
    rows = []
    all_met = True
    for op, t in times.items():
        lb, raw = statistics.median(t["lakebed"]), statistics.median(t["raw"])
        ratio = lb / raw if raw > 0 else float("inf")
        met = ratio <= TARGET
        all_met &= met
        rows.append((op, len(t["lakebed"]), lb, raw, ratio, "met" if met else "NOT met"))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark: lakebed tables vs raw deltalake + pyarrow",
        "",
        f"- Date: {now}",
        f"- Machine: {machine()} (shared; run under `flock /tmp/lakebed-bench.lock`)",
        f"- Versions: Python {platform.python_version()}, lakebed {lakebed.__version__}, "
        f"deltalake {deltalake.__version__}, pyarrow {pa.__version__}",
        f"- Data: {args.rows:,} rows x 10 columns (id int64, user int64, ts timestamp[us, UTC], "
        "amount float64, category string (16 values), flag bool, quantity int32, score float32, "
        "discount float64, session int64), generated deterministically (numpy seed 42)",
        f"- Repeats: {args.write_repeats} writes, {args.read_repeats} reads per operation and system "
        "(median; the systems alternate which goes first)",
        "- write: `lake.tables.create(name, data=t)` vs `write_deltalake(path, t)`, each into a fresh "
        "directory; reads: `lake.tables.read(...)` vs `DeltaTable(path[, version]).to_pyarrow_table(...)`; "
        f"projected read: columns {PROJECTED}; time travel: version 0 (the full table) of a second table "
        f"that has since had two appends of {max(args.rows // 10, 1):,} rows and an overwrite with them",
        "",
        "| operation | repeats | lakebed (s) | raw deltalake (s) | lakebed / raw | target <= 1.10 |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for op, n, lb, raw, ratio, met in rows:
        lines.append(f"| {op} | {n} | {lb:.3f} | {raw:.3f} | {ratio:.3f} | {met} |")
    lines += [
        "",
        f"Target (overhead <= 10% on each operation): **{'met' if all_met else 'NOT met'}**.",
        "",
        "All timings (s):",
        "",
    ]
    for op, t in times.items():
        lines.append(
            f"- {op}: lakebed {', '.join(f'{x:.3f}' for x in t['lakebed'])}; "
            f"raw {', '.join(f'{x:.3f}' for x in t['raw'])}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the table (default 10M)")
    parser.add_argument("--read-repeats", type=int, default=5, help="repeats per read (>= 5 for results)")
    parser.add_argument("--write-repeats", type=int, default=3, help="repeats per write (>= 3 for results)")
    parser.add_argument("--workdir", default=None, help="where the tables go (default: system temp dir)")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "tables.md"), help="markdown report path"
    )
    args = parser.parse_args(argv)
    times = run(args)
    text = report(args, times)
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
