"""The consumer's logic, once: positions, the group's share of the partitions, polling,
commits and seeks. The embedded consumer fills its hooks with the stream backend, the HTTP
client's with the server's routes; both share partitions the same way, so embedded and
remote members of one group cooperate. It depends on pyarrow alone."""

from __future__ import annotations

import builtins
import time
import uuid
from abc import abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from lakebed._names import validate_name
from lakebed.api._streams import ConsumerAPI
from lakebed.errors import InvalidArgument


def check_group(group: str) -> str:
    """A consumer group name follows the alias rule."""
    return validate_name("alias", group, "consumer group")


def one_batch(batches: builtins.list[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    """``batches`` as one record batch (an empty one of ``schema`` when there are none)."""
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=schema)
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


class GroupConsumer(ConsumerAPI):
    """A consumer whose storage is reached through the hooks below (``_members`` ...
    ``_leave``); every method of :class:`lakebed.api.ConsumerAPI` is written here."""

    stream: Any  # the stream: ``spec``, ``bounds()``, ``_check_partition()``

    def __init__(self, stream: Any, group: str | None, *, start: str, session_timeout: float) -> None:
        if start not in ("earliest", "latest"):
            raise InvalidArgument(f"start must be 'earliest' or 'latest', got {start!r}")
        if not 0.5 <= session_timeout <= 3600:
            raise InvalidArgument(f"session_timeout must be 0.5-3600 seconds, got {session_timeout!r}")
        self.stream = stream
        self.group = check_group(group) if group is not None else None
        self.member = uuid.uuid4().hex[:16]
        self.start = start
        self.ttl = float(session_timeout)
        self.position: dict[int, int] = {}
        self._assigned: builtins.list[int] = []
        self._beat = 0.0
        self._next = 0  # round-robin start among assigned partitions
        self._closed = False
        self._rebalance(force=True)

    # -- hooks ----------------------------------------------------------------------------
    @abstractmethod
    def _members(self) -> builtins.list[str]:
        """Heartbeat this member; answer the group's live members."""

    @abstractmethod
    def _committed(self) -> dict[int, int]:
        """The group's committed offsets."""

    @abstractmethod
    def _read(self, partition: int, offset: int, max_records: int) -> pa.RecordBatch:
        """Records of ``partition`` from ``offset``, with ``_partition``, ``_offset``, ``_time``."""

    @abstractmethod
    def _idle(self, parts: builtins.list[int], left: float | None) -> None:
        """Wait (at most ``left`` seconds) for records after the positions of ``parts``."""

    @abstractmethod
    def _store(self, offsets: dict[int, int]) -> None:
        """Store the group's committed offsets."""

    @abstractmethod
    def _offset_for_time(self, partition: int, time_us: int) -> int:
        """The first offset of ``partition`` appended at or after ``time_us``."""

    @abstractmethod
    def _leave(self) -> None:
        """Leave the group."""

    # -- the group's share ----------------------------------------------------------------
    def assignment(self) -> builtins.list[int]:
        self._rebalance()
        return list(self._assigned)

    def _rebalance(self, force: bool = False) -> None:
        partitions = self.stream.spec.partitions
        now = time.monotonic()
        if self.group is None:
            parts = list(range(partitions))
        else:
            if not force and now - self._beat < self.ttl / 3:
                return
            members = self._members()
            self._beat = now
            rank, n = members.index(self.member), len(members)
            parts = [k for k in range(partitions) if k % n == rank]
        if parts == self._assigned and not force:
            return
        new = [k for k in parts if k not in self.position]
        committed = self._committed() if self.group is not None and new else {}
        bounds = self.stream.bounds() if new else []
        for k in new:
            if k in committed:
                self.position[k] = committed[k]
            else:
                self.position[k] = bounds[k][0] if self.start == "earliest" else bounds[k][1]
        for k in list(self.position):
            if k not in parts:
                del self.position[k]
        self._assigned = parts

    # -- reading --------------------------------------------------------------------------
    def poll(self, max_records: int = 1000, timeout: float | None = 1.0) -> pa.RecordBatch | None:
        if self._closed:
            raise InvalidArgument("this consumer is closed")
        if not isinstance(max_records, int) or isinstance(max_records, bool) or not 1 <= max_records <= 1_000_000:
            raise InvalidArgument(f"max_records must be 1..1000000, got {max_records!r}")
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
                b = self._read(k, self.position[k], want)
                if b.num_rows:
                    batches.append(b)
                    self.position[k] = int(b.column("_offset")[-1].as_py()) + 1
                    want -= b.num_rows
            if parts:
                self._next = (self._next + 1) % len(parts)
            if batches:
                return one_batch(batches, batches[0].schema)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            self._idle(parts, left)

    def commit(self, offsets: dict[int, int] | None = None) -> None:
        if self.group is None:
            raise InvalidArgument("a consumer without a group has nothing to commit; pass group=")
        if offsets is None:
            offsets = {k: self.position[k] for k in self._assigned}
        for k, o in offsets.items():
            self.stream._check_partition(k)
            if isinstance(o, bool) or not isinstance(o, int) or o < 0:
                raise InvalidArgument(f"offsets must be integers >= 0, got {o!r} for partition {k}")
        if offsets:
            self._store(offsets)

    def seek(self, offset: int | None = None, *, time: datetime | None = None, partition: int | None = None) -> None:
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
                self.position[k] = self._offset_for_time(k, us)

    def lag(self) -> dict[int, int]:
        bounds = self.stream.bounds()
        return {k: max(bounds[k][1] - max(self.position[k], bounds[k][0]), 0) for k in self._assigned}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.group is not None:
            self._leave()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
