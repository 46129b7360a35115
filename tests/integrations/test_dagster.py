"""LakebedIOManager and LakebedResource under ``dagster.materialize`` (in process, on an
ephemeral Dagster instance): table contents, the versions in the materialization metadata,
lineage edges, re-materialization, pinned reads, partitions and bad outputs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

dg = pytest.importorskip("dagster")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

import lakebed  # noqa: E402
from lakebed.integrations.dagster import LakebedIOManager, LakebedResource  # noqa: E402

USERS = {
    0: {"id": [1, 2, 3, 4], "plan": ["free", "pro", "pro", "free"], "spend": [0.0, 12.5, 30.0, 0.0]},
    1: {"id": [1, 2, 3, 4, 5], "plan": ["pro", "pro", "free", "free", "pro"], "spend": [9.0, 12.5, 0.0, 0.0, 4.0]},
}


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def make_assets(generation: dict[str, int]) -> list[Any]:
    @dg.asset(key_prefix="silver")
    def users() -> pd.DataFrame:  # pandas out
        return pd.DataFrame(USERS[generation["n"]])

    @dg.asset(key_prefix="gold", ins={"users": dg.AssetIn(key=["silver", "users"])})
    def pro_users(users: pl.DataFrame) -> pa.Table:  # polars in, Arrow out
        assert isinstance(users, pl.DataFrame)
        return users.filter(pl.col("plan") == "pro").select("id", "spend").to_arrow()

    @dg.asset(key_prefix="gold", ins={"users": dg.AssetIn(key=["silver", "users"], metadata={"version": 0})})
    def first_users(users: pa.Table) -> pa.Table:  # Arrow in, pinned to version 0
        assert isinstance(users, pa.Table)
        return users.select(["id"])

    return [users, pro_users, first_users]


def versions_in(result: Any) -> dict[str, int]:
    out = {}
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        out[meta["dagster/table_name"].value] = meta["lakebed/version"].value
    return out


def rows(lake: Any, name: str, version: int | None = None) -> list[dict[str, Any]]:
    return sorted(lake.tables.read(name, version=version).to_pylist(), key=lambda r: r["id"])


def expected_pro(gen: int) -> list[dict[str, Any]]:
    u = USERS[gen]
    return [{"id": i, "spend": s} for i, p, s in zip(u["id"], u["plan"], u["spend"], strict=True) if p == "pro"]


def test_materialize_versions_lineage_and_pinned_reads(tmp_path: Path, instance: Any) -> None:
    path = tmp_path / "lake"
    generation = {"n": 0}
    assets = make_assets(generation)
    io = LakebedIOManager(lake=LakebedResource(location=str(path)))

    first = dg.materialize(assets[:2], resources={"io_manager": io}, instance=instance)
    assert first.success
    with lakebed.connect(path) as lake:
        assert rows(lake, "silver.users") == pa.table(USERS[0]).to_pylist()
        assert rows(lake, "gold.pro_users") == expected_pro(0)
        got = versions_in(first)
        assert got == {name: lake.tables.version(name) for name in ("silver.users", "gold.pro_users")} == {
            "silver.users": 0, "gold.pro_users": 0}
        meta = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in first.get_asset_materialization_events()}
        assert meta["gold/pro_users"]["dagster/row_count"].value == len(expected_pro(0))
        assert [c.name for c in meta["gold/pro_users"]["dagster/column_schema"].value.columns] == ["id", "spend"]
        assert meta["gold/pro_users"]["lakebed/inputs"].value == ["table:silver.users@0"]
        edges = [e for e in lake.lineage.edges() if e.kind == "dagster"]
        assert [(e.src, e.dst) for e in edges] == [("table:silver.users@0", "table:gold.pro_users@0")]
        assert edges[0].properties["dagster_run_id"] == first.run_id
        assert edges[0].properties["dagster_asset"] == "gold/pro_users"

    generation["n"] = 1  # new upstream data: every table gets a new version
    second = dg.materialize(assets, resources={"io_manager": io}, instance=instance)
    assert second.success
    with lakebed.connect(path) as lake:
        assert versions_in(second) == {"silver.users": 1, "gold.pro_users": 1, "gold.first_users": 0}
        assert lake.tables.version("silver.users") == 1 and lake.tables.version("gold.pro_users") == 1
        assert rows(lake, "gold.pro_users") == expected_pro(1)
        assert rows(lake, "gold.pro_users", version=0) == expected_pro(0)  # history kept
        # the pinned input read version 0, not the version 1 written in the same run
        assert rows(lake, "gold.first_users") == [{"id": i} for i in USERS[0]["id"]]
        # lineage is recorded through the server as on an embedded lake, run ids included
        edges = {(e.src, e.dst): e.properties for e in lake.lineage.edges() if e.kind == "dagster"}
        assert ("table:silver.users@1", "table:gold.pro_users@1") in edges
        assert ("table:silver.users@0", "table:gold.first_users@0") in edges
        assert edges[("table:silver.users@1", "table:gold.pro_users@1")]["dagster_run_id"] == second.run_id
        new = {(e.src, e.dst): e.properties for e in lake.lineage.edges() if e.kind == "dagster"}
        assert new[("table:silver.users@1", "table:gold.pro_users@1")]["dagster_run_id"] == second.run_id
        assert new[("table:silver.users@0", "table:gold.first_users@0")]["dagster_run_id"] == second.run_id
        assert len(new) == 3
        assert lake.lineage.upstream("table:gold.first_users@0").nodes == [
            "table:gold.first_users@0", "table:silver.users@0"]


def test_append_mode_and_shared_resource(tmp_path: Path, instance: Any) -> None:
    """An asset using the resource and the IO manager on the same embedded lake share one
    handle (a second open in one process would be refused by the writer lock)."""
    path = str(tmp_path / "lake")
    resource = LakebedResource(location=path)

    @dg.asset(key_prefix="bronze")
    def events(lakebed: LakebedResource) -> pa.Table:
        n = len(lakebed.get_lake().tables.list())
        return pa.table({"id": [1, 2], "tables_seen": [n, n]})

    @dg.asset  # a one-part key: the namespace from config
    def counts(events: pa.Table) -> pa.Table:
        return pa.table({"id": [0], "n": [events.num_rows]})

    io = LakebedIOManager(lake=resource, mode="append", namespace="metrics")
    for _ in range(2):
        assert dg.materialize([events, counts], resources={"io_manager": io, "lakebed": resource},
                              instance=instance).success
    with lakebed.connect(path) as lake:
        assert lake.tables.read("bronze.events").num_rows == 4  # appended twice
        assert lake.tables.version("bronze.events") == 1
        assert sorted(r["n"] for r in lake.tables.read("metrics.counts").to_pylist()) == [2, 4]


def test_static_partitions_replace_their_rows(tmp_path: Path, instance: Any) -> None:
    path = tmp_path / "lake"
    fill = {"a": [1, 2], "b": [10]}
    parts = dg.StaticPartitionsDefinition(["a", "b", "c'd"])

    @dg.asset(key_prefix="silver", partitions_def=parts, metadata={"partition_expr": "region"})
    def sales(context) -> pa.Table:
        values = fill[context.partition_key]
        return pa.table({"region": [context.partition_key] * len(values), "amount": values})

    @dg.asset(key_prefix="gold", partitions_def=parts, metadata={"partition_expr": "region"},
              ins={"sales": dg.AssetIn(key=["silver", "sales"])})
    def totals(context, sales: pa.Table) -> pa.Table:
        assert set(sales["region"].to_pylist()) <= {context.partition_key}  # only its partition
        return pa.table({"region": [context.partition_key], "total": [sum(sales["amount"].to_pylist())]})

    io = LakebedIOManager(lake=LakebedResource(location=str(path)))

    def run(key: str) -> Any:
        return dg.materialize([sales, totals], partition_key=key, resources={"io_manager": io}, instance=instance)

    run("a")
    run("b")
    fill["a"] = [5, 6, 7]
    fill["c'd"] = [100]  # a quote in the key stays a literal
    result = run("a")
    run("c'd")
    with lakebed.connect(path) as lake:
        got = sorted((r["region"], r["amount"]) for r in lake.tables.read("silver.sales").to_pylist())
        assert got == [("a", 5), ("a", 6), ("a", 7), ("b", 10), ("c'd", 100)]
        totals_rows = sorted((r["region"], r["total"]) for r in lake.tables.read("gold.totals").to_pylist())
        assert totals_rows == [("a", 18), ("b", 10), ("c'd", 100)]
        meta = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
        assert meta["silver/sales"]["dagster/partition_row_count"].value == 3
        # a: create (0); b: nothing to delete, append (1); a: delete (2), append (3)
        assert meta["silver/sales"]["lakebed/version"].value == 3
        before = lake.tables.version("silver.sales")

    # a partition's output with another partition's rows is refused, and the table is unchanged
    fill["b"] = [1]

    @dg.asset(key_prefix="silver", partitions_def=parts, metadata={"partition_expr": "region"}, name="sales")
    def bad_sales(context) -> pa.Table:
        return pa.table({"region": ["b", "a"], "amount": [1, 2]})

    with pytest.raises(lakebed.InvalidArgument, match="outside"):
        dg.materialize([bad_sales], partition_key="b", resources={"io_manager": io}, instance=instance)
    with lakebed.connect(path) as lake:
        assert lake.tables.version("silver.sales") == before

    # rows that do not fit the table: the append fails after the partition's delete, and
    # the table is restored to what it held
    @dg.asset(key_prefix="silver", partitions_def=parts, metadata={"partition_expr": "region"}, name="sales")
    def mistyped_sales(context) -> pa.Table:
        return pa.table({"region": ["b"], "amount": ["not a number"]})

    with pytest.raises(lakebed.SchemaError):
        dg.materialize([mistyped_sales], partition_key="b", resources={"io_manager": io}, instance=instance)
    with lakebed.connect(path) as lake:
        assert sorted((r["region"], r["amount"]) for r in lake.tables.read("silver.sales").to_pylist()) == got
        assert lake.tables.version("silver.sales") > before  # the delete and the restore are versions


def test_daily_partitions(tmp_path: Path, instance: Any) -> None:
    path = tmp_path / "lake"
    daily = dg.DailyPartitionsDefinition(start_date="2024-03-01")
    scale = {"k": 1}

    @dg.asset(key_prefix="silver", partitions_def=daily, metadata={"partition_expr": "ts"})
    def clicks(context) -> pa.Table:
        start = context.partition_time_window.start.astimezone(UTC)
        stamps = [start.replace(hour=h) for h in (0, 12, 23)]
        return pa.table({"ts": pa.array(stamps, pa.timestamp("us", "UTC")), "n": [scale["k"]] * 3})

    @dg.asset(key_prefix="gold", partitions_def=daily, metadata={"partition_expr": "day"},
              ins={"clicks": dg.AssetIn(key=["silver", "clicks"])})
    def daily_clicks(context, clicks: pa.Table) -> pa.Table:
        day = context.partition_time_window.start.astimezone(UTC).date()
        assert {t.date() for t in clicks["ts"].to_pylist()} == {day}
        return pa.table({"day": pa.array([day], pa.date32()), "n": [sum(clicks["n"].to_pylist())]})

    io = LakebedIOManager(lake=LakebedResource(location=str(path)))
    for key in ("2024-03-01", "2024-03-02"):
        assert dg.materialize([clicks, daily_clicks], partition_key=key, resources={"io_manager": io},
                              instance=instance).success
    scale["k"] = 10
    assert dg.materialize([clicks, daily_clicks], partition_key="2024-03-01", resources={"io_manager": io},
                          instance=instance).success
    with lakebed.connect(path) as lake:
        got = sorted((r["ts"], r["n"]) for r in lake.tables.read("silver.clicks").to_pylist())
        assert [n for _, n in got] == [10, 10, 10, 1, 1, 1]
        assert got[0][0] == datetime(2024, 3, 1, tzinfo=UTC)
        out = sorted((str(r["day"]), r["n"]) for r in lake.tables.read("gold.daily_clicks").to_pylist())
        assert out == [("2024-03-01", 30), ("2024-03-02", 3)]


def test_bad_outputs_and_config(tmp_path: Path, instance: Any) -> None:
    path = tmp_path / "lake"

    @dg.asset(key_prefix="silver")
    def odd() -> dict[str, Any]:
        return {"not": "a table"}

    io = LakebedIOManager(lake=LakebedResource(location=str(path)))
    with pytest.raises(lakebed.InvalidArgument, match="pyarrow Tables and pandas or polars"):
        dg.materialize([odd], resources={"io_manager": io}, instance=instance)

    @dg.asset(key_prefix=["bad-name"])
    def dashed() -> pa.Table:
        return pa.table({"x": [1]})

    with pytest.raises(lakebed.InvalidArgument, match="lakebed/table"):
        dg.materialize([dashed], resources={"io_manager": io}, instance=instance)

    @dg.asset(key_prefix=["bad-name"], metadata={"lakebed/table": "silver.renamed"})
    def renamed() -> pa.Table:
        return pa.table({"x": [1]})

    assert dg.materialize([renamed], resources={"io_manager": io}, instance=instance).success
    with lakebed.connect(path) as lake:
        assert lake.tables.list() == ["silver.renamed"]

    with pytest.raises(lakebed.InvalidArgument, match="mode"):
        LakebedIOManager(lake=LakebedResource(location=str(path)), mode="upsert")
    with pytest.raises(lakebed.InvalidArgument, match="namespace"):
        LakebedIOManager(lake=LakebedResource(location=str(path)), namespace="no-dashes")
    with pytest.raises(lakebed.InvalidArgument, match="memory"):
        LakebedResource(location=":memory:").get_lake()


@pytest.fixture
def served_url() -> Iterator[str]:
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from tests.server.conftest import serving

    from lakebed.server import create_app

    with lakebed.connect(":memory:") as lake, serving(create_app(lake)) as url:
        yield url


def test_served_lake(served_url: str, instance: Any) -> None:
    generation = {"n": 0}
    assets = make_assets(generation)
    io = LakebedIOManager(lake=LakebedResource(location=served_url))
    first = dg.materialize(assets[:2], resources={"io_manager": io}, instance=instance)
    generation["n"] = 1
    second = dg.materialize(assets, resources={"io_manager": io}, instance=instance)
    with lakebed.connect(served_url) as lake:
        assert versions_in(first) == {"silver.users": 0, "gold.pro_users": 0}
        assert versions_in(second) == {"silver.users": 1, "gold.pro_users": 1, "gold.first_users": 0}
        assert rows(lake, "gold.pro_users") == expected_pro(1)
        assert rows(lake, "gold.first_users") == [{"id": i} for i in USERS[0]["id"]]
