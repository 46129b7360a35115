"""The Redis online store (redis-py): one hash per view, a field per entity key.

Atomicity: a write of up to ``_CHUNK`` keys is one command (HSET, or one script for
"newer wins"), which Redis applies whole; a larger single write is one MULTI/EXEC of its
chunks. The writes of a :meth:`RedisOnlineStore.transaction` (a push, which may span many
writes) first go to a private staging hash
(``<view key>:stage:<token>``, expiring after an hour so that a killed writer leaves no
garbage behind) in bounded chunks; the commit is one MULTI/EXEC running a script that
moves the staged fields into the view's hash. Redis runs a script and a MULTI/EXEC
without interleaving other clients, and writes it to the append-only file as one unit,
so readers, a killed client and a restarted server see all of a push or none of it.

Durability is the Redis server's own configuration (``appendonly``, ``appendfsync``).
With ``fsync="always"`` the store checks it when it connects: with ``appendfsync
always`` nothing more is needed; with another ``appendfsync`` on Redis 7.2 or later each
write waits for the local fsync of the append-only file (``WAITAOF 1 0``); on an older
Redis, or with the append-only file off, it logs a warning once, as then an acknowledged
push can be lost by a power cut (with ``appendonly no``: by any restart of Redis).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from lakebed.errors import BackendUnavailable, InvalidArgument, require
from lakebed.features.online.base import FSYNC_MODES, OnlineStore
from lakebed.storage._redis import AofPolicy

log = logging.getLogger("lakebed.features")

# Whether a new value replaces the stored one ``cur`` (nil: none) under "newer wins": it
# does unless the stored row's 16-byte order prefix is greater, compared byte by byte so
# that the server's collation locale plays no part.
_TAKES_LUA = """
local function takes(new, cur)
  if not cur then return true end
  for j = 1, 16 do
    local a, b = string.byte(new, j), string.byte(cur, j)
    if a ~= b then return a > b end
  end
  return true
end
"""
# Upsert the (field, value) pairs of ARGV into KEYS[1], newer wins.
_NEWER_LUA = _TAKES_LUA + """
local n = 0
for i = 1, #ARGV, 2 do
  local new = ARGV[i + 1]
  if takes(new, redis.call('HGET', KEYS[1], ARGV[i])) then
    redis.call('HSET', KEYS[1], ARGV[i], new); n = n + 1
  end
end
return n
"""
# Move the staged fields of KEYS[1] into KEYS[2] (ARGV[1] = "1": newer wins), then drop
# the staging hash. HSCAN keeps the script's own memory bounded on a large push.
_MERGE_LUA = _TAKES_LUA + """
local newer = ARGV[1] == '1'
local cursor = '0'
repeat
  local r = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 1000)
  cursor = r[1]
  local kv = r[2]
  for i = 1, #kv, 2 do
    local new = kv[i + 1]
    if not newer or takes(new, redis.call('HGET', KEYS[2], kv[i])) then
      redis.call('HSET', KEYS[2], kv[i], new)
    end
  end
