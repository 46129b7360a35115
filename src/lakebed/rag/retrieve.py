"""Retrieval: the chunks that answer a question, each with its citation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakebed.vectors import Hit

__all__ = ["RetrievedChunk", "from_hit"]


@dataclass
class RetrievedChunk:
    """A retrieved chunk: its text, score, and where it comes from.

    ``citation`` reads like ``guide.md, p. 2, "Install > From source", chars 120-480``.
    """

    id: Any
    text: str
    score: float
    source: str
    title: str
    page: int | None
    section: str
    start: int
    end: int
    chunk_index: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def citation(self) -> str:
        parts = [Path(self.source).name]
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.section:
            parts.append(f'"{self.section}"')
        parts.append(f"chars {self.start}-{self.end}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"[{self.citation}] {self.text}"


def from_hit(hit: Hit) -> RetrievedChunk:
    """A :class:`RetrievedChunk` from a collection hit whose payload came from ingest."""
    p = hit.payload or {}
    return RetrievedChunk(
        id=hit.id,
        text=hit.text or "",
        score=float(hit.score),
        source=str(p.get("source", hit.id)),
        title=str(p.get("title") or ""),
        page=p.get("page"),
        section=str(p.get("section") or ""),
        start=int(p.get("start") or 0),
        end=int(p.get("end") or 0),
        chunk_index=int(p.get("chunk_index") or 0),
        meta=dict(hit.meta),
    )
