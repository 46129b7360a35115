"""One script of stream calls, run on the embedded log, NATS JetStream and Redis Streams:
every answer must equal the embedded log's (append times excepted, which the backends set)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

import lakebed
from lakebed.errors import AlreadyExists, InvalidArgument, NotFound, SchemaError

SCHEMA = {
    "user_id": "int64",
    "item": "string",
    "price": "float64",
    "ts": "timestamp[us, tz=UTC]",
    "vec": "list<float32>",
    "flag": "bool",
    "raw": "binary",
}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rows(start: int, n: int) -> list[dict[str, Any]]:
    return [
        {
            "user_id": i % 17,
            "item": f"item-{i}" if i % 5 else None,
            "price": i * 0.25,
            "ts": T0 + timedelta(seconds=i),
            "vec": [float(i), 0.5] if i % 3 else None,
            "flag": i % 2 == 0,
            "raw": bytes([i % 256, 0, 255]),
        }
        for i in range(start, start + n)
    ]


def _plain(batch: pa.RecordBatch | None) -> list[dict[str, Any]] | None:
    if batch is None:
        return None
    return batch.drop_columns(["_time"]).to_pylist()


def script(lake: lakebed.Lake) -> list[Any]:
    """The calls; returns every answer in order."""
    out: list[Any] = []
    s = lake.streams.create("clicks", schema=SCHEMA, key="user_id", event_time="ts", partitions=3)
    out.append(("list", lake.streams.list()))
    with pytest.raises(AlreadyExists):
        lake.streams.create("clicks", schema=SCHEMA, key="user_id", partitions=3)
    ids = [f"m{i}" for i in range(60)]
    out.append(("append", s.append(rows(0, 60), ids=ids)))
    # a retry of a part of it, and new records: the repeats keep their first positions
    out.append(("append-again", s.append(rows(50, 20), ids=[f"m{i}" for i in range(50, 70)])))
    out.append(("repeat-inside-call", s.append(rows(70, 3), ids=["x", "y", "x"])))
    out.append(("bounds", s.bounds()))
    for k in range(3):
        out.append(("read", k, _plain(s.read(k, 5, 7))))
    out.append(("read-end", [s.read(k, 10_000).num_rows for k in range(3)]))
    # bad input appends nothing
    before = s.bounds()
    for bad in ([{"user_id": "seven", "ts": T0}], [{"user_id": 1, "ts": T0, "nope": 1}], [{"user_id": 1}], []):
        with pytest.raises((SchemaError, InvalidArgument)):
            s.append(bad)
    out.append(("bounds-after-bad", s.bounds() == before))
    # a group reads everything once, in batches
    c = s.consumer("g1", session_timeout=5)
    got = []
    while (b := c.poll(max_records=10, timeout=0.2)) is not None:
        got.append(_plain(b))
        if sum(len(x) for x in got) >= 30 and not c.stream.committed("g1"):
            c.commit()
            out.append(("committed", c.stream.committed("g1")))
    out.append(("group-read", got))
    out.append(("lag-before-commit", s.lag("g1")))
    c.commit()
    out.append(("lag-after-commit", s.lag("g1")))
    c.seek(3, partition=1)
    out.append(("seek", _plain(c.poll(max_records=4, timeout=0.2))))
    c.seek(time=T0.replace(year=2000))
    out.append(("seek-time-past", c.position))
    c.seek(time=datetime.now(UTC) + timedelta(days=1))
    out.append(("seek-time-future", c.position, c.poll(timeout=0.1)))
    c.close()
    # a new member resumes from the commit
    c2 = s.consumer("g1")
    out.append(("resume", c2.poll(timeout=0.1)))
    c2.close()
    out.append(("groups", s.groups()))
    out.append(("consume", [_plain(b) for b in s.consume("g2", max_records=25, timeout=0.1)]))
    out.append(("lag-g2", s.lag("g2")))
    desc = lake.streams.describe()
    out.append(("describe", [{k: v for k, v in d.items() if k != "backend"} for d in desc]))
    with pytest.raises(NotFound):
        lake.streams.get("nope")
    with pytest.raises(InvalidArgument):
        s.read(3)
    lake.streams.drop("clicks")
    out.append(("dropped", lake.streams.list(), lake.streams.exists("clicks")))
    return out


def test_congruence(streams_url: str | None) -> None:
    with lakebed.connect(":memory:") as ref:
        expected = script(ref)
    if streams_url is None:
        return  # the reference itself (its answers are checked by the other tests)
    with lakebed.connect(":memory:", streams=streams_url) as lake:
        assert lake.streams.backend.name in ("nats", "redis")
        got = script(lake)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == e, f"{g[0]}: {g} != {e}"


def test_groups_share_partitions_and_rebalance(streams_url: str | None) -> None:
    with lakebed.connect(":memory:", streams=streams_url) as lake:
        s = lake.streams.create("ev", schema={"k": "int64", "v": "int64"}, key="k", partitions=4)
        s.append([{"k": i, "v": i} for i in range(200)])
        a = s.consumer("grp", session_timeout=0.6)
        b = s.consumer("grp", session_timeout=0.6)
        time.sleep(0.25)
        pa_, pb = a.assignment(), b.assignment()
        assert sorted(pa_ + pb) == [0, 1, 2, 3] and not set(pa_) & set(pb)
        seen: list[int] = []
        for c in (a, b):
            while (batch := c.poll(max_records=50, timeout=0.1)) is not None:
                seen += batch.column("v").to_pylist()
            c.commit()
        assert sorted(seen) == list(range(200))  # each record once across the group
        b.close()  # leaves: its partitions go to a
        time.sleep(0.25)
        assert a.assignment() == [0, 1, 2, 3]
        s.append([{"k": i, "v": 1000 + i} for i in range(40)])
        more: list[int] = []
        while (batch := a.poll(max_records=100, timeout=0.2)) is not None:
            more += batch.column("v").to_pylist()
        assert sorted(more) == [1000 + i for i in range(40)]
        a.commit()
        a.close()
        assert sum(s.lag("grp").values()) == 0
        # a member that stops heartbeating expires: a new member gets every partition
        c = s.consumer("grp", session_timeout=0.6)
        d = s.consumer("grp", session_timeout=0.6)
        assert len(d.assignment()) == 2
        time.sleep(0.8)  # c is silent past its timeout
        assert d.assignment() == [0, 1, 2, 3]
        c.close()
        d.close()


def test_committed_offsets_survive_a_restart(streams_url: str | None, tmp_path) -> None:
    path = tmp_path / "lake"
    with lakebed.connect(path, streams=streams_url) as lake:
        s = lake.streams.create("ev", schema={"v": "int64"})
        s.append([{"v": i} for i in range(10)])
        c = s.consumer("g")
        assert c.poll(max_records=4).column("v").to_pylist() == [0, 1, 2, 3]
        c.commit()
        c.close()
    with lakebed.connect(path, streams=streams_url) as lake:
        s = lake.streams.get("ev")
        assert s.committed("g") == {0: 4}
        assert [b.column("v").to_pylist() for b in s.consume("g", timeout=0.1)] == [[4, 5, 6, 7, 8, 9]]
        assert s.lag("g") == {0: 0}


def test_live_consumer_sees_appends_from_another_thread(streams_url: str | None) -> None:
    import threading

    with lakebed.connect(":memory:", streams=streams_url) as lake:
        s = lake.streams.create("ev", schema={"v": "int64"})

        def produce() -> None:
            for i in range(5):
                time.sleep(0.05)
                s.append([{"v": i}])

        t = threading.Thread(target=produce)
        t.start()
        got: list[int] = []
        start = time.monotonic()
        for b in s.consume("live", timeout=1.0):
            got += b.column("v").to_pylist()
            if len(got) == 5:
                break
        t.join()
        assert got == [0, 1, 2, 3, 4]
        assert time.monotonic() - start < 3


def test_retention_by_age(streams_url: str | None) -> None:
    with lakebed.connect(":memory:", streams=streams_url) as lake:
        s = lake.streams.create("ev", schema={"v": "int64"}, retention=timedelta(seconds=1))
        s.append([{"v": i} for i in range(5)])
        time.sleep(1.3)
        s.append([{"v": 99}])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            s.trim()
            first, nxt = s.bounds()[0]
            if first > 0:
                break
            time.sleep(0.2)
        assert nxt == 6
        assert first >= 5, "records older than the retention are dropped"
        assert s.read(0, 0).column("v").to_pylist() == [99]


def test_bad_definitions_and_appends_change_nothing() -> None:
    with lakebed.connect(":memory:") as lake:
        for kwargs in (
            {"schema": {"_id": "string"}},
            {"schema": {"_offset": "int64"}},
            {"schema": {}},
            {"schema": {"k": "int64"}, "partitions": 2},  # no key
            {"schema": {"k": "int64"}, "key": "k", "partitions": 0},
            {"schema": {"k": "int64"}, "key": "nope"},
            {"schema": {"k": "int64"}, "event_time": "k"},  # not a timestamp
            {"schema": {"k": "int64"}, "retention": timedelta(0)},
            {"schema": {"k": "int64"}, "retention_bytes": 10},
            {"schema": {"k": "no-such-type"}},
        ):
            with pytest.raises((SchemaError, InvalidArgument)):
                lake.streams.create("s", **kwargs)
        for bad_name in ("../x", "a b", "", "x" * 200, "s;drop"):
            with pytest.raises(InvalidArgument):
                lake.streams.create(bad_name, schema={"k": "int64"})
        assert lake.streams.list() == []
        s = lake.streams.create("s", schema={"k": "int64", "v": "string"})
        dup = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["k", "k"])
        with pytest.raises(SchemaError, match="more than once"):
            s.append(dup)
        with pytest.raises(InvalidArgument):
            s.append([{"k": 1, "v": "a"}], ids=["has space"])
        with pytest.raises(InvalidArgument):
            s.append([{"k": 1, "v": "a"}, {"k": 2, "v": "b"}], ids=["only-one"])
        assert s.bounds() == [(0, 0)]
