"""Document loaders: a file becomes a :class:`LoadedDocument` of structural blocks.

Supported: ``.txt`` (paragraphs), ``.md``/``.markdown`` (ATX headings, paragraphs, fenced
code), ``.html``/``.htm`` (beautifulsoup4: headings and block elements; extra ``rag``),
``.pdf`` (pypdf: one page at a time; extra ``rag``).

Every block carries character offsets into ``LoadedDocument.text``: for text and
Markdown that is the file's own text, for HTML and PDF the extracted text (blocks joined
by blank lines), so a chunk's ``text[start:end]`` is exactly what it cites.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "guide.md"
    >>> _ = p.write_text("# Guide\\n\\nHello there.\\n\\n## Install\\n\\npip install it\\n")
    >>> doc = load(p)
    >>> doc.title, [(b.kind, b.text) for b in doc.blocks]
    ('Guide', [('heading', 'Guide'), ('para', 'Hello there.'), ('heading', 'Install'), ('para', 'pip install it')])
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakebed.errors import InvalidArgument, require

__all__ = ["LOADERS", "Block", "LoadedDocument", "load", "supported_suffixes"]


@dataclass(frozen=True)
class Block:
    """A structural piece of a document: a heading (with its level) or a paragraph."""

    kind: str  # "heading" | "para"
    text: str
    start: int
    end: int
    level: int = 0
    page: int | None = None


@dataclass
class LoadedDocument:
    """The extracted text of one file, its title, and its blocks in order."""

    source: str
    title: str
    text: str
    blocks: list[Block] = field(default_factory=list)
    pages: int | None = None


_PARA_SPLIT = re.compile(r"\n[ \t]*\n")


def _paragraphs(text: str, base: int = 0, page: int | None = None) -> list[Block]:
    """Blocks of the blank-line separated paragraphs of ``text`` (offsets shifted by base)."""
    out: list[Block] = []
    pos = 0
    for m in [*_PARA_SPLIT.finditer(text), None]:
        end = m.start() if m else len(text)
        piece = text[pos:end]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            s = base + pos + lead
            out.append(Block("para", stripped, s, s + len(stripped), page=page))
        if m:
            pos = m.end()
    return out


def _first_line_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:120] if len(line) <= 120 else fallback
    return fallback


def load_text(path: Path, data: bytes) -> LoadedDocument:
    text = data.decode("utf-8", errors="replace")
    return LoadedDocument(
        source=str(path), title=_first_line_title(text, path.stem), text=text, blocks=_paragraphs(text)
    )


_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")


def load_markdown(path: Path, data: bytes) -> LoadedDocument:
    text = data.decode("utf-8", errors="replace")
    blocks: list[Block] = []
    para_start: int | None = None
    para_end = 0
    in_fence = False
    pos = 0

    def close_para() -> None:
        nonlocal para_start
        if para_start is not None:
            chunk = text[para_start:para_end]
            blocks.append(Block("para", chunk.strip(), para_start, para_start + len(chunk.rstrip())))
            para_start = None

    for line in text.splitlines(keepends=True):
        start, end = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        body = line.strip()
        if _FENCE.match(line):
            if not in_fence:
                close_para()
                para_start = start
            in_fence = not in_fence
            para_end = end
            if not in_fence:
                close_para()
            continue
        if in_fence:
            para_end = end
            continue
        heading = _ATX.match(line.rstrip("\r\n"))
        if heading:
            close_para()
            title = heading.group(2).strip()
            h_start = start + line.index(title)
            blocks.append(Block("heading", title, h_start, h_start + len(title), level=len(heading.group(1))))
        elif not body:
            close_para()
        else:
            if para_start is None:
                para_start = start + (len(line) - len(line.lstrip()))
            para_end = end
    close_para()
    title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    return LoadedDocument(source=str(path), title=title or _first_line_title(text, path.stem), text=text, blocks=blocks)


class _Builder:
    """Accumulates blocks into a synthetic text joined by blank lines."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.blocks: list[Block] = []
        self.length = 0

    def add(self, kind: str, text: str, level: int = 0, page: int | None = None) -> None:
        text = text.strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        self.blocks.append(Block(kind, text, self.length, self.length + len(text), level, page))
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_BLOCK_TAGS = {"p", "li", "pre", "blockquote", "dd", "dt", "td", "th", "figcaption", "caption"}
_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "nav", "svg"}
_SPACES = re.compile(r"[ \t\r\f\v]+")


def _clean(text: str) -> str:
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines()).strip()


def load_html(path: Path, data: bytes) -> LoadedDocument:
    bs4: Any = require("bs4", "rag")
    soup = bs4.BeautifulSoup(data, "html.parser")
    title_tag = soup.find("title")
    page_title = title_tag.get_text(" ", strip=True) if title_tag else ""
    for tag in soup.find_all(list(_SKIP_TAGS)):
        tag.decompose()
    root = soup.body or soup
    out = _Builder()
    wanted = set(_HEADINGS) | _BLOCK_TAGS
    loose: list[str] = []

    def flush_loose() -> None:
        if loose:
            out.add("para", _clean(" ".join(loose)))
            loose.clear()

    for node in root.descendants:
        if isinstance(node, bs4.element.Tag):
            # The outermost block element owns its text; nested ones come with it.
            if node.name not in wanted or node.find_parent(list(wanted)) is not None:
                continue
            flush_loose()
            if node.name in _HEADINGS:
                out.add("heading", node.get_text(" ", strip=True), level=_HEADINGS[node.name])
            elif node.name == "pre":
                out.add("para", node.get_text())
            else:
                out.add("para", _clean(node.get_text(" ")))
        elif type(node) is bs4.element.NavigableString and node.strip() and node.find_parent(list(wanted)) is None:
            loose.append(str(node))  # text outside any block element, e.g. inside a <div>
    flush_loose()
    if not out.blocks:  # no block markup: fall back to the visible text's paragraphs
        for block in _paragraphs(_clean(root.get_text("\n"))):
            out.add("para", block.text)
    h1 = next((b.text for b in out.blocks if b.kind == "heading" and b.level == 1), None)
    return LoadedDocument(source=str(path), title=page_title or h1 or path.stem, text=out.text(), blocks=out.blocks)


def load_pdf(path: Path, data: bytes) -> LoadedDocument:
    pypdf: Any = require("pypdf", "rag")
    import io

    reader = pypdf.PdfReader(io.BytesIO(data))
    out = _Builder()
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text() or ""
        for block in _paragraphs(text):
            out.add("para", block.text, page=number)
    title = ""
    try:
        meta = reader.metadata
        title = (meta.title or "") if meta else ""
    except Exception:  # broken metadata must not lose the text
        title = ""
    return LoadedDocument(
        source=str(path),
        title=title.strip() or path.stem,
        text=out.text(),
        blocks=out.blocks,
        pages=len(reader.pages),
    )


Loader = Callable[[Path, bytes], LoadedDocument]

#: Loader per lower-case file suffix.
LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    ".text": load_text,
    ".rst": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
}


def supported_suffixes() -> list[str]:
    """The file suffixes :func:`load` understands."""
    return sorted(LOADERS)


def load(path: str | Path, data: bytes | None = None) -> LoadedDocument:
    """Load one file (``data`` = its bytes when already read)."""
    path = Path(path)
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise InvalidArgument(
            f"cannot load {path.name}: unsupported file type {path.suffix or '(none)'}; "
            f"supported: {', '.join(supported_suffixes())}"
        )
    if data is None:
        data = path.read_bytes()
    return loader(path, data)
