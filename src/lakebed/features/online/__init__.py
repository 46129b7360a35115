"""Online store backends: ``sqlite`` (embedded default), ``redis``, ``postgres``.

Example:
    >>> from lakebed.features.online import open_store
    >>> store = open_store(None, path=":memory:", namespace="x")
    >>> store.name
    'sqlite'
    >>> store.close()
"""

from __future__ import annotations

from pathlib import Path

from lakebed.errors import InvalidArgument
from lakebed.features.online.base import OnlineStore

__all__ = ["OnlineStore", "open_store"]


def open_store(
    url: str | None, *, path: str | Path, namespace: str, read_only: bool = False, fsync: str = "always"
) -> OnlineStore:
    """The backend for an ``online=`` setting: None/``"sqlite"`` -> the SQLite file at
    ``path``; ``redis://``/``rediss://`` -> Redis; ``postgresql://`` -> PostgreSQL.
    ``fsync`` is the lake's durability setting (see ``docs/durability.md``)."""
    if url is None or url in ("sqlite", "embedded"):
        from lakebed.features.online.sqlite import SqliteOnlineStore

        return SqliteOnlineStore(path, read_only=read_only, fsync=fsync)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from lakebed.features.online.redis import RedisOnlineStore

        return RedisOnlineStore(url, namespace=namespace, fsync=fsync)
    if url.startswith(("postgresql://", "postgres://")):
        from lakebed.features.online.postgres import PostgresOnlineStore

        return PostgresOnlineStore(url, namespace=namespace, fsync=fsync)
    raise InvalidArgument(
        f"unsupported online store {url!r}; use redis://..., postgresql://..., or leave it unset "
        "for the embedded SQLite store"
    )
