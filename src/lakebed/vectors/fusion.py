"""Rank fusion for hybrid search: pure functions over ranked ``(key, score)`` lists.

Two methods:

- **Reciprocal rank fusion** (Cormack et al., 2009): ``score(d) = sum over lists of
  1 / (rrf_k + rank(d))`` with 1-based ranks; a list that misses ``d`` adds nothing.
  Scale-free, so BM25 and cosine need no calibration.
- **Weighted normalized scores**: each side min-max normalized to [0, 1] over its own
  results (a side whose results all score the same maps them to 1), then
  ``alpha * vector + (1 - alpha) * text``; a side that misses ``d`` adds 0.

Ties are broken by the vector rank, then the text rank, then the key, so fusion is
deterministic (LanceDB's RRF reranker orders its ties the same way: vector results
first, stable sort).

Example:
    >>> fused = fuse([("a", 0.9), ("b", 0.8)], [("b", 7.0), ("c", 3.0)], method="rrf", rrf_k=60)
    >>> [(f.key, round(f.score, 5), f.vector_rank, f.text_rank) for f in fused]
    [('b', 0.03252, 2, 1), ('a', 0.01639, 1, None), ('c', 0.01613, None, 2)]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from lakebed.errors import InvalidArgument

__all__ = ["FUSIONS", "Fused", "fuse", "minmax", "rrf", "weighted"]

K = TypeVar("K", bound=Hashable)

FUSIONS = ("rrf", "weighted")


@dataclass(frozen=True)
class Fused(Generic[K]):
    """One fused result: its key, fused score, and where each side ranked and scored it."""

    key: K
    score: float
    vector_rank: int | None = None
    text_rank: int | None = None
    vector_score: float | None = None
    text_score: float | None = None

    @property
    def found_by(self) -> str:
        """``"both"``, ``"vector"`` or ``"text"``."""
        if self.vector_rank is not None and self.text_rank is not None:
            return "both"
        return "vector" if self.vector_rank is not None else "text"


def rrf(rankings: Sequence[Sequence[K]], rrf_k: float = 60) -> dict[K, float]:
    """Reciprocal-rank-fusion scores of the keys in ``rankings`` (each best first).

    Example:
        >>> rrf([["a", "b"], ["b"]], rrf_k=1)
        {'a': 0.5, 'b': 0.8333333333333333}
    """
    if rrf_k < 0:
        raise InvalidArgument(f"rrf_k must be >= 0, got {rrf_k}")
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (rrf_k + rank)
    return scores


def minmax(scores: Sequence[float], *, higher_is_better: bool = True) -> list[float]:
    """Scores scaled to [0, 1], 1 = best; equal scores all map to 1.

    Example:
        >>> minmax([3.0, 2.0, 1.0])
        [1.0, 0.5, 0.0]
        >>> minmax([0.1, 0.3], higher_is_better=False)
        [1.0, 0.0]
    """
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi == lo:
        return [1.0] * len(scores)
    span = hi - lo
    if higher_is_better:
        return [(s - lo) / span for s in scores]
    return [(hi - s) / span for s in scores]


def weighted(
    vector: Sequence[tuple[K, float]],
    text: Sequence[tuple[K, float]],
    alpha: float = 0.5,
    *,
    vector_higher_is_better: bool = True,
) -> dict[K, float]:
    """Weighted sum of min-max normalized scores: ``alpha * vector + (1 - alpha) * text``.

    Example:
        >>> weighted([("a", 0.9), ("b", 0.5)], [("b", 4.0), ("c", 2.0)], alpha=0.5)
        {'a': 0.5, 'b': 0.5, 'c': 0.0}
    """
    if not 0.0 <= alpha <= 1.0:
        raise InvalidArgument(f"alpha must be within [0, 1], got {alpha}")
    out: dict[K, float] = {}
    vnorm = minmax([s for _, s in vector], higher_is_better=vector_higher_is_better)
    for (key, _), s in zip(vector, vnorm, strict=True):
        out[key] = out.get(key, 0.0) + alpha * s
    tnorm = minmax([s for _, s in text])
    for (key, _), s in zip(text, tnorm, strict=True):
        out[key] = out.get(key, 0.0) + (1.0 - alpha) * s
    return out


def fuse(
    vector: Sequence[tuple[K, float]],
    text: Sequence[tuple[K, float]],
    *,
    method: str = "rrf",
    rrf_k: float = 60,
    alpha: float = 0.5,
    k: int | None = None,
    vector_higher_is_better: bool = True,
) -> list[Fused[K]]:
    """Fuse a vector ranking and a text ranking (each ``(key, score)`` best first).

    Returns the fused list best first (``k`` of them when given), each result telling
    its ranks (1-based) and raw scores on both sides.
    """
    if method not in FUSIONS:
        raise InvalidArgument(f"unknown fusion {method!r}; use one of {', '.join(FUSIONS)}")
    if method == "rrf":
        scores = rrf([[key for key, _ in vector], [key for key, _ in text]], rrf_k)
    else:
        scores = weighted(vector, text, alpha, vector_higher_is_better=vector_higher_is_better)
    vrank = {key: (i, s) for i, (key, s) in enumerate(vector, start=1)}
    trank = {key: (i, s) for i, (key, s) in enumerate(text, start=1)}
    big = len(vector) + len(text) + 1

    def tie_break(key: K) -> tuple[int, int, str]:
        return vrank.get(key, (big, 0.0))[0], trank.get(key, (big, 0.0))[0], str(key)

    order = sorted(scores, key=lambda key: (-scores[key], *tie_break(key)))
    if k is not None:
        order = order[:k]
    out: list[Fused[K]] = []
    for key in order:
        v = vrank.get(key)
        t = trank.get(key)
        out.append(
            Fused(
                key=key,
                score=scores[key],
                vector_rank=v[0] if v else None,
                text_rank=t[0] if t else None,
                vector_score=v[1] if v else None,
                text_score=t[1] if t else None,
            )
        )
    return out
