from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

import lakebed
from lakebed.demo import generate_events, run_demo


def test_generated_events_are_deterministic_and_dirty() -> None:
    a = generate_events(n_users=50, n_transactions=2_000, seed=3)
    b = generate_events(n_users=50, n_transactions=2_000, seed=3)
    assert all(a[k].equals(b[k]) for k in a)
    txns = a["transactions"]
    ids = txns.column("txn_id").to_pylist()
    assert len(ids) > len(set(ids)), "the raw export should contain duplicates"
    assert "" in txns.column("amount").to_pylist(), "the raw export should contain missing amounts"
    late = a["late_transactions"]
    assert min(late.column("created_at").to_pylist()) > max(txns.column("ts").to_pylist())


def test_demo_runs_end_to_end(demo_lake: tuple[Path, str]) -> None:
    root, out = demo_lake
    assert "Time travel" in out and "done" in out
    with lakebed.connect(root, read_only=True) as lake:
        for name in ["bronze.transactions", "silver.transactions", "gold.user_features"]:
            assert lake.tables.exists(name)
        silver = lake.tables.read("silver.transactions")
        ids = silver.column("txn_id").to_pylist()
        assert len(ids) == len(set(ids)), "silver must be deduplicated"
        assert silver.column("amount").null_count == 0
        assert lake.tables.version("silver.transactions") == 1
        # gold at version 0 predates the late events
        v0 = lake.tables.read("gold.user_features", version=0).column("txn_count").to_pylist()
        v1 = lake.tables.read("gold.user_features").column("txn_count").to_pylist()
        assert sum(v1) > sum(v0)
        # the streams tour: every click streamed is in the offline table once and applied online
        appended = sum(n for _, n in lake.streams.get("clicks").bounds())
        assert appended > 100
        assert lake.tables.read("bronze.clicks").num_rows == appended
        assert "candidates ranked by the model" in out


def test_demo_refuses_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    with pytest.raises(lakebed.InvalidArgument, match="not empty"):
        run_demo(tmp_path, Console(record=True))
