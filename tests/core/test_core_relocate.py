"""A lake is a directory: copied, both copies work and are independent; moved, it works from
its new place. Covers every area: tables, collections (payloads and text), features
(definitions, materialization, online reads), runs (metrics, artifacts) and models."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from tests.core._lakes import add_stats_view

import lakebed
from lakebed.check import check_lake

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def _build(path: Path) -> str:
    """Fill a lake with one of everything; return the run id."""
    rng = np.random.default_rng(7)
    with lakebed.connect(path) as lake:
        add_stats_view(lake, NOW)
        col = lake.collections.create("vecs", dim=8)
        col.upsert([1, 2, 3], rng.random((3, 8), dtype=np.float32),
                   payloads=[{"source": "a"}, {"source": "b"}, {"source": "a"}])
        kb = lake.collections.create("kb", dim=64, text_field=True, embedder="hash")
        kb.add_texts(["red apples", "green pears"], ids=[1, 2], payloads=[{"n": 1}, {"n": 2}])
        with lake.runs.start(experiment="exp") as run:
            run.log_params({"C": 1.0})
            run.log_metric("auc", 0.91)
            run.log_artifact(b"weights " * 50, "weights.bin")
            run.log_model({"coef": [1, 2, 3]})
        lake.models.register("m", run=run)
    return str(run.id)


def _state(path: Path, run_id: str) -> dict[str, Any]:
    """What a user sees of the lake at ``path``."""
    with lakebed.connect(path, read_only=True) as lake:
        vecs = lake.collections.open("vecs")
        kb = lake.collections.open("kb")
        run = lake.runs.get(run_id)
        return {
            "tx": sorted(lake.tables.read("silver.tx").column("user_id").to_pylist()),
            "vecs": vecs.count(),
            "vecs_a": sorted(p.id for p in vecs.get([1, 2, 3, 4]) if p.payload.get("source") == "a"),
            "kb": sorted(h.id for h in kb.search_text("apples", k=10)),
            "kb_count": kb.count(),
            "online": lake.features.online([{"user_id": 1}, {"user_id": 3}], ["stats:amount"])["amount"],
            "auc": run.metrics["auc"],
            "weights": run.load_artifact("weights.bin") == b"weights " * 50,
            "model": lake.models.load("m")["coef"],
            "runs": len(lake.runs.search("")),
        }


def _write_through(path: Path) -> None:
    """Writes in every area through the lake at ``path``."""
    rng = np.random.default_rng(8)
    with lakebed.connect(path) as lake:
        lake.tables.write("silver.tx", [{"user_id": 3, "amount": 9.0, "ts": NOW}])
        vecs = lake.collections.open("vecs")
        vecs.upsert([4], rng.random((1, 8), dtype=np.float32), payloads=[{"source": "a"}])
        vecs.flush()
        lake.collections.open("kb").add_texts(["yellow apples"], ids=[3])
        lake.features.materialize()
        with lake.runs.start(experiment="exp") as run:
            run.log_metric("auc", 0.5)


def test_copied_lake_is_intact_and_independent(tmp_path: Path) -> None:
    original = tmp_path / "lake"
    run_id = _build(original)
    before = _state(original, run_id)
    assert before["vecs"] == 3 and before["kb"] == [1] and before["online"] == [2.5, None]

    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    assert _state(copy, run_id) == before

    _write_through(copy)
    after_copy = _state(copy, run_id)
    assert after_copy["tx"] == [1, 2, 3]
    assert after_copy["vecs"] == 4 and after_copy["vecs_a"] == [1, 3, 4]
    assert after_copy["kb"] == [1, 3] and after_copy["kb_count"] == 3
    assert after_copy["online"] == [2.5, 9.0]
    assert after_copy["runs"] == 2
    assert _state(original, run_id) == before  # the original did not see the copy's writes

    _write_through(original)  # and the other way round
    assert _state(original, run_id) == after_copy
    assert _state(copy, run_id) == after_copy
    assert check_lake(original) == [] and check_lake(copy) == []


def test_moved_lake_works_from_its_new_place(tmp_path: Path) -> None:
    original = tmp_path / "lake"
    run_id = _build(original)
    before = _state(original, run_id)
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(str(original), moved)
    assert not original.exists()
    assert _state(moved, run_id) == before
    _write_through(moved)
    assert _state(moved, run_id)["vecs"] == 4
    assert not original.exists()  # nothing written to the old place
    assert check_lake(moved) == []
