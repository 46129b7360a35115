"""The NATS JetStream stream backend (nats-py): one JetStream stream per partition.

Layout on the server, for a lake whose namespace is ``<ns>``:

- partition ``p`` of stream ``s`` is the JetStream stream ``LB-<ns>-<s>-<p>`` on the subject
  ``lakebed.<ns>.<s>.<p>`` (file storage, one replica, discard old, ``max_age`` and
  ``max_bytes`` from the stream's retention, ``duplicate_window`` from its dedup window,
  shortened to the retention when that is shorter, as JetStream requires);
  a record's offset is its JetStream sequence minus one, so offsets start at 0 and have no
  gaps (JetStream's message-id deduplication takes no sequence);
- definitions live in the KV bucket ``LB-<ns>-streams`` (key: the stream's name), committed
  group offsets in ``LB-<ns>-groups`` (key ``<stream>.<group>``, a JSON object partition ->
  offset, merged by revision-checked updates so that concurrent committers keep each other's
  partitions) and group members in ``LB-<ns>-members`` (key ``<stream>.<group>.<member>``,
  the member's time to live; a member is alive while the server time of its last heartbeat
  plus that time to live is not past the server time of the newest heartbeat, so the
  members' clocks play no part). Key characters outside ``[A-Za-z0-9_-]`` are escaped as
  ``=XX``.

Appends are pipelined: every record is published on the partition's subject with a
``Nats-Msg-Id`` header (its message id) and a reply subject of one wildcard inbox, up to a
window of records in flight, and JetStream's acknowledgements are collected from that inbox.
A record whose acknowledgement does not come is published again with the same id (JetStream
drops the copy if the first one arrived, and acknowledges it with the first one's sequence);
after three tries the append raises :class:`~lakebed.errors.BackendUnavailable`. Records of
one partition are published in the call's order on one connection, and JetStream stores
them in that order; only a reconnection in the middle of an append can reorder the records
that were resent.

Durability: JetStream acknowledges a record once it has written it to its file store, before
an fsync, so an acknowledged append survives a crash of nats-server (the OS still has the
data) but a power cut or an OS crash can lose the records of the last ``sync_interval``
(2 minutes by default). nats-server 2.9 cannot fsync each write; from 2.10 on,
``jetstream { sync_interval: always }`` in the server's configuration makes it fsync before
acknowledging. With ``fsync="always"`` the backend logs one warning per process and server
when the server is older than 2.10 (and a note, as it cannot read the server's setting, on
later versions). ``fsync="batch"`` and ``"never"`` accept the server's behaviour silently.

Reads use an ephemeral pull consumer per partition (no acknowledgements, starting at the
requested sequence), kept while the caller reads on sequentially and made anew on a seek;
each read asks for a batch with ``no_wait`` and returns what is there. Retention by age and
size is applied by JetStream itself; :meth:`NatsBackend.trim` only reports how far the first
retained offsets moved since its previous call in this process (0 on its first call).

Client cost per message: nats-py spends several microseconds of Python on each message it
sends (``publish``: header encoding, checks, a coroutine) and more on each it takes (the
``Msg`` object, header parsing, the subscription's queue and task). Appends therefore write
their records' protocol frames (``HPUB`` with the message id) into the client's command
buffer in chunks of 512, and the acknowledgement inbox and the pull consumers' inboxes take
their messages from the client's protocol parser as byte tuples (:class:`_Dispatch`). Both
use nats-py internals (``_send_command``, ``_flush_pending``, ``_process_msg``), checked when
the backend connects; without them the backend uses ``publish`` and callbacks (tests cover
both paths). Measured on 200-byte records: appends 50k -> 100k records/s, the stream
processor reading JetStream 57k -> 78k events/s (``bench/results/streams.md``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa

from lakebed.errors import AlreadyExists, BackendUnavailable, InvalidArgument, NotFound, require
from lakebed.streams._backend import Records, StreamBackend, decode_records, empty_records, encode_records
from lakebed.streams._spec import StreamSpec

log = logging.getLogger("lakebed.streams")

FSYNC_MODES = ("always", "batch", "never")
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9_]{1,64}", re.ASCII)
_SAFE_KEY = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_API_TIMEOUT = 10.0  # seconds for one JetStream API request
_ACK_TIMEOUT = 10.0  # seconds without any acknowledgement before an append resends
_APPEND_TRIES = 3
_WINDOW = 4096  # records in flight per append call
_CHUNK = 512  # records written to the connection at once
# a record's protocol frame: HPUB with its message id as the one header (27 bytes of header
# besides the id), or PUB for a record without one
_HPUB = b"HPUB %b %b%d %d %d\r\nNATS/1.0\r\nNats-Msg-Id: %b\r\n\r\n%b\r\n"
_PUB = b"PUB %b %b%d %d\r\n%b\r\n"
_ID_BYTES = bytes(range(33, 127))  # message ids are printable ASCII without spaces
_PULL_BATCH = 10_000  # records per pull request
_READERS_MAX = 64  # cached pull consumers per backend
_READERS_PER_STREAM = 4  # of them, reading one partition (at different offsets)
_CONSUMER_IDLE_NS = 300 * 1_000_000_000  # the server deletes an idle reader consumer after this
_warned: set[str] = set()
_T = TypeVar("_T")


def _warn_once(key: str, message: str, level: int = logging.WARNING) -> None:
    if key not in _warned:
        _warned.add(key)
        log.log(level, message)


def _esc(text: str) -> str:
    """A KV key token: bytes outside ``[A-Za-z0-9_-]`` become ``=XX``."""
    return "".join(chr(b) if b in _SAFE_KEY else f"={b:02X}" for b in text.encode())


def _unesc(token: str) -> str:
    out = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "=":
            out.append(int(token[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(token[i]))
            i += 1
    return out.decode()


def _split_url(url: str) -> tuple[list[str], str]:
    """(the server URLs without their queries, host:port of each for messages: no
    credentials); ``url`` may list several servers of one cluster, comma-separated.

    Example:
        >>> _split_url("nats://u:p@h1:4222,nats://h2:4223?x=1")
        (['nats://u:p@h1:4222', 'nats://h2:4223'], 'h1:4222,h2:4223')
    """
    urls, wheres = [], []
    for one in url.split(","):
        parts = urlsplit(one.strip())
        where = parts.hostname or "127.0.0.1"
        if parts.port:
            where += f":{parts.port}"
        urls.append(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))
        wheres.append(where)
    return urls, ",".join(wheres)


def _reply_meta(reply: bytes) -> tuple[int, int]:
    """(stream sequence, timestamp in ns) from a JetStream delivery's reply subject,
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`` (v1) or with
    domain and account hash after ``$JS.ACK`` (v2).

    Example:
        >>> _reply_meta(b"$JS.ACK.S.C.1.42.7.1700000000000000000.0")
        (42, 1700000000000000000)
    """
    t = reply.split(b".")
    if len(t) == 9:
        return int(t[5]), int(t[7])
    return int(t[7]), int(t[9])


def _reply_metas(replies: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_reply_meta` of many deliveries (stream sequences, timestamps in ns), in one
    split when they have the same number of tokens (a consumer's deliveries do)."""
    width = replies[0].count(b".") + 1
    toks = b".".join(replies).split(b".")
    if len(toks) != width * len(replies):
        meta = np.array([_reply_meta(r) for r in replies], dtype=np.int64).reshape(-1, 2)
        return meta[:, 0], meta[:, 1]
    i, j = (5, 7) if width == 9 else (7, 9)
    return (np.array(list(map(int, toks[i::width])), dtype=np.int64),
            np.array(list(map(int, toks[j::width])), dtype=np.int64))


