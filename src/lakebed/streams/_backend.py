"""The interface every stream backend implements, and the record codec of the brokers.

A backend stores, per stream, ``partitions`` ordered logs of records. Offsets are per
partition, start at 0 and have no gaps (a deduplicated append takes no new offset); the
first retained offset grows as retention drops old records. Each record has an append
time (UTC microseconds, set by the backend: non-decreasing within a partition), which
``seek(time)`` and retention by age use.

Three backends: ``embedded`` (a CRC-framed segment log inside the lake), ``nats``
(JetStream: one stream per partition) and ``redis`` (Redis Streams: one key per
partition). ``tests/streams/test_streams_congruence.py`` runs the same calls against
all three and compares every answer.

Consumer groups are lakebed's own on every backend (the brokers' groups deliver and
acknowledge single messages; lakebed's commit an offset per partition): a backend stores
committed offsets and a membership table with heartbeats; :class:`lakebed.streams.Consumer`
assigns partitions from it.

Example:
    >>> import pyarrow as pa
    >>> from lakebed.streams._spec import StreamSpec
    >>> spec = StreamSpec.build("s", schema={"a": "int64", "t": "timestamp[us, tz=UTC]"})
    >>> batch = pa.record_batch({"a": [1], "t": pa.array([5], pa.timestamp("us", tz="UTC"))})
    >>> payloads = encode_records(batch, spec)
    >>> payloads
    [b'{"a":1,"t":5}']
    >>> decode_records(payloads, spec).to_pylist()[0]["a"]
    1
"""

from __future__ import annotations

import base64
import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from lakebed.errors import CorruptionError
from lakebed.streams._spec import StreamSpec


@dataclasses.dataclass
class Records:
    """Records read from one partition: the stream's columns, their offsets and append
    times (int64 arrays of the same length)."""

    batch: pa.RecordBatch
    offsets: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return int(self.batch.num_rows)


def empty_records(spec: StreamSpec) -> Records:
    return Records(pa.RecordBatch.from_pylist([], schema=spec.schema), np.empty(0, np.int64), np.empty(0, np.int64))


class StreamBackend(ABC):
    """One backend of a lake's streams. Thread-safe. Every method that names a stream
    gets its :class:`StreamSpec` (the caller has it; backends need not read it again)."""

    name: str = "base"

    # -- definitions -------------------------------------------------------------------
    @abstractmethod
    def create(self, spec: StreamSpec) -> None:
        """Store the definition and make the partitions. If the stream exists, raise
        :class:`lakebed.errors.AlreadyExists`."""

    @abstractmethod
    def load_spec(self, name: str) -> StreamSpec | None:
        """The stored definition, or None."""

    @abstractmethod
    def list_specs(self) -> list[StreamSpec]:
        """Every stream's definition, sorted by name."""

    @abstractmethod
    def drop(self, spec: StreamSpec) -> None:
        """Delete the stream: definition, records, group offsets and members."""

    # -- records -----------------------------------------------------------------------
    @abstractmethod
    def append(self, spec: StreamSpec, parts: dict[int, tuple[pa.RecordBatch, list[str]]], *,
               generated: bool = False) -> dict[int, list[int]]:
        """Append each partition's batch (the stream's columns, validated) with one
        message id per record; return the offset of every record, in order. A record
        whose id was appended within ``spec.dedup_window_us`` is not appended again: its
        offset is the earlier record's (so is a repeat inside one call). When this
        returns, the records are durable as the backend promises (see docs/streams.md).
        Appends to one partition from one process keep the call's order. ``generated``:
        lakebed made the ids (unique by construction); a backend that cannot resend on
        its own (the embedded log) need not remember them."""

    read_ahead = False
    """Whether a reader may call :meth:`read` from a second thread while it works on the
    previous batch (a network backend whose reads wait on the server)."""

    @abstractmethod
    def read(self, spec: StreamSpec, partition: int, offset: int, max_records: int) -> Records:
        """Up to ``max_records`` records of ``partition`` from ``offset`` on (fewer when
        fewer exist; none when ``offset`` is at the end). An offset below the first
        retained one reads from the first retained one."""

    @abstractmethod
    def bounds(self, spec: StreamSpec) -> list[tuple[int, int]]:
        """Per partition: (first retained offset, next offset to be appended)."""

    @abstractmethod
    def offset_for_time(self, spec: StreamSpec, partition: int, time_us: int) -> int:
        """The first retained offset whose append time is >= ``time_us`` (the next
        offset when there is none)."""

    @abstractmethod
    def wait(self, spec: StreamSpec, positions: dict[int, int], timeout: float) -> bool:
        """Block until some partition in ``positions`` has a record at or after its
        position, or ``timeout`` seconds pass; True if one has. May return True early
        (callers read and wait again)."""

    @abstractmethod
    def trim(self, spec: StreamSpec, now_us: int) -> int:
        """Apply retention (age and size); return how many records were dropped. Backends
        also trim on their own during appends."""

    # -- consumer groups ----------------------------------------------------------------
    @abstractmethod
    def committed(self, spec: StreamSpec, group: str) -> dict[int, int]:
        """The group's committed offsets (partition -> next offset to read)."""

    @abstractmethod
    def commit(self, spec: StreamSpec, group: str, offsets: dict[int, int]) -> None:
        """Store offsets for the given partitions (others keep theirs), durably."""

    @abstractmethod
    def heartbeat(self, spec: StreamSpec, group: str, member: str, ttl_s: float) -> list[str]:
        """Register or refresh ``member`` (alive for ``ttl_s`` seconds from now); return
        the group's live members, sorted."""

    @abstractmethod
    def leave(self, spec: StreamSpec, group: str, member: str) -> None:
        """Remove ``member`` at once."""

    @abstractmethod
    def groups(self, spec: StreamSpec) -> list[str]:
        """Groups with committed offsets, sorted."""

    @abstractmethod
    def close(self) -> None:
        """Release files and connections."""


