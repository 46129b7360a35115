"""The interface of vector collections, implemented by the embedded classes and by the
HTTP client alike (see :mod:`lakebed.api`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakebed.vectors._hit import Hit, Point


class CollectionsAPI(ABC):
    """The vector collections of a lake: create, open, list, drop.

    Embedded: :class:`lakebed.vectors.Collections` (``lake.collections``); remote: the
    same methods over HTTP (``lakebed.connect("http://...").collections``)."""

    @abstractmethod
    def create(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        index: dict[str, Any] | None = None,
        quantization: str | None = None,
        text_field: bool = False,
        embedder: str | None = None,
    ) -> CollectionAPI:
        """Create a collection and return it opened.

        Args:
            name: letters, digits, ``_ - .`` (up to 200).
            dim: vector dimension.
            metric: ``cosine`` (vectors are L2-normalized on write), ``l2`` or ``dot``.
            index: ``{"type": "hnsw", "m": 16, "ef_construction": 200, "ef_search": 64}``
                (default), ``{"type": "ivf_pq", "nlist": 1024, "m": 48, "nbits": 8,
                "nprobe": 32}`` or ``{"type": "flat"}`` (exact).
            quantization: None, ``"fp16"`` or ``"int8"`` (scalar quantization of the index;
                results are re-ranked with the full-precision vectors).
            text_field: keep a BM25 index of the points' texts (hybrid search).
            embedder: the name of an embedder (lakebed.rag) whose dimension is ``dim``.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("img", dim=8, metric="l2",
            ...                                   index={"type": "hnsw", "m": 32})
            ...     col.index_config["m"]
            32
        """

    @abstractmethod
    def open(self, name: str, version: int | None = None) -> CollectionAPI:
        """Open a collection (cached per lake); ``version=N`` opens manifest version N
        read-only (see ``col.versions()``).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     _ = lake.collections.create("docs", dim=4)
            ...     lake.collections.open("docs").dim
            4
        """

    @abstractmethod
    def list(self) -> list[str]:
        """Names of all collections, sorted."""

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether a collection of that name exists."""

    @abstractmethod
    def info(self, name: str) -> dict[str, Any]:
        """The catalog entry of a collection (configuration, location, creation time)."""

    @abstractmethod
    def drop(self, name: str) -> None:
        """Delete a collection and all its data (every version).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     _ = lake.collections.create("tmp", dim=2)
            ...     lake.collections.drop("tmp")
            ...     lake.collections.exists("tmp")
            False
        """


