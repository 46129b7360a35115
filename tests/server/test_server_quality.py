"""Quality over HTTP: contracts, enforcement through /write, results, profiles, drift,
reports; scopes, grants, injection, traversal and oversized input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests._injections import WHERE_INJECTIONS
from tests.server.test_server_security import served_app_auth_on

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
