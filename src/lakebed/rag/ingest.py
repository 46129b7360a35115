"""Ingestion: files -> chunks -> embeddings -> a collection, incrementally.

Each file is read once and hashed (SHA-256 of its bytes). The catalog table
``rag_documents`` remembers, per collection and source path, the hash, the chunking
parameters and the ids of the chunks the file produced, so that:

- an unchanged file (same hash, same chunking) is skipped without being parsed;
- a changed file's chunks are upserted (ids ``<source>#<chunk index>``) and its old
  chunks that no longer exist are deleted: exactly its chunks are replaced;
- a file that cannot be read or parsed is reported as failed and the run goes on.

Writes happen in batches across files (embedding is the expensive part and batches
well); the catalog row of a file is written after its chunks, so an interrupted run
re-ingests that file next time rather than skipping it.
"""

from __future__ import annotations

import glob
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from lakebed.errors import InvalidArgument, LakebedError
from lakebed.rag._schema import rag_documents
from lakebed.rag.chunking import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, Chunk, check_params, chunk_document
from lakebed.rag.embedders import get_embedder
from lakebed.rag.loaders import LOADERS, load

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.vectors import Collection

__all__ = ["FileResult", "IngestReport", "expand_paths", "ingest", "ingest_documents", "source_keys"]

BATCH_CHUNKS = 256
UPSERT_BATCH = 1024
DEFAULT_EMBEDDER = "minilm"
# the most bytes of documents one upload to a server holds (a larger file is reported failed)
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


@dataclass
class FileResult:
    """What happened to one file: ``added``, ``updated``, ``skipped`` or ``failed``."""

    source: str
    status: str
    chunks: int = 0
    removed: int = 0
    error: str | None = None
    content_hash: str | None = None


