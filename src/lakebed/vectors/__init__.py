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

from lakebed.vectors._collection import Collection
from lakebed.vectors._collections import Collections
from lakebed.vectors._hit import Hit, Point

__all__ = ["Collection", "Collections", "Hit", "Point"]
