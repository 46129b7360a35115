"""Loaders and structure-aware chunking."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakebed.errors import InvalidArgument
from lakebed.rag.chunking import chunk_document
from lakebed.rag.loaders import LoadedDocument, _paragraphs, load


def test_markdown_headings_and_offsets(docs_dir: Path) -> None:
    doc = load(docs_dir / "guide.md")
    assert doc.title == "Lakebed guide"
    kinds = [(b.kind, b.level) for b in doc.blocks]
    assert kinds[:3] == [("heading", 1), ("para", 0), ("heading", 2)]
    for b in doc.blocks:
        assert doc.text[b.start : b.end] == b.text


def test_markdown_code_fence_is_not_a_heading(tmp_path: Path) -> None:
    p = tmp_path / "c.md"
    p.write_text("# T\n\n```\n# not a heading\n\nstill code\n```\n\nafter\n")
    doc = load(p)
    assert [b.kind for b in doc.blocks] == ["heading", "para", "para"]
    assert "not a heading" in doc.blocks[1].text and "still code" in doc.blocks[1].text


def test_text_html_pdf(docs_dir: Path) -> None:
    txt = load(docs_dir / "notes.txt")
    assert txt.title == "Release notes" and len(txt.blocks) == 3
    html = load(docs_dir / "sub" / "features.html")
    assert html.title == "Feature store"
    assert "var x" not in html.text
    assert [b.kind for b in html.blocks] == ["heading", "para", "heading", "para"]
    pdf = load(docs_dir / "sub" / "manual.pdf")
    assert pdf.title == "Lakebed manual" and pdf.pages == 2
    assert {b.page for b in pdf.blocks} == {1, 2}
    assert "CRC32" in pdf.text and "SIGKILL" in pdf.text
    for doc in (txt, html, pdf):
        for b in doc.blocks:
            assert doc.text[b.start : b.end] == b.text


def test_broken_and_unsupported_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(Exception):  # noqa: B017 - whatever pypdf raises, ingest reports it
        load(bad)
    with pytest.raises(InvalidArgument):
        load(tmp_path / "x.docx")


def test_chunks_follow_headings_and_pages(docs_dir: Path) -> None:
    doc = load(docs_dir / "guide.md")
    chunks = chunk_document(doc, chunk_size=100, overlap=10)
    assert [c.section for c in chunks] == ["Lakebed guide", "Lakebed guide > Install", "Lakebed guide > Hybrid search"]
    assert chunks[1].text.startswith("Install")
    pdf = load(docs_dir / "sub" / "manual.pdf")
    assert [c.page for c in chunk_document(pdf)] == [1, 2]


def test_long_paragraph_becomes_overlapping_windows() -> None:
    words = [f"w{i}" for i in range(25)]
    text = " ".join(words)
    doc = LoadedDocument("x.txt", "x", text, _paragraphs(text))
    chunks = chunk_document(doc, chunk_size=10, overlap=3)
    assert [c.text.split()[0] for c in chunks] == ["w0", "w7", "w14", "w21"]
    assert chunks[-1].text.split()[-1] == "w24"
    assert all(len(c.text.split()) <= 10 for c in chunks)
    with pytest.raises(InvalidArgument):
        chunk_document(doc, chunk_size=10, overlap=10)


def test_pdf_fixture_is_readable_by_pypdf(pdf_maker) -> None:
    import io

    import pypdf

    r = pypdf.PdfReader(io.BytesIO(pdf_maker([["hello (world)"]])))
    assert "hello (world)" in r.pages[0].extract_text()


paragraph = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta"]), min_size=1, max_size=30).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(
    paras=st.lists(st.tuples(st.booleans(), paragraph), min_size=1, max_size=12),
    size=st.integers(2, 20),
    data=st.data(),
)
def test_chunks_are_exact_spans_covering_every_word(tmp_path_factory, paras, size, data) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    text = "\n\n".join(("## " + p) if is_heading else p for is_heading, p in paras) + "\n"
    p = tmp_path_factory.mktemp("md") / "d.md"
    p.write_text(text)
    doc = load(p)
    chunks = chunk_document(doc, chunk_size=size, overlap=overlap)
    covered = set()
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        covered.update(range(c.start, c.end))
    for b in doc.blocks:  # every word character of every block is in some chunk
        assert {i for i in range(b.start, b.end) if not doc.text[i].isspace()} <= covered
    assert [c.index for c in chunks] == list(range(len(chunks)))
