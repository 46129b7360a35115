"""Congruence of runs, models and lineage between an embedded and a served lake."""

from __future__ import annotations

import dataclasses
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


def _plain(value: Any) -> Any:
    """``value`` comparable across processes: NaN as a string, tables as rows without the
    columns a write or a run makes up (ids, times)."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items() if k != "run_id"}
    if isinstance(value, pa.Table):
        drop = {"ts", "day", "run_id"}
        return _plain(value.select([c for c in value.column_names if c not in drop]).to_pylist())
    return value


def _script_remote_methods(lake: Any, tmp: Any) -> list[Any]:
    """Every method that became remote, called on the same data."""
    import datetime as dt
    import pickle

    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        out.append(_plain(result))

    lake.tables.create("gold.train", data=[{"x": 1.0, "y": 0}, {"x": 2.0, "y": 1}])
    lake.tables.create("gold.labels", data=[{"request_id": "a", "label": 1}, {"request_id": "b", "label": 0}])
    report = tmp / "report.txt"
    report.write_bytes(b"a report")
    with lake.runs.start(experiment="fraud", name="a") as run:
        run.log_metric("loss", 0.5, step=2, timestamp=1000.0)
        run.log_metric("loss", 0.25, step=3, timestamp=1001.5)
        run.log_metric("train/loss", float("nan"))
        step(lambda: run.log_metric("loss", "high"))  # type: ignore[arg-type]
        step(lambda: run.log_input(("gold.train", 0)))
        step(lambda: run.log_input("table:gold.labels@0", kind="labels"))
        step(lambda: run.inputs)
        step(lambda: run.log_model({"w": [1, 2]}))
        step(lambda: run.log_model_bytes(pickle.dumps({"v": 2}), "m2", "pickle"))
        step(lambda: run.log_model_bytes(b"x", "m3", "nope"))
        step(lambda: run.log_artifact(report))
        step(lambda: run.log_artifact(b"nested", name="plots/roc.txt"))
        step(lambda: run.log_artifact(tmp / "missing.txt"))
    run = lake.runs.get(run)
    step(lambda: run.metric_history("loss"))
    step(lambda: run.metric_history("train/loss").drop_columns(["timestamp"]))
    step(lambda: run.metrics)
    step(lambda: [(a.name, a.sha256, a.size, a.kind, a.flavor, a.properties) for a in run.artifacts])
    step(lambda: run.artifact("report.txt"))
    step(lambda: run.artifact("nope"))
    step(lambda: run.load_artifact("plots/roc.txt"))
    step(lambda: run.load_model())
    step(lambda: run.load_model("m2"))
    step(lambda: run.load_model("report.txt"))
    step(lambda: run.environment == lake.runs.get(run.id).environment and len(run.environment) > 0)
    with lake.runs.start(experiment="churn"):
        pass
    step(lambda: lake.runs.experiments())
    step(lambda: lake.models.register("fraud", run=run).version)
    step(lambda: lake.models.register("fraud", run=run, artifact="m2").version)
    step(lambda: lake.models.set_alias("fraud", "champion", 1))
    for args in (("fraud@champion",), ("fraud",), ("fraud", 1), ("fraud", "champion"), ("fraud@1", 2),
                 ("fraud@nope",), ("nope",), ("bad name",), ("fraud@9",)):
        step(lambda args=args: lake.models.resolve(*args))  # type: ignore[misc]
    step(lambda: lake.models.get("fraud", 2).artifact)
    step(lambda: lake.models.get("fraud@1", 2))
    step(lambda: lake.lineage.resolve("model:fraud@champion"))
    step(lambda: lake.lineage.resolve("table:gold.train"))
    step(lambda: lake.lineage.resolve("not a ref"))
    step(lambda: [(e.src.split(":")[0], e.dst, e.kind) for e in lake.lineage.edges(["model:fraud@1"])])
    step(lambda: sorted((e.src.split(":")[0], e.dst.split(":")[0], e.kind) for e in lake.lineage.edges()))
    step(lambda: lake.lineage.edges([]))
    step(lambda: lake.lineage.training_set_of("fraud@champion"))
    step(lambda: lake.lineage.training_set_of("model:fraud@2"))
    step(lambda: lake.lineage.training_set_of("nope"))
    step(lambda: lake.lineage.reproduce_training_set("fraud"))
    step(lambda: lake.lineage.upstream("model:fraud@1", depth=0).nodes)

    log = lake.predictions("fraud@champion")
    step(lambda: (repr(log), log.name, log.version, log.table_name))
    step(lambda: log.read())
    step(lambda: log.write({"amount": [10.0, 99.0]}, [0, 1], request_ids=["a", "b"], latency_ms=[1.5, 2.5]))
    step(lambda: log.write(pa.table({"amount": [5.0]}), {"score": [0.7], "label": ["x"]}, request_ids=["c"],
                           latency_ms=3.0))
    step(lambda: log.write([{"amount": 1.0}, {"amount": 2.0}], [1]))
    step(lambda: log.write({"amount": [1.0]}, [1], request_ids=["a", "b"]))
    step(lambda: log.write({}, []))
    step(lambda: log.read())
    step(lambda: log.read(columns=["request_id", "prediction", "output_score"]))
    step(lambda: log.read(columns=["nope"]))
    step(lambda: log.read(version=2))
    step(lambda: log.read(start=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
    step(lambda: log.read(end=dt.datetime(2100, 1, 1)).num_rows)
    step(lambda: log.join_labels({"request_id": ["a", "b", "z"], "label": [1, 0, 1]}))
    step(lambda: log.join_labels("gold.labels", how="left outer"))
    step(lambda: log.join_labels([{"rid": "a"}]))
    step(lambda: log.join_labels({"request_id": ["a"]}, on="nope"))
    step(lambda: log.join_labels("gold.nope"))
    latest = lake.predictions("fraud")
    step(lambda: (latest.version, latest.write({"amount": [7.0]}, [1], request_ids=["d"])))
    step(lambda: lake.predictions("fraud").read(columns=["request_id", "model_version"]))
    step(lambda: lake.predictions("fraud@2").read(columns=["request_id"]))
    step(lambda: repr(lake.predictions("fraud@nope")))
    step(lambda: repr(lake.predictions("nope@1")))
    step(lambda: repr(lake.predictions("bad name")))
    step(lambda: repr(lake.predictions("fraud@")))
    step(lambda: sorted(n.split(":")[0] for n in lake.lineage.upstream("predictions:fraud@1").nodes))
    return out


def test_tracking_congruence_of_the_newly_remote_methods(served_any: Any, tmp_path: Any) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "r").mkdir()
    with lakebed.connect(":memory:") as embedded:
        expected = _script_remote_methods(embedded, tmp_path / "e")
    with lakebed.connect(served_any.url) as remote:
        got = _script_remote_methods(remote, tmp_path / "r")
    assert got == expected
    assert ["error", "InvalidArgument"] in got and ["error", "NotFound"] in got
    assert ["table:gold.train@0"] in got  # the inputs: kind="labels" is another edge kind


def test_remote_run_objects_match_the_embedded_ones(served: Any) -> None:
    """A run, its artifacts, model versions and lineage edges come back as the embedded
    classes with the same values."""
    from lakebed.tracking import Artifact, LineageEdge, ModelVersion

    with lakebed.connect(served.url) as remote:
        with remote.runs.start(experiment="x", tags={"t": 1}) as run:
            art = run.log_model({"w": 1})
        mv = remote.models.register("m", run=run)
        same = served.lake.runs.get(run.id)
        assert isinstance(art, Artifact) and art == same.artifact("model")
        assert isinstance(mv, ModelVersion) and mv == served.lake.models.get("m@1")
        assert remote.runs.get(run).id == run.id == remote.runs.get(same).id
        got = remote.runs.get(run.id)
        for attr in ("experiment", "name", "status", "start_time", "end_time", "user", "host", "python_version",
                     "git_commit", "git_dirty", "error"):
            assert getattr(got, attr) == getattr(same, attr), attr
        edges = remote.lineage.edges([mv.ref])
        assert edges == served.lake.lineage.edges([mv.ref]) and isinstance(edges[0], LineageEdge)
        assert [e.properties for e in edges] == [e.properties for e in served.lake.lineage.edges([mv.ref])]


def test_new_tracking_routes_keys_grants_injection_and_size(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The routes added for the newly remote methods: no key 401, a read key on a write
    route 403, grants per prediction log and on the tables a route reads, names and refs
    parsed (injections are 400/404 and change nothing), oversized input refused."""
    from fastapi.testclient import TestClient
    from tests._injections import SQL_INJECTIONS, snapshot

    from lakebed._wire import table_to_ipc
    from lakebed.server import create_app
    from lakebed.server import keys as key_store
    from lakebed.server.routers import tracking as tracking_routes

    arrow = {"content-type": "application/vnd.apache.arrow.stream"}
    with lakebed.connect(tmp_path / "lake") as lake:
        lake.tables.create("gold.train", data=[{"x": 1.0}])
        lake.tables.create("gold.secret", data=[{"request_id": "a", "label": 1}])
        with lake.runs.start() as run:
            run.log_input(("gold.train", 0))
            run.log_model({"w": 1})
        lake.models.register("fraud", run=run)
        lake.models.register("other", run=run)
        lake.predictions("fraud@1").write({"x": [1.0]}, [1], request_ids=["a"])
        keys = {
            "reader": key_store.create(lake, "reader", scopes=["read"]).secret,
            "writer": key_store.create(lake, "writer", scopes=["write"]).secret,
            "other_log": key_store.create(lake, "o", scopes=["write"], grants=["predictions:other"]).secret,
            "fraud_log": key_store.create(lake, "f", scopes=["write"], grants=["predictions:fraud"]).secret,
            "lineage_only": key_store.create(lake, "l", scopes=["read"], grants=["lineage:*"]).secret,
            "lineage_train": key_store.create(lake, "lt", scopes=["read"],
                                              grants=["lineage:*", "tables:gold.train"]).secret,
        }
        h = {name: {"Authorization": f"Bearer {secret}"} for name, secret in keys.items()}
        c = TestClient(create_app(lake))
        rows = table_to_ipc(pa.table({"input_x": [2.0], "prediction": [0]}))
        reads = [("GET", "/v1/experiments"), ("GET", f"/v1/runs/{run.id}/inputs"),
                 ("GET", f"/v1/runs/{run.id}/environment"), ("GET", f"/v1/runs/{run.id}/artifacts"),
                 ("GET", "/v1/models/fraud/resolve"), ("GET", "/v1/lineage/resolve?ref=model:fraud"),
                 ("POST", "/v1/lineage/edges"), ("GET", "/v1/lineage/training_set?model=fraud"),
                 ("GET", "/v1/lineage/training_set/data?model=fraud"), ("GET", "/v1/predictions/fraud"),
                 ("GET", "/v1/predictions/fraud/read"), ("POST", "/v1/predictions/fraud/join_labels?table=gold.secret")]
        for method, url in reads:
            kw: dict[str, Any] = {"json": {"refs": None}} if url.endswith("/edges") else {}
            assert c.request(method, url, **kw).status_code == 401, url
            assert c.request(method, url, headers=h["reader"], **kw).status_code == 200, url
        write = "/v1/predictions/fraud/write?version=1"
        assert c.post(write, content=rows, headers=arrow).status_code == 401
        assert c.post(write, content=rows, headers={**arrow, **h["reader"]}).status_code == 403
        assert c.post(write, content=rows, headers={**arrow, **h["other_log"]}).status_code == 403
        assert c.get("/v1/predictions/fraud/read", headers=h["other_log"]).status_code == 403
        assert c.post(write, content=rows, headers={**arrow, **h["fraud_log"]}).status_code == 200
        assert lake.predictions("fraud").read().num_rows == 2
        assert c.post(f"/v1/runs/{run.id}/inputs", json={"ref": "gold.train@0"},
                      headers=h["reader"]).status_code == 403
        # a prediction-log grant reaches no table: labels from a table need its grant
        assert c.post("/v1/predictions/fraud/join_labels?table=gold.secret",
                      headers=h["fraud_log"]).status_code == 403
        # the training set's data needs the grant on its table, not just lineage
        data = "/v1/lineage/training_set/data?model=fraud"
        assert c.get("/v1/lineage/training_set?model=fraud", headers=h["lineage_only"]).status_code == 200
        assert c.get(data, headers=h["lineage_only"]).status_code == 403
        got = c.get(data, headers=h["lineage_train"])
        assert got.status_code == 200 and pa.ipc.open_stream(got.content).read_all().to_pylist() == [{"x": 1.0}]
        assert c.get(f"/v1/runs/{run.id}/inputs", headers=h["fraud_log"]).status_code == 403

        before = snapshot(lake.path)
        edges_before = lake.lineage.edges()
        for attack in [*SQL_INJECTIONS[:8], "model:fraud@1' OR '1'='1", "../../etc/passwd", "table:../../x@1"]:
            got = c.get("/v1/lineage/resolve", params={"ref": attack}, headers=h["reader"])
            # refused, or a well-formed ref given back as it is (a ref is a name, never a path opened)
            assert got.status_code in (400, 404) or (got.status_code == 200 and got.json() == {"ref": attack})
            assert c.get("/v1/lineage/training_set", params={"model": attack},
                         headers=h["reader"]).status_code in (400, 404)
            assert c.get("/v1/models/x/resolve", params={"version": attack},
                         headers=h["reader"]).status_code in (400, 404)
            assert c.post(f"/v1/runs/{run.id}/inputs", json={"ref": "gold.train@0", "kind": attack + "\n"},
                          headers=h["writer"]).status_code == 400
        for name in ("..", "..%2F..%2Fetc", "fraud@1", "fraud%00", "fraud;DROP TABLE runs", "predictions.fraud"):
            for method, url in (("GET", f"/v1/predictions/{name}"), ("GET", f"/v1/predictions/{name}/read"),
                                ("POST", f"/v1/predictions/{name}/write")):
                got = c.request(method, url, content=rows, headers={**arrow, **h["writer"]})
                assert got.status_code in (400, 404, 405), (name, url, got.status_code)
        for bad in ("gold.secret'; DROP TABLE x; --", "../../etc/passwd", "gold.nope"):
            got = c.post("/v1/predictions/fraud/join_labels", params={"table": bad}, headers=h["writer"])
            assert got.status_code in (400, 404), bad
        assert snapshot(lake.path) == before and lake.lineage.edges() == edges_before

        # malformed and oversized bodies: 400/413/422, nothing written
        v = lake.tables.version("predictions.fraud")
        for body in (table_to_ipc(pa.table({"x": [1.0], "prediction": [1]})),
                     table_to_ipc(pa.table({"input_x": [1.0]})),
                     table_to_ipc(pa.table({"input_x": [1.0], "prediction": [1], "output_y": [1]})),
                     table_to_ipc(pa.table({"input_x": [1.0], "prediction": [1], "request_id": pa.array([None],
                                                                                                     pa.string())})),
                     table_to_ipc(pa.table({"input_x": [1.0], "prediction": [1], "latency_ms": ["slow"]})),
                     b"not arrow"):
            got = c.post(write, content=body, headers={**arrow, **h["writer"]})
            assert got.status_code == 400, got.text
        monkeypatch.setattr(tracking_routes, "MAX_PREDICTION_ROWS", 10)
        many = table_to_ipc(pa.table({"input_x": [1.0] * 11, "prediction": [1] * 11}))
        assert c.post(write, content=many, headers={**arrow, **h["writer"]}).status_code == 400
        assert lake.tables.version("predictions.fraud") == v
        assert c.post("/v1/lineage/edges", json={"refs": ["model:fraud@1"] * 10_001},
                      headers=h["reader"]).status_code == 422
        assert c.get("/v1/predictions/fraud/read", params={"columns": ["request_id"] * 1001},
                     headers=h["reader"]).status_code in (400, 414, 422)
        assert c.post(f"/v1/runs/{run.id}/metrics", content=b'{"metrics": {"m": 1.0}, "timestamp": 1e400}',
                      headers={"content-type": "application/json", **h["writer"]}).status_code in (400, 422)
        assert "m" not in lake.runs.get(run.id).metrics