until cursor == '0'
redis.call('DEL', KEYS[1])
return 1
"""
_CHUNK = 2000
_STAGE_TTL = 3600  # seconds a staging hash of a killed writer lingers


class _TxState(threading.local):
    depth = 0
    token = ""
    # (view key, newer_only) -> staging key, in order of first write
    staged: dict[tuple[str, bool], str]


class RedisOnlineStore(OnlineStore):
    """Redis backend, selected with ``lakebed.connect(..., online="redis://host:6379/0")``.

    Example:
        >>> store = RedisOnlineStore("redis://127.0.0.1:6379/13", namespace="doc")  # doctest: +SKIP
        >>> with store.transaction():  # doctest: +SKIP
        ...     store.write("v", ["1"], [bytes(16) + b"a"])
    """

    name = "redis"

    def __init__(self, url: str, *, namespace: str, fsync: str = "always") -> None:
        if fsync not in FSYNC_MODES:
            raise InvalidArgument(f"fsync must be one of {FSYNC_MODES}, got {fsync!r}")
        redis = require("redis", "redis")
        self._errors: Any = redis.exceptions  # type: ignore[attr-defined]
        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=5)  # type: ignore[attr-defined]
        try:
            self._client.ping()
        except self._errors.RedisError as exc:
            raise BackendUnavailable(f"cannot reach the Redis online store at {url}: {exc}; is it running?") from None
        self._prefix = f"lakebed:{namespace}:fv:"
        self._newer = self._client.register_script(_NEWER_LUA)
        self._merge = self._client.register_script(_MERGE_LUA)
        self._lock = threading.Lock()
        self._tx = _TxState()
        self._aof: AofPolicy | None = None
        if fsync == "always":
            self._aof = AofPolicy(self._client, self._errors, where=url.split("@")[-1],  # no password in a log
                                  what="the Redis online store", writes="pushes", log=log)

    @property
    def wait_aof(self) -> bool:
        """True when each write waits for Redis to fsync its append-only file (WAITAOF)."""
        return self._aof is not None and self._aof.wait_aof

    def _durable(self) -> None:
        if self._aof is not None:
            self._aof.durable()

    def _key(self, view: str) -> str:
        return self._prefix + view

    @contextmanager
    def transaction(self) -> Iterator[None]:
        tx = self._tx
        if tx.depth:
            tx.depth += 1
            try:
                yield
            finally:
                tx.depth -= 1
            return
        tx.depth, tx.token, tx.staged = 1, uuid.uuid4().hex, {}
        try:
            yield
            if tx.staged:
                pipe = self._client.pipeline(transaction=True)
                for (main, newer), stage in tx.staged.items():
                    self._merge(keys=[stage, main], args=["1" if newer else "0"], client=pipe)
                pipe.execute()
                self._durable()
        except self._errors.ConnectionError as exc:
            raise BackendUnavailable(f"the Redis online store failed: {exc}") from None
        finally:
            staged = list(tx.staged.values())
            tx.depth, tx.staged = 0, {}
            if staged:  # after a commit they are gone already; after a failure drop them
                with suppress(self._errors.RedisError):  # else they expire by themselves
                    self._client.delete(*staged)

    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], *, newer_only: bool = False) -> None:
        name = self._key(view)
        try:
            if not self._tx.depth:
                # one call's rows are in memory already: one MULTI/EXEC of its chunks
                pipe = self._client.pipeline(transaction=len(keys) > _CHUNK)
                for start in range(0, len(keys), _CHUNK):
                    self._put(pipe, name, keys[start:start + _CHUNK], values[start:start + _CHUNK], newer_only)
                pipe.execute()
                self._durable()
                return
            with self.transaction():
                tx = self._tx
                stage = tx.staged.get((name, newer_only))
                if stage is None:
                    stage = tx.staged[(name, newer_only)] = f"{name}:stage:{tx.token}:{int(newer_only)}"
                for start in range(0, len(keys), _CHUNK):
                    pipe = self._client.pipeline(transaction=False)
                    self._put(pipe, stage, keys[start:start + _CHUNK], values[start:start + _CHUNK], newer_only)
                    pipe.expire(stage, _STAGE_TTL)
                    pipe.execute()
        except self._errors.ConnectionError as exc:
            raise BackendUnavailable(f"the Redis online store failed: {exc}") from None

    def _put(self, client: Any, name: str, keys: Sequence[str], values: Sequence[bytes], newer_only: bool) -> None:
        if not keys:
            return
        if newer_only:
            args: list[Any] = []
            for k, v in zip(keys, values, strict=True):
                args += (k, v)
            self._newer(keys=[name], args=args, client=client)
        else:
            client.hset(name, mapping=dict(zip(keys, values, strict=True)))

    def read(self, view: str, keys: Sequence[str]) -> list[bytes | None]:
        try:
            if len(keys) == 1:
                return [self._client.hget(self._key(view), keys[0])]
            return list(self._client.hmget(self._key(view), list(keys)))
        except self._errors.ConnectionError as exc:
            raise BackendUnavailable(f"the Redis online store failed: {exc}") from None

    def raw_get(self, view: str, key: str) -> bytes | None:
        return self._client.hget(self._key(view), key)  # type: ignore[no-any-return]

    def count(self, view: str) -> int:
        return int(self._client.hlen(self._key(view)))

    def drop(self, view: str) -> None:
        self._client.delete(self._key(view))

    def close(self) -> None:
        self._client.close()
