"""RAG: turn a folder of documents into a searchable, cited knowledge base.

``lake.rag.ingest(paths)`` loads .txt, .md, .html and .pdf files, chunks them along
their structure, embeds the chunks and stores them in a collection with a BM25 text
field; ``lake.rag.retrieve(question)`` returns the best chunks with citations.

Example:
    >>> import lakebed, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "ls.md").write_text("# ls\\n\\nls lists directory contents.\\n")
    >>> _ = (folder / "cp.txt").write_text("cp copies files and directories.\\n")
    >>> with lakebed.connect(":memory:") as lake:
    ...     report = lake.rag.ingest(folder, embedder="hash")
    ...     top = lake.rag.retrieve("which command lists a directory?", k=1)[0]
    ...     len(report.added), top.title
    (2, 'ls')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lakebed.api._rag import RagAPI
from lakebed.errors import InvalidArgument, NotFound
from lakebed.rag._schema import rag_documents
from lakebed.rag.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP
from lakebed.rag.ingest import FileResult, IngestReport, source_keys
from lakebed.rag.ingest import ingest as _ingest
from lakebed.rag.retrieve import RetrievedChunk, from_hit

if TYPE_CHECKING:
    from lakebed.lake import Lake

__all__ = ["FileResult", "IngestReport", "Rag", "RetrievedChunk"]


class Rag(RagAPI):
    """Document ingestion and retrieval on a lake (``lake.rag``)."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    def ingest(
        self,
        paths_or_globs: str | Path | Iterable[str | Path],
        collection: str = "docs",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        overlap: int = DEFAULT_OVERLAP,
        embedder: str | None = None,
        progress: Callable[[FileResult, int, int], None] | None = None,
    ) -> IngestReport:
        return _ingest(
            self._lake, paths_or_globs, collection, chunk_size, overlap, embedder=embedder, progress=progress
        )

    def retrieve(
        self,
        question: str,
        k: int = 5,
        collection: str = "docs",
        mode: str = "hybrid",
        filter: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[RetrievedChunk]:
        col = self._collection(collection)
        return [from_hit(h) for h in col.query(question, k=k, mode=mode, filter=filter, **options)]

    def context(self, question: str, k: int = 5, collection: str = "docs", **options: Any) -> str:
        chunks = self.retrieve(question, k=k, collection=collection, **options)
        return "\n\n".join(f"[{i}] ({c.citation})\n{c.text}" for i, c in enumerate(chunks, start=1))

    def documents(self, collection: str = "docs") -> list[dict[str, Any]]:
        t = rag_documents
        with self._lake.catalog.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.source, t.c.title, t.c.content_hash, t.c.n_chunks, t.c.size, t.c.ingested_at)
                .where(t.c.collection == collection)
                .order_by(t.c.source)
            ).mappings()
            return [dict(r) for r in rows]

    def remove(self, sources: Iterable[str | Path], collection: str = "docs") -> int:
        self._lake.check_writable()
        return self._remove_sources(source_keys(sources), collection)

    def _remove_sources(self, keys: list[str], collection: str) -> int:
        """Remove the documents recorded under exactly these sources (no path resolution:
        the server removes what a client named)."""
        self._lake.check_writable()
        t = rag_documents
        with self._lake.catalog.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.source, t.c.chunk_ids).where(t.c.collection == collection, t.c.source.in_(keys))
            ).all()
        ids = [i for _, chunk_ids in rows for i in chunk_ids]
        if ids:
            self._collection(collection).delete(ids=ids)
        with self._lake.catalog.begin() as conn:
            conn.execute(t.delete().where(t.c.collection == collection, t.c.source.in_([r[0] for r in rows])))
        return len(ids)

    def _collection(self, name: str) -> Any:
        if not isinstance(name, str):
            raise InvalidArgument(f"collection must be a name, got {name!r}")
        if not self._lake.collections.exists(name):
            raise NotFound(
                f"no collection {name!r}; ingest documents first: lake.rag.ingest(paths, collection={name!r})"
            )
        return self._lake.collections.open(name)

    def __repr__(self) -> str:
        return f"<Rag of {self._lake!r}>"
