"""The Redis Streams backend of lakebed streams (redis-py): one Redis stream per partition.

Keys, all under ``lakebed:<namespace>:st:``:

- ``defs``: a hash, stream name -> ``StreamSpec.to_json()``.
- ``<name>:p<k>``: partition ``k``, a Redis stream. An entry holds the records of one
  append chunk (below) that took new offsets: its id is ``<o+1>-0`` for its first
  record's offset ``o`` (so reading from an offset is an XREVRANGE for the entry that
  holds it and an XRANGE from there), and its fields are ``n`` (its number of records,
  at consecutive offsets), ``t`` (their append time, UTC microseconds from the server's
  clock, never below the partition's previous one) and ``d`` (the records,
  :func:`encode_records`, joined by line breaks, which the codec never writes inside a
  record). An entry without ``n`` (lakebed 0.1 wrote one entry per record, with the
  message id in ``i``) holds one record; both read alike. Whole entries are the unit of
  retention: a trim by age drops the entries appended before the cutoff (a chunk's
  records share their time), a trim by size the oldest entries, up to one chunk more
  than the excess. One entry per chunk rather than per record: reading an entry into
  the script was ~1.8 us of Redis's time per entry, and a record entry per 200-byte
  record set the processor's read rate (see ``bench/results/streams.md``).
- ``<name>:p<k>:meta``: a hash with ``next`` (the next offset) and ``t`` (the last
  append time), kept beside the stream so that trimming every record keeps both.
- ``<name>:p<k>:dd`` and ``<name>:p<k>:ddt``: the dedup window, message id -> offset
  and message id scored by its append time (ids lakebed made are remembered per script
  call, one entry for the call's records: see ``_APPEND_LUA``).
- ``<name>:g:<group>`` (partition -> committed offset), ``<name>:groups`` (groups with
  commits), ``<name>:m:<group>`` (members scored by expiry, server time) and
  ``<name>:mgroups`` (groups with members, so that a drop finds every key).

Atomicity: an append sends each partition's records as chunks of up to 1,000 records
(4 MiB), one script call each, pipelined. A script first reads and checks everything it
needs (the stream still defined, every key of the expected type, the dedup hits), then
writes; the first write is the chunk's first XADD, which fails only if something else
wrote to the stream, before anything changed. Redis runs a script without interleaving
other clients, refuses a script for lack of memory only before its first write, and
logs a script's effects to the append-only file as one MULTI/EXEC, so a chunk is
appended whole or not at all, also across a crash of Redis. A call of several chunks
or partitions is not one unit: after a failure some chunks may be in; calling again
with the same message ids appends only the rest (the dedup window returns the first
offsets), which is also what redis-py's own retry after a dropped connection does.

Durability is the Redis server's configuration (``appendonly``, ``appendfsync``); what
an acknowledged append (or commit, create, drop) means:

- ``appendonly no``: it is in Redis's memory and its periodic snapshots only; any
  restart of Redis since the last snapshot loses it.
- ``appendonly yes`` with ``appendfsync everysec`` (Redis's default when the file is
  on): it is written to the append-only file before the reply, so a crash of Redis
  keeps it, but a power cut or kernel crash can lose the last second or two.
- ``appendfsync always``: fsynced before the reply; a power cut keeps it.
- with ``fsync="always"`` on Redis 7.2 or later and another ``appendfsync``, each call
  ends with ``WAITAOF 1 0``: it returns after the local fsync, as with ``always``.

Under ``fsync="always"`` the backend checks this when it connects, as the Redis online
store does, and logs one warning (logger ``lakebed.streams``) when an acknowledged
append can be lost: with ``appendonly no``, or on Redis before 7.2 without
``appendfsync always``. ``"batch"`` and ``"never"`` take the server as it is. Replicas
are asynchronous either way (``WAITAOF 1 0`` waits for the local file only).

The keys of one stream are not in one hash slot: the backend needs a single Redis (or a
replicated primary), not Redis Cluster.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa

from lakebed.errors import (
    AlreadyExists,
    BackendUnavailable,
    CorruptionError,
    InvalidArgument,
    NotFound,
    require,
)
from lakebed.storage._redis import AofPolicy
from lakebed.streams._backend import Records, StreamBackend, decode_lines, empty_records, encode_records
from lakebed.streams._spec import StreamSpec

log = logging.getLogger("lakebed.streams")

_CHUNK = 1000  # records per script call
_READ_BUFFER = 4 << 20  # bytes per socket read: a large read reply takes a few reads, each of which needs the GIL back
_CHUNK_BYTES = 4 << 20  # payload bytes per script call
_PIPELINE_CHUNKS = 64  # script calls per pipeline round trip
_TRIM_EVERY_US = 1_000_000  # opportunistic trim from append, per stream and process
_NAMESPACE = re.compile(r"[A-Za-z0-9_]{1,64}", re.ASCII)  # as the NATS backend and open_backend
_GONE = "LAKEBED_GONE"
_CORRUPT = "LAKEBED_CORRUPT"

# Shared Lua: server time in microseconds, and number formatting (Lua's tostring keeps 14
# digits only; offsets and microsecond times need 16).
_COMMON_LUA = """
local function now_us()
  local tm = redis.call('TIME')
  return tonumber(tm[1]) * 1000000 + tonumber(tm[2])
