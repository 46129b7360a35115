"""How a Redis server honours ``fsync="always"``, shared by the Redis online store and
the Redis stream backend.

With ``appendfsync always`` nothing more is needed; with another ``appendfsync`` on Redis
7.2 or later each write waits for the local fsync of the append-only file (``WAITAOF 1
0``); on an older Redis, or with the append-only file off, a warning is logged once per
server and kind of write, as then an acknowledged write can be lost by a power cut (with
``appendonly no``: by any restart of Redis).

Example:
    >>> policy = AofPolicy.__new__(AofPolicy); policy.wait_aof = False
    >>> policy.durable()  # nothing to wait for
"""

from __future__ import annotations

import logging
from typing import Any

from lakebed.errors import BackendUnavailable

WAITAOF_TIMEOUT_MS = 10_000
_warned: set[str] = set()


def warn_once(log: logging.Logger, message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


class AofPolicy:
    """Inspect the server behind ``client`` once; :meth:`durable` after each write.

    ``what`` names the writer in messages ("the Redis online store", "the Redis stream
    backend"), ``writes`` its writes ("pushes", "appends")."""

    def __init__(self, client: Any, errors: Any, *, where: str, what: str, writes: str,
                 log: logging.Logger) -> None:
        self._client = client
        self.where = where
        self.wait_aof = False
        """True when each write waits for Redis to fsync its append-only file (WAITAOF)."""
        info = client.info("persistence")
        if not int(info.get("aof_enabled", 0)):
            warn_once(log, f"{what} at {where} has appendonly=no: {writes} live in Redis's memory (and its periodic "
                           f"snapshots) only, so a restart or power cut of Redis loses acknowledged {writes}; set "
                           "'appendonly yes' and 'appendfsync always' on the server for fsync='always'")
            return
        try:
            appendfsync = client.config_get("appendfsync").get("appendfsync")
        except errors.RedisError:  # CONFIG may be disabled on managed servers
            appendfsync = None
        if appendfsync == "always":
            return
        version = str(client.info("server").get("redis_version", "0"))
        major_minor = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
        if major_minor >= (7, 2):
            self.wait_aof = True
            return
        warn_once(log, f"{what} at {where} runs Redis {version} with appendfsync={appendfsync}: a power cut can "
                       f"lose the {writes} of the last second; Redis 7.2+ (WAITAOF) or 'appendfsync always' gives "
                       "fsync='always'")

    def durable(self) -> None:
        """Wait until Redis has fsynced its append-only file (when it must be waited for)."""
        if not self.wait_aof:
            return
        local, _replicas = self._client.execute_command("WAITAOF", 1, 0, WAITAOF_TIMEOUT_MS)
        if int(local) < 1:
            raise BackendUnavailable(
                f"Redis at {self.where} did not fsync its append-only file within "
                f"{WAITAOF_TIMEOUT_MS // 1000} s; the write is applied but may not survive a power cut"
            )
