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

from typing import TYPE_CHECKING

from lakebed._lazy import lazy_exports
from lakebed.streams._spec import Position, StreamSpec

if TYPE_CHECKING:
    from lakebed.streams._streams import Consumer, Stream, Streams

# The engine classes load on first use: the HTTP client imports this package for its
# light types without loading the engine.
__getattr__ = lazy_exports(
    __name__,
    {
        "Consumer": "lakebed.streams._streams",
        "Stream": "lakebed.streams._streams",
        "Streams": "lakebed.streams._streams",
    },
)

__all__ = ["Consumer", "Position", "Stream", "StreamSpec", "Streams"]
