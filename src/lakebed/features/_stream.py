"""The stream processor of stream feature views: windows over a stream, exactly once.

Each view has two sinks that read the stream on their own, each from the offsets it
recorded with its own state:

- online: the events of each entity's largest window (the rows aggregation views keep,
  aggregated at read time) and, in the same online-store transaction, the view's
  *state* (per partition: the next offset, the newest event time seen, counts). One
  SQLite or PostgreSQL transaction, or one Redis MULTI/EXEC: a processor killed at any
  instant restarts from the offsets of the last commit, whose events are exactly those
  applied, so no event is lost or counted twice.
- offline: the events, with ``_partition``, ``_offset`` and ``_time``, appended to the
  view's offline table (training sets read it) in one Delta commit whose metadata holds
  the sink's state; too-late events go first to ``<offline>__late`` the same way.

Lateness is decided per partition, from the log alone: an event is too late when its
event time is older than the newest event time before it in its partition by more than
the view's watermark. Both sinks, every restart and a replay decide alike.

Example:
    >>> import lakebed
    >>> from datetime import UTC, datetime, timedelta
    >>> from lakebed.features import Aggregation, Entity, StreamFeatureView
    >>> with lakebed.connect(":memory:") as lake:
    ...     s = lake.streams.create("clicks", schema={"user_id": "int64", "price": "float64",
    ...                             "ts": "timestamp[us, tz=UTC]"}, key="user_id", event_time="ts")
    ...     view = StreamFeatureView("spend", entities=[Entity("user", join_keys=["user_id"])],
    ...                              source="stream:clicks", timestamp_field="ts",
    ...                              aggregations=[Aggregation("price", "sum", window=timedelta(hours=1))])
    ...     _ = lake.features.apply([view])
    ...     t = datetime(2026, 1, 1, tzinfo=UTC)
    ...     _ = s.append([{"user_id": 1, "price": 2.5, "ts": t}, {"user_id": 1, "price": 1.0, "ts": t}])
    ...     lake.features.run_stream(until_caught_up=True)["spend"]["applied"]
    ...     lake.features.online([{"user_id": 1}], ["spend:price_sum_1h"], now=t)["price_sum_1h"]
    2
    [3.5]
"""

from __future__ import annotations

import array
import bisect
import collections
import concurrent.futures
import contextlib
import dataclasses
import gc
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakebed.errors import ConflictError, InvalidArgument, NotFound, SchemaError
from lakebed.features._codec import EventsCodec, EventTexts, key_array
from lakebed.features._definitions import StreamFeatureView
from lakebed.streams._backend import Records
from lakebed.streams._streams import Stream, event_times_us, with_meta

if TYPE_CHECKING:
    from lakebed.features._store import FeatureStore

STATE_VIEW = "lakebed.stream"
"""The online-store 'view' holding each stream view's state (a name no view can take)."""
META_KEY = "lakebed.stream"
META_COLUMNS = (("_partition", pa.int32()), ("_offset", pa.int64()), ("_time", pa.timestamp("us", tz="UTC")))
_CACHE_KEYS = 500_000  # entities whose window events the processor keeps in memory
_CACHE_EVENTS = 5_000_000  # and events in all (a few hundred MB of texts)
_RESERVOIR = 1 << 16  # latencies kept for the freshness percentiles
_OFFLINE_MAX = 1_000_000  # records per offline commit
_HANDOFF_MAX = 200_000  # records the online sink keeps for the offline sink (past that: dropped)
_FIRST_READ = 4096  # records of a read with nothing read ahead; each read after it asks for twice as many
# A key's window, oldest first: its event times (native int64s), its online row as last
# written (the event texts joined by commas between a fixed head and "]", see
# EventsCodec.row_head) and each text's length (native uint32s). All three are bytes, which
# the cyclic collector does not track (nor, then, the tuple): with two lists per key, the
# collector's full passes over a large cache took ~100 ms each, stalling every thread.
_Window = tuple[bytes, bytes, bytes, int, int]  # (..., oldest time, newest time)
_ORDER = sys.byteorder


def _n_events(win: _Window) -> int:
    return len(win[0]) // 8


def _texts_of(body: bytes | memoryview, lens: bytes) -> list[bytes]:
    """A window's event texts, from the joined texts and their lengths.

    Example:
        >>> import array
        >>> _texts_of(b"[1,2],[3]", array.array("I", [5, 3]).tobytes())
        [b'[1,2]', b'[3]']
    """
    out, at = [], 0
    for n in memoryview(lens).cast("I"):
        out.append(bytes(body[at:at + n]))
        at += n + 1
    return out


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (if it runs) for the block: a step of the
    processor allocates many containers (lists of texts and times, record tuples) that
    would set off collector passes in the middle of it. The collector is switched on again
    after the block (if this block switched it off); reference counting frees memory
    meanwhile as always."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def late_table(offline: str) -> str:
    """Where a view's too-late events land: ``<offline>__late``."""
    return f"{offline}__late"


