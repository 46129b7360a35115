"""A cluster node: membership, the replicas it applies, and the answers it gives.

A node is a lakebed server whose lake holds its replicas: for every shard assigned to it,
a local collection ``<name>.<gen>.<shard>`` that a thread keeps applying from the shard's
JetStream stream, in order, each write stored with its stream sequence (``log_seq``) in
the same write-ahead record as its points. A restarted node opens its collections, reads
their ``log_seq`` and goes on from the next message: nothing is applied twice or skipped.

Every second the node heartbeats into the cluster's node bucket (its URL and how far each
replica has applied) and compares the collection definitions with the replicas it runs:
new collections are opened, dropped ones closed and deleted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from lakebed.cluster._log import ClusterLog
from lakebed.cluster._wire import decode_op, digest_next, encode_op, shard_of, upsert_messages
from lakebed.errors import BackendUnavailable, CorruptionError, InvalidArgument, LakebedError, NotFound
from lakebed.vectors._collections import check_config
from lakebed.vectors._filters import compile_filter
from lakebed.vectors._validate import check_ids, check_name, check_payloads, check_texts, check_vectors

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.vectors import Collection

log = logging.getLogger("lakebed.cluster")

CONSISTENCY = ("eventual", "session", "strong")
_FETCH = 256  # messages per pull of an apply loop
_POLL = 0.5  # seconds an idle apply loop waits on the server for the next message
_STUCK_S = 5.0  # seconds without progress, behind another replica, before a new consumer
_HISTORY = 20_000  # recent (sequence, digest) pairs a replica keeps to compare


def assign(gen: str, shards: int, replicas: int, nodes: list[str]) -> dict[str, list[str]]:
    """Which nodes hold each shard: rendezvous hashing (the ``replicas`` nodes with the
    highest CRC32 of ``gen:shard:node``), so shards spread evenly and a node set that
    changes moves few of them.

    Example:
        >>> assign("g1", 2, 2, ["n1", "n2", "n3"])
        {'0': ['n1', 'n3'], '1': ['n3', 'n2']}
    """
    out = {}
    for s in range(shards):
        ranked = sorted(nodes, key=lambda n: zlib.crc32(f"{gen}:{s}:{n}".encode()), reverse=True)
        out[str(s)] = ranked[:replicas]
    return out


def _groups(msgs: list[tuple[int, bytes]], max_points: int = 20_000) -> list[list[tuple[int, bytes, Any]]]:
    """Consecutive messages cut into groups applied as one write: runs of upserts with
    distinct ids (up to ``max_points``); anything else (a delete, an index, a message that
    does not decode) alone. Each entry: (seq, raw, decoded or None)."""
    out: list[list[tuple[int, bytes, Any]]] = []
    run: list[tuple[int, bytes, Any]] = []
    seen: set[Any] = set()
    for seq, raw in msgs:
        try:
            decoded: Any = decode_op(raw)
        except CorruptionError:
            decoded = None
        ids = decoded[0]["ids"] if decoded is not None and decoded[0]["op"] == "upsert" else None
        if ids is None or (run and (len(seen) + len(ids) > max_points or not seen.isdisjoint(ids))):
            if run:
                out.append(run)
            run, seen = [], set()
        if ids is None:
            out.append([(seq, raw, decoded)])
            continue
        run.append((seq, raw, decoded))
        seen.update(ids)
    if run:
        out.append(run)
    return out


class Replica:
    """One shard of one collection on this node, and the thread that applies its log."""

    def __init__(self, node: Node, name: str, spec: dict[str, Any], shard: int) -> None:
        self.node = node
        self.name = name
        self.spec = spec
        self.shard = shard
        self.local = f"{name}.{spec['gen']}.{shard}"
        lake = node.lake
        if lake.collections.exists(self.local):
            self.col: Collection = lake.collections.open(self.local)
        else:
            self.col = lake.collections.create(self.local, dim=spec["dim"], metric=spec["metric"],
                                               index=spec["index"], quantization=spec["quantization"],
                                               text_field=spec["text_field"])
        self.applied = self.col.log_seq
        self.digest = self.col.log_digest
        # the digest at each recent sequence, to compare with the other replicas' heartbeats
        self.history: OrderedDict[int, str] = OrderedDict([(self.applied, self.digest)])
        self.errors = 0  # messages that could not be applied (recorded as applied, logged)
        self.resets = 0  # consumers made anew because this replica was stuck
        self.last_error: str | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lakebed-apply-{self.local}", daemon=True)
        self._thread.start()

    def _stuck(self, idle_since: float) -> bool:
        """Idle for ``_STUCK_S`` while another replica has applied further: the consumer
        reads a server whose copy of the stream stopped (seen after a partition healed:
        nats-server 2.9 kept a consumer on a replica that still believed it led a stalled
        stream, for minutes). A new consumer is made; it may land on another server."""
        if time.monotonic() - idle_since < _STUCK_S:
            return False
        ahead = max((int(m.get("applied", {}).get(self.name, {}).get(str(self.shard), 0))
                     for m in self.node.peers.values()), default=0)
        return ahead > self.applied

    def _run(self) -> None:
        backoff = 0.1
        gen = self.spec["gen"]
        idle_since = time.monotonic()
        while not self._stop.is_set():
            try:
                if self._stuck(idle_since):
                    log.warning("replica %s: no progress at %d for %g s while another replica is further; "
                                "reading through a new consumer", self.local, self.applied, _STUCK_S)
                    self.node.log.drop_readers(gen, self.shard)
                    self.resets += 1
                    idle_since = time.monotonic()
                msgs = self.node.log.fetch(gen, self.shard, self.applied, _FETCH, _POLL)
                if msgs:
                    idle_since = time.monotonic()
                backoff = 0.1
            except NotFound:  # the stream is gone: the collection was dropped
                self._stop.wait(1.0)
                continue
            except LakebedError as exc:
                log.info("replica %s: reading the log failed (%s); retrying", self.local, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for group in _groups(msgs):
                if self._stop.is_set():
                    return
                seq = group[-1][0]
                try:
                    digests = self._apply(group)
                except LakebedError as exc:  # a disk or lake problem here: try again from `applied`
                    self.last_error = f"message {seq}: {exc}"
                    log.error("replica %s could not apply messages %d..%d (%s); retrying", self.local,
                              group[0][0], seq, exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 2.0)
                    break
                with self._cond:
                    self.applied = seq
                    self.history.update(digests)
                    while len(self.history) > _HISTORY:
                        self.history.popitem(last=False)
                    self._cond.notify_all()

    def _apply(self, group: list[tuple[int, bytes, Any]]) -> list[tuple[int, str]]:
        """Apply consecutive messages (several upserts of distinct ids go in as one write:
        one write-ahead record and one fsync); the digest after each."""
        digests, digest = [], self.digest
        for seq, raw, _ in group:
            digest = digest_next(digest, seq, raw)
            digests.append((seq, digest))
        seq, raw, decoded = group[-1]
        if len(group) > 1:
            ids: list[Any] = []
            payloads: list[Any] = []
            texts: list[Any] = []
            for _, _, (h, _v) in group:
                ids += h["ids"]
                payloads += h["payloads"]
                texts += h.get("texts") or [None] * len(h["ids"])
            vectors = np.concatenate([v for _, _, (_h, v) in group])
            decoded = ({"op": "upsert", "ids": ids, "payloads": payloads,
                        "texts": texts if any(t is not None for t in texts) else None}, vectors)
        self._write(self.col, seq, raw, digest, decoded)
        self.digest = digest
        return digests

    def _write(self, col: Collection, seq: int, raw: bytes, digest: str, decoded: Any) -> None:
        try:
            if decoded is None:
                decoded = decode_op(raw, f"message {seq} of shard {self.shard} of {self.name!r}")
            header, vectors = decoded
            if header["op"] == "upsert":
                col.upsert(header["ids"], vectors, payloads=header["payloads"], texts=header.get("texts"),
                           log_seq=seq, log_digest=digest)
            elif header.get("index"):
                field, kind = header["index"]
                col.create_payload_index(field, kind)
                col.delete(ids=[], log_seq=seq, log_digest=digest)
            elif "filter" in header:
                col.delete(filter=header["filter"], log_seq=seq, log_digest=digest)
            else:
                col.delete(ids=header["ids"], log_seq=seq, log_digest=digest)
        except (InvalidArgument, CorruptionError) as exc:
            # bad input (or a message that does not decode): every replica meets the same
            # message and refuses it alike, so the replicas stay identical
            self.errors += 1
            self.last_error = f"message {seq}: {exc}"
            log.error("replica %s could not apply message %d: %s", self.local, seq, exc)
            col.delete(ids=[], log_seq=seq, log_digest=digest)

    def diverged(self, peers: dict[str, dict[str, Any]], me: str) -> bool:
        """Whether most of the other replicas of this shard applied other messages than this
        one at a sequence both passed (their digests differ)."""
        others = [n for n in self.spec["assignment"][str(self.shard)] if n != me]
        wrong = 0
        for n in others:
            seen = peers.get(n, {}).get("digests", {}).get(self.name, {}).get(str(self.shard))
            if seen is None:
                continue
            seq, digest = int(seen[0]), str(seen[1])
            mine = self.history.get(seq)
            if mine is not None and mine != digest:
                wrong += 1
        return bool(others) and wrong * 2 > len(others)

    def wait(self, seq: int, timeout: float) -> bool:
        """Wait until the replica has applied ``seq``; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.applied < seq:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(_POLL + 35)


