"""``lakebed.connect("lakebed+cluster://h1:8765,h2:8765,h3:8765")``: the cluster client.

Writes go to any live node (the one that answered last first); a node that cannot be
reached, or answers 503, is skipped and the write is sent to the next one with the same
request id, which JetStream deduplicates, so a retried write is stored once. Reads fan
out: for each shard one live replica is chosen (rotating over the replicas, preferring
nodes that answered), the shards are grouped by node and asked in parallel, a node that
fails has its shards asked of another replica, and the per-shard top k are merged.

Consistency per call: ``eventual`` (what the replica has), ``session`` (the replica first
applies every write this client had acknowledged on that shard: read-your-writes),
``strong`` (the replica first applies the shard's last sequence as JetStream's stream
leader has it when the read arrives: every write acknowledged before the read began).
"""

from __future__ import annotations

import builtins
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from lakebed._wire import encode_vectors
from lakebed.client._collections import _hit, _ids
from lakebed.client._http import Http
from lakebed.errors import BackendUnavailable, InvalidArgument, LakebedError, NotFound
from lakebed.vectors._hit import Hit, Point
from lakebed.vectors.fusion import FUSIONS, fuse

SCHEME = "lakebed+cluster://"
_CALL_IDS = 100_000


class ClusterHits(list[Hit]):
    """Search results (a list of :class:`~lakebed.vectors.Hit`, best first) that also tell
    which node answered for each shard (``nodes``) and how far each shard's replica had
    applied its log (``applied``)."""

    nodes: dict[int, str]
    applied: dict[int, int]


