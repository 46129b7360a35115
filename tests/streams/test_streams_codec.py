"""The brokers' record codec (one JSON object per record) against Arrow: round trips of
every column type (Hypothesis), and damaged payloads reported as corruption."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakebed.errors import CorruptionError
from lakebed.streams._backend import decode_records, encode_records
from lakebed.streams._spec import StreamSpec

TYPES = {
    "i64": ("int64", st.integers(-(2**63), 2**63 - 1)),
    "i32": ("int32", st.integers(-(2**31), 2**31 - 1)),
    "f64": ("float64", st.floats(width=64)),  # NaN and infinities travel as null
    "f32": ("float32", st.floats(width=32)),
    "b": ("bool", st.booleans()),
    "s": ("string", st.text(max_size=10)),  # quotes, backslashes, commas, braces, '%', any code point
    "bin": ("binary", st.binary(max_size=8)),
    "ts": ("timestamp[us, tz=UTC]", st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                                                 timezones=st.just(UTC))),
    "d": ("date32", st.dates(min_value=date(1900, 1, 1))),
    "l": ("list<float64>", st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3)),
}


def _expected(v: object) -> object:
    return None if isinstance(v, float) and not math.isfinite(v) else v


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_records_round_trip(data) -> None:
    kinds = data.draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=6))
    spec = StreamSpec.build("s", schema={f"c{i}": TYPES[k][0] for i, k in enumerate(kinds)})
    n = data.draw(st.integers(0, 6))
    cols = [pa.array([data.draw(st.one_of(st.none(), TYPES[k][1])) for _ in range(n)], spec.schema.field(i).type)
            for i, k in enumerate(kinds)]
    batch = pa.RecordBatch.from_arrays(cols, schema=spec.schema)
    payloads = encode_records(batch, spec)
    assert len(payloads) == n
    back = decode_records(payloads, spec)
    assert back.schema == spec.schema
    want = [{k: _expected(v) for k, v in row.items()} for row in batch.to_pylist()]
    assert back.to_pylist() == want


def test_damaged_payloads_are_corruption() -> None:
    spec = StreamSpec.build("s", schema={"a": "int64", "s": "string"})
    good = encode_records(pa.record_batch({"a": [1], "s": ["x"]}, schema=spec.schema), spec)
    assert good == [b'{"a":1,"s":"x"}']
    bad_ones = (b'{"a":1,"s":"x"', b'{"a":"one","s":"x"}', b"[1,2]", b"\xff", b'{}', b'{"a":1,"t":"x"}',
                b'{"a":1}', b"", b"5", b"null", b'{"a":1,\n"s":"x"}', b'{"a":1,"s":"x"}\n{"a":2,"s":"y"}',
                b'{"a":1,"s":"x","s":"y"}', b'{"s":"\\"a\\":1"}')
    for bad in bad_ones:
        with pytest.raises(CorruptionError, match="partition 3"):
            decode_records([*good, bad], spec, where="partition 3")
    # two records in one payload, or one split over two, is not taken as the stream's records
    with pytest.raises(CorruptionError, match="2 records expected, found 3 lines"):
        decode_records([b'{"a":1,"s":"x"}\n{"a":2,"s":"y"}', *good], spec)
    with pytest.raises(CorruptionError, match="without the field 'a'"):
        decode_records([b'{"a":1,', b'"s":"x"}', *good], spec)
