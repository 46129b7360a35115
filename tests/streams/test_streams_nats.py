"""The NATS JetStream stream backend against a real nats-server (``nats_url`` fixture)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakebed.errors import AlreadyExists, BackendUnavailable, InvalidArgument, NotFound
from lakebed.streams._nats import NatsBackend, purge_namespace
from lakebed.streams._spec import StreamSpec

pytestmark = pytest.mark.nats

TS = pa.timestamp("us", tz="UTC")


def _split(nats_url: str) -> tuple[str, str]:
    base, _, query = nats_url.partition("?")
    params = dict(kv.split("=", 1) for kv in query.split("&") if kv)
    return base, params["namespace"]


@pytest.fixture
def backend(nats_url: str) -> Iterator[NatsBackend]:
    url, ns = _split(nats_url)
    b = NatsBackend(url, namespace=ns, fsync="batch")
    yield b
    b.close()


def _spec(name: str = "events", partitions: int = 1, **kw: object) -> StreamSpec:
    return StreamSpec.build(name, schema={"k": "string", "v": "int64"}, key="k" if partitions > 1 else None,
                            partitions=partitions, **kw)  # type: ignore[arg-type]


def _batch(values: list[int], key: str = "a") -> pa.RecordBatch:
    return pa.record_batch({"k": [key] * len(values), "v": values})


def _stream_names(b: NatsBackend, subject: str) -> list[str]:
    async def names() -> list[str]:
        resp = await b._api("STREAM.NAMES", {"subject": subject})
        return list(resp.get("streams") or [])

    return b._run(names())


def test_create_load_list_drop(backend: NatsBackend) -> None:
    a, z = _spec("zeta", retention=timedelta(days=1)), _spec("alpha", partitions=3)
    assert backend.list_specs() == [] and backend.load_spec("alpha") is None
    backend.create(a)
    backend.create(z)
    with pytest.raises(AlreadyExists, match="exists already"):
        backend.create(_spec("alpha"))
    assert backend.load_spec("alpha") == z
    assert [s.name for s in backend.list_specs()] == ["alpha", "zeta"]
    assert backend.bounds(z) == [(0, 0)] * 3
    backend.append(z, {1: (_batch([1, 2]), ["x1", "x2"])})
    backend.commit(z, "g", {1: 2})
    backend.heartbeat(z, "g", "m", 30)
    backend.drop(z)
    assert backend.load_spec("alpha") is None and [s.name for s in backend.list_specs()] == ["zeta"]
    assert _stream_names(backend, f"lakebed.{backend.namespace}.alpha.*") == []
    with pytest.raises(NotFound, match="no JetStream stream"):
        backend.append(z, {0: (_batch([1]), ["late"])})
    with pytest.raises(NotFound, match="missing"):
        backend.bounds(z)
    backend.create(z)  # a new stream of the same name starts empty, without groups or members
    assert backend.bounds(z) == [(0, 0)] * 3
    assert backend.groups(z) == [] and backend.committed(z, "g") == {}
    assert backend.heartbeat(z, "g", "other", 30) == ["other"]
    assert backend.append(z, {1: (_batch([9]), ["x1"])}) == {1: [0]}  # its dedup window is new too


def test_create_after_an_interrupted_create(backend: NatsBackend) -> None:
    spec = _spec("half", partitions=2)
    backend.create(spec)
    backend._run(backend._purge_keys(backend._kv_streams, "half"))  # as if create stopped before the definition
    assert backend.load_spec("half") is None
    backend.create(spec)  # the partitions' JetStream streams are there with the same configuration: fine
    assert backend.load_spec("half") == spec
    changed = _spec("half", partitions=2, retention=timedelta(hours=1))
    backend._run(backend._purge_keys(backend._kv_streams, "half"))
    with pytest.raises(AlreadyExists, match="another configuration"):
        backend.create(changed)


def test_append_offsets_are_contiguous_per_partition(backend: NatsBackend) -> None:
    spec = _spec(partitions=2)
    backend.create(spec)
    got = backend.append(spec, {0: (_batch([1, 2, 3]), ["a1", "a2", "a3"]), 1: (_batch([4]), ["b1"])})
    assert got == {0: [0, 1, 2], 1: [0]}
    got = backend.append(spec, {1: (_batch(list(range(5000))), [f"c{i}" for i in range(5000)])})
    assert got == {1: list(range(1, 5001))}
    assert backend.append(spec, {0: (_batch([5]), ["a4"])}) == {0: [3]}
    assert backend.bounds(spec) == [(0, 4), (0, 5001)]
    r = backend.read(spec, 1, 0, 10_000)
    assert r.batch.column("v").to_pylist() == [4, *range(5000)]  # the call's order is kept
    assert r.offsets.tolist() == list(range(5001))
    with pytest.raises(InvalidArgument, match=r"partitions 0\.\.1"):
        backend.append(spec, {2: (_batch([1]), ["z"])})


def test_concurrent_appends(backend: NatsBackend) -> None:
    spec = _spec()
    backend.create(spec)
    results: dict[int, list[int]] = {}

    def append(t: int) -> None:
        ids = [f"t{t}-{i}" for i in range(500)]
        results[t] = backend.append(spec, {0: (_batch(list(range(500)), key=str(t)), ids)})[0]

    threads = [threading.Thread(target=append, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(o for offs in results.values() for o in offs) == list(range(2000))
    assert all(offs == sorted(offs) for offs in results.values())  # each call's order is kept
    r = backend.read(spec, 0, 0, 5000)
    for t, offs in results.items():
        assert [r.batch.column("k")[o].as_py() for o in offs] == [str(t)] * 500


class _LosesAcks(dict):  # type: ignore[type-arg]
    """The backend's table of acknowledgements in flight, forgetting the first ``n`` that
    arrive (as if they were lost on the way)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def pop(self, key: object, default: object = None) -> object:
        value = super().pop(key, default)
        if value is not None and self.n > 0:
            self.n -= 1
            return None
        return value


