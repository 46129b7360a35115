"""The web UI's data routes (``/ui/api``) on the demo lake: what the pages show matches the
lake, lists page on the server, and the routes hold to keys, scopes and grants, refuse
injection, traversal and oversized input."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import lakebed
from lakebed.server import create_app
from lakebed.server import keys as key_store
from lakebed.ui import STATIC, build_info, source_hash
from lakebed.ui._api import sample

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_client(demo_lake: tuple[Path, str]) -> Iterator[tuple[lakebed.Lake, TestClient]]:
    with lakebed.connect(demo_lake[0], read_only=True) as lake:
        yield lake, TestClient(create_app(lake))


def test_pages_show_what_the_lake_holds(demo_client: tuple[lakebed.Lake, TestClient]) -> None:
    lake, c = demo_client
    over = c.get("/ui/api/overview").json()
    assert over["tables"] == len(lake.tables.list()) and over["runs"] == lake.runs.count() > 0
    assert over["models"] == len(lake.models.list()) and over["collections"] == len(lake.collections.list())

    names = lake.tables.list()
    got = c.get("/ui/api/tables", params={"offset": 3, "limit": 4}).json()
    assert got["total"] == len(names) and [t["name"] for t in got["items"]] == names[3:7]
    silver = c.get("/ui/api/tables", params={"namespace": "silver"}).json()
    assert {t["name"] for t in silver["items"]} == {n for n in names if n.startswith("silver.")}

    # gold.user_features at version 0 and 1: row counts and a page of rows, as the lake reads them
    for version in (0, 1):
        expect = lake.tables.read("gold.user_features", version=version)
        info = c.get("/ui/api/tables/gold.user_features", params={"version": version}).json()
        assert info["num_rows"] == expect.num_rows and info["version"] == version
        assert [f["name"] for f in info["schema"]] == expect.column_names
        rows = c.get("/ui/api/tables/gold.user_features/rows",
                     params={"version": version, "offset": 7, "limit": 5}).json()
        assert rows["total"] == expect.num_rows and rows["columns"] == expect.column_names
        want = expect.slice(7, 5).to_pylist()
        assert [r[rows["columns"].index("user_id")] for r in rows["rows"]] == [w["user_id"] for w in want]
    hist = c.get("/ui/api/tables/silver.transactions/history").json()
    assert [h["version"] for h in hist["items"]] == [1, 0] and hist["items"][0]["operation"] == "MERGE"
    assert c.get("/ui/api/tables/silver.transactions").json()["contract"]["on_violation"] == "reject"

    sql = c.post("/ui/api/sql", json={"sql": "SELECT count(*) AS n FROM silver.transactions"}).json()
    assert sql["rows"] == [[lake.tables.read("silver.transactions").num_rows]]
    cut = c.post("/ui/api/sql", json={"sql": "SELECT * FROM silver.transactions", "limit": 10}).json()
    assert cut["truncated"] and len(cut["rows"]) == 10 and cut["num_rows"] > 10


def test_collection_search_lineage_runs_and_quality(demo_client: tuple[lakebed.Lake, TestClient]) -> None:
    lake, c = demo_client
    col = lake.collections.open("demo_docs")
    some = col.scroll(limit=3)[0][2]
    hits = c.post("/ui/api/collections/demo_docs/search", json={"mode": "id", "q": str(some.id), "k": 5}).json()
    assert hits["hits"][0]["id"] == some.id and hits["plan"]["plan"] in ("index", "exact")
    filt = {"topic": "databases"}
    hits = c.post("/ui/api/collections/demo_docs/search",
                  json={"mode": "id", "q": str(some.id), "k": 5, "filter": filt}).json()["hits"]
    assert hits and all(h["payload"]["topic"] == "databases" for h in hits)
    detail = c.get("/ui/api/collections/demo_docs").json()
    assert detail["stats"]["points"] == col.count() and "topic" in detail["payload_indexes"]
    segs = detail["stats"]["segments"]
    assert sum(x["live"] for x in segs) == col.count() and sum(x["deleted"] for x in segs) == col.stats()["deleted"]
    text = c.post("/ui/api/collections/lakebed_docs/search", json={"mode": "keyword", "q": "feature store"}).json()
    assert text["hits"] and text["plan"] is None

    graph = c.get("/ui/api/lineage", params={"ref": "model:fraud@1"}).json()
    run_id = lake.models.get("fraud@1").run_id
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert (f"run:{run_id}", "model:fraud@1") in edges
    labels = {(e["source"], e["target"]): e["label"] for e in graph["edges"]}
    assert labels[("model:fraud@1", "predictions:fraud@1")] == "predicted @1"  # the version on the edge
    tables = [n for n in graph["nodes"] if n["kind"] == "table"]
    assert any((n["id"], f"run:{run_id}") in edges and n["link"].startswith("/ui/tables/") for n in tables)

    runs = c.get("/ui/api/runs", params={"order_by": "metrics.auc DESC"}).json()
    aucs = [r["metrics"]["auc"] for r in runs["items"]]
    assert aucs == sorted(aucs, reverse=True) and runs["total"] == lake.runs.count()
    one = c.get(f"/ui/api/runs/{run_id}").json()
    assert one["metrics"] == pytest.approx(lake.runs.get(run_id).metrics) and one["inputs"]
    series = c.get("/ui/api/runs/metrics", params={"ids": run_id, "key": "auc"}).json()["series"][0]
    assert series["values"][-1] == pytest.approx(lake.runs.get(run_id).metrics["auc"])
    model = c.get("/ui/api/models/fraud").json()
    assert model["aliases"] == {a: v for a, v in lake.models.list()[0]["aliases"].items()}

    q = c.get("/ui/api/quality/tables/silver.transactions").json()
    assert q["checks"] and len(q["failing"]) == len(q["checks"])
    assert "<svg" in c.get("/ui/api/quality/report", params={"table": "silver.transactions"}).json()["html"]
    feats = c.get("/ui/api/features").json()
    assert {v["name"] for v in feats["views"]} == {v.name for v in lake.features.list_views()}
    online = c.post("/ui/api/features/online", json={"features": ["user_profile:txn_count"],
                                                     "entity_rows": [{"user_id": 1}]}).json()
    assert online["rows"][0][online["columns"].index("txn_count")] == \
        lake.features.online([{"user_id": 1}], ["user_profile:txn_count"]).values["txn_count"][0]


def test_runs_page_on_the_server_matches_the_whole_search() -> None:
    """Pages of a search, in any order, are slices of the unpaged search (brute force)."""
    rng = random.Random(7)
    with lakebed.connect(":memory:") as lake:
        for i in range(41):
            with lake.runs.start(experiment="a" if i % 3 else "b", name=f"r{i}") as run:
                run.log_metric("auc", rng.choice([0.5, 0.6, 0.7, 0.8]))
                run.log_params({"lr": rng.choice(["0.1", "0.01"])})
        c = TestClient(create_app(lake))
        for _ in range(25):
            q = rng.choice(["", "metrics.auc > 0.55", "params.lr = '0.1' or metrics.auc >= 0.8"])
            exp = rng.choice([None, "a", "b"])
            order = rng.choice([[], ["metrics.auc DESC"], ["name ASC"], ["metrics.auc ASC", "name DESC"]])
            full = lake.runs.search(q, experiment=exp, order_by=order, limit=None).column("run_id").to_pylist()
            offset, limit = rng.randrange(0, 45), rng.randrange(1, 12)
            params: dict[str, Any] = {"q": q, "offset": offset, "limit": limit, "order_by": order}
            if exp:
                params["experiment"] = exp
            got = c.get("/ui/api/runs", params=params).json()
            assert got["total"] == len(full) == lake.runs.count(q, experiment=exp)
            assert [r["id"] for r in got["items"]] == full[offset:offset + limit]


def test_metric_series_are_sampled_with_first_and_last_kept() -> None:
    steps = list(range(10_000))
    s, v = sample(steps, [float(x) for x in steps], 500)
    assert len(s) <= 500 and s[0] == 0 and s[-1] == 9_999 and s == sorted(s) and v == [float(x) for x in s]
    with lakebed.connect(":memory:") as lake:
        with lake.runs.start() as run:
            for step in range(3_000):
                run.log_metric("loss", 1 / (step + 1), step=step)
        got = TestClient(create_app(lake)).get("/ui/api/runs/metrics",
                                               params={"ids": run.id, "key": "loss", "points": 200}).json()
        series = got["series"][0]
        assert series["total"] == 3_000 and series["sampled"] and len(series["steps"]) <= 200
        assert series["steps"][-1] == 2_999 and series["values"][0] == 1.0


@pytest.fixture
def keyed(copy_demo_lake: Path) -> Iterator[tuple[lakebed.Lake, TestClient, dict[str, str]]]:
    with lakebed.connect(copy_demo_lake) as lake:
        secrets = {
            "admin": key_store.create(lake, "admin", scopes=["admin"]).secret,
            "read": key_store.create(lake, "reader", scopes=["read"]).secret,
            "silver": key_store.create(lake, "silver-only", scopes=["write"],
                                       grants=["tables:silver.*"]).secret,
        }
        yield lake, TestClient(create_app(lake)), {k: str(v) for k, v in secrets.items()}


def _get_routes(client: TestClient) -> list[str]:
    """Every GET data route of the UI, with its path parameters filled in."""
    fill = {"{name}": "silver.transactions", "{run_id}": "abc", "{result_id}": "1"}
    out = []
    from lakebed.ui._api import router

    app: Any = client.app
    for route in router(app.state.lake, app.state.auth).routes:
        path = getattr(route, "path", "")
        if path.startswith("/ui/api/") and "GET" in getattr(route, "methods", ()):
            for k, v in fill.items():
                path = path.replace(k, v)
            out.append(path)
    return out


def test_keys_scopes_and_grants(keyed: tuple[lakebed.Lake, TestClient, dict[str, str]]) -> None:
    lake, c, keys = keyed
    routes = _get_routes(c)
    assert len(routes) >= 20
    for path in routes:
        r = c.get(path, params={"ref": "model:fraud@1", "ids": "x", "key": "auc", "a": 1, "b": 1})
        assert r.status_code == 401, path
        assert c.get(path, headers={"Authorization": "Bearer lb_000000000000_nope"}).status_code == 401, path
    assert c.post("/ui/api/sql", json={"sql": "SELECT 1"}).status_code == 401

    def h(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[who]}"}

    session = c.get("/ui/api/session", headers=h("read")).json()
    assert session["key"]["name"] == "reader" and session["can_write"] is False
    assert c.get("/ui/api/session", headers=h("admin")).json()["can_write"] is True
    # a read key reads every page, and every write is refused without changing anything
    assert c.get("/ui/api/models/fraud", headers=h("read")).status_code == 200
    before = lake.models.list()[0]["aliases"]
    r = c.post("/ui/api/models/fraud/aliases", json={"alias": "prod", "version": 1}, headers=h("read"))
    assert r.status_code == 403 and "write" in r.json()["error"]["message"]
    assert lake.models.list()[0]["aliases"] == before
    n_results = len(lake.quality.results("silver.transactions", limit=1000))
    assert c.post("/ui/api/quality/validate/silver.transactions", headers=h("read")).status_code == 403
    assert len(lake.quality.results("silver.transactions", limit=1000)) == n_results
    ok = c.post("/ui/api/models/fraud/aliases", json={"alias": "prod", "version": 1}, headers=h("admin"))
    assert ok.status_code == 200 and lake.models.list()[0]["aliases"]["prod"] == 1
    # a key granted silver.* sees silver tables only, in lists, pages and SQL
    listed = c.get("/ui/api/tables", headers=h("silver")).json()
    assert listed["items"] and all(t["name"].startswith("silver.") for t in listed["items"])
    assert c.get("/ui/api/tables/gold.user_features", headers=h("silver")).status_code == 403
    assert c.get("/ui/api/tables/gold.user_features/rows", headers=h("silver")).status_code == 403
    r = c.post("/ui/api/sql", json={"sql": "SELECT count(*) FROM gold.user_features"}, headers=h("silver"))
    assert r.status_code in (400, 403, 404) and "gold.user_features" in r.text
    assert c.get("/ui/api/runs", headers=h("silver")).status_code == 403
    assert c.get("/ui/api/quality/results", params={"table": "gold.user_features"},
                 headers=h("silver")).status_code == 403
    assert c.post("/ui/api/quality/validate/silver.transactions", headers=h("silver")).status_code == 200


@pytest.mark.parametrize("statement", [
    "COPY (SELECT 1) TO '/tmp/lakebed-ui-x.csv'",
    "ATTACH '/tmp/x.db' AS x",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT 1; DROP TABLE silver.transactions",
    "INSTALL httpfs",
    "SELECT * FROM read_parquet('/etc/*')",
])
def test_sql_box_refuses_what_is_not_a_read(demo_client: tuple[lakebed.Lake, TestClient], statement: str) -> None:
    lake, c = demo_client
    r = c.post("/ui/api/sql", json={"sql": statement})
    assert r.status_code in (400, 403, 404), (statement, r.text)
    assert r.json()["error"]["message"]
    assert not Path("/tmp/lakebed-ui-x.csv").exists()
    assert lake.tables.exists("silver.transactions")


def test_injection_traversal_and_oversized_input(demo_client: tuple[lakebed.Lake, TestClient]) -> None:
    _lake, c = demo_client
    # names and refs are validated before they reach the lake
    for path in ["/ui/api/tables/..%2F..%2Fetc%2Fpasswd", "/ui/api/tables/a;drop", "/ui/api/models/x'--",
                 "/ui/api/runs/..%2Fx", "/ui/api/collections/a b"]:
        assert c.get(path).status_code in (404, 422), path
    assert c.get("/ui/api/lineage", params={"ref": "table:x'; DROP TABLE runs;--"}).status_code == 422
    r = c.get("/ui/api/runs", params={"q": "metrics.auc > 0 or 1=1; DROP TABLE runs"})
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert c.get("/ui/api/runs").json()["total"] > 0
    r = c.post("/ui/api/collections/demo_docs/search", json={"mode": "keyword", "q": "x", "filter": {"$where": 1}})
    assert r.status_code in (400, 422)
    # the page files: no traversal out of the assets folder
    for path in ["/ui/assets/..%2F..%2F__init__.py", "/ui/assets/../__init__.py", "/ui/assets/%2e%2e/_api.py",
                 "/ui/assets/"]:
        r = c.get(path)
        assert r.status_code in (404, 200, 503) and b"import" not in r.content, path
    # oversized input is refused, not processed
    assert c.get("/ui/api/runs", params={"q": "x" * 20_000}).status_code == 422
    assert c.post("/ui/api/sql", json={"sql": "SELECT 1 " + " " * 200_000}).status_code == 422
    assert c.get("/ui/api/tables", params={"limit": 501}).status_code == 422
    assert c.get("/ui/api/lineage", params={"ref": "model:fraud@1", "depth": 50}).status_code == 422
    rows = [{"user_id": i} for i in range(101)]
    assert c.post("/ui/api/features/online", json={"features": ["user_profile:txn_count"],
                                                   "entity_rows": rows}).status_code == 422
    assert c.get("/ui/api/nothing/here").status_code == 404


def test_body_limit_applies_to_ui_routes(tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake") as lake:
        c = TestClient(create_app(lake, max_body_bytes=1024))
        assert c.post("/ui/api/sql", json={"sql": "SELECT 1" + " " * 4096}).status_code == 413


def test_pages_are_served_with_a_strict_policy(demo_client: tuple[lakebed.Lake, TestClient]) -> None:
    _lake, c = demo_client
    for path in ["/ui", "/ui/", "/ui/runs/abc", "/ui/lineage"]:
        r = c.get(path)
        assert r.headers["content-type"].startswith("text/html"), path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "'unsafe-eval'" not in csp
        assert r.headers["x-frame-options"] == "DENY"
    if (STATIC / "index.html").is_file():
        page = c.get("/ui/").text
        assert '<div id="app"' in page and "<script" in page and "/ui/assets/" in page
        for ref in sorted({p.name for p in (STATIC / "assets").iterdir()})[:3]:
            asset = c.get(f"/ui/assets/{ref}")
            assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]


def test_shipped_build_matches_the_sources() -> None:
    """The front end in the package was built from the sources in ``ui/`` (run
    ``./scripts/build-ui`` after changing them)."""
    if not (REPO / "ui" / "package.json").is_file():
        pytest.skip("not a checkout of the repository (no ui/ sources)")
    info = build_info()
    assert info is not None, "src/lakebed/ui/static has no build: run ./scripts/build-ui"
    assert info["sources_sha256"] == source_hash(REPO), (
        "the UI sources changed since the shipped build: run ./scripts/build-ui and commit src/lakebed/ui/static")


def test_ui_command_serves_loopback_only(tmp_path: Path) -> None:
    from lakebed.cli import app

    res = CliRunner().invoke(app, ["ui", str(tmp_path / "lake"), "--host", "0.0.0.0"])
    assert res.exit_code != 0 and "loopback" in res.output
