"""Vector collections: a durable storage engine (write-ahead log, segments, manifests)
with FAISS indexes (HNSW, IVF-PQ, flat; int8/fp16 quantization), payload filters and a
planner, plus BM25 text and hybrid search.

Example:
    >>> import lakebed, numpy as np
    >>> with lakebed.connect(":memory:") as lake:
    ...     col = lake.collections.create("docs", dim=3)
    ...     col.upsert(["a", "b"], np.eye(3)[:2], payloads=[{"n": 1}, {"n": 2}])
    ...     col.search([1, 0, 0], k=1)[0].id
    'a'
"""

from typing import TYPE_CHECKING

from lakebed._lazy import lazy_exports
from lakebed.vectors._hit import Hit, Point

if TYPE_CHECKING:
    from lakebed.vectors._collection import Collection
    from lakebed.vectors._collections import Collections

# The engine classes load on first use: the HTTP client imports this package for its
# light types without loading the engine.
__getattr__ = lazy_exports(
    __name__,
    {
        "Collection": "lakebed.vectors._collection",
        "Collections": "lakebed.vectors._collections",
    },
)

__all__ = ["Collection", "Collections", "Hit", "Point"]