class CollectionAPI(ABC):
    """One vector collection: points (id, vector, payload, text) with filtered, text and
    hybrid search.

    Embedded: :class:`lakebed.vectors.Collection`; remote: the same methods over HTTP."""

    @abstractmethod
    def upsert(self, ids: Any, vectors: Any, payloads: Any = None, texts: Any = None) -> None:
        """Insert or replace points. Validates everything first: a bad batch stores nothing.

        Args:
            ids: list of int or str ids, unique within the batch (a collection may mix them;
                ``1`` and ``"1"`` are different points).
            vectors: array-like of shape ``(len(ids), dim)``, finite values.
            payloads: optional list of JSON objects (dicts), one per id.
            texts: optional list of str (or None), one per id; indexed for BM25 when the
                collection has a text field.
            log_seq: the position of this write in an external log (a cluster replica passes
                the JetStream sequence it applies); stored in the same write-ahead record as
                the points, so :attr:`log_seq` after a crash is exactly the last write kept.
            log_digest: a digest of the log up to ``log_seq`` (a cluster replica's running
                hash of what it applied), kept the same way (:attr:`log_digest`).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert(["a"], [[0.1, 0.2]], payloads=[{"lang": "en"}])
            ...     col.count()
            1
        """

    @abstractmethod
    def delete(self, ids: Any = None, filter: dict[str, Any] | None = None) -> int:
        """Delete points by id or by payload filter (one of the two); return how many.
        ``log_seq`` is recorded with the write as in :meth:`upsert` (also when nothing
        matched).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert([1, 2], [[1, 0], [0, 1]], payloads=[{"x": 1}, {"x": 2}])
            ...     col.delete(filter={"x": {"$gte": 2}})
            1
        """

    @abstractmethod
    def flush(self, seal: bool = True) -> None:
        """Make every write durable; with ``seal`` (default) also seal the growing segment
        into an indexed one and wait until it is published as a new version.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert([1], [[1.0, 0.0]])
            ...     col.flush()
            ...     col.stats()["segments"]
            1
        """

    @abstractmethod
    def create_payload_index(self, field: str, kind: str) -> None:
        """Index a payload field (dotted path) as ``keyword``, ``integer``, ``float``,
        ``bool`` or ``datetime``: filters on it are type-checked and use the index.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.create_payload_index("year", "integer")
            ...     col.stats()["payload_indexes"]
            {'year': 'integer'}
        """

    @abstractmethod
    def versions(self) -> list[dict[str, Any]]:
        """The kept versions (manifests), oldest first: version, created_at, points, segments."""

    @abstractmethod
    def segments(self) -> list[dict[str, Any]]:
        """The segments of the current version: id, sealed or growing, rows, live and deleted
        rows, the index kernel, the log sequences it holds and its bytes on disk.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert([1, 2], [[1, 0], [0, 1]])
            ...     col.flush()
            ...     [(s["sealed"], s["rows"], s["live"]) for s in col.segments()]
            [(True, 2, 2)]
        """

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Points, segments, deleted rows, bytes on disk and in memory, and more.

        ``bytes_in_memory`` counts the working set every search touches: index structures
        (graph, codes; for HNSW without quantization they include the vectors; sealed
        indexes are memory-mapped, so these pages are the page cache's when hot) and
        unsealed rows.
        ``bytes_mapped`` is the full-precision vectors of sealed segments that are only
        memory-mapped (read for re-ranking and exact search, paged in on demand).
        ``bytes_on_disk`` includes the files of older versions (until :meth:`vacuum`);
        ``bytes_current_version`` only what the current version uses.
        """

    @abstractmethod
    def search(
        self,
        vector: Any,
        k: int = 10,
        filter: dict[str, Any] | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        exact: bool = False,
    ) -> list[Hit]:
        """The k nearest live points to ``vector`` (matching ``filter``), best first.

        Scores are higher-is-better: cosine similarity, inner product, or negative
        squared L2 distance. ``ef``/``nprobe`` override the index's search breadth;
        ``exact=True`` brute-forces. ``hit.meta["plan"]`` tells the plan used.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2, metric="l2")
            ...     col.upsert([1, 2], [[0, 0], [3, 4]])
            ...     [(h.id, h.score) for h in col.search([0, 0], k=2)]
            [(1, 0.0), (2, -25.0)]
        """

    @abstractmethod
    def search_batch(
        self,
        vectors: Any,
        k: int = 10,
        filter: dict[str, Any] | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        exact: bool = False,
    ) -> list[list[Hit]]:
        """:meth:`search` for many query vectors at once (one kernel call per segment).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert([1, 2], [[1, 0], [0, 1]])
            ...     [[h.id for h in hits] for hits in col.search_batch([[1, 0], [0, 1]], k=1)]
            [[1], [2]]
        """

    @abstractmethod
    def explain(
        self,
        vector: Any,
        k: int = 10,
        filter: dict[str, Any] | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        exact: bool = False,
    ) -> dict[str, Any]:
        """The plan a search would use: per segment the rows, the matching rows (the
        payload indexes' cardinality) and the chosen kernel.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert([1, 2], [[1, 0], [0, 1]], payloads=[{"x": 1}, {"x": 2}])
            ...     col.explain([1, 0], k=1, filter={"x": 1})["plan"]
            'exact'
        """

    @abstractmethod
    def get(self, ids: Any, include_vectors: bool = False) -> list[Point]:
        """The stored points of ``ids`` (missing ids are skipped), in the order given.
        Vectors of cosine collections are returned L2-normalized.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert(["a"], [[1, 0]], payloads=[{"x": 1}])
            ...     col.get(["a", "b"])[0].payload
            {'x': 1}
        """

    @abstractmethod
    def count(self, filter: dict[str, Any] | None = None) -> int:
        """The number of live points (matching ``filter``)."""

    @abstractmethod
    def scroll(
        self, filter: dict[str, Any] | None = None, limit: int = 100, cursor: int | None = None
    ) -> tuple[list[Point], int | None]:
        """Page through live points (matching ``filter``) in write order.

        Returns ``(points, next_cursor)``; pass ``next_cursor`` back to get the next page;
        it is None after the last page.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2)
            ...     col.upsert([1, 2, 3], [[1, 0], [0, 1], [1, 1]])
            ...     page, cur = col.scroll(limit=2)
            ...     [p.id for p in page], [p.id for p in col.scroll(cursor=cur)[0]]
            ([1, 2], [3])
        """

    @abstractmethod
    def compact(self) -> dict[str, Any]:
        """Rewrite sealed segments whose deleted share reaches the lake's
        ``compaction_threshold`` and merge small segments; returns what was done.

        Writers wait while it runs; searches keep using the previous snapshot.
        """

    @abstractmethod
    def vacuum(self, keep_versions: int = 1) -> dict[str, int]:
        """Delete manifests but the newest ``keep_versions`` and the files only they used."""

    @abstractmethod
    def search_text(self, query: str, k: int = 10, filter: dict[str, Any] | None = None) -> list[Hit]:
        """The ``k`` best points for ``query`` by BM25 over their texts (matching ``filter``).

        ``hit.score`` is the BM25 score; ``hit.meta`` has ``plan="bm25"`` and ``text_rank``.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=2, text_field=True)
            ...     col.upsert([1, 2], [[1, 0], [0, 1]], texts=["grep searches text", "ls lists files"])
            ...     [h.id for h in col.search_text("list the files")]
            [2]
        """

    @abstractmethod
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
        """BM25 on ``text`` and vector search on ``vector`` (embedded from ``text`` by the
        collection's embedder when None), fused; ``filter`` applies to both sides.

        Args:
            fusion: ``"rrf"`` (reciprocal rank fusion, ``1 / (rrf_k + rank)`` summed) or
                ``"weighted"`` (min-max normalized scores, ``alpha * vector + (1 - alpha) * text``).
            candidates: how many results each side contributes (default ``max(50, k)``; deeper lists
                did not help on the man-page set and cost latency).

        Each hit's ``score`` is the fused score; ``hit.meta`` tells ``found_by``
        (``"both"``, ``"vector"``, ``"text"``), ``vector_rank``/``text_rank`` (1-based or
        None) and the raw ``vector_score``/``text_score``.
        """

    @abstractmethod
    def add_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[int | str] | None = None,
        payloads: Sequence[dict[str, Any]] | None = None,
    ) -> list[int | str]:
        """Embed ``texts`` with the collection's embedder and upsert them; return the ids
        (random UUID hex strings when ``ids`` is None).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     col = lake.collections.create("c", dim=64, text_field=True, embedder="hash")
            ...     col.add_texts(["hello world"], ids=["h"])
            ['h']
        """

    @abstractmethod
    def query(
        self, question: str, k: int = 10, mode: str = "hybrid", filter: dict[str, Any] | None = None, **options: Any
    ) -> list[Hit]:
        """Search by a question in words: ``mode="hybrid"`` (default), ``"vector"``
        (embedded by the collection's embedder) or ``"text"`` (BM25). ``options`` go to
        :meth:`hybrid_search` (``fusion``, ``rrf_k``, ``alpha``, ``candidates``).
        """