end
local function int(x) return string.format('%.0f', x) end
local function offset_of(id) return tonumber(string.match(id, '^(%d+)')) - 1 end
local function check_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= want and t ~= 'none' then
    return redis.error_reply('""" + _CORRUPT + """ key ' .. key .. ' holds a ' .. t .. ', not a ' .. want)
  end
end
"""

# Append one chunk. KEYS: stream, dedup hash, dedup zset, meta, defs. ARGV: stream name,
# dedup window (us), the message ids (newline-joined) or, for ids lakebed generated, the
# chunk's key, the payloads (newline-joined), and "g" for a generated chunk. Returns the
# first new offset, the append time and (index, offset) of each repeat (see _offsets).
# Reads and checks first; writes begin with the first XADD.
#
# Generated ids are unique, and only a resend of the same chunk (the same script call
# again, after a lost reply) can repeat them: such a chunk is remembered as one entry
# (its key: "\x01" and its first id, which no caller's id can be) holding its first
# offset, not one entry per record.
_APPEND_LUA = _COMMON_LUA + """
local s, dd, ddt, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0 then
  return redis.error_reply('""" + _GONE + """ stream ' .. ARGV[1] .. ' does not exist')
end
local e = check_type(s, 'stream') or check_type(dd, 'hash') or check_type(ddt, 'zset') or check_type(meta, 'hash')
if e then return e end
local m = redis.call('HMGET', meta, 'next', 't')
local nxt = tonumber(m[1]) or 0
local t = math.max(now_us(), tonumber(m[2]) or 0)
local cutoff = t - tonumber(ARGV[2])
-- ids and payloads come as two newline-joined arguments (neither holds a newline: ids are
-- printable ASCII, payloads compact JSON): two arguments to send and parse, not 2n
local function split(text)
  local out, i = {}, 1
  while true do
    local j = string.find(text, '\\n', i, true)
    if not j then out[#out + 1] = string.sub(text, i); return out end
    out[#out + 1] = string.sub(text, i, j - 1)
    i = j + 1
  end
end
-- forget ids older than the window, at most 5,000 a call (more than a call adds; a hit
-- is checked against its time, so an id expired but not yet removed is not a hit)
local function forget(cutoff)
  local below = '(' .. int(cutoff)
  for _ = 1, 5 do
    local old = redis.call('ZRANGEBYSCORE', ddt, '-inf', below, 'LIMIT', 0, 1000)
    if #old == 0 then break end
    redis.call('HDEL', dd, unpack(old))
    redis.call('ZREM', ddt, unpack(old))
    if #old < 1000 then break end
  end
end
if ARGV[5] == 'g' then
  local n, ck, ts = tonumber(ARGV[6]), ARGV[3], int(t)
  local hit = redis.call('HGET', dd, ck)
  if hit then
    local sc = redis.call('ZSCORE', ddt, ck)
    if sc and tonumber(sc) >= cutoff then  -- the chunk is in already: every record a repeat
      local out = {int(nxt), ts}
      for j = 1, n do out[#out + 1] = j; out[#out + 1] = int(tonumber(hit) + j - 1) end
      return out
    end
  end
  redis.call('XADD', s, int(nxt + 1) .. '-0', 'n', n, 't', ts, 'd', ARGV[4])
  redis.call('HSET', dd, ck, int(nxt))
  redis.call('ZADD', ddt, ts, ck)
  forget(cutoff)
  redis.call('HSET', meta, 'next', int(nxt + n), 't', ts)
  return {int(nxt), ts}
end
local ids = split(ARGV[3])
local n = #ids
if tonumber(ARGV[6]) ~= n then return redis.error_reply('""" + _CORRUPT + """ ids and payloads differ in number') end
local hits = redis.call('HMGET', dd, unpack(ids))
local hit_at, hit_ids = {}, {}
for j = 1, n do
  if hits[j] then hit_at[#hit_at + 1] = j; hit_ids[#hit_ids + 1] = ids[j] end
end
local live = {}
if #hit_ids > 0 then
  local sc = redis.call('ZMSCORE', ddt, unpack(hit_ids))
  for q = 1, #hit_at do
    if sc[q] and tonumber(sc[q]) >= cutoff then live[hit_at[q]] = true end
  end
end
-- the reply: the first new offset, the append time, then (index, offset) of each record
-- that took no new offset (a repeat); the new ones take first, first + 1, ... in order
local first = nxt
local out, seen, add_j, add_off = {int(first), 0}, {}, {}, {}
for j = 1, n do
  local id = ids[j]
  local off = seen[id]
  if off == nil then
    if live[j] then
      off = tonumber(hits[j])
      out[#out + 1] = j; out[#out + 1] = int(off)
    else
      off = nxt; nxt = nxt + 1
      add_j[#add_j + 1] = j; add_off[#add_off + 1] = off
    end
    seen[id] = off
  else
    out[#out + 1] = j; out[#out + 1] = int(off)
  end
end
local ts = int(t)
if #add_j > 0 then
  -- the new records take first, first + 1, ...: one entry holds them all (the payloads as
  -- sent when none is a repeat)
  local d = ARGV[4]
  if #add_j < n then
    local payloads, kept = split(ARGV[4]), {}
    if #payloads ~= n then return redis.error_reply('""" + _CORRUPT + """ ids and payloads differ in number') end
    for q = 1, #add_j do kept[q] = payloads[add_j[q]] end
    d = table.concat(kept, '\\n')
  end
  redis.call('XADD', s, int(first + 1) .. '-0', 'n', #add_j, 't', ts, 'd', d)
  local h, z = {}, {}
  for q = 1, #add_j do
    local j = add_j[q]
    h[#h + 1] = ids[j]; h[#h + 1] = int(add_off[q])
    z[#z + 1] = ts; z[#z + 1] = ids[j]
  end
  redis.call('HSET', dd, unpack(h))
  redis.call('ZADD', ddt, unpack(z))
end
forget(cutoff)
redis.call('HSET', meta, 'next', int(nxt), 't', ts)
out[2] = ts
return out
"""

# Read. KEYS: stream. ARGV: offset, count. An entry holds the records of one append
# chunk (fields n: how many, t: their append time, d: the records joined by line breaks,
# which the codec never writes inside a record; an entry without n, as lakebed 0.1 wrote
# them, holds one). Returns the number of records, then per entry read its first offset
# read, its number of records read, its append time and those records: the entry that
# holds the offset asked for and the entries after it, the first and last cut to the
# records asked for. An entry lakebed did not write returns {its id, what is wrong}.
_READ_LUA = _COMMON_LUA + """
local s, off, want = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local out, got = {0}, 0
-- the records skip + 1 .. skip + keep of d (nil when it has fewer lines)
local function lines(d, skip, keep)
  local i = 1
  for _ = 1, skip do
    i = string.find(d, '\\n', i, true)
    if not i then return nil end
    i = i + 1
  end
  local e = i - 1
  for c = 1, keep do
    local k = string.find(d, '\\n', e + 1, true)
    if k then e = k elseif c == keep then e = #d + 1 else return nil end
  end
  return string.sub(d, i, e - 1)
end
local function take(id, f)
  local first = string.match(id, '^(%d+)%-0$')
  if not first then return {id, 'an entry id with a sequence number'} end
  first = tonumber(first) - 1
  local n, t, d = 1, false, false
  for k = 1, #f, 2 do
    local name = f[k]
    if name == 'd' then d = f[k + 1]
    elseif name == 't' then t = f[k + 1]
    elseif name == 'n' then n = tonumber(f[k + 1]) end
  end
  if not d then return {id, 'an entry without a record'} end
  if not t then return {id, 'an entry without an append time'} end
  if not n or n < 1 then return {id, 'an entry with a bad record count'} end
  local skip = math.max(off - first, 0)
  local keep = math.min(n - skip, want - got)
  if keep <= 0 then return nil end
  if skip > 0 or keep < n then
    d = lines(d, skip, keep)
    if not d then return {id, 'an entry with fewer records than its count'} end
  end
  out[#out + 1] = int(first + skip); out[#out + 1] = keep; out[#out + 1] = t; out[#out + 1] = d
  got = got + keep
  return nil
end
-- the id after an entry's ('<o>-0', checked by take): '<o>-1'
local function after(id) return string.sub(id, 1, -3) .. '-1' end
local from = int(off + 1) .. '-0'
local prev = redis.call('XREVRANGE', s, from, '-', 'COUNT', 1)
if #prev > 0 then  -- the entry at or before the offset: it may hold it
  local e = take(prev[1][1], prev[1][2])
  if e then return e end
  from = after(prev[1][1])
end
while got < want do
  local ask = math.min(want - got, 32)
  local r = redis.call('XRANGE', s, from, '+', 'COUNT', ask)
  for q = 1, #r do
    local e = take(r[q][1], r[q][2])
    if e then return e end
    if got >= want then break end
  end
  if #r < ask or got >= want then break end
  from = after(r[#r][1])
end
out[1] = got
return out
"""

# The first retained offset with an append time >= ARGV[1] (the next offset when there is
# none), by a binary search of single-entry XRANGEs. KEYS: stream, meta.
_SEARCH_LUA = """
local function first_at(s, meta, tq)
  local nxt = tonumber(redis.call('HGET', meta, 'next')) or 0
  local e = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)
  if #e == 0 then return nxt end
  local function at(off)
    local r = redis.call('XRANGE', s, int(off + 1) .. '-0', '+', 'COUNT', 1)
    if #r == 0 then return nil, nil end
    local f, t = r[1][2], 0
    for k = 1, #f, 2 do if f[k] == 't' then t = tonumber(f[k + 1]) or 0 end end
    return offset_of(r[1][1]), t
  end
  local lo, hi, ans = offset_of(e[1][1]), nxt, nxt
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local off, t = at(mid)
    if off == nil or off >= hi then hi = mid
    elseif t >= tq then ans = off; hi = mid
    else lo = off + 1 end
  end
  return ans
end
"""
_OFFSET_FOR_TIME_LUA = _COMMON_LUA + _SEARCH_LUA + """
return first_at(KEYS[1], KEYS[2], tonumber(ARGV[1]))
"""

# Retention of one partition. KEYS: stream, meta. ARGV: oldest append time to keep ('' for
# none), byte limit ('' for none). Returns the records dropped.
_TRIM_LUA = _COMMON_LUA + _SEARCH_LUA + """
local s, meta = KEYS[1], KEYS[2]
if redis.call('TYPE', s)['ok'] ~= 'stream' then return 0 end
local function first_kept()
  local e = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)
  if #e == 0 then return tonumber(redis.call('HGET', meta, 'next')) or 0 end
  return offset_of(e[1][1])
end
local before = first_kept()
if ARGV[1] ~= '' then
  local keep = first_at(s, meta, tonumber(ARGV[1]))
  redis.call('XTRIM', s, 'MINID', int(keep + 1) .. '-0')
end
if ARGV[2] ~= '' then
  local limit = tonumber(ARGV[2])
  local used = redis.call('MEMORY', 'USAGE', s) or 0
  if used > limit then
    -- the oldest records, in proportion (whole entries: an entry holds one append chunk)
    local first = first_kept()
    local nxt = tonumber(redis.call('HGET', meta, 'next')) or first
    local drop = math.ceil((nxt - first) * (used - limit) / used)
    redis.call('XTRIM', s, 'MINID', int(first + drop + 1) .. '-0')
  end
end
return first_kept() - before
"""

# Per partition (KEYS: stream, meta, stream, meta, ...): first retained and next offset.
_BOUNDS_LUA = _COMMON_LUA + """
local out = {}
for i = 1, #KEYS, 2 do
  local nxt = tonumber(redis.call('HGET', KEYS[i + 1], 'next')) or 0
  local e = redis.call('XRANGE', KEYS[i], '-', '+', 'COUNT', 1)
  out[#out + 1] = (#e > 0) and offset_of(e[1][1]) or nxt
  out[#out + 1] = nxt
end
return out
"""

# KEYS: group hash, groups set, defs. ARGV: stream name, group, partition/offset pairs.
_COMMIT_LUA = """
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then
  return redis.error_reply('""" + _GONE + """ stream ' .. ARGV[1] .. ' does not exist')
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""

# KEYS: members zset, member-groups set, defs. ARGV: stream name, group, member, ttl (us).
_HEARTBEAT_LUA = _COMMON_LUA + """
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then
  return redis.error_reply('""" + _GONE + """ stream ' .. ARGV[1] .. ' does not exist')
end
local now = now_us()
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[4])), ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now))
redis.call('SADD', KEYS[2], ARGV[2])
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# Drop a stream whole. KEYS: defs. ARGV: stream name, key prefix '<...>:st:<name>:',
# partitions. The key names are derived here (fine on one Redis, not on a cluster).
_DROP_LUA = """
local p = ARGV[2]
local keys = {p .. 'groups', p .. 'mgroups'}
for k = 0, tonumber(ARGV[3]) - 1 do
  local s = p .. 'p' .. k
  keys[#keys + 1] = s; keys[#keys + 1] = s .. ':meta'; keys[#keys + 1] = s .. ':dd'; keys[#keys + 1] = s .. ':ddt'
end
for _, g in ipairs(redis.call('SMEMBERS', p .. 'groups')) do keys[#keys + 1] = p .. 'g:' .. g end
for _, g in ipairs(redis.call('SMEMBERS', p .. 'mgroups')) do keys[#keys + 1] = p .. 'm:' .. g end
for i = 1, #keys, 100 do redis.call('UNLINK', unpack(keys, i, math.min(i + 99, #keys))) end
return redis.call('HDEL', KEYS[1], ARGV[1])
"""



def _public_url(url: str) -> str:
    """``url`` without user name and password, for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return url.split("@")[-1]


class RedisBackend(StreamBackend):
    """A lake's streams on Redis Streams: one Redis stream per partition (see the module doc).

    Example:
        >>> from lakebed.streams._spec import StreamSpec
        >>> backend = RedisBackend("redis://127.0.0.1:6379/13", namespace="doc")  # doctest: +SKIP
        >>> spec = StreamSpec.build("clicks", schema={"user": "int64", "id": "string"}, id_field="id")
        >>> backend.create(spec)  # doctest: +SKIP
        >>> batch = pa.record_batch({"user": [7, 8], "id": ["a", "b"]})
        >>> backend.append(spec, {0: (batch, ["a", "b"])})  # doctest: +SKIP
        {0: [0, 1]}
        >>> backend.read(spec, 0, 0, 10).offsets  # doctest: +SKIP
        array([0, 1])
    """

    name = "redis"
    read_ahead = True  # redis-py's clients are thread-safe (a connection per thread from the pool)

    def __init__(self, url: str, *, namespace: str, fsync: str = "always") -> None:
        from lakebed.features.online.base import FSYNC_MODES

        if fsync not in FSYNC_MODES:
            raise InvalidArgument(f"fsync must be one of {FSYNC_MODES}, got {fsync!r}")
        if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise InvalidArgument(f"the Redis stream namespace must be 1-64 ASCII letters, digits or '_', "
                                  f"got {namespace!r}")
        redis = require("redis", "streams")
        self._errors: Any = redis.exceptions  # type: ignore[attr-defined]
        self._where = _public_url(url)
        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=5, socket_read_size=_READ_BUFFER)  # type: ignore[attr-defined]
        # waits block a connection for their whole timeout: a pool of their own, so that they
        # never hold back appends (redis-py takes a pooled connection per command anyway)
        self._blocking: Any = redis.Redis.from_url(url, socket_connect_timeout=5)  # type: ignore[attr-defined]
        self._prefix = f"lakebed:{namespace}:st:"
        self._defs = self._prefix + "defs"
        self._scripts: dict[str, tuple[str, str]] = {}  # name -> (sha1, source)
        with self._io():
            self._client.ping()
            for key, source in (("append", _APPEND_LUA), ("read", _READ_LUA), ("oft", _OFFSET_FOR_TIME_LUA),
                                ("trim", _TRIM_LUA), ("bounds", _BOUNDS_LUA), ("commit", _COMMIT_LUA),
                                ("heartbeat", _HEARTBEAT_LUA), ("drop", _DROP_LUA)):
                self._scripts[key] = (self._client.script_load(source), source)
        self._lock = threading.Lock()
        self._last_trim: dict[str, int] = {}
        self._aof: AofPolicy | None = None
        if fsync == "always":
            with self._io():
                self._aof = AofPolicy(self._client, self._errors, where=self._where, what="the Redis stream backend",
                                      writes="appends", log=log)

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _io(self) -> Iterator[None]:
        """Turn redis-py's errors into lakebed's."""
        try:
            yield
        except (self._errors.ConnectionError, self._errors.TimeoutError) as exc:
            raise BackendUnavailable(
                f"cannot reach the Redis stream backend at {self._where}: {exc}; check that Redis is running "
                f"and reachable (redis-cli -u {self._where} ping)"
            ) from None
        except self._errors.ResponseError as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception, stream: str = "") -> Exception:
        text = str(exc)
        if text.startswith(_GONE):
            return NotFound(f"stream {stream or text.split()[2]!r} does not exist on Redis at {self._where} "
                            "(dropped meanwhile?)")
        if text.startswith(_CORRUPT) or "equal or smaller than the target stream top item" in text:
            return CorruptionError(
                f"stream {stream!r} on Redis at {self._where}: {text.removeprefix(_CORRUPT).strip()}; something "
                "else wrote to the stream's keys: drop the stream or remove those keys"
            )
        if text.startswith("OOM"):
            return BackendUnavailable(f"Redis at {self._where} is out of memory ({text}); raise its maxmemory or "
                                      "shorten the streams' retention")
        return BackendUnavailable(f"Redis at {self._where} refused a stream command: {text}")

    def _eval(self, client: Any, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        sha = self._scripts[script][0]
        return client.evalsha(sha, len(keys), *keys, *args)

    def _run(self, calls: list[tuple[str, list[str], list[Any]]], stream: str) -> list[Any]:
        """Run script calls in one pipeline, in order; reload the scripts if Redis lost
        them (a restart, SCRIPT FLUSH) and run the calls that did not run again."""
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            if len(todo) == 1:  # no pipeline object for one call (a fifth of a small append's time)
                try:
                    out = [self._eval(self._client, *calls[todo[0]])]
                except self._errors.ResponseError as exc:
                    out = [exc]
            else:
                pipe = self._client.pipeline(transaction=False)
                for i in todo:
                    self._eval(pipe, *calls[i])
                out = pipe.execute(raise_on_error=False)
            missing = []
            for i, r in zip(todo, out, strict=True):
                if isinstance(r, self._errors.NoScriptError) and attempt == 0:
                    missing.append(i)
                elif isinstance(r, Exception):
                    raise self._error(r, stream)
                else:
                    results[i] = r
            if not missing:
                break
            for name, (_sha, source) in self._scripts.items():
                self._scripts[name] = (self._client.script_load(source), source)
            todo = missing
        return results

    def _durable(self) -> None:
        if self._aof is not None:
            self._aof.durable()

    def _base(self, spec: StreamSpec) -> str:
        return f"{self._prefix}{spec.name}:"

    def _part(self, spec: StreamSpec, partition: int) -> str:
        if not 0 <= partition < spec.partitions:
            raise InvalidArgument(f"stream {spec.name!r} has partitions 0..{spec.partitions - 1}, not {partition!r}")
        return f"{self._prefix}{spec.name}:p{partition}"

    # -- definitions -------------------------------------------------------------------
    def create(self, spec: StreamSpec) -> None:
        with self._io():
            if not self._client.hsetnx(self._defs, spec.name, spec.to_json()):
                raise AlreadyExists(f"stream {spec.name!r} exists already (Redis at {self._where}); "
                                    "drop it first or pick another name")
            self._durable()

    def load_spec(self, name: str) -> StreamSpec | None:
        with self._io():
            text = self._client.hget(self._defs, name)
        return None if text is None else StreamSpec.from_json(text)

    def list_specs(self) -> list[StreamSpec]:
        with self._io():
            defs = self._client.hgetall(self._defs)
        return [StreamSpec.from_json(defs[k]) for k in sorted(defs)]

    def drop(self, spec: StreamSpec) -> None:
        with self._io():
            self._run([("drop", [self._defs], [spec.name, self._base(spec), spec.partitions])], spec.name)
            self._durable()
        with self._lock:
            self._last_trim.pop(spec.name, None)

    # -- records -----------------------------------------------------------------------
    def append(self, spec: StreamSpec, parts: dict[int, tuple[pa.RecordBatch, list[str]]], *,
               generated: bool = False) -> dict[int, list[int]]:
        calls: list[tuple[str, list[str], list[Any]]] = []
        owner: list[int] = []  # the partition of each call
        sizes: list[int] = []  # and its number of records
        window = str(spec.dedup_window_us)
        for p, (batch, ids) in parts.items():
            key = self._part(spec, p)
            if len(ids) != batch.num_rows:
                raise InvalidArgument(f"stream {spec.name!r} partition {p}: {batch.num_rows} records but "
                                      f"{len(ids)} message ids")
            payloads = encode_records(batch, spec)
            keys = [key, key + ":dd", key + ":ddt", key + ":meta", self._defs]
            start = 0
            while start < len(payloads):
                end, size = start, 0
                while end < len(payloads) and end - start < _CHUNK and (size < _CHUNK_BYTES or end == start):
                    size += len(payloads[end])
                    end += 1
                args: list[Any] = [spec.name, window,
                                   "\x01" + ids[start] if generated else "\n".join(ids[start:end]),
                                   b"\n".join(payloads[start:end]), "g" if generated else "", str(end - start)]
                calls.append(("append", keys, args))
                owner.append(p)
                sizes.append(end - start)
                start = end
        out: dict[int, list[int]] = {p: [] for p in parts}
        t_last = 0
        with self._io():
            for at in range(0, len(calls), _PIPELINE_CHUNKS):
                results = self._run(calls[at:at + _PIPELINE_CHUNKS], spec.name)
                for p, r, n in zip(owner[at:at + _PIPELINE_CHUNKS], results, sizes[at:at + _PIPELINE_CHUNKS],
                                   strict=True):
                    out[p].extend(_offsets(r, n))
                    t_last = max(t_last, int(r[1]))
            if calls:
                self._durable()
        if t_last and (spec.retention_us or spec.retention_bytes):
            with self._lock:
                due = t_last - self._last_trim.get(spec.name, 0) >= _TRIM_EVERY_US
                if due:
                    self._last_trim[spec.name] = t_last
            if due:
                self.trim(spec, t_last)
        return out

    def read(self, spec: StreamSpec, partition: int, offset: int, max_records: int) -> Records:
        key = self._part(spec, partition)
        if max_records <= 0:
            return empty_records(spec)
        with self._io():
            flat = self._run([("read", [key], [str(max(int(offset), 0)), str(int(max_records))])], spec.name)[0]
        where = f"(Redis key {key})"
        if not isinstance(flat[0], int):
            raise CorruptionError(f"stream {spec.name!r} {where} holds an entry lakebed did not write "
                                  f"({_text(flat[1])}: {_text(flat[0])}); drop the stream or remove that entry")
        n = flat[0]
        if n == 0:
            return empty_records(spec)
        try:
            firsts = np.array([int(x) for x in flat[1::4]], dtype=np.int64)
            counts = np.array(flat[2::4], dtype=np.int64)
            times = np.array([int(x) for x in flat[3::4]], dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise CorruptionError(f"stream {spec.name!r} {where} holds an entry lakebed did not write ({exc}); "
                                  "drop the stream or remove that entry") from None
        # each entry's records have consecutive offsets and the entry's append time
        starts = np.cumsum(counts) - counts
        offsets = np.repeat(firsts - starts, counts) + np.arange(n, dtype=np.int64)
        return Records(decode_lines(b"\n".join(flat[4::4]), n, spec, where), offsets, np.repeat(times, counts))

    def bounds(self, spec: StreamSpec) -> list[tuple[int, int]]:
        keys: list[str] = []
        for p in range(spec.partitions):
            key = self._part(spec, p)
            keys += (key, key + ":meta")
        with self._io():
            flat = self._run([("bounds", keys, [])], spec.name)[0]
        return [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]

    def offset_for_time(self, spec: StreamSpec, partition: int, time_us: int) -> int:
        key = self._part(spec, partition)
        with self._io():
            return int(self._run([("oft", [key, key + ":meta"], [str(int(time_us))])], spec.name)[0])

    def wait(self, spec: StreamSpec, positions: dict[int, int], timeout: float) -> bool:
        if not positions:
            time.sleep(max(timeout, 0))
            return False
        streams = {self._part(spec, p): f"{max(int(pos), 0)}-0" for p, pos in positions.items()}
        block = max(1, math.ceil(timeout * 1000)) if timeout > 0 else None
        with self._io():
            return bool(self._blocking.xread(streams, count=1, block=block))

    def trim(self, spec: StreamSpec, now_us: int) -> int:
        if not (spec.retention_us or spec.retention_bytes):
            return 0
        keep = str(int(now_us) - spec.retention_us) if spec.retention_us else ""
        limit = str(spec.retention_bytes) if spec.retention_bytes else ""
        calls: list[tuple[str, list[str], list[Any]]] = []
        for p in range(spec.partitions):
            key = self._part(spec, p)
            calls.append(("trim", [key, key + ":meta"], [keep, limit]))
        with self._io():
            return sum(int(n) for n in self._run(calls, spec.name))

    # -- consumer groups ----------------------------------------------------------------
    def committed(self, spec: StreamSpec, group: str) -> dict[int, int]:
        with self._io():
            stored = self._client.hgetall(f"{self._base(spec)}g:{group}")
        return {int(p): int(o) for p, o in sorted(stored.items(), key=lambda kv: int(kv[0]))}

    def commit(self, spec: StreamSpec, group: str, offsets: dict[int, int]) -> None:
        if not offsets:
            return
        base = self._base(spec)
        args: list[Any] = [spec.name, group]
        for p, o in offsets.items():
            self._part(spec, p)
            args += (int(p), int(o))
        with self._io():
            self._run([("commit", [f"{base}g:{group}", base + "groups", self._defs], args)], spec.name)
            self._durable()

    def heartbeat(self, spec: StreamSpec, group: str, member: str, ttl_s: float) -> list[str]:
        base = self._base(spec)
        ttl_us = max(0, round(ttl_s * 1_000_000))
        with self._io():
            members = self._run([("heartbeat", [f"{base}m:{group}", base + "mgroups", self._defs],
                                  [spec.name, group, member, ttl_us])], spec.name)[0]
        return sorted(m.decode() for m in members)

    def leave(self, spec: StreamSpec, group: str, member: str) -> None:
        with self._io():
            self._client.zrem(f"{self._base(spec)}m:{group}", member)

    def groups(self, spec: StreamSpec) -> list[str]:
        with self._io():
            names = self._client.smembers(self._base(spec) + "groups")
        return sorted(n.decode() for n in names)

    def close(self) -> None:
        self._client.close()
        self._blocking.close()


def _offsets(reply: list[Any], n: int) -> list[int]:
    """The offsets of an append script's ``n`` records from its compact reply."""
    nxt = int(reply[0])
    repeats = {int(reply[i]): int(reply[i + 1]) for i in range(2, len(reply), 2)}
    if not repeats:
        return list(range(nxt, nxt + n))
    out = []
    for j in range(1, n + 1):
        off = repeats.get(j)
        if off is None:
            off = nxt
            nxt += 1
        out.append(off)
    return out


def _text(b: Any) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else str(b)
