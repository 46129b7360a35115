"""``lake.streams``: named streams of records, consumer groups, offsets, seek and lag.

The area is one API over three backends (see ``_backend.py``), chosen with
``lakebed.connect(path, streams=...)`` as the catalog and the online store are: the
embedded log (default), ``nats://...`` (JetStream) or ``redis://...`` (Redis Streams).
A URL may end in ``?namespace=NAME`` to share streams between lakes on one broker;
otherwise each lake keeps to a namespace of its own.

Example:
    >>> import lakebed
    >>> from datetime import timedelta
    >>> with lakebed.connect(":memory:") as lake:
    ...     clicks = lake.streams.create("clicks", schema={"user_id": "int64", "item": "string"},
    ...                                  key="user_id", partitions=2)
    ...     clicks.append([{"user_id": 1, "item": "a"}, {"user_id": 2, "item": "b"}])
    ...     for batch in clicks.consume(group="demo", timeout=0.1):
    ...         print(sorted(batch.column("item").to_pylist()))
    ...     clicks.lag("demo")
    [Position(partition=1, offset=0), Position(partition=1, offset=1)]
    ['a', 'b']
    {0: 0, 1: 0}
"""

from __future__ import annotations

import builtins
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakebed._names import validate_name
from lakebed.errors import InvalidArgument, NotFound, SchemaError
from lakebed.streams._backend import Records, StreamBackend
from lakebed.streams._spec import StreamSpec, check_stream_name

if TYPE_CHECKING:
    from lakebed.lake import Lake

_GROUP_TTL_S = 10.0
MAX_APPEND_ROWS = 1_000_000


class Position(NamedTuple):
    """Where an appended record sits: its partition and offset."""

    partition: int
    offset: int


def open_backend(url: str | None, *, path: Path, namespace: str, fsync: str, read_only: bool) -> StreamBackend:
    """The backend for a ``streams=`` setting."""
    if url is None or url in ("embedded", "local"):
        from lakebed.streams._embedded import EmbeddedBackend

        return EmbeddedBackend(path, fsync=fsync, read_only=read_only)
    u = urlparse(url)
    query = parse_qs(u.query)
    ns = query.pop("namespace", [namespace])[0]
    if not ns or not all((c.isascii() and c.isalnum()) or c == "_" for c in ns) or len(ns) > 32:
        raise InvalidArgument(f"the streams namespace {ns!r} must be 1-32 letters, digits or '_'")
    clean = urlunparse(u._replace(query=urlencode(query, doseq=True)))
    if u.scheme in ("nats", "tls"):
        from lakebed.streams._nats import NatsBackend

        return NatsBackend(clean, namespace=ns, fsync=fsync)
    if u.scheme in ("redis", "rediss", "unix"):
        from lakebed.streams._redis import RedisBackend

        return RedisBackend(clean, namespace=ns, fsync=fsync)
    raise InvalidArgument(f"unsupported streams backend {url!r}; use nats://host:4222, redis://host:6379/0, "
                          "or leave it unset for the embedded log")


