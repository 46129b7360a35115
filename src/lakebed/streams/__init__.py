"""Streams: named, partitioned logs of records with consumer groups (``lake.streams``).

See ``docs/streams.md``. Backends: the embedded segment log (default), NATS JetStream
(``streams="nats://..."``) and Redis Streams (``streams="redis://..."``).

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     s = lake.streams.create("clicks", schema={"user_id": "int64"})
    ...     _ = s.append([{"user_id": 7}])
    ...     s.read().column("user_id").to_pylist()
    [7]
"""

from lakebed.streams._spec import StreamSpec
from lakebed.streams._streams import Consumer, Position, Stream, Streams

__all__ = ["Consumer", "Position", "Stream", "StreamSpec", "Streams"]
