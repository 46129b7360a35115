"""Stream feature views: windows against a brute-force reference, lateness, exactly-once
restarts, offline/online parity, replay, bad input, on every stream and online backend."""

from __future__ import annotations

import gc
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_reference import applied_events, log_records, us, window_values

import lakebed
from lakebed.errors import ConflictError, InvalidArgument, NotFound, SchemaError
from lakebed.features import Aggregation, Entity, StreamFeatureView

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SCHEMA = {"user_id": "int64", "item_id": "int64", "price": "float64", "ts": "timestamp[us, tz=UTC]"}
USER = Entity("user", join_keys=["user_id"])
AGGS = [
    Aggregation("item_id", "count", window=timedelta(minutes=5)),
    Aggregation("price", "sum", window=timedelta(hours=1)),
    Aggregation("price", "max", window=timedelta(minutes=30)),
    Aggregation("price", "mean", window=timedelta(minutes=10)),
]


def agg_tuples(aggs: list[Aggregation]) -> list[tuple[str, str, int, str]]:
    return [(a.column, a.function, a.window_us, a.name) for a in aggs]


def make(lake: lakebed.Lake, *, partitions: int = 2, watermark: timedelta = timedelta(seconds=30),
         aggs: list[Aggregation] | None = None) -> Any:
    s = lake.streams.create("clicks", schema=SCHEMA, key="user_id", event_time="ts", partitions=partitions)
    view = StreamFeatureView("uc", entities=[USER], source="stream:clicks", timestamp_field="ts",
                             aggregations=aggs or AGGS, watermark=watermark, offline="bronze.clicks")
    lake.features.apply([USER, view])
    return s


def events(seconds: list[float], users: list[int], prices: list[float | None]) -> list[dict[str, Any]]:
    return [{"user_id": u, "item_id": i, "price": p, "ts": T0 + timedelta(seconds=s)}
            for i, (s, u, p) in enumerate(zip(seconds, users, prices, strict=True))]


def online_values(lake: lakebed.Lake, users: list[int], now: datetime, aggs: list[Aggregation] | None = None
                  ) -> dict[int, dict[str, Any]]:
    names = [a.name for a in (aggs or AGGS)]
    resp = lake.features.online([{"user_id": u} for u in users], [f"uc:{n}" for n in names], now=now)
    return {u: {n: resp[n][i] for n in names} for i, u in enumerate(users)}


