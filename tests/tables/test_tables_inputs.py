"""Inputs (pandas, polars, streamed readers, rows, columns), partitions, SQL, read-only lakes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import lakebed
from lakebed.errors import InvalidArgument, LockedError, ReadOnlyError

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("ts", pa.timestamp("us", tz="UTC"))])
T0 = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def _ids(lake: lakebed.Lake, name: str) -> list[int]:
    return sorted(lake.tables.read(name).column("id").to_pylist())


def test_every_input_kind(lake: lakebed.Lake) -> None:
    import pandas as pd
    import polars as pl

    t = lake.tables
    t.create("bronze.in", schema=SCHEMA)
    assert t.write("bronze.in", [{"id": 1, "name": "row", "ts": T0}]) == 1
    assert t.write("bronze.in", {"id": [2, 3], "name": ["col", None]}) == 2
    pdf = pd.DataFrame({"id": [4, 5], "name": ["pd", "pd"], "ts": pd.to_datetime([T0, T0], utc=True)})
    assert t.write("bronze.in", pdf) == 3
    pdf_naive_ns = pd.DataFrame({"id": pd.array([6], dtype="Int32"), "name": ["pd-nullable"]})
    assert t.write("bronze.in", pdf_naive_ns) == 4
    plf = pl.DataFrame({"id": [7], "name": ["pl"], "ts": [T0]}).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    assert t.write("bronze.in", plf) == 5
    batch = pa.record_batch([pa.array([8]), pa.array(["batch"])], names=["id", "name"])
    assert t.write("bronze.in", batch) == 6
    assert t.write("bronze.in", pa.table({"id": [9], "name": ["arrow"]})) == 7
    assert _ids(lake, "bronze.in") == list(range(1, 10))
    assert t.read("bronze.in").schema == SCHEMA
    rows = {r["id"]: r for r in t.read("bronze.in").to_pylist()}
    assert rows[4]["ts"] == T0 and rows[7]["ts"] == T0 and rows[1]["ts"] == T0
    assert rows[3]["name"] is None and rows[6]["name"] == "pd-nullable"
    # Reading back into data frames.
    assert sorted(t.read("bronze.in").to_pandas()["id"].tolist()) == list(range(1, 10))
    assert sorted(pl.from_arrow(t.read("bronze.in"))["id"].to_list()) == list(range(1, 10))  # type: ignore[index,union-attr]


def test_pandas_index_is_not_stored(lake: lakebed.Lake) -> None:
    import pandas as pd

    pdf = pd.DataFrame({"x": [1, 2]}, index=pd.Index([10, 20], name="idx"))
    lake.tables.create("bronze.pdi", data=pdf)
    assert lake.tables.read("bronze.pdi").column_names == ["x"]


def test_streamed_write_is_not_materialised_up_front(lake: lakebed.Lake) -> None:
    """A RecordBatchReader is consumed lazily, batch by batch, into one version."""
    lake.tables.create("bronze.stream", schema=pa.schema([("id", pa.int64()), ("v", pa.float64())]))
    consumed: list[int] = []
    n_batches, per = 20, 5_000

    def gen() -> Iterator[pa.RecordBatch]:
        for i in range(n_batches):
            consumed.append(i)
            ids = pa.array(range(i * per, (i + 1) * per), pa.int32())  # narrower type: conformed per batch
            yield pa.record_batch([ids, pa.array([float(i)] * per)], names=["id", "v"])

    reader = pa.RecordBatchReader.from_batches(pa.schema([("id", pa.int32()), ("v", pa.float64())]), gen())
    assert consumed == []
    assert lake.tables.write("bronze.stream", reader) == 1
    assert consumed == list(range(n_batches))
    back = lake.tables.read("bronze.stream")
    assert back.num_rows == n_batches * per
    assert back.schema.field("id").type == pa.int64()
    assert sorted(back.column("id").to_pylist()) == list(range(n_batches * per))
    assert lake.tables.history("bronze.stream", limit=1)[0]["version"] == 1


def test_partitioned_table(lake: lakebed.Lake) -> None:
    t = lake.tables
    rows = [
        {"day": f"2024-01-0{d}", "region": r, "n": d * 10 + i} for d in (1, 2, 3) for i, r in enumerate(["eu", "us"])
    ]
    t.create("silver.part", data=rows, partition_by=["day", "region"])
    t.write("silver.part", [{"day": "2024-01-04", "region": "eu", "n": 99}])
    root = lake.path / "tables" / "silver" / "part"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [
        "_delta_log",
        "day=2024-01-01",
        "day=2024-01-02",
        "day=2024-01-03",
        "day=2024-01-04",
    ]
    assert (root / "day=2024-01-04" / "region=eu").is_dir()
    back = t.read("silver.part")
    assert back.num_rows == 7
    assert sorted(back.to_pylist(), key=lambda r: r["n"]) == sorted(
        [*rows, {"day": "2024-01-04", "region": "eu", "n": 99}], key=lambda r: r["n"]
    )
    assert t.read("silver.part", where="region = 'us' AND day > '2024-01-01'").num_rows == 2
    assert t.read("silver.part", columns=["n"], where="day = '2024-01-04'").to_pylist() == [{"n": 99}]
    t.write("silver.part", [{"day": "2024-01-01", "region": "eu", "n": 0}], mode="overwrite")
    assert t.read("silver.part").num_rows == 1
    assert t.read("silver.part", version=1).num_rows == 7
    assert t.delete("silver.part", where="day = '2024-01-01'") == 3
    assert t.read("silver.part").num_rows == 0


def test_sql_joins_tables_across_namespaces(lake: lakebed.Lake) -> None:
    users = [{"user_id": u, "country": c} for u, c in [(1, "fr"), (2, "de"), (3, "fr")]]
    events = [{"user_id": u, "amount": float(a)} for u, a in [(1, 10), (1, 5), (2, 7), (3, 1), (4, 100)]]
    lake.tables.create("gold.users", data=users)
    lake.tables.create("silver.events", data=events)
    lake.tables.create("silver.users", data=[{"user_id": 1, "country": "WRONG"}])  # same name, other namespace
    got = lake.sql(
        """
        SELECT u.country, sum(e.amount) AS total, count(*) AS n
        FROM silver.events e JOIN gold.users u ON e.user_id = u.user_id
        GROUP BY u.country ORDER BY u.country
        """
    )
    assert isinstance(got, pa.Table)
    assert got.to_pylist() == [{"country": "de", "total": 7.0, "n": 1}, {"country": "fr", "total": 16.0, "n": 3}]
    # Upper case and extra spaces in the table references; the latest version is what SQL sees.
    lake.tables.write("silver.events", [{"user_id": 2, "amount": 3.0}])
    assert lake.sql("select sum(amount) as s from SILVER . EVENTS").to_pylist() == [{"s": 126.0}]
    assert lake.sql("SELECT country FROM silver.users").to_pylist() == [{"country": "WRONG"}]
    with pytest.raises(InvalidArgument):
        lake.sql("SELECT * FROM silver.nothing_here")
    with pytest.raises(InvalidArgument):
        lake.sql("SELEC 1")


def test_read_only_lake_reads_while_writer_holds_lock(lake_path: Path) -> None:
    with lakebed.connect(lake_path) as writer:
        writer.tables.create("gold.ro", data=[{"id": 1}])
        with pytest.raises(LockedError, match="this process already has the lake"):
            lakebed.connect(lake_path)
        with lakebed.connect(lake_path, read_only=True) as reader:
            rt = reader.tables
            assert rt.list() == ["gold.ro"]
            assert rt.read("gold.ro").to_pylist() == [{"id": 1}]
            # The reader sees the writer's later commits.
            writer.tables.write("gold.ro", [{"id": 2}])
            assert sorted(rt.read("gold.ro").column("id").to_pylist()) == [1, 2]
            assert rt.read("gold.ro", version=0).num_rows == 1
            assert rt.version("gold.ro") == 1
            assert len(rt.history("gold.ro")) == 2
            assert reader.sql("SELECT count(*) AS n FROM gold.ro").to_pylist() == [{"n": 2}]
            writes = [
                lambda: rt.create("gold.other", data=[{"id": 1}]),
                lambda: rt.write("gold.ro", [{"id": 3}]),
                lambda: rt.write("gold.ro", [{"id": 3}], mode="overwrite"),
                lambda: rt.merge("gold.ro", [{"id": 3}], on="id"),
                lambda: rt.delete("gold.ro", where="id = 1"),
                lambda: rt.restore("gold.ro", 0),
                lambda: rt.vacuum("gold.ro", retain=dt.timedelta(0)),
                lambda: rt.drop("gold.ro"),
                lambda: rt.set_properties("gold.ro", {"a": 1}),
            ]
            for fn in writes:
                with pytest.raises(ReadOnlyError):
                    fn()
            assert writer.tables.version("gold.ro") == 1
            assert writer.tables.list() == ["gold.ro"]
    # After the writer closed, a new writer may open the lake and sees everything.
    with lakebed.connect(lake_path) as again:
        assert sorted(again.tables.read("gold.ro").column("id").to_pylist()) == [1, 2]


def test_sql_cannot_reach_files_or_change_tables(lake: lakebed.Lake, tmp_path: Path) -> None:
    lake.tables.create("gold.safe", data=[{"id": 1}])
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for query in (
        f"SELECT * FROM read_csv('{secret}')",
        f"COPY (SELECT * FROM gold.safe) TO '{tmp_path / 'out.csv'}'",
        "INSTALL httpfs",
    ):
        with pytest.raises(InvalidArgument):
            lake.sql(query)
    assert not (tmp_path / "out.csv").exists()
    # Dropping or replacing the view only touches the query's own connection.
    with pytest.raises(InvalidArgument):
        lake.sql("DROP VIEW gold.safe; SELECT * FROM gold.safe")
    with pytest.raises(InvalidArgument):  # one statement that returns rows, nothing else
        lake.sql("CREATE OR REPLACE VIEW gold.safe AS SELECT 2 AS id")
    assert lake.tables.read("gold.safe").to_pylist() == [{"id": 1}]
    assert lake.sql("SELECT id FROM gold.safe").to_pylist() == [{"id": 1}]


def test_threads_writing_one_table_get_distinct_versions(lake: lakebed.Lake) -> None:
    import threading

    lake.tables.create("bronze.threads", schema={"t": "int64", "i": "int64"})
    versions: list[int] = []
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(5):
                versions.append(lake.tables.write("bronze.threads", [{"t": t, "i": i}]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(versions) == list(range(1, 21))
    assert lake.tables.read("bronze.threads").num_rows == 20


@pytest.mark.parametrize("query", [";", "-- nothing", "   "])
def test_sql_without_a_query_is_refused(query: str) -> None:
    with lakebed.connect(":memory:") as lake:
        lake.tables.create("bronze.t", data=[{"a": 1}])
        with pytest.raises(lakebed.InvalidArgument, match="return rows"):
            lake.sql(query)
        assert lake.sql("SELECT a FROM bronze.t").to_pylist() == [{"a": 1}]
