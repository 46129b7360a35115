"""RAG over HTTP: upload documents to be ingested, retrieve chunks with citations.

The client reads the files; the server never opens a path a client names. An upload is an
Arrow IPC stream with a string column ``source`` (the document's name, usually the client's
absolute path; its suffix picks the loader) and a binary column ``data`` (the file's
bytes), or JSON ``{"rows": [{"source": "notes.md", "text": "..."}]}`` (a string ``text``
instead of bytes). One upload holds at most :data:`~lakebed.rag.ingest.MAX_UPLOAD_BYTES`
of documents and :data:`MAX_UPLOAD_DOCUMENTS` documents; the client sends batches.

Scopes: ``read`` retrieves and lists documents, ``write`` ingests and removes. A key with
grants reaches a collection's documents through a grant on ``rag:<collection>`` (the
chunks' texts and payloads, as ``collections:<collection>`` would).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from lakebed.errors import InvalidArgument
from lakebed.rag.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from lakebed.server.routers._common import fast_json

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.rag import IngestReport, RetrievedChunk
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics

MAX_UPLOAD_DOCUMENTS = 10_000
MAX_SOURCE_CHARS = 4096
MAX_EMBEDDER_DIM = 65536
_EMBEDDER = re.compile(r"[a-z][a-z0-9_]{0,63}(?:-(?P<dim>[0-9]{1,6}))?", re.ASCII)

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"rows": {"type": "array", "items": {
                        "type": "object", "properties": {"source": {"type": "string"}, "text": {"type": "string"}},
                        "required": ["source", "text"]}}},
                    "required": ["rows"],
                }
            },
        },
    }
}


class HybridOptions(BaseModel):
    """Options of hybrid retrieval (unset: the defaults)."""

    model_config = ConfigDict(extra="forbid")
    fusion: Literal["rrf", "weighted"] | None = None
    rrf_k: int | None = Field(None, ge=1, le=1_000_000)
    alpha: float | None = Field(None, ge=0.0, le=1.0)
    candidates: int | None = Field(None, ge=1, le=100_000)


class Retrieve(BaseModel):
    question: str = Field(max_length=100_000)
    k: int = Field(5, ge=1, le=10_000)
    mode: Literal["hybrid", "vector", "text"] = "hybrid"
    filter: dict[str, Any] | None = None
    options: HybridOptions | None = None

    def hybrid(self) -> dict[str, Any]:
        return self.options.model_dump(exclude_none=True) if self.options is not None else {}


class Remove(BaseModel):
    sources: list[str] = Field(max_length=MAX_UPLOAD_DOCUMENTS)


def check_source(source: Any) -> str:
    """A document's name as uploaded: text of 1-4096 printable characters."""
    if not isinstance(source, str) or not 0 < len(source) <= MAX_SOURCE_CHARS or not source.isprintable():
        shown = source[:80] if isinstance(source, str) else source
        raise InvalidArgument(f"a document source must be 1-{MAX_SOURCE_CHARS} printable characters, got {shown!r}")
    return source


def uploaded_documents(rows: pa.Table) -> list[tuple[str, bytes]]:
    """``(source, bytes)`` of an upload, checked: names, sizes, no repeated source."""
    from lakebed.rag.ingest import MAX_UPLOAD_BYTES

    names = rows.column_names
    content = [c for c in ("data", "text") if c in names]
    other = [c for c in names if c not in ("source", "data", "text")]
    if "source" not in names or len(content) != 1 or other:
        raise InvalidArgument("an upload has a column source and either data (bytes) or text (strings); "
                              f"got columns {names}")
    if rows.num_rows > MAX_UPLOAD_DOCUMENTS:
        raise InvalidArgument(f"{rows.num_rows} documents in one upload; send at most {MAX_UPLOAD_DOCUMENTS:,}")
    column = rows[content[0]]
    if content[0] == "data" and not (pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)):
        raise InvalidArgument(f"the data column holds bytes (binary), not {column.type}")
    if content[0] == "text" and not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise InvalidArgument(f"the text column holds strings, not {column.type}")
    sources = [check_source(s) for s in rows["source"].to_pylist()]
    if len(set(sources)) != len(sources):
        raise InvalidArgument("an upload names a source twice; send each document once")
    total = 0
    out: list[tuple[str, bytes]] = []
    for source, value in zip(sources, column.to_pylist(), strict=True):
        if value is None:
            raise InvalidArgument(f"the document {source!r} has no content (null)")
        data = value.encode() if isinstance(value, str) else bytes(value)
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise InvalidArgument(f"the upload holds over {MAX_UPLOAD_BYTES:,} bytes of documents; send smaller "
                                  "batches")
        out.append((source, data))
    return out


