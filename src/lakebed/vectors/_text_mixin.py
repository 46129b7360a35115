"""Text and hybrid search for collections: BM25, fusion with vectors, embed-for-you.

A :class:`~lakebed.vectors.Collection` inherits these methods. They rely only on the
collection members named in the engine contract: ``_text`` (a
:class:`~lakebed.vectors.text.TextIndex` or None), ``_embedder`` (an object with
``name``, ``dim`` and ``embed(list[str])``, or None), ``_filter_keys(filter)``,
``_hits_for_keys(keys, scores)``, ``search(...)``, ``upsert(...)`` and
``_check_writable()``.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     col = lake.collections.create("notes", dim=64, text_field=True, embedder="hash")
    ...     ids = col.add_texts(["red apples", "green apples", "a red car"], ids=[1, 2, 3])
    ...     [h.id for h in col.search_text("red", k=2)]
    ...     hit = col.hybrid_search("red apples", k=1)[0]
    ...     hit.id, hit.meta["found_by"]
    [1, 3]
    (1, 'both')
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lakebed.api._vectors import CollectionAPI
from lakebed.errors import InvalidArgument
from lakebed.vectors.fusion import FUSIONS, fuse

if TYPE_CHECKING:
    from pyroaring import BitMap

    from lakebed.vectors._hit import Hit
    from lakebed.vectors.text import TextIndex

__all__ = ["MODES", "TextSearchMixin"]

MODES = ("hybrid", "vector", "text")
EMBED_BATCH = 256


def _check_k(k: Any, what: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidArgument(f"{what} must be a positive integer, got {k!r}")
    return int(k)


def _check_query_text(text: Any, what: str = "query") -> str:
    if not isinstance(text, str):
        raise InvalidArgument(f"the {what} must be a string, got {type(text).__name__}")
    return text


class TextSearchMixin(CollectionAPI):
    """Adds ``search_text``, ``hybrid_search``, ``add_texts`` and ``query`` to a Collection."""

    name: str
    _text: TextIndex | None
    _embedder: Any
    _snap: Any  # the Collection's current Snapshot

    if TYPE_CHECKING:  # provided by Collection (see the engine contract)

        def _filter_keys(self, filter: Any) -> BitMap | None: ...
        def _hits_for_keys(self, keys: list[int], scores: list[float]) -> list[Hit]: ...
        def _check_writable(self) -> None: ...

    # -- helpers --------------------------------------------------------------------------
    def _require_text(self) -> TextIndex:
        if self._text is None:
            raise InvalidArgument(
                f"collection {self.name!r} has no text field; create it with text_field=True to search its texts"
            )
        return self._text

    def _require_embedder(self, what: str) -> Any:
        if self._embedder is None:
            raise InvalidArgument(
                f"collection {self.name!r} has no embedder, so {what} needs vectors from you; "
                "pass vector=..., or create the collection with embedder='minilm' (or 'hash')"
            )
        return self._embedder

    def _embed(self, texts: list[str]) -> np.ndarray:
        emb = self._require_embedder("embedding texts")
        return np.asarray(emb.embed(texts), dtype=np.float32)

    def _bm25(self, query: str, depth: int, filter: Any) -> list[tuple[Hit, float]]:
        """BM25 hits (with their raw scores), at most ``depth``, live points only."""
        idx = self._require_text()
        allowed = self._filter_keys(filter)
        # no more hits than live points: a huge k must not size tantivy's collector
        depth = min(depth, self._snap.live)
        limit = depth
        while True:
            pairs = idx.search(query, limit, allowed)
            hits = self._hits_for_keys([key for key, _ in pairs], [score for _, score in pairs])
            # The index follows every write, so a dropped key is a rare race with a
            # concurrent delete; ask for more rather than return fewer than asked.
            if len(hits) >= depth or len(pairs) < limit:
                return [(h, h.score) for h in hits[:depth]]
            limit *= 2

    # -- public API -----------------------------------------------------------------------
    def search_text(self, query: str, k: int = 10, filter: dict[str, Any] | None = None) -> list[Hit]:
        query = _check_query_text(query)
        k = _check_k(k)
        out = []
        for rank, (hit, score) in enumerate(self._bm25(query, k, filter), start=1):
            hit.meta = {"plan": "bm25", "text_rank": rank, "text_score": score}
            out.append(hit)
        return out

    def hybrid_search(
        self,
        text: str,
        vector: Any = None,
        k: int = 10,
        filter: dict[str, Any] | None = None,
        fusion: str = "rrf",
        rrf_k: int = 60,
        alpha: float = 0.5,
        candidates: int | None = None,
    ) -> list[Hit]:
        text = _check_query_text(text, "text")
        k = _check_k(k)
        if fusion not in FUSIONS:
            raise InvalidArgument(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise InvalidArgument(f"alpha must be within [0, 1], got {alpha}")
        if rrf_k < 0:
            raise InvalidArgument(f"rrf_k must be >= 0, got {rrf_k}")
        # (search and _bm25 clamp depth to the live points; fuse returns at most k)
        depth = max(50, k) if candidates is None else _check_k(candidates, "candidates")
        self._require_text()
        if vector is None:
            vector = self._embed([text])[0]
        vhits = self.search(vector, k=depth, filter=filter)
        thits = self._bm25(text, depth, filter)
        by_id: dict[Any, Hit] = {}
        for h in vhits:
            by_id[h.id] = h
        for h, _ in thits:
            # Prefer the BM25 copy only when the vector copy lacks the text.
            if h.id not in by_id or by_id[h.id].text is None:
                by_id[h.id] = h
        fused = fuse(
            [(h.id, h.score) for h in vhits],
            [(h.id, s) for h, s in thits],
            method=fusion,
            rrf_k=rrf_k,
            alpha=float(alpha),
            k=k,
        )
        out = []
        for f in fused:
            src = by_id[f.key]
            meta = {
                "plan": "hybrid",
                "fusion": fusion,
                "found_by": f.found_by,
                "vector_rank": f.vector_rank,
                "text_rank": f.text_rank,
                "vector_score": f.vector_score,
                "text_score": f.text_score,
            }
            out.append(type(src)(src.id, float(f.score), src.payload, src.text, src.vector, meta))
        return out

    def add_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[int | str] | None = None,
        payloads: Sequence[dict[str, Any]] | None = None,
    ) -> list[int | str]:
        self._check_writable()
        if isinstance(texts, str):
            raise InvalidArgument("add_texts takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise InvalidArgument(f"add_texts takes strings, got {type(t).__name__}")
        self._require_embedder("add_texts")
        if ids is None:
            id_list: list[int | str] = [uuid.uuid4().hex for _ in texts]
        else:
            id_list = list(ids)
            if len(id_list) != len(texts):
                raise InvalidArgument(f"add_texts got {len(texts)} texts but {len(id_list)} ids")
        pls = None if payloads is None else list(payloads)
        if pls is not None and len(pls) != len(texts):
            raise InvalidArgument(f"add_texts got {len(texts)} texts but {len(pls)} payloads")
        # Embed everything before the first write, so a failing model stores nothing.
        vectors = np.concatenate(
            [self._embed(texts[i : i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)]
            or [np.zeros((0, self._embedder.dim), dtype=np.float32)]
        )
        if texts:
            self.upsert(id_list, vectors, payloads=pls, texts=texts)
        return id_list

    def query(
        self,
        question: str,
        k: int = 10,
        mode: str = "hybrid",
        filter: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[Hit]:
        question = _check_query_text(question, "question")
        if mode not in MODES:
            raise InvalidArgument(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if mode == "text":
            return self.search_text(question, k=k, filter=filter)
        if mode == "vector":
            if options:
                raise InvalidArgument(f"mode='vector' takes no options, got {sorted(options)}")
            vec = self._embed([question])[0]
            return self.search(vec, k=k, filter=filter)
        if self._text is None:
            raise InvalidArgument(
                f"collection {self.name!r} has no text field, so mode='hybrid' is not possible; "
                "use mode='vector' or create the collection with text_field=True"
            )
        return self.hybrid_search(question, k=k, filter=filter, **options)
