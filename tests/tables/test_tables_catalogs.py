"""The core table checks on both catalogs: SQLite in the lake and PostgreSQL (real server)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import lakebed
from lakebed.errors import AlreadyExists, InvalidArgument, NotFound, ReadOnlyError, SchemaError


@pytest.fixture
def clake(lake_path: Path, catalog_url: str | None) -> Iterator[lakebed.Lake]:
    with lakebed.connect(lake_path, catalog=catalog_url) as lk:
        yield lk


def test_core_table_lifecycle(clake: lakebed.Lake, lake_path: Path, catalog_url: str | None) -> None:
    t = clake.tables
    assert clake.catalog.dialect == ("sqlite" if catalog_url is None else "postgresql")
    assert t.create("bronze.ev", data=[{"id": 1, "kind": "view"}], description="events") == 0
    t.create("gold.users", schema={"id": "int64", "country": "string"}, partition_by=["country"])
    with pytest.raises(AlreadyExists):
        t.create("bronze.ev", data=[{"id": 1}])
    assert t.list() == ["bronze.ev", "gold.users"] and t.list("gold") == ["gold.users"]
    time.sleep(0.02)
    mid = dt.datetime.now(dt.UTC)
    time.sleep(0.02)
    assert t.write("bronze.ev", [{"id": 2, "kind": "buy"}, {"id": 3, "kind": "view"}]) == 1
    assert t.merge("bronze.ev", [{"id": 3, "kind": "refund"}, {"id": 4, "kind": "view"}], on="id") == 2
    assert t.delete("bronze.ev", where="kind = 'buy'") == 3
    t.write("gold.users", [{"id": i, "country": c} for i, c in [(1, "fr"), (3, "de"), (4, "fr")]])
    rows = sorted(t.read("bronze.ev").to_pylist(), key=lambda r: r["id"])
    assert rows == [{"id": 1, "kind": "view"}, {"id": 3, "kind": "refund"}, {"id": 4, "kind": "view"}]
    assert t.read("bronze.ev", version=0).to_pylist() == [{"id": 1, "kind": "view"}]
    assert t.read("bronze.ev", as_of=mid).to_pylist() == [{"id": 1, "kind": "view"}]
    assert [h["version"] for h in t.history("bronze.ev")] == [3, 2, 1, 0]
    # Schema errors change nothing, on either catalog.
    for bad in ([{"id": "x"}], [{"id": 5, "extra": 1}]):
        with pytest.raises(SchemaError):
            t.write("bronze.ev", bad)
    with pytest.raises(InvalidArgument):
        t.merge("bronze.ev", [{"id": 9, "kind": "a"}, {"id": 9, "kind": "b"}], on="id")
    assert t.version("bronze.ev") == 3 and t.read("bronze.ev").num_rows == 3
    got = clake.sql(
        "SELECT u.country, count(*) AS n FROM bronze.ev e JOIN gold.users u USING (id) "
        "GROUP BY u.country ORDER BY u.country"
    )
    assert got.to_pylist() == [{"country": "de", "n": 1}, {"country": "fr", "n": 2}]
    assert t.restore("bronze.ev", 1) == 4
    assert sorted(t.read("bronze.ev").column("id").to_pylist()) == [1, 2, 3]
    info = t.info("bronze.ev")
    assert info["description"] == "events" and info["version"] == 4
    t.set_properties("bronze.ev", {"owner": "me"})
    assert t.info("bronze.ev")["properties"] == {"owner": "me"}
    t.drop("gold.users")
    assert t.list() == ["bronze.ev"]
    with pytest.raises(NotFound):
        t.read("gold.users")


def test_reopen_and_read_only(lake_path: Path, catalog_url: str | None) -> None:
    with lakebed.connect(lake_path, catalog=catalog_url) as lk:
        lk.tables.create("silver.s", data=pa.table({"x": pa.array([1, 2], pa.uint8())}))
        lk.tables.write("silver.s", {"x": [3]})
        with lakebed.connect(lake_path, catalog=catalog_url, read_only=True) as ro:
            assert ro.tables.list() == ["silver.s"]
            assert sorted(ro.tables.read("silver.s").column("x").to_pylist()) == [1, 2, 3]
            with pytest.raises(ReadOnlyError):
                ro.tables.write("silver.s", {"x": [4]})
    with lakebed.connect(lake_path, catalog=catalog_url) as lk:
        assert lk.tables.version("silver.s") == 1
        assert lk.tables.schema("silver.s").field("x").type == pa.int16()
        assert lk.tables.read("silver.s", version=0).num_rows == 2
