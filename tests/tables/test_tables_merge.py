"""Merge (upsert) and delete semantics against a plain Python dict model."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakebed
from lakebed.errors import InvalidArgument, SchemaError

_counter = itertools.count()

SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.int64()), ("s", pa.string())])


@pytest.fixture(scope="module")
def module_lake() -> Iterator[lakebed.Lake]:
    with lakebed.connect(":memory:") as lk:
        yield lk


def _state(lake: lakebed.Lake, name: str) -> dict[int, tuple[Any, Any]]:
    rows = lake.tables.read(name).to_pylist()
    keys = [r["k"] for r in rows]
    assert len(keys) == len(set(keys)), f"duplicate keys after merge: {sorted(keys)}"
    return {r["k"]: (r["v"], r["s"]) for r in rows}


_value = st.tuples(st.one_of(st.none(), st.integers(-5, 5)), st.one_of(st.none(), st.text(max_size=3)))
_batch = st.dictionaries(st.integers(0, 15), _value, min_size=1, max_size=8)
_op = st.one_of(
    st.tuples(st.just("merge"), _batch),
    # A batch that repeats a key: must be refused and change nothing.
    st.tuples(st.just("dupes"), _batch),
    st.tuples(st.just("delete"), st.integers(-5, 5)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=st.dictionaries(st.integers(0, 15), _value, max_size=6), ops=st.lists(_op, min_size=1, max_size=4))
def test_merge_and_delete_match_dict_model(
    module_lake: lakebed.Lake, initial: dict[int, tuple[Any, Any]], ops: list[tuple[str, Any]]
) -> None:
    name = f"m.t{next(_counter)}"
    t = module_lake.tables
    rows = [{"k": k, "v": v, "s": s} for k, (v, s) in initial.items()]
    t.create(name, schema=SCHEMA, data=rows or None)
    model = dict(initial)
    version = 0
    for kind, arg in ops:
        if kind == "merge":
            batch = pa.Table.from_pylist([{"k": k, "v": v, "s": s} for k, (v, s) in arg.items()], schema=SCHEMA)
            version = t.merge(name, batch, on="k")
            model.update(arg)
        elif kind == "dupes":
            dup = [{"k": k, "v": v, "s": s} for k, (v, s) in arg.items()]
            dup.append(dict(dup[0], v=99))
            with pytest.raises(InvalidArgument, match="duplicate"):
                t.merge(name, dup, on=["k"])
        else:
            version = t.delete(name, where=f"v > {arg}")
            # SQL: a NULL v does not satisfy v > x, so rows with null v stay.
            model = {k: (v, s) for k, (v, s) in model.items() if v is None or not v > arg}
        assert t.version(name) == version
        assert _state(module_lake, name) == model


def test_merge_on_compound_key_partial_columns(lake: lakebed.Lake) -> None:
    t = lake.tables
    t.create("m.c", data=[{"a": 1, "b": "x", "n": 1, "note": "keep"}, {"a": 1, "b": "y", "n": 2, "note": "keep"}])
    # Rows given without a nullable column: an update sets it to null (update_all with the
    # conformed source), an insert leaves it null.
    v = t.merge("m.c", [{"a": 1, "b": "y", "n": 20}, {"a": 2, "b": "x", "n": 3}], on=["a", "b"])
    assert v == 1
    got = sorted(t.read("m.c").to_pylist(), key=lambda r: (r["a"], r["b"]))
    assert [(r["a"], r["b"], r["n"]) for r in got] == [(1, "x", 1), (1, "y", 20), (2, "x", 3)]
    assert got[0]["note"] == "keep" and got[2]["note"] is None


def test_merge_from_pandas_and_reader(lake: lakebed.Lake) -> None:
    import pandas as pd

    t = lake.tables
    t.create("m.p", schema=SCHEMA)
    t.merge("m.p", pd.DataFrame({"k": [1, 2], "v": [1, 2], "s": ["a", "b"]}), on="k")
    reader = pa.RecordBatchReader.from_batches(
        SCHEMA, [pa.record_batch([pa.array([2, 3]), pa.array([20, 30]), pa.array(["B", "C"])], schema=SCHEMA)]
    )
    t.merge("m.p", reader, on="k")
    assert _state(lake, "m.p") == {1: (1, "a"), 2: (20, "B"), 3: (30, "C")}


def test_bad_merges_change_nothing(lake: lakebed.Lake) -> None:
    t = lake.tables
    t.create("m.b", data=[{"k": 1, "v": 1}])
    before = t.read("m.b")
    bad: list[tuple[type[Exception], dict[str, Any]]] = [
        (SchemaError, {"data": [{"k": 2, "v": 2}], "on": ["nope"]}),
        (SchemaError, {"data": [{"v": 2}], "on": "k"}),
        (InvalidArgument, {"data": [{"k": 2, "v": 2}], "on": []}),
        (SchemaError, {"data": [{"k": "two", "v": 2}], "on": "k"}),
        (SchemaError, {"data": [{"k": 2, "v": 2, "extra": 1}], "on": "k"}),
        (InvalidArgument, {"data": [{"k": 2, "v": 2}, {"k": 2, "v": 3}], "on": "k"}),
    ]
    for exc, kwargs in bad:
        with pytest.raises(exc):
            t.merge("m.b", **kwargs)
        assert t.version("m.b") == 0
        assert t.read("m.b").equals(before)


def test_delete_with_predicates(lake: lakebed.Lake) -> None:
    t = lake.tables
    rows = [{"id": i, "kind": "a" if i % 3 else "b", "amount": float(i)} for i in range(30)]
    t.create("m.d", data=rows, partition_by=["kind"])
    assert t.delete("m.d", where="kind = 'b' AND amount >= 15") == 1
    left = {r["id"] for r in t.read("m.d").to_pylist()}
    assert left == {i for i in range(30) if not (i % 3 == 0 and i >= 15)}
    # Matching nothing commits no new version and returns the current one.
    assert t.delete("m.d", where="id < 0") == 1
    assert t.read("m.d").num_rows == len(left)
    for where in ("", "   ", "nope = 1", "id = = 1"):
        with pytest.raises(InvalidArgument):
            t.delete("m.d", where=where)
    assert t.version("m.d") == 1
    assert t.read("m.d").num_rows == len(left)
