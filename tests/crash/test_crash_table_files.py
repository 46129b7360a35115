"""Crash test for tables made from files: a child creates tables from CSV files and appends
more files to them, acknowledging each call; it is SIGKILLed at random instants. After
every kill a fresh reader checks that every acknowledged file is in its table exactly once,
that the file in flight is wholly there or wholly absent (no table half made, no append
half applied), and that no other table appeared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.crash._harness import run_crash_test

import lakebed

WORKLOAD = r"""
import csv, os, random
import lakebed

rng = random.Random(SEED)
with lakebed.connect(PATH) as lake:
    t = lake.tables
    while True:
        names = t.list("files")
        n = rng.randint(500, 20_000)
        tag = rng.randint(0, 10**9)
        path = f"{PATH}-in-{tag}.csv"
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["k", "v"])
            w.writerows([k, tag] for k in range(n))
        if names and rng.random() < 0.5:
            name = rng.choice(names)
            begin({"op": "append", "name": name, "n": n, "tag": tag})
            t.write(name, path)
        else:
            name = f"files.t{len(names)}"
            begin({"op": "create", "name": name, "n": n, "tag": tag})
            t.create(name, data=path)
        ack()
        os.unlink(path)
"""


def _model(ops: list[dict[str, Any]]) -> dict[str, dict[int, int]]:
    """table -> {tag: rows} of the given file loads."""
    out: dict[str, dict[int, int]] = {}
    for op in ops:
        if op["op"] == "create":
            assert op["name"] not in out, f"{op['name']} created twice"
            out[op["name"]] = {}
        out[op["name"]][op["tag"]] = op["n"]
    return out


def check(path: Path, acked: list[dict[str, Any]], pending: dict[str, Any] | None) -> bool:
    with lakebed.connect(path, read_only=True) as lake:
        seen: dict[str, dict[int, int]] = {}
        for name in lake.tables.list("files"):
            tags = lake.sql(f"SELECT v AS tag, count(*) AS n FROM {name} GROUP BY 1").to_pylist()
            seen[name] = {r["tag"]: r["n"] for r in tags}
    if seen == _model(acked):
        return False
    if pending is not None and seen == _model([*acked, pending]):
        return True
    raise AssertionError(f"tables differ from the acknowledged file loads (in flight: {pending}): "
                         f"seen {seen}, acknowledged {_model(acked)}")


def test_crash_tables_from_files(tmp_path: Path) -> None:
    stats = run_crash_test("table files crash", tmp_path, WORKLOAD, check,
                           acks_per_round=(1, 6), max_delay=0.5, timeout=300)
    assert stats["acked"] > 0