def offline_schema(stream_schema: pa.Schema) -> pa.Schema:
    """The stream's columns and where each event sat in the log."""
    return pa.schema([*stream_schema, *(pa.field(n, t) for n, t in META_COLUMNS)])


def _stream_views(objs: Sequence[Any]) -> list[StreamFeatureView]:
    return [o for o in objs if isinstance(o, StreamFeatureView)]


def stream_source_schemas(store: FeatureStore, objs: Sequence[Any]) -> dict[str, pa.Schema]:
    """For planning: the offline table schema of each stream view whose stream exists
    (the table is made at apply). A missing stream, an offline table another stream view
    owns, or an offline table without the log columns is an error."""
    out: dict[str, pa.Schema] = {}
    owners = {s["source"]: n for (k, n), (_, s) in store.registry.current().items()
              if k == "view" and s.get("stream")}
    for view in _stream_views(objs):
        stream = store.lake.streams.get(view.stream)
        owner = owners.get(view.source)
        if owner is not None and owner != view.name:
            raise ConflictError(f"stream view {view.name!r}: the offline table {view.source!r} belongs to stream view "
                                f"{owner!r}; give offline= a table of its own")
        taken = [v.name for v in _stream_views(objs) if v.source == view.source and v is not view]
        if taken:
            raise ConflictError(f"stream views {view.name!r} and {taken[0]!r} name one offline table {view.source!r}")
        schema = offline_schema(stream.schema)
        if store.lake.tables.exists(view.source):
            have = store.lake.tables.schema(view.source)
            missing = [n for n, _ in META_COLUMNS if n not in have.names]
            if missing:
                raise SchemaError(f"stream view {view.name!r}: the offline table {view.source!r} exists without the "
                                  f"columns {missing}; name a new table in offline= (lakebed creates it)")
        out[view.source] = schema
    return out


def create_offline_tables(store: FeatureStore, objs: Sequence[Any]) -> None:
    for view in _stream_views(objs):
        schema = offline_schema(store.lake.streams.get(view.stream).schema)
        for name in (view.source, late_table(view.source)):
            store.lake.tables.create(name, schema=schema, exist_ok=True)


@dataclasses.dataclass
class SinkState:
    """Where a sink is in the log, and what it decided so far."""

    version: int
    offsets: list[int]  # next offset per partition
    max_ts: list[int | None]  # newest event time per partition (UTC us)
    applied: int = 0
    out_of_order: int = 0  # applied, older than an event before them (inside the watermark)
    too_late: int = 0  # beyond the watermark: not applied, in the late table
    expired: int = 0  # dropped by the stream's retention before this sink read them
    late_offsets: list[int] | None = None  # offline: where the late table is
    freshness: dict[str, Any] = dataclasses.field(default_factory=dict)
    updated: float = 0.0

    def to_json(self) -> str:
        return json.dumps(vars(self), separators=(",", ":"))  # the fields, without asdict's deep copy

    @classmethod
    def from_json(cls, text: str | bytes) -> SinkState:
        return cls(**json.loads(text))

    @classmethod
    def start(cls, version: int, offsets: list[int]) -> SinkState:
        return cls(version, list(offsets), [None] * len(offsets))


def classify(ts: np.ndarray, max_ts: int | None, watermark_us: int) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(too late, out of order, newest) for a partition's events in log order."""
    if len(ts) == 0:
        return np.zeros(0, bool), np.zeros(0, bool), max_ts
    seed = np.int64(max_ts if max_ts is not None else ts[0])
    run = np.maximum.accumulate(np.concatenate([[seed], ts]))[1:]
    too_late = ts < run - watermark_us
    ooo = (ts < run) & ~too_late
    return too_late, ooo, int(run[-1])


