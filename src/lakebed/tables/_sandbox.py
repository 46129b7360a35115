"""DuckDB connections with no access to the host: every connection lakebed opens.

A sandboxed connection cannot name files or URLs (``read_csv('/etc/passwd')``,
``COPY ... TO``, ``ATTACH``), cannot install or load extensions, and cannot change its
own settings afterwards (``SET``/``PRAGMA`` fail once the configuration is locked).
Data reaches it as registered Arrow objects. A caller that must let DuckDB read
lakebed's own Parquet files names the directories holding them (``read_dirs``); the SQL
run on such a connection is written by lakebed, never taken from a user.

Example:
    >>> con = connect()
    >>> con.sql("SELECT 1 AS x").fetchall()
    [(1,)]
    >>> try:
    ...     con.sql("SELECT * FROM read_csv('/etc/passwd')")
    ... except Exception as exc:
    ...     print(type(exc).__name__)
    PermissionException
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Set at connect time: extensions are never fetched or loaded behind lakebed's back.
_NO_EXTENSIONS = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}


# Opening a DuckDB database costs ~18 ms, most of a small query. A plain connection (no
# config, no read_dirs) is therefore made ahead of time, in a background thread, and handed
# to the next caller: still fresh, never used before, never reused after. A forked child
# does not take its parent's spares (DuckDB's state does not survive a fork).
_spares: dict[str | None, Any] = {}
_spares_lock = threading.Lock()
_forked_away: list[Any] = []  # a parent's spares in a child: kept, never closed or used


def _after_fork() -> None:
    global _spares_lock
    _spares_lock = threading.Lock()
    _forked_away.extend(_spares.values())
    _spares.clear()


os.register_at_fork(after_in_child=_after_fork)


def _make_spare(timezone: str | None) -> None:
    con = _connect(None, (), timezone)
    with _spares_lock:
        if timezone not in _spares:
            _spares[timezone] = con
            return
    con.close()


def connect(
    config: dict[str, Any] | None = None,
    *,
    read_dirs: Sequence[str | Path] = (),
    timezone: str | None = "UTC",
) -> Any:
    """A fresh in-memory DuckDB connection, sandboxed and with its configuration locked.

    ``config`` adds settings (memory limit, temp directory); ``read_dirs`` are the only
    directories DuckDB may open files in (lakebed's own data, for lakebed's own SQL).
    """
    if config is not None or read_dirs:
        return _connect(config, read_dirs, timezone)
    with _spares_lock:
        con = _spares.pop(timezone, None)
    threading.Thread(target=_make_spare, args=(timezone,), name="lakebed-duckdb-spare", daemon=True).start()
    return con if con is not None else _connect(None, (), timezone)


def _connect(config: dict[str, Any] | None, read_dirs: Sequence[str | Path], timezone: str | None) -> Any:
    import duckdb

    con = duckdb.connect(config={**(config or {}), **_NO_EXTENSIONS})
    try:
        if timezone is not None:
            con.execute("SET TimeZone = ?", [timezone])
        temp = (config or {}).get("temp_directory")
        named = [*read_dirs, *([temp] if read_dirs and temp else [])]
        # as given and resolved: DuckDB compares the path strings it is handed
        dirs = sorted({str(p).rstrip("/") + "/" for d in named for p in (Path(d).absolute(), Path(d).resolve())})
        if dirs:
            con.execute("SET allowed_directories = ?", [dirs])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con
