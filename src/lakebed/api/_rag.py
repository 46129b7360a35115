"""The interface of RAG, ``lake.rag``: ingest documents into a collection, retrieve the
chunks that answer a question, with citations. The embedded class
(:class:`lakebed.rag.Rag`) and the HTTP client's (:mod:`lakebed.client._rag`) implement it
with the same methods and signatures; the method docs live here.

Example:
    >>> import lakebed
    >>> from lakebed.api._rag import RagAPI
    >>> with lakebed.connect(":memory:") as lake:
    ...     isinstance(lake.rag, RagAPI)
    True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from lakebed.rag.ingest import FileResult, IngestReport
    from lakebed.rag.retrieve import RetrievedChunk

__all__ = ["RagAPI"]


class RagAPI(ABC):
    """Document ingestion and retrieval on a lake, ``lake.rag``: .txt, .md, .html and .pdf
    files are chunked along their structure, embedded and stored in a collection with a
    BM25 text field; questions get the best chunks with citations.

    Example:
        >>> import lakebed, tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "ls.md").write_text("# ls\\n\\nls lists directory contents.\\n")
        >>> _ = (folder / "cp.txt").write_text("cp copies files and directories.\\n")
        >>> with lakebed.connect(":memory:") as lake:
        ...     report = lake.rag.ingest(folder, embedder="hash")
        ...     top = lake.rag.retrieve("which command lists a directory?", k=1)[0]
        ...     len(report.added), top.title, [d["title"] for d in lake.rag.documents()]
        (2, 'ls', ['cp copies files and directories.', 'ls'])
    """

    @abstractmethod
    def ingest(
        self,
        paths_or_globs: str | Path | Iterable[str | Path],
        collection: str = "docs",
        chunk_size: int = 180,
        overlap: int = 30,
        embedder: str | None = None,
        progress: Callable[[FileResult, int, int], None] | None = None,
    ) -> IngestReport:
        """Load, chunk, embed and store documents; return what happened to each file.

        Args:
            paths_or_globs: files, directories (recursive) and glob patterns (``docs/**/*.md``).
            collection: the target collection, created (cosine, text field, bound to the
                embedder) when missing.
            chunk_size: tokens (words) per chunk at most; ``overlap``: tokens shared by
                consecutive windows of a long paragraph.
            embedder: ``"minilm"`` (default for a new collection) or ``"hash"``; an
                existing collection uses the one it is bound to.
            progress: called as ``progress(file_result, done, total)`` per file.

        Unchanged files are skipped, changed ones have exactly their chunks replaced, and
        a broken file is reported in ``report.failed`` without stopping the run.

        Example:
            >>> import lakebed, tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
            >>> _ = p.write_text("hello")
            >>> with lakebed.connect(":memory:") as lake:
            ...     lake.rag.ingest(p, embedder="hash").summary().split(";")[0]
            '1 added, 0 updated, 0 unchanged, 0 failed'

        Remote: paths, directories and globs are expanded and the files read on the client
        (each document keeps its absolute client path as its source); their bytes are
        uploaded in batches and parsed, chunked and embedded by the server. A file over
        the upload limit (64 MiB) is reported failed; ``progress`` is called as each
        batch's answer arrives."""

    @abstractmethod
    def retrieve(
        self,
        question: str,
        k: int = 5,
        collection: str = "docs",
        mode: str = "hybrid",
        filter: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[RetrievedChunk]:
        """The ``k`` chunks that best answer ``question``, with citations.

        ``mode`` is ``"hybrid"`` (BM25 + vectors, fused), ``"vector"`` or ``"text"``;
        ``filter`` is a payload filter (e.g. ``{"source": "/docs/guide.md"}``);
        ``options`` go to hybrid search (``fusion``, ``rrf_k``, ``alpha``, ``candidates``).
        """

    @abstractmethod
    def context(self, question: str, k: int = 5, collection: str = "docs", **options: Any) -> str:
        """The retrieved chunks as a numbered context block for a prompt, with sources.

        Example:
            >>> import lakebed, tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "cp.txt"
            >>> _ = p.write_text("cp copies files and directories.\\n")
            >>> with lakebed.connect(":memory:") as lake:
            ...     _ = lake.rag.ingest(p, embedder="hash")
            ...     print(lake.rag.context("what copies files?", k=1))
            [1] (cp.txt, chars 0-32)
            cp copies files and directories.
        """

    @abstractmethod
    def documents(self, collection: str = "docs") -> list[dict[str, Any]]:
        """The ingested documents of ``collection``: source, title, hash, chunks, time."""

    @abstractmethod
    def remove(self, sources: Iterable[str | Path], collection: str = "docs") -> int:
        """Remove documents (by path) and their chunks from ``collection``; return chunks removed.

        Remote: the paths are made absolute on the client, as :meth:`ingest` recorded them."""
