"""``/v1/cluster``: the routes of a cluster node (``lakebed serve --cluster``).

A call carries at most 100,000 ids (the client splits larger upserts). Keys and scopes
are the server's: reads need ``read`` on the collection, writes ``write``,
creating a collection ``write`` on the area and dropping one ``admin``; the status needs
``read``. Every body is validated (names, ids, vectors, filters) before anything reaches
the log, so a bad write is refused on the node and never stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lakebed._wire import decode_vectors
from lakebed.errors import InvalidArgument
from lakebed.server.routers.collections import CreateCollection, hit_json, point_json

if TYPE_CHECKING:
    from lakebed.cluster._node import Node
    from lakebed.server._app import Auth

Vectors = Annotated[Any, Field(description='{"b64": base64 little-endian float32, "shape": [n, d]} or nested lists')]
Id = int | str
Consistency = Literal["eventual", "session", "strong"]
Seqs = dict[Annotated[str, Field(max_length=4)], Annotated[int, Field(ge=0, lt=2**63)]]
RequestId = Annotated[str | None, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]


class Create(CreateCollection):
    shards: int = Field(1, ge=1, le=256)
    replicas: int = Field(1, ge=1, le=5)


class Upsert(BaseModel):
    ids: list[Id] = Field(max_length=100_000)
    vectors: Vectors
    payloads: list[dict[str, Any]] | None = None
    texts: list[str | None] | None = None
    request_id: RequestId = None


class Delete(BaseModel):
    ids: list[Id] | None = Field(None, max_length=100_000)
    filter: dict[str, Any] | None = None
    request_id: RequestId = None


class PayloadIndex(BaseModel):
    field: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=20)
    request_id: RequestId = None


class Read(BaseModel):
    shards: list[Annotated[int, Field(ge=0, le=255)]] | None = Field(None, max_length=256)
    consistency: Consistency = "eventual"
    min_seqs: Seqs | None = None
    timeout: float = Field(5.0, ge=0, le=60)


class Search(Read):
    vector: Vectors | None = None
    text: str | None = Field(None, max_length=10_000)
    k: int = Field(10, ge=1, le=10_000)
    filter: dict[str, Any] | None = None
    ef: int | None = Field(None, ge=1, le=100_000)
    exact: bool = False


class Get(Read):
    ids: list[Id] = Field(max_length=100_000)


class Count(Read):
    filter: dict[str, Any] | None = None


def router(node: Node, auth: Auth) -> APIRouter:
    r = APIRouter(prefix="/v1/cluster", tags=["cluster"])
    read = auth.need("read", "collections", "name")
    write = auth.need("write", "collections", "name")

    @r.get("/status", summary="Nodes, collections, shards and replication lag",
           dependencies=[auth.need("read", "collections")])
    def status() -> dict[str, Any]:
        return node.status()

    @r.get("/nodes", summary="Live nodes (heartbeat within the last seconds): id -> url",
           dependencies=[auth.need("read", "collections")])
    def nodes() -> dict[str, str]:
        return {nid: m["url"] for nid, m in sorted(node.log.members().items())}

    @r.get("/collections", summary="Cluster collections", dependencies=[auth.need("read", "collections")])
    def list_collections() -> dict[str, Any]:
        node.sync()
        return {name: spec for name, spec in sorted(node.defs.items())}

    @r.post("/collections", summary="Create a sharded, replicated collection",
            dependencies=[auth.need("write", "collections")])
    def create(body: Create) -> dict[str, Any]:
        if body.embedder is not None:
            raise InvalidArgument("a cluster collection takes vectors: embed on the client (embedder=None)")
        return node.create_collection(body.name, body.dim, metric=body.metric, index=body.index,
                                      quantization=body.quantization, text_field=body.text_field,
                                      shards=body.shards, replicas=body.replicas)

    @r.delete("/collections/{name}", summary="Drop a cluster collection",
              dependencies=[auth.need("admin", "collections", "name")])
    def drop(name: str) -> dict[str, str]:
        node.drop_collection(name)
        return {"dropped": name}

    @r.post("/collections/{name}/upsert", summary="Insert or replace points (acknowledged by a quorum)",
            dependencies=[write])
    def upsert(name: str, body: Upsert) -> dict[str, Any]:
        vectors: Any = decode_vectors(body.vectors) if body.ids else []
        seqs = node.upsert(name, body.ids, vectors, payloads=body.payloads, texts=body.texts,
                           request_id=body.request_id)
        return {"seqs": seqs, "node": node.id}

    @r.post("/collections/{name}/delete", summary="Delete points by id or filter", dependencies=[write])
    def delete(name: str, body: Delete) -> dict[str, Any]:
        return {"seqs": node.delete(name, ids=body.ids, filter=body.filter, request_id=body.request_id),
                "node": node.id}

    @r.post("/collections/{name}/payload_index", summary="Index a payload field on every replica",
            dependencies=[write])
    def payload_index(name: str, body: PayloadIndex) -> dict[str, Any]:
        return {"seqs": node.create_payload_index(name, body.field, body.kind, request_id=body.request_id),
                "node": node.id}

    @r.post("/collections/{name}/search", summary="Top k per shard held here", dependencies=[read])
    def search(name: str, body: Search) -> dict[str, Any]:
        vector = None
        if body.vector is not None:
            arr = decode_vectors(body.vector)
            vector = arr[0] if arr.ndim == 2 and arr.shape[0] == 1 else arr
        out = node.search(name, vector, k=body.k, filter=body.filter, text=body.text, shards=body.shards,
                          consistency=body.consistency, min_seqs=body.min_seqs, timeout=body.timeout,
                          ef=body.ef, exact=body.exact)
        for entry in out["shards"].values():
            entry["hits"] = [hit_json(h) for h in entry["hits"]]
            if "text_hits" in entry:
                entry["text_hits"] = [hit_json(h) for h in entry["text_hits"]]
        return out

    @r.post("/collections/{name}/get", summary="Points by id, from the shards held here", dependencies=[read])
    def get(name: str, body: Get) -> dict[str, Any]:
        out = node.get(name, body.ids, shards=body.shards, consistency=body.consistency, min_seqs=body.min_seqs,
                       timeout=body.timeout)
        for entry in out["shards"].values():
            entry["points"] = [point_json(p) for p in entry["points"]]
        return out

    @r.post("/collections/{name}/count", summary="Live points per shard held here", dependencies=[read])
    def count(name: str, body: Count) -> dict[str, Any]:
        return node.count(name, filter=body.filter, shards=body.shards, consistency=body.consistency,
                          min_seqs=body.min_seqs, timeout=body.timeout)

    return r
