"""A closed server by default: binding without keys, keys that stay required once a lake
had one (in every server process), /metrics behind a key, names checked over HTTP, and
refused requests logged without secrets."""

from __future__ import annotations

import logging
import os
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.conftest import MAX_BODY, Served, fill_for_workers, one_shot, serve_workers, serving
from typer.testing import CliRunner

import lakebed
from lakebed.server import is_loopback, serve
from lakebed.server import keys as key_store
from lakebed.server._serve import check_bind

REFUSED_HOSTS = ["", "0.0.0.0", "::", "[::]", "0", "10.1", "192.0.2.7", "::ffff:0.0.0.0", "2001:db8::1",
                 "no-such-host.invalid"]
LOOPBACK_HOSTS = ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "127.1", "2130706433"]


def _bearer(secret: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"} if secret else {}


def _auth_on(served: Served) -> None:
    """Keys made in-process behind the running server's back: let its Auth re-read the
    catalog, as the keys routes do."""
    import gc

    from lakebed.server._app import Auth

    for obj in gc.get_objects():
        if type(obj) is Auth and obj.lake is served.lake:
            obj.refresh()


# -- binding -----------------------------------------------------------------------------


def test_loopback_means_every_resolved_address_is_loopback() -> None:
    assert [h for h in LOOPBACK_HOSTS if not is_loopback(h)] == []
    assert [h for h in REFUSED_HOSTS if is_loopback(h)] == []


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_serve_refuses_a_non_loopback_bind_without_keys(tmp_path: Path, host: str) -> None:
    lakebed.connect(tmp_path / "lake").close()
    with pytest.raises(lakebed.InvalidArgument, match=r"without API keys.*lakebed keys create"):
        serve(tmp_path / "lake", host=host, port=1)
    with pytest.raises(lakebed.InvalidArgument, match="without API keys"):
        serve(tmp_path / "lake", host=host, port=1, workers=2)


def test_cli_refuses_the_empty_host_without_keys(tmp_path: Path) -> None:
    from lakebed.cli import app

    lakebed.connect(tmp_path / "lake").close()
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "lake"), "--host", "", "--port", "1"])
    assert result.exit_code != 0
    assert isinstance(result.exception, lakebed.InvalidArgument)
    assert "lakebed keys create" in str(result.exception)
    assert "serving" not in result.output  # no banner for a server that never starts


def test_a_lake_that_had_a_key_stays_closed(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        for host in LOOPBACK_HOSTS:
            check_bind(lake, host)
        assert not key_store.auth_required(lake)
        made = key_store.create(lake, "ops", ["admin"])
        key_store.revoke(lake, made.key_id)
        assert key_store.list_keys(lake) == [] and key_store.auth_required(lake)
        check_bind(lake, "0.0.0.0")  # every request needs a key: nobody gets in
    with lakebed.connect(tmp_path / "lake", read_only=True) as reader:  # what a read worker sees
        assert key_store.auth_required(reader)


def test_a_server_started_after_every_key_was_revoked_answers_401(tmp_path: Path) -> None:
    from lakebed.server import create_app

    with lakebed.connect(tmp_path / "lake") as lake:
        lake.tables.create("silver.users", data=[{"id": 1}])
        key_store.revoke(lake, key_store.create(lake, "ops", ["admin"]).key_id)
        with serving(create_app(lake, max_body_bytes=MAX_BODY)) as url:
            assert one_shot("GET", f"{url}/v1/tables/silver.users/data").status_code == 401
            assert one_shot("GET", f"{url}/v1/keys").status_code == 401
            assert one_shot("POST", f"{url}/v1/keys", json={"name": "me", "scopes": ["admin"]}).status_code == 401
            assert one_shot("GET", f"{url}/metrics").status_code == 401
            assert one_shot("GET", f"{url}/health").status_code == 200
        assert key_store.list_keys(lake) == []


# -- revoking the last key with read workers ---------------------------------------------

NOW = datetime.now(UTC)
DIM = 4


@pytest.fixture
def closed_pair(tmp_path: Path) -> Iterator[tuple[str, key_store.ApiKey, Path]]:
    """`lakebed serve --workers 2 --public-metrics` over a lake with one admin key."""
    path = tmp_path / "lake"
    admin = fill_for_workers(path, NOW, DIM, 20)
    with serve_workers(path, "--public-metrics") as (url, _):
        yield url, admin, path


def test_revoking_the_last_key_leaves_every_process_closed(closed_pair: tuple[str, key_store.ApiKey, Path]) -> None:
    url, admin, path = closed_pair
    online = {"entity_rows": [{"user_id": 1}], "features": ["stats:amount"]}
    search = {"vector": [0.0] * DIM, "k": 1}
    auth = _bearer(admin.secret)
    for _ in range(4):
        assert one_shot("POST", f"{url}/v1/features/online", json=online, headers=auth).status_code == 200
        assert one_shot("POST", f"{url}/v1/collections/docs/search", json=search, headers=auth).status_code == 200
    # the only key revokes itself, through whichever process takes the connection
    assert one_shot("DELETE", f"{url}/v1/keys/{admin.key_id}", headers=auth).status_code == 200
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/features/online", {"json": online}),
        ("POST", "/v1/collections/docs/search", {"json": search}),
        ("GET", "/v1/tables/silver.tx/data", {}),
        ("GET", "/v1/keys", {}),
        ("POST", "/v1/keys", {"json": {"name": "intruder", "scopes": ["admin"]}}),
    ]
    statuses: dict[str, set[int]] = {}
    workers: set[int] = set()
    for i in range(24):  # new connections: the kernel spreads them over both processes
        workers.add(one_shot("GET", f"{url}/health").json()["worker"])
        for method, route, kw in requests:
            headers = auth if i % 2 else {}  # the revoked key, and none at all
            statuses.setdefault(route, set()).add(one_shot(method, url + route, headers=headers, **kw).status_code)
    assert workers == {0, 1}
    assert statuses == {route: {401} for _, route, _ in requests}
    # --public-metrics: scraped without a key, and it saw the refusals
    time.sleep(2.5)  # read workers write their samples each second
    metrics = one_shot("GET", f"{url}/metrics")
    assert metrics.status_code == 200 and "lakebed_collection_points" in metrics.text
    assert 'route="/v1/features/online",status="401"} 24.0' in metrics.text
    with lakebed.connect(path, read_only=True) as lake:
        assert [k.name for k in key_store.list_keys(lake, include_revoked=True)] == ["ops"]


