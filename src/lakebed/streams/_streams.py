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
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakebed.api._streams import SESSION_TIMEOUT_S, StreamsAPI
from lakebed.errors import InvalidArgument, NotFound
from lakebed.streams._backend import Records, StreamBackend
from lakebed.streams._consumer import GroupConsumer, check_group
from lakebed.streams._rows import validate_rows
from lakebed.streams._spec import ConsumeLoop, Position, StreamSpec, check_stream_name

if TYPE_CHECKING:
    from lakebed.lake import Lake

_GROUP_TTL_S = SESSION_TIMEOUT_S


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


class Streams(StreamsAPI):
    """The streams of a lake (``lake.streams``): the embedded
    :class:`lakebed.api.StreamsAPI` (its methods are documented there)."""

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
        return Stream(self, self._spec(name))

    __getitem__ = get

    def exists(self, name: str) -> bool:
        return self.backend.load_spec(check_stream_name(name)) is not None

    def list(self) -> builtins.list[str]:
        return [s.name for s in self.backend.list_specs()]

    def drop(self, name: str) -> None:
        self.lake.check_writable()
        spec = self._spec(name)
        self.backend.drop(spec)
        self._specs.pop(name, None)

    def describe(self) -> builtins.list[dict[str, Any]]:
        out = []
        for spec in self.backend.list_specs():
            s = Stream(self, spec)
            bounds = s.bounds()
            out.append({**spec.describe(), "backend": self.backend.name,
                        "records": sum(n - f for f, n in bounds), "appended": sum(n for _, n in bounds),
                        "groups": {g: sum(s.lag(g).values()) for g in s.groups()}})
        return out

    def flush(self) -> None:
        flush = getattr(self._backend, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        """Close the backend (the lake does at its close)."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None


class Stream(ConsumeLoop):
    """One stream: append, read, consume with groups, bounds and lag; the embedded
    :class:`lakebed.api.StreamAPI` (its methods are documented there)."""

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
        """The backend of the lake's streams (engine plumbing: the stream processor reads
        through it)."""
        return self._area.backend

    def __repr__(self) -> str:
        return f"<Stream {self.name} partitions={self.partitions} backend={self.backend.name}>"

    # -- append ------------------------------------------------------------------------
    def validate(self, rows: Any) -> pa.Table:
        return validate_rows(self.spec, rows)

    def append(self, rows: Any, *, ids: Sequence[str] | None = None) -> builtins.list[Position]:
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
        return self.backend.bounds(self.spec)

    def end_offsets(self) -> dict[int, int]:
        return {k: n for k, (_, n) in enumerate(self.bounds())}

    def read(self, partition: int = 0, offset: int = 0, max_records: int = 10_000) -> pa.RecordBatch:
        self._check_partition(partition)
        return with_meta(self.backend.read(self.spec, partition, offset, max_records), partition)

    def _check_partition(self, partition: int) -> None:
        if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < self.partitions:
            raise InvalidArgument(f"stream {self.name!r} has partitions 0..{self.partitions - 1}, got {partition!r}")

    def consumer(self, group: str | None = None, *, start: str = "earliest",
                 session_timeout: float = _GROUP_TTL_S) -> Consumer:
        return Consumer(self, group, start=start, session_timeout=session_timeout)


    def groups(self) -> builtins.list[str]:
        return self.backend.groups(self.spec)

    def committed(self, group: str) -> dict[int, int]:
        return self.backend.committed(self.spec, check_group(group))

    def lag(self, group: str) -> dict[int, int]:
        done = self.committed(group)
        return {k: max(n - max(done.get(k, 0), f), 0) for k, (f, n) in enumerate(self.bounds())}

    def trim(self) -> int:
        return self.backend.trim(self.spec, time.time_ns() // 1000)


def with_meta(rec: Records, partition: int) -> pa.RecordBatch:
    n = len(rec)
    b = rec.batch
    b = b.append_column("_partition", pa.array(np.full(n, partition, np.int32)))
    b = b.append_column("_offset", pa.array(rec.offsets, pa.int64()))
    return b.append_column("_time", pa.array(rec.times, pa.int64()).cast(pa.timestamp("us", tz="UTC")))


class Consumer(GroupConsumer):
    """Reads a stream's partitions (all, or the group's share of them) from positions it
    keeps; ``commit`` stores them for the group. Not thread-safe (one per thread). The
    embedded :class:`lakebed.api.ConsumerAPI` (its methods are documented there).

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

    stream: Stream

    @property
    def _backend(self) -> StreamBackend:
        return self.stream.backend

    def _members(self) -> builtins.list[str]:
        assert self.group is not None
        return self._backend.heartbeat(self.stream.spec, self.group, self.member, self.ttl)

    def _committed(self) -> dict[int, int]:
        assert self.group is not None
        return self._backend.committed(self.stream.spec, self.group)

    def _read(self, partition: int, offset: int, max_records: int) -> pa.RecordBatch:
        return with_meta(self._backend.read(self.stream.spec, partition, offset, max_records), partition)

    def _idle(self, parts: builtins.list[int], left: float | None) -> None:
        wait = min(left if left is not None else self.ttl / 3, self.ttl / 3)
        if parts:
            self._backend.wait(self.stream.spec, {k: self.position[k] for k in parts}, wait)
        else:
            time.sleep(min(wait, 0.05))

    def _store(self, offsets: dict[int, int]) -> None:
        assert self.group is not None
        self._backend.commit(self.stream.spec, self.group, offsets)

    def _offset_for_time(self, partition: int, time_us: int) -> int:
        return self._backend.offset_for_time(self.stream.spec, partition, time_us)

    def _leave(self) -> None:
        assert self.group is not None
        self._backend.leave(self.stream.spec, self.group, self.member)


def event_times_us(batch: pa.RecordBatch | pa.Table, column: str) -> np.ndarray:
    """A timestamp column as UTC microseconds (int64 numpy)."""
    col = batch.column(column)
    return np.asarray(pc.cast(col.cast(pa.timestamp("us", tz=col.type.tz)), pa.int64()).to_numpy(zero_copy_only=False))
