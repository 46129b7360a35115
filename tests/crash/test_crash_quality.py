"""Crash test for writes held to a contract with ``on_violation="quarantine"``: a child
appends batches, some rows of which fail the contract, acknowledging each call; it is
SIGKILLed at random instants. After every kill: every acknowledged batch's passing rows are
in the table and its failing rows in the quarantine table, each once; the batch in flight
is in neither, in the quarantine table only (its commit comes first, as docs/quality.md
says), or in both, never in the table without its quarantined rows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.crash._harness import crash_loop, kills

import lakebed

NAME, QUARANTINE = "bronze.guarded", "bronze.guarded__quarantine"

WORKLOAD = r"""
import random
import lakebed
from lakebed.quality import between

rng = random.Random(SEED)
with lakebed.connect(PATH) as lake:
    t = lake.tables
    t.create("bronze.guarded", schema={"id": "int64", "v": "int64"}, exist_ok=True)
    lake.quality.contract("bronze.guarded", checks=[between("v", 0, None)], on_violation="quarantine")
    ids = t.read("bronze.guarded", columns=["id"]).column("id").to_pylist()
    if t.exists("bronze.guarded__quarantine"):
        ids += t.read("bronze.guarded__quarantine", columns=["id"]).column("id").to_pylist()
    next_id = max(ids) + 1 if ids else 0
    while True:
        n = rng.randint(2, 40)
        rows = [[next_id + i, rng.randint(-30, 100)] for i in range(n)]
        next_id += n
        begin({"rows": rows})
        t.write("bronze.guarded", [{"id": i, "v": v} for i, v in rows])
        ack()
"""


def check(path: Path, acked: list[dict[str, Any]], pending: dict[str, Any] | None) -> bool:
    good = {i for op in acked for i, v in op["rows"] if v >= 0}
    bad = {i for op in acked for i, v in op["rows"] if v < 0}
    with lakebed.connect(path, read_only=True) as lake:
        table = lake.tables.read(NAME).column("id").to_pylist() if lake.tables.exists(NAME) else []
        quarantined = (lake.tables.read(QUARANTINE).column("id").to_pylist()
                       if lake.tables.exists(QUARANTINE) else [])
    assert len(table) == len(set(table)), "a row is in the table twice"
    assert len(quarantined) == len(set(quarantined)), "a row is in the quarantine table twice"
    assert not set(table) & set(quarantined), "a row is in both tables"
    assert bad <= set(quarantined), f"acknowledged failing rows missing: {sorted(bad - set(quarantined))[:5]}"
    applied = False
    extra = set(table) - good
    if extra:
        assert pending is not None, f"rows in the table that no acknowledged write made: {sorted(extra)[:5]}"
        p_good = {i for i, v in pending["rows"] if v >= 0}
        p_bad = {i for i, v in pending["rows"] if v < 0}
        assert extra == p_good, "the batch in flight is in the table in part"
        assert p_bad <= set(quarantined), "the batch in flight reached the table without its quarantined rows"
        applied = True
    else:
        assert good <= set(table), f"acknowledged passing rows missing: {sorted(good - set(table))[:5]}"
    if pending is not None and not applied and not {i for i, v in pending["rows"] if v >= 0}:
        # a batch that failed whole commits only the quarantine table: applied when it is there
        applied = {i for i, v in pending["rows"]} <= set(quarantined)
    # rows of a dropped batch may stay in quarantine (quarantine commits first): never in the table
    return applied


def test_crash_quarantine_writes(tmp_path: Path) -> None:
    """5 kills by default (each round starts a writer process; the suite has a time budget),
    LAKEBED_CRASH_KILLS for the long run."""
    n = kills() if "LAKEBED_CRASH_KILLS" in os.environ else 5
    stats = crash_loop(tmp_path, WORKLOAD, check, n_kills=n, acks_per_round=(1, 8))
    print(f"quality (quarantine): {stats}")
    assert stats["kills"] == n and stats["acked"] > 0
