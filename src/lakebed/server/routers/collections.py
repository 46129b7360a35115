"""Vector collections over HTTP. Vectors travel as base64 float32 (or JSON lists)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter
from fastapi import Query as QueryParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lakebed._wire import decode_vectors, encode_vectors
from lakebed.server.routers._common import fast_json, fast_route, json_bytes

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics
    from lakebed.vectors import Collection

# Vectors are validated by decode_vectors (numpy), not element by element by pydantic: for
# 384 floats the model validation cost more than the search.
Vectors = Annotated[Any, Field(description='{"b64": base64 little-endian float32, "shape": [n, d]} or nested lists')]
Id = int | str


class CreateCollection(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    dim: int = Field(ge=1, le=65536)
    metric: Literal["cosine", "l2", "dot"] = "cosine"
    index: dict[str, Any] | None = None
    quantization: Literal["fp16", "int8"] | None = None
    text_field: bool = False
    embedder: str | None = None


class Upsert(BaseModel):
    ids: list[Id]
    vectors: Vectors
    payloads: list[dict[str, Any]] | None = None
    texts: list[str | None] | None = None


class Delete(BaseModel):
    ids: list[Id] | None = None
    filter: dict[str, Any] | None = None


class Get(BaseModel):
    ids: list[Id]
    include_vectors: bool = False
    version: int | None = Field(None, ge=0, lt=2**31)  # a manifest version, read-only (col.versions())


class Filtered(BaseModel):
    filter: dict[str, Any] | None = None
    version: int | None = Field(None, ge=0, lt=2**31)  # a manifest version, read-only (col.versions())


class Scroll(BaseModel):
    filter: dict[str, Any] | None = None
    limit: int = Field(100, ge=1, le=10_000)
    cursor: int | None = Field(None, ge=0, lt=2**63)
    version: int | None = Field(None, ge=0, lt=2**31)  # a manifest version, read-only (col.versions())


class Search(BaseModel):
    vector: Vectors
    k: int = Field(10, ge=1, le=10_000)
    filter: dict[str, Any] | None = None
    ef: int | None = Field(None, ge=1, le=100_000)
    nprobe: int | None = Field(None, ge=1, le=100_000)
    exact: bool = False
    version: int | None = Field(None, ge=0, lt=2**31)  # a manifest version, read-only (col.versions())


class SearchText(BaseModel):
    query: str
    k: int = Field(10, ge=1, le=10_000)
    filter: dict[str, Any] | None = None
    version: int | None = Field(None, ge=0, lt=2**31)  # a manifest version, read-only (col.versions())


class Hybrid(BaseModel):
    text: str
    vector: Vectors | None = None
    k: int = Field(10, ge=1, le=10_000)
    filter: dict[str, Any] | None = None
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = Field(60, ge=1)
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    candidates: int | None = Field(None, ge=1, le=100_000)
    version: int | None = Field(None, ge=0, lt=2**31)  # a manifest version, read-only (col.versions())


class HybridOptions(BaseModel, extra="forbid"):
    """The options ``query(mode="hybrid")`` passes on to ``hybrid_search``."""

    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = Field(60, ge=1)
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    candidates: int | None = Field(None, ge=1, le=100_000)


class AddTexts(BaseModel):
    texts: list[str]
    ids: list[Id] | None = None
    payloads: list[dict[str, Any]] | None = None


class Query(BaseModel):
    question: str
    k: int = Field(10, ge=1, le=10_000)
    mode: Literal["hybrid", "vector", "text"] = "hybrid"
    filter: dict[str, Any] | None = None
    options: HybridOptions | None = None
    version: int | None = Field(None, ge=0, lt=2**31)  # a manifest version, read-only (col.versions())


class Flush(BaseModel):
    seal: bool = True


class Vacuum(BaseModel):
    keep_versions: int = Field(1, ge=1, le=1_000_000)


class PayloadIndex(BaseModel):
    field: str = Field(min_length=1)
    kind: Literal["keyword", "integer", "float", "bool", "datetime"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def hit_json(hit: Any) -> dict[str, Any]:
    return {
        "id": hit.id, "score": float(hit.score), "payload": hit.payload, "text": hit.text,
        "vector": encode_vectors(hit.vector) if hit.vector is not None else None, "meta": _jsonable(hit.meta),
    }


def point_json(p: Any) -> dict[str, Any]:
    return {"id": p.id, "payload": p.payload, "text": p.text,
            "vector": encode_vectors(p.vector) if p.vector is not None else None}


def _vector(v: Vectors) -> np.ndarray:
    arr = decode_vectors(v)
    return arr[0] if arr.ndim == 2 and arr.shape[0] == 1 else arr


def fast_search(lake: Lake, auth: Auth, metrics: Metrics, max_body: int) -> Any:
    """``POST /v1/collections/{name}/search`` through :func:`fast_route`: the same key
    check (with the grant on ``name``), validation, errors and answer as the documented
    route, which stays in the OpenAPI document; FastAPI's routing and body parsing cost
    several times the search."""

    def work(payload: Any, name: str | None) -> bytes:
        body = Search.model_validate(payload)
        col = lake.collections.open(str(name), version=body.version)
        t0 = time.perf_counter()
        hits = col.search(_vector(body.vector), k=body.k, filter=body.filter, ef=body.ef,
                          nprobe=body.nprobe, exact=body.exact)
        metrics.search.labels("vector").observe(time.perf_counter() - t0)
        return json_bytes([hit_json(h) for h in hits])

    return fast_route(auth, metrics, max_body, "/v1/collections/{name}/search", "collections", work)


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1/collections", tags=["collections"])
    C = lake.collections
    read = auth.need("read", "collections", "name")
    write = auth.need("write", "collections", "name")

    def col(name: str, version: int | None = None) -> Collection:
        return C.open(name, version=version)

    @r.get("", summary="List collections", dependencies=[auth.need("read", "collections")])
    def list_collections() -> list[str]:
        return C.list()

    @r.post("", summary="Create a collection", dependencies=[auth.need("write", "collections")])
    def create(body: CreateCollection) -> dict[str, Any]:
        C.create(body.name, dim=body.dim, metric=body.metric, index=body.index, quantization=body.quantization,
                 text_field=body.text_field, embedder=body.embedder)
        return _jsonable(C.info(body.name))  # type: ignore[no-any-return]

    @r.get("/{name}", summary="Collection configuration", dependencies=[read])
    def info(name: str) -> dict[str, Any]:
        return _jsonable(C.info(name))  # type: ignore[no-any-return]

    @r.delete("/{name}", summary="Drop a collection", dependencies=[auth.need("admin", "collections", "name")])
    def drop(name: str) -> dict[str, str]:
        C.drop(name)
        return {"dropped": name}

    @r.post("/{name}/upsert", summary="Insert or replace points", dependencies=[write])
    def upsert(name: str, body: Upsert) -> dict[str, int]:
        col(name).upsert(body.ids, decode_vectors(body.vectors), payloads=body.payloads, texts=body.texts)
        return {"upserted": len(body.ids)}

    @r.post("/{name}/delete", summary="Delete points by id or filter", dependencies=[write])
    def delete(name: str, body: Delete) -> dict[str, int]:
        return {"deleted": col(name).delete(ids=body.ids, filter=body.filter)}

    @r.post("/{name}/get", summary="Points by id", dependencies=[read])
    def get(name: str, body: Get) -> list[dict[str, Any]]:
        return [point_json(p) for p in col(name, body.version).get(body.ids, include_vectors=body.include_vectors)]

    @r.post("/{name}/count", summary="Count live points (matching a filter)", dependencies=[read])
    def count(name: str, body: Filtered) -> dict[str, int]:
        return {"count": col(name, body.version).count(filter=body.filter)}

    @r.post("/{name}/scroll", summary="Page through points", dependencies=[read])
    def scroll(name: str, body: Scroll) -> dict[str, Any]:
        points, cursor = col(name, body.version).scroll(filter=body.filter, limit=body.limit, cursor=body.cursor)
        return {"points": [point_json(p) for p in points], "cursor": cursor}

    @r.post("/{name}/search", summary="Vector search (k nearest, filtered)", dependencies=[read],
            response_class=Response)
    async def search(name: str, body: Search) -> Response:
        # Inline on the event loop: a k-NN query takes well under a millisecond, less than a
        # thread-pool hop and the GIL contention of many request threads would cost.
        t0 = time.perf_counter()
        hits = col(name, body.version).search(_vector(body.vector), k=body.k, filter=body.filter, ef=body.ef,
                                nprobe=body.nprobe, exact=body.exact)
        metrics.search.labels("vector").observe(time.perf_counter() - t0)
        return fast_json([hit_json(h) for h in hits])

    @r.post("/{name}/search_batch", summary="Vector search for many queries", dependencies=[read])
    def search_batch(name: str, body: Search) -> list[list[dict[str, Any]]]:
        t0 = time.perf_counter()
        out = col(name, body.version).search_batch(decode_vectors(body.vector), k=body.k, filter=body.filter,
                                                   ef=body.ef, nprobe=body.nprobe, exact=body.exact)
        metrics.search.labels("vector_batch").observe(time.perf_counter() - t0)
        return [[hit_json(h) for h in hits] for hits in out]

    @r.post("/{name}/explain", summary="The plan a search would use", dependencies=[read])
    def explain(name: str, body: Search) -> dict[str, Any]:
        return _jsonable(col(name, body.version).explain(_vector(body.vector), k=body.k, filter=body.filter, ef=body.ef,  # type: ignore[no-any-return]
                                           nprobe=body.nprobe, exact=body.exact))

    @r.post("/{name}/search_text", summary="BM25 search over texts", dependencies=[read])
    def search_text(name: str, body: SearchText) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        hits = col(name, body.version).search_text(body.query, k=body.k, filter=body.filter)
        metrics.search.labels("text").observe(time.perf_counter() - t0)
        return [hit_json(h) for h in hits]

    @r.post("/{name}/hybrid", summary="BM25 + vector search, fused", dependencies=[read])
    def hybrid(name: str, body: Hybrid) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        vector = _vector(body.vector) if body.vector is not None else None
        hits = col(name, body.version).hybrid_search(body.text, vector=vector, k=body.k, filter=body.filter,
                                       fusion=body.fusion, rrf_k=body.rrf_k, alpha=body.alpha,
                                       candidates=body.candidates)
        metrics.search.labels("hybrid").observe(time.perf_counter() - t0)
        return [hit_json(h) for h in hits]

    @r.post("/{name}/add_texts", summary="Embed and add texts (bound embedder)", dependencies=[write])
    def add_texts(name: str, body: AddTexts) -> dict[str, Any]:
        ids = col(name).add_texts(body.texts, ids=body.ids, payloads=body.payloads)
        return {"ids": _jsonable(ids)}

    @r.post("/{name}/query", summary="Embed a question and search", dependencies=[read])
    def query(name: str, body: Query) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        options = body.options.model_dump(exclude_unset=True) if body.options is not None else {}
        hits = col(name, body.version).query(body.question, k=body.k, mode=body.mode, filter=body.filter, **options)
        metrics.search.labels(f"query_{body.mode}").observe(time.perf_counter() - t0)
        return [hit_json(h) for h in hits]

    @r.post("/{name}/payload_index", summary="Index a payload field", dependencies=[write])
    def payload_index(name: str, body: PayloadIndex) -> dict[str, str]:
        col(name).create_payload_index(body.field, body.kind)
        return {"indexed": body.field}

    @r.post("/{name}/flush", summary="Seal the growing segment", dependencies=[write])
    def flush(name: str, body: Flush | None = None) -> dict[str, str]:
        col(name).flush(seal=body.seal if body is not None else True)
        return {"flushed": name}

    @r.post("/{name}/compact", summary="Rewrite segments with many deletes", dependencies=[write])
    def compact(name: str) -> dict[str, Any]:
        return _jsonable(col(name).compact())  # type: ignore[no-any-return]

    @r.post("/{name}/vacuum", summary="Delete files of old manifest versions",
            dependencies=[auth.need("admin", "collections", "name")])
    def vacuum(name: str, body: Vacuum) -> dict[str, Any]:
        return _jsonable(col(name).vacuum(keep_versions=body.keep_versions))  # type: ignore[no-any-return]

    @r.get("/{name}/segments", summary="Segments of the current version", dependencies=[read])
    def segments(name: str, version: int | None = QueryParam(None, ge=0, lt=2**31)) -> list[dict[str, Any]]:
        return _jsonable(col(name, version).segments())  # type: ignore[no-any-return]

    @r.get("/{name}/versions", summary="Manifest versions", dependencies=[read])
    def versions(name: str, version: int | None = QueryParam(None, ge=0, lt=2**31)) -> list[dict[str, Any]]:
        return _jsonable(col(name, version).versions())  # type: ignore[no-any-return]

    @r.get("/{name}/stats", summary="Points, segments, deletes, bytes", dependencies=[read])
    def stats(name: str, version: int | None = QueryParam(None, ge=0, lt=2**31)) -> dict[str, Any]:
        return _jsonable(col(name, version).stats())  # type: ignore[no-any-return]

    return r
