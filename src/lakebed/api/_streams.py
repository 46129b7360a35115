"""The interface of streams, implemented by the embedded classes and by the HTTP client
alike (see :mod:`lakebed.api`)."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from lakebed.streams._spec import Position, StreamSpec

SESSION_TIMEOUT_S = 10.0
"""How long a group member stays in its group without a heartbeat (``session_timeout``)."""


class StreamsAPI(ABC):
    """The streams of a lake (``lake.streams``): named, partitioned logs of records with
    consumer groups.

    Embedded: :class:`lakebed.streams.Streams` over the backend chosen by
    ``connect(streams=...)``; remote: the same methods over HTTP
    (``lakebed.connect("http://...").streams``), served by the lake's writer.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     _ = lake.streams.create("clicks", schema={"user_id": "int64"})
        ...     lake.streams.list(), lake.streams.exists("clicks"), lake.streams.get("clicks").partitions
        (['clicks'], True, 1)
    """

    @abstractmethod
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
    ) -> StreamAPI:
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

    @abstractmethod
    def get(self, name: str) -> StreamAPI:
        """An existing stream (NotFound otherwise)."""

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether a stream of that name exists (InvalidArgument for a name no stream can
        have)."""

    @abstractmethod
    def list(self) -> builtins.list[str]:
        """Stream names, sorted.

        Remote: the streams the key may read."""

    @abstractmethod
    def drop(self, name: str) -> None:
        """Delete a stream with its records and groups.

        Remote: a key with the ``admin`` scope."""

    @abstractmethod
    def describe(self) -> builtins.list[dict[str, Any]]:
        """Every stream: definition, records retained and appended, groups and their lag.

        Remote: the streams the key may read."""

    @abstractmethod
    def flush(self) -> None:
        """Make appends durable now (``fsync="batch"``; the embedded log only: the
        brokers and the other fsync settings are durable when an append returns).

        Remote: the server flushes its lake's streams."""


