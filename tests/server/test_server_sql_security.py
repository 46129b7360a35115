"""``where=`` and ``POST /v1/sql`` over HTTP: injections get 4xx with every key scope and
change nothing; the SQL endpoint honours table grants, a statement timeout and a row limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests._injections import SQL_INJECTIONS, WHERE_INJECTIONS, snapshot
from tests.server.conftest import serving

import lakebed
from lakebed._wire import ipc_to_table
from lakebed.server import keys

SCOPES = ["reader", "writer", "admin", "silver"]
TIMEOUT = 1.0
MAX_ROWS = 50


@dataclass
class Api:
    lake: lakebed.Lake
    url: str
    keys: dict[str, str]
    cwd: Path

    def headers(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[who]}"}

    def sql(self, who: str, query: str) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/sql", json={"query": query}, headers=self.headers(who), timeout=60)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    from lakebed.server import create_app

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # where a relative COPY/ATTACH would land
    with lakebed.connect(tmp_path / "lake") as lake:
        lake.tables.create("silver.users", data=[{"id": i, "name": f"u{i}"} for i in range(5)])
        lake.tables.create("gold.secret", data=[{"id": 1, "secret": "hunter2"}])
        made = {
            "admin": keys.create(lake, "admin", ["admin"]).secret,
            "reader": keys.create(lake, "reader", ["read"]).secret,
            "writer": keys.create(lake, "writer", ["write"]).secret,
            "silver": keys.create(lake, "silver-only", ["write"], grants=["tables:silver.*"]).secret,
        }
        app = create_app(lake)
        app.state.sql_timeout = TIMEOUT
        app.state.sql_max_rows = MAX_ROWS
        with serving(app) as url:
            yield Api(lake, url, {k: v or "" for k, v in made.items()}, cwd)


def _catalog_or_logs(p: Path) -> bool:
    """Leave out the catalog (it records key use) and the logs: the tables' files matter."""
    return p.name.endswith(("-shm", "-wal", ".db", ".db-journal")) or "/logs" in str(p)


def _state(api: Api) -> tuple[Any, ...]:
    return (snapshot(api.lake.path / "tables", api.cwd, skip=_catalog_or_logs),
            api.lake.tables.history("silver.users"), api.lake.tables.history("gold.secret"))


@pytest.mark.parametrize("who", SCOPES)
def test_where_injections_get_4xx_and_change_nothing(api: Api, who: str) -> None:
    before = _state(api)
    for where in WHERE_INJECTIONS:
        read = httpx.get(f"{api.url}/v1/tables/silver.users/data", params={"where": where},
                         headers=api.headers(who))
        assert read.status_code == 400, (where, read.text)
        assert "root:" not in read.text
        delete = httpx.post(f"{api.url}/v1/tables/silver.users/delete", json={"where": where},
                            headers=api.headers(who))
        assert delete.status_code == (403 if who == "reader" else 400), (where, delete.text)
    assert _state(api) == before
    assert not any(api.cwd.iterdir())
    assert api.lake.tables.read("silver.users").num_rows == 5


@pytest.mark.parametrize("who", SCOPES)
def test_sql_injections_get_4xx_and_change_nothing(api: Api, who: str) -> None:
    before = _state(api)
    for query in SQL_INJECTIONS:
        r = api.sql(who, query.format(lake=api.lake.path))
        assert 400 <= r.status_code < 500, (query, r.status_code)
        assert "root:" not in r.text and "hunter2" not in r.text
    assert _state(api) == before
    assert not any(api.cwd.iterdir())


def test_parsed_where_works_through_the_client(api: Api) -> None:
    with lakebed.connect(api.url, api_key=api.keys["writer"]) as remote:
        got = remote.tables.read("silver.users", where="id >= 3 AND name LIKE 'u%'")
        assert sorted(got.column("id").to_pylist()) == [3, 4]
        with pytest.raises(lakebed.InvalidArgument, match="ANDD"):
            remote.tables.delete("silver.users", where="id = 1 ANDD id = 2")
        assert remote.tables.delete("silver.users", where="id = 4") == 1
        assert remote.tables.sql("SELECT count(*) AS n FROM silver.users").to_pylist() == [{"n": 4}]


def test_sql_sees_only_granted_tables(api: Api) -> None:
    ok = api.sql("silver", "SELECT count(*) AS n FROM silver.users")
    assert ok.status_code == 200 and ipc_to_table(ok.content).to_pylist() == [{"n": 5}]
    hidden = api.sql("silver", "SELECT * FROM gold.secret")
    missing = api.sql("silver", "SELECT * FROM gold.nothing")
    assert hidden.status_code == missing.status_code == 400
    assert "hunter2" not in hidden.text and "does not exist" in hidden.json()["error"]["message"]
    assert hidden.json()["error"]["message"].replace("secret", "nothing") == missing.json()["error"]["message"]
    listed = api.sql("silver", "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables")
    assert "gold" not in listed.text
    assert set(ipc_to_table(listed.content).column("t").to_pylist()) <= {"silver.users", "main.__lakebed_silver__users"}
    joined = api.sql("silver", "SELECT * FROM silver.users u JOIN gold.secret s ON u.id = s.id")
    assert joined.status_code == 400 and "hunter2" not in joined.text
    # keys without grants see every table
    for who in ("reader", "admin"):
        r = api.sql(who, "SELECT secret FROM gold.secret")
        assert r.status_code == 200 and ipc_to_table(r.content).to_pylist() == [{"secret": "hunter2"}]


def test_sql_timeout_stops_a_long_query(api: Api) -> None:
    t0 = time.monotonic()
    r = api.sql("reader", "SELECT sum(hash(i)) FROM range(4000000000) t(i)")
    elapsed = time.monotonic() - t0
    assert r.status_code == 400 and "longer than" in r.json()["error"]["message"]
    assert elapsed < TIMEOUT + 5
    # the reported query (DuckDB 2 names range()'s column "range"): refused or stopped, quickly
    t0 = time.monotonic()
    assert api.sql("reader", "SELECT sum(hash(i)) FROM range(400000000)").status_code == 400
    assert time.monotonic() - t0 < TIMEOUT + 5
    assert api.sql("reader", "SELECT 1 AS one").status_code == 200  # the server still answers


def test_sql_row_limit_refuses_rather_than_truncates(api: Api) -> None:
    r = api.sql("reader", f"SELECT * FROM range({MAX_ROWS + 1})")
    assert r.status_code == 400 and f"more than {MAX_ROWS} rows" in r.json()["error"]["message"]
    ok = api.sql("reader", f"SELECT * FROM range({MAX_ROWS})")
    assert ok.status_code == 200 and ipc_to_table(ok.content).num_rows == MAX_ROWS


def test_sql_defaults() -> None:
    from lakebed.server.routers.tables import SQL_MAX_ROWS, SQL_TIMEOUT

    assert SQL_TIMEOUT == 10.0 and SQL_MAX_ROWS == 100_000
