"""API keys, scopes, grants, and hostile input: 4xx answers and untouched data."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import lakebed
from lakebed._wire import ARROW_STREAM
from lakebed.server import keys


@pytest.fixture
def secured(served: Any) -> tuple[Any, dict[str, str]]:
    lake = served.lake
    lake.tables.create("silver.users", data=[{"id": 1}])
    lake.tables.create("gold.secret", data=[{"x": 42}])
    made = {
        "admin": keys.create(lake, "admin", ["admin"]).secret,
        "reader": keys.create(lake, "reader", ["read"]).secret,
        "writer": keys.create(lake, "writer", ["write"]).secret,
        "silver": keys.create(lake, "silver-only", ["write"], grants=["tables:silver.*"]).secret,
        "revoked": keys.create(lake, "gone", ["admin"]).secret,
    }
    keys.revoke(lake, "gone")
    served_app_auth_on(served)
    return served, {k: v or "" for k, v in made.items()}


def served_app_auth_on(served: Any) -> None:
    # Keys were made behind the running server's back (in-process); tell its Auth.
    import gc
    import warnings

    from lakebed.server._app import Auth

    with warnings.catch_warnings():  # isinstance() on every live object pokes deprecated torch aliases
        warnings.simplefilter("ignore")
        for obj in gc.get_objects():
            if type(obj) is Auth and obj.lake is served.lake:
                obj.required = True


def _get(url: str, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.get(url, headers=headers)


def test_keys_scopes_and_grants(secured: tuple[Any, dict[str, str]]) -> None:
    served, k = secured
    data = f"{served.url}/v1/tables/silver.users/data"
    assert _get(data, None).status_code == 401
    assert _get(data, "lb_nope_nope").status_code == 401
    assert _get(data, "garbage").status_code == 401
    assert _get(data, k["revoked"]).status_code == 401
    assert _get(data, k["reader"]).status_code == 200
    assert _get(f"{served.url}/v1/tables/gold.secret/data", k["silver"]).status_code == 403
    assert _get(data, k["silver"]).status_code == 200
    # scope too small for a write; nothing changes
    r = httpx.post(f"{served.url}/v1/tables/silver.users/write", json={"rows": [{"id": 2}]},
                   headers={"authorization": f"Bearer {k['reader']}"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "PermissionDenied"
    assert served.lake.tables.version("silver.users") == 0
    # a writer may write, but not drop (admin)
    with lakebed.connect(served.url, api_key=k["writer"]) as remote:
        assert remote.tables.write("silver.users", [{"id": 2}]) == 1
        with pytest.raises(lakebed.PermissionDenied):
            remote.tables.drop("silver.users")
    with lakebed.connect(served.url, api_key=k["silver"]) as remote, pytest.raises(lakebed.PermissionDenied):
        remote.tables.write("gold.secret", [{"x": 0}])
    assert served.lake.tables.read("gold.secret").to_pylist() == [{"x": 42}]
    # the online-read fast path checks keys like every other route
    online = f"{served.url}/v1/features/online"
    body = {"entity_rows": [{"user_id": 1}], "features": ["stats:amount"]}
    assert httpx.post(online, json=body).status_code == 401
    assert httpx.post(online, json=body, headers={"authorization": f"Bearer {k['revoked']}"}).status_code == 401
    assert httpx.post(online, json=body, headers={"authorization": f"Bearer {k['silver']}"}).status_code == 403
    r = httpx.post(online, json=body, headers={"authorization": f"Bearer {k['reader']}"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"  # no such view, but let in
    assert httpx.post(online, content=b"{", headers={"authorization": f"Bearer {k['reader']}"}).status_code == 400
    # an admin can create and revoke keys through the API
    with httpx.Client(base_url=served.url, headers={"authorization": f"Bearer {k['admin']}"}) as admin:
        new = admin.post("/v1/keys", json={"name": "tmp", "scopes": ["read"]}).json()
        assert _get(data, new["secret"]).status_code == 200
        assert admin.delete(f"/v1/keys/{new['key_id']}").status_code == 200
        assert _get(data, new["secret"]).status_code == 401
        assert admin.post("/v1/keys", json={"name": "x", "scopes": ["root"]}).status_code == 400


def test_hostile_input_gets_4xx_and_changes_nothing(served_any: Any) -> None:
    lake = served_any.lake
    lake.tables.create("bronze.t", data=[{"a": 1}])
    url = served_any.url
    bad = [
        httpx.post(f"{url}/v1/tables/bronze.t/write", content=b"not arrow", headers={"content-type": ARROW_STREAM}),
        httpx.post(f"{url}/v1/tables/bronze.t/write", content=b"{not json",
                   headers={"content-type": "application/json"}),
        httpx.post(f"{url}/v1/tables/bronze.t/write", json={"rows": "nope"}),
        httpx.post(f"{url}/v1/tables/bronze.t/write", json={"rows": [{"a": "text"}]}),
        httpx.post(f"{url}/v1/tables/bronze.t/write", content=b"x" * (9 * 1024 * 1024),
                   headers={"content-type": ARROW_STREAM}),
        httpx.get(f"{url}/v1/tables/..%2F..%2Fetc/data"),
        httpx.get(f"{url}/v1/tables/bronze.t%2F..%2Fx/data"),
        httpx.post(f"{url}/v1/tables/..%2Fescape/create", json={"rows": [{"a": 1}]}),
        httpx.post(f"{url}/v1/tables", json={"name": "../x", "schema": {"a": "int64"}}),
        httpx.post(f"{url}/v1/tables/bronze.t/delete", json={"where": "a = = 1"}),
        httpx.get(f"{url}/v1/tables/bronze.t/data", params={"where": "1; DROP TABLE x"}),
        httpx.get(f"{url}/v1/tables/bronze.t/data", params={"version": -1}),
        httpx.post(f"{url}/v1/sql", json={"query": "COPY (SELECT 1) TO '/tmp/lakebed-escape.csv'"}),
    ]
    statuses = [r.status_code for r in bad]
    assert all(400 <= s < 500 for s in statuses), statuses
    assert statuses[4] == 413
    assert lake.tables.version("bronze.t") == 0
    assert lake.tables.read("bronze.t").to_pylist() == [{"a": 1}]
    assert lake.tables.list() == ["bronze.t"]
    import os

    assert not os.path.exists("/tmp/lakebed-escape.csv")


def test_refuses_public_bind_without_keys(tmp_path) -> None:
    from lakebed.server import serve

    lakebed.connect(tmp_path / "lake").close()
    with pytest.raises(lakebed.InvalidArgument, match="without API keys"):
        serve(tmp_path / "lake", host="0.0.0.0", port=1)


def test_search_fast_path_checks_keys_grants_and_input(served: Any) -> None:
    """`POST /v1/collections/{name}/search` is served in front of FastAPI: keys, grants on
    the collection name, validation and unknown names answer as on every other route."""
    lake = served.lake
    for name in ("docs", "private"):
        col = lake.collections.create(name, dim=3, metric="l2")
        col.upsert([1, 2, 3], [[0, 0, 0], [1, 0, 0], [0, 5, 0]], payloads=[{"g": 1}, {"g": 2}, {"g": 1}])
    made = {
        "reader": keys.create(lake, "reader", ["read"]).secret,
        "docs": keys.create(lake, "docs-only", ["read"], grants=["collections:docs"]).secret,
        "revoked": keys.create(lake, "gone", ["read"]).secret,
    }
    keys.revoke(lake, "gone")
    served_app_auth_on(served)

    def search(name: str, body: Any, key: str | None) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        if isinstance(body, bytes):
            return httpx.post(f"{served.url}/v1/collections/{name}/search", content=body, headers=headers)
        return httpx.post(f"{served.url}/v1/collections/{name}/search", json=body, headers=headers)

    q = {"vector": [0.9, 0, 0], "k": 2, "filter": {"g": {"$in": [1, 2]}}}
    assert search("docs", q, None).status_code == 401
    assert search("docs", q, made["revoked"]).status_code == 401
    r = search("docs", q, made["docs"])
    assert r.status_code == 200
    assert [(h["id"], h["payload"]) for h in r.json()] == [(2, {"g": 2}), (1, {"g": 1})]
    assert r.json()[0]["score"] == pytest.approx(-0.01)
    denied = search("private", q, made["docs"])
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "PermissionDenied"
    assert search("private", q, made["reader"]).status_code == 200
    missing = search("nope", q, made["reader"])
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFound"
    bad_k = search("docs", {**q, "k": 0}, made["reader"])
    assert bad_k.status_code == 422 and "body.k" in bad_k.json()["error"]["message"]
    assert search("docs", {"vector": [1, 2]}, made["reader"]).status_code == 400  # wrong dimension
    assert search("docs", {**q, "filter": {"g": {"$regex": "x"}}}, made["reader"]).status_code == 400
    assert search("docs", b"{", made["reader"]).status_code == 400
    assert search("..", q, made["reader"]).status_code in (400, 403, 404)
    assert lake.collections.open("docs").count() == 3