def test_lost_acks_are_resent_without_duplicates(backend: NatsBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakebed.streams import _nats

    spec = _spec()
    backend.create(spec)
    backend.append(spec, {0: (_batch([0]), ["first"])})
    monkeypatch.setattr(_nats, "_ACK_TIMEOUT", 0.3)
    monkeypatch.setattr(backend, "_acks", _LosesAcks(3))
    ids = [f"r{i}" for i in range(20)]
    assert backend.append(spec, {0: (_batch(list(range(1, 21))), ids)}) == {0: list(range(1, 21))}
    assert backend.bounds(spec) == [(0, 21)]
    assert backend.read(spec, 0, 0, 100).batch.column("v").to_pylist() == list(range(21))


def test_record_over_max_payload(backend: NatsBackend) -> None:
    spec = StreamSpec.build("big", schema={"blob": "binary"})
    backend.create(spec)
    big = pa.record_batch({"blob": pa.array([b"x" * backend._nc.max_payload], pa.binary())})
    with pytest.raises(InvalidArgument, match="max_payload"):
        backend.append(spec, {0: (big, ["b"])})
    small = pa.record_batch({"blob": pa.array([b"ok"], pa.binary())})
    assert backend.append(spec, {0: (small, ["s"])}) == {0: [0]}  # the connection is fine


def test_dedup_within_and_across_calls(backend: NatsBackend) -> None:
    spec = _spec()
    backend.create(spec)
    assert backend.append(spec, {0: (_batch([1, 2, 3, 4]), ["m1", "m2", "m1", "m3"])}) == {0: [0, 1, 0, 2]}
    assert backend.append(spec, {0: (_batch([5, 6, 7]), ["m2", "m4", "m4"])}) == {0: [1, 3, 3]}
    assert backend.append(spec, {0: (_batch([8]), ["m1"])}) == {0: [0]}
    assert backend.bounds(spec) == [(0, 4)]
    assert backend.read(spec, 0, 0, 100).batch.column("v").to_pylist() == [1, 2, 4, 6]


def test_read_round_trips_every_type(backend: NatsBackend) -> None:
    schema = {"i": "int64", "f": "float64", "s": "string", "b": "bool", "t": "timestamp[us, tz=UTC]",
              "e": "list<float32>", "raw": "binary"}
    spec = StreamSpec.build("typed", schema=schema)
    backend.create(spec)
    batch = pa.record_batch({
        "i": pa.array([1, -(2**62), None], pa.int64()),
        "f": pa.array([1.5, -2.5e-300, None], pa.float64()),  # orjson writes inf and nan as null
        "s": pa.array(["héllo \"q\" \n", "", None], pa.string()),
        "b": pa.array([True, False, None], pa.bool_()),
        "t": pa.array([1_700_000_000_123_456, 0, None], TS),
        "e": pa.array([[0.5, -1.25], [], None], pa.list_(pa.float32())),
        "raw": pa.array([b"\x00\xff\x10", b"", None], pa.binary()),
    }, schema=spec.schema)
    before = time.time_ns() // 1000
    assert backend.append(spec, {0: (batch, ["r1", "r2", "r3"])}) == {0: [0, 1, 2]}
    after = time.time_ns() // 1000
    r = backend.read(spec, 0, 0, 10)
    assert r.batch.schema == spec.schema
    assert r.batch.to_pylist() == batch.to_pylist()
    assert r.offsets.tolist() == [0, 1, 2] and r.offsets.dtype.name == "int64" and r.times.dtype.name == "int64"
    assert all(before - 1_000_000 <= t <= after + 1_000_000 for t in r.times.tolist())  # server clock
    assert r.times.tolist() == sorted(r.times.tolist())


def test_read_positions(backend: NatsBackend) -> None:
    spec = _spec()
    backend.create(spec)
    backend.append(spec, {0: (_batch(list(range(100))), [f"i{i}" for i in range(100)])})
    assert backend.read(spec, 0, 0, 10).offsets.tolist() == list(range(10))
    assert backend.read(spec, 0, 10, 5).offsets.tolist() == list(range(10, 15))  # sequential: same consumer
    assert backend.read(spec, 0, 95, 10).offsets.tolist() == list(range(95, 100))  # a seek forward
    assert len(backend.read(spec, 0, 100, 10)) == 0  # at the end
    assert backend.read(spec, 0, 3, 2).batch.column("v").to_pylist() == [3, 4]  # a seek back
    backend.append(spec, {0: (_batch([100]), ["i100"])})
    assert backend.read(spec, 0, 100, 10).batch.column("v").to_pylist() == [100]  # after the end grew
    assert len(backend.read(spec, 0, 500, 10)) == 0


def _consumer_count(b: NatsBackend, spec: StreamSpec) -> int:
    return int(b._run(b._info(b._stream(spec, 0)))["state"]["consumer_count"])


def test_readers_at_two_offsets_each_keep_their_consumer(backend: NatsBackend) -> None:
    # a processor's online and offline sinks read one partition at different offsets:
    # each keeps its own consumer instead of moving one back and forth
    spec = _spec()
    backend.create(spec)
    backend.append(spec, {0: (_batch(list(range(400))), [f"i{i}" for i in range(400)])})
    ahead, behind = 200, 0
    for _ in range(20):
        assert backend.read(spec, 0, ahead, 5).offsets.tolist() == list(range(ahead, ahead + 5))
        assert backend.read(spec, 0, behind, 7).offsets.tolist() == list(range(behind, behind + 7))
        ahead += 5
        behind += 7
    assert _consumer_count(backend, spec) == 2
    for off in (1, 2, 3, 4, 5, 6):  # more places than a partition keeps readers for
        assert backend.read(spec, 0, off, 1).offsets.tolist() == [off]
    backend.read(spec, 0, 399, 1)  # let the deletes of the readers it let go reach the server
    deadline = time.monotonic() + 5
    while _consumer_count(backend, spec) > 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _consumer_count(backend, spec) <= 4
    backend.drop(spec)
    assert backend._readers == {}


def test_concurrent_reads_of_one_partition(backend: NatsBackend) -> None:
    spec = _spec()
    backend.create(spec)
    backend.append(spec, {0: (_batch(list(range(200))), [f"i{i}" for i in range(200)])})
    errors: list[str] = []

    def reader(start: int) -> None:
        for _ in range(3):
            for off in range(start, start + 50, 10):
                got = backend.read(spec, 0, off, 10).batch.column("v").to_pylist()
                if got != list(range(off, off + 10)):
                    errors.append(f"read at {off}: {got}")

    threads = [threading.Thread(target=reader, args=(s,)) for s in (0, 50, 100, 150)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_offset_for_time(backend: NatsBackend) -> None:
    spec = _spec()
    backend.create(spec)
    assert backend.offset_for_time(spec, 0, 0) == 0  # a new stream
    backend.append(spec, {0: (_batch([1, 2]), ["a", "b"])})
    time.sleep(0.01)
    backend.append(spec, {0: (_batch([3, 4]), ["c", "d"])})
    times = backend.read(spec, 0, 0, 10).times.tolist()
    assert backend.offset_for_time(spec, 0, 0) == 0
    assert backend.offset_for_time(spec, 0, times[2]) == 2
    assert backend.offset_for_time(spec, 0, times[1] + 1) == 2
    assert backend.offset_for_time(spec, 0, times[3]) == 3
    assert backend.offset_for_time(spec, 0, times[3] + 1) == 4  # none at or after: the next offset
    assert backend.offset_for_time(spec, 0, 2**62) == 4


def test_wait_wakes_on_append_and_times_out(backend: NatsBackend) -> None:
    spec = _spec(partitions=2)
    backend.create(spec)
    backend.append(spec, {0: (_batch([1]), ["a"])})
    assert backend.wait(spec, {0: 0}, 5) is True  # a record is there already
    t0 = time.monotonic()
    assert backend.wait(spec, {0: 1, 1: 0}, 0.4) is False
    assert 0.35 <= time.monotonic() - t0 < 3
    timer = threading.Timer(0.3, lambda: backend.append(spec, {1: (_batch([2]), ["b"])}))
    timer.start()
    t0 = time.monotonic()
    assert backend.wait(spec, {0: 1, 1: 0}, 10) is True
    assert time.monotonic() - t0 < 5
    timer.join()


def test_group_commits_merge(backend: NatsBackend) -> None:
    spec = _spec(partitions=8)
    backend.create(spec)
    assert backend.committed(spec, "g") == {} and backend.groups(spec) == []
    backend.commit(spec, "g", {0: 5, 1: 7})
    backend.commit(spec, "g", {1: 9})
    assert backend.committed(spec, "g") == {0: 5, 1: 9}

    def commit(p: int) -> None:
        for i in range(5):
            backend.commit(spec, "h", {p: i + 1})

    threads = [threading.Thread(target=commit, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.committed(spec, "h") == {p: 5 for p in range(8)}  # no committer lost another's partition
    backend.commit(spec, "odd.name/ü", {3: 1})
    assert backend.committed(spec, "odd.name/ü") == {3: 1}
    other = _spec("other")
    backend.create(other)
    backend.commit(other, "x", {0: 1})
    assert backend.groups(spec) == ["g", "h", "odd.name/ü"] and backend.groups(other) == ["x"]


def test_heartbeat_leave_and_expiry(backend: NatsBackend) -> None:
    spec = _spec()
    backend.create(spec)
    assert backend.heartbeat(spec, "g", "m1", 30) == ["m1"]
    assert backend.heartbeat(spec, "g", "m2", 0.4) == ["m1", "m2"]
    assert backend.heartbeat(spec, "other", "m9", 30) == ["m9"]  # groups are apart
    assert backend.heartbeat(spec, "g", "m0", 30) == ["m0", "m1", "m2"]
    backend.leave(spec, "g", "m1")
    assert backend.heartbeat(spec, "g", "m0", 30) == ["m0", "m2"]
    time.sleep(0.6)
    assert backend.heartbeat(spec, "g", "m0", 30) == ["m0"]  # m2 expired
    assert backend.heartbeat(spec, "g", "m2", 30) == ["m0", "m2"]  # and may come back


def test_retention_by_age(backend: NatsBackend) -> None:
    spec = _spec(retention=timedelta(seconds=1))
    backend.create(spec)
    backend.append(spec, {0: (_batch([1, 2, 3]), ["a", "b", "c"])})
    assert backend.trim(spec, 0) == 0  # the first call remembers where the stream starts
    deadline = time.monotonic() + 6
    while backend.bounds(spec) != [(3, 3)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert backend.bounds(spec) == [(3, 3)]
    assert backend.trim(spec, 0) == 3
    assert len(backend.read(spec, 0, 0, 10)) == 0
    assert backend.offset_for_time(spec, 0, 0) == 3
    assert backend.append(spec, {0: (_batch([4]), ["d"])}) == {0: [3]}
    r = backend.read(spec, 0, 0, 10)  # below the first retained offset: from there
    assert r.offsets.tolist() == [3] and r.batch.column("v").to_pylist() == [4]


def test_purge_namespace_removes_everything(nats_url: str) -> None:
    url, ns = _split(nats_url)
    neighbour = ns + "_b"  # a namespace that the first one is a prefix of is left alone
    a, n = NatsBackend(url, namespace=ns, fsync="never"), NatsBackend(url, namespace=neighbour, fsync="never")
    try:
        for b in (a, n):
            spec = _spec("s", partitions=2)
            b.create(spec)
            b.append(spec, {0: (_batch([1]), ["x"])})
            b.commit(spec, "g", {0: 1})
            b.heartbeat(spec, "g", "m", 30)
        purge_namespace(url, ns)
        assert _stream_names(n, f"lakebed.{ns}.>") == []
        assert _stream_names(n, f"$KV.LB-{ns}-streams.>") == []
        assert _stream_names(n, f"$KV.LB-{ns}-groups.>") == []
        assert _stream_names(n, f"$KV.LB-{ns}-members.>") == []
        assert [s.name for s in n.list_specs()] == ["s"] and n.bounds(_spec("s", partitions=2)) == [(0, 1), (0, 0)]
    finally:
        a.close()
        purge_namespace(url, neighbour)
        n.close()
    purge_namespace(url, ns)  # again: nothing left is fine


def test_fsync_always_warns_once(nats_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from lakebed.streams import _nats

    url, ns = _split(nats_url)
    _nats._warned.clear()
    with caplog.at_level(logging.INFO, logger="lakebed.streams"):
        first = NatsBackend(url, namespace=ns)
        second = NatsBackend(url, namespace=ns)
    first.close()
    second.close()
    notes = [r for r in caplog.records if "sync_interval" in r.getMessage()]
    assert len(notes) == 1
    version = first._nc.connected_server_version
    if (version.major, version.minor) < (2, 10):
        assert notes[0].levelno == logging.WARNING and "2.10 or later" in notes[0].getMessage()


def test_unreachable_server_and_bad_arguments() -> None:
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable, match=r"cannot reach NATS at 127\.0\.0\.1:1: .*running with -js"):
        NatsBackend("nats://127.0.0.1:1", namespace="x")
    assert time.monotonic() - t0 < 15
    with pytest.raises(InvalidArgument, match="namespace"):
        NatsBackend("nats://127.0.0.1:4222", namespace="bad-ns")
    with pytest.raises(InvalidArgument, match="fsync"):
        NatsBackend("nats://127.0.0.1:4222", namespace="x", fsync="sometimes")


# -- lakebed's own message path through nats-py ------------------------------------------


def test_appends_write_frames_and_messages_skip_nats_py_per_message_work(backend: NatsBackend,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # with the installed nats-py: acknowledgements and pull deliveries go from the protocol
    # parser to lakebed's handlers, and appends write their records' frames in chunks, not
    # one nc.publish each (a nats-py release that drops these hooks fails here, not just slows)
    from lakebed.streams import _nats

    nc = backend._nc
    assert backend._dispatch.direct and backend._ack_sub._id in backend._dispatch.handlers
    assert _nats._frames_ok(nc, ["m1", "p-7", "~!{}"])
    assert not _nats._frames_ok(nc, ["m1", "a b"]) and not _nats._frames_ok(nc, ["é"])
    assert not _nats._frames_ok(nc, ["m1", "x\r\nPUB y 1"])
    spec = _spec()
    backend.create(spec)
    publishes: list[str] = []
    plain_publish = nc.publish

    async def publish(subject: str, *args: object, **kwargs: object) -> None:
        publishes.append(subject)
        await plain_publish(subject, *args, **kwargs)

    monkeypatch.setattr(nc, "publish", publish)
    n = 3000
    ids = [f"r{i}" for i in range(n)]
    assert backend.append(spec, {0: (_batch(list(range(n))), ids)}) == {0: list(range(n))}
    assert not [s for s in publishes if s.startswith("lakebed.")]
    # ids outside printable ASCII (an id field's values are not checked) take nc.publish,
    # which escapes the header; deduplication holds on both paths
    odd = ["with space", "with space", "tab\there"]
    assert backend.append(spec, {0: (_batch([1, 2, 3]), odd)}) == {0: [n, n, n + 1]}
    assert len([s for s in publishes if s.startswith("lakebed.")]) == 2
    assert backend.append(spec, {0: (_batch([9]), ["r5"])}) == {0: [5]}
    r = backend.read(spec, 0, 0, n + 10)
    assert r.offsets.tolist() == list(range(n + 2))
    assert r.batch.column("v").to_pylist() == [*range(n), 1, 3]
    reader = next(iter(backend._readers.values()))
    assert reader.sub._id in backend._dispatch.handlers
    backend._run(reader.close())
    assert reader.sub is None and len(backend._dispatch.handlers) == 1  # only the acks' subscription


def test_everything_works_through_nats_py_callbacks_alone(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # a nats-py without the parser hook or the command buffer: the plain public path
    from lakebed.streams import _nats

    class Callbacks(_nats._Dispatch):
        def __init__(self, nc: object) -> None:
            self.handlers = {}
            self.direct = False

    monkeypatch.setattr(_nats, "_Dispatch", Callbacks)
    monkeypatch.setattr(_nats, "_frames_ok", lambda nc, ids: False)
    url, ns = _split(nats_url)
    b = NatsBackend(url, namespace=ns, fsync="batch")
    try:
        assert not b._dispatch.direct and not b._dispatch.handlers
        spec = _spec(partitions=2)
        b.create(spec)
        assert [s.name for s in b.list_specs()] == ["events"]  # a KV scan through a pull consumer
        got = b.append(spec, {0: (_batch([1, 2, 3]), ["a", "b", "a"]), 1: (_batch([4], "z"), ["c"])})
        assert got == {0: [0, 1, 0], 1: [0]}
        assert b.read(spec, 0, 0, 10).batch.column("v").to_pylist() == [1, 2]
        assert len(b.read(spec, 0, 2, 10)) == 0  # the server's "no messages" status ends the pull
        b.commit(spec, "g", {0: 2})
        assert b.committed(spec, "g") == {0: 2}
        b.drop(spec)
        assert b.list_specs() == []
        with pytest.raises(NotFound):
            b.read(spec, 0, 0, 10)
    finally:
        b.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 2**62), st.integers(0, 2**62), st.integers(0, 10**6)), min_size=1,
                max_size=30), st.booleans())
def test_reply_metas_match_one_at_a_time(rows: list[tuple[int, int, int]], v2: bool) -> None:
    from lakebed.streams._nats import _reply_meta, _reply_metas

    head = b"$JS.ACK.dom.acchash." if v2 else b"$JS.ACK."
    replies = [head + b"LB-ns-s-0.cons.1.%d.%d.%d.%d" % (seq, seq, ts, pending) + (b".tok" if v2 else b"")
               for seq, ts, pending in rows]
    seqs, stamps = _reply_metas(replies)
    assert list(zip(seqs.tolist(), stamps.tolist(), strict=True)) == [_reply_meta(r) for r in replies]
    assert [(s, t) for s, t, _ in rows] == [_reply_meta(r) for r in replies]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True).filter(
    lambda k: k not in ("Status", "Description")),
                       st.from_regex(r"[!-~]([ !-~]{0,20}[!-~])?", fullmatch=True), max_size=5),
       st.sampled_from([None, ("404", "No Messages"), ("408", "Request Timeout"), ("503", "")]))
def test_raw_headers_read_as_nats_py_reads_them(headers: dict[str, str], status: tuple[str, str] | None) -> None:
    # lakebed's readers of raw header blocks against nats-py's own parser, via _raw_of
    from nats.aio.client import Client
    from nats.aio.msg import Msg

    from lakebed.streams._nats import _header, _raw_of, _status

    h = dict(headers)
    if status is not None:
        h["Status"], h["Description"] = status
    msg = Msg(_client=None, subject="s", reply="r", data=b"", headers=h or None)  # type: ignore[arg-type]
    subject, reply, data, hdr = _raw_of(msg)
    assert (subject, reply, data) == (b"s", b"r", b"")
    if not h:
        assert hdr is None and _status(hdr) is None
        return
    assert hdr is not None
    assert _status(hdr) == (None if status is None else (status[0], status[1]))
    lines = hdr.split(b"\r\n", 1)[1]
    assert Client._parse_header_lines(lines) == headers
    for k, v in headers.items():
        assert _header(hdr, k) == v
    assert _header(hdr, "Absent-Header") is None
