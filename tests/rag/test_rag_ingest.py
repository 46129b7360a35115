"""RAG ingestion and retrieval: a folder of txt/md/html/pdf, incremental re-ingestion."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import lakebed
from lakebed.errors import InvalidArgument, NotFound
from lakebed.rag import Rag


def test_ingest_folder_of_every_format(lake, docs_dir: Path) -> None:
    seen = []
    report = lake.rag.ingest(docs_dir, embedder="hash", progress=lambda r, done, total: seen.append(done))
    assert sorted(Path(s).name for s in report.added) == ["features.html", "guide.md", "manual.pdf", "notes.txt"]
    assert report.failed == [] and report.chunks >= 8
    assert seen == [1, 2, 3, 4]
    col = lake.collections.open("docs")
    assert col.count() == report.chunks and col.embedder_name == "hash" and col.text_field
    payload = col.search_text("CRC32 checksum", k=1)[0].payload
    assert Path(payload["source"]).name == "manual.pdf" and payload["page"] == 1
    assert payload["title"] == "Lakebed manual" and len(payload["content_hash"]) == 64
    docs = lake.rag.documents()
    assert len(docs) == 4 and sum(d["n_chunks"] for d in docs) == report.chunks


def test_retrieve_cites_sources(lake, docs_dir: Path) -> None:
    lake.rag.ingest(docs_dir, embedder="hash")
    for mode in ("hybrid", "text", "vector"):
        top = lake.rag.retrieve("reciprocal rank fusion of BM25 and vectors", k=3, mode=mode)
        assert top, mode
    top = lake.rag.retrieve("reciprocal rank fusion BM25", k=1)[0]
    assert Path(top.source).name == "guide.md" and top.section == "Lakebed guide > Hybrid search"
    source_text = Path(top.source).read_text()
    assert source_text[top.start : top.end] == top.text
    assert top.citation.startswith('guide.md, "Lakebed guide > Hybrid search", chars ')
    pdf = lake.rag.retrieve("crash recovery after SIGKILL", k=1, mode="text")[0]
    assert "p. 2" in pdf.citation
    ctx = lake.rag.context("time travel", k=2)
    assert ctx.startswith("[1] (") and "notes.txt" in ctx
    only = lake.rag.retrieve("lakebed", k=10, filter={"source": top.source})
    assert {c.source for c in only} == {top.source}
    with pytest.raises(NotFound):
        lake.rag.retrieve("x", collection="nope")


def test_reingest_replaces_changed_documents_only(lake, docs_dir: Path) -> None:
    first = lake.rag.ingest(docs_dir, embedder="hash")
    col = lake.collections.open("docs")
    guide = str((docs_dir / "guide.md").resolve())
    before = {h.id for h in col.search_text("lakebed", k=100)}
    again = lake.rag.ingest(docs_dir)
    assert len(again.skipped) == 4 and again.chunks == 0
    # Shrink one document to a single chunk: its other chunks must disappear.
    (docs_dir / "guide.md").write_text("# Lakebed guide\n\nNow only one short paragraph about zebras.\n")
    third = lake.rag.ingest(docs_dir)
    assert third.updated == [guide] and len(third.skipped) == 3
    assert third.removed_chunks == 2
    assert col.count() == first.chunks - 2
    hits = col.search_text("zebras", k=5)
    assert [h.payload["source"] for h in hits] == [guide]
    assert col.search_text("reciprocal", k=5) == []
    others = {h.id for h in col.search_text("lakebed", k=100)} - {f"{guide}#0"}
    assert others == {i for i in before if not i.startswith(guide)}
    # Lineage: each ingested version of a document feeds a collection version.
    from lakebed.catalog.schema import lineage_edges as t

    with lake.catalog.connect() as conn:
        srcs = [r[0] for r in conn.execute(sa.select(t.c.src).where(t.c.src.like("document:%guide.md@%")))]
    assert len(set(srcs)) == 2


def test_broken_file_is_reported_and_skipped(lake, docs_dir: Path, tmp_path: Path) -> None:
    (docs_dir / "broken.pdf").write_bytes(b"%PDF-1.4 garbage without objects")
    report = lake.rag.ingest([docs_dir, tmp_path / "missing.md", str(docs_dir / "*.nothing")], embedder="hash")
    failed = {Path(f.source).name: f.error for f in report.failed}
    assert set(failed) == {"broken.pdf", "missing.md", "*.nothing"}
    assert len(report.added) == 4
    assert "failed" in report.summary() and "4 added" in report.summary()


def test_glob_and_bad_arguments(lake, docs_dir: Path) -> None:
    report = lake.rag.ingest(str(docs_dir / "**" / "*.html"), embedder="hash")
    assert [Path(s).name for s in report.added] == ["features.html"]
    with pytest.raises(InvalidArgument):
        lake.rag.ingest(docs_dir, chunk_size=10, overlap=10)
    with pytest.raises(InvalidArgument):
        lake.rag.ingest(docs_dir, embedder="minilm")  # the collection is bound to "hash"
    with pytest.raises(InvalidArgument):
        lake.rag.ingest(docs_dir, collection="other", embedder="nope")
    assert not lake.collections.exists("other")


def test_remove_documents(lake, docs_dir: Path) -> None:
    report = lake.rag.ingest(docs_dir, embedder="hash")
    col = lake.collections.open("docs")
    n = lake.rag.remove([docs_dir / "notes.txt"])
    assert n >= 1 and col.count() == report.chunks - n
    assert len(lake.rag.documents()) == 3


def test_ingest_on_both_catalogs(catalog_url, tmp_path: Path, docs_dir: Path) -> None:
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lake:
        assert isinstance(lake.rag, Rag)
        assert len(lake.rag.ingest(docs_dir, embedder="hash").added) == 4
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lake:
        assert len(lake.rag.ingest(docs_dir).skipped) == 4


def test_read_only_lake_retrieves_but_cannot_ingest(lake_path: Path, docs_dir: Path) -> None:
    with lakebed.connect(lake_path) as lake:
        lake.rag.ingest(docs_dir, embedder="hash")
    with lakebed.connect(lake_path, read_only=True) as lake:
        assert lake.rag.retrieve("feature store", k=1)
        with pytest.raises(lakebed.errors.ReadOnlyError):
            lake.rag.ingest(docs_dir)
