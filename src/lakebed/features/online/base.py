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

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

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


class _TxState(threading.local):
    depth = 0  # nesting of transaction blocks in this thread
    begun = False  # the outermost block has written (BEGIN issued, lock held)


class DeferredTransactions:
    """The transaction blocks of the SQL backends (SQLite, PostgreSQL) over one connection.

    A block's BEGIN waits for its first write (:meth:`_begin`): a push validates its rows
    and commits its offline side first, and other threads keep reading meanwhile. From
    that BEGIN to the outermost block's COMMIT (or ROLLBACK) the block's thread holds
    ``_lock``, which is reentrant: the writes inside the block (same thread) take it again,
    other threads wait for the commit. A backend supplies the three statements and may
    translate the exceptions of its driver.
    """

    _lock: threading.RLock
    _tx: _TxState

    def _init_transactions(self) -> None:
        self._lock = threading.RLock()
        self._tx = _TxState()

    def _sql_begin(self) -> None:
        raise NotImplementedError

    def _sql_commit(self) -> None:
        raise NotImplementedError

    def _sql_rollback(self) -> None:
        raise NotImplementedError

    def _translate(self, exc: BaseException) -> BaseException | None:
        """The exception to raise instead of ``exc`` (from a block or its commit), or None."""
        return None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        tx = self._tx
        tx.depth += 1
        try:
            yield
            if tx.depth == 1 and tx.begun:
                self._sql_commit()
        except BaseException as exc:
            if tx.depth == 1 and tx.begun:
                self._sql_rollback()
            translated = self._translate(exc)
            if translated is not None:
                raise translated from None
            raise
        finally:
            tx.depth -= 1
            if tx.depth == 0 and tx.begun:
                tx.begun = False
                self._lock.release()

    def _begin(self) -> None:
        """Open the transaction of the current block (if not yet) and hold the lock for it."""
        tx = self._tx
        if tx.begun:
            return
        self._lock.acquire()
        try:
            self._sql_begin()
        except BaseException:
            self._lock.release()
            raise
        tx.begun = True
