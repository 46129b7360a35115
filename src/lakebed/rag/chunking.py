"""Structure-aware chunking: headings, then paragraphs, then token windows with overlap.

A heading (or a new PDF page) always starts a new chunk, so a chunk never mixes
sections and cites one page. Within a section, whole paragraphs are packed greedily up
to ``chunk_size`` tokens; a paragraph longer than that is cut into windows of
``chunk_size`` tokens overlapping by ``overlap``. Tokens are whitespace-separated words
(about 1.3 word pieces each for English; the default 180 stays under MiniLM's 256).

A chunk is a character span ``[start, end)`` of the document's text, so its citation is
exact; ``section`` is the heading path ("Install > From source").

Example:
    >>> from lakebed.rag.loaders import LoadedDocument, _paragraphs
    >>> text = "one two three four five\\n\\nsix seven"
    >>> doc = LoadedDocument("x.txt", "x", text, _paragraphs(text))
    >>> [(c.text, c.start, c.end) for c in chunk_document(doc, chunk_size=3, overlap=1)]
    [('one two three', 0, 13), ('three four five', 8, 23), ('six seven', 25, 34)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakebed.errors import InvalidArgument
from lakebed.rag.loaders import Block, LoadedDocument

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_OVERLAP", "Chunk", "check_params", "chunk_document"]

DEFAULT_CHUNK_SIZE = 180
DEFAULT_OVERLAP = 30
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """One chunk of a document: its text and where it came from."""

    index: int
    text: str
    start: int
    end: int
    page: int | None = None
    section: str = ""


def check_params(chunk_size: int, overlap: int) -> None:
    """Raise InvalidArgument unless ``0 <= overlap < chunk_size``."""
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidArgument(f"chunk_size must be a positive number of tokens, got {chunk_size!r}")
    if not isinstance(overlap, int) or not 0 <= overlap < chunk_size:
        raise InvalidArgument(f"overlap must be within 0..chunk_size-1 ({chunk_size - 1}), got {overlap!r}")


def _count(text: str) -> int:
    return sum(1 for _ in _TOKEN.finditer(text))


def chunk_document(
    doc: LoadedDocument, chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP
) -> list[Chunk]:
    """The chunks of ``doc`` in order (see the module doc)."""
    check_params(chunk_size, overlap)
    text = doc.text
    spans: list[tuple[int, int, int | None, str]] = []  # start, end, page, section
    path: list[tuple[int, str]] = []  # heading stack: (level, title)
    group: list[Block] = []
    group_tokens = 0

    def section() -> str:
        return " > ".join(title for _, title in path)

    def flush() -> None:
        nonlocal group_tokens
        if group:
            spans.append((group[0].start, group[-1].end, group[0].page, section()))
            group.clear()
            group_tokens = 0

    for block in doc.blocks:
        if block.kind == "heading":
            flush()
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.text))
            # The heading opens the chunk of its section so that its words are searchable.
            group.append(block)
            group_tokens = _count(block.text)
            continue
        if group and group[-1].page != block.page:
            flush()
        n = _count(text[block.start : block.end])
        if n > chunk_size:
            flush()
            for s, e in _windows(text, block.start, block.end, chunk_size, overlap):
                spans.append((s, e, block.page, section()))
            continue
        if group_tokens + n > chunk_size:
            flush()
        group.append(block)
        group_tokens += n
    flush()
    return [
        Chunk(index=i, text=text[s:e], start=s, end=e, page=page, section=sec)
        for i, (s, e, page, sec) in enumerate(spans)
        if text[s:e].strip()
    ]


def _windows(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text, start, end)]
    out: list[tuple[int, int]] = []
    step = size - overlap
    i = 0
    while i < len(tokens):
        j = min(i + size, len(tokens))
        out.append((tokens[i][0], tokens[j - 1][1]))
        if j == len(tokens):
            break
        i += step
    return out
