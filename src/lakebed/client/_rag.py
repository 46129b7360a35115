"""``lake.rag`` of a served lake: the interface of :mod:`lakebed.api._rag` over HTTP.

Ingestion reads the files on the client (paths, directories and globs expanded here, each
document named by its absolute client path as an embedded ingest would) and uploads their
bytes in batches; the server parses, chunks, embeds and stores them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from lakebed.api._rag import RagAPI
from lakebed.client._http import Http
from lakebed.errors import InvalidArgument

if TYPE_CHECKING:
    from lakebed.rag.ingest import FileResult, IngestReport
    from lakebed.rag.retrieve import RetrievedChunk

# one upload request holds at most this many bytes of files (a larger file goes alone) and files
UPLOAD_BATCH_BYTES = 1024 * 1024
UPLOAD_BATCH_FILES = 64


def _collection_path(collection: str, op: str) -> str:
    if not isinstance(collection, str):
        raise InvalidArgument(f"collection must be a name, got {collection!r}")
    seg = quote(collection, safe="")
    return f"/v1/rag/{seg.replace('.', '%2E') if seg in ('.', '..') else seg}/{op}"


class RemoteRag(RagAPI):
    """``lake.rag`` of a served lake."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def ingest(
        self,
        paths_or_globs: str | Path | Iterable[str | Path],
        collection: str = "docs",
        chunk_size: int = 180,
        overlap: int = 30,
        embedder: str | None = None,
        progress: Callable[[FileResult, int, int], None] | None = None,
    ) -> IngestReport:
        from lakebed.rag.chunking import check_params
        from lakebed.rag.ingest import MAX_UPLOAD_BYTES, FileResult, IngestReport, expand_paths

        check_params(chunk_size, overlap)
        path = _collection_path(collection, "ingest")
        started = time.perf_counter()
        files, failures = expand_paths(paths_or_globs)
        report = IngestReport(collection=collection)
        total = len(files) + len(failures)
        params: dict[str, Any] = {"chunk_size": chunk_size, "overlap": overlap}
        if embedder is not None:
            params["embedder"] = embedder

        def finish(result: FileResult) -> None:
            report.files.append(result)
            if progress is not None:
                progress(result, len(report.files), total)

        for f in failures:
            finish(f)
        batch: list[tuple[str, bytes]] = []
        size = 0

        def send() -> None:
            nonlocal size
            upload = pa.table({"source": pa.array([s for s, _ in batch], pa.string()),
                               "data": pa.array([d for _, d in batch], pa.binary())})
            # idempotent: a retried upload finds its documents stored and skips them
            out = self._http.request("POST", path, arrow=upload, params=params, idempotent=True)
            report.embed_seconds += float(out["embed_seconds"])
            if out["version"] is not None:
                report.version = int(out["version"])
            for d in out["files"]:
                finish(FileResult(**d))
            batch.clear()
            size = 0

        for file in files:
            source = str(file)
            try:
                data = file.read_bytes()
            except OSError as exc:
                finish(FileResult(source, "failed", error=f"{type(exc).__name__}: {exc}"))
                continue
            if len(data) > MAX_UPLOAD_BYTES:
                finish(FileResult(source, "failed",
                                  error=f"{len(data):,} bytes, over the upload limit of {MAX_UPLOAD_BYTES:,} bytes"))
                continue
            if batch and (size + len(data) > UPLOAD_BATCH_BYTES or len(batch) >= UPLOAD_BATCH_FILES):
                send()
            batch.append((source, data))
            size += len(data)
        if batch:
            send()
        report.seconds = time.perf_counter() - started
        return report

    def retrieve(
        self,
        question: str,
        k: int = 5,
        collection: str = "docs",
        mode: str = "hybrid",
        filter: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[RetrievedChunk]:
        from lakebed.rag.retrieve import RetrievedChunk

        body = {"question": question, "k": k, "mode": mode, "filter": filter, "options": options}
        out = self._http.request("POST", _collection_path(collection, "retrieve"), json=body, idempotent=True)
        return [RetrievedChunk(**d) for d in out]

    def context(self, question: str, k: int = 5, collection: str = "docs", **options: Any) -> str:
        mode = options.pop("mode", "hybrid")
        filter = options.pop("filter", None)
        body = {"question": question, "k": k, "mode": mode, "filter": filter, "options": options}
        out = self._http.request("POST", _collection_path(collection, "context"), json=body, idempotent=True)
        return str(out["context"])

    def documents(self, collection: str = "docs") -> list[dict[str, Any]]:
        return list(self._http.request("GET", _collection_path(collection, "documents")))

    def remove(self, sources: Iterable[str | Path], collection: str = "docs") -> int:
        from lakebed.rag.ingest import source_keys

        out = self._http.request("POST", _collection_path(collection, "remove"),
                                 json={"sources": source_keys(sources)}, idempotent=True)
        return int(out["removed"])

    def __repr__(self) -> str:
        return f"<RemoteRag {self._http.url}>"