# -- scopes, grants, metrics and the refusal log -------------------------------------------


@pytest.fixture
def keyed(served: Served) -> tuple[Served, dict[str, str | None]]:
    lake = served.lake
    lake.tables.create("silver.users", data=[{"id": 1}])
    lake.tables.create("gold.secret", data=[{"x": 42}])
    lake.collections.create("docs", dim=3, metric="l2").upsert([1], [[0.0, 0.0, 0.0]])
    made = {name: key_store.create(lake, name, scopes, grants) for name, scopes, grants in [
        ("metrics", ["metrics"], None), ("read", ["read"], None), ("write", ["write"], None),
        ("admin", ["admin"], None), ("silver", ["write"], ["tables:silver.*"]),
        ("scraper_silver", ["metrics"], ["tables:silver.*"]), ("revoked", ["admin"], None)]}
    key_store.revoke(lake, made["revoked"].key_id)
    admin_id = made["admin"].key_id
    secrets: dict[str, str | None] = {k: v.secret for k, v in made.items()}
    secrets |= {"none": None, "garbage": "garbage", "unknown": "lb_000000000000_nope",
                "wrong": f"lb_{admin_id}_not-the-secret"}
    _auth_on(served)
    return served, secrets


ROUTES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "read silver": ("GET", "/v1/tables/silver.users/data", {}),
    "read gold": ("GET", "/v1/tables/gold.secret/data", {}),
    "write silver": ("POST", "/v1/tables/silver.users/write", {"json": {"rows": [{"id": 2}]}}),
    "list keys": ("GET", "/v1/keys", {}),
    "metrics": ("GET", "/metrics", {}),
    "online": ("POST", "/v1/features/online", {"json": {"entity_rows": [{"user_id": 1}], "features": ["v:f"]}}),
    "search": ("POST", "/v1/collections/docs/search", {"json": {"vector": [0, 0, 0], "k": 1}}),
}
# key -> the routes it may use (the others: 403); missing, malformed, unknown, wrong and
# revoked keys get 401 everywhere
ALLOWED = {
    "metrics": {"metrics"},
    "read": {"read silver", "read gold", "metrics", "online", "search"},
    "write": {"read silver", "read gold", "write silver", "metrics", "online", "search"},
    "admin": set(ROUTES),
    "silver": {"read silver", "write silver"},
    "scraper_silver": set(),
}


