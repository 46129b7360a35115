"""Hypothesis round trips of Arrow types through lakebed tables.

What is read back must equal what was written after the documented mapping
(``lakebed.tables.storage_type``): same schema as the mapped one, same values (NaN is NaN,
a zoned timestamp comes back as the same instant in UTC).
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakebed
from lakebed.errors import SchemaError
from lakebed.tables import storage_schema, storage_type

_counter = itertools.count()
_EXACT = decimal.Context(prec=80)  # scaling must not round 38-digit decimals

# Timestamps and dates stay where Python's datetime can show them (years 1700..2300).
_MIN_US = int((dt.datetime(1700, 1, 1) - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000
_MAX_US = int((dt.datetime(2300, 1, 1) - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000


def _ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
    if signed:
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    # uint64 values above int64's max cannot be stored (widening has nowhere to go); they are
    # tested apart in test_uint64_overflow_is_refused.
    return st.integers(0, 2**bits - 1 if bits < 64 else 2**63 - 1)


def _with_nulls(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


# A column kind: (arrow type strategy, values strategy for that type) drawn together.
@st.composite
def column(draw: st.DrawFn, depth: int = 0) -> tuple[pa.DataType, st.SearchStrategy[Any]]:
    kinds = [
        "int",
        "float",
        "bool",
        "string",
        "binary",
        "date32",
        "timestamp",
        "decimal",
    ]
    if depth < 2:
        kinds += ["list", "struct"]
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        bits = draw(st.sampled_from([8, 16, 32, 64]))
        signed = draw(st.booleans())
        t = getattr(pa, f"{'' if signed else 'u'}int{bits}")()
        return t, _ints(bits, signed)
    if kind == "float":
        t = draw(st.sampled_from([pa.float32(), pa.float64()]))
        width = 32 if t == pa.float32() else 64
        return t, st.floats(width=width, allow_nan=True, allow_infinity=True)
    if kind == "bool":
        return pa.bool_(), st.booleans()
    if kind == "string":
        t = draw(st.sampled_from([pa.string(), pa.large_string(), pa.string_view()]))
        return t, st.text(max_size=12)
    if kind == "binary":
        t = draw(st.sampled_from([pa.binary(), pa.large_binary()]))
        return t, st.binary(max_size=12)
    if kind == "date32":
        return pa.date32(), st.dates(dt.date(1700, 1, 1), dt.date(2300, 1, 1))
    if kind == "timestamp":
        unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
        tz = draw(st.sampled_from([None, "UTC", "Europe/Paris", "America/New_York", "+05:30"]))
        t = pa.timestamp(unit, tz=tz)
        # Values are whole microseconds (a finer value is refused, see test_sub_microsecond_refused),
        # given as integers in the column's unit.
        per = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}[unit]
        mult = {"s": 1, "ms": 1, "us": 1, "ns": 1_000}[unit]
        lo, hi = _MIN_US // per, _MAX_US // per
        if unit == "ns":  # int64 nanoseconds only reach the years 1677..2262
            lo, hi = max(lo, -(2**63) // 1000 + 1), min(hi, (2**63 - 1) // 1000)
        return t, st.integers(lo, hi).map(lambda v: v * mult)
    if kind == "decimal":
        precision = draw(st.integers(1, 38))
        scale = draw(st.integers(0, precision))
        bound = 10**precision - 1
        return pa.decimal128(precision, scale), st.integers(-bound, bound).map(
            lambda v: decimal.Decimal(v).scaleb(-scale, _EXACT)
        )
    if kind == "list":
        inner_t, inner_v = draw(column(depth + 1))
        t = draw(st.sampled_from([pa.list_, pa.large_list]))(inner_t)
        return t, st.lists(_with_nulls(inner_v), max_size=4)
    fields = draw(st.integers(1, 3))
    inner = [draw(column(depth + 1)) for _ in range(fields)]
    t = pa.struct([pa.field(f"f{i}", ft) for i, (ft, _) in enumerate(inner)])
    return t, st.fixed_dictionaries({f"f{i}": _with_nulls(v) for i, (_, v) in enumerate(inner)})


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    ncols = draw(st.integers(1, 4))
    nrows = draw(st.integers(1, 8))
    arrays: dict[str, pa.Array] = {"row": pa.array(range(nrows), pa.int64())}
    for c in range(ncols):
        t, values = draw(column())
        vals = draw(st.lists(_with_nulls(values), min_size=nrows, max_size=nrows))
        arrays[f"c{c}"] = _array(vals, t)
    return pa.table(arrays)


def _array(vals: list[Any], t: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(t):
        # Build from integers in the column's unit (the zone only labels the same instants).
        return pa.array(vals, pa.int64()).cast(t)
    if pa.types.is_string_view(t):
        return pa.array(vals, pa.string()).cast(t)
    return pa.array(vals, t)


def _norm(v: Any) -> Any:
    """Make values comparable with ==: NaN equals NaN; containers recursively."""
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def _expected(table: pa.Table) -> pa.Table:
    """What the table should read back as: every column cast to its storage type."""
    return pa.Table.from_arrays(
        [table.column(n).cast(storage_type(table.schema.field(n).type)) for n in table.column_names],
        names=table.column_names,
    )


def _check_roundtrip(lake: lakebed.Lake, written: pa.Table, name: str) -> None:
    back = lake.tables.read(name).sort_by("row")
    want = _expected(written)
    assert back.schema == storage_schema(written.schema), (back.schema, written.schema)
    for n in written.column_names:
        got, exp = back.column(n).to_pylist(), want.column(n).to_pylist()
        assert _norm(got) == _norm(exp), (n, written.schema.field(n).type, got, exp)
        t = written.schema.field(n).type
        if pa.types.is_timestamp(t) and t.tz is not None:
            # The same instants, labelled UTC.
            assert back.schema.field(n).type.tz == "UTC"
            assert back.column(n).cast(pa.int64()).to_pylist() == (
                written.column(n).cast(pa.timestamp("us", tz=t.tz)).cast(pa.int64()).to_pylist()
            )


@pytest.fixture(scope="module")
def module_lake() -> Any:
    with lakebed.connect(":memory:") as lk:
        yield lk


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_roundtrip_create_with_data(module_lake: lakebed.Lake, table: pa.Table) -> None:
    name = f"rt.t{next(_counter)}"
    assert module_lake.tables.create(name, data=table) == 0
    _check_roundtrip(module_lake, table, name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_roundtrip_write_into_schema(module_lake: lakebed.Lake, table: pa.Table) -> None:
    """Create from the user schema, then write: the write path maps types the same way."""
    name = f"rt.s{next(_counter)}"
    module_lake.tables.create(name, schema=table.schema)
    assert module_lake.tables.write(name, table) == 1
    _check_roundtrip(module_lake, table, name)
    # A second write of the same user-typed data into the (now storage-typed) table fits too.
    assert module_lake.tables.write(name, table) == 2
    assert module_lake.tables.read(name).num_rows == 2 * table.num_rows


def test_nulls_everywhere(lake: lakebed.Lake) -> None:
    """All-null columns of every type, given a schema, come back as typed nulls."""
    types = [
        pa.int8(),
        pa.uint32(),
        pa.float64(),
        pa.bool_(),
        pa.string(),
        pa.binary(),
        pa.date32(),
        pa.timestamp("us"),
        pa.timestamp("ns", tz="Asia/Tokyo"),
        pa.decimal128(12, 3),
        pa.list_(pa.string()),
        pa.struct([("a", pa.int64()), ("b", pa.list_(pa.float32()))]),
    ]
    schema = pa.schema([pa.field(f"c{i}", t) for i, t in enumerate(types)])
    table = pa.Table.from_arrays([pa.nulls(3, t) for t in types], schema=schema).append_column(
        "row", pa.array([0, 1, 2], pa.int64())
    )
    lake.tables.create("rt.nulls", schema=table.schema)
    lake.tables.write("rt.nulls", table)
    _check_roundtrip(lake, table, "rt.nulls")


def test_float16_widens_to_float32(lake: lakebed.Lake) -> None:
    values = np.array([1.5, np.nan, np.inf, -np.inf, -0.0, 65504.0], dtype=np.float16)
    table = pa.table({"row": pa.array(range(len(values)), pa.int64()), "h": pa.array(values)})
    lake.tables.create("rt.half", data=table)
    _check_roundtrip(lake, table, "rt.half")


def test_dictionary_column_is_stored_plain(lake: lakebed.Lake) -> None:
    table = pa.table({"row": pa.array([0, 1, 2], pa.int64()), "d": pa.array(["a", None, "b"]).dictionary_encode()})
    lake.tables.create("rt.dict", data=table)
    _check_roundtrip(lake, table, "rt.dict")


def test_uint64_overflow_is_refused(lake: lakebed.Lake) -> None:
    lake.tables.create("rt.u64", data=pa.table({"u": pa.array([1], pa.uint64())}))
    with pytest.raises(SchemaError, match="u"):
        lake.tables.write("rt.u64", pa.table({"u": pa.array([2**64 - 1], pa.uint64())}))
    assert lake.tables.version("rt.u64") == 0
    assert lake.tables.read("rt.u64").to_pylist() == [{"u": 1}]


def test_sub_microsecond_refused(lake: lakebed.Lake) -> None:
    lake.tables.create("rt.ns", schema={"t": pa.timestamp("ns")})
    with pytest.raises(SchemaError, match="t"):
        lake.tables.write("rt.ns", pa.table({"t": pa.array([1_000_001], pa.timestamp("ns"))}))
    assert lake.tables.version("rt.ns") == 0
    assert lake.tables.read("rt.ns").num_rows == 0


def test_zoned_timestamp_same_instant_in_utc(lake: lakebed.Lake) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    when = dt.datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=paris)
    table = pa.table({"t": pa.array([when], pa.timestamp("us", tz="Europe/Paris"))})
    lake.tables.create("rt.tz", data=table)
    back = lake.tables.read("rt.tz")
    assert back.schema.field("t").type == pa.timestamp("us", tz="UTC")
    got = back.column("t")[0].as_py()
    assert got == when
    assert got.utcoffset() == dt.timedelta(0)
    assert got.hour == 10


def test_date64_maps_to_date32(lake: lakebed.Lake) -> None:
    table = pa.table({"d": pa.array([dt.date(2020, 1, 1), None], pa.date64())})
    lake.tables.create("rt.d64", data=table)
    assert lake.tables.schema("rt.d64").field("d").type == storage_type(pa.date64())
    assert lake.tables.write("rt.d64", table) == 1
