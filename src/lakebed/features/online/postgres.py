"""The PostgreSQL online store (psycopg 3): one table per lake keyed by (view, key);
bulk writes go through COPY into a temporary table and one upsert.

Every write, and every :meth:`PostgresOnlineStore.transaction` block, is one PostgreSQL
transaction. The lake's ``fsync`` setting sets the session's ``synchronous_commit``:
``always`` -> ``on`` (a commit returns once its WAL record is flushed to disk, whatever
the server's or role's default), ``batch`` -> the server's default, ``never`` -> ``off``
(a commit returns before the flush; a server crash can lose the last few hundred
milliseconds of commits, never half of one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from lakebed.errors import BackendUnavailable, InvalidArgument, require
from lakebed.features.online.base import FSYNC_MODES, DeferredTransactions, OnlineStore

SYNCHRONOUS_COMMIT = {"always": "on", "batch": None, "never": "off"}

_COPY_MIN = 200  # below this, executemany (pipelined) beats setting up a COPY


class PostgresOnlineStore(DeferredTransactions, OnlineStore):
    """PostgreSQL backend, selected with ``online="postgresql://..."``.

    Example:
        >>> store = PostgresOnlineStore("postgresql://postgres@127.0.0.1/test", namespace="doc")  # doctest: +SKIP
    """

    name = "postgres"

    def __init__(self, url: str, *, namespace: str, fsync: str = "always") -> None:
        if fsync not in FSYNC_MODES:
            raise InvalidArgument(f"fsync must be one of {FSYNC_MODES}, got {fsync!r}")
        psycopg = require("psycopg", "postgres")
        self._psycopg: Any = psycopg
        if url.startswith("postgres://"):
            url = "postgresql://" + url.split("://", 1)[1]
        try:
            self._con: Any = psycopg.connect(url, autocommit=True, connect_timeout=5)  # type: ignore[attr-defined]
        except psycopg.OperationalError as exc:  # type: ignore[attr-defined]
            raise BackendUnavailable(f"cannot reach the PostgreSQL online store: {exc}") from None
        if not re.fullmatch(r"[a-z0-9_]+", namespace):
            raise ValueError(f"bad namespace {namespace!r}")
        self.table = f"lakebed_online_{namespace}"
        t = self.table
        level = SYNCHRONOUS_COMMIT[fsync]
        if level is not None:
            self._con.execute(f"SET synchronous_commit = {level}")
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {t} (view TEXT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL, "
            "PRIMARY KEY (view, key))"
        )
        self._upsert = (
            f"INSERT INTO {t} AS o (view, key, value) VALUES (%s, %s, %s) "
            "ON CONFLICT (view, key) DO UPDATE SET value = EXCLUDED.value"
        )
        self._newer_cond = " WHERE substring(EXCLUDED.value from 1 for 16) >= substring(o.value from 1 for 16)"
        self._get = f"SELECT value FROM {t} WHERE view = %s AND key = %s"
        self._many = f"SELECT key, value FROM {t} WHERE view = %s AND key = ANY(%s)"
        self._init_transactions()

    @property
    def synchronous_commit(self) -> str:
        """The session's effective ``synchronous_commit``."""
        with self._lock:
            return str(self._con.execute("SHOW synchronous_commit").fetchone()[0])

    def _sql_begin(self) -> None:
        self._con.execute("BEGIN")

    def _sql_commit(self) -> None:
        self._con.execute("COMMIT")

    def _sql_rollback(self) -> None:
        if not self._con.closed:
            with suppress(self._psycopg.Error):  # if the connection is gone, so is the transaction
                self._con.execute("ROLLBACK")

    def _translate(self, exc: BaseException) -> BaseException | None:
        if isinstance(exc, self._psycopg.OperationalError):
            return BackendUnavailable(f"the PostgreSQL online store failed: {exc}")
        return None

    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], *, newer_only: bool = False) -> None:
        cond = self._newer_cond if newer_only else ""
        try:
            with self.transaction():
                self._begin()
                if len(keys) < _COPY_MIN:
                    with self._con.cursor() as cur:
                        cur.executemany(self._upsert + cond, [(view, k, v) for k, v in zip(keys, values, strict=True)])
                    return
                with self._con.cursor() as cur:
                    cur.execute("CREATE TEMP TABLE IF NOT EXISTS lakebed_online_load (key TEXT, value BYTEA)")
                    cur.execute("TRUNCATE lakebed_online_load")
                    with cur.copy("COPY lakebed_online_load (key, value) FROM STDIN") as copy:
                        for k, v in zip(keys, values, strict=True):
                            copy.write_row((k, v))
                    # DISTINCT ON: a batch may repeat a key; the newest row of the batch wins
                    cur.execute(
                        f"INSERT INTO {self.table} AS o (view, key, value) "
                        "SELECT DISTINCT ON (key) %s, key, value FROM lakebed_online_load "
                        "ORDER BY key, substring(value from 1 for 16) DESC "
                        "ON CONFLICT (view, key) DO UPDATE SET value = EXCLUDED.value" + cond,
                        (view,),
                    )
        except self._psycopg.OperationalError as exc:
            raise BackendUnavailable(f"the PostgreSQL online store failed: {exc}") from None

    def read(self, view: str, keys: Sequence[str]) -> list[bytes | None]:
        try:
            with self._lock:
                if len(keys) == 1:
                    row = self._con.execute(self._get, (view, keys[0]), prepare=True).fetchone()
                    return [bytes(row[0]) if row is not None else None]
                rows = self._con.execute(self._many, (view, list(keys)), prepare=True).fetchall()
        except self._psycopg.OperationalError as exc:
            raise BackendUnavailable(f"the PostgreSQL online store failed: {exc}") from None
        found = {k: bytes(v) for k, v in rows}
        return [found.get(k) for k in keys]

    def raw_get(self, view: str, key: str) -> bytes | None:
        with self._lock:
            row = self._con.execute(self._get, (view, key), prepare=True).fetchone()
        return bytes(row[0]) if row is not None else None

    def count(self, view: str) -> int:
        with self._lock:
            return int(self._con.execute(f"SELECT count(*) FROM {self.table} WHERE view = %s", (view,)).fetchone()[0])

    def drop(self, view: str) -> None:
        with self._lock:
            self._con.execute(f"DELETE FROM {self.table} WHERE view = %s", (view,))

    def close(self) -> None:
        with self._lock:
            self._con.close()
