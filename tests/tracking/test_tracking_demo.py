"""The tracking tour of ``lakebed demo`` runs on a fresh lake and on one with
``gold.user_features``."""

from __future__ import annotations

import pytest
from rich.console import Console

from lakebed.tracking._demo import demo_section

pytest.importorskip("sklearn")


def test_demo_section_on_a_fresh_lake(lake):
    console = Console(record=True, width=160)
    demo_section(lake, console)
    text = console.export_text()
    assert "model:fraud@1" in text and "table:gold.fraud_train@0" in text
    assert lake.models.get("fraud@champion").version == 1
    assert lake.predictions("fraud@champion").read().num_rows == 5
    assert lake.runs.search("tags.demo = 'yes'").num_rows == 3
    ids = lake.runs.search("").column("run_id").to_pylist()
    curves = [lake.runs.get(r).metric_history("val_log_loss") for r in ids]
    assert all(c.num_rows == 10 and c.column("step").to_pylist() == list(range(10)) for c in curves)


def test_demo_section_uses_gold_user_features(lake):
    lake.tables.create(
        "gold.user_features",
        data=[{"user_id": i, "spend": float(i % 17), "n_tx": i % 5, "age_days": i} for i in range(60)],
    )
    console = Console(record=True, width=160)
    demo_section(lake, console)
    assert "table:gold.user_features@0" in console.export_text()
