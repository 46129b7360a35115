"""``hash``: a deterministic feature-hashing embedder for tests and demos (no model).

Each lower-cased word token is hashed (BLAKE2b) to a signed coordinate; the counts are
L2-normalized. Texts sharing words get similar vectors, which is enough to exercise
vector and hybrid search without downloading or loading a model.

Example:
    >>> e = HashEmbedder(dim=16)
    >>> v = e.embed(["red apple", "red apple", "blue car"])
    >>> bool((v[0] == v[1]).all()), v.shape, v.dtype.name
    (True, (3, 16), 'float32')
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np

from lakebed.errors import InvalidArgument
from lakebed.rag.embedders.base import Embedder, _check_texts, l2_normalize, register

__all__ = ["HashEmbedder"]

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=65536)
def _slot(token: str, dim: int) -> tuple[int, float]:
    h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


@register("hash")
class HashEmbedder(Embedder):
    """Feature hashing of word tokens; ``dim`` defaults to 64."""

    def __init__(self, dim: int | None = None) -> None:
        dim = 64 if dim is None else int(dim)
        if not 1 <= dim <= 65536:
            raise InvalidArgument(f"hash embedder dim must be within 1..65536, got {dim}")
        self.dim = dim
        self.name = "hash" if dim == 64 else f"hash-{dim}"

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            # An empty text still gets a unit vector, so cosine search never sees a zero.
            for token in _WORD.findall(text.lower()) or ["\x00empty"]:
                i, sign = _slot(token, self.dim)
                out[row, i] += sign
            if not out[row].any():  # tokens cancelled out exactly
                i, sign = _slot("\x00empty", self.dim)
                out[row, i] = sign
        return l2_normalize(out)
