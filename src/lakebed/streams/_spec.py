"""A stream's definition: schema, key, event-time field, partitions, retention, dedup.

Every backend stores the definition as JSON beside its data (the embedded log in
``streams/<name>/stream.json``, JetStream in a KV bucket, Redis in a hash), so a stream
describes itself to any lake that opens the same backend.

Example:
    >>> from datetime import timedelta
    >>> spec = StreamSpec.build("clicks", schema={"user_id": "int64", "ts": "timestamp[us, tz=UTC]"},
    ...                         key="user_id", event_time="ts", partitions=4, retention=timedelta(days=7))
    >>> spec.partition_of([1, 2, 1])
    [3, 1, 3]
    >>> StreamSpec.from_json(spec.to_json()) == spec
    True
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

import pyarrow as pa

from lakebed._names import validate_name
from lakebed.api._streams import StreamAPI
from lakebed.errors import InvalidArgument, SchemaError

MAX_PARTITIONS = 256
RESERVED = ("_partition", "_offset", "_time", "_id")
"""Columns a consumed batch carries besides the stream's own (where each record sits in the
log and when it was appended), and ``_id``, the message ids the embedded log stores and the
server's Arrow bodies carry."""


def check_stream_name(name: Any) -> str:
    """Stream names follow the table rule (an identifier), as they become directory,
    subject and key names."""
    return validate_name("table", name, "stream")


def _parse_schema(schema: Any) -> pa.Schema:
    from lakebed.features._definitions import parse_dtype

    if isinstance(schema, pa.Schema):
        fields = list(schema)
    elif isinstance(schema, dict) and schema:
        fields = [pa.field(n, parse_dtype(t)) for n, t in schema.items()]
    else:
        raise SchemaError("a stream needs schema={'column': 'type', ...} (or a pyarrow.Schema) with one column or more")
    out = []
    for f in fields:
        validate_name("feature", f.name, "stream column")
        if f.name in RESERVED:
            raise SchemaError(f"stream column {f.name!r} is reserved ({', '.join(RESERVED)} are lakebed's); "
                              "rename it")
        out.append(pa.field(f.name, parse_dtype(f.type)))
    return pa.schema(out)


def _hash_key(value: Any) -> int:
    """A stable hash of a key value (the same in every process, backend and version):
    CRC-32 of the value's text form (integers in decimal, strings as UTF-8)."""
    if isinstance(value, bytes):
        return zlib.crc32(value)
    return zlib.crc32(str(value).encode())


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """What ``lake.streams.create`` records. Build one with :meth:`build`, which checks it."""

    name: str
    schema: pa.Schema
    key: str | None
    event_time: str | None
    partitions: int
    retention_us: int | None  # drop records appended longer ago than this
    retention_bytes: int | None  # per partition, drop the oldest beyond this size
    id_field: str | None  # a column holding each record's message id (idempotent appends)
    dedup_window_us: int  # how long a message id is remembered
    description: str = ""

    @classmethod
    def build(
        cls,
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
    ) -> StreamSpec:
        check_stream_name(name)
        arrow = _parse_schema(schema)
        for what, col in (("key", key), ("event_time", event_time), ("id_field", id_field)):
            if col is not None and col not in arrow.names:
                raise SchemaError(f"stream {name!r}: {what}={col!r} is not a column; columns: {arrow.names}")
        if event_time is not None and not pa.types.is_timestamp(arrow.field(event_time).type):
            raise SchemaError(f"stream {name!r}: event_time {event_time!r} must be a timestamp column, "
                              f"not {arrow.field(event_time).type}")
        if id_field is not None and not pa.types.is_string(arrow.field(id_field).type):
            raise SchemaError(f"stream {name!r}: id_field {id_field!r} must be a string column")
        if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= MAX_PARTITIONS:
            raise InvalidArgument(f"stream {name!r}: partitions must be an integer 1..{MAX_PARTITIONS}, "
                                  f"got {partitions!r}")
        if partitions > 1 and key is None:
            raise InvalidArgument(f"stream {name!r}: {partitions} partitions need key= (the column that picks "
                                  "a record's partition, so one key's records stay in order)")
        ret_us = _delta_us(retention, "retention") if retention is not None else None
        if retention_bytes is not None and (isinstance(retention_bytes, bool) or not isinstance(retention_bytes, int)
                                            or retention_bytes < 1 << 20):
            raise InvalidArgument(f"stream {name!r}: retention_bytes must be an integer >= 1 MiB, "
                                  f"got {retention_bytes!r}")
        dedup = _delta_us(dedup_window, "dedup_window")
        return cls(name, arrow, key, event_time, partitions, ret_us, retention_bytes, id_field, dedup, description)

    def partition_of(self, keys: Sequence[Any]) -> list[int]:
        """The partition of each key value."""
        if self.partitions == 1:
            return [0] * len(keys)
        n = self.partitions
        return [_hash_key(k) % n for k in keys]

    def partition_array(self, keys: pa.Array | pa.ChunkedArray) -> Any:
        """:meth:`partition_of` over an Arrow column, as a numpy int array."""
        import numpy as np

        if self.partitions == 1:
            return np.zeros(len(keys), np.int64)
        if pa.types.is_timestamp(keys.type) or pa.types.is_date(keys.type):
            raise SchemaError(f"stream {self.name!r}: a key must be a number or a string, not {keys.type}")
        n = self.partitions
        crc = zlib.crc32
        values = keys.to_pylist()
        return np.fromiter((crc(str(v).encode()) % n for v in values), np.int64, len(values))

    def to_json(self) -> str:
        from lakebed.features._definitions import dtype_name

        return json.dumps({
            "name": self.name,
            "schema": [[f.name, dtype_name(f.type)] for f in self.schema],
            "key": self.key, "event_time": self.event_time, "partitions": self.partitions,
            "retention_us": self.retention_us, "retention_bytes": self.retention_bytes,
            "id_field": self.id_field, "dedup_window_us": self.dedup_window_us,
            "description": self.description,
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> StreamSpec:
        d = json.loads(text)
        return cls(d["name"], _parse_schema(dict(d["schema"])), d["key"], d["event_time"], d["partitions"],
                   d["retention_us"], d["retention_bytes"], d["id_field"], d["dedup_window_us"],
                   d.get("description", ""))

    def describe(self) -> dict[str, Any]:
        """A plain dict for listings (the CLI, the server)."""
        return {
            "name": self.name,
            "schema": {f.name: str(f.type) for f in self.schema},
            "key": self.key, "event_time": self.event_time, "partitions": self.partitions,
            "retention": timedelta(microseconds=self.retention_us) if self.retention_us else None,
            "retention_bytes": self.retention_bytes, "id_field": self.id_field,
        }


def _delta_us(value: Any, what: str) -> int:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidArgument(f"{what} must be a positive datetime.timedelta, got {value!r}")
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


class Position(NamedTuple):
    """Where an appended record sits: its partition and offset."""

    partition: int
    offset: int


class ConsumeLoop(StreamAPI):
    """``consume()`` as a loop over ``consumer()``: the same for an embedded stream and
    one reached through a server, so it is written once."""

    def consume(
        self, group: str | None = None, *, max_records: int = 1000, timeout: float | None = 1.0,
        start: str = "earliest", commit: bool = True,
    ) -> Iterator[pa.RecordBatch]:
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