# A message as lakebed's handlers take it: (subject, reply, data, header block or None),
# all bytes, straight from the client's protocol parser.
_Raw = tuple[bytes, bytes, bytes, bytes | None]


def _status(hdr: bytes | None) -> tuple[str, str] | None:
    """(status, description) of a server status message (``NATS/1.0 404 No Messages``),
    or None for an ordinary header block.

    Example:
        >>> _status(b"NATS/1.0 408 Request Timeout\\r\\n\\r\\n")
        ('408', 'Request Timeout')
    """
    if not hdr or hdr[8:9] != b" ":
        return None
    end = hdr.find(b"\r\n")
    line = hdr[9:end if end >= 0 else len(hdr)].decode("utf-8", "replace").strip()
    status, _, desc = line.partition(" ")
    return status, desc.strip()


def _header(hdr: bytes | None, name: str) -> str | None:
    """The value of header ``name`` in a raw header block, or None.

    Example:
        >>> _header(b"NATS/1.0\\r\\nKV-Operation: DEL\\r\\n\\r\\n", "KV-Operation")
        'DEL'
    """
    if not hdr:
        return None
    for line in hdr.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().decode("ascii", "replace") == name:
            return value.strip().decode("utf-8", "replace")
    return None


def _raw_of(msg: Any) -> _Raw:
    """A nats-py ``Msg`` as a :data:`_Raw` tuple (the header block written back)."""
    hdr = None
    if msg.headers:
        h = dict(msg.headers)
        first = f"NATS/1.0 {h.pop('Status')} {h.pop('Description', '')}".rstrip() if "Status" in h else "NATS/1.0"
        hdr = (first + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n").encode()
    return msg.subject.encode(), (msg.reply or "").encode(), msg.data, hdr


class _Dispatch:
    """Messages of lakebed's own subscriptions go from the client's protocol parser to a
    plain function as :data:`_Raw` tuples, without the ``Msg`` object, the header parsing,
    the subscription's queue and task and a coroutine per message that nats-py spends on
    each (together more than half of its cost of a message, which decides how fast appends
    are acknowledged and reads come in). With a nats-py that lacks the parser's hook, the
    subscriptions fall back to ordinary callbacks."""

    def __init__(self, nc: Any) -> None:
        self.handlers: dict[int, Callable[[bytes, bytes, bytes, bytes | None], None]] = {}
        general = getattr(nc, "_process_msg", None)
        self.direct = general is not None and asyncio.iscoroutinefunction(general)
        if not self.direct:
            return
        handlers = self.handlers

        async def process_msg(sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
            handle = handlers.get(sid)
            if handle is None:
                return await general(sid, subject, reply, data, headers)  # type: ignore[misc]
            try:
                handle(subject, reply, data, headers)
            except Exception:  # the reader must go on: an error here would close the connection
                log.exception("handling a NATS message on %r failed", subject)
            return None

        nc._process_msg = process_msg

    async def subscribe(self, nc: Any, subject: str, handle: Callable[[bytes, bytes, bytes, bytes | None], None],
                        **kw: Any) -> Any:
        async def cb(msg: Any) -> None:
            handle(*_raw_of(msg))

        sub = await nc.subscribe(subject, cb=cb, **kw)
        sid = getattr(sub, "_id", None)
        if self.direct and isinstance(sid, int):
            self.handlers[sid] = handle  # before any message: nothing was awaited since the SUB
        return sub

    async def unsubscribe(self, sub: Any) -> None:
        self.handlers.pop(getattr(sub, "_id", None), None)  # type: ignore[arg-type]
        await sub.unsubscribe()


def _frames_ok(nc: Any, ids: list[str]) -> bool:
    """Whether an append can write its records' protocol frames itself (in chunks, instead
    of one ``nc.publish`` each, which costs several microseconds of Python per record):
    the nats-py client has the command buffer that ``publish`` writes to, and every message
    id is printable ASCII without spaces, so that the header needs none of the escaping
    nats-py applies (ids given to ``append`` are checked for that; ids from an id field are
    not, and take the ``publish`` path)."""
    if not (callable(getattr(nc, "_send_command", None)) and callable(getattr(nc, "_flush_pending", None))
            and hasattr(nc, "_flush_queue")):
        return False
    joined = "".join(ids)
    return joined.isascii() and not joined.encode().translate(None, _ID_BYTES)


class _ApiError(Exception):
    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(f"{description} (code {code}, err_code {err_code})")
        self.code, self.err_code, self.description = code, err_code, description


class _Pull:
    """One pull request in flight on a consumer's inbox."""

    __slots__ = ("done", "error", "msgs", "want")

    def __init__(self, want: int, loop: asyncio.AbstractEventLoop) -> None:
        self.want = want
        self.msgs: list[_Raw] = []
        self.error: str | None = None
        self.done: asyncio.Future[None] = loop.create_future()


def _fast_subjects(nats: Any) -> dict[str, Any]:
    """Subjects lakebed publishes to are made of validated names (stream, namespace) and
    numbers: nats-py (2.10 and later) need not check each one again per message."""
    import inspect

    params = inspect.signature(nats.aio.client.Client.connect).parameters
    return {"skip_subject_validation": True} if "skip_subject_validation" in params else {}


class _Consumer:
    """An ephemeral pull consumer (acknowledgements off) and the inbox its batches come to."""

    def __init__(self, backend: NatsBackend, stream: str) -> None:
        self.backend = backend
        self.stream = stream
        self.name = ""
        self.sub: Any = None
        self.pull: _Pull | None = None
        self.next_seq = 0  # the sequence the consumer delivers next (as far as we know)

    async def open(self, config: dict[str, Any]) -> None:
        nc = self.backend._nc
        self.inbox = nc.new_inbox()
        self.sub = await self.backend._dispatch.subscribe(nc, self.inbox, self._on_msg,
                                                          pending_msgs_limit=4 * _PULL_BATCH,
                                                          pending_bytes_limit=1 << 30)
        cfg = {"ack_policy": "none", "replay_policy": "instant", "mem_storage": True, "num_replicas": 1,
               "inactive_threshold": _CONSUMER_IDLE_NS, **config}
        try:
            resp = await self.backend._api(f"CONSUMER.CREATE.{self.stream}", {"stream_name": self.stream,
                                                                             "config": cfg})
        except BaseException:
            await self.close()
            raise
        self.name = resp["name"]
        self.next_seq = int(resp.get("delivered", {}).get("stream_seq", 0)) + 1

    def _on_msg(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes | None) -> None:
        pull = self.pull
        if pull is None or pull.done.done():
            return
        if not data and (st := _status(hdr)) is not None:
            status, desc = st
            if status == "100":  # heartbeat
                return
            if status not in ("404", "408"):  # 404 no messages, 408 request ended: the batch is complete
                pull.error = f"{status} {desc}".strip()
            pull.done.set_result(None)
            return
        pull.msgs.append((subject, reply, data, hdr))
        if len(pull.msgs) >= pull.want:
            pull.done.set_result(None)

    async def fetch(self, want: int, expires: float | None = None) -> list[_Raw]:
        """Up to ``want`` messages from where the consumer is (fewer at the end); with
        ``expires`` (seconds) and nothing there, wait that long for the first message
        (a long poll: the server answers as soon as one is stored)."""
        nc = self.backend._nc
        loop = asyncio.get_running_loop()
        out: list[_Raw] = []
        while len(out) < want:
            poll = expires is not None and not out
            pull = self.pull = _Pull(1 if poll else min(_PULL_BATCH, want - len(out)), loop)
            ask = {"batch": 1, "expires": int(expires * 1e9)} if poll and expires is not None else {
                "batch": pull.want, "no_wait": True}
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.name}", self.backend._dumps(ask),
                             reply=self.inbox)
            try:
                await asyncio.wait_for(asyncio.shield(pull.done), _API_TIMEOUT + (expires or 0) if poll else
                                       _API_TIMEOUT)
            except TimeoutError:
                raise _ApiError(408, 0, "no answer to a pull request") from None
            finally:
                self.pull = None
            if pull.error is not None:
                # 503: no consumer listens (deleted for idleness, or with its stream); 409: it went away
                raise _ApiError(int(pull.error[:3]) if pull.error[:3].isdigit() else 0, 0, pull.error)
            out.extend(pull.msgs)
            if pull.msgs:
                self.next_seq = _reply_meta(pull.msgs[-1][1])[0] + 1
            if poll:
                if not pull.msgs:
                    break
                continue  # the first one came: take what followed it without waiting
            if len(pull.msgs) < pull.want:
                break
        return out

    async def close(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.backend._dispatch.unsubscribe(self.sub)
            self.sub = None
        if self.name:
            name, self.name = self.name, ""
            with contextlib.suppress(Exception):  # else the server drops it when idle
                await self.backend._nc.publish(f"$JS.API.CONSUMER.DELETE.{self.stream}.{name}", b"")


class _Append:
    """The state of one append call's records in flight."""

    __slots__ = ("error", "inflight", "progress", "seqs", "subjects", "wake", "wake_at")

    def __init__(self, subjects: list[str]) -> None:
        self.subjects = subjects
        self.seqs = [0] * len(subjects)  # JetStream sequence of each published record (0: not acknowledged)
        self.inflight = 0
        self.wake_at = _WINDOW // 2  # wake the publisher when no more than this many are in flight
        self.progress = 0
        self.error: BaseException | None = None
        self.wake = asyncio.Event()


class NatsBackend(StreamBackend):
    """Streams in NATS JetStream, selected with ``streams="nats://host:4222"``.

    ``namespace`` (1-64 of ``[A-Za-z0-9_]``) keeps the lakes on one server apart; ``fsync`` is
    the lake's durability setting (see the module doc for what JetStream gives). Thread-safe:
    an event loop in a daemon thread runs the nats-py client; each method waits for its
    result.

    Example:
        >>> from lakebed.streams._spec import StreamSpec
        >>> import pyarrow as pa
        >>> backend = NatsBackend("nats://127.0.0.1:4222", namespace="doc")  # doctest: +SKIP
        >>> spec = StreamSpec.build("clicks", schema={"user": "int64"})
        >>> backend.create(spec)  # doctest: +SKIP
        >>> backend.append(spec, {0: (pa.record_batch({"user": [7]}), ["m1"])})  # doctest: +SKIP
        {0: [0]}
        >>> backend.read(spec, 0, 0, 10).batch.to_pylist()  # doctest: +SKIP
        [{'user': 7}]
        >>> backend.close()  # doctest: +SKIP
    """

    name = "nats"
    # no reading ahead: taking messages is Python work on the backend's event loop, which
    # would contend for the GIL with the processor's step (measured: 57-62k ev/s with a read
    # ahead, 72k without, JetStream -> SQLite)
    read_ahead = False
    # seconds between client pings; two unanswered pings close the connection and nats-py
    # reconnects to another server of the list (the cluster uses 1 s: a server cut off by a
    # partition is left within ~3 s instead of minutes)
    ping_interval = 120.0

    def __init__(self, url: str, *, namespace: str, fsync: str = "always") -> None:
        if fsync not in FSYNC_MODES:
            raise InvalidArgument(f"fsync must be one of {FSYNC_MODES}, got {fsync!r}")
        if not isinstance(namespace, str) or not _NAMESPACE_RE.fullmatch(namespace):
            raise InvalidArgument(f"the NATS stream namespace must be 1-64 ASCII letters, digits or '_', "
                                  f"got {namespace!r}")
        self._nats: Any = cast(Any, require("nats", "streams"))
        self._orjson: Any = cast(Any, require("orjson", "streams"))
        self._dumps: Callable[[Any], bytes] = self._orjson.dumps
        self.urls, self.where = _split_url(url)
        self.url = self.urls[0]
        self._ack_timeout = _ACK_TIMEOUT
        self._append_tries = _APPEND_TRIES
        self.namespace = namespace
        self.fsync = fsync
        self._ack_tok = 0
        self._acks: dict[int, tuple[_Append, int]] = {}
        self._readers: OrderedDict[tuple[str, int], _Consumer] = OrderedDict()  # (stream, next seq)
        self._read_locks: dict[str, asyncio.Lock] = {}
        self._trim_first: dict[str, int] = {}
        self._closed = self._closing = False
        self._close_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"lakebed-nats-{namespace}",
                                        daemon=True)
        self._thread.start()
        try:
            self._run(self._connect(), timeout=30)
        except BaseException:
            self._stop_loop()
            raise
        if fsync == "always":
            self._check_durability()

    # -- the event loop ----------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, _T], timeout: float = 60.0) -> _T:
        if self._closed:
            coro.close()
            raise BackendUnavailable(f"the NATS stream backend for {self.where} is closed")
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise BackendUnavailable(f"NATS at {self.where} did not answer within {timeout:g} s") from None
        except _ApiError as exc:
            raise BackendUnavailable(f"JetStream at {self.where} refused a request: {exc.description}") from None
        except self._nats.errors.Error as exc:
            raise BackendUnavailable(f"NATS at {self.where} failed: {type(exc).__name__} {exc}; "
                                     "is nats-server running with -js?") from None

    def _stop_loop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _connect(self) -> None:
        nats = self._nats

        last_error: list[Exception] = []

        async def on_error(exc: Exception) -> None:
            last_error[:] = [exc]
            log.debug("NATS at %s: %s", self.where, exc)

        async def on_disconnect() -> None:
            if not self._closing:
                log.warning("lost the connection to NATS at %s; reconnecting", self.where)

        try:
            # nats-py retries a first connection max_reconnect_attempts times (60 by default,
            # 2 s apart): fail after two tries instead, then reconnect for as long as it takes
            self._nc: Any = await nats.connect(
                self.urls, connect_timeout=5, allow_reconnect=False, error_cb=on_error,
                disconnected_cb=on_disconnect, name=f"lakebed-streams-{self.namespace}",
                max_reconnect_attempts=1, reconnect_time_wait=0.5, ping_interval=self.ping_interval,
                max_outstanding_pings=2, **_fast_subjects(nats),
            )
        except Exception as exc:
            cause = last_error[0] if last_error else exc  # "no servers available" says less than its cause
            raise BackendUnavailable(f"cannot reach NATS at {self.where}: {cause or type(cause).__name__}; "
                                     "is nats-server running with -js?") from None
        self._nc.options["allow_reconnect"] = True
        self._dispatch = _Dispatch(self._nc)
        self._nc.options["max_reconnect_attempts"] = -1
        self._js: Any = self._nc.jetstream(timeout=_API_TIMEOUT)
        try:
            await self._js.account_info()
        except Exception as exc:
            self._closing = True
            await self._nc.close()
            what = "no JetStream enabled" if isinstance(exc, nats.js.errors.ServiceUnavailableError) else (
                f"no JetStream answering ({type(exc).__name__}: {exc})")
            raise BackendUnavailable(f"NATS at {self.where} has {what}; start nats-server with -js (or "
                                     "'jetstream {}' in its configuration)") from None
        self._ack_prefix = self._nc.new_inbox() + "."
        self._ack_cut = len(self._ack_prefix.encode())
        self._ack_sub = await self._dispatch.subscribe(self._nc, self._ack_prefix + "*", self._on_ack,
                                                 pending_msgs_limit=4 * _WINDOW * 16, pending_bytes_limit=1 << 28)
        self._kv_streams = await self._bucket("streams")
        self._kv_groups = await self._bucket("groups")
        self._kv_members = await self._bucket("members")

    async def _bucket(self, what: str) -> Any:
        bucket = f"LB-{self.namespace}-{what}"
        try:
            return await self._js.key_value(bucket)
        except self._nats.js.errors.BucketNotFoundError:
            return await self._js.create_key_value(bucket=bucket, history=1, storage="file")

    def _check_durability(self) -> None:
        v = self._nc.connected_server_version
        version = f"{v.major}.{v.minor}.{v.patch}"
        if (v.major, v.minor) < (2, 10):
            _warn_once(self.where, (
                f"the NATS stream backend at {self.where} runs nats-server {version}, which acknowledges an "
                "append once written to its file store but fsyncs only every sync_interval (2 minutes by "
                "default): a power cut or OS crash can lose acknowledged appends; nats-server 2.10 or later "
                "with 'jetstream { sync_interval: always }' gives fsync='always'"))
        else:
            _warn_once(self.where, (
                f"the NATS stream backend at {self.where} (nats-server {version}) fsyncs each append only with "
                "'jetstream { sync_interval: always }' in the server's configuration, which a client cannot "
                "check; without it a power cut can lose acknowledged appends"), logging.INFO)

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closing = True
            try:
                self._run(self._aclose(), timeout=15)
            except Exception as exc:  # closing anyway
                log.debug("closing NATS at %s: %s", self.where, exc)
            self._closed = True
        self._stop_loop()

    async def _aclose(self) -> None:
        for c in list(self._readers.values()):
            await c.close()
        self._readers.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.drain(), 10)
        if not self._nc.is_closed:
            await self._nc.close()

    # -- helpers -------------------------------------------------------------------------
    def _stream(self, spec: StreamSpec, p: int) -> str:
        return f"LB-{self.namespace}-{spec.name}-{p}"  # "-" is in no name: unambiguous

    def _subject(self, spec: StreamSpec, p: int) -> str:
        return f"lakebed.{self.namespace}.{spec.name}.{p}"

    async def _api(self, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        msg = await self._nc.request(f"$JS.API.{what}", b"" if body is None else self._dumps(body),
                                     timeout=_API_TIMEOUT)
        resp: dict[str, Any] = self._orjson.loads(msg.data)
        if "error" in resp:
            e = resp["error"]
            raise _ApiError(int(e.get("code", 0)), int(e.get("err_code", 0)), str(e.get("description", "")))
        return resp

    def _check_partition(self, spec: StreamSpec, partition: int) -> None:
        if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < spec.partitions:
            raise InvalidArgument(f"stream {spec.name!r} has partitions 0..{spec.partitions - 1}, got {partition!r}")

    async def _scan(self, bucket: Any, pattern: str) -> list[tuple[str, bytes, int, int]]:
        """The live keys of a KV bucket matching ``pattern`` (a subject pattern under the
        bucket): (key, value, revision, server time in ns)."""
        c = _Consumer(self, bucket._stream)
        await c.open({"deliver_policy": "last_per_subject", "filter_subject": bucket._pre + pattern,
                      "inactive_threshold": 30 * 1_000_000_000})
        try:
            msgs = await c.fetch(1 << 30)
        finally:
            await c.close()
        out = []
        for subject, reply, data, hdr in msgs:
            if _header(hdr, "KV-Operation") in ("DEL", "PURGE"):
                continue
            seq, ts = _reply_meta(reply)
            out.append((subject.decode()[len(bucket._pre):], data, seq, ts))
        return out

    async def _purge_keys(self, bucket: Any, pattern: str, before: int | None = None) -> None:
        """Remove the keys matching ``pattern`` without leaving delete markers; with
        ``before``, only their revisions older than that."""
        body: dict[str, Any] = {"filter": bucket._pre + pattern}
        if before is not None:
            body["seq"] = before
        await self._api(f"STREAM.PURGE.{bucket._stream}", body)

    # -- definitions ---------------------------------------------------------------------
    def create(self, spec: StreamSpec) -> None:
        self._run(self._create(spec))

    async def _create(self, spec: StreamSpec) -> None:
        key = _esc(spec.name)
        KeyNotFound = self._nats.js.errors.KeyNotFoundError
        try:
            await self._kv_streams.get(key)
            raise AlreadyExists(f"stream {spec.name!r} exists already (in NATS at {self.where})")
        except KeyNotFound:
            pass
        for p in range(spec.partitions):
            cfg: dict[str, Any] = {
                "name": self._stream(spec, p), "subjects": [self._subject(spec, p)], "retention": "limits",
                "storage": "file", "num_replicas": 1, "discard": "old", "max_consumers": -1, "max_msgs": -1,
                "max_msgs_per_subject": -1, "max_msg_size": -1,
                # JetStream requires the dedup window to fit in max_age
                "duplicate_window": min(spec.dedup_window_us, spec.retention_us or spec.dedup_window_us) * 1000,
                "max_age": (spec.retention_us or 0) * 1000, "max_bytes": spec.retention_bytes or -1,
            }
            try:
                await self._api(f"STREAM.CREATE.{cfg['name']}", cfg)
            except _ApiError as exc:
                if exc.err_code == 10058:  # a stream of that name with another configuration
                    raise AlreadyExists(
                        f"stream {spec.name!r}: JetStream stream {cfg['name']} exists already with another "
                        "configuration but no lakebed definition (left by an interrupted create); delete it "
                        f"(nats stream rm {cfg['name']}) and create the stream again") from None
                raise
        try:
            await self._kv_streams.create(key, spec.to_json().encode())
        except self._nats.js.errors.KeyWrongLastSequenceError:
            raise AlreadyExists(f"stream {spec.name!r} exists already (in NATS at {self.where})") from None

    def load_spec(self, name: str) -> StreamSpec | None:
        async def get() -> bytes | None:
            try:
                return (await self._kv_streams.get(_esc(name))).value  # type: ignore[no-any-return]
            except self._nats.js.errors.KeyNotFoundError:
                return None

        value = self._run(get())
        return None if value is None else StreamSpec.from_json(value)

    def list_specs(self) -> list[StreamSpec]:
        rows = self._run(self._scan(self._kv_streams, "*"))
        return sorted((StreamSpec.from_json(v) for _k, v, _r, _t in rows), key=lambda s: s.name)

    def drop(self, spec: StreamSpec) -> None:
        self._run(self._drop(spec))

    async def _drop(self, spec: StreamSpec) -> None:
        for p in range(spec.partitions):
            name = self._stream(spec, p)
            for at in [k for k in self._readers if k[0] == name]:
                await self._readers.pop(at).close()
            self._trim_first.pop(name, None)
            try:
                await self._api(f"STREAM.DELETE.{name}")
            except _ApiError as exc:
                if exc.err_code != 10059:  # stream not found: gone already
                    raise
        key = _esc(spec.name)
        await self._purge_keys(self._kv_groups, f"{key}.*")
        await self._purge_keys(self._kv_members, f"{key}.*.*")
        await self._purge_keys(self._kv_streams, key)  # the definition last: a failed drop can be redone

    # -- records -------------------------------------------------------------------------
    def append(self, spec: StreamSpec, parts: dict[int, tuple[pa.RecordBatch, list[str]]], *,
               generated: bool = False) -> dict[int, list[int]]:
        subjects: list[str] = []
        payloads: list[bytes] = []
        ids: list[str] = []
        index: dict[int, list[int]] = {}  # partition -> position in the pipeline of each record
        for p, (batch, msg_ids) in parts.items():
            self._check_partition(spec, p)
            if len(msg_ids) != batch.num_rows:
                raise InvalidArgument(f"append to stream {spec.name!r}: {batch.num_rows} records but "
                                      f"{len(msg_ids)} message ids")
            subject = self._subject(spec, p)
            first: dict[str, int] = {}
            pos = []
            for mid, payload in zip(msg_ids, encode_records(batch, spec), strict=True):
                j = first.get(mid) if mid else None
                if j is None:  # a repeat within the call is the earlier record
                    j = len(payloads)
                    if mid:
                        first[mid] = j
                    subjects.append(subject)
                    payloads.append(payload)
                    ids.append(mid)
                pos.append(j)
            index[p] = pos
        if not payloads:
            return {p: [] for p in parts}
        seqs = self._run(self._append(spec.name, subjects, payloads, ids),
                         timeout=self._ack_timeout * (self._append_tries + 2)
                         + len(payloads) / 1000)
        return {p: [seqs[j] - 1 for j in pos] for p, pos in index.items()}

    def _on_ack(self, subject: bytes, reply: bytes, data: bytes, hdr: bytes | None) -> None:
        try:
            tok = int(subject[self._ack_cut:])
        except ValueError:
            return
        entry = self._acks.pop(tok, None)
        if entry is None:  # the ack of a record resent since
            return
        state, j = entry
        state.inflight -= 1
        state.progress += 1
        if data:
            try:
                ack = self._orjson.loads(data)
            except self._orjson.JSONDecodeError:
                ack = {"error": {"description": f"an acknowledgement that is not JSON: {data[:100]!r}"}}
            if "error" in ack:
                if state.error is None:
                    state.error = BackendUnavailable(
                        f"JetStream at {self.where} refused an append: {ack['error'].get('description', ack)}")
            else:
                state.seqs[j] = int(ack["seq"])
        elif state.error is None:
            status = (_status(hdr) or ("", ""))[0]
            if status == "503":  # no responders: no JetStream stream takes the subject
                state.error = NotFound(
                    f"no JetStream stream at {self.where} takes {state.subjects[j]!r}: the stream was dropped, "
                    "or its JetStream stream was deleted outside lakebed")
            else:
                state.error = BackendUnavailable(
                    f"JetStream at {self.where} answered an append with status {status or 'none'}")
        if state.inflight <= state.wake_at or state.error is not None:
            state.wake.set()

    async def _append(self, name: str, subjects: list[str], payloads: list[bytes], ids: list[str]) -> list[int]:
        nc = self._nc
        max_payload = nc.max_payload
        mids = [m.encode() for m in ids]
        for payload, mid_b in zip(payloads, mids, strict=True):
            # the server counts the header too, and closes the connection of a client that goes over
            size = len(payload) + len(mid_b) + 32
            if size > max_payload:
                raise InvalidArgument(f"a record of stream {name!r} takes {size} bytes as a NATS message (JSON "
                                      f"and message id); NATS at {self.where} takes messages of up to {max_payload} "
                                      "bytes (max_payload in the server's configuration)")
        state = _Append(subjects)
        todo = list(range(len(payloads)))
        prefix = self._ack_prefix
        frames = _frames_ok(nc, ids)
        subj = {s: s.encode() for s in set(subjects)}
        reply = prefix.encode()
        for attempt in range(self._append_tries):
            toks: list[int] = []
            try:
                state.wake_at = _WINDOW // 2
                at = 0
                while at < len(todo):
                    if state.inflight >= _WINDOW:
                        await self._settle(state)
                    if state.error is not None:
                        raise state.error
                    chunk = todo[at:at + min(_CHUNK, _WINDOW - state.inflight)]
                    at += len(chunk)
                    tok0 = self._ack_tok + 1
                    self._ack_tok += len(chunk)
                    mine = range(tok0, tok0 + len(chunk))
                    toks.extend(mine)
                    self._acks.update(zip(mine, [(state, j) for j in chunk], strict=True))
                    state.inflight += len(chunk)
                    if frames and nc.is_connected and not nc.is_draining:
                        # the chunk's protocol frames written at once (what nc.publish writes for each)
                        await nc._send_command(b"".join([
                            (_HPUB % (subj[subjects[j]], reply, tok, 27 + len(mids[j]),
                                      27 + len(mids[j]) + len(payloads[j]), mids[j], payloads[j])) if mids[j]
                            else _PUB % (subj[subjects[j]], reply, tok, len(payloads[j]), payloads[j])
                            for tok, j in zip(mine, chunk, strict=True)]))
                        if nc._flush_queue is not None and nc._flush_queue.empty():
                            await nc._flush_pending()
                    else:  # reconnecting (nats-py decides what it buffers), or another nats-py
                        for tok, j in zip(mine, chunk, strict=True):
                            mid = ids[j]
                            await nc.publish(subjects[j], payloads[j], reply=f"{prefix}{tok}",
                                             headers={"Nats-Msg-Id": mid} if mid else None)
                state.wake_at = 0
                await self._settle(state)
                if state.error is not None:
                    raise state.error
                return state.seqs
            except (TimeoutError, self._nats.errors.Error) as exc:
                for tok in toks:
                    self._acks.pop(tok, None)
                state.inflight = 0
                todo = [j for j in range(len(payloads)) if state.seqs[j] == 0]
                if attempt + 1 < self._append_tries:
                    log.warning("append to stream %r: %d of %d records unacknowledged by NATS at %s (%s); "
                                "resending them (try %d of %d)", name, len(todo), len(payloads), self.where,
                                type(exc).__name__, attempt + 2, self._append_tries)
                    await asyncio.sleep(min(0.5 * (attempt + 1), 1.0))
            except BaseException:
                for tok in toks:
                    self._acks.pop(tok, None)
                raise
        raise BackendUnavailable(
            f"append to stream {name!r}: NATS at {self.where} did not acknowledge {len(todo)} of "
            f"{len(payloads)} records after {self._append_tries} tries; the others are stored (appending the same "
            "message ids again is safe within the dedup window)")

    async def _settle(self, state: _Append) -> None:
        """Wait until no more than ``state.wake_at`` records are in flight (or an error);
        raise TimeoutError after the ack timeout (10 s) without any acknowledgement."""
        while state.inflight > state.wake_at and state.error is None:
            state.wake.clear()
            before = state.progress
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(state.wake.wait(), self._ack_timeout)
            if state.progress == before and state.error is None:
                raise TimeoutError

    def read(self, spec: StreamSpec, partition: int, offset: int, max_records: int) -> Records:
        self._check_partition(spec, partition)
        if max_records <= 0:
            return empty_records(spec)
        msgs = self._run(self._read(self._stream(spec, partition), max(0, int(offset)), int(max_records)))
        if not msgs:
            return empty_records(spec)
        seqs, stamps = _reply_metas([m[1] for m in msgs])
        batch = decode_records([m[2] for m in msgs], spec, where=f"partition {partition} (NATS)")
        return Records(batch, seqs - 1, stamps // 1000)

    async def _read(self, stream: str, offset: int, max_records: int, expires: float | None = None) -> list[_Raw]:
        lock = self._read_locks.get(stream)
        if lock is None:
            lock = self._read_locks[stream] = asyncio.Lock()
        async with lock:  # one read at a time per partition
            for attempt in range(2):
                # readers are kept by where they stand: a processor's online and offline
                # sinks read one partition at different offsets, each with its own consumer
                c = self._readers.pop((stream, offset + 1), None)
                if c is None:
                    c = _Consumer(self, stream)
                    try:
                        await c.open({"deliver_policy": "by_start_sequence", "opt_start_seq": offset + 1})
                    except _ApiError as exc:
                        if exc.err_code == 10059:
                            raise NotFound(f"JetStream stream {stream} is missing (dropped, or deleted outside "
                                           "lakebed)") from None
                        raise
                try:
                    msgs = await c.fetch(max_records, expires)
                except _ApiError:
                    # the consumer went away (idle too long, or the stream was re-created): make it anew
                    await c.close()
                    if attempt:
                        raise
                    continue
                await self._keep_reader(stream, c)
                # a consumer asked to start past the end may start at the end: skip what precedes
                if msgs and _reply_meta(msgs[0][1])[0] <= offset:
                    msgs = [m for m in msgs if _reply_meta(m[1])[0] > offset]
                return msgs
        raise AssertionError("unreachable")

    async def _keep_reader(self, stream: str, c: _Consumer) -> None:
        """Keep a reader for the next read from where it stands: at most
        ``_READERS_PER_STREAM`` per partition and ``_READERS_MAX`` in all (the least
        recently used go)."""
        old = self._readers.pop((stream, c.next_seq), None)
        if old is not None:
            await old.close()
        self._readers[(stream, c.next_seq)] = c
        mine = [k for k in self._readers if k[0] == stream]
        for k in mine[:max(len(mine) - _READERS_PER_STREAM, 0)]:
            await self._readers.pop(k).close()
        while len(self._readers) > _READERS_MAX:
            await self._readers.popitem(last=False)[1].close()

    def bounds(self, spec: StreamSpec) -> list[tuple[int, int]]:
        return self._run(self._bounds(spec))

    async def _bounds(self, spec: StreamSpec) -> list[tuple[int, int]]:
        infos = await asyncio.gather(*(self._info(self._stream(spec, p)) for p in range(spec.partitions)))
        out = []
        for info in infos:
            first, last = int(info["state"]["first_seq"]), int(info["state"]["last_seq"])
            out.append((max(first - 1, 0), last))  # emptied by retention or purge: first = last + 1
        return out

    async def _info(self, stream: str) -> dict[str, Any]:
        try:
            return await self._api(f"STREAM.INFO.{stream}")
        except _ApiError as exc:
            if exc.err_code == 10059:
                raise NotFound(f"JetStream stream {stream} is missing (dropped, or deleted outside lakebed)") from None
            raise

    def offset_for_time(self, spec: StreamSpec, partition: int, time_us: int) -> int:
        self._check_partition(spec, partition)
        return self._run(self._offset_for_time(self._stream(spec, partition), int(time_us)))

    async def _offset_for_time(self, stream: str, time_us: int) -> int:
        # a consumer delivering by start time starts at the first message whose timestamp
        # is >= the time (JetStream's own lookup); it reports that as delivered = start - 1
        # the server keeps times as int64 ns (up to the year 2262): later is "after every record"
        ns = min(max(time_us, 0) * 1000, 1 << 62)
        secs, frac = divmod(ns, 1_000_000_000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"
        c = _Consumer(self, stream)
        try:
            await c.open({"deliver_policy": "by_start_time", "opt_start_time": stamp,
                          "inactive_threshold": 5 * 1_000_000_000})
        except _ApiError as exc:
            if exc.err_code == 10059:
                raise NotFound(f"JetStream stream {stream} is missing (dropped, or deleted outside lakebed)") from None
            raise
        await c.close()
        return c.next_seq - 1

    def wait(self, spec: StreamSpec, positions: dict[int, int], timeout: float) -> bool:
        for p in positions:
            self._check_partition(spec, p)
        if not positions:
            time.sleep(max(timeout, 0))
            return False
        event = threading.Event()
        sub = self._run(self._arm(f"lakebed.{self.namespace}.{spec.name}.*", event))
        try:
            deadline = time.monotonic() + max(timeout, 0)
            bounds = self.bounds(spec)
            if any(bounds[p][1] > pos for p, pos in positions.items()):
                return True
            # a record published just before the subscription may be in flight to the store
            # still; look once more shortly after, then sleep until a publish wakes us
            if event.wait(min(0.05, max(deadline - time.monotonic(), 0))):
                return True
            bounds = self.bounds(spec)
            if any(bounds[p][1] > pos for p, pos in positions.items()):
                return True
            return event.wait(max(deadline - time.monotonic(), 0))
        finally:
            with contextlib.suppress(Exception):
                self._run(self._disarm(sub), timeout=5)

    async def _arm(self, subject: str, event: threading.Event) -> Any:
        async def cb(_msg: Any) -> None:
            event.set()

        sub = await self._nc.subscribe(subject, cb=cb)
        await sub.unsubscribe(limit=1)  # the server drops the interest after one message
        return sub

    async def _disarm(self, sub: Any) -> None:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()

    def trim(self, spec: StreamSpec, now_us: int) -> int:
        """JetStream drops records by ``max_age``/``max_bytes`` itself (on its own clock,
        not ``now_us``); this returns how far the first retained offsets moved since the
        previous call in this process (0 on the first call for a stream)."""
        dropped = 0
        for p, (first, _next) in enumerate(self.bounds(spec)):
            name = self._stream(spec, p)
            before = self._trim_first.get(name)
            if before is not None and first > before:
                dropped += first - before
            self._trim_first[name] = first
        return dropped

    # -- consumer groups -------------------------------------------------------------------
    def committed(self, spec: StreamSpec, group: str) -> dict[int, int]:
        async def get() -> dict[int, int]:
            try:
                entry = await self._kv_groups.get(f"{_esc(spec.name)}.{_esc(group)}")
            except self._nats.js.errors.KeyNotFoundError:
                return {}
            return {int(k): int(v) for k, v in self._orjson.loads(entry.value).items()}

        return self._run(get())

    def commit(self, spec: StreamSpec, group: str, offsets: dict[int, int]) -> None:
        if offsets:
            self._run(self._commit(f"{_esc(spec.name)}.{_esc(group)}", offsets))

    async def _commit(self, key: str, offsets: dict[int, int]) -> None:
        errors = self._nats.js.errors
        kv = self._kv_groups
        for _ in range(100):
            try:
                entry = await kv.get(key)
                cur, rev = self._orjson.loads(entry.value), entry.revision
            except errors.KeyNotFoundError:
                cur, rev = {}, 0
            cur.update({str(int(p)): int(o) for p, o in offsets.items()})
            value = self._dumps(cur)
            try:
                if rev:
                    await kv.update(key, value, last=rev)
                else:
                    await kv.create(key, value)
                return
            except errors.KeyWrongLastSequenceError:
                await asyncio.sleep(0.001)  # another committer came first: merge into theirs
        raise BackendUnavailable(f"committing offsets of {key!r} lost 100 races against other committers")

    def heartbeat(self, spec: StreamSpec, group: str, member: str, ttl_s: float) -> list[str]:
        return self._run(self._heartbeat(f"{_esc(spec.name)}.{_esc(group)}", _esc(member), float(ttl_s)))

    async def _heartbeat(self, prefix: str, member: str, ttl_s: float) -> list[str]:
        kv = self._kv_members
        own = await kv.put(f"{prefix}.{member}", self._dumps({"ttl_us": int(ttl_s * 1e6)}))
        rows = await self._scan(kv, f"{prefix}.*")
        now = max((ts for _k, _v, seq, ts in rows if seq >= own), default=None)
        if now is None:  # our key was replaced meanwhile; take the newest heartbeat's time
            now = max((ts for *_x, ts in rows), default=0)
        live = []
        for key, value, seq, ts in rows:
            try:
                ttl_us = int(self._orjson.loads(value)["ttl_us"])
            except (self._orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                ttl_us = 0
            if ts + ttl_us * 1000 >= now:
                live.append(_unesc(key.rsplit(".", 1)[1]))
            else:  # expired: remove this revision only (a newer heartbeat stays)
                await self._purge_keys(kv, key, before=seq + 1)
        return sorted(live)

    def leave(self, spec: StreamSpec, group: str, member: str) -> None:
        self._run(self._purge_keys(self._kv_members, f"{_esc(spec.name)}.{_esc(group)}.{_esc(member)}"))

    def groups(self, spec: StreamSpec) -> list[str]:
        rows = self._run(self._scan(self._kv_groups, f"{_esc(spec.name)}.*"))
        return sorted(_unesc(k.split(".", 1)[1]) for k, *_rest in rows)

    # -- maintenance -------------------------------------------------------------------------
    async def _purge_namespace(self) -> None:
        names: list[str] = []
        offset = 0
        while True:
            resp = await self._api("STREAM.NAMES", {"subject": f"lakebed.{self.namespace}.>", "offset": offset})
            batch = resp.get("streams") or []
            names.extend(batch)
            offset += len(batch)
            if not batch or offset >= int(resp.get("total", 0)):
                break
        names += [f"KV_LB-{self.namespace}-{what}" for what in ("streams", "groups", "members")]
        for name in names:
            try:
                await self._api(f"STREAM.DELETE.{name}")
            except _ApiError as exc:
                if exc.err_code != 10059:
                    raise


def purge_namespace(url: str, namespace: str) -> None:
    """Delete every JetStream stream and KV bucket of ``namespace`` on the server at ``url``
    (the test fixtures' clean-up; streams are found by their subjects, so a namespace that
    is a prefix of another one is no problem)."""
    backend = NatsBackend(url, namespace=namespace, fsync="never")
    try:
        backend._run(backend._purge_namespace())
    finally:
        backend.close()