def test_every_key_reaches_what_its_scopes_and_grants_allow(
        keyed: tuple[Served, dict[str, str | None]], caplog: pytest.LogCaptureFixture) -> None:
    served, secrets = keyed
    caplog.set_level(logging.WARNING, logger="lakebed.server")
    refused = 0
    for who, secret in secrets.items():
        for route, (method, path, kw) in ROUTES.items():
            status = httpx.request(method, served.url + path, headers=_bearer(secret), **kw).status_code
            if who not in ALLOWED:
                want: Any = 401
            elif route in ALLOWED[who]:
                want = "in"
            else:
                want = 403
            got = "in" if status not in (401, 403) else status
            assert got == want, (who, route, status)
            refused += got != "in"
    # one warning per refusal, with the key id when there is one, never a secret
    lines = [r.getMessage() for r in caplog.records if r.name == "lakebed.server" and "refused" in r.getMessage()]
    assert len(lines) == refused
    text = "\n".join(lines)
    for secret in secrets.values():
        if secret and secret.startswith("lb_") and len(secret.split("_", 2)[2]) > 8:
            assert secret.split("_", 2)[2] not in text
    assert "refused 401" in text and "refused 403" in text
    assert f"key_id={secrets['wrong'].split('_')[1]}" in text  # type: ignore[union-attr]
    assert "key_id=-" in text  # missing or malformed keys
    # a path cannot forge a log line
    httpx.get(f"{served.url}/v1/tables/x%0Arefused%20200/data")
    assert all("\n" not in r.getMessage() for r in caplog.records if r.name == "lakebed.server")


def test_metrics_scope_is_for_scraping_only(keyed: tuple[Served, dict[str, str | None]]) -> None:
    served, secrets = keyed
    scraped = httpx.get(f"{served.url}/metrics", headers=_bearer(secrets["metrics"]))
    assert scraped.status_code == 200
    assert 'lakebed_table_rows{table="gold.secret"} 1.0' in scraped.text
    denied = httpx.get(f"{served.url}/metrics", headers=_bearer(secrets["silver"]))
    assert denied.status_code == 403 and "grants" in denied.json()["error"]["message"]
    with pytest.raises(lakebed.InvalidArgument, match="metrics"):
        key_store.create(served.lake, "x", ["prometheus"])


def test_public_metrics_opens_metrics_only(tmp_path: Path) -> None:
    from lakebed.server import create_app

    with lakebed.connect(tmp_path / "lake") as lake:
        lake.tables.create("silver.users", data=[{"id": 1}])
        key_store.create(lake, "ops", ["admin"])
        with serving(create_app(lake, max_body_bytes=MAX_BODY, public_metrics=True)) as url:
            assert httpx.get(f"{url}/metrics").status_code == 200
            assert httpx.get(f"{url}/v1/tables/silver.users/data").status_code == 401
        with serving(create_app(lake, max_body_bytes=MAX_BODY)) as url:
            assert httpx.get(f"{url}/metrics").status_code == 401


# -- names over HTTP -----------------------------------------------------------------------


def _tree(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files
            if not n.startswith("catalog.db")}


@pytest.mark.parametrize("bad", ["nl\n", "../x", "a/b", "x\x00", "n" * 300, "ｘ", "x\u202e"], ids=repr)
def test_bad_names_over_http_get_4xx_and_create_nothing(served: Served, bad: str) -> None:
    lake, url = served.lake, served.url
    with lake.runs.start() as run:
        run.log_model({"w": 1})
    root = Path(lake.path)
    before = _tree(root)
    quoted = urllib.parse.quote(bad, safe="")
    entity = {"kind": "entity", "spec": {"name": bad, "join_keys": ["user_id"]}}
    answers = [
        httpx.post(f"{url}/v1/tables", json={"name": f"silver.{bad}", "schema": {"a": "int64"}}),
        httpx.post(f"{url}/v1/tables", json={"name": f"{bad}.t", "schema": {"a": "int64"}}),
        httpx.post(f"{url}/v1/tables/silver.{quoted}/create", json={"rows": [{"a": 1}]}),
        httpx.post(f"{url}/v1/collections", json={"name": bad, "dim": 3}),
        httpx.post(f"{url}/v1/features/apply", json={"objects": [entity]}),
        httpx.post(f"{url}/v1/models/{quoted}/versions", json={"run_id": run.id}),
        httpx.post(f"{url}/v1/models/m/aliases", json={"alias": bad, "version": 1}),
    ]
    if bad not in ("../x", "a/b", "n" * 300, "ｘ"):  # labels: free text, but no control characters
        answers += [
            httpx.post(f"{url}/v1/runs", json={"experiment": bad}),
            httpx.post(f"{url}/v1/keys", json={"name": bad, "scopes": ["read"]}),
        ]
    statuses = [r.status_code for r in answers]
    assert all(400 <= s < 500 for s in statuses), statuses
    assert lake.tables.list() == [] and lake.collections.list() == [] and lake.models.list() == []
    assert key_store.list_keys(lake, include_revoked=True) == []
    assert _tree(root) == before