class Streams:
    """The streams of a lake (``lake.streams``)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._backend: StreamBackend | None = None
        self._lock = threading.Lock()
        self._specs: dict[str, StreamSpec] = {}
        lake.on_close(self.close)

    @property
    def backend(self) -> StreamBackend:
        """The backend chosen by ``connect(streams=...)``."""
        b = self._backend
        if b is None:
            with self._lock:
                if self._backend is None:
                    self._backend = open_backend(
                        self.lake.settings.streams, path=self.lake.path / "streams", namespace=self.lake.namespace,
                        fsync=self.lake.settings.fsync, read_only=self.lake.read_only)
                b = self._backend
        return b

    def create(
        self,
        name: str,
        *,
        schema: Any,
        key: str | None = None,
        event_time: str | None = None,
        partitions: int = 1,
        retention: timedelta | None = None,
        retention_bytes: int | None = None,
        id_field: str | None = None,
        dedup_window: timedelta = timedelta(minutes=2),
        description: str = "",
        exist_ok: bool = False,
    ) -> Stream:
        """Create a stream. ``key`` picks a record's partition (records of one key stay in
        order); ``event_time`` names the timestamp column stream feature views window on;
        ``retention`` (age) and ``retention_bytes`` (per partition) bound what is kept;
        ``id_field`` names a column of message ids for idempotent appends (else each
        append makes ids), remembered for ``dedup_window``.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     s = lake.streams.create("events", schema={"k": "string", "v": "float64"})
            ...     s.partitions
            1
        """
        self.lake.check_writable()
        spec = StreamSpec.build(name, schema=schema, key=key, event_time=event_time, partitions=partitions,
                                retention=retention, retention_bytes=retention_bytes, id_field=id_field,
                                dedup_window=dedup_window, description=description)
        existing = self.backend.load_spec(spec.name)
        if existing is not None:
            if exist_ok and existing == spec:
                return Stream(self, existing)
            from lakebed.errors import AlreadyExists

            why = "" if existing == spec else " with another definition"
            raise AlreadyExists(f"stream {name!r} exists{why}; use lake.streams.get({name!r}), or drop it first")
        self.backend.create(spec)
        self._specs[spec.name] = spec
        return Stream(self, spec)

    def _spec(self, name: str) -> StreamSpec:
        check_stream_name(name)
        spec = self._specs.get(name)
        if spec is None:
            spec = self.backend.load_spec(name)
            if spec is None:
                known = self.list()
                raise NotFound(f"unknown stream {name!r}; streams: {known or 'none'} "
                               "(create it with lake.streams.create)")
            self._specs[name] = spec
        return spec

    def get(self, name: str) -> Stream:
        """An existing stream (NotFound otherwise)."""
        return Stream(self, self._spec(name))

    __getitem__ = get

    def exists(self, name: str) -> bool:
        return self.backend.load_spec(check_stream_name(name)) is not None

    def list(self) -> builtins.list[str]:
        """Stream names, sorted."""
        return [s.name for s in self.backend.list_specs()]

    def drop(self, name: str) -> None:
        """Delete a stream with its records and groups."""
        self.lake.check_writable()
        spec = self._spec(name)
        self.backend.drop(spec)
        self._specs.pop(name, None)

    def describe(self) -> builtins.list[dict[str, Any]]:
        """Every stream: definition, records retained and appended, groups and their lag."""
        out = []
        for spec in self.backend.list_specs():
            s = Stream(self, spec)
            bounds = s.bounds()
            out.append({**spec.describe(), "backend": self.backend.name,
                        "records": sum(n - f for f, n in bounds), "appended": sum(n for _, n in bounds),
                        "groups": {g: sum(s.lag(g).values()) for g in s.groups()}})
        return out

    def flush(self) -> None:
        """Make appends durable now (``fsync="batch"``; embedded log only)."""
        flush = getattr(self._backend, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None


class Stream:
    """One stream: append, read, consume with groups, bounds and lag."""

    def __init__(self, area: Streams, spec: StreamSpec) -> None:
        self._area = area
        self.spec = spec
        self._producer = uuid.uuid4().hex[:16]
        self._seq = 0
        self._seq_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def schema(self) -> pa.Schema:
        return self.spec.schema

    @property
    def partitions(self) -> int:
        return self.spec.partitions

    @property
    def backend(self) -> StreamBackend:
        return self._area.backend

    def __repr__(self) -> str:
        return f"<Stream {self.name} partitions={self.partitions} backend={self.backend.name}>"

    # -- append ------------------------------------------------------------------------
    def validate(self, rows: Any) -> pa.Table:
        """Rows as a table of the stream's schema, or SchemaError naming the problem."""
        from lakebed.tables._arrow import conform, to_arrow

        spec = self.spec
        try:
            data = to_arrow(rows, spec.schema)
        except InvalidArgument as exc:
            raise InvalidArgument(f"append to stream {spec.name!r}: {exc}") from None
        if isinstance(data, pa.RecordBatchReader):
            data = data.read_all()
        dupes = sorted({c for c in data.column_names if data.column_names.count(c) > 1})
        if dupes:
            raise SchemaError(f"append to stream {spec.name!r}: columns {dupes} appear more than once")
        if data.num_rows > MAX_APPEND_ROWS:
            raise InvalidArgument(f"append to stream {spec.name!r}: {data.num_rows} rows in one call; "
                                  f"append at most {MAX_APPEND_ROWS} at a time")
        extra = [c for c in data.column_names if c not in spec.schema.names]
        if extra:
            raise SchemaError(f"append to stream {spec.name!r}: columns {extra} are not in the stream "
                              f"(columns: {spec.schema.names})")
        try:
            table = conform(data, spec.schema)
        except SchemaError as exc:
            raise SchemaError(f"append to stream {spec.name!r}: {exc}") from None
        for what, col in (("event_time", spec.event_time), ("id_field", spec.id_field), ("key", spec.key)):
            if col is not None and table.column(col).null_count:
                if col not in data.column_names:
                    raise SchemaError(f"append to stream {spec.name!r}: rows lack the {what} column {col!r}")
                raise SchemaError(f"append to stream {spec.name!r}: the {what} column {col!r} has nulls")
        return table

    def append(self, rows: Any, *, ids: Sequence[str] | None = None) -> builtins.list[Position]:
        """Append records (Arrow, pandas, polars, a list of dicts); return each record's
        position, in order. Nothing is appended when any row does not fit the schema.
        When this returns the records are durable as the backend and the lake's ``fsync``
        promise (docs/streams.md). ``ids`` (or the stream's ``id_field``) are message
        ids: a record whose id was appended within the dedup window is not appended
        again, and its earlier position is returned.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     s = lake.streams.create("e", schema={"v": "int64"})
            ...     s.append([{"v": 1}, {"v": 2}], ids=["a", "b"])
            ...     s.append([{"v": 2}], ids=["b"])
            [Position(partition=0, offset=0), Position(partition=0, offset=1)]
            [Position(partition=0, offset=1)]
        """
        self._area.lake.check_writable()
        table = self.validate(rows)
        spec = self.spec
        gate = self._gate()
        if gate is not None and table.num_rows:
            keep = gate.check(table, "stream")  # QualityError (nothing appended) under reject
            if ids is not None and keep.num_rows != table.num_rows:  # quarantined rows take their ids along
                failed = set(range(table.num_rows)) - set(gate.kept_rows)
                ids = [i for k, i in enumerate(ids) if k not in failed]
            table = keep
        n = table.num_rows
        if n == 0:
            if gate is not None:
                gate.record(None)
            return []
        if ids is not None:
            if isinstance(ids, str) or len(ids) != n:
                raise InvalidArgument(f"append to stream {spec.name!r}: ids must be a list with one id per row "
                                      f"({n} rows)")
            msg_ids = [str(i) for i in ids]
            bad = [i for i in msg_ids if not 0 < len(i) <= 128 or any(ord(c) < 33 or ord(c) > 126 for c in i)]
            if bad:
                raise InvalidArgument(f"append to stream {spec.name!r}: message ids must be 1-128 printable ASCII "
                                      f"characters without spaces; got {bad[0]!r}")
        elif spec.id_field is not None:
            msg_ids = [str(i) for i in table.column(spec.id_field).to_pylist()]
        else:
            with self._seq_lock:
                first = self._seq
                self._seq += n
            msg_ids = [f"{self._producer}-{first + i}" for i in range(n)]
        parts_of = (spec.partition_array(table.column(spec.key)) if spec.key is not None
                    else np.zeros(n, np.int64))
        batch = table.combine_chunks().to_batches()[0] if table.num_rows else table
        parts: dict[int, tuple[pa.RecordBatch, builtins.list[str]]] = {}
        rows_of: dict[int, np.ndarray] = {}
        for k in np.unique(parts_of).tolist():
            idx = np.flatnonzero(parts_of == k)
            rows_of[k] = idx
            sub = batch if len(idx) == n else batch.take(pa.array(idx))
            parts[k] = (sub, [msg_ids[i] for i in idx.tolist()])
        got = self.backend.append(spec, parts, generated=ids is None and spec.id_field is None)
        out: builtins.list[Position] = [Position(0, 0)] * n
        for k, idx in rows_of.items():
            for i, off in zip(idx.tolist(), got[k], strict=True):
                out[i] = Position(k, off)
        if gate is not None:
            gate.record(None)
        return out

    def _gate(self) -> Any:
        """The data contract's check of an append (None when the stream has none)."""
        from lakebed.quality._contracts import WriteGate, current_contract

        target = f"stream:{self.name}"
        contract = current_contract(self._area.lake, target)
        return None if contract is None else WriteGate(self._area.lake, target, contract)

    # -- reading -----------------------------------------------------------------------
    def bounds(self) -> builtins.list[tuple[int, int]]:
        """Per partition: (first retained offset, next offset)."""
        return self.backend.bounds(self.spec)

    def end_offsets(self) -> dict[int, int]:
        return {k: n for k, (_, n) in enumerate(self.bounds())}

    def read(self, partition: int = 0, offset: int = 0, max_records: int = 10_000) -> pa.RecordBatch:
        """Records of one partition from ``offset`` (no group, nothing committed), with
        the ``_partition``, ``_offset`` and ``_time`` columns."""
        self._check_partition(partition)
        return with_meta(self.backend.read(self.spec, partition, offset, max_records), partition)

    def _check_partition(self, partition: int) -> None:
        if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < self.partitions:
            raise InvalidArgument(f"stream {self.name!r} has partitions 0..{self.partitions - 1}, got {partition!r}")

    def consumer(self, group: str | None = None, *, start: str = "earliest",
                 session_timeout: float = _GROUP_TTL_S) -> Consumer:
        """A consumer; with ``group``, one of the group's members (partitions are shared
        among live members; offsets are the group's). ``start`` ("earliest" or "latest")
        is where a partition without a committed offset begins."""
        return Consumer(self, group, start=start, session_timeout=session_timeout)

    def consume(
        self, group: str | None = None, *, max_records: int = 1000, timeout: float | None = 1.0,
        start: str = "earliest", commit: bool = True,
    ) -> Iterator[pa.RecordBatch]:
        """Yield batches until none arrives for ``timeout`` seconds (None: forever). With
        ``commit`` each batch's offsets are committed when the next one is asked for (and
        at the end): a batch whose processing raised is delivered again (at least once).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     s = lake.streams.create("e", schema={"v": "int64"})
            ...     _ = s.append([{"v": i} for i in range(5)])
            ...     [b.num_rows for b in s.consume("g", max_records=2, timeout=0)]
            [2, 2, 1]
        """
        c = self.consumer(group, start=start)
        try:
            while True:
                batch = c.poll(max_records=max_records, timeout=timeout)
                if batch is None:
                    return
                yield batch
                if commit and group is not None:
                    c.commit()
        finally:
            c.close()

    def groups(self) -> builtins.list[str]:
        return self.backend.groups(self.spec)

    def committed(self, group: str) -> dict[int, int]:
        """The group's committed offsets (partition -> next offset)."""
        return self.backend.committed(self.spec, _group(group))

    def lag(self, group: str) -> dict[int, int]:
        """Records per partition appended and not yet committed by the group."""
        done = self.committed(group)
        return {k: max(n - max(done.get(k, 0), f), 0) for k, (f, n) in enumerate(self.bounds())}

    def trim(self) -> int:
        """Apply retention now; how many records were dropped."""
        return self.backend.trim(self.spec, time.time_ns() // 1000)


def _group(group: str) -> str:
    return validate_name("alias", group, "consumer group")


def with_meta(rec: Records, partition: int) -> pa.RecordBatch:
    n = len(rec)
    b = rec.batch
    b = b.append_column("_partition", pa.array(np.full(n, partition, np.int32)))
    b = b.append_column("_offset", pa.array(rec.offsets, pa.int64()))
    return b.append_column("_time", pa.array(rec.times, pa.int64()).cast(pa.timestamp("us", tz="UTC")))


class Consumer:
    """Reads a stream's partitions (all, or the group's share of them) from positions it
    keeps; ``commit`` stores them for the group. Not thread-safe (one per thread).

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     s = lake.streams.create("e", schema={"v": "int64"})
        ...     _ = s.append([{"v": 1}, {"v": 2}])
        ...     c = s.consumer("g")
        ...     c.poll(max_records=1).column("v").to_pylist(), c.position
        ...     c.commit(); c.seek(0); c.poll().column("v").to_pylist()
        ...     c.close()
        ([1], {0: 1})
        [1, 2]
    """

    def __init__(self, stream: Stream, group: str | None, *, start: str, session_timeout: float) -> None:
        if start not in ("earliest", "latest"):
            raise InvalidArgument(f"start must be 'earliest' or 'latest', got {start!r}")
        if not 0.5 <= session_timeout <= 3600:
            raise InvalidArgument(f"session_timeout must be 0.5-3600 seconds, got {session_timeout!r}")
        self.stream = stream
        self.group = _group(group) if group is not None else None
        self.member = uuid.uuid4().hex[:16]
        self.start = start
        self.ttl = float(session_timeout)
        self.position: dict[int, int] = {}
        self._assigned: builtins.list[int] = []
        self._beat = 0.0
        self._next = 0  # round-robin start among assigned partitions
        self._closed = False
        self._rebalance(force=True)

    @property
    def backend(self) -> StreamBackend:
        return self.stream.backend

    def assignment(self) -> builtins.list[int]:
        """The partitions this consumer reads now."""
        self._rebalance()
        return list(self._assigned)

    def _rebalance(self, force: bool = False) -> None:
        spec = self.stream.spec
        now = time.monotonic()
        if self.group is None:
            parts = list(range(spec.partitions))
        else:
            if not force and now - self._beat < self.ttl / 3:
                return
            members = self.backend.heartbeat(spec, self.group, self.member, self.ttl)
            self._beat = now
            rank, n = members.index(self.member), len(members)
            parts = [k for k in range(spec.partitions) if k % n == rank]
        if parts == self._assigned and not force:
            return
        new = [k for k in parts if k not in self.position]
        committed = self.backend.committed(spec, self.group) if self.group is not None and new else {}
        bounds = self.backend.bounds(spec) if new else []
        for k in new:
            if k in committed:
                self.position[k] = committed[k]
            else:
                self.position[k] = bounds[k][0] if self.start == "earliest" else bounds[k][1]
        for k in list(self.position):
            if k not in parts:
                del self.position[k]
        self._assigned = parts

    def poll(self, max_records: int = 1000, timeout: float | None = 1.0) -> pa.RecordBatch | None:
        """The next records of the assigned partitions (up to ``max_records``, taken
        round-robin), with ``_partition``, ``_offset`` and ``_time`` columns; None when
        none arrives within ``timeout`` seconds (None: wait forever)."""
        if self._closed:
            raise InvalidArgument("this consumer is closed")
        if not isinstance(max_records, int) or isinstance(max_records, bool) or not 1 <= max_records <= 1_000_000:
            raise InvalidArgument(f"max_records must be 1..1000000, got {max_records!r}")
        spec = self.stream.spec
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            self._rebalance()
            batches: builtins.list[pa.RecordBatch] = []
            want = max_records
            parts = self._assigned
            for j in range(len(parts)):
                if want <= 0:
                    break
                k = parts[(self._next + j) % len(parts)]
                rec = self.backend.read(spec, k, self.position[k], want)
                if len(rec):
                    batches.append(with_meta(rec, k))
                    self.position[k] = int(rec.offsets[-1]) + 1
                    want -= len(rec)
            if parts:
                self._next = (self._next + 1) % len(parts)
            if batches:
                if len(batches) == 1:
                    return batches[0]
                return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            wait = min(left if left is not None else self.ttl / 3, self.ttl / 3)
            if parts:
                self.backend.wait(spec, {k: self.position[k] for k in parts}, wait)
            else:
                time.sleep(min(wait, 0.05))

    def commit(self, offsets: dict[int, int] | None = None) -> None:
        """Store the group's offsets: ``offsets`` (partition -> next offset to read), or
        the positions of what this consumer has polled, for its assigned partitions."""
        if self.group is None:
            raise InvalidArgument("a consumer without a group has nothing to commit; pass group=")
        if offsets is None:
            offsets = {k: self.position[k] for k in self._assigned}
        for k, o in offsets.items():
            self.stream._check_partition(k)
            if isinstance(o, bool) or not isinstance(o, int) or o < 0:
                raise InvalidArgument(f"offsets must be integers >= 0, got {o!r} for partition {k}")
        if offsets:
            self.backend.commit(self.stream.spec, self.group, offsets)

    def seek(self, offset: int | None = None, *, time: datetime | None = None, partition: int | None = None) -> None:
        """Move the position of one partition (or every assigned one) to ``offset``, or
        to the first record appended at or after ``time``."""
        if (offset is None) == (time is None):
            raise InvalidArgument("seek needs offset= or time=, one of them")
        parts = [partition] if partition is not None else list(self._assigned)
        for k in parts:
            self.stream._check_partition(k)
            if offset is not None:
                if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                    raise InvalidArgument(f"offset must be an integer >= 0, got {offset!r}")
                self.position[k] = offset
            else:
                assert time is not None
                t = time if time.tzinfo is not None else time.replace(tzinfo=UTC)
                us = int((t - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
                self.position[k] = self.backend.offset_for_time(self.stream.spec, k, us)

    def lag(self) -> dict[int, int]:
        """Records per assigned partition after this consumer's position."""
        bounds = self.stream.bounds()
        return {k: max(bounds[k][1] - max(self.position[k], bounds[k][0]), 0) for k in self._assigned}

    def close(self) -> None:
        """Leave the group (its partitions go to the other members at their next poll)."""
        if self._closed:
            return
        self._closed = True
        if self.group is not None:
            self.backend.leave(self.stream.spec, self.group, self.member)

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def event_times_us(batch: pa.RecordBatch | pa.Table, column: str) -> np.ndarray:
    """A timestamp column as UTC microseconds (int64 numpy)."""
    col = batch.column(column)
    return np.asarray(pc.cast(col.cast(pa.timestamp("us", tz=col.type.tz)), pa.int64()).to_numpy(zero_copy_only=False))
