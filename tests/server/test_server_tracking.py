"""Congruence of runs, models and lineage between an embedded and a served lake."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

import lakebed


def _script(lake: Any) -> list[Any]:
    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        if isinstance(result, pa.Table):
            result = result.drop_columns([c for c in result.column_names if c in ("run_id", "id")]).to_pylist()
            result = [{k: v for k, v in row.items() if "time" not in k} for row in result]
        out.append(result)

    lake.tables.create("gold.train", data=[{"x": 1.0, "y": 0}, {"x": 2.0, "y": 1}])
    with lake.runs.start(experiment="fraud", name="a", tags={"team": "risk"}) as run:
        run.log_params({"lr": 0.1, "depth": 3})
        run.log_metrics({"auc": 0.8}, step=0)
        run.log_metric("auc", 0.9, step=1)
        step(lambda: run.log_params({"lr": 0.2}))  # params are immutable
        step(lambda: run.log_input("gold.train@0"))
        run.log_model({"weights": [1, 2, 3]}, name="model", flavor="pickle")
        run.log_artifact(b"report", name="report.txt")
    a_id = run.id
    with pytest.raises(RuntimeError), lake.runs.start(experiment="fraud", name="b") as failing:
        failing.log_params({"lr": 0.5})
        raise RuntimeError("diverged")
    step(lambda: lake.runs.get(failing.id).status)
    step(lambda: lake.runs.get(a_id).metrics)
    step(lambda: lake.runs.get(a_id).params)
    step(lambda: lake.runs.search("metrics.auc > 0.85 and params.lr = '0.1'", experiment="fraud")
         .select(["name", "status"]))
    step(lambda: lake.runs.search("metrics.auc >>> 1"))
    step(lambda: lake.runs.get(a_id).load_artifact("report.txt"))
    step(lambda: lake.models.register("fraud", run=a_id).version)
    step(lambda: lake.models.register("fraud", run=a_id, artifact="nope"))
    step(lambda: lake.models.set_alias("fraud", "champion", 1))
    step(lambda: lake.models.load("fraud@champion"))
    step(lambda: [(v.version, v.aliases) for v in lake.models.versions("fraud")])
    step(lambda: lake.models.get("fraud@nope"))
    step(lambda: [(e.src.split(":")[0], e.dst.split(":")[0], e.kind)
                  for e in lake.lineage.upstream("model:fraud@1").edges])
    step(lambda: sorted(n.split(":")[0] for n in lake.lineage.downstream("table:gold.train@0").nodes))
    return out


def test_tracking_congruence(served_any: Any) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _script(embedded)
    with lakebed.connect(served_any.url) as remote:
        got = _script(remote)
    assert got == expected
    assert ("error", "ConflictError") in got


def test_runs_count_route_keys_injection_and_size(tmp_path: Any) -> None:
    """POST /v1/runs/count: the same key scope and parser as search; counts match the lake;
    SQL in the query is a 400 that changes nothing; oversized or negative input is refused."""
    from fastapi.testclient import TestClient

    from lakebed.server import create_app
    from lakebed.server import keys as key_store

    with lakebed.connect(tmp_path / "lake") as lake:
        for i in range(7):
            with lake.runs.start(experiment="a" if i < 4 else "b") as run:
                run.log_metric("auc", i / 10)
        reader = key_store.create(lake, "reader", scopes=["read"]).secret
        tables_only = key_store.create(lake, "t", scopes=["read"], grants=["tables:*"]).secret
        c = TestClient(create_app(lake))
        assert c.post("/v1/runs/count", json={"query": ""}).status_code == 401
        h = {"Authorization": f"Bearer {reader}"}
        got = c.post("/v1/runs/count", json={"query": "metrics.auc >= 0.3", "experiment": "a"}, headers=h)
        assert got.json() == {"count": lake.runs.count("metrics.auc >= 0.3", experiment="a")} == {"count": 1}
        assert c.post("/v1/runs/count", json={"query": ""},
                      headers={"Authorization": f"Bearer {tables_only}"}).status_code == 403
        bad = c.post("/v1/runs/count", json={"query": "1=1; DROP TABLE runs"}, headers=h)
        assert bad.status_code == 400 and lake.runs.count() == 7
        too_long = c.post("/v1/runs/count", json={"query": "metrics.auc > 0 " * 100_000}, headers=h)
        assert too_long.status_code in (400, 413, 422) and lake.runs.count() == 7
        assert c.post("/v1/runs/search", json={"query": "", "offset": -1}, headers=h).status_code == 422
        page = c.post("/v1/runs/search", json={"query": "", "offset": 5, "limit": 10}, headers=h)
        assert page.status_code == 200
