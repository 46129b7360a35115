"""Embedders: turn texts into vectors. ``get_embedder("minilm" | "hash" | "hash-<dim>")``.

Example:
    >>> from lakebed.rag.embedders import get_embedder
    >>> get_embedder("hash").embed(["a b"]).shape
    (1, 64)
"""

from lakebed.rag.embedders.base import (
    Embedder,
    EmbedderLike,
    available,
    get_embedder,
    l2_normalize,
    register,
)

__all__ = ["Embedder", "EmbedderLike", "available", "get_embedder", "l2_normalize", "register"]