def test_recording_lineage_embedded_remote_keys_and_bad_input(served: Any) -> None:
    """``lineage.record``: the same edges embedded and through the server; a read key or a
    key without the lineage grant is refused; refs, kinds and properties are parsed, and
    nothing is recorded for bad input."""
    from fastapi.testclient import TestClient
    from tests._injections import SQL_INJECTIONS

    from lakebed.server import create_app
    from lakebed.server import keys as key_store

    def script(lake: Any) -> list[Any]:
        out: list[Any] = []
        for args in (("table:bronze.raw@2", "table:silver.clean@5", "etl", {"job": "nightly", "n": [1, 2]}),
                     ("table:bronze.raw@2", "table:silver.clean@5", "etl", {"job": "again"}),   # exists: unchanged
                     ("table:silver.clean@5", "model:fraud@1", "training", None),
                     ("table:bronze.raw@2", "table:bronze.raw@2", "etl", None),                # a loop
                     ("bronze.raw", "table:x.y@1", "etl", None),                               # not a ref
                     ("table:a.b@1", "table:c.d@1", "two\nlines", None),                       # not a label
                     ("table:a.b@1", "table:c.d@1", "etl", {"x": float("nan")}),               # not JSON
                     ("table:a.b@1", "table:c.d@1", "etl", {"blob": "x" * 70_000})):           # too big
            try:
                lake.lineage.record(*args)
                out.append("ok")
            except lakebed.LakebedError as exc:
                out.append(type(exc).__name__)
        out.append(sorted((e.src, e.dst, e.kind, str(e.properties)) for e in lake.lineage.edges()))
        return out

    with lakebed.connect(":memory:") as embedded:
        expected = script(embedded)
    with lakebed.connect(served.url) as remote:
        assert script(remote) == expected
    assert expected[:4] == ["ok", "ok", "ok", "InvalidArgument"] and len(expected[-1]) == 2

    lake = served.lake
    keys = {name: key_store.create(lake, name, scopes=scopes, grants=grants).secret for name, scopes, grants in (
        ("reader", ["read"], None), ("writer", ["write"], None), ("runs_only", ["write"], ["runs:*"]),
        ("lineage", ["write"], ["lineage:*"]))}
    c = TestClient(create_app(lake))
    body = {"src": "table:a.b@1", "dst": "table:c.d@2", "kind": "dagster", "properties": {"run": "r1"}}
    before = lake.lineage.edges()
    assert c.post("/v1/lineage/record", json=body).status_code == 401
    for name in ("reader", "runs_only"):
        assert c.post("/v1/lineage/record", json=body, headers={"Authorization": f"Bearer {keys[name]}"}
                      ).status_code == 403
    writer = {"Authorization": f"Bearer {keys['writer']}"}
    for attack in [*SQL_INJECTIONS[:6], "table:../../etc@1", "table:a.b@1\n"]:
        for field in ("src", "dst"):   # a ref is parsed: anything else is refused
            got = c.post("/v1/lineage/record", json={**body, field: attack}, headers=writer)
            assert got.status_code in (400, 422), (field, attack, got.status_code)
        # a kind is a label (printable text, stored as data): control characters are refused
        got = c.post("/v1/lineage/record", json={**body, "kind": attack + "\x00"}, headers=writer)
        assert got.status_code in (400, 422), (attack, got.status_code)
    assert c.post("/v1/lineage/record", json={**body, "extra": 1}, headers=writer).status_code == 422
    assert c.post("/v1/lineage/record", json={**body, "src": "table:a.b@" + "1" * 5000},
                  headers=writer).status_code == 422
    assert lake.lineage.edges() == before
    ok = c.post("/v1/lineage/record", json=body, headers={"Authorization": f"Bearer {keys['lineage']}"})
    assert ok.status_code == 200
    assert [(e.src, e.dst, e.kind, e.properties) for e in lake.lineage.edges(["table:c.d@2"])] == \
        [("table:a.b@1", "table:c.d@2", "dagster", {"run": "r1"})]