class Node:
    """A lakebed node of a cluster: ``lakebed serve PATH --cluster URLS --node-id ID``.

    Example:
        >>> import lakebed
        >>> lake = lakebed.connect("./n1")  # doctest: +SKIP
        >>> node = Node(lake, "nats://127.0.0.1:4222", "n1", "http://127.0.0.1:8765")  # doctest: +SKIP
        >>> node.start()  # doctest: +SKIP
        >>> node.create_collection("docs", dim=4, shards=2, replicas=1)["shards"]  # doctest: +SKIP
        2
    """

    def __init__(self, lake: Lake, urls: str, node_id: str, url: str, *, cluster: str = "lakebed",
                 heartbeat: float = 1.0) -> None:
        check_name(node_id)
        self.lake = lake
        self.id = node_id
        self.url = url
        self.cluster = cluster
        self.heartbeat_every = heartbeat
        self.log = ClusterLog(urls, cluster=cluster, fsync=lake.settings.fsync)
        self.started = time.time()
        self.replicas: dict[tuple[str, int], Replica] = {}
        self.defs: dict[str, dict[str, Any]] = {}
        self.peers: dict[str, dict[str, Any]] = {}  # the members' last heartbeats, read each tick
        self.rebuilds = 0  # replicas rebuilt from the log after their digest disagreed
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.on_read: Callable[[float], None] | None = None  # the read-latency metric

    # -- membership ---------------------------------------------------------------------
    def start(self) -> None:
        """Heartbeat once and open the replicas this node holds; then two threads go on
        every second: the heartbeat (never held up by the other: a node whose heartbeat
        waited on a slow definitions scan dropped out of the members on a loaded machine)
        and the comparison of definitions and digests with the replicas here."""
        self.tick()
        self._threads = [threading.Thread(target=self._loop, args=(fn, what), name=f"lakebed-cluster-{what}",
                                          daemon=True)
                         for fn, what in ((self.beat, "heartbeat"), (self.reconcile, "sync"))]
        for t in self._threads:
            t.start()

    def _loop(self, fn: Callable[[], None], what: str) -> None:
        while not self._stop.wait(self.heartbeat_every):
            try:
                fn()
            except LakebedError as exc:
                log.warning("node %s: %s failed (%s)", self.id, what, exc)

    def tick(self) -> None:
        """One comparison of the definitions with the replicas here, and one heartbeat."""
        self.reconcile()
        self.beat()

    def beat(self) -> None:
        """Write this node's heartbeat and read the others'."""
        self.log.node_heartbeat(self.id, self.state())
        self.peers = self.log.members()

    def reconcile(self) -> None:
        self.sync()
        self.check_divergence()

    def check_divergence(self) -> None:
        """Rebuild from the log every replica here that most of its shard's other replicas
        contradict (see :meth:`Replica.diverged`): JetStream 2.9 was seen, after a partition
        healed, to have delivered to a consumer on the isolated server a message at a
        sequence that the majority's log holds another message at. The log is the truth;
        a rebuilt replica applies it again from the start."""
        with self._lock:
            bad = [(key, r) for key, r in self.replicas.items() if r.diverged(self.peers, self.id)]
            for (name, shard), r in bad:
                log.error("replica %s applied other messages than the shard's other replicas (digest mismatch at "
                          "or before %d); rebuilding it from the log", r.local, r.applied)
                r.stop()
                self.lake.collections.drop(r.local)
                self.rebuilds += 1
                self.replicas[(name, shard)] = Replica(self, name, r.spec, shard)

    def state(self) -> dict[str, Any]:
        applied: dict[str, dict[str, int]] = {}
        digests: dict[str, dict[str, list[Any]]] = {}
        errors = resets = 0
        for (name, shard), r in list(self.replicas.items()):  # a copy: no lock, never held up
            applied.setdefault(name, {})[str(shard)] = r.applied
            digests.setdefault(name, {})[str(shard)] = [r.applied, r.digest]
            errors += r.errors
            resets += r.resets
        return {"id": self.id, "url": self.url, "started": self.started, "time": time.time(),
                "applied": applied, "digests": digests, "apply_errors": errors, "consumer_resets": resets,
                "rebuilds": self.rebuilds}

    def sync(self) -> None:
        """Open the replicas of new collections assigned here; close and delete those of
        dropped ones."""
        defs = self.log.definitions()
        with self._lock:
            self.defs = defs
            want = {(name, int(s)) for name, spec in defs.items()
                    for s, holders in spec["assignment"].items() if self.id in holders}
            for key in [k for k in self.replicas if k not in want]:
                r = self.replicas.pop(key)
                r.stop()
                if self.lake.collections.exists(r.local):
                    self.lake.collections.drop(r.local)
            for name, shard in sorted(want - set(self.replicas)):
                self.replicas[(name, shard)] = Replica(self, name, defs[name], shard)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)
        with self._lock:
            for r in self.replicas.values():
                r.stop()
            self.replicas.clear()
        with contextlib.suppress(LakebedError):
            self.log.node_leave(self.id)
        self.log.close()

    # -- definitions ----------------------------------------------------------------------
    def definition(self, name: str) -> dict[str, Any]:
        spec = self.defs.get(name)
        if spec is None:
            self.sync()
            spec = self.defs.get(name)
        if spec is None:
            raise NotFound(f"no cluster collection {name!r}; existing: {sorted(self.defs) or 'none'}; "
                           "create it with lake.collections.create(name, dim=..., shards=..., replicas=...)")
        return spec

    def create_collection(self, name: str, dim: int, metric: str = "cosine", index: dict[str, Any] | None = None,
                          quantization: str | None = None, text_field: bool = False, shards: int = 1,
                          replicas: int = 1) -> dict[str, Any]:
        cfg = check_config(name, dim, metric, index, quantization)
        for what, v, top in (("shards", shards, 256), ("replicas", replicas, 5)):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
                raise InvalidArgument(f"{what} must be an integer in 1..{top}, got {v!r}")
        members = sorted(self.log.members())
        if len(members) < replicas:
            raise InvalidArgument(f"replicas={replicas} needs {replicas} live nodes; the cluster has "
                                  f"{len(members)} ({', '.join(members) or 'none'}): start more nodes or ask "
                                  "for fewer replicas")
        if name in self.log.definitions():
            raise InvalidArgument(f"cluster collection {name!r} exists; drop it first")
        gen = uuid.uuid4().hex[:12]
        spec = {"name": name, "dim": dim, "metric": metric, "index": cfg, "quantization": quantization,
                "text_field": bool(text_field), "shards": shards, "replicas": replicas, "gen": gen,
                "assignment": assign(gen, shards, replicas, members), "created": time.time()}
        for s in range(shards):
            self.log.create_shard(gen, s, replicas)
        self.log.put_definition(name, spec)
        self.sync()
        return spec

    def drop_collection(self, name: str) -> None:
        spec = self.definition(name)
        self.log.delete_definition(name)
        for s in range(spec["shards"]):
            self.log.delete_shard(spec["gen"], s)
        self.sync()

    # -- writes ---------------------------------------------------------------------------
    def _publish(self, spec: dict[str, Any], msgs: dict[int, list[bytes]], request_id: str | None) -> dict[str, int]:
        rid = request_id or uuid.uuid4().hex
        if not isinstance(rid, str) or not 1 <= len(rid) <= 100 or not rid.isascii() or not rid.isprintable():
            raise InvalidArgument("request_id must be 1-100 printable ASCII characters")
        subjects, payloads, ids, shard_of_msg = [], [], [], []
        for s, parts in sorted(msgs.items()):
            for j, m in enumerate(parts):
                subjects.append(self.log.subject(spec["gen"], s))
                payloads.append(m)
                ids.append(f"{spec['gen']}:{rid}:{s}:{j}")
                shard_of_msg.append(s)
        try:
            seqs = self.log.publish(subjects, payloads, ids)
        except BackendUnavailable as exc:
            raise BackendUnavailable(
                f"node {self.id}: the write to {spec['name']!r} was not acknowledged by a quorum ({exc}); it is "
                "undecided, not refused: a message held up by a partition can still be stored when it heals. "
                f"Send it again with request_id={rid!r} (any node, within 2 minutes) to store it exactly once"
            ) from None
        out: dict[str, int] = {}
        for s, seq in zip(shard_of_msg, seqs, strict=True):
            out[str(s)] = max(out.get(str(s), 0), seq)
        return out

    def upsert(self, name: str, ids: Any, vectors: Any, payloads: Any = None, texts: Any = None,
               request_id: str | None = None) -> dict[str, int]:
        """Validate, route to shards and publish; return the last sequence per shard once
        JetStream has acknowledged every message (a quorum of each shard's replicas)."""
        spec = self.definition(name)
        id_list = check_ids(ids)
        n = len(id_list)
        vecs = check_vectors(vectors, n, spec["dim"], spec["metric"])
        pls = check_payloads(payloads, n)
        txts = check_texts(texts, n)
        if n == 0:
            return {}
        return self._publish(spec, upsert_messages(id_list, vecs, pls, txts, spec["shards"]), request_id)

    def delete(self, name: str, ids: Any = None, filter: dict[str, Any] | None = None,
               request_id: str | None = None) -> dict[str, int]:
        spec = self.definition(name)
        if (ids is None) == (filter is None):
            raise InvalidArgument("pass either ids= or filter= to delete (exactly one)")
        if filter is not None:
            compile_filter(filter)
            one = encode_op({"op": "delete", "filter": filter})
            msgs = {s: [one] for s in range(spec["shards"])}
        else:
            by: dict[int, list[Any]] = {}
            for i in check_ids(ids, unique=False):
                by.setdefault(shard_of(i, spec["shards"]), []).append(i)
            msgs = {s: [encode_op({"op": "delete", "ids": v})] for s, v in by.items()}
            if not msgs:
                return {}
        return self._publish(spec, msgs, request_id)

    def create_payload_index(self, name: str, field: str, kind: str, request_id: str | None = None) -> dict[str, int]:
        from lakebed.vectors._filters import KINDS

        spec = self.definition(name)
        if not isinstance(field, str) or not field or field.startswith("$") or len(field) > 200:
            raise InvalidArgument(f"field must be a payload path like 'meta.year', got {field!r}")
        if kind not in KINDS:
            raise InvalidArgument(f"unknown payload index kind {kind!r}; use one of {', '.join(KINDS)}")
        one = encode_op({"op": "delete", "ids": [], "index": [field, kind]})
        return self._publish(spec, {s: [one] for s in range(spec["shards"])}, request_id)

    # -- reads ----------------------------------------------------------------------------
    def _ready(self, name: str, shards: list[int] | None, consistency: str, min_seqs: dict[str, int] | None,
               timeout: float) -> list[Replica]:
        """The replicas here of ``shards`` (all this node holds when None), each having
        applied what ``consistency`` asks for."""
        spec = self.definition(name)
        if consistency not in CONSISTENCY:
            raise InvalidArgument(f"consistency must be one of {', '.join(CONSISTENCY)}, got {consistency!r}")
        if not 0 <= timeout <= 60:
            raise InvalidArgument(f"timeout must be within 0..60 s, got {timeout}")
        if shards is None:
            shards = [s for s in range(spec["shards"]) if (name, s) in self.replicas]
        out = []
        for s in shards:
            r = self.replicas.get((name, s))
            if r is None:
                raise NotFound(f"node {self.id} holds no replica of shard {s} of {name!r} "
                               f"(its replicas are on {', '.join(spec['assignment'][str(s)])})")
            want = 0
            if consistency == "session" and min_seqs:
                want = int(min_seqs.get(str(s), 0))
            elif consistency == "strong":
                want = self.known_end(name, spec, s)
            if want and not r.wait(want, timeout):
                raise BackendUnavailable(f"node {self.id}: shard {s} of {name!r} has applied {r.applied} of "
                                         f"{want} after {timeout:g} s; ask another replica")
            out.append(r)
        return out

    def known_end(self, name: str, spec: dict[str, Any], shard: int) -> int:
        """The furthest a shard's log is known to reach: the last sequence JetStream reports
        and the applied sequence of every live replica (a server that comes back from a
        partition still believing it leads the stream has answered with its own, older
        end; a replica that applied further proves the log is longer)."""
        end = self.log.last_seq(spec["gen"], shard)
        for m in self.peers.values():  # the heartbeats read each second, not a KV scan per read
            end = max(end, int(m.get("applied", {}).get(name, {}).get(str(shard), 0)))
        return end

    def search(self, name: str, vector: Any, k: int = 10, filter: dict[str, Any] | None = None,
               text: str | None = None, shards: list[int] | None = None, consistency: str = "eventual",
               min_seqs: dict[str, int] | None = None, timeout: float = 5.0, ef: int | None = None,
               exact: bool = False) -> dict[str, Any]:
        """Per shard held here: the top ``k`` by vector (and by BM25 when ``text``)."""
        t0 = time.perf_counter()
        out: dict[str, Any] = {}
        for r in self._ready(name, shards, consistency, min_seqs, timeout):
            entry: dict[str, Any] = {"applied": r.applied, "hits": []}
            if vector is not None:
                entry["hits"] = r.col.search(np.asarray(vector, dtype=np.float32), k=k, filter=filter, ef=ef,
                                             exact=exact)
            if text is not None:
                entry["text_hits"] = r.col.search_text(text, k=k, filter=filter)
            out[str(r.shard)] = entry
        self._note(time.perf_counter() - t0)
        return {"node": self.id, "shards": out}

    def get(self, name: str, ids: Any, shards: list[int] | None = None, consistency: str = "eventual",
            min_seqs: dict[str, int] | None = None, timeout: float = 5.0) -> dict[str, Any]:
        spec = self.definition(name)
        id_list = check_ids(ids, unique=False)
        out = {}
        t0 = time.perf_counter()
        for r in self._ready(name, shards, consistency, min_seqs, timeout):
            mine = [i for i in id_list if shard_of(i, spec["shards"]) == r.shard]
            out[str(r.shard)] = {"applied": r.applied, "points": r.col.get(mine, include_vectors=True)}
        self._note(time.perf_counter() - t0)
        return {"node": self.id, "shards": out}

    def count(self, name: str, filter: dict[str, Any] | None = None, shards: list[int] | None = None,
              consistency: str = "eventual", min_seqs: dict[str, int] | None = None,
              timeout: float = 5.0) -> dict[str, Any]:
        out = {str(r.shard): {"applied": r.applied, "count": r.col.count(filter=filter)}
               for r in self._ready(name, shards, consistency, min_seqs, timeout)}
        return {"node": self.id, "shards": out}

    def _note(self, seconds: float) -> None:
        if self.on_read is not None:
            self.on_read(seconds)

    # -- operations ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Nodes (alive: heartbeat within the last few seconds), collections, and per shard
        the log's last sequence, its JetStream leader and each replica's applied sequence
        and lag."""
        members = self.log.members()
        defs = self.log.definitions()
        cols = {}
        for name, spec in sorted(defs.items()):
            shards = []
            for s in range(spec["shards"]):
                try:
                    info = self.log.shard_info(spec["gen"], s)
                except LakebedError as exc:
                    info = {"error": str(exc), "last_seq": None, "leader": None}
                reps = []
                seen = [int(m.get("applied", {}).get(name, {}).get(str(s), 0)) for m in members.values()]
                reported = info.get("last_seq")
                # the end of the log as far as anyone knows (see known_end)
                last = None if reported is None else max([reported, *seen])
                for holder in spec["assignment"][str(s)]:
                    m = members.get(holder)
                    applied = None if m is None else m.get("applied", {}).get(name, {}).get(str(s))
                    dg = None if m is None else m.get("digests", {}).get(name, {}).get(str(s))
                    reps.append({"node": holder, "alive": m is not None, "applied": applied,
                                 "digest": None if dg is None else dg[1],
                                 "lag": None if applied is None or last is None else last - applied})
                shards.append({"shard": s, "last_seq": last, "reported_last_seq": reported,
                               "leader": info.get("leader"), "stream": self.log.stream_name(spec["gen"], s),
                               "replicas": reps})
            cols[name] = {k: spec[k] for k in ("dim", "metric", "shards", "replicas", "gen", "index", "assignment",
                                               "quantization", "text_field")}
            cols[name]["shard_status"] = shards
        return {"cluster": self.cluster, "answered_by": self.id,
                "nodes": {nid: {"url": m["url"], "started": m["started"], "heartbeat": m["time"],
                                "apply_errors": m.get("apply_errors", 0),
                                "consumer_resets": m.get("consumer_resets", 0), "rebuilds": m.get("rebuilds", 0)}
                          for nid, m in sorted(members.items())},
                "collections": cols}
