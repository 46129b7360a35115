"""The Redis online store (redis-py): one hash per view, a field per entity key."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from lakebed.errors import BackendUnavailable, require
from lakebed.features.online.base import OnlineStore

# Keep the stored row when its 16-byte order prefix is greater (byte by byte, so that
# the server's collation locale plays no part).
_NEWER_LUA = """
local n = 0
for i = 1, #ARGV, 2 do
  local new = ARGV[i + 1]
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local take = true
  if cur then
    for j = 1, 16 do
      local a, b = string.byte(new, j), string.byte(cur, j)
      if a ~= b then take = a > b; break end
    end
  end
  if take then redis.call('HSET', KEYS[1], ARGV[i], new); n = n + 1 end
end
return n
"""
_CHUNK = 2000


class RedisOnlineStore(OnlineStore):
    """Redis backend, selected with ``lakebed.connect(..., online="redis://host:6379/0")``.

    Example:
        >>> store = RedisOnlineStore("redis://127.0.0.1:6379/13", namespace="doc")  # doctest: +SKIP
    """

    name = "redis"

    def __init__(self, url: str, *, namespace: str) -> None:
        redis = require("redis", "redis")
        self._errors: Any = redis.exceptions  # type: ignore[attr-defined]
        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=5)  # type: ignore[attr-defined]
        try:
            self._client.ping()
        except self._errors.RedisError as exc:
            raise BackendUnavailable(f"cannot reach the Redis online store at {url}: {exc}; is it running?") from None
        self._prefix = f"lakebed:{namespace}:fv:"
        self._newer = self._client.register_script(_NEWER_LUA)
        self._lock = threading.Lock()

    def _key(self, view: str) -> str:
        return self._prefix + view

    def write(self, view: str, keys: Sequence[str], values: Sequence[bytes], *, newer_only: bool = False) -> None:
        name = self._key(view)
        try:
            pipe = self._client.pipeline(transaction=False)
            for start in range(0, len(keys), _CHUNK):
                ks = keys[start:start + _CHUNK]
                vs = values[start:start + _CHUNK]
                if newer_only:
                    args: list[Any] = []
                    for k, v in zip(ks, vs, strict=True):
                        args += (k, v)
                    self._newer(keys=[name], args=args, client=pipe)
                else:
                    pipe.hset(name, mapping=dict(zip(ks, vs, strict=True)))
            pipe.execute()
        except self._errors.ConnectionError as exc:
            raise BackendUnavailable(f"the Redis online store failed: {exc}") from None

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
