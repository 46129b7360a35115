"""Congruence: the same calls against an embedded lake and a served one give the same answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pyarrow as pa
import pytest

import lakebed


def _tables_script(lake: Any) -> list[Any]:
    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        if isinstance(result, pa.Table):
            result = result.sort_by([(result.column_names[0], "ascending")]).to_pylist()
        out.append(result)

    step(lambda: lake.tables.create("bronze.events", data=[{"id": 1, "kind": "view", "amount": 1.5}]))
    step(lambda: lake.tables.create("bronze.events", data=[{"id": 1}]))
    step(lambda: lake.tables.create("silver.users", schema={"id": "int64", "name": "string"}))
    step(lambda: lake.tables.write("bronze.events", [{"id": 2, "kind": "buy", "amount": None}]))
    step(lambda: lake.tables.write("bronze.events", [{"id": "x"}]))
    step(lambda: lake.tables.write("bronze.events", [{"id": 3, "zz": 1}]))
    step(lambda: lake.tables.write("bronze.events", [{"id": 3, "zz": 1}], schema_mode="merge"))
    step(lambda: lake.tables.merge("bronze.events", [{"id": 1, "kind": "edit", "amount": 2.0, "zz": 5}], on="id"))
    step(lambda: lake.tables.merge("bronze.events", [{"id": 1}, {"id": 1}], on="id"))
    step(lambda: lake.tables.delete("bronze.events", where="id = 2"))
    step(lambda: lake.tables.read("bronze.events"))
    step(lambda: lake.tables.read("bronze.events", version=0))
    step(lambda: lake.tables.read("bronze.events", version=99))
    step(lambda: lake.tables.read("bronze.events", columns=["id"], where="id > 1"))
    step(lambda: lake.tables.read("bronze.events", columns=["nope"]))
    step(lambda: lake.tables.read("gold.missing"))
    step(lambda: [(h["version"], h["operation"]) for h in lake.tables.history("bronze.events")])
    step(lambda: lake.tables.restore("bronze.events", 1))
    step(lambda: lake.tables.read("bronze.events"))
    step(lambda: lake.tables.list())
    step(lambda: lake.tables.list("silver"))
    step(lambda: lake.tables.exists("silver.users"))
    step(lambda: lake.tables.version("bronze.events"))
    step(lambda: lake.sql("SELECT count(*) AS n FROM bronze.events JOIN silver.users USING (id)"))
    step(lambda: lake.sql("SELECT * FROM read_csv('/etc/passwd')"))
    step(lambda: lake.tables.write("bronze.events", [{"id": 7}], commit_metadata={"lakebed.source": "etl"}))
    step(lambda: lake.tables.history("bronze.events", limit=1)[0].get("lakebed.source"))
    step(lambda: lake.tables.write("bronze.events", [{"id": 8}], commit_metadata={"nope": 1}))
    step(lambda: lake.tables.sql("SELECT count(*) AS n FROM bronze.events", tables=["bronze.events"], timeout=5,
                                 max_rows=10))
    step(lambda: lake.tables.sql("SELECT count(*) AS n FROM silver.users", tables=["bronze.events"]))
    step(lambda: lake.tables.sql("SELECT * FROM bronze.events", max_rows=1))
    step(lambda: lake.tables.sql("SELECT 1", timeout=0))
    step(lambda: lake.tables.flush())
    step(lambda: lake.tables.drop("silver.users"))
    step(lambda: lake.tables.list())
    return out


def test_tables_congruence(served_any: Any) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _tables_script(embedded)
    with lakebed.connect(served_any.url) as remote:
        got = _tables_script(remote)
    assert got == expected


def test_arrow_types_survive_the_wire(served_any: Any) -> None:
    import datetime as dt

    table = pa.table({
        "i": pa.array([1, None], pa.int32()), "f": [0.5, float("nan")], "s": ["é", None],
        "ts": pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC), None], pa.timestamp("us", "UTC")),
        "l": [[1, 2], []], "st": [{"a": 1}, {"a": None}],
    })
    with lakebed.connect(served_any.url) as remote:
        remote.tables.create("gold.types", data=table)
        back = remote.tables.read("gold.types")
    local = served_any.lake.tables.read("gold.types")
    assert back.schema == local.schema
    assert repr(back.to_pylist()) == repr(local.to_pylist())  # repr: NaN equals NaN
    assert back.column("s").to_pylist() == ["é", None]


def test_health_ready_metrics(served: Any) -> None:
    import httpx

    with lakebed.connect(served.url) as remote:
        remote.tables.create("bronze.t", data=[{"a": 1}])
        remote.tables.read("bronze.t")
    assert httpx.get(f"{served.url}/health").json() == {"status": "ok", "worker": 0}
    assert httpx.get(f"{served.url}/ready").json() == {"status": "ready"}
    text = httpx.get(f"{served.url}/metrics").text
    assert 'lakebed_http_requests_total{method="GET",route="/v1/tables/{name}/data",status="200"} 1.0' in text
    assert 'lakebed_table_rows{table="bronze.t"} 1.0' in text
    assert "lakebed_http_request_seconds_bucket" in text


def test_unreachable_server_is_backend_unavailable() -> None:
    with lakebed.connect("http://127.0.0.1:1", ) as remote, pytest.raises(lakebed.BackendUnavailable):
        remote.tables.list()


def test_a_path_in_a_request_is_never_read_as_a_file(served: Any, tmp_path: Any) -> None:
    """``data=`` reads files in the library; over HTTP, rows are rows: a string where rows
    belong is refused, whatever file it names."""
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nabc123\n")
    for body in ({"rows": str(secret)}, {"rows": "/etc/passwd"}, {"rows": {"path": str(secret)}}, str(secret)):
        for route in ("/v1/tables/bronze.leak/create", "/v1/tables/bronze.leak/write"):
            resp = httpx.post(served.url + route, json=body, timeout=10)
            assert resp.status_code in (400, 404), (route, body, resp.text)
            assert "abc123" not in resp.text
    assert not served.lake.tables.exists("bronze.leak")
    long = "{" + ",".join(f'"lakebed.k{i}": "{"v" * 40}"' for i in range(400)) + "}"
    served.lake.tables.create("bronze.meta", data=[{"id": 1}])
    resp = httpx.post(served.url + "/v1/tables/bronze.meta/write", params={"commit_metadata": long},
                      json={"rows": [{"id": 2}]}, timeout=10)
    assert resp.status_code in (400, 422) and served.lake.tables.version("bronze.meta") == 0
    resp = httpx.post(served.url + "/v1/tables/bronze.meta/write", params={"commit_metadata": "[1, 2]"},
                      json={"rows": [{"id": 2}]}, timeout=10)
    assert resp.status_code == 400 and "JSON object of strings" in resp.text
    assert served.lake.tables.version("bronze.meta") == 0
