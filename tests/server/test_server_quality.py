"""Quality over HTTP: contracts, enforcement through /write, results, profiles, drift,
reports; scopes, grants, injection, traversal and oversized input."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from tests._injections import WHERE_INJECTIONS
from tests.server.test_server_security import served_app_auth_on

import lakebed
from lakebed.server import keys

CONTRACT = {
    "checks": [{"kind": "not_null", "column": "id"}, {"kind": "between", "column": "age", "min": 0, "max": 130},
               {"kind": "unique", "columns": ["id"]}],
    "on_violation": "reject",
}


@pytest.fixture
def secured(served: Any) -> tuple[Any, dict[str, str]]:
    lake = served.lake
    lake.tables.create("silver.users", data=[{"id": 1, "age": 30}, {"id": 2, "age": 40}])
    lake.tables.create("gold.secret", data=[{"id": 7, "age": 99}])
    made = {
        "admin": keys.create(lake, "admin", ["admin"]).secret,
        "reader": keys.create(lake, "reader", ["read"]).secret,
        "writer": keys.create(lake, "writer", ["write"]).secret,
        "silver": keys.create(lake, "silver-only", ["write"], grants=["tables:silver.*"]).secret,
    }
    served_app_auth_on(served)
    return served, {k: v or "" for k, v in made.items()}


def call(method: str, url: str, key: str | None, **kw: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, url, headers=headers, timeout=30, **kw)


def test_contract_enforced_through_the_write_route(secured: tuple[Any, dict[str, str]]) -> None:
    served, k = secured
    base = f"{served.url}/v1/quality"
    r = call("PUT", f"{base}/contracts/silver.users", k["writer"], json=CONTRACT)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    bad = call("POST", f"{served.url}/v1/tables/silver.users/write", k["writer"],
               json={"rows": [{"id": 3, "age": 500}]})
    assert bad.status_code == 400
    err = bad.json()["error"]
    assert err["type"] == "QualityError" and "between(age, 0, 130): 1 of 1" in err["message"], err
    assert served.lake.tables.version("silver.users") == 0
    ok = call("POST", f"{served.url}/v1/tables/silver.users/write", k["writer"],
              json={"rows": [{"id": 3, "age": 50}]})
    assert ok.status_code == 200 and ok.json()["version"] == 1
    res = call("GET", f"{base}/results", k["reader"], params={"table": "silver.users"}).json()
    assert [x["action"] for x in res] == ["accept", "reject"]
    one = call("GET", f"{base}/results/{res[1]['id']}", k["reader"]).json()
    assert one["checks"][1]["failing"] == 1 and one["checks"][1]["samples"][0]["age"] == 500
    v = call("POST", f"{base}/validate/silver.users", k["writer"], params={"version": 0})
    assert v.status_code == 200 and v.json()["passed"] and v.json()["table_version"] == 0
    got = call("GET", f"{base}/contracts/silver.users", k["reader"]).json()
    assert got["on_violation"] == "reject" and len(got["checks"]) == 3
    p = call("POST", f"{base}/profile/silver.users", k["writer"]).json()
    assert p["rows"] == 3 and {c["name"] for c in p["columns"]} == {"id", "age"}
    assert len(call("GET", f"{base}/profiles/silver.users", k["reader"]).json()) == 1
    d = call("POST", f"{base}/drift", k["reader"], json={"reference": "silver.users@0", "current": "silver.users"})
    assert d.status_code == 200 and d.json()["reference"]["ref"] == "table:silver.users@0"
    html = call("GET", f"{base}/report", k["reader"], params={"table": "silver.users"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in html.headers["content-security-policy"] and "<svg" in html.text
    js = call("GET", f"{base}/report", k["reader"], params={"table": "silver.users", "format": "json"}).json()
    assert len(js["results"]) == 3
    assert call("DELETE", f"{base}/contracts/silver.users", k["writer"]).status_code == 200
    assert call("GET", f"{base}/contracts", k["reader"]).json() == []


def test_scopes_and_grants(secured: tuple[Any, dict[str, str]]) -> None:
    served, k = secured
    base = f"{served.url}/v1/quality"
    assert call("GET", f"{base}/results", None).status_code == 401
    assert call("GET", f"{base}/contracts", "lb_nope_nope").status_code == 401
    assert call("PUT", f"{base}/contracts/silver.users", k["reader"], json=CONTRACT).status_code == 403
    assert call("POST", f"{base}/validate/silver.users", k["reader"]).status_code == 403
    assert call("POST", f"{base}/profile/silver.users", k["reader"]).status_code == 403
    assert call("PUT", f"{base}/contracts/gold.secret", k["silver"], json=CONTRACT).status_code == 403
    assert call("PUT", f"{base}/contracts/gold.secret", k["admin"], json=CONTRACT).status_code == 200
    assert call("PUT", f"{base}/contracts/silver.users", k["silver"], json=CONTRACT).status_code == 200
    assert call("POST", f"{base}/validate/gold.secret", k["admin"]).status_code == 200
    # a key granted silver.* sees neither gold's contract nor its results nor its data through drift
    assert [c["table"] for c in call("GET", f"{base}/contracts", k["silver"]).json()] == ["silver.users"]
    assert call("GET", f"{base}/contracts/gold.secret", k["silver"]).status_code == 403
    assert call("GET", f"{base}/results", k["silver"]).json() == []
    assert call("GET", f"{base}/results", k["silver"], params={"table": "gold.secret"}).status_code == 403
    rid = call("GET", f"{base}/results", k["admin"]).json()[0]["id"]
    assert call("GET", f"{base}/results/{rid}", k["silver"]).status_code == 403
    for side in ("gold.secret", "gold.secret@0", "table:gold.secret@0", "predictions:secret"):
        r = call("POST", f"{base}/drift", k["silver"], json={"reference": "silver.users", "current": side})
        assert r.status_code == 403, side
    r = call("GET", f"{base}/report", k["silver"], params={"reference": "silver.users", "current": "gold.secret"})
    assert r.status_code == 403
    assert call("GET", f"{base}/report", k["silver"], params={"table": "gold.secret"}).status_code == 403


def test_hostile_input_is_refused_and_changes_nothing(secured: tuple[Any, dict[str, str]]) -> None:
    served, k = secured
    base = f"{served.url}/v1/quality"
    lake = served.lake
    before = lake.tables.read("silver.users")
    for bad in WHERE_INJECTIONS[:20]:
        body = {"checks": [{"kind": "sql", "expression": bad}]}
        r = call("PUT", f"{base}/contracts/silver.users", k["admin"], json=body)
        assert r.status_code == 400, (bad, r.text)
    bad_bodies = [
        {"checks": [{"kind": "exec", "code": "import os"}]},
        {"checks": [{"kind": "matches", "column": "age", "pattern": "(?<=x)"}]},
        {"checks": [{"kind": "not_null"}]},
        {"checks": [{"kind": "isin", "column": "id", "values": list(range(20_000))}]},
        {"checks": [{"kind": "not_null", "column": "id"}] * 201},
        {"checks": [], "on_violation": "delete_everything"},
        {"checks": [{"kind": "between", "column": "age", "min": "a", "max": "b"}]},
    ]
    for body in bad_bodies:
        r = call("PUT", f"{base}/contracts/silver.users", k["admin"], json=body)
        assert r.status_code in (400, 422), (body, r.status_code)
    for name in ("..%2F..%2Fetc.passwd", "silver.users;drop", "a.b.c", "%2e%2e.x"):
        r = call("PUT", f"{base}/contracts/{name}", k["admin"], json=CONTRACT)
        assert r.status_code in (400, 404, 422), name
    for side in ("/etc/passwd", "../../etc/passwd", "file:///etc/passwd", "x" * 400, "silver.users'; --"):
        r = call("POST", f"{base}/drift", k["admin"], json={"reference": side, "current": "silver.users"})
        assert r.status_code in (400, 404, 422), side
    huge = {"checks": [{"kind": "sql", "expression": "id > 0 OR " * 5000 + "true"}]}
    assert call("PUT", f"{base}/contracts/silver.users", k["admin"], json=huge).status_code == 400
    assert call("GET", f"{base}/results", k["admin"], params={"limit": 10**9}).status_code in (400, 422)
    assert lake.quality.contracts() == []
    assert lake.tables.read("silver.users").equals(before) and lake.tables.version("silver.users") == 0


# -- congruence: every QualityAPI method, embedded and remote ---------------------------------
def _frame(n: int, shift: float = 0.0, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "id": np.arange(n, dtype=np.int64),
        "age": rng.normal(40 + shift, 8, n).round(1),
        "plan": rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1] if not shift else [0.2, 0.4, 0.4]),
    })


def _setup(lake: lakebed.Lake) -> None:
    """Tables, a model trained on one (lineage) and its prediction log, through the engine."""
    lake.tables.create("silver.users", data=_frame(400))
    lake.tables.write("silver.users", _frame(400, shift=6.0, seed=1).set_column(
        0, "id", pa.array(np.arange(400, 800, dtype=np.int64))))
    lake.tables.create("silver.orders", data=[{"order_id": 1, "amount": 5.0}])
    lake.tables.create("gold.train", data=_frame(300, seed=2).select(["age", "plan"]))
    with lake.runs.start() as run:
        run.log_input("gold.train@0")
        run.log_model({"w": 1})
    lake.models.register("churn", run=run)
    served = _frame(200, shift=5.0, seed=3)
    ages = served.column("age").to_pylist()
    lake.predictions("churn@1").write({"age": ages, "plan": served.column("plan").to_pylist()},
                                      [int(a > 45) for a in ages], request_ids=[f"r{i}" for i in range(200)])
    lake.tables.create("silver.labels", data=[{"request_id": f"r{i}", "churned": int(a > 47)}
                                              for i, a in enumerate(ages)])


_VARIES = ("created_at", "duration_ms")  # the moment and the time taken: each run has its own


def _norm(value: Any) -> Any:
    """An answer as comparable data: the class name and ``to_dict()`` of a quality object,
    without the moments and durations (checked to be there, then dropped)."""
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        for k in _VARIES:
            if k in value and k != "duration_ms":
                assert isinstance(value[k], str | datetime) or value[k] is None, (k, value[k])
        return {k: _norm(v) for k, v in value.items() if k not in _VARIES}
    if hasattr(value, "to_dict"):
        return (type(value).__name__, _norm(value.to_dict()))
    return value


def _quality_script(lake: Any, tmp: Path) -> list[Any]:
    from lakebed.quality import Contract, between, isin, not_null, row_count, sql, unique

    q = lake.quality
    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            out.append(("error", type(exc).__name__))
            return None
        out.append(_norm(result))
        return result

    checks = [not_null("id"), between("age", 0, 130), unique("id"), isin("plan", ["free", "pro", "team"]),
              sql("age > 10 OR plan = 'team'", name="adults")]
    # contracts
    step(lambda: q.contract("silver.users", checks=checks, columns={"id": "int64", "plan": "string"},
                            description="people"))
    step(lambda: q.contract("silver.users", checks=checks, columns={"id": "int64", "plan": "string"},
                            description="people"))  # the same again: no new version
    step(lambda: q.contract("silver.nope", checks=[not_null("id")]))
    step(lambda: q.contract("silver.users", checks=[not_null("zz")]))
    step(lambda: q.contract("silver.users", checks=[row_count(min=1)], on_violation="quarantine"))
    wanted = [Contract("silver.users", (not_null("id"), between("age", 0, 120))),
              Contract("silver.orders", (not_null("order_id"),), on_violation="warn")]
    step(lambda: q.plan(wanted))
    step(lambda: q.plan(wanted, prune=True))
    step(lambda: q.apply(wanted))
    step(lambda: q.apply(q.plan(wanted)))
    step(lambda: q.get_contract("silver.users"))
    step(lambda: q.get_contract("silver.users", 1))
    step(lambda: q.get_contract("silver.users", 99))
    step(q.contracts)
    step(lambda: q.contract_history("silver.users"))
    # validation and results
    step(lambda: q.validate("silver.users"))
    step(lambda: q.validate("silver.users@0", checks=[between("age", 0, 45)], samples=2, store=False))
    step(lambda: q.validate("silver.users", version=0, checks=[unique("plan")], samples=0))
    step(lambda: q.validate("silver.nope"))
    data = pa.table({"id": [1, 2, None, 2], "age": [30.0, 200.0, 40.0, 50.0]})
    step(lambda: q.validate(data, checks=[not_null("id"), unique("id"), between("age", 0, 130)]))
    step(lambda: q.validate(pl.from_arrow(data), checks=[not_null("id")], samples=1))
    step(lambda: q.validate([{"id": 1}], checks=[not_null("zz")]))
    step(lambda: q.validate(data))
    step(lambda: q.results("silver.users"))
    step(lambda: q.results(passed=False, limit=5))
    step(lambda: q.results(action="validate", since=datetime(2000, 1, 1, tzinfo=UTC)))
    step(lambda: q.results(since=datetime(2999, 1, 1)))
    step(lambda: q.result(1))
    step(lambda: q.result(10_000))
    # profiles
    step(lambda: q.profile("silver.users"))
    step(lambda: q.profile("silver.users@0", store=False))
    step(lambda: q.profile("silver.orders", version=0))
    step(lambda: q.profile(data))
    step(lambda: q.profiles("silver.users"))
    step(lambda: q.profiles("silver.users", limit=1))
    # drift and monitoring
    moved = step(lambda: q.drift("silver.users@0", "silver.users", columns=["age", "plan"]))
    step(lambda: q.drift(("silver.users", 0), _frame(300, seed=9), method={"age": "ks"},
                         threshold={"plan": 0.2}, share=0.4))
    step(lambda: q.drift(pl.from_arrow(_frame(200, seed=4)), "silver.users@1", columns="age", method="psi"))
    step(lambda: q.drift("silver.users@0", "silver.users", columns=["zz"]))
    step(lambda: q.drift("gold.train", "predictions:churn@1"))
    step(lambda: q.drift("gold.train", lake.predictions("churn@1"), start=datetime(2000, 1, 1, tzinfo=UTC)))
    step(lambda: q.monitor("churn@1"))
    mon = step(lambda: q.monitor("churn", labels="silver.labels", label="churned", columns=["age"], freq="6h"))
    labels = pa.table({"request_id": [f"r{i}" for i in range(0, 200, 2)], "y": [1, 0] * 50})
    step(lambda: q.monitor("model:churn@1", labels=labels, label="y"))
    step(lambda: q.monitor("churn@1", labels=labels))
    step(lambda: q.monitor("nope@1"))
    # reports
    step(lambda: q.report(table="silver.users", results=3, title="Users"))
    step(lambda: q.report(drift=moved, path=tmp / "drift.html"))
    assert "<svg" in (tmp / "drift.html").read_text()
    step(lambda: q.report(table="silver.users", drift=mon, profile=True, path=tmp / "mon.json"))
    assert json.loads((tmp / "mon.json").read_text())["model"] == "churn@1"
    step(lambda: q.report(profile=q.profile(data)))
    step(lambda: q.report())
    # enforcement on writes through the same lake handle
    step(lambda: lake.tables.write("silver.users", [{"id": None, "age": 20.0, "plan": "pro"}]))
    step(lambda: q.results("silver.users", action="reject"))
    # drop
    step(lambda: q.drop_contract("silver.orders"))
    step(lambda: q.drop_contract("silver.orders"))
    step(lambda: q.get_contract("silver.orders"))
    step(lambda: q.contract_history("silver.orders"))
    step(q.contracts)
    return out


def test_quality_congruence(served_any: Any, tmp_path: Path) -> None:
    with lakebed.connect(":memory:") as embedded:
        _setup(embedded)
        (tmp_path / "embedded").mkdir()
        expected = _quality_script(embedded, tmp_path / "embedded")
    _setup(served_any.lake)
    with lakebed.connect(served_any.url) as remote:
        assert type(remote.quality).__name__ == "RemoteQuality"
        (tmp_path / "remote").mkdir()
        got = _quality_script(remote, tmp_path / "remote")
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, f"step {i}: remote {g!r:.600} != embedded {e!r:.600}"
    errors = {x[1] for x in expected if isinstance(x, tuple) and x[0] == "error"}
    assert {"NotFound", "InvalidArgument", "QualityError"} <= errors, errors
    assert (tmp_path / "remote" / "drift.html").read_text().count("<svg") == \
        (tmp_path / "embedded" / "drift.html").read_text().count("<svg")


# -- security of the routes behind RemoteQuality ----------------------------------------------
def _arrow_b64(table: pa.Table) -> str:
    import base64

    from lakebed._wire import table_to_ipc

    return base64.b64encode(table_to_ipc(table)).decode()


@pytest.fixture
def modeled(secured: tuple[Any, dict[str, str]]) -> tuple[Any, dict[str, str]]:
    """``secured`` with a model ``churn`` trained on ``gold.train`` and its prediction log,
    and a key that may read that log and silver tables (not the training set)."""
    served, k = secured
    lake = served.lake
    lake.tables.create("gold.train", data=_frame(100, seed=2).select(["age", "plan"]))
    with lake.runs.start() as run:
        run.log_input("gold.train@0")
        run.log_model({"w": 1})
    lake.models.register("churn", run=run)
    log = _frame(50, seed=3)
    lake.predictions("churn@1").write({"age": log.column("age").to_pylist(), "plan": log.column("plan").to_pylist()},
                                      [0] * 50, request_ids=[f"r{i}" for i in range(50)])
    k["preds"] = keys.create(lake, "preds", ["read"], grants=["predictions:churn", "tables:silver.*"]).secret or ""
    k["train"] = keys.create(lake, "train", ["read"],
                             grants=["predictions:churn", "tables:gold.train", "tables:silver.*"]).secret or ""
    return served, k


@pytest.fixture
def fast_call() -> Iterator[Callable[..., httpx.Response]]:
    """``call`` over one pooled connection (a new client per request costs ~35 ms of TLS setup)."""
    with httpx.Client(timeout=30) as client:

        def request(method: str, url: str, key: str | None, **kw: Any) -> httpx.Response:
            headers = {"authorization": f"Bearer {key}"} if key else {}
            return client.request(method, url, headers=headers, **kw)

        yield request


def test_new_routes_need_a_key_the_scope_and_the_grant(modeled: tuple[Any, dict[str, str]],
                                                        fast_call: Callable[..., httpx.Response]) -> None:
    served, k = modeled
    base = f"{served.url}/v1/quality"
    lake = served.lake
    data = {"arrow": _arrow_b64(pa.table({"id": [1, None]}))}
    silver = {"table": "silver.users", **CONTRACT}
    gold = {"table": "gold.secret", **CONTRACT}
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/plan", {"json": {"contracts": [silver]}}),
        ("POST", "/apply", {"json": {"contracts": [silver]}}),
        ("GET", "/contracts/silver.users/history", {}),
        ("POST", "/validate/silver.users", {"params": {"store": False}, "json": {"checks": CONTRACT["checks"]}}),
        ("POST", "/validate", {"json": {"data": data, "checks": [{"kind": "not_null", "column": "id"}]}}),
        ("POST", "/profile", {"json": {"data": data}}),
        ("POST", "/profile/silver.users", {"params": {"store": False}}),
        ("POST", "/drift", {"json": {"reference": "silver.users", "current": {**data, "name": "mine"}}}),
        ("POST", "/monitor/churn", {}),
        ("POST", "/report", {"json": {"table": "silver.users"}}),
        ("GET", "/results", {"params": {"since": "2000-01-01T00:00:00"}}),
    ]
    for method, path, kw in routes:  # no key, a wrong key
        assert fast_call(method, base + path, None, **kw).status_code == 401, path
        assert fast_call(method, base + path, "lb_nope_nope", **kw).status_code == 401, path
    for method, path, kw in routes:  # the admin key
        r = fast_call(method, base + path, k["admin"], **kw)
        assert r.status_code == 200, (path, r.text)
    # a read key: looks, never stores
    assert fast_call("POST", f"{base}/plan", k["reader"], json={"contracts": [silver]}).status_code == 200
    for method, path, kw in [
        ("POST", "/apply", {"json": {"contracts": [silver]}}),
        ("POST", "/validate/silver.users", {"json": {"checks": CONTRACT["checks"]}}),  # stores the result
        ("POST", "/profile/silver.users", {}),  # stores the profile
        ("POST", "/report", {"json": {"table": "silver.users", "profile": True}}),  # stores the profile
    ]:
        assert fast_call(method, base + path, k["reader"], **kw).status_code == 403, path
    assert fast_call("POST", f"{base}/validate/silver.users", k["reader"], params={"store": False}).status_code == 200
    # a key granted silver.* neither reads nor changes gold, not even through a plan or a prune
    for method, path, kw in [
        ("POST", "/plan", {"json": {"contracts": [gold]}}),
        ("POST", "/apply", {"json": {"contracts": [gold]}}),
        ("POST", "/apply", {"json": {"contracts": [silver, gold]}}),
        ("GET", "/contracts/gold.secret/history", {}),
        ("POST", "/validate/gold.secret", {"params": {"store": False}}),
        ("POST", "/validate/gold.secret", {"json": {"checks": [{"kind": "not_null", "column": "zz"}]}}),
        ("POST", "/profile/gold.secret", {"params": {"store": False}}),
        ("GET", "/profiles/gold.secret", {}),
        ("POST", "/drift", {"json": {"reference": {**data}, "current": "gold.secret@0"}}),
        ("POST", "/report", {"json": {"table": "gold.secret"}}),
        ("GET", "/results", {"params": {"table": "gold.secret", "since": "2000-01-01T00:00:00"}}),
        ("POST", "/monitor/churn", {}),  # no predictions grant
        ("GET", "/contracts/stream:clicks", {}),  # a stream's contract: the streams grant
    ]:
        r = fast_call(method, base + path, k["silver"], **kw)
        assert r.status_code == 403, (path, r.text)
    assert fast_call("PUT", f"{base}/contracts/gold.secret", k["admin"], json=CONTRACT).status_code == 200
    before = fast_call("GET", f"{base}/contracts", k["admin"]).json()
    r = fast_call("POST", f"{base}/apply", k["silver"], json={"contracts": [silver], "prune": True})
    assert r.status_code == 403, r.text  # the prune would drop gold's contract
    r = fast_call("POST", f"{base}/plan", k["silver"], json={"contracts": [silver], "prune": True})
    assert r.status_code == 403, r.text  # and the plan would name it
    assert fast_call("GET", f"{base}/contracts", k["admin"]).json() == before
    # monitoring: the log's grant is not enough, the training set must be readable too
    assert fast_call("POST", f"{base}/monitor/churn", k["preds"]).status_code == 403
    r = fast_call("POST", f"{base}/monitor/churn", k["train"], params={"version": "1"})
    assert r.status_code == 200 and r.json()["training_set"] == "table:gold.train@0", r.text
    r = fast_call("POST", f"{base}/monitor/churn", k["train"], params={"labels_table": "gold.secret", "on": "id"})
    assert r.status_code == 403
    assert lake.tables.version("silver.users") == 0 and lake.tables.version("gold.secret") == 0


def test_new_routes_refuse_hostile_input_and_change_nothing(modeled: tuple[Any, dict[str, str]],
                                                            fast_call: Callable[..., httpx.Response]) -> None:
    served, k = modeled
    base = f"{served.url}/v1/quality"
    lake = served.lake
    admin = k["admin"]
    assert fast_call("PUT", f"{base}/contracts/silver.users", admin, json=CONTRACT).status_code == 200
    before = (lake.tables.read("silver.users"), lake.quality.contract_history("silver.users"),
              len(lake.quality.results(limit=10_000)), len(lake.quality.profiles("silver.users")))
    for bad in WHERE_INJECTIONS[:20]:
        checks = [{"kind": "sql", "expression": bad}]
        for method, path, kw in [
            ("POST", "/plan", {"json": {"contracts": [{"table": "silver.users", "checks": checks}]}}),
            ("POST", "/apply", {"json": {"contracts": [{"table": "silver.users", "checks": checks}]}}),
            ("POST", "/validate/silver.users", {"json": {"checks": checks}}),
            ("POST", "/validate", {"json": {"data": {"rows": [{"id": 1}]}, "checks": checks}}),
        ]:
            r = fast_call(method, base + path, admin, **kw)
            assert r.status_code == 400, (bad, path, r.text)
    names = ["..%2F..%2Fetc.passwd", "silver.users;drop", "a.b.c", "%2e%2e.x", "silver.users@0", "table:gold.secret",
             "stream:..", "silver.users%00", "silver.users'--"]
    for name in names:
        for method, path in [("GET", f"/contracts/{name}/history"), ("POST", f"/validate/{name}"),
                             ("POST", f"/profile/{name}"), ("GET", f"/profiles/{name}"),
                             ("POST", f"/monitor/{name}")]:
            r = fast_call(method, base + path, admin)
            assert r.status_code in (400, 404, 422), (name, path, r.status_code)
        for method, path, kw in [
            ("POST", "/plan", {"json": {"contracts": [{"table": name, **CONTRACT}]}}),
            ("POST", "/apply", {"json": {"contracts": [{"table": name, **CONTRACT}]}}),
            ("POST", "/report", {"json": {"table": name}}),
            ("GET", "/results", {"params": {"table": name}}),
            ("POST", "/monitor/churn", {"params": {"labels_table": name}}),
        ]:
            r = fast_call(method, base + path, admin, **kw)
            assert r.status_code in (400, 422), (name, path, r.status_code)
    bad_bodies: list[tuple[str, dict[str, Any]]] = [
        ("/validate", {"data": {"arrow": "not base64!"}, "checks": CONTRACT["checks"]}),
        ("/validate", {"data": {"arrow": _arrow_b64(pa.table({"id": [1]}))[:-12]}, "checks": CONTRACT["checks"]}),
        ("/validate", {"data": {"arrow": "", "rows": []}, "checks": CONTRACT["checks"]}),
        ("/validate", {"data": {"path": "/etc/passwd"}, "checks": CONTRACT["checks"]}),
        ("/validate", {"data": {"rows": [{"id": 1}]}, "checks": CONTRACT["checks"] * 100}),
        ("/validate", {"data": {"rows": [{"id": 1}]}, "checks": [{"kind": "exec", "code": "import os"}]}),
        ("/validate", {"data": {"rows": [{"id": 1}]}, "checks": [{"kind": "not_null", "column": "id"}],
                       "samples": 10**9}),
        ("/profile", {"data": {"rows": "/etc/passwd"}}),
        ("/drift", {"reference": "silver.users", "current": {"arrow": "AAAA"}}),
        ("/drift", {"reference": "silver.users", "current": "file:///etc/passwd"}),
        ("/drift", {"reference": "silver.users", "current": "silver.users", "method": {"id": "x" * 100}}),
        ("/drift", {"reference": "silver.users", "current": "silver.users", "threshold": -1}),
        ("/drift", {"reference": "silver.users", "current": "silver.users", "method": "exec"}),
        ("/report", {"drift": {"reference": "x"}}),
        ("/report", {"monitor": {"model": "m", "training_set": "t", "drift": [1, 2]}}),
        ("/report", {"profile": {"target": "x", "columns": "nope"}}),
        ("/report", {"drift": {"a": 1}, "monitor": {"b": 2}}),
        ("/report", {"table": "silver.users", "results": 10**9}),
        ("/plan", {"contracts": [{"table": "silver.users", **CONTRACT}] * 2}),
        ("/plan", {"contracts": [{"table": "silver.users", "checks": [], "on_violation": "drop"}]}),
        ("/apply", {"contracts": [{"table": "silver.users", **CONTRACT}] * 1001}),
    ]
    for path, body in bad_bodies:
        r = fast_call("POST", base + path, admin, json=body)
        assert r.status_code in (400, 422), (path, str(body)[:200], r.status_code, r.text[:300])
    r = httpx.post(f"{base}/monitor/churn", content=b"\x00garbage", timeout=30, headers={
        "authorization": f"Bearer {admin}", "content-type": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 400, r.text
    r = fast_call("POST", f"{base}/monitor/churn", admin, params={"labels_table": "silver.users"}, json={"rows": [{}]})
    assert r.status_code == 400
    # oversized bodies are refused before they are read
    from tests.server.conftest import MAX_BODY

    big = {"data": {"rows": [{"id": 1, "pad": "x" * 1000}] * (MAX_BODY // 1000 + 10)},
           "checks": [{"kind": "not_null", "column": "id"}]}
    for path in ("/validate", "/profile", "/drift", "/report", "/plan", "/apply", "/monitor/churn",
                 "/validate/silver.users"):
        r = fast_call("POST", base + path, admin, json=big)
        assert r.status_code == 413, (path, r.status_code)
    after = (lake.tables.read("silver.users"), lake.quality.contract_history("silver.users"),
             len(lake.quality.results(limit=10_000)), len(lake.quality.profiles("silver.users")))
    assert after[0].equals(before[0]) and after[1:] == before[1:]
    assert lake.tables.version("silver.users") == 0


def test_remote_quality_needs_neither_the_engine_nor_polars_nor_scipy(served: Any) -> None:
    """A client process where the server stack, the engine, polars and scipy cannot be
    imported defines contracts, validates data, profiles, measures drift and writes a
    report: the checks and statistics run on the server."""
    from tests._blocked import BLOCKED, run_blocked

    blocked = [*BLOCKED, "polars", "scipy", "sqlalchemy", "lakebed.catalog"]
    served.lake.tables.create("silver.users", data=_frame(300))
    code = """
        import lakebed
        from lakebed.quality import between, not_null

        with lakebed.connect(ARGS[0]) as lake:
            q = lake.quality
            c = q.contract("silver.users", checks=[not_null("id"), between("age", 0, 130)])
            r = q.validate("silver.users")
            bad = q.validate([{"id": None}], checks=[not_null("id")])
            p = q.profile("silver.users", store=False)
            d = q.drift("silver.users", {"age": [90.0, 95.0, 99.0] * 20}, columns=["age"])
            html = q.report(table="silver.users", drift=d).html
        out = {"version": c.version, "passed": r.passed, "bad": bad.failed[0].failing, "rows": p.rows,
               "drifted": d.drifted, "svg": "<svg" in html}
        print(json.dumps(out))
        """
    out = run_blocked(code, served.url, blocked=blocked)
    assert out == {"version": 1, "passed": True, "bad": 1, "rows": 300, "drifted": True, "svg": True, "loaded": []}