class StreamAPI(ABC):
    """One stream: append, read, consume with groups, bounds and lag.

    Embedded: :class:`lakebed.streams.Stream`; remote: the same methods over HTTP
    (``remote_lake.streams.get(name)``). ``spec`` is its definition
    (:class:`lakebed.streams.StreamSpec`).

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     s = lake.streams.create("clicks", schema={"user_id": "int64"}, key="user_id", partitions=2)
        ...     _ = s.append([{"user_id": u} for u in (1, 2, 3, 4)])
        ...     s.name, s.partitions, s.end_offsets(), s.read(0).column("user_id").to_pylist()
        ('clicks', 2, {0: 1, 1: 3}, [4])
    """

    spec: StreamSpec

    @property
    @abstractmethod
    def name(self) -> str:
        """The stream's name."""

    @property
    @abstractmethod
    def schema(self) -> pa.Schema:
        """The columns of its records."""

    @property
    @abstractmethod
    def partitions(self) -> int:
        """How many partitions it has (numbered from 0)."""

    # -- append ------------------------------------------------------------------------
    @abstractmethod
    def validate(self, rows: Any) -> pa.Table:
        """Rows as a table of the stream's schema, or SchemaError naming the problem
        (what :meth:`append` checks first; nothing is appended).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     s = lake.streams.create("e", schema={"v": "int64"})
            ...     s.validate([{"v": 1}]).schema.names
            ['v']
        """

    @abstractmethod
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

        Remote: the server checks the rows; an append is retried on a lost connection only
        when ``ids`` (or the stream's ``id_field``) make it idempotent."""

    # -- reading -----------------------------------------------------------------------
    @abstractmethod
    def bounds(self) -> builtins.list[tuple[int, int]]:
        """Per partition: (first retained offset, next offset)."""

    @abstractmethod
    def end_offsets(self) -> dict[int, int]:
        """Per partition: the next offset (what the partition has appended)."""

    @abstractmethod
    def read(self, partition: int = 0, offset: int = 0, max_records: int = 10_000) -> pa.RecordBatch:
        """Records of one partition from ``offset`` (no group, nothing committed), with
        the ``_partition``, ``_offset`` and ``_time`` columns.

        Remote: more than the server sends at once (100,000) are fetched in several
        requests."""

    @abstractmethod
    def consumer(self, group: str | None = None, *, start: str = "earliest",
                 session_timeout: float = SESSION_TIMEOUT_S) -> ConsumerAPI:
        """A consumer; with ``group``, one of the group's members (partitions are shared
        among live members; offsets are the group's). ``start`` ("earliest" or "latest")
        is where a partition without a committed offset begins.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     s = lake.streams.create("e", schema={"v": "int64"}, key="v", partitions=2)
            ...     _ = s.append([{"v": 1}, {"v": 2}])
            ...     with s.consumer("g") as c:
            ...         c.assignment(), c.poll().column("v").to_pylist(), c.lag()
            ([0, 1], [1, 2], {0: 0, 1: 0})

        Remote: a member of a group needs a key with the ``write`` scope on the stream
        (joining changes the group); the consumer asks the server for records every 0.1 s
        while the stream is idle."""

    @abstractmethod
    def consume(
        self, group: str | None = None, *, max_records: int = 1000, timeout: float | None = 1.0,
        start: str = "earliest", commit: bool = True,
    ) -> Iterator[pa.RecordBatch]:
        """Yield batches until none arrives for ``timeout`` seconds (None: forever). With
        ``commit`` each batch's offsets are committed when the next one is asked for (and
        at the end): a batch whose processing raised is delivered again (at least once).
        With ``group`` the loop is one member of the group (see :meth:`consumer`).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     s = lake.streams.create("e", schema={"v": "int64"})
            ...     _ = s.append([{"v": i} for i in range(5)])
            ...     [b.num_rows for b in s.consume("g", max_records=2, timeout=0)]
            [2, 2, 1]

        Remote: as :meth:`consumer`."""

    @abstractmethod
    def groups(self) -> builtins.list[str]:
        """The consumer groups with committed offsets, sorted."""

    @abstractmethod
    def committed(self, group: str) -> dict[int, int]:
        """The group's committed offsets (partition -> next offset)."""

    @abstractmethod
    def lag(self, group: str) -> dict[int, int]:
        """Records per partition appended and not yet committed by the group."""

    @abstractmethod
    def trim(self) -> int:
        """Apply retention now; how many records were dropped (backends also trim on their
        own as they append).

        Remote: a key with the ``write`` scope on the stream."""


class ConsumerAPI(ABC):
    """Reads a stream's partitions (all, or the group's share of them) from positions it
    keeps; ``commit`` stores them for the group. Not thread-safe (one per thread). A
    context manager: leaving it closes the consumer. Made by :meth:`StreamAPI.consumer`.

    Attributes: ``stream``, ``group`` (None: no group), ``member`` (its id in the group),
    ``start``, ``ttl`` (the session timeout, seconds) and ``position`` (partition -> the
    next offset it reads).

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

    stream: StreamAPI
    group: str | None
    member: str
    start: str
    ttl: float
    position: dict[int, int]

    @abstractmethod
    def assignment(self) -> builtins.list[int]:
        """The partitions this consumer reads now."""

    @abstractmethod
    def poll(self, max_records: int = 1000, timeout: float | None = 1.0) -> pa.RecordBatch | None:
        """The next records of the assigned partitions (up to ``max_records``, taken
        round-robin), with ``_partition``, ``_offset`` and ``_time`` columns; None when
        none arrives within ``timeout`` seconds (None: wait forever)."""

    @abstractmethod
    def commit(self, offsets: dict[int, int] | None = None) -> None:
        """Store the group's offsets: ``offsets`` (partition -> next offset to read), or
        the positions of what this consumer has polled, for its assigned partitions.

        Remote: a key with the ``write`` scope on the stream."""

    @abstractmethod
    def seek(self, offset: int | None = None, *, time: datetime | None = None, partition: int | None = None) -> None:
        """Move the position of one partition (or every assigned one) to ``offset``, or
        to the first record appended at or after ``time``."""

    @abstractmethod
    def lag(self) -> dict[int, int]:
        """Records per assigned partition after this consumer's position."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group (its partitions go to the other members at their next poll)."""
