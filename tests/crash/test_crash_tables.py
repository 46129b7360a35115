"""Crash test for tables: a child appends multi-row batches and merges (updates + inserts)
into one table, acknowledging each call; it is SIGKILLed at random instants. After every kill
a fresh reader rebuilds the expected table from the acknowledged operations and compares it
exactly: every acknowledged batch is there, the in-flight one is wholly there or wholly
absent (a half-applied batch fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.crash._harness import run_crash_test

import lakebed

NAME = "bronze.crash"

WORKLOAD = r"""
import random
import lakebed

rng = random.Random(SEED)
with lakebed.connect(PATH) as lake:
    t = lake.tables
    t.create("bronze.crash", schema={"id": "int64", "v": "int64", "tag": "string"}, exist_ok=True)
    ids = t.read("bronze.crash", columns=["id"]).column("id").to_pylist()
    known = sorted(ids)
    next_id = (max(known) + 1) if known else 0
    while True:
        first = next_id
        if not known or rng.random() < 0.6:
            n = rng.randint(5, 60)
            rows = [[next_id + i, rng.randint(0, 10**9), f"a{rng.randint(0, 99)}"] for i in range(n)]
            next_id += n
            begin({"op": "append", "rows": rows})
            t.write("bronze.crash", [{"id": i, "v": v, "tag": g} for i, v, g in rows])
        else:
            upd = rng.sample(known, min(len(known), rng.randint(1, 50)))
            rows = [[i, rng.randint(0, 10**9), f"m{rng.randint(0, 99)}"] for i in upd]
            n = rng.randint(1, 30)
            rows += [[next_id + i, rng.randint(0, 10**9), f"n{rng.randint(0, 99)}"] for i in range(n)]
            next_id += n
            begin({"op": "merge", "rows": rows})
            t.merge("bronze.crash", [{"id": i, "v": v, "tag": g} for i, v, g in rows], on="id")
        ack()
        known.extend(r[0] for r in rows if r[0] >= first)
"""


def _apply(model: dict[int, tuple[int, str]], op: dict[str, Any]) -> None:
    for i, v, g in op["rows"]:
        if op["op"] == "append":
            assert i not in model, f"append of an id already there: {i}"
        model[i] = (v, g)


def check(path: Path, acked: list[dict[str, Any]], pending: dict[str, Any] | None) -> bool:
    model: dict[int, tuple[int, str]] = {}
    for op in acked:
        _apply(model, op)
    with lakebed.connect(path, read_only=True) as lake:
        if not lake.tables.exists(NAME):
            assert not model, "acknowledged writes but the table is gone"
            return False
        rows = lake.tables.read(NAME).to_pylist()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "an id appears twice (a merge was applied twice or half)"
    seen = {r["id"]: (r["v"], r["tag"]) for r in rows}
    if seen == model:
        return False
    if pending is not None:
        with_pending = dict(model)
        _apply(with_pending, pending)
        if seen == with_pending:
            return True
    missing = sorted(set(model) - set(seen))[:5]
    extra = sorted(set(seen) - set(model))[:5]
    changed = sorted(i for i in set(seen) & set(model) if seen[i] != model[i])[:5]
    raise AssertionError(
        f"table differs from the acknowledged writes (in flight: {pending and pending['op']}): "
        f"missing ids {missing}, extra ids {extra}, changed ids {changed}"
    )


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_crash_tables_append_and_merge(tmp_path: Path) -> None:
    stats = run_crash_test("tables crash", tmp_path, WORKLOAD, check,
                           acks_per_round=(1, 12), max_delay=0.3, timeout=300)
    assert stats["acked"] > 0