class _ViewRun:
    """One stream view inside a processor."""

    def __init__(self, store: FeatureStore, name: str) -> None:
        version, spec = store.registry.get("view", name)
        if not spec.get("stream"):
            raise InvalidArgument(f"{name!r} is not a stream feature view")
        self.store = store
        self.name = name
        self.version = version
        self.spec = spec
        self.stream: Stream = store.lake.streams.get(spec["stream"])
        self.keys: list[str] = spec["join_keys"]
        self.ts = spec["timestamp_field"]
        self.cols: list[str] = list(dict.fromkeys(a["column"] for a in spec["aggregations"]))
        self.max_w = max(a["window_us"] for a in spec["aggregations"])
        self.watermark = int(spec["watermark_us"])
        self.codec = EventsCodec(self.cols, version)
        self.texts = EventTexts()
        self.cache: dict[str, _Window] = {}  # key -> its window
        self.cached_events = 0
        self.cache_complete = False  # set below when the view's rows were dropped at start
        self.fresh_cache: dict[str, Any] | None = None
        self.fresh_at = 0.0
        self.latency = np.zeros(_RESERVOIR, np.float64)
        self.lat_n = 0
        self.fresh_dirty = False
        self.fresh_written = time.monotonic()
        self.online = self._load_online()
        # the latency histogram counts every event applied by any run; percentiles are
        # those of the latest events of this run
        prev = self.online.freshness.get("counts")
        self.hist = np.array(prev, np.int64) if prev and len(prev) == len(_BUCKETS_MS) - 1 \
            else np.zeros(len(_BUCKETS_MS) - 1, np.int64)
        self.offline = self._load_offline()
        self.last_offline = 0.0
        self.offline_lock = threading.Lock()  # the offline sink runs in one thread at a time
        # what the online sink read, per partition, for the offline sink: the log is read once
        self.handoff: list[collections.deque[Records]] = [collections.deque() for _ in range(self.stream.partitions)]
        self.handoff_n = 0
        self.handoff_lock = threading.Lock()
        # a broker backend's next batch is read in a thread while this one is applied:
        # per partition, (offset, size, read)
        self._ahead: dict[int, tuple[int, int, concurrent.futures.Future[Records]]] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lakebed-read-ahead") \
            if self.stream.backend.read_ahead else None

    # -- state -------------------------------------------------------------------------
    def _start_offsets(self) -> list[int]:
        return [f for f, _ in self.stream.bounds()]

    def _load_online(self) -> SinkState:
        buf = self.store.online_store.read(STATE_VIEW, [self.name])[0]
        if buf is not None:
            state = SinkState.from_json(buf)
            if state.version == self.version and len(state.offsets) == self.stream.partitions:
                return state
        # a new view, or a new version of it: its window events are rebuilt from the log
        self.store.online_store.drop(self.name)
        self.cache_complete = True  # no rows: a key not cached has none
        return SinkState.start(self.version, self._start_offsets())

    def _load_offline(self) -> SinkState:
        for h in self.store.lake.tables.history(self.spec["source"]):
            raw = h["metadata"].get(META_KEY)
            if raw is not None:
                d = json.loads(raw)
                if d.get("view") == self.name:
                    state = SinkState.from_json(json.dumps(d["state"]))
                    if len(state.offsets) == self.stream.partitions:
                        return state
                break
        return SinkState.start(self.version, self._start_offsets())

    def _late_floor(self) -> list[int]:
        """Where the late table is: its newest commit's offsets, if ahead of the offline
        table's (a crash between the two commits), else the offline table's."""
        base = list(self.offline.offsets)
        for h in self.store.lake.tables.history(late_table(self.spec["source"]), limit=20):
            raw = h["metadata"].get(META_KEY)
            if raw is not None:
                d = json.loads(raw)
                if d.get("view") == self.name:
                    offs = d["state"]["offsets"]
                    if len(offs) == len(base):
                        return [max(a, b) for a, b in zip(base, offs, strict=True)]
                break
        return base

    # -- online ------------------------------------------------------------------------
    def _load_windows(self, keys: list[str]) -> None:
        """Bring the stored windows of the keys not cached into the cache (one read). Not
        needed while the cache holds every key the store holds (a view whose rows were
        dropped at start, with nothing evicted since): a key not cached then has no row."""
        cache = self.cache
        missing = [k for k in keys if k not in cache]
        if not missing or self.cache_complete:
            return
        for k, buf in zip(missing, self.store.online_store.read(self.name, missing), strict=True):
            if buf is not None:
                events = EventsCodec.decode(buf)[1]
                if events:
                    texts = self.texts.many(events)
                    pack, sign, head = self.codec.row_head()
                    row = b"".join((pack(events[-1][0] + sign, 0), head, b",".join(texts), b"]"))
                    cache[k] = (array.array("q", [e[0] for e in events]).tobytes(), row,
                                array.array("I", map(len, texts)).tobytes(), events[0][0], events[-1][0])
                self.cached_events += len(events)

    def online_step(self, max_records: int) -> int:
        """Read and apply the next records; how many were read.

        Each event becomes its JSON text once, when read; a touched key's row is its
        window's texts joined, so the cost of a step follows the events it reads (and the
        size of the rows it writes), not a re-encoding of every window it touches. The
        events of a step are grouped by key with Arrow and numpy (keys in sorted order, so
        the store's B-tree is written in order), and a key's new events go onto the end of
        its window in one step when they are in time order and not older than its newest."""
        state = self.online
        spec = self.stream.spec
        per = max(max_records // spec.partitions, 1)
        offsets = list(state.offsets)
        max_ts = list(state.max_ts)
        counts = [0, 0, 0, 0]
        batches: list[pa.RecordBatch] = []
        ts_parts: list[np.ndarray] = []
        read = 0
        for k in range(spec.partitions):
            rec = self._read(k, offsets[k], per)
            if not len(rec):
                continue
            counts[3] += int(rec.offsets[0]) - offsets[k]  # dropped by retention before they were read
            read += len(rec)
            self._hand_over(k, rec)
            b = rec.batch
            ts = event_times_us(b, self.ts)
            late, ooo, max_ts[k] = classify(ts, max_ts[k], self.watermark)
            if late.any():
                ok = np.flatnonzero(~late)
                b = b.take(pa.array(ok))
                ts = ts[ok]
            batches.append(b)
            ts_parts.append(ts)
            counts[0] += len(ts)
            counts[1] += int(ooo.sum())
            counts[2] += int(late.sum())
            offsets[k] = int(rec.offsets[-1]) + 1
        if not read:
            return 0
        keys, rows = self._group_and_merge(batches, ts_parts)
        try:
            nxt = dataclasses.replace(state, offsets=offsets, max_ts=max_ts, applied=state.applied + counts[0],
                                      out_of_order=state.out_of_order + counts[1],
                                      too_late=state.too_late + counts[2], expired=state.expired + counts[3],
                                      freshness=self._freshness(), updated=time.time())
            backend = self.store.online_store
            with backend.transaction():
                if keys:
                    backend.write(self.name, keys, rows)
                backend.write(STATE_VIEW, [self.name], [nxt.to_json().encode()])
        except BaseException:
            self._drop_cache()  # windows were extended in place; the store holds what it held
            raise
        visible = time.time_ns() // 1000
        if len(self.cache) > _CACHE_KEYS or self.cached_events > _CACHE_EVENTS:
            self._forget()
        self.online = nxt
        if ts_parts:
            lat = (visible - np.concatenate(ts_parts)) / 1000.0
            if len(lat):
                self._record_latency(lat)
                self.fresh_dirty = True
        if time.monotonic() - self.fresh_written >= 1.0:
            self.write_freshness()
        return read

    def _read(self, partition: int, offset: int, limit: int) -> Records:
        """The online sink's read of a partition. On a backend that allows it, a full batch
        starts the read of the next one in a thread (offsets have no gaps, so where it
        starts is known), and the next step takes it when it asks for that offset (else it
        reads anew: a failed step reads from where its state is; an empty read at the end
        of the log is read again, since more may have come). A read that found nothing
        ahead asks for ``_FIRST_READ`` records and each read after it for twice as many, up
        to ``limit``, so that the first step does not wait for a whole batch with nothing
        to overlap it (two reads in flight were tried: slower, see the streams benchmark's
        profiles). The log at an offset never changes, so a batch read ahead is the batch."""
        spec = self.stream.spec
        rec = None
        size = limit
        got = self._ahead.pop(partition, None)
        if got is not None:
            at, size, fut = got
            try:
                early = fut.result()
            except Exception:  # the read below raises it again, or succeeds
                early = None
            if at == offset and size <= limit and early is not None and len(early):
                rec = early
        if rec is None:
            size = limit if self._pool is None else min(limit, _FIRST_READ)
            rec = self.stream.backend.read(spec, partition, offset, size)
        if self._pool is not None and len(rec) >= size:
            nxt, grow = int(rec.offsets[-1]) + 1, min(limit, 2 * size)
            fut = self._pool.submit(self.stream.backend.read, spec, partition, nxt, grow)
            self._ahead[partition] = (nxt, grow, fut)
        return rec

    def close(self) -> None:
        """Stop reading ahead (waits for a read in flight)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._ahead.clear()

    def _drop_cache(self) -> None:
        self.cache.clear()
        self.cached_events = 0
        self.cache_complete = False

    def _group_and_merge(self, batches: list[pa.RecordBatch],
                         ts_parts: list[np.ndarray]) -> tuple[list[str], list[bytes]]:
        """The step's events (in log order, partition after partition; their event times
        in ``ts_parts``) added to their keys' windows; returns the touched keys, sorted,
        and their new online rows."""
        n = sum(len(t) for t in ts_parts)
        if not n:
            return [], []
        table = pa.Table.from_batches(batches)
        ts_all = ts_parts[0] if len(ts_parts) == 1 else np.concatenate(ts_parts)
        enc = key_array([table.column(c) for c in self.keys]).dictionary_encode()
        ind = enc.indices
        valid = None
        if ind.null_count:  # events without a key apply to nothing
            valid = ind.is_valid().to_numpy(zero_copy_only=False)
            if not valid.any():
                return [], []
            ind = ind.fill_null(0)
        idx = ind.to_numpy(zero_copy_only=False)
        uniq = enc.dictionary
        # rank of each distinct key in sorted order, then the events ordered by (key rank,
        # log position): a stable sort keeps each key's events in log order
        by_name = pc.array_sort_indices(uniq).to_numpy()
        rank = np.empty(len(uniq), np.int64)
        rank[by_name] = np.arange(len(uniq))
        r = rank[idx]
        if valid is not None:
            r = np.where(valid, r, -1)
        order = np.argsort(r, kind="stable")
        if valid is not None:
            order = order[int((~valid).sum()):]  # the keyless events sort first: drop them
        r = r[order]
        ts_o = ts_all[order]
        cut = np.flatnonzero(r[1:] != r[:-1]) + 1
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [len(r)]])
        # groups whose new events are not in time order take the slow path
        disorder = np.zeros(len(starts), bool)
        down = np.flatnonzero(ts_o[1:] < ts_o[:-1])
        if len(down):
            down = down[r[down + 1] == r[down]]
            disorder[np.searchsorted(starts, down, side="right") - 1] = True
        # each event's text, made in key order (Arrow's take), so no list is reordered
        tl = ts_o.tolist()
        picked = pa.array(order)
        xl = self.texts.batch(tl, [table.column(c).take(picked) for c in self.cols])
        keys = uniq.take(pa.array(by_name)).to_pylist()
        self._load_windows(keys)
        cache = self.cache
        max_w = self.max_w
        pack, sign, head = self.codec.row_head()
        prefix = len(pack(sign, 0))  # a row's bytes before its head,
        skip = prefix + len(head)  # and before its first event text
        join, join2, from_bytes = b"".join, b",".join, int.from_bytes
        tb = ts_o.astype(np.int64).tobytes()  # the step's event times and text lengths, as
        lb = np.fromiter(map(len, xl), np.uint32, len(xl)).tobytes()  # windows keep them
        rows: list[bytes] = []
        added = 0
        for key, a, b, slow in zip(keys, starts.tolist(), ends.tolist(), disorder.tolist(), strict=True):
            win = cache.get(key)
            if win is None:  # no events stored for the key
                times, row, lens, oldest, newest = b"", b"", b"", 0, 0
            else:
                times, row, lens, oldest, newest = win
            n0 = len(times) >> 3
            if not slow and (not n0 or tl[a] >= newest):
                times += tb[a << 3:b << 3]
                lens += lb[a << 2:b << 2]
                if b - a == 1:
                    new = xl[a]
                    newest = tl[a]
                else:
                    new = join2(xl[a:b])
                    newest = tl[b - 1]
                if not n0:
                    oldest = tl[a]
                old = n0
            else:  # out of order: each event goes after those of equal or older time
                tsl = memoryview(times).cast("q").tolist()
                txs = _texts_of(memoryview(row)[skip:-1], lens) if n0 else []
                for i in range(a, b):
                    t = tl[i]
                    if not tsl or t >= tsl[-1]:
                        tsl.append(t)
                        txs.append(xl[i])
                    else:
                        j = bisect.bisect_right(tsl, t)
                        tsl.insert(j, t)
                        txs.insert(j, xl[i])
                times, lens = array.array("q", tsl).tobytes(), array.array("I", map(len, txs)).tobytes()
                new, old, oldest, newest = join2(txs), 0, tsl[0], tsl[-1]
            if oldest <= newest - max_w:
                c = bisect.bisect_right(memoryview(times).cast("q"), newest - max_w)  # the newest stays
                drop = sum(memoryview(lens).cast("I")[:c]) + c  # bytes of the c oldest texts and commas
                times, lens = times[c << 3:], lens[c << 2:]
                oldest = from_bytes(times[:8], _ORDER, signed=True)
                if c < old:  # old texts only
                    row = join((pack(newest + sign, 0), head, row[skip + drop:-1], b",", new, b"]"))
                else:  # some of the new texts go too
                    new = new[drop - (len(row) - skip if old else 0):]  # the old texts and a comma go
                    row = join((pack(newest + sign, 0), head, new, b"]"))
            elif old:  # the row's head and texts stay: a new prefix, then the new texts
                row = join((pack(newest + sign, 0), row[prefix:-1], b",", new, b"]"))
            else:
                row = join((pack(newest + sign, 0), head, new, b"]"))
            cache[key] = (times, row, lens, oldest, newest)
            added += (len(times) >> 3) - n0
            rows.append(row)
        self.cached_events += added
        return keys, rows

    def _forget(self) -> None:
        """Drop the keys cached first until a quarter of the room is free (one store read
        brings a key back)."""
        cache = self.cache
        drop: list[str] = []
        for key in cache:
            if len(cache) - len(drop) <= _CACHE_KEYS * 3 // 4 and self.cached_events <= _CACHE_EVENTS * 3 // 4:
                break
            drop.append(key)
            self.cached_events -= _n_events(cache[key])
        for key in drop:
            del cache[key]
        self.cache_complete = False

    def write_freshness(self, *, force: bool = True) -> None:
        """Store the freshness of the events applied so far with the state (status()
        in any process shows it); offsets and counts stay as committed. Unless
        ``force``, at most once a second (each step's commit carries it too)."""
        if not self.fresh_dirty or (not force and time.monotonic() - self.fresh_written < 1.0):
            return
        state = dataclasses.replace(self.online, freshness=self._freshness(now=True), updated=time.time())
        backend = self.store.online_store
        with backend.transaction():
            backend.write(STATE_VIEW, [self.name], [state.to_json().encode()])
        self.online = state
        self.fresh_dirty = False
        self.fresh_written = time.monotonic()

    def _record_latency(self, lat_ms: np.ndarray) -> None:
        n = len(lat_ms)
        # the bucket of each latency ([edge, next edge)), below 0 ms none (clock skew)
        idx = np.searchsorted(_BUCKETS_MS, lat_ms, side="right") - 1
        idx = idx[idx >= 0]
        self.hist += np.bincount(np.minimum(idx, len(self.hist) - 1), minlength=len(self.hist))
        if n >= _RESERVOIR:
            self.latency[:] = lat_ms[-_RESERVOIR:]
        else:
            start = self.lat_n % _RESERVOIR
            end = start + n
            if end <= _RESERVOIR:
                self.latency[start:end] = lat_ms
            else:
                cut = _RESERVOIR - start
                self.latency[start:] = lat_ms[:cut]
                self.latency[:n - cut] = lat_ms[cut:]
        self.lat_n += n

    def latencies(self) -> np.ndarray:
        """Event-time-to-online-visible latencies (ms) of the most recent events."""
        return self.latency[:min(self.lat_n, _RESERVOIR)].copy()

    def _freshness(self, *, now: bool = False) -> dict[str, Any]:
        """Percentiles of the recent latencies and the histogram of all; recomputed at
        most every 0.5 s on the online path (``now`` forces it)."""
        if not now and self.fresh_cache is not None and time.monotonic() - self.fresh_at < 0.5:
            return self.fresh_cache
        lat = self.latencies()
        if not len(lat):
            return dict(self.online.freshness)
        p50, p99 = np.percentile(lat, [50, 99])
        self.fresh_cache = {"p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3), "events": int(self.lat_n),
                            "buckets_ms": _BUCKETS_MS.tolist()[1:], "counts": self.hist.tolist()}
        self.fresh_at = time.monotonic()
        return self.fresh_cache

    # -- offline -----------------------------------------------------------------------
    def offline_step(self) -> int:
        """Land the records the offline table lacks (one Delta commit per table)."""
        with self.offline_lock:
            return self._offline_step()

    def _offline_step(self) -> int:
        state = self.offline
        spec = self.stream.spec
        floor = self._late_floor()
        offsets = list(state.offsets)
        max_ts = list(state.max_ts)
        good: list[pa.RecordBatch] = []
        late_rows: list[pa.RecordBatch] = []
        counts = [0, 0, 0, 0]
        read = 0
        for k in range(spec.partitions):
            while read < _OFFLINE_MAX:
                rec = self._take(k, offsets[k], min(100_000, _OFFLINE_MAX - read))
                if not len(rec):
                    break
                counts[3] += int(rec.offsets[0]) - offsets[k]
                read += len(rec)
                b = with_meta(rec, k)
                ts = event_times_us(b, self.ts)
                late, ooo, max_ts[k] = classify(ts, max_ts[k], self.watermark)
                counts[0] += int((~late).sum())
                counts[1] += int(ooo.sum())
                counts[2] += int(late.sum())
                if late.any():
                    keep = late & (rec.offsets >= floor[k])
                    if keep.any():
                        late_rows.append(b.filter(pa.array(keep)))
                    b = b.filter(pa.array(~late))
                good.append(b)
                offsets[k] = int(rec.offsets[-1]) + 1
        if not read:
            return 0
        nxt = dataclasses.replace(state, offsets=offsets, max_ts=max_ts, applied=state.applied + counts[0],
                                  out_of_order=state.out_of_order + counts[1], too_late=state.too_late + counts[2],
                                  expired=state.expired + counts[3], updated=time.time())
        meta = {META_KEY: json.dumps({"view": self.name, "state": dataclasses.asdict(nxt)})}
        tables = self.store.lake.tables
        schema = offline_schema(spec.schema)
        if late_rows:
            tables.write(late_table(self.spec["source"]), pa.Table.from_batches(late_rows, schema=schema),
                         commit_metadata=meta)
        tables.write(self.spec["source"], pa.Table.from_batches(good, schema=schema) if good
                     else schema.empty_table(), commit_metadata=meta)
        self.offline = nxt
        return read

    def _hand_over(self, partition: int, rec: Records) -> None:
        """Keep records the online sink read for the offline sink (at most
        ``_HANDOFF_MAX`` in all: past that the offline sink reads the log itself)."""
        with self.handoff_lock:
            if self.handoff_n + len(rec) > _HANDOFF_MAX:
                for q in self.handoff:
                    q.clear()
                self.handoff_n = 0
                return
            self.handoff[partition].append(rec)
            self.handoff_n += len(rec)

    def _take(self, partition: int, offset: int, limit: int) -> Records:
        """The records of ``partition`` from ``offset`` (up to ``limit``): those the
        online sink handed over when they start there, else read from the log (only up
        to the first handed-over record, so that the two join without a gap)."""
        with self.handoff_lock:
            q = self.handoff[partition]
            while q and int(q[0].offsets[-1]) < offset:  # behind the offline sink: not needed
                self.handoff_n -= len(q.popleft())
            if q and int(q[0].offsets[0]) <= offset:
                rec = q.popleft()
                self.handoff_n -= len(rec)
                start = offset - int(rec.offsets[0])
                n = min(len(rec) - start, limit)
                if start + n < len(rec):  # put the rest back
                    rest = Records(rec.batch.slice(start + n), rec.offsets[start + n:], rec.times[start + n:])
                    q.appendleft(rest)
                    self.handoff_n += len(rest)
                if start or n < len(rec):
                    rec = Records(rec.batch.slice(start, n), rec.offsets[start:start + n], rec.times[start:start + n])
                return rec
            if q:
                limit = min(limit, int(q[0].offsets[0]) - offset)
        return self.stream.backend.read(self.stream.spec, partition, offset, limit)

    def lag(self) -> int:
        return sum(max(n - max(o, f), 0) for (f, n), o in zip(self.stream.bounds(), self.online.offsets, strict=True))

    def offline_lag(self) -> int:
        return sum(max(n - max(o, f), 0) for (f, n), o in zip(self.stream.bounds(), self.offline.offsets, strict=True))

    def report(self) -> dict[str, Any]:
        s = self.online
        return {"view": self.name, "stream": self.stream.name, "applied": s.applied, "out_of_order": s.out_of_order,
                "too_late": s.too_late, "expired": s.expired, "lag": self.lag(), "offline_lag": self.offline_lag(),
                "freshness": self._freshness(now=True)}


_BUCKETS_MS = np.array([0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 60_000, np.inf])
_running: set[tuple[int, str]] = set()
_running_lock = threading.RLock()


class StreamProcessor:
    """Runs stream feature views: :meth:`step` applies what the streams hold now;
    :meth:`run` loops. One processor per view per lake at a time (the lake's writer).

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     proc = lake.features.stream_processor()
        ...     proc.step()
        ...     proc.close()
        0
    """

    def __init__(self, store: FeatureStore, views: Sequence[str] | None = None, *, max_records: int = 50_000,
                 offline_interval: float = 1.0) -> None:
        store.lake.check_writable()
        store.registry.refresh_if_changed()
        if isinstance(views, str):
            views = [views]
        cur = store.registry.current()
        names = sorted(n for (k, n), (_, s) in cur.items() if k == "view" and s.get("stream")) \
            if views is None else list(views)
        for n in names:
            if ("view", n) not in cur:
                raise NotFound(f"unknown feature view {n!r}")
        if not 1 <= max_records <= 10_000_000:
            raise InvalidArgument(f"max_records must be 1..10000000, got {max_records}")
        self.store = store
        self.max_records = max_records
        self.offline_interval = offline_interval
        self._claimed: list[tuple[int, str]] = []
        with _running_lock:
            for n in names:
                key = (id(store), n)
                if key in _running:
                    self._release()
                    raise ConflictError(f"a stream processor already runs view {n!r} in this process")
                _running.add(key)
                self._claimed.append(key)
        try:
            self.views = [_ViewRun(store, n) for n in names]
        except BaseException:
            self._release()
            raise
        self._closed = False

    def _release(self) -> None:
        with _running_lock:
            for key in self._claimed:
                _running.discard(key)
        self._claimed = []

    def step(self, *, offline: bool | None = None) -> int:
        """Apply what the streams hold (up to ``max_records`` per view) to the online
        store, and to the offline tables when ``offline`` (default: when
        ``offline_interval`` has passed); how many records were read."""
        n = 0
        now = time.monotonic()
        for v in self.views:
            # no cyclic collector passes inside a step (it runs again right after it)
            with _collector_paused():
                n += v.online_step(self.max_records)
            due = offline if offline is not None else now - v.last_offline >= self.offline_interval
            if due:
                v.offline_step()
                v.last_offline = now
        return n

    def caught_up(self) -> bool:
        return all(v.lag() == 0 and v.offline_lag() == 0 for v in self.views)

    def run(
        self,
        *,
        until_caught_up: bool = False,
        duration: float | None = None,
        stop: threading.Event | None = None,
        poll: float = 0.05,
        on_status: Callable[[list[dict[str, Any]]], None] | None = None,
        status_every: float = 1.0,
    ) -> dict[str, dict[str, Any]]:
        """Loop until caught up (``until_caught_up``), ``duration`` seconds pass, or
        ``stop`` is set; ``on_status`` gets :meth:`status` every ``status_every`` s."""
        end = None if duration is None else time.monotonic() + duration
        last_status = 0.0
        # the offline sink lands events in its own thread: a Delta commit never holds up
        # the online path (freshness); each sink resumes from its own state
        offline_stop = threading.Event()
        failed: list[BaseException] = []

        def land() -> None:
            while not offline_stop.wait(self.offline_interval):
                try:
                    for v in self.views:
                        v.offline_step()
                except BaseException as exc:  # raised again by the loop below
                    failed.append(exc)
                    return

        lander = threading.Thread(target=land, name="lakebed-stream-offline", daemon=True)
        lander.start()
        try:
            while True:
                if failed:
                    raise failed[0]
                n = self.step(offline=False)
                if on_status is not None and time.monotonic() - last_status >= status_every:
                    on_status(self.status())
                    last_status = time.monotonic()
                if stop is not None and stop.is_set():
                    break
                if end is not None and time.monotonic() >= end:
                    break
                if n == 0:
                    for v in self.views:  # idle: store the freshness of the last events applied
                        v.write_freshness(force=False)
                    if until_caught_up:
                        for v in self.views:
                            while v.offline_step():
                                pass
                            v.last_offline = time.monotonic()
                        if self.caught_up():
                            break
                    self._wait(poll)
        finally:
            offline_stop.set()
            lander.join()
            for v in self.views:
                v.offline_step()
                v.write_freshness()
        return {r["view"]: r for r in self.status()}

    def _wait(self, timeout: float) -> None:
        if not self.views:
            time.sleep(timeout)
            return
        v = self.views[0]
        spec = v.stream.spec
        v.stream.backend.wait(spec, dict(enumerate(v.online.offsets)), timeout)

    def status(self) -> list[dict[str, Any]]:
        return [v.report() for v in self.views]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for v in self.views:
                v.close()
            for v in self.views:
                v.offline_step()
                v.write_freshness()
        finally:
            self._release()

    def __enter__(self) -> StreamProcessor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replay(store: FeatureStore, view: str, since: datetime | None = None) -> dict[str, Any]:
    """Rebuild a stream view's online state and offline table from the log, from
    ``since`` (append time; default: the first retained record)."""
    store.lake.check_writable()
    _, spec = store.registry.get("view", view)
    if not spec.get("stream"):
        raise InvalidArgument(f"{view!r} is not a stream feature view; replay rebuilds stream views")
    with _running_lock:
        if (id(store), view) in _running:
            raise ConflictError(f"a stream processor runs view {view!r} in this process; stop it before a replay")
    stream = store.lake.streams.get(spec["stream"])
    if since is None:
        start = [f for f, _ in stream.bounds()]
    else:
        t = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        us = int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
        start = [stream.backend.offset_for_time(stream.spec, k, us) for k in range(stream.partitions)]
    version = store.registry.get("view", view)[0]
    # online: no events, state at the start (one transaction)
    backend = store.online_store
    with backend.transaction():
        backend.drop(view)
        backend.write(STATE_VIEW, [view], [SinkState.start(version, start).to_json().encode()])
    # offline: keep the rows before the start, in one overwrite commit with the new state
    tables = store.lake.tables
    meta = {META_KEY: json.dumps({"view": view, "state": dataclasses.asdict(SinkState.start(version, start))})}
    for name in (late_table(spec["source"]), spec["source"]):
        old = tables.read(name)
        keep = np.zeros(old.num_rows, bool)
        parts = old.column("_partition").to_numpy(zero_copy_only=False)
        offs = old.column("_offset").to_numpy(zero_copy_only=False)
        for k, s in enumerate(start):
            keep |= (parts == k) & (offs < s)
        tables.write(name, old.filter(pa.array(keep)), mode="overwrite", commit_metadata=meta)
    with StreamProcessor(store, [view]) as proc:
        return proc.run(until_caught_up=True)[view]


def stream_status(store: FeatureStore, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """What ``features.status()`` shows of a stream view, from its stored state (any
    process): lag, counts and freshness, and whether the freshness SLO is breached."""
    buf = store.online_store.read(STATE_VIEW, [name])[0]
    stream = store.lake.streams.get(spec["stream"])
    bounds = stream.bounds()
    state = SinkState.from_json(buf) if buf is not None else SinkState.start(0, [f for f, _ in bounds])
    fresh = state.freshness
    slo_us = spec.get("freshness_slo_us")
    p99 = fresh.get("p99_ms")
    lag = sum(max(n - max(o, f), 0) for (f, n), o in zip(bounds, state.offsets, strict=False))
    return {
        "stream": stream.name,
        "lag": lag,
        "applied": state.applied,
        "out_of_order": state.out_of_order,
        "too_late": state.too_late,
        "expired": state.expired,
        "freshness_p50_ms": fresh.get("p50_ms"),
        "freshness_p99_ms": p99,
        "freshness_buckets_ms": fresh.get("buckets_ms"),
        "freshness_counts": fresh.get("counts"),
        "freshness_slo": timedelta(microseconds=slo_us) if slo_us else None,
        "slo_breached": bool(slo_us and p99 is not None and p99 * 1000 > slo_us),
        "last_applied": datetime.fromtimestamp(state.updated, tz=UTC) if state.updated else None,
    }