@dataclass
class IngestReport:
    """The outcome of :meth:`lakebed.rag.Rag.ingest`."""

    collection: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    version: int | None = None

    def _with(self, status: str) -> list[str]:
        return [f.source for f in self.files if f.status == status]

    @property
    def added(self) -> list[str]:
        return self._with("added")

    @property
    def updated(self) -> list[str]:
        return self._with("updated")

    @property
    def skipped(self) -> list[str]:
        return self._with("skipped")

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def chunks(self) -> int:
        """Chunks written (of added and updated files)."""
        return sum(f.chunks for f in self.files if f.status in ("added", "updated"))

    @property
    def removed_chunks(self) -> int:
        return sum(f.removed for f in self.files)

    def summary(self) -> str:
        """One line: counts of files by outcome, chunks written, time."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.skipped)} unchanged, "
            f"{len(self.failed)} failed; {self.chunks} chunks written, {self.removed_chunks} removed "
            f"into collection {self.collection!r} in {self.seconds:.1f}s"
        )

    def __repr__(self) -> str:
        return f"<IngestReport {self.summary()}>"


def expand_paths(paths_or_globs: str | Path | Iterable[str | Path]) -> tuple[list[Path], list[FileResult]]:
    """Files named by paths, directories (searched recursively for supported types) and
    glob patterns (``**`` allowed); plus failures for names that match nothing usable."""
    if isinstance(paths_or_globs, str | Path):
        items: list[str | Path] = [paths_or_globs]
    else:
        items = list(paths_or_globs)
    files: dict[str, Path] = {}
    failures: list[FileResult] = []

    def add(p: Path, explicit: bool) -> None:
        if p.suffix.lower() not in LOADERS:
            if explicit:
                failures.append(FileResult(str(p), "failed", error=f"unsupported file type {p.suffix or '(none)'}"))
            return
        files.setdefault(str(p.resolve()), p.resolve())

    for item in items:
        if not isinstance(item, str | Path):
            raise InvalidArgument(f"ingest takes paths or glob patterns, got {type(item).__name__}")
        text = str(item)
        if isinstance(item, str) and glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            for m in matches:
                if Path(m).is_file():
                    add(Path(m), False)
            if not matches:
                failures.append(FileResult(text, "failed", error="the pattern matches no file"))
            continue
        p = Path(text).expanduser()
        if p.is_dir():
            for sub in sorted(p.rglob("*")):
                rel = sub.relative_to(p).parts
                if sub.is_file() and not any(part.startswith(".") for part in rel):
                    add(sub, False)
        elif p.is_file():
            add(p, True)
        else:
            failures.append(FileResult(str(p), "failed", error="no such file or directory"))
    return list(files.values()), failures


def source_keys(sources: str | Path | Iterable[str | Path]) -> list[str]:
    """The sources under which :func:`ingest` records these paths: absolute, resolved."""
    items = [sources] if isinstance(sources, str | Path) else list(sources)
    return [str(Path(s).expanduser().resolve()) for s in items]


def _records(lake: Lake, collection: str) -> dict[str, dict[str, Any]]:
    t = rag_documents
    with lake.catalog.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.collection == collection)).mappings().all()
    return {r["source"]: dict(r) for r in rows}


def _collection_for(lake: Lake, name: str, embedder: str | None) -> tuple[Collection, Any]:
    cols = lake.collections
    if cols.exists(name):
        col = cols.open(name)
        bound = col.embedder_name
        if bound is None:
            raise InvalidArgument(
                f"collection {name!r} has no embedder; ingest into a new collection "
                "(it is created with an embedder) or one created with embedder=..."
            )
        if embedder is not None and embedder != bound:
            raise InvalidArgument(
                f"collection {name!r} is bound to embedder {bound!r}, not {embedder!r}; "
                f"pass embedder={bound!r} or ingest into another collection"
            )
        return col, get_embedder(bound)
    emb = get_embedder(embedder or DEFAULT_EMBEDDER)
    # Load the model before creating anything, so a missing extra leaves no trace.
    emb.embed(["lakebed"])
    col = cols.create(name, dim=emb.dim, metric="cosine", text_field=True, embedder=emb.name)
    return col, emb


@dataclass
class _Pending:
    source: str
    digest: str
    title: str
    size: int
    chunks: list[Chunk]
    old_ids: list[str]
    status: str


def ingest(
    lake: Lake,
    paths_or_globs: str | Path | Iterable[str | Path],
    collection: str = "docs",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    embedder: str | None = None,
    progress: Callable[[FileResult, int, int], None] | None = None,
) -> IngestReport:
    """See :meth:`lakebed.rag.Rag.ingest`."""
    check_params(chunk_size, overlap)
    lake.check_writable()
    started = time.perf_counter()
    files, failures = expand_paths(paths_or_globs)
    documents = [(str(path), path.read_bytes) for path in files]
    return _ingest(lake, documents, failures, collection, chunk_size, overlap, embedder, progress, started)


def ingest_documents(
    lake: Lake,
    documents: Sequence[tuple[str, bytes]],
    collection: str = "docs",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    embedder: str | None = None,
) -> IngestReport:
    """Ingest documents given as ``(source, bytes)``, as :func:`ingest` does files: what
    the server does with the files a client uploaded. ``source`` names the document (its
    suffix picks the loader) and is never opened.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     r = ingest_documents(lake, [("/notes/a.md", b"# A\\n\\nalpha")], embedder="hash")
        ...     r.added, lake.rag.documents()[0]["title"]
        (['/notes/a.md'], 'A')
    """
    check_params(chunk_size, overlap)
    lake.check_writable()
    started = time.perf_counter()
    readers = [(source, (lambda data=data: data)) for source, data in documents]
    return _ingest(lake, readers, [], collection, chunk_size, overlap, embedder, None, started)


def _ingest(
    lake: Lake,
    documents: Sequence[tuple[str, Callable[[], bytes]]],
    failures: list[FileResult],
    collection: str,
    chunk_size: int,
    overlap: int,
    embedder: str | None,
    progress: Callable[[FileResult, int, int], None] | None,
    started: float,
) -> IngestReport:
    """Ingest ``(source, read)`` pairs (``read()`` gives the bytes) after ``failures``."""
    files = documents
    report = IngestReport(collection=collection)
    total = len(files) + len(failures)
    done = 0

    def finish(result: FileResult) -> None:
        nonlocal done
        report.files.append(result)
        done += 1
        if progress is not None:
            progress(result, done, total)

    for f in failures:
        finish(f)
    if not files:
        report.seconds = time.perf_counter() - started
        return report
    col, emb = _collection_for(lake, collection, embedder)
    records = _records(lake, collection)
    chunking = {"chunk_size": chunk_size, "overlap": overlap}
    pending: list[_Pending] = []
    n_pending = 0

    def flush() -> None:
        nonlocal n_pending
        if not pending:
            return
        ids: list[str] = []
        texts: list[str] = []
        payloads: list[dict[str, Any]] = []
        to_embed: list[str] = []
        for doc in pending:
            for c in doc.chunks:
                ids.append(f"{doc.source}#{c.index}")
                texts.append(c.text)
                payloads.append(
                    {
                        "source": doc.source,
                        "title": doc.title,
                        "page": c.page,
                        "section": c.section,
                        "start": c.start,
                        "end": c.end,
                        "chunk_index": c.index,
                        "content_hash": doc.digest,
                    }
                )
                # The title and heading path give a chunk the context a reader would have.
                context = " > ".join(part for part in (doc.title, c.section) if part)
                to_embed.append(f"{context}\n{c.text}" if context else c.text)
        t0 = time.perf_counter()
        parts = [emb.embed(to_embed[i : i + BATCH_CHUNKS]) for i in range(0, len(to_embed), BATCH_CHUNKS)]
        vectors = np.concatenate(parts) if parts else np.zeros((0, emb.dim), dtype=np.float32)
        report.embed_seconds += time.perf_counter() - t0
        for i in range(0, len(ids), UPSERT_BATCH):
            j = i + UPSERT_BATCH
            col.upsert(ids[i:j], vectors[i:j], payloads=payloads[i:j], texts=texts[i:j])
        stale_by_doc: dict[str, list[str]] = {}
        for doc in pending:
            new = {f"{doc.source}#{c.index}" for c in doc.chunks}
            stale_by_doc[doc.source] = [i for i in doc.old_ids if i not in new]
        stale = [i for ids_ in stale_by_doc.values() for i in ids_]
        if stale:
            col.delete(ids=stale)
        now = time.time()
        t = rag_documents
        with lake.catalog.begin() as conn:
            for doc in pending:
                conn.execute(t.delete().where(t.c.collection == collection, t.c.source == doc.source))
                conn.execute(
                    t.insert().values(
                        collection=collection,
                        source=doc.source,
                        content_hash=doc.digest,
                        title=doc.title,
                        chunk_ids=[f"{doc.source}#{c.index}" for c in doc.chunks],
                        n_chunks=len(doc.chunks),
                        size=doc.size,
                        chunking=chunking,
                        embedder=emb.name,
                        ingested_at=now,
                    )
                )
        for doc in pending:
            removed = len(stale_by_doc[doc.source])
            finish(FileResult(doc.source, doc.status, len(doc.chunks), removed, content_hash=doc.digest))
        pending.clear()
        n_pending = 0

    for source, read in files:
        try:
            data = read()
            digest = hashlib.sha256(data).hexdigest()
            old = records.get(source)
            if old is not None and old["content_hash"] == digest and old.get("chunking") == chunking:
                finish(FileResult(source, "skipped", int(old["n_chunks"]), content_hash=digest))
                continue
            doc = load(source, data)
            chunks = chunk_document(doc, chunk_size, overlap)
        except (OSError, ValueError, LakebedError) as exc:
            finish(FileResult(source, "failed", error=f"{type(exc).__name__}: {exc}"))
            continue
        except Exception as exc:  # a parser bug on a broken file must not stop the run
            finish(FileResult(source, "failed", error=f"{type(exc).__name__}: {exc}"))
            continue
        pending.append(
            _Pending(
                source=source,
                digest=digest,
                title=doc.title,
                size=len(data),
                chunks=chunks,
                old_ids=list(old["chunk_ids"]) if old else [],
                status="updated" if old else "added",
            )
        )
        n_pending += len(chunks)
        if n_pending >= BATCH_CHUNKS:
            flush()
    flush()
    changed = [f for f in report.files if f.status in ("added", "updated")]
    if changed or report.removed_chunks:
        col.flush()
        versions = col.versions()
        report.version = int(versions[-1]["version"]) if versions else None
        if report.version is not None:
            with lake.catalog.begin() as conn:
                for f in changed:
                    lake.catalog.add_lineage(
                        f"document:{f.source}@{(f.content_hash or '')[:12]}",
                        f"collection:{collection}@{report.version}",
                        "ingest",
                        conn=conn,
                    )
    report.seconds = time.perf_counter() - started
    return report
