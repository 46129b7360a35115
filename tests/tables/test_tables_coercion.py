"""One coercion rule for every input kind (issue 14 item 1): a value is converted to its
column's type only when it keeps its value; otherwise SchemaError names the column, the
first offending row and its value, and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakebed
from lakebed.errors import SchemaError

NAME = "s.u"


def _rows(col: str, values: list[Any]) -> Any:
    return [{col: v} for v in values]


def _arrow(col: str, values: list[Any]) -> Any:
    return pa.table({col: pa.array(values)})


def _pandas(col: str, values: list[Any]) -> Any:
    return pd.DataFrame({col: values})


def _polars(col: str, values: list[Any]) -> Any:
    return pl.DataFrame({col: pl.Series(col, values, strict=False)})


def _stream(col: str, values: list[Any]) -> Any:
    table = pa.table({col: pa.array(values)})
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))


KINDS: dict[str, Callable[[str, list[Any]], Any]] = {
    "rows": _rows, "arrow": _arrow, "pandas": _pandas, "polars": _polars, "stream": _stream,
}


@pytest.fixture
def users(lake: lakebed.Lake) -> lakebed.Lake:
    lake.tables.create(NAME, schema={"user_id": "int64", "plan": "string", "score": "float32", "x": "float64"})
    lake.tables.write(NAME, [{"user_id": 0, "plan": "seed"}])
    return lake


def _unchanged(lake: lakebed.Lake) -> None:
    assert lake.tables.version(NAME) == 1
    assert lake.tables.read(NAME).to_pylist() == [{"user_id": 0, "plan": "seed", "score": None, "x": None}]


@pytest.mark.parametrize("kind", KINDS)
def test_fraction_into_int_is_refused_for_every_input(users: lakebed.Lake, kind: str) -> None:
    data = KINDS[kind]("user_id", [1.0, 2.0, 2.5, 3.5, 4.0])
    with pytest.raises(SchemaError) as info:
        users.tables.write(NAME, data)
    msg = str(info.value)
    assert "'user_id'" in msg and "row 2 holds 2.5" in msg and "round" in msg
    _unchanged(users)


def test_the_issue_reproduction(users: lakebed.Lake) -> None:
    with pytest.raises(SchemaError, match=r"'user_id'.*row 0 holds 1\.5"):
        users.tables.write(NAME, [{"user_id": 1.5, "plan": "a"}])
    with pytest.raises(SchemaError, match=r"'user_id'.*row 0 holds 1\.5"):
        users.tables.merge(NAME, [{"user_id": 1.5, "plan": "a"}], on="user_id")
    _unchanged(users)


@pytest.mark.parametrize("kind", KINDS)
def test_integral_floats_into_int_are_stored(users: lakebed.Lake, kind: str) -> None:
    users.tables.write(NAME, KINDS[kind]("user_id", [1.0, None, -7.0]), mode="overwrite")
    assert users.tables.read(NAME).column("user_id").to_pylist() == [1, None, -7]


@pytest.mark.parametrize(
    ("col", "data", "match"),
    [
        ("user_id", [{"user_id": "1"}], "user_id"),  # no parsing of strings
        ("user_id", pa.table({"user_id": ["1"]}), "no parsing"),
        ("plan", [{"plan": 1}], "row 0 holds 1"),  # no numbers as strings
        ("plan", pd.DataFrame({"plan": [1, 2]}), "plan"),
        ("user_id", [{"user_id": True}], "user_id"),  # no booleans as numbers
        ("user_id", pa.table({"user_id": pa.array([2**40], pa.int64())}), None),
        ("x", [{"x": 1}, {"x": 2**53 + 1}], r"row 1 holds 9007199254740993"),  # not exact as float64
        ("score", [{"score": 0.5}, {"score": 1e300}], r"row 1 holds 1e\+300"),  # float32 overflow
        ("user_id", [{"user_id": 1}, {"user_id": float("nan")}], "row 1 holds nan"),
        ("user_id", [{"user_id": 1}, {"user_id": "two"}], "row 1 holds 'two'"),
    ],
)
def test_values_that_would_change_are_refused(users: lakebed.Lake, col: str, data: Any, match: str | None) -> None:
    if match is None:  # a control: fits, is stored
        users.tables.write(NAME, data, mode="overwrite")
        return
    with pytest.raises(SchemaError, match=match):
        users.tables.write(NAME, data)
    _unchanged(users)


def test_float_narrowing_rounds_and_ints_widen(users: lakebed.Lake) -> None:
    users.tables.write(NAME, [{"user_id": 1, "score": 0.1, "x": 3}], mode="overwrite")
    row = users.tables.read(NAME).to_pylist()[0]
    assert row["x"] == 3.0 and abs(row["score"] - 0.1) < 1e-7


def test_stream_names_the_row_of_the_whole_stream(users: lakebed.Lake) -> None:
    schema = pa.schema([("user_id", pa.float64())])
    batches = [pa.record_batch([pa.array([1.0, 2.0, 3.0])], schema=schema),
               pa.record_batch([pa.array([4.0, 4.25])], schema=schema)]
    with pytest.raises(SchemaError, match=r"row 4 holds 4\.25"):
        users.tables.write(NAME, pa.RecordBatchReader.from_batches(schema, iter(batches)))
    _unchanged(users)


_VALUES = st.lists(
    st.one_of(
        st.none(),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.integers(min_value=-(2**53), max_value=2**53).map(float),
        st.floats(min_value=-(2.0**53), max_value=2.0**53, allow_nan=False),
    ),
    min_size=1,
    max_size=12,
).filter(lambda vs: any(v is not None for v in vs))


def test_property_every_input_kind_follows_one_rule(users: lakebed.Lake) -> None:
    t = users.tables

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(values=_VALUES)
    def check(values: list[Any]) -> None:
        bad = [i for i, v in enumerate(values) if isinstance(v, float) and not float(v).is_integer()]
        want = [None if x is None else int(x) for x in values]
        for kind, make in KINDS.items():
            try:
                data = make("user_id", values)
            except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
                continue  # the library itself cannot hold these values (e.g. polars mixing kinds)
            before = t.version(NAME)
            if bad:
                with pytest.raises(SchemaError) as info:
                    t.write(NAME, data, mode="overwrite")
                msg = str(info.value)
                assert "'user_id'" in msg and f"row {bad[0]} holds" in msg, (kind, msg)
                assert t.version(NAME) == before
            else:
                assert t.write(NAME, data, mode="overwrite") == before + 1
                got = t.read(NAME).column("user_id").to_pylist()  # a stream may land in several files
                assert sorted(got, key=repr) == sorted(want, key=repr), kind

    check()
