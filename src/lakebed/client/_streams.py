"""``lake.streams`` of a served lake: producers append and consumers read through the
server, which is the lake's writer (with the embedded stream log no other process may
append while it runs).

The classes implement the interfaces of :mod:`lakebed.api` (:class:`~lakebed.api.StreamsAPI`,
:class:`~lakebed.api.StreamAPI`, :class:`~lakebed.api._streams.ConsumerAPI`) with the
embedded methods and signatures. A remote consumer with a group is a member of the group
like an embedded one: it sends the server heartbeats, gets its share of the partitions
and commits the group's offsets; it asks the server for records every 0.1 s while the
stream is idle.

Example:
    >>> import lakebed
    >>> lake = lakebed.connect("http://127.0.0.1:8765", api_key="lb_...")        # doctest: +SKIP
    >>> clicks = lake.streams.get("clicks")                                      # doctest: +SKIP
    >>> clicks.append([{"user_id": 1, "item": "a"}], ids=["m1"])                 # doctest: +SKIP
    [Position(partition=0, offset=0)]
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pyarrow as pa

from lakebed.api._streams import SESSION_TIMEOUT_S, StreamsAPI
from lakebed.client._http import Http
from lakebed.errors import InvalidArgument, NotFound
from lakebed.streams._consumer import GroupConsumer, check_group, one_batch
from lakebed.streams._rows import validate_rows
from lakebed.streams._spec import ConsumeLoop, Position, StreamSpec, check_stream_name

MAX_READ_RECORDS = 100_000  # what one GET .../records returns at most (the server's cap)
_POLL_S = 0.1  # how often a consumer asks for new records when there were none
ID_COLUMN = "_id"  # the Arrow append body's column of message ids


def _describe(entry: dict[str, Any]) -> dict[str, Any]:
    retention = entry.get("retention")
    return {**entry, "retention": None if retention is None else timedelta(seconds=retention)}


class RemoteStreams(StreamsAPI):
    """``lake.streams`` of a served lake (see :class:`lakebed.api.StreamsAPI`)."""

    def __init__(self, http: Http) -> None:
        self._http = http

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
    ) -> RemoteStream:
        # the definition is checked here first, with the embedded messages
        from lakebed.features._definitions import dtype_name

        spec = StreamSpec.build(name, schema=schema, key=key, event_time=event_time, partitions=partitions,
                                retention=retention, retention_bytes=retention_bytes, id_field=id_field,
                                dedup_window=dedup_window, description=description)
        body = {
            "name": spec.name, "schema": {f.name: dtype_name(f.type) for f in spec.schema}, "key": key,
            "event_time": event_time, "partitions": partitions,
            "retention": None if retention is None else retention.total_seconds(),
            "retention_bytes": retention_bytes, "id_field": id_field,
            "dedup_window": dedup_window.total_seconds(), "description": description, "exist_ok": exist_ok,
        }
        return RemoteStream(self._http, _spec(self._http.request("POST", "/v1/streams", json=body)))

    def get(self, name: str) -> RemoteStream:
        check_stream_name(name)
        return RemoteStream(self._http, _spec(self._http.request("GET", f"/v1/streams/{name}")))

    __getitem__ = get

    def exists(self, name: str) -> bool:
        check_stream_name(name)
        try:
            self._http.request("GET", f"/v1/streams/{name}")
        except NotFound:
            return False
        return True

    def list(self) -> builtins.list[str]:
        return [d["name"] for d in self._http.request("GET", "/v1/streams")]

    def drop(self, name: str) -> None:
        check_stream_name(name)
        self._http.request("DELETE", f"/v1/streams/{name}")

    def describe(self) -> builtins.list[dict[str, Any]]:
        return [_describe(d) for d in self._http.request("GET", "/v1/streams")]

    def flush(self) -> None:
        self._http.request("POST", "/v1/streams/flush", idempotent=True)


def _spec(answer: dict[str, Any]) -> StreamSpec:
    return StreamSpec.from_json(json.dumps(answer["spec"]))


class RemoteStream(ConsumeLoop):
    """One stream of a served lake (see :class:`lakebed.api.StreamAPI`)."""

    def __init__(self, http: Http, spec: StreamSpec) -> None:
        self._http = http
        self.spec = spec
        self._path = f"/v1/streams/{spec.name}"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def schema(self) -> pa.Schema:
        return self.spec.schema

    @property
    def partitions(self) -> int:
        return self.spec.partitions

    def __repr__(self) -> str:
        return f"<RemoteStream {self.name} partitions={self.partitions} url={self._http.url}>"

    def _check_partition(self, partition: int) -> None:
        if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < self.partitions:
            raise InvalidArgument(f"stream {self.name!r} has partitions 0..{self.partitions - 1}, got {partition!r}")

    # -- append ------------------------------------------------------------------------
    def validate(self, rows: Any) -> pa.Table:
        return validate_rows(self.spec, rows)

    def append(self, rows: Any, *, ids: Sequence[str] | None = None) -> builtins.list[Position]:
        from lakebed.tables._arrow import to_arrow

        try:
            data = to_arrow(rows, self.schema)
        except InvalidArgument as exc:
            raise InvalidArgument(f"append to stream {self.name!r}: {exc}") from None
        table = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
        if ids is not None:
            if isinstance(ids, str) or len(ids) != table.num_rows:
                raise InvalidArgument(f"append to stream {self.name!r}: ids must be a list with one id per row "
                                      f"({table.num_rows} rows)")
            if ID_COLUMN in self.schema.names or ID_COLUMN in table.column_names:
                raise InvalidArgument(f"append to stream {self.name!r}: the column {ID_COLUMN!r} carries the ids "
                                      "over HTTP; rename the stream's column")
            table = table.append_column(ID_COLUMN, pa.array([str(i) for i in ids], pa.string()))
        idempotent = ids is not None or self.spec.id_field is not None
        out = self._http.request("POST", f"{self._path}/append", arrow=table, idempotent=idempotent)
        return [Position(p, o) for p, o in zip(out["partitions"], out["offsets"], strict=True)]

    # -- reading -----------------------------------------------------------------------
    def bounds(self) -> builtins.list[tuple[int, int]]:
        return [(int(f), int(n)) for f, n in self._http.request("GET", self._path)["bounds"]]

    def end_offsets(self) -> dict[int, int]:
        return {k: n for k, (_, n) in enumerate(self.bounds())}

    def read(self, partition: int = 0, offset: int = 0, max_records: int = 10_000) -> pa.RecordBatch:
        self._check_partition(partition)
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise InvalidArgument(f"max_records must be an integer >= 1, got {max_records!r}")
        batches: builtins.list[pa.RecordBatch] = []
        left = max_records
        while True:
            want = min(left, MAX_READ_RECORDS)
            table: pa.Table = self._http.request(
                "GET", f"{self._path}/records", params={"partition": partition, "offset": offset, "max_records": want},
                expect_arrow=True)
            batches.extend(b for b in table.to_batches() if b.num_rows)
            left -= table.num_rows
            if table.num_rows < want or left <= 0:  # fewer than asked: the partition's end
                return one_batch(batches, table.schema)
            offset = int(table.column("_offset")[-1].as_py()) + 1

    def consumer(self, group: str | None = None, *, start: str = "earliest",
                 session_timeout: float = SESSION_TIMEOUT_S) -> RemoteConsumer:
        return RemoteConsumer(self, group, start=start, session_timeout=session_timeout)


    def groups(self) -> builtins.list[str]:
        return builtins.list(self._http.request("GET", f"{self._path}/groups"))

    def committed(self, group: str) -> dict[int, int]:
        check_group(group)
        return _ints(self._http.request("GET", f"{self._path}/groups/{group}"))

    def lag(self, group: str) -> dict[int, int]:
        check_group(group)
        return _ints(self._http.request("GET", f"{self._path}/lag", params={"group": group}))

    def trim(self) -> int:
        return int(self._http.request("POST", f"{self._path}/trim", idempotent=True)["dropped"])


class RemoteConsumer(GroupConsumer):
    """A consumer of a served lake's stream (see :class:`lakebed.api._streams.ConsumerAPI`):
    the embedded consumer's logic over the server's routes. With a group it is a member
    of it: heartbeats (at most every third of ``session_timeout``) tell the server it is
    alive and answer the live members, among which partitions are shared as the
    embedded consumer shares them (embedded and remote members of one group cooperate)."""

    stream: RemoteStream

    def __init__(self, stream: RemoteStream, group: str | None, *, start: str, session_timeout: float) -> None:
        self._http = stream._http
        super().__init__(stream, group, start=start, session_timeout=session_timeout)

    def __repr__(self) -> str:
        return f"<RemoteConsumer {self.stream.name} group={self.group} member={self.member}>"

    def _member_path(self) -> str:
        return f"{self.stream._path}/groups/{self.group}/members/{self.member}"

    def _members(self) -> builtins.list[str]:
        answer = self._http.request("POST", self._member_path(), json={"session_timeout": self.ttl},
                                    idempotent=True)
        return [str(m) for m in answer["members"]]

    def _committed(self) -> dict[int, int]:
        assert self.group is not None
        return self.stream.committed(self.group)

    def _read(self, partition: int, offset: int, max_records: int) -> pa.RecordBatch:
        return self.stream.read(partition, offset, max_records)

    def _idle(self, parts: builtins.list[int], left: float | None) -> None:
        time.sleep(_POLL_S if left is None else min(_POLL_S, left))

    def _store(self, offsets: dict[int, int]) -> None:
        body = {"offsets": {str(k): o for k, o in offsets.items()}}
        self._http.request("POST", f"{self.stream._path}/groups/{self.group}/commit", json=body, idempotent=True)

    def _offset_for_time(self, partition: int, time_us: int) -> int:
        answer = self._http.request("GET", f"{self.stream._path}/offset",
                                    params={"partition": partition, "time_us": time_us})
        return int(answer["offset"])

    def _leave(self) -> None:
        self._http.request("DELETE", self._member_path(), idempotent=True)




def _ints(mapping: dict[str, Any]) -> dict[int, int]:
    return {int(k): int(v) for k, v in mapping.items()}


