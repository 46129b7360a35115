"""The Redis Streams backend against a real Redis (db 13, flushed around each test)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest

from lakebed.errors import AlreadyExists, BackendUnavailable, CorruptionError, InvalidArgument, NotFound
from lakebed.storage import _redis as _redis_aof
from lakebed.streams._redis import RedisBackend
from lakebed.streams._spec import StreamSpec

pytestmark = pytest.mark.redis

UTC_US = pa.timestamp("us", tz="UTC")


@pytest.fixture
def backend(redis_url):
    b = RedisBackend(redis_url, namespace="t", fsync="never")
    yield b
    b.close()


@pytest.fixture
def client(redis_url):
    import redis

    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def simple(name="s", **kw):
    kw.setdefault("schema", {"k": "int64", "id": "string"})
    kw.setdefault("id_field", "id")
    return StreamSpec.build(name, **kw)


def rows(ids, k=0):
    return pa.record_batch({"k": [k] * len(ids), "id": list(ids)}), list(ids)


def read_all(b, spec, p):
    out = b.read(spec, p, 0, 1_000_000)
    return out.offsets.tolist(), out.batch.column("id").to_pylist()


def test_create_load_list_drop_leaves_no_keys(backend, client):
    z, a = simple("zeta", partitions=2, key="k"), simple("alpha")
    backend.create(z)
    backend.create(a)
    with pytest.raises(AlreadyExists, match="zeta"):
        backend.create(z)
    assert backend.load_spec("zeta") == z
    assert backend.load_spec("nope") is None
    assert [s.name for s in backend.list_specs()] == ["alpha", "zeta"]
    backend.append(z, {0: rows(["a", "b"]), 1: rows(["c"])})
    backend.commit(z, "g1", {0: 1})
    backend.heartbeat(z, "g2", "m", 30)  # members of a group without commits
    assert client.keys("lakebed:t:st:zeta:*")
    backend.drop(z)
    assert backend.load_spec("zeta") is None
    assert client.keys("lakebed:t:st:zeta:*") == []
    backend.drop(a)
    assert client.keys("*") == []
    with pytest.raises(NotFound, match="zeta"):  # a late append recreates nothing
        backend.append(z, {0: rows(["x"])})
    with pytest.raises(NotFound):
        backend.commit(z, "g1", {0: 3})
    assert client.keys("*") == []


def test_namespaces_keep_lakes_apart(redis_url, backend):
    other = RedisBackend(redis_url, namespace="other", fsync="never")
    try:
        backend.create(simple("s"))
        assert other.list_specs() == []
        other.create(simple("s"))
    finally:
        other.close()
    with pytest.raises(InvalidArgument, match="namespace"):
        RedisBackend(redis_url, namespace="Bad:ns")


def test_offsets_are_contiguous_per_partition(backend):
    spec = simple(partitions=3, key="k")
    backend.create(spec)
    got = backend.append(spec, {0: rows([f"a{i}" for i in range(2500)]), 2: rows(["b0", "b1"])})  # 3 chunks
    assert got == {0: list(range(2500)), 2: [0, 1]}
    got = backend.append(spec, {2: rows(["b2"]), 1: rows(["c0"]), 0: rows(["a2500"])})
    assert got == {0: [2500], 1: [0], 2: [2]}
    assert backend.bounds(spec) == [(0, 2501), (0, 1), (0, 3)]
    offsets, ids = read_all(backend, spec, 0)
    assert offsets == list(range(2501)) and ids == [f"a{i}" for i in range(2501)]


def test_dedup_within_and_across_calls(backend):
    spec = simple()
    backend.create(spec)
    assert backend.append(spec, {0: rows(["x", "y", "x", "x"])}) == {0: [0, 1, 0, 0]}
    assert backend.append(spec, {0: rows(["y", "z", "x", "z"])}) == {0: [1, 2, 0, 2]}
    assert backend.append(spec, {0: rows(["x"])}) == {0: [0]}
    assert read_all(backend, spec, 0) == ([0, 1, 2], ["x", "y", "z"])
    assert backend.bounds(spec) == [(0, 3)]


def test_dedup_entries_expire_after_the_window(backend, client):
    spec = simple(dedup_window=timedelta(seconds=1))
    backend.create(spec)
    assert backend.append(spec, {0: rows(["x", "old"])}) == {0: [0, 1]}
    assert backend.append(spec, {0: rows(["x"])}) == {0: [0]}
    time.sleep(1.2)
    assert backend.append(spec, {0: rows(["x"])}) == {0: [2]}  # remembered no longer: appended again
    assert backend.append(spec, {0: rows(["x"])}) == {0: [2]}
    assert {k.decode() for k in client.hkeys("lakebed:t:st:s:p0:dd")} == {"x"}  # "old" is forgotten
    assert client.zcard("lakebed:t:st:s:p0:ddt") == 1


def test_read_round_trips_every_type(backend):
    schema = pa.schema([("i", pa.int64()), ("f", pa.float64()), ("s", pa.string()), ("b", pa.bool_()),
                        ("ts", UTC_US), ("v", pa.list_(pa.float32())), ("raw", pa.binary())])
    spec = StreamSpec.build("types", schema=schema)
    backend.create(spec)
    batch = pa.record_batch([
        pa.array([-(2**63), 2**63 - 1, None], pa.int64()),
        pa.array([0.1, -1e300, None], pa.float64()),
        pa.array(["é ü", "", None]),
        pa.array([True, False, None]),
        pa.array([0, 1_764_000_000_123_456, None], UTC_US),
        pa.array([[1.5, -2.25], [], None], pa.list_(pa.float32())),
        pa.array([b"\x00\xff\n", b"", None], pa.binary()),
    ], schema=schema)
    backend.append(spec, {0: (batch, ["1", "2", "3"])})
    got = backend.read(spec, 0, 0, 10)
    assert got.batch.equals(batch)
    assert got.offsets.dtype == np.int64 and got.times.dtype == np.int64
    assert got.offsets.tolist() == [0, 1, 2]
    assert backend.read(spec, 0, 1, 1).batch.equals(batch.slice(1, 1))
    assert len(backend.read(spec, 0, 3, 10)) == 0
    assert len(backend.read(spec, 0, 0, 0)) == 0


def test_times_bounds_and_offset_for_time(backend):
    spec = simple(partitions=2, key="k")
    backend.create(spec)
    assert backend.bounds(spec) == [(0, 0), (0, 0)]
    assert backend.offset_for_time(spec, 0, 0) == 0
    calls = []
    for c in range(4):
        backend.append(spec, {0: rows([f"{c}-{i}" for i in range(c + 1)])})  # offsets 0 | 1-2 | 3-5 | 6-9
        calls.append(int(backend.read(spec, 0, [0, 1, 3, 6][c], 1).times[0]))
        time.sleep(0.003)
    got = backend.read(spec, 0, 0, 100)
    assert np.all(np.diff(got.times) >= 0)
    assert got.times.tolist() == [calls[0]] + [calls[1]] * 2 + [calls[2]] * 3 + [calls[3]] * 4
    assert abs(calls[0] / 1e6 - time.time()) < 60  # the server's clock, in microseconds
    assert backend.offset_for_time(spec, 0, 0) == 0
    assert backend.offset_for_time(spec, 0, calls[1]) == 1
    assert backend.offset_for_time(spec, 0, calls[1] + 1) == 3
    assert backend.offset_for_time(spec, 0, calls[3]) == 6
    assert backend.offset_for_time(spec, 0, calls[3] + 1) == 10
    assert backend.offset_for_time(spec, 1, calls[3]) == 0
    assert backend.bounds(spec) == [(0, 10), (0, 0)]


def test_wait_wakes_on_an_append_from_another_thread(backend):
    spec = simple()
    backend.create(spec)
    backend.append(spec, {0: rows(["a"])})
    t0 = time.monotonic()
    assert backend.wait(spec, {0: 0}, 5)  # a record at the position already
    assert not backend.wait(spec, {0: 1}, 0.3)
    assert 0.25 < time.monotonic() - t0 < 2
    assert not backend.wait(spec, {0: 1}, 0)

    def later():
        time.sleep(0.3)
        backend.append(spec, {0: rows(["b"])})  # not held back by the blocked wait

    thread = threading.Thread(target=later)
    t0 = time.monotonic()
    thread.start()
    assert backend.wait(spec, {0: 1}, 10)
    assert time.monotonic() - t0 < 3
    thread.join()


def test_commit_merges_per_partition(backend):
    spec = simple(partitions=3, key="k")
    backend.create(spec)
    assert backend.committed(spec, "g") == {}
    assert backend.groups(spec) == []
    backend.commit(spec, "g", {0: 5, 1: 2})
    backend.commit(spec, "g", {1: 7})
    backend.commit(spec, "h", {2: 1})
    assert backend.committed(spec, "g") == {0: 5, 1: 7}
    assert backend.committed(spec, "h") == {2: 1}
    assert backend.groups(spec) == ["g", "h"]


def test_heartbeat_leave_and_expiry(backend):
    spec = simple()
    backend.create(spec)
    assert backend.heartbeat(spec, "g", "m2", 30) == ["m2"]
    assert backend.heartbeat(spec, "g", "m1", 0.3) == ["m1", "m2"]
    assert backend.heartbeat(spec, "other", "x", 30) == ["x"]
    time.sleep(0.4)
    assert backend.heartbeat(spec, "g", "m2", 30) == ["m2"]  # m1 expired
    backend.heartbeat(spec, "g", "m3", 30)
    backend.leave(spec, "g", "m2")
    assert backend.heartbeat(spec, "g", "m3", 30) == ["m3"]
    assert backend.groups(spec) == []  # members alone make no committed group


def test_retention_by_age(backend):
    spec = simple(retention=timedelta(hours=1))
    backend.create(spec)
    for c in range(3):
        backend.append(spec, {0: rows([f"{c}-{i}" for i in range(5)])})
        time.sleep(0.003)
    times = backend.read(spec, 0, 0, 100).times
    hour = 3_600_000_000
    assert backend.trim(spec, int(times[0]) + hour) == 0
    assert backend.trim(spec, int(times[5]) + hour) == 5
    assert backend.bounds(spec) == [(5, 15)]
    assert backend.read(spec, 0, 0, 100).offsets.tolist() == list(range(5, 15))  # below first: from first
    assert backend.offset_for_time(spec, 0, 0) == 5
    assert backend.trim(spec, int(times[-1]) + hour + 1) == 10
    assert backend.bounds(spec) == [(15, 15)]
    assert backend.append(spec, {0: rows(["new"])}) == {0: [15]}
    assert backend.bounds(spec) == [(15, 16)]
    assert backend.wait(spec, {0: 3}, 0.5)


def test_retention_by_size_also_during_appends(backend, client):
    spec = StreamSpec.build("big", schema={"id": "string", "pad": "string"}, id_field="id",
                            retention_bytes=1 << 20)
    backend.create(spec)
    key = "lakebed:t:st:big:p0"
    pad = "x" * 200

    def put(start, n):
        ids = [f"r{i}" for i in range(start, start + n)]
        return backend.append(spec, {0: (pa.record_batch({"id": ids, "pad": [pad] * n}), ids)})

    put(0, 2000)  # the first append trims at once (< 1 MiB then)
    put(2000, 10000)  # within the second: not trimmed yet
    assert client.memory_usage(key) > 2 << 20
    assert backend.bounds(spec) == [(0, 12000)]
    dropped = backend.trim(spec, 0)
    first, nxt = backend.bounds(spec)[0]
    assert dropped == first > 0 and nxt == 12000
    assert client.memory_usage(key) <= 1.1 * (1 << 20)
    assert backend.trim(spec, 0) <= 50
    time.sleep(1.05)
    put(12000, 8000)
    put(20000, 1)  # more than a second after the last trim: trims
    assert client.memory_usage(key) <= 1.1 * (1 << 20)
    first2, nxt2 = backend.bounds(spec)[0]
    assert first2 > first and nxt2 == 20001
    assert backend.read(spec, 0, 0, 1).offsets.tolist() == [first2]


def test_a_chunk_that_fails_changes_nothing(backend, client):
    spec = simple()
    backend.create(spec)
    backend.append(spec, {0: rows(["a", "b"])})
    key = "lakebed:t:st:s:p0"
    before = (client.hgetall(key + ":dd"), client.hgetall(key + ":meta"), client.zrange(key + ":ddt", 0, -1))
    client.xadd(key, {"x": "foreign"}, id="100-0")  # a foreign entry beyond our next offset
    with pytest.raises(CorruptionError, match="something else wrote"):
        backend.append(spec, {0: rows(["a", "c", "d", "c"])})  # a dedup hit, then new records
    assert (client.hgetall(key + ":dd"), client.hgetall(key + ":meta"), client.zrange(key + ":ddt", 0, -1)) == before
    assert client.xlen(key) == 2  # the entry of "a" and "b", and the foreign one
    client.xdel(key, "100-0")
    client.delete(key + ":ddt")
    client.set(key + ":ddt", "not a zset")
    with pytest.raises(CorruptionError, match="holds a string, not a zset"):
        backend.append(spec, {0: rows(["e"])})
    assert client.xlen(key) == 1 and client.hgetall(key + ":meta") == before[1]


@pytest.mark.parametrize(("fields", "entry_id", "match"), [
    ({"t": "5", "d": b'{"k":1,"id":"x"}'}, "3-1", "an entry id with a sequence number: 3-1"),
    ({"t": "5"}, "3-0", "an entry without a record: 3-0"),
    ({"d": b'{"k":1,"id":"x"}'}, "3-0", "an entry without an append time: 3-0"),
    ({"t": "soon", "d": b'{"k":1,"id":"x"}'}, "3-0", "did not write"),
    ({"t": "", "d": b'{"k":1,"id":"x"}'}, "3-0", "did not write"),
    ({"t": "5", "d": b'{"k":1,\n"id":"x"}'}, "3-0", "3 records expected, found 4 lines"),
    ({"t": "5", "d": b'{"k":1}'}, "3-0", "without the field 'id'"),
    ({"t": "5", "d": b"not json"}, "3-0", "not one of the stream's"),
])
def test_an_entry_lakebed_did_not_write_is_corruption(backend, client, fields, entry_id, match):
    spec = simple()
    backend.create(spec)
    backend.append(spec, {0: rows(["a", "b"])})
    key = "lakebed:t:st:s:p0"
    client.xadd(key, fields, id=entry_id)
    with pytest.raises(CorruptionError, match=match) as err:
        backend.read(spec, 0, 0, 10)
    assert key in str(err.value)
    assert "remove that entry" in str(err.value) or "remove that message" in str(err.value)
    assert backend.read(spec, 0, 0, 2).offsets.tolist() == [0, 1]  # the records before it still read
    assert client.xlen(key) == 2  # reported, not removed


def test_an_entry_per_chunk_read_from_anywhere_beside_entries_per_record(backend, client):
    # lakebed 0.1 wrote an entry per record (fields i, t, d); the entries of an append chunk
    # now hold all its new records; reads start and stop inside entries, and both kinds read alike
    spec = simple()
    backend.create(spec)
    key = "lakebed:t:st:s:p0"
    for o in range(3):  # offsets 0..2 as 0.1 wrote them
        client.xadd(key, {"i": f"old{o}", "t": "1000", "d": f'{{"k":0,"id":"old{o}"}}'}, id=f"{o + 1}-0")
    client.hset(key + ":meta", mapping={"next": 3, "t": 1000})
    assert backend.append(spec, {0: rows([f"n{i}" for i in range(5)])}) == {0: [3, 4, 5, 6, 7]}
    # a repeat inside a chunk: the entry holds only the new records
    assert backend.append(spec, {0: rows(["n4", "m0", "m1", "n0", "m2"])}) == {0: [7, 8, 9, 3, 10]}
    assert client.xlen(key) == 3 + 2
    want = ["old0", "old1", "old2", "n0", "n1", "n2", "n3", "n4", "m0", "m1", "m2"]
    for start in range(12):
        for count in (1, 2, 3, 5, 8, 20):
            got = backend.read(spec, 0, start, count)
            assert got.offsets.tolist() == list(range(start, min(start + count, 11)))
            assert got.batch.column("id").to_pylist() == want[start:start + count]
    times = backend.read(spec, 0, 0, 20).times
    assert times[:3].tolist() == [1000] * 3 and len(set(times[3:8].tolist())) == 1 and times[8] >= times[7]
    assert backend.bounds(spec) == [(0, 11)]


def test_scripts_come_back_after_script_flush(backend, client):
    spec = simple()
    backend.create(spec)
    backend.append(spec, {0: rows(["a"])})
    client.script_flush()
    assert backend.append(spec, {0: rows(["a", "b"])}) == {0: [0, 1]}
    assert backend.bounds(spec) == [(0, 2)]


def test_unreachable_redis_names_the_url_without_password():
    with pytest.raises(BackendUnavailable) as info:
        RedisBackend("redis://user:s3cret@127.0.0.1:1/0", namespace="t")
    assert "redis://127.0.0.1:1/0" in str(info.value) and "s3cret" not in str(info.value)
    assert "running" in str(info.value)


def test_without_aof_warns_once_under_always_only(redis_url, client, caplog):
    if int(client.info("persistence")["aof_enabled"]):
        pytest.skip("this Redis runs with appendonly=yes")
    _redis_aof._warned.clear()
    with caplog.at_level(logging.WARNING, logger="lakebed.streams"):
        RedisBackend(redis_url, namespace="t", fsync="batch").close()
        assert not caplog.records
        RedisBackend(redis_url, namespace="t", fsync="always").close()
        RedisBackend(redis_url, namespace="t", fsync="always").close()
    warnings = [r for r in caplog.records if "appendonly=no" in r.getMessage()]
    assert len(warnings) == 1 and "appendonly yes" in warnings[0].getMessage()


def test_concurrent_appends_stay_contiguous_and_deduplicated(backend):
    spec = simple()
    backend.create(spec)
    shared: dict[int, set[int]] = {c: set() for c in range(10)}  # the offsets each call got for its shared id

    def worker(w):
        for c in range(10):
            ids = [f"{w}-{c}-{i}" for i in range(50)] + [f"shared-{c}"]
            shared[c].add(backend.append(spec, {0: rows(ids)})[0][-1])

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    offsets, ids = read_all(backend, spec, 0)
    assert offsets == list(range(3 * 10 * 50 + 10))
    assert len(set(ids)) == len(ids)
    assert all(seen == {ids.index(f"shared-{c}")} for c, seen in shared.items())
