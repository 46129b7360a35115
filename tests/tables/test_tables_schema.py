"""Schema enforcement: bad writes raise, name the columns, and leave the table unchanged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

import lakebed
from lakebed.errors import InvalidArgument, LakebedError, SchemaError

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("amount", pa.float64()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("tags", pa.list_(pa.string())),
    ]
)
ROWS = [
    {"id": 1, "name": "a", "amount": 1.5, "ts": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "tags": ["x"]},
    {"id": 2, "name": None, "amount": None, "ts": None, "tags": None},
]


@pytest.fixture
def table(lake: lakebed.Lake) -> str:
    lake.tables.create("silver.s", schema=SCHEMA, data=ROWS)
    lake.tables.write("silver.s", [{"id": 3, "name": "c"}])
    return "silver.s"


def _snapshot(lake: lakebed.Lake, name: str) -> tuple[int, pa.Schema, list[dict[str, Any]]]:
    t = lake.tables.read(name)
    return lake.tables.version(name), t.schema, sorted(t.to_pylist(), key=lambda r: r["id"])


BAD_WRITES: list[tuple[str, type[Exception], Any, str]] = [
    ("string into int", SchemaError, [{"id": "one"}], "id"),
    ("float into int", SchemaError, pa.table({"id": pa.array([1.5])}), "id"),
    ("int into string", SchemaError, pa.table({"id": [4], "name": [5]}), "name"),
    ("naive ts into zoned", SchemaError, pa.table({"ts": pa.array([0], pa.timestamp("us"))}), "ts"),
    ("list into scalar", SchemaError, pa.table({"name": pa.array([["a"]])}), "name"),
    ("scalar into list", SchemaError, pa.table({"tags": pa.array(["a"])}), "tags"),
    ("extra column", SchemaError, [{"id": 4, "surprise": 1}], "surprise"),
    ("extra column arrow", SchemaError, pa.table({"id": [4], "zz": ["q"]}), "zz"),
    ("overflow", SchemaError, [{"id": 2**70}], "id"),
    ("uint64 overflow", SchemaError, pa.table({"id": pa.array([2**64 - 1], pa.uint64())}), "id"),
    ("ns precision", SchemaError, pa.table({"ts": pa.array([1], pa.timestamp("ns", tz="UTC"))}), "ts"),
    ("duration", SchemaError, pa.table({"id": [4], "d": pa.array([1], pa.duration("s"))}), ""),
    ("rows not dicts", InvalidArgument, [1, 2], ""),
    ("mixed rows", InvalidArgument, [{"id": 4}, ("id", 5)], ""),
    ("empty list", InvalidArgument, [], ""),
    ("ragged dict of columns", InvalidArgument, {"id": [1, 2], "name": ["a"]}, ""),
    ("unsupported object", InvalidArgument, "id,name\n1,a", ""),
    ("mixed types in a row column", SchemaError, [{"id": 4}, {"id": "five"}], "id"),
]


@pytest.mark.parametrize(("case", "exc", "data", "col"), BAD_WRITES, ids=[c[0] for c in BAD_WRITES])
def test_bad_write_changes_nothing(
    lake: lakebed.Lake, table: str, case: str, exc: type[Exception], data: Any, col: str
) -> None:
    before = _snapshot(lake, table)
    for mode in ("append", "overwrite"):
        with pytest.raises(exc) as info:
            lake.tables.write(table, data, mode=mode)  # type: ignore[arg-type]
        if col:
            assert col in str(info.value), info.value
        assert _snapshot(lake, table) == before
    assert len(list((lake.path / "tables" / "silver" / "s" / "_delta_log").glob("*.json"))) == 2


def test_bad_stream_changes_nothing(lake: lakebed.Lake, table: str) -> None:
    """A streamed write whose later batch does not fit fails without committing the earlier ones."""
    before = _snapshot(lake, table)
    # Wrong column type in the stream's schema: refused before anything is written.
    bad_schema = pa.schema([("id", pa.string())])
    bad_batch = pa.record_batch([pa.array(["x"])], schema=bad_schema)
    with pytest.raises(SchemaError, match="id"):
        lake.tables.write(table, pa.RecordBatchReader.from_batches(bad_schema, iter([bad_batch])))
    assert _snapshot(lake, table) == before
    # The schema fits (uint64 widens to int64), but the second batch holds a value int64 cannot.
    schema = pa.schema([("id", pa.uint64()), ("name", pa.string())])

    def batches(last: int) -> Any:
        yield pa.record_batch([pa.array([10, 11], pa.uint64()), pa.array(["ok", "ok"])], schema=schema)
        yield pa.record_batch([pa.array([last, 13], pa.uint64()), pa.array(["ok", "ok"])], schema=schema)

    with pytest.raises(SchemaError, match="id"):
        lake.tables.write(table, pa.RecordBatchReader.from_batches(schema, batches(2**64 - 1)))
    assert _snapshot(lake, table) == before
    parquet = list((lake.path / "tables" / "silver" / "s").glob("*.parquet"))
    assert len(parquet) == 2  # the two committed writes only
    # A good stream still works afterwards.
    assert lake.tables.write(table, pa.RecordBatchReader.from_batches(schema, batches(12))) == 2
    assert lake.tables.read(table).num_rows == len(before[2]) + 4


def test_bad_write_arguments(lake: lakebed.Lake, table: str) -> None:
    before = _snapshot(lake, table)
    with pytest.raises(InvalidArgument):
        lake.tables.write(table, ROWS, mode="upsert")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        lake.tables.write(table, ROWS, schema_mode="overwrite")  # type: ignore[arg-type]
    assert _snapshot(lake, table) == before


def test_missing_nullable_columns_are_filled(lake: lakebed.Lake, table: str) -> None:
    v = lake.tables.write(table, {"amount": [9.0]})
    assert v == 2
    row = lake.tables.read(table, version=2, where="amount = 9.0").to_pylist()
    assert row == [{"id": None, "name": None, "amount": 9.0, "ts": None, "tags": None}]


def test_compatible_types_are_cast(lake: lakebed.Lake, table: str) -> None:
    """Narrower ints, ints into floats, another time zone, large strings: accepted and mapped."""
    data = pa.table(
        {
            "id": pa.array([7], pa.int8()),
            "name": pa.array(["seven"], pa.large_string()),
            "amount": pa.array([7], pa.int32()),
            "ts": pa.array([0], pa.timestamp("s", tz="Asia/Kolkata")),
            "tags": pa.array([["a", None]], pa.large_list(pa.large_string())),
        }
    )
    lake.tables.write(table, data)
    assert lake.tables.read(table).schema == SCHEMA
    got = lake.tables.read(table, where="id = 7").to_pylist()
    assert got == [
        {"id": 7, "name": "seven", "amount": 7.0, "ts": dt.datetime(1970, 1, 1, tzinfo=dt.UTC), "tags": ["a", None]}
    ]


def test_schema_merge_adds_columns_only_when_asked(lake: lakebed.Lake, table: str) -> None:
    with pytest.raises(SchemaError, match="score"):
        lake.tables.write(table, [{"id": 5, "score": 0.5}])
    assert lake.tables.version(table) == 1
    assert lake.tables.write(table, [{"id": 5, "score": 0.5}], schema_mode="merge") == 2
    back = lake.tables.read(table)
    assert back.schema.names == [*SCHEMA.names, "score"]
    scores = {r["id"]: r["score"] for r in back.to_pylist()}
    assert scores == {1: None, 2: None, 3: None, 5: 0.5}
    assert lake.tables.read(table, version=1).schema == SCHEMA
    # Merging still refuses a changed type for an existing column.
    with pytest.raises(SchemaError, match="id"):
        lake.tables.write(table, [{"id": "x", "other": 1}], schema_mode="merge")
    assert lake.tables.version(table) == 2


def test_create_errors_leave_nothing(lake: lakebed.Lake) -> None:
    t = lake.tables
    cases: list[tuple[type[Exception], Callable[[], Any]]] = [
        (SchemaError, lambda: t.create("bronze.x", data=[{"id": 1}], partition_by=["nope"])),
        (SchemaError, lambda: t.create("bronze.x", schema={"id": "int64"}, partition_by=["id", "k"])),
        (SchemaError, lambda: t.create("bronze.x", schema={"id": "no_such_type"})),
        (SchemaError, lambda: t.create("bronze.x", data=pa.table({"n": pa.nulls(2)}))),
        (SchemaError, lambda: t.create("bronze.x", data=[{"id": 1}, {"id": "a"}])),
        (SchemaError, lambda: t.create("bronze.x", schema={"id": "int64"}, data=[{"id": "a"}])),
        (SchemaError, lambda: t.create("bronze.x", schema={"id": "int64"}, data=[{"id": 1, "q": 2}])),
        (SchemaError, lambda: t.create("bronze.x", schema=pa.schema([("a", pa.int64()), ("a", pa.int32())]))),
        (InvalidArgument, lambda: t.create("bronze.x")),
        (InvalidArgument, lambda: t.create("bronze.x", data=[])),
        (InvalidArgument, lambda: t.create("bronze.x", schema=[("id", "int64")])),  # type: ignore[arg-type]
        (InvalidArgument, lambda: t.create("no_namespace", data=[{"id": 1}])),
    ]
    for exc, fn in cases:
        with pytest.raises(exc):
            fn()
        assert not t.exists("bronze.x")
        assert t.list() == []
        assert not (lake.path / "tables" / "bronze" / "x").exists()
    # The name is still free.
    assert t.create("bronze.x", data=[{"id": 1}]) == 0


def test_bad_reads(lake: lakebed.Lake, table: str) -> None:
    before = _snapshot(lake, table)
    with pytest.raises(SchemaError, match="nope"):
        lake.tables.read(table, columns=["id", "nope"])
    for where in ("nope = 1", "id = = 1", "id >", "; DROP TABLE x"):
        with pytest.raises(InvalidArgument):
            lake.tables.read(table, where=where)
    with pytest.raises(LakebedError):
        lake.tables.read("silver.missing")
    assert _snapshot(lake, table) == before
    # A good projection and filter on the same table.
    got = lake.tables.read(table, columns=["name", "id"], where="id >= 2 AND name IS NOT NULL")
    assert got.column_names == ["name", "id"]
    assert got.to_pylist() == [{"name": "c", "id": 3}]