def check_against_reference(lake: lakebed.Lake, now: datetime, watermark_us: int = 30_000_000,
                            aggs: list[Aggregation] | None = None) -> None:
    parts = log_records(lake, "clicks")
    applied, late = applied_events(parts, "ts", watermark_us)
    ref = window_values(applied, "user_id", "ts", agg_tuples(aggs or AGGS), us(now))
    got = online_values(lake, sorted(ref), now, aggs)
    for u, vals in ref.items():
        for name, want in vals.items():
            have = got[u][name]
            if isinstance(want, float):
                assert have is not None and math.isclose(have, want, rel_tol=1e-12, abs_tol=1e-9), (u, name, have, want)
            else:
                assert have == want, (u, name, have, want)
    st_ = {r["view"]: r for r in lake.features.status()}["uc"]
    assert st_["applied"] == len(applied) and st_["too_late"] == len(late)
    # the offline table holds each applied event once, the late table each too-late one
    off = lake.tables.read("bronze.clicks").to_pylist()
    assert sorted((r["_partition"], r["_offset"]) for r in off) == sorted(
        (r["_partition"], r["_offset"]) for r in applied)
    lt = lake.tables.read("bronze.clicks__late").to_pylist()
    assert sorted((r["_partition"], r["_offset"]) for r in lt) == sorted((r["_partition"], r["_offset"]) for r in late)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(st.tuples(st.floats(0, 4000, allow_nan=False), st.integers(0, 5),
                            st.one_of(st.none(), st.floats(-100, 100, allow_nan=False))), min_size=1, max_size=80),
    chunks=st.integers(1, 7),
    max_records=st.integers(1, 50),
    watermark_s=st.integers(1, 600),
    partitions=st.integers(1, 3),
)
def test_windows_match_brute_force(data: list[tuple[float, int, float | None]], chunks: int, max_records: int,
                                   watermark_s: int, partitions: int) -> None:
    """Random events (out of order, some beyond the watermark), appended in chunks and
    processed in small steps: every online aggregate equals the brute-force one."""
    secs = [round(d[0], 3) for d in data]
    evs = events(secs, [d[1] for d in data], [d[2] for d in data])
    with lakebed.connect(":memory:") as lake:
        s = make(lake, partitions=partitions, watermark=timedelta(seconds=watermark_s))
        size = max(len(evs) // chunks, 1)
        with lake.features.stream_processor(max_records=max_records, offline_interval=0) as proc:
            for i in range(0, len(evs), size):
                s.append(evs[i:i + size])
                proc.step()
            while proc.step():
                pass
        now = T0 + timedelta(seconds=max(secs) + 1)
        check_against_reference(lake, now, watermark_s * 1_000_000)


@pytest.mark.parametrize("combo", ["embedded+sqlite", "nats+sqlite", "redis+redis", "embedded+postgres"])
def test_processor_on_every_backend(combo: str, request: pytest.FixtureRequest) -> None:
    streams, online = combo.split("+")
    s_url = None if streams == "embedded" else str(request.getfixturevalue(f"{streams}_url"))
    o_url = {"sqlite": None, "redis": None, "postgres": None}[online]
    if online == "redis":
        o_url = str(request.getfixturevalue("redis_url"))
    elif online == "postgres":
        o_url = str(request.getfixturevalue("pg_url"))
    secs = [i * 7 % 900 + (i % 4) * 0.5 for i in range(300)]
    secs[100] = 10.0  # far behind the newest of its partition: too late
    evs = events(secs, [i % 9 for i in range(300)], [float(i % 13) for i in range(300)])
    with lakebed.connect(":memory:", streams=s_url, online=o_url) as lake:
        s = make(lake, partitions=3)
        for i in range(0, 300, 60):
            s.append(evs[i:i + 60])
            lake.features.run_stream(until_caught_up=True, max_records=37)
        check_against_reference(lake, T0 + timedelta(seconds=901))
        assert {r["view"]: r for r in lake.features.status()}["uc"]["too_late"] >= 1


def test_late_events_inside_and_beyond_the_watermark() -> None:
    with lakebed.connect(":memory:") as lake:
        s = make(lake, partitions=1, watermark=timedelta(seconds=30))
        s.append(events([100, 80, 50, 101, 70.5], [1, 1, 1, 1, 1], [1.0, 2.0, 4.0, 8.0, 16.0]))
        report = lake.features.run_stream(until_caught_up=True)["uc"]
        # 80 is 20 s behind 100: applied, out of order; 50 and 70.5 are 50 s and 30.5 s behind: too late
        assert report["applied"] == 3 and report["out_of_order"] == 1 and report["too_late"] == 2
        got = online_values(lake, [1], T0 + timedelta(seconds=102))[1]
        assert got["price_sum_1h"] == 1.0 + 2.0 + 8.0
        late = lake.tables.read("bronze.clicks__late").to_pylist()
        assert sorted(r["price"] for r in late) == [4.0, 16.0]


def test_exactly_once_across_restarts(tmp_path) -> None:
    """A processor stopped at any step and started again (a new process's view of the
    lake) applies each event once."""
    path = tmp_path / "lake"
    secs = [i * 3.0 for i in range(500)]
    evs = events(secs, [i % 7 for i in range(500)], [float(i) for i in range(500)])
    with lakebed.connect(path) as lake:
        s = make(lake, partitions=2)
        s.append(evs)
    for steps in (1, 2, 3, 5, 1000):
        with lakebed.connect(path) as lake, \
                lake.features.stream_processor(max_records=40, offline_interval=0) as proc:
            for _ in range(steps):
                if not proc.step():
                    break
    with lakebed.connect(path) as lake:
        check_against_reference(lake, T0 + timedelta(seconds=1500))


def test_offline_online_parity(streams_url: str | None) -> None:
    """training_set over the view gives, for every entity row, the value the online store
    served at that row's timestamp."""
    with lakebed.connect(":memory:", streams=streams_url) as lake:
        s = make(lake, partitions=2)
        served: list[dict[str, Any]] = []
        users = list(range(6))
        with lake.features.stream_processor(offline_interval=0) as proc:
            for step in range(12):
                lo = step * 300
                secs = [lo + j * 9.7 for j in range(30)]
                s.append(events(secs, [j % 6 for j in range(30)], [float(j % 11) + step for j in range(30)]))
                while proc.step():
                    pass
                now = T0 + timedelta(seconds=lo + 299)
                vals = online_values(lake, users, now)
                served += [{"user_id": u, "ts": now, **vals[u]} for u in users]
        rows = pa.table({"user_id": [r["user_id"] for r in served], "ts": [r["ts"] for r in served]})
        ts = lake.features.training_set(rows, [f"uc:{a.name}" for a in AGGS], timestamp_column="ts")
        ts = ts.to_arrow().to_pylist()
        assert len(ts) == len(served)
        for want, have in zip(served, ts, strict=True):
            assert want["user_id"] == have["user_id"]
            for a in AGGS:
                w, h = want[a.name], have[a.name]
                if isinstance(w, float) and h is not None:
                    assert math.isclose(w, h, rel_tol=1e-12), (a.name, w, h)
                else:
                    assert w == h, (a.name, want, have)


def test_replay_equals_live(streams_url: str | None) -> None:
    with lakebed.connect(":memory:", streams=streams_url) as lake:
        s = make(lake, partitions=3)
        secs = [(i * 37) % 2000 for i in range(400)]
        s.append(events(secs, [i % 11 for i in range(400)], [float(i % 17) for i in range(400)]))
        live = lake.features.run_stream(until_caught_up=True, max_records=64)["uc"]
        now = T0 + timedelta(seconds=2001)
        before = online_values(lake, list(range(11)), now)
        off_before = lake.tables.read("bronze.clicks").sort_by([("_partition", "ascending"),
                                                                ("_offset", "ascending")])
        replayed = lake.features.replay("uc")
        assert online_values(lake, list(range(11)), now) == before
        after = lake.tables.read("bronze.clicks").sort_by([("_partition", "ascending"), ("_offset", "ascending")])
        assert after.equals(off_before)
        for k in ("applied", "out_of_order", "too_late"):
            assert replayed[k] == live[k]


def test_bad_definitions_and_input_change_nothing() -> None:
    with lakebed.connect(":memory:") as lake:
        s = make(lake)
        with pytest.raises(InvalidArgument):
            StreamFeatureView("x", entities=[USER], source="silver.t", timestamp_field="ts", aggregations=AGGS)
        with pytest.raises(InvalidArgument):
            StreamFeatureView("x", entities=[USER], source="stream:clicks", timestamp_field="ts",
                              aggregations=[Aggregation("price", "sum", window=timedelta(seconds=-5))])
        with pytest.raises(InvalidArgument):
            StreamFeatureView("x", entities=[USER], source="stream:clicks", timestamp_field="ts", aggregations=AGGS,
                              watermark=timedelta(0))
        with pytest.raises(NotFound):
            lake.features.apply([StreamFeatureView("x", entities=[USER], source="stream:nope",
                                                   timestamp_field="ts", aggregations=AGGS)])
        with pytest.raises(SchemaError):
            lake.features.apply([StreamFeatureView("x", entities=[USER], source="stream:clicks",
                                                   timestamp_field="ts",
                                                   aggregations=[Aggregation("missing", "sum", timedelta(hours=1))])])
        with pytest.raises(ConflictError):  # another view's offline table
            lake.features.apply([StreamFeatureView("y", entities=[USER], source="stream:clicks", timestamp_field="ts",
                                                   aggregations=AGGS, offline="bronze.clicks")])
        assert [v.name for v in lake.features.list_views()] == ["uc"]
        assert not lake.tables.exists("streams.x")
        with pytest.raises(SchemaError):
            s.append([{"user_id": 1, "item_id": 2, "price": "cheap", "ts": T0}])
        assert s.bounds() == [(0, 0), (0, 0)]
        with pytest.raises(InvalidArgument):
            lake.features.materialize(views=["uc"])
        with pytest.raises(ConflictError), lake.features.stream_processor(), lake.features.stream_processor():
            pass
        with lake.features.stream_processor(), pytest.raises(ConflictError):
            lake.features.replay("uc")
        with pytest.raises(InvalidArgument, match="append the events to its stream"):
            lake.features.push("uc", [{"user_id": 1, "item_id": 1, "price": 1.0, "ts": T0}])
        assert lake.tables.read("bronze.clicks").num_rows == 0


def test_status_reports_freshness_and_lag() -> None:
    with lakebed.connect(":memory:") as lake:
        s = lake.streams.create("clicks", schema=SCHEMA, key="user_id", event_time="ts")
        view = StreamFeatureView("uc", entities=[USER], source="stream:clicks", timestamp_field="ts",
                                 aggregations=AGGS[:1], freshness_slo=timedelta(milliseconds=1))
        lake.features.apply([USER, view])
        now = datetime.now(UTC)
        s.append([{"user_id": 1, "item_id": 1, "price": 1.0, "ts": now - timedelta(seconds=2)}])
        st_ = {r["view"]: r for r in lake.features.status()}["uc"]
        assert st_["lag"] == 1
        lake.features.run_stream(until_caught_up=True)
        st_ = {r["view"]: r for r in lake.features.status()}["uc"]
        assert st_["freshness_p99_ms"] >= 2000 - 1  # the event was 2 s old when it became visible
        assert st_["slo_breached"] is True
        s.append([{"user_id": 1, "item_id": 2, "price": 1.0, "ts": now}])
        lake.features.run_stream(until_caught_up=True)
        st_ = {r["view"]: r for r in lake.features.status()}["uc"]
        assert st_["lag"] == 0 and st_["applied"] == 2
        assert sum(st_["freshness_counts"]) == 2  # the histogram counts the events of every run


@given(st.lists(st.tuples(st.sampled_from(["online", "offline", "reread", "drop"]), st.integers(1, 40)),
                min_size=1, max_size=40))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_offline_sink_takes_what_the_online_sink_read(ops: list[tuple[str, int]]) -> None:
    # the offline sink reads from what the online sink handed over when it can, from the log
    # when it cannot; either way it must see exactly the log's records, in order, once
    from lakebed.features._stream import _ViewRun

    with lakebed.connect(":memory:") as lake:
        s = make(lake, partitions=1)
        s.append(events([float(i) for i in range(300)], [i % 7 for i in range(300)], [float(i) for i in range(300)]))
        run = _ViewRun(lake.features, "uc")
        online_at, offline_at, got = 0, 0, []
        for op, n in ops:
            if op == "online":  # what online_step does with each read
                rec = s.backend.read(s.spec, 0, online_at, n)
                if len(rec):
                    run._hand_over(0, rec)
                    online_at = int(rec.offsets[-1]) + 1
            elif op == "reread":  # a failed online step: read again from an earlier offset
                online_at = max(online_at - n, 0)
            elif op == "drop":  # over the cap: everything handed over is forgotten
                with run.handoff_lock:
                    run.handoff[0].clear()
                    run.handoff_n = 0
            else:
                rec = run._take(0, offline_at, n)
                assert len(rec) <= n
                if len(rec):
                    assert rec.offsets.tolist() == list(range(offline_at, offline_at + len(rec)))
                    got += rec.batch.column("item_id").to_pylist()
                    offline_at += len(rec)
            assert run.handoff_n == sum(len(r) for r in run.handoff[0])
        assert got == list(range(offline_at))


@pytest.mark.redis
def test_reads_ahead_start_small_and_double_up_to_max_records(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # with nothing read ahead, a step reads _FIRST_READ records and starts the read of twice
    # as many; a read ahead the step does not take (its offset is off after a failed step,
    # or max_records shrank) is dropped and the ramp starts again
    from lakebed.features import _stream

    monkeypatch.setattr(_stream, "_FIRST_READ", 4)
    secs = [i * 2.0 for i in range(240)]
    evs = events(secs, [i % 5 for i in range(240)], [float(i % 11) for i in range(240)])
    with lakebed.connect(":memory:", streams=redis_url) as lake:
        s = make(lake, partitions=1)
        s.append(evs)
        asked: list[tuple[int, int]] = []
        plain_read = s.backend.read

        def read(spec: Any, partition: int, offset: int, max_records: int) -> Any:
            asked.append((offset, max_records))
            return plain_read(spec, partition, offset, max_records)

        monkeypatch.setattr(s.backend, "read", read)
        with lake.features.stream_processor(max_records=30, offline_interval=0) as proc:
            steps = [proc.step(offline=False) for _ in range(5)]
            assert steps == [4, 8, 16, 30, 30]
            online = lake.features.online_store
            plain_write = online.write

            def failing_write(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError("the online store went away")

            monkeypatch.setattr(online, "write", failing_write)
            with pytest.raises(RuntimeError, match="went away"):
                proc.step(offline=False)  # read 30 at 88 (and 30 more ahead at 118), applied none
            monkeypatch.setattr(online, "write", plain_write)
            asked.clear()
            assert proc.step(offline=False) == 4  # the read ahead at 118 is not where the state is
            assert asked[0] == (88, 4)
            proc.max_records = 5  # the read ahead of 8 is more than a step may now take
            asked.clear()
            while proc.step(offline=False):
                pass
            # (the read of 8 at 92 ran in the thread, maybe after the clear above)
            assert [a for a in asked if a != (92, 8)][:2] == [(92, 4), (96, 5)]
            assert max(n for o, n in asked if o > 92) == 5
            run = proc.views[0]
            assert run.online.offsets == [240] and run.online.applied == 240
        check_against_reference(lake, T0 + timedelta(seconds=481))


def test_a_small_window_cache_forgets_and_reads_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # the processor keeps windows in memory up to a number of keys and of events; past that
    # it forgets the keys cached first and reads them back from the online store
    from lakebed.features import _stream

    monkeypatch.setattr(_stream, "_CACHE_KEYS", 4)
    monkeypatch.setattr(_stream, "_CACHE_EVENTS", 12)
    secs = [i * 3 % 700 + (i % 5) * 0.25 for i in range(240)]
    evs = events(secs, [i % 11 for i in range(240)], [float(i % 17) for i in range(240)])
    with lakebed.connect(":memory:") as lake:
        s = make(lake, partitions=2)
        with lake.features.stream_processor(max_records=9, offline_interval=0) as proc:
            run = proc.views[0]
            for i in range(0, 240, 30):
                s.append(evs[i:i + 30])
                while proc.step():
                    assert len(run.cache) <= 4 and run.cached_events <= 12 + 9
                    assert run.cached_events == sum(len(w[0]) // 8 for w in run.cache.values())
        check_against_reference(lake, T0 + timedelta(seconds=701))


@pytest.mark.parametrize("broker", ["redis", "nats"])
def test_read_ahead_where_the_backend_wants_it_and_a_failed_step_reads_again(
        broker: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # on Redis the online sink reads the next batch in a thread while it applies one (on
    # JetStream taking messages is Python work that would contend for the GIL, so it reads
    # in the step); a step that fails after its read leaves the state where it was, and the
    # next step reads from there (not the batch read ahead past it): every event is applied once
    import threading

    url = str(request.getfixturevalue(f"{broker}_url"))
    secs = [i * 2.0 for i in range(240)]
    evs = events(secs, [i % 5 for i in range(240)], [float(i % 11) for i in range(240)])
    with lakebed.connect(":memory:", streams=url) as lake:
        s = make(lake, partitions=1)
        s.append(evs)
        backend = s.backend
        threads: list[str] = []
        plain_read = backend.read

        def read(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return plain_read(*args, **kwargs)

        monkeypatch.setattr(backend, "read", read)
        with lake.features.stream_processor(max_records=30, offline_interval=0) as proc:
            assert proc.step(offline=False) == 30
            online = lake.features.online_store
            plain_write = online.write
            calls = {"n": 0}

            def failing_write(*args: Any, **kwargs: Any) -> None:
                calls["n"] += 1
                raise RuntimeError("the online store went away")

            monkeypatch.setattr(online, "write", failing_write)
            with pytest.raises(RuntimeError, match="went away"):
                proc.step(offline=False)
            assert calls["n"] == 1
            monkeypatch.setattr(online, "write", plain_write)
            while proc.step(offline=False):
                pass
            run = proc.views[0]
            assert run.online.offsets == [240] and run.online.applied == 240
        assert run._pool is None  # closed with the processor
        assert backend.read_ahead == (broker == "redis")
        assert any(t.startswith("lakebed-read-ahead") for t in threads) == backend.read_ahead, threads
        check_against_reference(lake, T0 + timedelta(seconds=481))


def test_events_without_a_key_count_as_applied_and_touch_no_entity() -> None:
    secs = [float(i) for i in range(12)]
    users: list[Any] = [1, None, 2, 1, None, None, 2, 1, 3, None, 3, 1]
    evs = events(secs, users, [float(i) for i in range(12)])
    with lakebed.connect(":memory:") as lake:
        # the stream's key is the item; the view's entity (user) may be missing from an event
        s = lake.streams.create("clicks", schema=SCHEMA, key="item_id", event_time="ts", partitions=2)
        lake.features.apply([USER, StreamFeatureView("uc", entities=[USER], source="stream:clicks",
                                                     timestamp_field="ts", aggregations=AGGS)])
        s.append(evs)
        report = lake.features.run_stream(until_caught_up=True, max_records=5)["uc"]
        assert report["applied"] == 12
        got = online_values(lake, [1, 2, 3], T0 + timedelta(seconds=13))
        assert got[1]["price_sum_1h"] == 0.0 + 3.0 + 7.0 + 11.0
        assert got[2]["price_sum_1h"] == 2.0 + 6.0 and got[3]["item_id_count_5m"] == 2
        assert lake.features.online_store.count("uc") == 3
        s.append([{**e, "item_id": 100 + i} for i, e in enumerate(events([20.0, 21.0], [None, None], [1.0, 2.0]))])
        assert lake.features.run_stream(until_caught_up=True)["uc"]["applied"] == 14
        assert online_values(lake, [1], T0 + timedelta(seconds=22))[1]["price_sum_1h"] == 21.0


@pytest.mark.parametrize("second", [
    [4000.0, 7700.0],  # in order, spanning more than the longest window: the new events trim each other
    [3700.0, 3650.0, 9000.0],  # out of order (inside the watermark of a step), then past every window
    [30.0, 5.0, 3601.0],  # out of order, older than the window's newest
])
def test_a_step_whose_events_trim_the_window_they_join(second: list[float]) -> None:
    # a key's window is kept as bytes (times, row, text lengths); a step may trim only old
    # events, old and some of its own, or rebuild the window out of order
    first = [0.0, 10.0, 20.0]
    with lakebed.connect(":memory:") as lake:
        s = make(lake, partitions=1, watermark=timedelta(hours=3))
        with lake.features.stream_processor(offline_interval=0) as proc:
            s.append(events(first, [1, 1, 1], [1.0, 2.0, 3.0]))
            assert proc.step() == 3
            s.append(events(second, [1] * len(second), [10.0 * (i + 1) for i in range(len(second))]))
            assert proc.step() == len(second)
            run = proc.views[0]
            times, row, lens, oldest, newest = run.cache["1"]
            kept = memoryview(times).cast("q").tolist()
            assert kept == sorted(kept) and len(lens) == 4 * len(kept) and run.cached_events == len(kept)
            assert (oldest, newest) == (kept[0], kept[-1])
            # nothing in the cache is for the cyclic collector to walk on its full passes
            gc.collect()
            assert not any(gc.is_tracked(w) for w in run.cache.values())
            assert row == lake.features.online_store.read("uc", ["1"])[0]
        check_against_reference(lake, T0 + timedelta(seconds=max(first + second) + 1), 3 * 3600 * 1_000_000)
