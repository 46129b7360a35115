"""The online store interface: a key-value map per feature view.

Keys are entity key strings, values are encoded rows (see ``_codec``) whose first 16
bytes order them by (event time, created time). A backend implements seven methods; all
batch operations take whole lists so that they can use pipelines, executemany or COPY.

Atomicity: every :meth:`OnlineStore.write` is all-or-nothing, and
:meth:`OnlineStore.transaction` makes all the writes inside it one all-or-nothing unit
(a push of any size is one transaction, written in bounded chunks).

Durability (the lake's ``fsync`` setting): see ``docs/durability.md``; each backend maps
it to its own mechanism (SQLite ``synchronous``, PostgreSQL ``synchronous_commit``, the
Redis server's append-only file).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager

FSYNC_MODES = ("always", "batch", "never")


class OnlineStore(ABC):
    """A backend of the online feature store.

    Example:
        >>> from lakebed.features.online.sqlite import SqliteOnlineStore
        >>> store = SqliteOnlineStore(":memory:")
        >>> store.write("v", ["1"], [bytes(16) + b"x"])
        >>> store.read("v", ["1", "2"])
        [b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00x', None]
        >>> store.close()
    """

    name: str = "base"

    @abstractmethod
    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], *, newer_only: bool = False) -> None:
        """Upsert the rows. With ``newer_only`` a stored row whose 16-byte order prefix is
        greater than the new one's is kept."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A block whose writes (from this thread) are applied together or not at all: on a
        crash or an exception inside it, none of them is. Blocks nest (the outermost one
        commits). Reads inside the block may or may not see its own writes (Redis does not),
        so a caller reads what it needs first."""

    @abstractmethod
    def read(self, view: str, keys: Sequence[str]) -> list[bytes | None]:
        """The stored values of ``keys`` (None where absent), in the order of ``keys``."""

    @abstractmethod
    def count(self, view: str) -> int:
        """How many entity keys the view holds."""

    @abstractmethod
    def drop(self, view: str) -> None:
        """Delete every row of the view."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def raw_get(self, view: str, key: str) -> bytes | None:
        """One key, the fastest way the backend has (the benchmark's raw lookup)."""
        return self.read(view, [key])[0]
