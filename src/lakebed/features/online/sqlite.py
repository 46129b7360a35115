"""The embedded online store: one SQLite file in ``<lake>/online/``, a WITHOUT ROWID table
keyed by (view, key), in WAL mode.

The lake's ``fsync`` setting picks SQLite's ``synchronous`` level: ``always`` -> FULL (the
WAL is fsynced at every commit, so a returned write survives a power loss), ``batch`` ->
NORMAL (fsynced at checkpoints only: a power loss can lose the last commits, never
corrupts), ``never`` -> OFF (no fsync at all; a power loss can lose recent commits and,
in rare cases, corrupt the file).
"""

from __future__ import annotations

import itertools
import operator
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lakebed.errors import InvalidArgument
from lakebed.features.online.base import FSYNC_MODES, DeferredTransactions, OnlineStore

SYNCHRONOUS = {"always": "FULL", "batch": "NORMAL", "never": "OFF"}

# the table is a primary key and a value, so a replace (delete and insert) is an upsert,
# ~7% faster than INSERT .. ON CONFLICT .. DO UPDATE in a stream step's bulk writes
_UPSERT = "INSERT OR REPLACE INTO online(view, key, value) VALUES (?, ?, ?)"
_NEWER = (
    "INSERT INTO online(view, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT(view, key) DO UPDATE SET value = excluded.value "
    "WHERE substr(excluded.value, 1, 16) >= substr(online.value, 1, 16)"
)
_PAGE = 16384
_GET = "SELECT value FROM online WHERE view = ? AND key = ?"
_CHUNK = 500


class SqliteOnlineStore(DeferredTransactions, OnlineStore):
    """SQLite backend (the default). Thread-safe: one connection behind a lock.

    Example:
        >>> store = SqliteOnlineStore(":memory:", fsync="always")
        >>> with store.transaction():
        ...     store.write("v", ["1"], [bytes(16) + b"a"])
        ...     store.write("v", ["2"], [bytes(16) + b"b"])
        >>> store.count("v"), store.synchronous
        (2, 'FULL')
        >>> store.close()
    """

    name = "sqlite"

    def __init__(self, path: str | Path, *, read_only: bool = False, fsync: str = "always") -> None:
        if fsync not in FSYNC_MODES:
            raise InvalidArgument(f"fsync must be one of {FSYNC_MODES}, got {fsync!r}")
        self.path = str(path)
        if self.path != ":memory:" and not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        create = True
        if read_only and self.path != ":memory:":
            if not Path(self.path).exists():  # nothing materialized yet: an empty store
                self._con = sqlite3.connect(":memory:", check_same_thread=False)
            else:
                self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
                create = False
        else:
            self._con = sqlite3.connect(self.path, check_same_thread=False, cached_statements=256)
            # a new store's pages are 16 KiB (taken only before the file has a page; an older
            # store keeps its 4 KiB): a row is an entity's features or, for a stream view, the
            # JSON of its window's events (often a few hundred bytes to KBs), and the upserts
            # of a stream step rewrite ~14% faster than on 4 KiB pages
            self._con.execute(f"PRAGMA page_size={_PAGE}")
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute(f"PRAGMA synchronous={SYNCHRONOUS[fsync]}")
            self._con.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk upserts stay in memory
            # fewer, larger checkpoints in bulk loads: every ~40 MiB of log
            page = int(self._con.execute("PRAGMA page_size").fetchone()[0])
            self._con.execute(f"PRAGMA wal_autocheckpoint={(40 << 20) // page}")
        if create:
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS online (view TEXT NOT NULL, key TEXT NOT NULL, "
                "value BLOB NOT NULL, PRIMARY KEY (view, key)) WITHOUT ROWID"
            )
        self._init_transactions()

    @property
    def synchronous(self) -> str:
        """The connection's effective ``PRAGMA synchronous`` (OFF, NORMAL, FULL or EXTRA)."""
        with self._lock:
            level = int(self._con.execute("PRAGMA synchronous").fetchone()[0])
        return ("OFF", "NORMAL", "FULL", "EXTRA")[level]

    def _sql_begin(self) -> None:
        # IMMEDIATE: take SQLite's write lock now rather than fail to upgrade a read lock later
        self._con.execute("BEGIN IMMEDIATE")

    def _sql_commit(self) -> None:
        self._con.commit()

    def _sql_rollback(self) -> None:
        self._con.rollback()

    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], *, newer_only: bool = False) -> None:
        sql = _NEWER if newer_only else _UPSERT
        rows: Iterator[tuple[str, str, bytes]] = zip([view] * len(keys), keys, values, strict=True)
        if len(keys) > 64 and not all(map(operator.le, keys, itertools.islice(keys, 1, None))):
            # key order turns random B-tree inserts into mostly sequential ones; equal keys
            # keep their batch order (stable sort), so the last one still wins
            rows = iter(sorted(rows, key=lambda r: r[1]))
        with self.transaction():
            self._begin()
            self._con.executemany(sql, rows)

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        """A query's rows; none while the table is not made yet (a read-only lake opened
        as the writer creates its store)."""
        try:
            return self._con.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise

    def read(self, view: str, keys: Sequence[str]) -> list[bytes | None]:
        if len(keys) == 1:
            with self._lock:
                rows = self._rows(_GET, (view, keys[0]))
            return [rows[0][0] if rows else None]
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(self._rows(f"SELECT key, value FROM online WHERE view = ? AND key IN ({marks})",
                                        (view, *chunk)))
        return [found.get(k) for k in keys]

    def raw_get(self, view: str, key: str) -> bytes | None:
        rows = self._rows(_GET, (view, key))
        return rows[0][0] if rows else None

    def count(self, view: str) -> int:
        with self._lock:
            try:
                return int(self._con.execute("SELECT count(*) FROM online WHERE view = ?", (view,)).fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    def drop(self, view: str) -> None:
        with self.transaction():
            self._begin()
            self._con.execute("DELETE FROM online WHERE view = ?", (view,))

    def close(self) -> None:
        with self._lock:
            self._con.close()
