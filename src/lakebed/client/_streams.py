"""``lake.streams`` of a served lake: producers append and consumers read through the
server, which is the lake's writer (with the embedded stream log no other process may
append while it runs).

The methods and signatures are the embedded ones (:class:`lakebed.streams.Streams`,
:class:`lakebed.streams.Stream`): create, get, list, exists, drop, describe; append,
read, bounds, end_offsets, lag, committed, groups. Beyond them a remote stream has
:meth:`RemoteStream.commit` (embedded: ``stream.consumer(group).commit(offsets)``).

Not offered: group membership. A remote :meth:`RemoteStream.consume` is a simple poll
loop for one process (it reads every partition from the group's committed offsets and
commits as the embedded one does), not a member of the group that shares partitions with
other consumers; there is no remote ``consumer()``, ``trim()`` or ``flush()``.

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
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pyarrow as pa

from lakebed._names import validate_name
from lakebed.client._http import Http
from lakebed.errors import InvalidArgument, NotFound
from lakebed.streams._spec import StreamSpec, check_stream_name
from lakebed.streams._streams import Position

MAX_READ_RECORDS = 100_000  # what one GET .../records returns at most (the server's cap)
_POLL_S = 0.1  # how often consume asks for new records when there were none
ID_COLUMN = "_id"  # the Arrow append body's column of message ids


def _describe(entry: dict[str, Any]) -> dict[str, Any]:
    retention = entry.get("retention")
    return {**entry, "retention": None if retention is None else timedelta(seconds=retention)}


class RemoteStreams:
    """``lake.streams`` of a served lake: the methods of :class:`lakebed.streams.Streams`."""

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
        """Create a stream (see :meth:`lakebed.streams.Streams.create`); the definition is
        checked here first, with the embedded messages."""
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
        """An existing stream (NotFound otherwise)."""
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
        """Stream names (those the key may read), sorted."""
        return [d["name"] for d in self._http.request("GET", "/v1/streams")]

    def drop(self, name: str) -> None:
        """Delete a stream with its records and groups (a key with the admin scope)."""
        check_stream_name(name)
        self._http.request("DELETE", f"/v1/streams/{name}")

    def describe(self) -> builtins.list[dict[str, Any]]:
        """Every stream the key may read: definition, records retained and appended, groups
        and their lag."""
        return [_describe(d) for d in self._http.request("GET", "/v1/streams")]


def _spec(answer: dict[str, Any]) -> StreamSpec:
    return StreamSpec.from_json(json.dumps(answer["spec"]))


class RemoteStream:
    """One stream of a served lake: the methods of :class:`lakebed.streams.Stream` but
    ``consumer`` (group membership is not offered over HTTP)."""

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

    # -- append ------------------------------------------------------------------------
    def append(self, rows: Any, *, ids: Sequence[str] | None = None) -> builtins.list[Position]:
        """Append records (Arrow, pandas, polars, a list of dicts); each record's position,
        in order. The server checks them against the schema: nothing is appended when a
        row does not fit. ``ids`` are message ids (see :meth:`lakebed.streams.Stream.append`).
        Not retried on a lost connection unless ``ids`` (or the stream's ``id_field``)
        make the append idempotent."""
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
        """Per partition: (first retained offset, next offset)."""
        return [(int(f), int(n)) for f, n in self._http.request("GET", self._path)["bounds"]]

    def end_offsets(self) -> dict[int, int]:
        return {k: n for k, (_, n) in enumerate(self.bounds())}

    def read(self, partition: int = 0, offset: int = 0, max_records: int = 10_000) -> pa.RecordBatch:
        """Records of one partition from ``offset`` (no group, nothing committed), with
        the ``_partition``, ``_offset`` and ``_time`` columns; more than the server sends
        at once (100,000) are fetched in several requests."""
        if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < self.partitions:
            raise InvalidArgument(f"stream {self.name!r} has partitions 0..{self.partitions - 1}, got {partition!r}")
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
                return _one_batch(batches, table.schema)
            offset = int(table.column("_offset")[-1].as_py()) + 1

    def groups(self) -> builtins.list[str]:
        return builtins.list(self._http.request("GET", f"{self._path}/groups"))

    def committed(self, group: str) -> dict[int, int]:
        """The group's committed offsets (partition -> next offset)."""
        _group(group)
        return _ints(self._http.request("GET", f"{self._path}/groups/{group}"))

    def lag(self, group: str) -> dict[int, int]:
        """Records per partition appended and not yet committed by the group."""
        _group(group)
        return _ints(self._http.request("GET", f"{self._path}/lag", params={"group": group}))

    def commit(self, group: str, offsets: dict[int, int]) -> dict[int, int]:
        """Store the group's offsets (partition -> next offset to read; other partitions
        keep theirs); the group's committed offsets after it. Embedded, this is
        ``stream.consumer(group).commit(offsets)``."""
        _group(group)
        for k, o in offsets.items():
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.partitions:
                raise InvalidArgument(f"stream {self.name!r} has partitions 0..{self.partitions - 1}, got {k!r}")
            if isinstance(o, bool) or not isinstance(o, int) or o < 0:
                raise InvalidArgument(f"offsets must be integers >= 0, got {o!r} for partition {k}")
        body = {"offsets": {str(k): o for k, o in offsets.items()}}
        return _ints(self._http.request("POST", f"{self._path}/groups/{group}/commit", json=body, idempotent=True))

    def consume(
        self, group: str | None = None, *, max_records: int = 1000, timeout: float | None = 1.0,
        start: str = "earliest", commit: bool = True,
    ) -> Iterator[pa.RecordBatch]:
        """Yield batches until none arrives for ``timeout`` seconds (None: forever), as
        :meth:`lakebed.streams.Stream.consume` does: with ``group`` it starts from the
        group's committed offsets (else ``start``) and, with ``commit``, commits each
        batch's offsets when the next one is asked for. One process only: this loop reads
        every partition and is no member of the group (two of them would read the same
        records); it polls the server every 0.1 s while the stream is idle."""
        if start not in ("earliest", "latest"):
            raise InvalidArgument(f"start must be 'earliest' or 'latest', got {start!r}")
        if isinstance(max_records, bool) or not isinstance(max_records, int) or not 1 <= max_records <= 1_000_000:
            raise InvalidArgument(f"max_records must be 1..1000000, got {max_records!r}")
        if group is not None:
            _group(group)
        done = self.committed(group) if group is not None else {}
        position = {k: done.get(k, f if start == "earliest" else n) for k, (f, n) in enumerate(self.bounds())}
        parts = sorted(position)
        turn = 0
        while True:
            deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
            while True:
                batches: builtins.list[pa.RecordBatch] = []
                want = max_records
                for j in range(len(parts)):
                    if want <= 0:
                        break
                    k = parts[(turn + j) % len(parts)]
                    b = self.read(k, position[k], want)
                    if b.num_rows:
                        batches.append(b)
                        position[k] = int(b.column("_offset")[-1].as_py()) + 1
                        want -= b.num_rows
                turn = (turn + 1) % max(len(parts), 1)
                if batches:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    return
                time.sleep(_POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic())))
            yield _one_batch(batches, batches[0].schema)
            if commit and group is not None:
                self.commit(group, dict(position))


def _group(group: str) -> str:
    return validate_name("alias", group, "consumer group")


def _ints(mapping: dict[str, Any]) -> dict[int, int]:
    return {int(k): int(v) for k, v in mapping.items()}


def _one_batch(batches: builtins.list[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=schema)
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