class ClusterClient:
    """A client of a lakebed cluster: ``collections`` (sharded, replicated) and ``status()``.

    Example:
        >>> import lakebed
        >>> c = lakebed.connect("lakebed+cluster://127.0.0.1:8765,127.0.0.1:8766")  # doctest: +SKIP
        >>> col = c.collections.create("docs", dim=4, shards=4, replicas=3)  # doctest: +SKIP
        >>> col.upsert([1], [[1, 0, 0, 0]])  # doctest: +SKIP
        >>> col.search([1, 0, 0, 0], k=1, consistency="session")[0].id  # doctest: +SKIP
        1
    """

    def __init__(self, location: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        rest = location[len(SCHEME):] if location.startswith(SCHEME) else location
        seeds = [h.strip() for h in rest.strip("/").split(",") if h.strip()]
        if not seeds:
            raise InvalidArgument(f"no node address in {location!r}; use {SCHEME}host:port,host:port")
        self.api_key = api_key
        self.timeout = timeout
        self.seeds = [s if s.startswith(("http://", "https://")) else f"http://{s}" for s in seeds]
        self._http: dict[str, Http] = {}
        self._lock = threading.Lock()
        self.nodes: dict[str, str] = {}  # node id -> url, from the last status
        self.down: dict[str, float] = {}  # url -> when it last failed
        self.last_node: str | None = None  # the url that answered the last write
        self._nodes_at = 0.0  # when the node list was last read
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lakebed-cluster-client")
        self.collections = ClusterCollections(self)
        self.refresh()

    # -- nodes ---------------------------------------------------------------------------
    def http(self, url: str) -> Http:
        with self._lock:
            h = self._http.get(url)
            if h is None:
                h = self._http[url] = Http(url, api_key=self.api_key, timeout=self.timeout, retries=0)
                # a node that is down or cut off is found out in 2 s, not the whole timeout
                h.client.timeout = h._httpx.Timeout(self.timeout, connect=2.0)
            return h

    def _urls(self) -> list[str]:
        """Every known node url, those that failed recently last."""
        urls = list(dict.fromkeys([*self.nodes.values(), *self.seeds]))
        now = time.monotonic()
        return sorted(urls, key=lambda u: (now - self.down.get(u, -1e9) < 5.0, u != self.last_node))

    def call(self, method: str, path: str, body: Any = None, urls: list[str] | None = None) -> tuple[Any, str]:
        """Send to the first node that answers (a connection failure or 502/503/504 moves
        on to the next); (answer, url)."""
        errors = []
        for url in urls or self._urls():
            try:
                out = self.http(url).request(method, path, json=body, idempotent=False)
            except BackendUnavailable as exc:
                self.down[url] = time.monotonic()
                errors.append(f"{url}: {exc}")
                continue
            self.down.pop(url, None)
            return out, url
        raise BackendUnavailable("no lakebed cluster node answered: " + "; ".join(errors))

    def refresh_nodes(self, every: float = 3.0) -> None:
        """Read the live nodes again when the last look is older than ``every`` seconds
        (a node cut off stops heartbeating and leaves the list within ~10 s, so reads stop
        going to it before its requests would time out). Failures keep the old list."""
        now = time.monotonic()
        if now - self._nodes_at < every:
            return
        self._nodes_at = now
        for url in self._urls()[:2]:
            try:
                self.nodes = self.http(url).request("GET", "/v1/cluster/nodes", idempotent=False, timeout=2.0)
                return
            except BackendUnavailable:
                self.down[url] = time.monotonic()
            except LakebedError:
                return

    def refresh(self) -> dict[str, Any]:
        """Read the cluster's status from any node (nodes, collections, shard placement)."""
        status, _ = self.call("GET", "/v1/cluster/status")
        self.nodes = {nid: n["url"] for nid, n in status["nodes"].items()}
        self._nodes_at = time.monotonic()
        self.collections._specs = status["collections"]
        return status  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        """Nodes, collections, and per shard its leader, last sequence and each replica's lag."""
        return self.refresh()

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        for h in self._http.values():
            h.close()

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ClusterClient {', '.join(self.seeds)}>"


class ClusterCollections:
    """The collections of a cluster (``client.collections``)."""

    def __init__(self, client: ClusterClient) -> None:
        self._client = client
        self._specs: dict[str, dict[str, Any]] = {}
        self._open: dict[str, ClusterCollection] = {}

    def create(self, name: str, dim: int, metric: str = "cosine", index: dict[str, Any] | None = None,
               quantization: str | None = None, text_field: bool = False, shards: int = 1,
               replicas: int = 1) -> ClusterCollection:
        """Create a collection of ``shards`` shards, each a JetStream stream with
        ``replicas`` replicas applied by as many nodes."""
        body = {"name": name, "dim": dim, "metric": metric, "index": index, "quantization": quantization,
                "text_field": text_field, "shards": shards, "replicas": replicas}
        self._client.call("POST", "/v1/cluster/collections", body)
        self._client.refresh()
        return self.open(name)

    def open(self, name: str) -> ClusterCollection:
        if name not in self._specs:
            self._client.refresh()
        if name not in self._specs:
            raise NotFound(f"no cluster collection {name!r}; existing: {sorted(self._specs) or 'none'}")
        col = self._open.get(name)
        if col is None or col.spec["gen"] != self._specs[name]["gen"]:
            col = self._open[name] = ClusterCollection(self._client, name, self._specs[name])
        return col

    def list(self) -> builtins.list[str]:
        self._client.refresh()
        return sorted(self._specs)

    def drop(self, name: str) -> None:
        self._client.call("DELETE", f"/v1/cluster/collections/{name}")
        self._open.pop(name, None)
        self._client.refresh()


class ClusterCollection:
    """A sharded, replicated collection: upsert, delete, search, hybrid_search, get, count.

    ``session`` holds, per shard, the last sequence of this client's acknowledged writes:
    what ``consistency="session"`` reads wait for."""

    def __init__(self, client: ClusterClient, name: str, spec: dict[str, Any]) -> None:
        self._client = client
        self.name = name
        self.spec = spec
        self.dim = int(spec["dim"])
        self.shards = int(spec["shards"])
        self.session: dict[str, int] = {}
        self._turn = 0
        self._base = f"/v1/cluster/collections/{name}"

    # -- writes --------------------------------------------------------------------------
    def _write(self, op: str, body: dict[str, Any]) -> dict[str, int]:
        body["request_id"] = uuid.uuid4().hex  # the same on every retry: stored once
        out, url = self._client.call("POST", f"{self._base}/{op}", body)
        self._client.last_node = url
        seqs: dict[str, int] = out["seqs"]
        for s, seq in seqs.items():
            self.session[s] = max(self.session.get(s, 0), int(seq))
        return seqs

    def upsert(self, ids: Any, vectors: Any, payloads: Any = None, texts: Any = None) -> dict[str, int]:
        """Insert or replace points; returns the last log sequence per shard written, once a
        quorum of each shard's replicas holds the write."""
        ids = _ids(ids)
        arr = np.asarray(vectors, dtype=np.float32)
        if len(ids) <= _CALL_IDS:
            return self._write("upsert", {"ids": ids, "vectors": encode_vectors(arr), "payloads": payloads,
                                          "texts": texts})
        out: dict[str, int] = {}
        for a in range(0, len(ids), _CALL_IDS):  # a call takes 100,000 ids at most
            part = slice(a, a + _CALL_IDS)
            seqs = self.upsert(ids[part], arr[part], None if payloads is None else payloads[part],
                               None if texts is None else texts[part])
            out.update({s: max(out.get(s, 0), q) for s, q in seqs.items()})
        return out

    def delete(self, ids: Any = None, filter: dict[str, Any] | None = None) -> dict[str, int]:
        return self._write("delete", {"ids": None if ids is None else _ids(ids), "filter": filter})

    def create_payload_index(self, field: str, kind: str) -> dict[str, int]:
        return self._write("payload_index", {"field": field, "kind": kind})

    # -- reads ---------------------------------------------------------------------------
    def _plan(self, skip: dict[int, set[str]]) -> dict[str, list[int]]:
        """One replica per shard, rotating over the live ones: url -> shards."""
        c = self._client
        c.refresh_nodes()
        now = time.monotonic()
        self._turn += 1
        plan: dict[str, list[int]] = {}
        for s in range(self.shards):
            holders = [c.nodes[n] for n in self.spec["assignment"][str(s)] if n in c.nodes]
            holders = [u for u in holders if u not in skip.get(s, set())]
            if not holders:
                raise BackendUnavailable(f"no live replica of shard {s} of {self.name!r} answered "
                                         f"(replicas: {', '.join(self.spec['assignment'][str(s)])})")
            fresh = [u for u in holders if now - c.down.get(u, -1e9) >= 5.0] or holders
            plan.setdefault(fresh[(self._turn + s) % len(fresh)], []).append(s)
        return plan

    def _fanout(self, op: str, body: dict[str, Any], consistency: str) -> tuple[dict[int, Any], dict[int, str]]:
        if consistency not in ("eventual", "session", "strong"):
            raise InvalidArgument(f"consistency must be eventual, session or strong, got {consistency!r}")
        body = {**body, "consistency": consistency}
        if consistency == "session":
            body["min_seqs"] = dict(self.session)
        c = self._client
        got: dict[int, Any] = {}
        who: dict[int, str] = {}
        skip: dict[int, set[str]] = {}
        errors: list[str] = []
        for _round in range(6):
            missing = [s for s in range(self.shards) if s not in got]
            if not missing:
                break
            plan = {u: [s for s in ss if s in missing] for u, ss in self._plan(skip).items()}
            plan = {u: ss for u, ss in plan.items() if ss}
            # a replica that does not answer within its wait plus 3 s is passed over
            futs = {u: c._pool.submit(c.http(u).request, "POST", f"{self._base}/{op}", json={**body, "shards": ss},
                                      idempotent=False, timeout=float(body.get("timeout", 5.0)) + 3.0)
                    for u, ss in plan.items()}
            for u, fut in futs.items():
                try:
                    out = fut.result()
                except (BackendUnavailable, NotFound) as exc:
                    c.down[u] = time.monotonic()
                    errors.append(f"{u}: {exc}")
                    for s in plan[u]:
                        skip.setdefault(s, set()).add(u)
                    continue
                c.down.pop(u, None)
                for s, entry in out["shards"].items():
                    got[int(s)] = entry
                    who[int(s)] = out["node"]
            if len(got) < self.shards:
                # the live nodes again (cheap), not the whole status: that asks JetStream for
                # every shard's state and waits out elections, seconds a read cannot spare
                c.refresh_nodes(every=0.0)
        if len(got) < self.shards:
            raise BackendUnavailable(f"{self.name!r}: shards {sorted(set(range(self.shards)) - set(got))} found no "
                                     "replica that answered: " + "; ".join(errors[-6:]))
        return got, who

    def search(self, vector: Any, k: int = 10, filter: dict[str, Any] | None = None, *,
               consistency: str = "eventual", timeout: float = 5.0, ef: int | None = None,
               exact: bool = False) -> ClusterHits:
        """The k nearest points over all shards, best first (each shard's top k, merged)."""
        body = {"vector": encode_vectors(np.asarray(vector, dtype=np.float32)), "k": k, "filter": filter,
                "timeout": timeout, "ef": ef, "exact": exact}
        got, who = self._fanout("search", body, consistency)
        hits = [_hit(h) for entry in got.values() for h in entry["hits"]]
        return self._result(sorted(hits, key=lambda h: -h.score)[:k], got, who)

    def hybrid_search(self, text: str, vector: Any, k: int = 10, filter: dict[str, Any] | None = None, *,
                      fusion: str = "rrf", rrf_k: int = 60, alpha: float = 0.5, candidates: int | None = None,
                      consistency: str = "eventual", timeout: float = 5.0) -> ClusterHits:
        """BM25 on ``text`` and vector search on ``vector`` over all shards, each side merged
        across shards, then fused as on one node (BM25 scores use each shard's own term
        statistics)."""
        if fusion not in FUSIONS:
            raise InvalidArgument(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
        depth = max(50, k) if candidates is None else candidates
        body = {"vector": encode_vectors(np.asarray(vector, dtype=np.float32)), "text": text, "k": depth,
                "filter": filter, "timeout": timeout}
        got, who = self._fanout("search", body, consistency)
        vhits = sorted((_hit(h) for e in got.values() for h in e["hits"]), key=lambda h: -h.score)[:depth]
        thits = sorted((_hit(h) for e in got.values() for h in e.get("text_hits", [])),
                       key=lambda h: -h.score)[:depth]
        by_id = {h.id: h for h in thits}
        by_id.update({h.id: h for h in vhits})
        fused = fuse([(h.id, h.score) for h in vhits], [(h.id, h.score) for h in thits], method=fusion,
                     rrf_k=rrf_k, alpha=float(alpha), k=k)
        out = []
        for f in fused:
            src = by_id[f.key]
            out.append(Hit(src.id, float(f.score), src.payload, src.text, None,
                           {"plan": "hybrid", "fusion": fusion, "found_by": f.found_by,
                            "vector_rank": f.vector_rank, "text_rank": f.text_rank}))
        return self._result(out, got, who)

    @staticmethod
    def _result(hits: list[Hit], got: dict[int, Any], who: dict[int, str]) -> ClusterHits:
        out = ClusterHits(hits)
        out.nodes = who
        out.applied = {s: int(e["applied"]) for s, e in got.items()}
        return out

    def get(self, ids: Any, *, consistency: str = "eventual", timeout: float = 5.0) -> builtins.list[Point]:
        """The points of ``ids`` that exist (with vectors), in the order asked."""
        from lakebed._wire import decode_vectors

        ids = _ids(ids)
        got, _ = self._fanout("get", {"ids": ids, "timeout": timeout}, consistency)
        found = {}
        for entry in got.values():
            for p in entry["points"]:
                vec = decode_vectors(p["vector"])[0] if p.get("vector") else None
                found[p["id"]] = Point(p["id"], p["payload"], p.get("text"), vec)
        return [found[i] for i in ids if i in found]

    def count(self, filter: dict[str, Any] | None = None, *, consistency: str = "eventual",
              timeout: float = 5.0) -> int:
        got, _ = self._fanout("count", {"filter": filter, "timeout": timeout}, consistency)
        return sum(int(e["count"]) for e in got.values())

    def __repr__(self) -> str:
        return f"<ClusterCollection {self.name!r} shards={self.shards}>"
