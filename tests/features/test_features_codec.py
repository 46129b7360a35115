"""The online row encoding: round trips (Hypothesis) and ordering of the prefix."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from lakebed.features._codec import NULL_TIME, EventsCodec, RowCodec, key_string, key_strings

TYPES = {
    "f64": (pa.float64(), st.floats(allow_nan=False, width=64)),
    "i64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "i32": (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    "b": (pa.bool_(), st.booleans()),
    "s": (pa.string(), st.text(max_size=8)),
    "bin": (pa.binary(), st.binary(max_size=8)),
    "ts": (pa.timestamp("us", tz="UTC"), st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                                                      timezones=st.just(UTC))),
    "d": (pa.date32(), st.dates(min_value=date(1900, 1, 1))),
    "l": (pa.list_(pa.float64()), st.lists(st.floats(allow_nan=False, width=32), max_size=4)),
}


@st.composite
def batches(draw):
    names = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=12))
    n = draw(st.integers(1, 5))
    cols = []
    for name in names:
        strat = st.one_of(st.none(), TYPES[name][1])
        cols.append(pa.array([draw(strat) for _ in range(n)], type=TYPES[name][0]))
    ev = draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n))
    cr = draw(st.lists(st.one_of(st.just(NULL_TIME), st.integers(-(2**62), 2**62)), min_size=n, max_size=n))
    return [f"c{i}" for i in range(len(names))], [TYPES[n][0] for n in names], cols, ev, cr


@settings(max_examples=150, deadline=None)
@given(batches())
def test_row_codec_round_trip(batch):
    names, types, cols, ev, cr = batch
    codec = RowCodec(names, types, version=7)
    bufs = codec.encode_batch(np.array(ev, dtype=np.int64), np.array(cr, dtype=np.int64), cols)
    for i, buf in enumerate(bufs):
        e, c, v, vals = codec.decode(buf)
        assert (e, c, v) == (ev[i], None if cr[i] == NULL_TIME else cr[i], 7)
        assert vals == [col[i].as_py() for col in cols]


@given(st.lists(st.tuples(st.integers(-(2**62), 2**62), st.integers(-(2**62), 2**62)), min_size=2, max_size=20))
def test_prefix_orders_like_event_then_created(times):
    codec = RowCodec(["x"], [pa.int64()], version=1)
    bufs = codec.encode_batch(np.array([t[0] for t in times]), np.array([t[1] for t in times]),
                              [pa.array([1] * len(times))])
    by_bytes = sorted(range(len(times)), key=lambda i: bufs[i][:16])
    by_time = sorted(range(len(times)), key=lambda i: times[i])
    assert [times[i] for i in by_bytes] == [times[i] for i in by_time]


def test_events_codec_and_keys():
    codec = EventsCodec(["amount"], version=2)
    buf = codec.encode([[1, 2.5], [3, None]])
    assert EventsCodec.decode(buf) == (2, [[1, 2.5], [3, None]])
    assert key_strings([pa.array([1, 2])]) == ["1", "2"]
    assert key_strings([pa.array([1, 2]), pa.array(["a", "b"])]) == [key_string([1, "a"]), key_string([2, "b"])]
    assert key_string([np.int64(5)]) == "5" and key_string([True]) == key_strings([pa.array([True])])[0]
    assert key_string([None]) is None
    _ = timedelta


EVENT_TYPES = {
    "f64": (pa.float64(), st.floats(width=64)),  # NaN and infinities included
    "f32": (pa.float32(), st.floats(width=32)),
    "i64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "u64": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "b": (pa.bool_(), st.booleans()),
    "s": (pa.string(), st.text(max_size=8)),  # quotes, backslashes, commas, brackets, any code point
}


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


@given(st.data())
@settings(max_examples=200)
def test_event_texts_read_back_as_the_json_module_writes(data) -> None:
    import json

    from lakebed.features._codec import EventTexts

    names = data.draw(st.lists(st.sampled_from(sorted(EVENT_TYPES)), min_size=1, max_size=4))
    n = data.draw(st.integers(0, 6))
    cols = [pa.array([data.draw(st.one_of(st.none(), EVENT_TYPES[k][1])) for _ in range(n)], EVENT_TYPES[k][0])
            for k in names]
    times = data.draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n))
    texts = EventTexts().batch(times, cols)
    expected = [[t, *(c[i].as_py() for c in cols)] for i, t in enumerate(times)]
    assert len(texts) == n
    for text, want in zip(texts, expected, strict=True):
        assert _same(json.loads(text), json.loads(json.dumps(want)))
    # a window's row is its texts joined: the events codec reads it like one it encoded
    codec = EventsCodec(names, version=4)
    if n:
        got = EventsCodec.decode(codec.encode_texts(times[-1], texts))
        assert got[0] == 4 and _same(got[1], json.loads(json.dumps(expected)))
        assert codec.encode_texts(times[-1], texts)[:20] == codec.encode(expected)[:20]  # same prefix