def check_embedder(embedder: str | None) -> str | None:
    if embedder is None:
        return None
    m = _EMBEDDER.fullmatch(embedder)
    if m is None or (m.group("dim") is not None and not 1 <= int(m.group("dim")) <= MAX_EMBEDDER_DIM):
        raise InvalidArgument(f"embedder {embedder[:80]!r} is not valid: a name such as 'minilm' or 'hash', "
                              f"optionally with -<dim> (1-{MAX_EMBEDDER_DIM})")
    return embedder


def report_json(report: IngestReport) -> dict[str, Any]:
    return {"collection": report.collection, "files": [dataclasses.asdict(f) for f in report.files],
            "seconds": report.seconds, "embed_seconds": report.embed_seconds, "version": report.version}


def chunk_json(c: RetrievedChunk) -> dict[str, Any]:
    from lakebed.server.routers.collections import _jsonable

    return {"id": c.id, "text": c.text, "score": c.score, "source": c.source, "title": c.title, "page": c.page,
            "section": c.section, "start": c.start, "end": c.end, "chunk_index": c.chunk_index,
            "meta": _jsonable(c.meta)}


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1/rag", tags=["rag"])
    read = auth.need("read", "rag", "collection")
    write = auth.need("write", "rag", "collection")

    @r.post("/{collection}/ingest", summary="Ingest uploaded documents (Arrow IPC: source, data; or JSON rows)",
            openapi_extra=UPLOAD_BODY, dependencies=[write])
    async def ingest(
        collection: str, request: Request,
        chunk_size: int = Query(DEFAULT_CHUNK_SIZE, ge=1, le=100_000),
        overlap: int = Query(DEFAULT_OVERLAP, ge=0, le=100_000),
        embedder: str | None = Query(None, max_length=80),
    ) -> Response:
        from lakebed.rag.ingest import ingest_documents
        from lakebed.server.routers._common import arrow_body

        rows = await arrow_body(request)
        documents = uploaded_documents(rows)
        name = check_embedder(embedder)
        report = await run_in_threadpool(ingest_documents, lake, documents, collection, chunk_size, overlap, name)
        return fast_json(report_json(report))

    @r.post("/{collection}/retrieve", summary="The chunks that best answer a question, with citations",
            dependencies=[read])
    def retrieve(collection: str, body: Retrieve) -> Response:
        chunks = lake.rag.retrieve(body.question, k=body.k, collection=collection, mode=body.mode,
                                   filter=body.filter, **body.hybrid())
        return fast_json([chunk_json(c) for c in chunks])

    @r.post("/{collection}/context", summary="The retrieved chunks as a numbered context block for a prompt",
            dependencies=[read])
    def context(collection: str, body: Retrieve) -> dict[str, str]:
        text = lake.rag.context(body.question, k=body.k, collection=collection, mode=body.mode, filter=body.filter,
                                **body.hybrid())
        return {"context": text}

    @r.get("/{collection}/documents", summary="The ingested documents of a collection", dependencies=[read])
    def documents(collection: str) -> Response:
        return fast_json(lake.rag.documents(collection))

    @r.post("/{collection}/remove", summary="Remove documents (by source) and their chunks", dependencies=[write])
    def remove(collection: str, body: Remove) -> dict[str, int]:
        sources = [check_source(s) for s in body.sources]
        return {"removed": lake.rag._remove_sources(sources, collection)}

    return r