# -- the per-record codec of the broker backends ----------------------------------------
def _wire(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t):
        return pa.int64()
    if pa.types.is_date32(t):
        return pa.int32()
    if pa.types.is_binary(t):
        return pa.string()
    if pa.types.is_list(t):
        return pa.list_(_wire(t.value_type))
    return t


def wire_schema(spec: StreamSpec) -> pa.Schema:
    """The schema records take as JSON: timestamps as UTC microseconds, dates as days,
    binary as base64 text."""
    return pa.schema([pa.field(f.name, _wire(f.type)) for f in spec.schema])


def _texts(col: pa.Array, t: pa.DataType, dumps: Any) -> list[bytes]:
    """One column's values as JSON texts: numbers, booleans and nulls of the whole column
    in one orjson call split at the commas (orjson writes NaN and infinities as null),
    text through the json module's C string escaper, the rest value by value."""
    if pa.types.is_timestamp(t) or pa.types.is_date32(t):
        col = col.cast(_wire(t))
        t = col.type
    if not len(col):
        return []
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t):
        return dumps(col.to_pylist())[1:-1].split(b",")  # type: ignore[no-any-return]
    esc = json.encoder.encode_basestring
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return [b"null" if v is None else esc(v).encode() for v in col.to_pylist()]
    if pa.types.is_binary(t):
        return [b"null" if v is None else b'"' + base64.b64encode(v) + b'"' for v in col.to_pylist()]
    return [dumps(v) for v in col.to_pylist()]


def encode_records(batch: pa.RecordBatch, spec: StreamSpec) -> list[bytes]:
    """One JSON object per record, for brokers that store one message each: each column
    is written as a whole (see :func:`_texts`), then each record from a template."""
    import orjson

    cols = [_texts(col, f.type, orjson.dumps) for f, col in zip(spec.schema, batch.columns, strict=True)]
    fmt = b"{" + b",".join(orjson.dumps(n).replace(b"%", b"%%") + b":%b" for n in spec.schema.names) + b"}"
    return [fmt % row for row in zip(*cols, strict=True)]


def decode_records(payloads: Sequence[bytes], spec: StreamSpec, where: str = "") -> pa.RecordBatch:
    """The inverse of :func:`encode_records`; a payload that is not a record of the
    stream raises CorruptionError naming ``where``."""
    return decode_lines(b"\n".join(payloads), len(payloads), spec, where)


def decode_lines(text: bytes, n: int, spec: StreamSpec, where: str = "") -> pa.RecordBatch:
    """``n`` records of :func:`encode_records` joined by line breaks (which the codec
    never writes inside a record), parsed by Arrow's JSON reader in one call outside the
    GIL. A text that does not hold ``n`` records of the stream, each with every field,
    raises CorruptionError naming ``where``."""
    import pyarrow.json as pj

    if n == 0:
        return empty_records(spec).batch
    try:
        lines = text.count(b"\n") + 1
        if lines != n:
            raise ValueError(f"{n} records expected, found {lines} lines")
        for name in spec.schema.names:
            # every field of every record: Arrow's reader would take a missing one as null
            if text.count(b'"' + name.encode() + b'":') < n:
                raise ValueError(f"a record without the field {name!r}")
        table = pj.read_json(
            pa.BufferReader(text),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(text) + 1),
            parse_options=pj.ParseOptions(explicit_schema=wire_schema(spec), unexpected_field_behavior="error"),
        )
        if table.num_rows != n:
            raise ValueError(f"{n} records expected, read {table.num_rows}")
        cols = []
        for f, col in zip(spec.schema, table.columns, strict=True):
            if pa.types.is_binary(f.type):
                cols.append(pa.array([None if v is None else base64.b64decode(v) for v in col.to_pylist()],
                                     pa.binary()))
            else:
                cols.append(col.combine_chunks().cast(f.type))
        return pa.RecordBatch.from_arrays(cols, schema=spec.schema)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise CorruptionError(
            f"stream {spec.name!r}{' ' + where if where else ''} holds a record that is not one of the stream's "
            f"({exc}); something else wrote to it: drop the stream or remove that message"
        ) from None
