"""The cluster's log and registry in NATS JetStream.

For a cluster named ``<c>``:

- each shard of a collection is the JetStream stream ``LBC_<c>_<gen>_<shard>`` on the subject
  ``lbc.<c>.<gen>.<shard>`` (file storage, ``num_replicas`` = the collection's replicas, no
  retention limit). ``<gen>`` is drawn anew at each create, so a stream name is never used
  again after a drop (a re-created stream of the same name stalled a consumer replica for
  minutes in a test of JetStream 2.9);
- definitions of collections are in the KV bucket ``LBC_<c>_defs`` (key ``col.<name>``);
- the members are in ``LBC_<c>_nodes`` (key ``node.<id>``), a bucket whose entries expire
  after ``NODE_TTL`` seconds: a node that stops heartbeating leaves it by itself.

Writes are published with a ``Nats-Msg-Id`` (the request id, the shard and the piece), so a
client that sends a write again after a failure (same request id) stores it once within
JetStream's two-minute duplicate window. JetStream acknowledges once a quorum of the
stream's replicas holds the message (in memory and the file store, fsynced later: see
docs/cluster.md).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from lakebed.errors import AlreadyExists, BackendUnavailable, InvalidArgument, NotFound
from lakebed.streams._nats import NatsBackend, _ApiError, _esc, _reply_meta, _unesc

NODE_TTL = 10.0  # seconds a node stays a member without heartbeats
# JetStream's "temporarily unavailable" (no meta leader) and "no suitable peers" while
# servers rejoin: both pass within seconds
_TRANSIENT = frozenset({10008, 10005})
_TRANSIENT_S = 20.0
_CLUSTER_RE = re.compile(r"[A-Za-z0-9_]{1,32}", re.ASCII)


class ClusterLog(NatsBackend):
    """The JetStream side of a cluster node or of an operator command.

    Example:
        >>> log = ClusterLog("nats://127.0.0.1:4222", cluster="doc")  # doctest: +SKIP
        >>> log.members()  # doctest: +SKIP
        {}
    """

    ping_interval = 1.0

    def __init__(self, urls: str, *, cluster: str = "lakebed", fsync: str = "batch",
                 ack_timeout: float = 1.5, tries: int = 10) -> None:
        if not isinstance(cluster, str) or not _CLUSTER_RE.fullmatch(cluster):
            raise InvalidArgument(f"a cluster name is 1-32 ASCII letters, digits or '_', got {cluster!r}")
        super().__init__(urls, namespace=f"c_{cluster}", fsync=fsync)
        self.cluster = cluster
        # a stream leader's death stops acknowledgements until JetStream elects another
        # (5-7 s here): resend soon and often (same message ids: stored once) rather than
        # wait long, so the first write after the election is not held back by a timer
        self._ack_timeout = ack_timeout
        self._append_tries = tries
        # the metadata is replicated as the data is, on up to 3 of the servers named
        self.meta_replicas = min(3, len(self.urls))
        self._run(self._open_buckets(), timeout=30)

    async def _open_buckets(self) -> None:
        errors = self._nats.js.errors
        buckets = []
        for what, ttl in (("defs", None), ("nodes", NODE_TTL)):
            name = f"LBC_{self.cluster}_{what}"
            try:
                kv = await self._js.key_value(name)
            except errors.BucketNotFoundError:
                try:
                    kv = await self._js.create_key_value(bucket=name, history=1, storage="file", ttl=ttl,
                                                         replicas=self.meta_replicas)
                except errors.APIError as exc:
                    raise BackendUnavailable(
                        f"JetStream at {self.where} cannot make the cluster bucket {name} with "
                        f"{self.meta_replicas} replicas ({exc.description}); list every server of the NATS "
                        "cluster in --cluster, each with JetStream on") from None
            buckets.append(kv)
        self._defs, self._nodes = buckets

    async def _api(self, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A JetStream API call, tried again for up to 20 s while JetStream says it is
        temporarily unavailable: its meta group is electing a leader (at start, after a
        server's death, and after a partition heals), which takes seconds."""
        deadline = time.monotonic() + _TRANSIENT_S
        while True:
            try:
                return await super()._api(what, body)
            except _ApiError as exc:
                if exc.err_code not in _TRANSIENT or time.monotonic() > deadline:
                    raise
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.25)

    # -- names -----------------------------------------------------------------------------
    def stream_name(self, gen: str, shard: int) -> str:
        return f"LBC_{self.cluster}_{gen}_{shard}"

    def subject(self, gen: str, shard: int) -> str:
        return f"lbc.{self.cluster}.{gen}.{shard}"

    # -- shard streams ----------------------------------------------------------------------
    def create_shard(self, gen: str, shard: int, replicas: int) -> None:
        cfg = {"name": self.stream_name(gen, shard), "subjects": [self.subject(gen, shard)],
               "retention": "limits", "storage": "file", "num_replicas": replicas, "discard": "old",
               "max_consumers": -1, "max_msgs": -1, "max_bytes": -1, "max_age": 0, "max_msg_size": -1,
               "max_msgs_per_subject": -1, "duplicate_window": 120 * 1_000_000_000}
        try:
            self._run(self._api(f"STREAM.CREATE.{cfg['name']}", cfg))
        except BackendUnavailable as exc:
            raise BackendUnavailable(f"{exc}; a stream with {replicas} replicas needs {replicas} JetStream "
                                     "servers in the NATS cluster") from None

    def delete_shard(self, gen: str, shard: int) -> None:
        async def delete() -> None:
            try:
                await self._api(f"STREAM.DELETE.{self.stream_name(gen, shard)}")
            except _ApiError as exc:
                if exc.err_code != 10059:  # already gone
                    raise
        self._run(delete())

    def last_seq(self, gen: str, shard: int) -> int:
        """The sequence of the shard's newest message (0 when empty), from the stream's leader."""
        info = self._run(self._info(self.stream_name(gen, shard)))
        return int(info["state"]["last_seq"])

    def shard_info(self, gen: str, shard: int) -> dict[str, Any]:
        """The stream's state and its Raft group (leader, replicas and their lag)."""
        info = self._run(self._info(self.stream_name(gen, shard)))
        c = info.get("cluster") or {}
        return {"first_seq": int(info["state"]["first_seq"]), "last_seq": int(info["state"]["last_seq"]),
                "messages": int(info["state"]["messages"]), "bytes": int(info["state"]["bytes"]),
                "leader": c.get("leader"),
                "replicas": [{"name": r.get("name"), "current": r.get("current"), "lag": r.get("lag", 0)}
                             for r in c.get("replicas") or []]}

    def publish(self, subjects: list[str], payloads: list[bytes], ids: list[str]) -> list[int]:
        """Publish messages and wait for JetStream's acknowledgement of each (resent with
        the same ids while unacknowledged); their sequences, in order.

        "No responders" means no server takes the subject right now: a stream without a
        leader during an election, as well as a deleted stream. Both look the same, so the
        publish is tried again for up to 20 s (the same ids: what was stored is not stored
        twice); after that it is reported as JetStream unavailable."""
        deadline = time.monotonic() + _TRANSIENT_S
        while True:
            try:
                return self._run(self._append("cluster write", subjects, payloads, ids),
                                 timeout=self._ack_timeout * (self._append_tries + 4) + len(payloads) / 100)
            except NotFound as exc:
                if time.monotonic() > deadline:
                    # the collection's definition exists (the node checked it): no server
                    # taking the subject for this long is JetStream unavailable here, e.g.
                    # the node's side of a partition holds no quorum
                    raise BackendUnavailable(f"{exc} for {_TRANSIENT_S:g} s") from None
                time.sleep(0.25)

    def fetch(self, gen: str, shard: int, after: int, max_messages: int, wait: float) -> list[tuple[int, bytes]]:
        """Messages after sequence ``after``, in order, without a gap (up to
        ``max_messages``; waiting up to ``wait`` seconds for the first one)."""
        msgs = self._run(self._read(self.stream_name(gen, shard), after, max_messages, wait or None),
                         timeout=wait + 30)
        out: list[tuple[int, bytes]] = []
        want = after + 1
        for _subject, reply, data, _hdr in msgs:
            seq = _reply_meta(reply)[0]
            if seq != want:  # a consumer that skipped (a pull lost on a timeout): read again from `after`
                self.drop_readers(gen, shard)
                break
            out.append((seq, data))
            want += 1
        return out

    def drop_readers(self, gen: str, shard: int) -> None:
        """Close the consumers kept for a shard: the next fetch makes a new one."""
        stream = self.stream_name(gen, shard)

        async def drop() -> None:
            for key in [k for k in self._readers if k[0] == stream]:
                await self._readers.pop(key).close()
        self._run(drop())

    # -- the registry -----------------------------------------------------------------------
    def put_definition(self, name: str, spec: dict[str, Any]) -> None:
        async def create() -> None:
            try:
                await self._defs.create(f"col.{_esc(name)}", json.dumps(spec).encode())
            except self._nats.js.errors.KeyWrongLastSequenceError:
                raise AlreadyExists(f"cluster collection {name!r} exists; drop it first") from None
        self._run(create())

    def delete_definition(self, name: str) -> None:
        async def delete() -> None:
            try:
                await self._defs.get(f"col.{_esc(name)}")
            except self._nats.js.errors.KeyNotFoundError:
                raise NotFound(f"no cluster collection {name!r}") from None
            await self._defs.purge(f"col.{_esc(name)}")
        self._run(delete())

    def definitions(self) -> dict[str, dict[str, Any]]:
        rows = self._run(self._scan(self._defs, "col.*"), timeout=10)
        return {_unesc(key[4:]): json.loads(value) for key, value, _rev, _ts in rows}

    def node_heartbeat(self, node_id: str, state: dict[str, Any]) -> None:
        self._run(self._nodes.put(f"node.{_esc(node_id)}", json.dumps(state).encode()), timeout=10)

    def node_leave(self, node_id: str) -> None:
        self._run(self._purge_keys(self._nodes, f"node.{_esc(node_id)}"), timeout=10)

    def members(self) -> dict[str, dict[str, Any]]:
        """The nodes with a heartbeat in the last ``NODE_TTL`` seconds: id -> their state."""
        rows = self._run(self._scan(self._nodes, "node.*"), timeout=10)
        return {_unesc(key[5:]): json.loads(value) for key, value, _rev, _ts in rows}
