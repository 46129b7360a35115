"""LangChain ``VectorStore`` over a lakebed vector collection.

:class:`LakebedVectorStore` keeps LangChain documents in a collection of an embedded lake
(``lake.collections``) or of a served one (``lakebed.connect("http://...")``): the same
collection methods either way.

How a document is stored, one point per document:

- ``Document.id`` is the point id, as the same string (LangChain ids are strings; lakebed
  takes ``int`` or ``str`` ids and keeps ``"1"`` and ``1`` apart). Documents added without
  an id get a random UUID4 string.
- ``Document.page_content`` is the point's ``text`` (what ``lakebed.rag`` ingestion writes
  too; a collection created with ``text_field=True`` also indexes it for BM25).
- ``Document.metadata`` is the point's JSON payload, as it is: flat fields, so lakebed
  filters read them directly (``{"source": "man"}``) and no metadata key can collide
  with the text. Metadata must be a JSON object (str keys; str, int, finite float, bool,
  None, lists and dicts of these).

Filters (``filter=`` of every search, MMR and ``delete``) are lakebed payload filters over
the metadata: a dict (``{"source": "man"}`` is an equality condition; operators like
``{"year": {"$gte": 2010}}``, ``$in``, ``$or``... as in ``docs/vectors.md``) or the same
filter as JSON text (``'{"source": "man"}'``, as ``lakebed collections search --filter``
takes). Both are parsed and validated by lakebed's filter compiler before anything is
sent; nothing is ever built by pasting strings together. Values from untrusted input go
through :func:`equality_filter`, which compares them literally even when they look like
operators.

Scores: ``similarity_search_with_score`` returns lakebed's score (higher is better:
cosine similarity, inner product, or negative squared L2 distance);
``similarity_search_with_relevance_scores`` maps it to ``[0, 1]`` for the collection's
metric (see :meth:`LakebedVectorStore._select_relevance_score_fn`).

Example:
    >>> import lakebed, tempfile
    >>> from langchain_core.documents import Document
    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> with lakebed.connect(tempfile.mkdtemp() + "/lake") as lake:
    ...     store = LakebedVectorStore.from_documents(
    ...         [Document("lakebed stores vectors", metadata={"topic": "db"}, id="a"),
    ...          Document("the cat sat on the mat", metadata={"topic": "pets"}, id="b")],
    ...         DeterministicFakeEmbedding(size=16), lake=lake, collection_name="notes")
    ...     [d.id for d in store.similarity_search("the cat sat on the mat", k=1)]
    ...     [d.page_content for d in store.similarity_search("anything", filter={"topic": "db"})]
    ['b']
    ['lakebed stores vectors']
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from lakebed.errors import FilterError, InvalidArgument, raise_missing_extra
from lakebed.vectors import Hit, Point
from lakebed.vectors._filters import compile_filter

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore
except ImportError:  # pragma: no cover - exercised only without the extra
    raise_missing_extra("langchain_core", "langchain")

__all__ = ["CollectionLike", "LakebedVectorStore", "equality_filter", "maximal_marginal_relevance", "to_filter"]

DEFAULT_COLLECTION = "langchain"
METRICS = ("cosine", "l2", "dot")
_SEARCH_OPTIONS = ("ef", "nprobe", "exact")

FilterSpec = str | Mapping[str, Any] | None


class CollectionLike(Protocol):
    """What the store needs of a collection: :class:`lakebed.vectors.Collection` and the
    client's ``RemoteCollection`` both have it."""

    name: str

    def upsert(self, ids: Any, vectors: Any, payloads: Any = None, texts: Any = None) -> None: ...

    def delete(self, ids: Any = None, filter: dict[str, Any] | None = None) -> int: ...

    def get(self, ids: Any, include_vectors: bool = False) -> list[Point]: ...

    def search(self, vector: Any, k: int = 10, filter: dict[str, Any] | None = None, ef: int | None = None,
               nprobe: int | None = None, exact: bool = False) -> list[Hit]: ...


# -- filters ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A copy with plain dicts and lists (so later changes to the caller's objects do not
    change the filter, and it serializes for the server)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise FilterError(
                f"the filter string names {key!r} twice in one object; JSON would keep only the "
                "last one. Write each key once (combine conditions with $and)"
            )
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise FilterError(f"the filter string contains {name}, which is not JSON; use a finite number")


def to_filter(filter: FilterSpec) -> dict[str, Any] | None:
    """A validated lakebed filter dict from a dict or its JSON text; None for no filter.

    A dict is a lakebed payload filter (``{"field": value}`` is an equality condition;
    ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not`` as in ``docs/vectors.md``).
    A string is the same filter as JSON text, parsed strictly (no duplicate keys, no
    NaN/Infinity). Either is checked by lakebed's filter compiler; a malformed filter
    raises :class:`~lakebed.errors.FilterError`. ``None``, ``{}`` and ``""`` mean no filter.

    Example:
        >>> to_filter('{"source": "man", "year": {"$gte": 2010}}')
        {'source': 'man', 'year': {'$gte': 2010}}
        >>> to_filter({"tags": ("a", "b")})
        {'tags': ['a', 'b']}
        >>> to_filter('{"year": {"gte": 2010}}')
        Traceback (most recent call last):
        ...
        lakebed.errors.FilterError: the filter of field 'year' is {'gte': 2010}, ...
    """
    if filter is None:
        return None
    if isinstance(filter, str):
        text = filter.strip()
        if not text:
            return None
        try:
            parsed = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise FilterError(
                f"the filter string is not valid JSON ({exc.msg} at character {exc.pos}): {text[:200]!r}; "
                """write a lakebed filter as JSON, e.g. '{"source": "man"}', or pass a dict"""
            ) from None
        if not isinstance(parsed, dict):
            raise FilterError(
                f"the filter string must hold a JSON object like '{{\"source\": \"man\"}}', "
                f"got {type(parsed).__name__}: {text[:200]!r}"
            )
        flt = parsed
    elif isinstance(filter, Mapping):
        flt = _plain(filter)
    else:
        raise FilterError(
            f"a filter is a dict like {{'source': 'man'}} or its JSON text, got {type(filter).__name__}"
        )
    if not flt:
        return None
    compile_filter(flt)
    return flt  # type: ignore[no-any-return]


def equality_filter(conditions: Mapping[str, Any]) -> dict[str, Any]:
    """A lakebed filter matching metadata whose fields equal ``conditions`` literally.

    Every value is wrapped in ``$eq``, so a value that looks like an operator
    (``{"$ne": None}``, from untrusted input) is compared as data, never obeyed. Keys are
    field names (dotted paths reach into nested metadata) and may not start with ``$``.

    Example:
        >>> equality_filter({"user": "ann", "lang": "en"})
        {'user': {'$eq': 'ann'}, 'lang': {'$eq': 'en'}}
        >>> equality_filter({"user": {"$ne": None}})
        {'user': {'$eq': {'$ne': None}}}
    """
    if not isinstance(conditions, Mapping):
        raise FilterError(f"conditions must be a dict of field -> value, got {type(conditions).__name__}")
    out: dict[str, Any] = {}
    for key, value in conditions.items():
        if not isinstance(key, str) or not key or key.startswith("$"):
            raise FilterError(
                f"equality conditions take field names as keys, got {key!r}; "
                "operators belong in a lakebed filter dict, not here"
            )
        out[key] = {"$eq": _plain(value)}
    if out:
        compile_filter(out)
    return out


# -- MMR --------------------------------------------------------------------------------


def _unit_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = m / norms
    out[~np.isfinite(out)] = 0.0  # a zero vector is similar to nothing, as in LangChain
    return out


def maximal_marginal_relevance(query: Any, candidates: Any, k: int, lambda_mult: float = 0.5) -> list[int]:
    """Indices of ``k`` candidates chosen by maximal marginal relevance (cosine).

    The same rule as LangChain's ``maximal_marginal_relevance``: start with the candidate
    most similar to the query, then repeatedly take the one maximizing
    ``lambda_mult * sim(query, c) - (1 - lambda_mult) * max(sim(c, chosen))`` (the first
    on ties); computed with matrix products instead of a Python loop per candidate.

    Example:
        >>> cands = [[1, 0], [0.99, 0.1], [0, 1]]
        >>> maximal_marginal_relevance([1, 0], cands, k=2, lambda_mult=0.9)
        [0, 1]
        >>> maximal_marginal_relevance([1, 0], cands, k=2, lambda_mult=0.25)
        [0, 2]
    """
    cand = np.asarray(candidates, dtype=np.float64)
    if cand.ndim != 2 or min(k, len(cand)) <= 0:
        return []
    q = _unit_rows(np.asarray(query, dtype=np.float64).reshape(1, -1))[0]
    unit = _unit_rows(cand)
    to_query = unit @ q
    first = int(np.argmax(to_query))
    chosen = [first]
    redundancy = unit @ unit[first]
    taken = np.zeros(len(cand), dtype=bool)
    taken[first] = True
    while len(chosen) < min(k, len(cand)):
        score = lambda_mult * to_query - (1 - lambda_mult) * redundancy
        score[taken] = -np.inf
        nxt = int(np.argmax(score))
        chosen.append(nxt)
        taken[nxt] = True
        np.maximum(redundancy, unit @ unit[nxt], out=redundancy)
    return chosen


# -- relevance --------------------------------------------------------------------------


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _cosine_relevance(score: float) -> float:
    # LangChain's 1 - cosine distance, i.e. the cosine similarity, kept inside [0, 1]
    return _clamp(score)


def _dot_relevance(score: float) -> float:
    # the inner product of unit vectors is their cosine similarity
    return _clamp(score)


def _l2_relevance(score: float) -> float:
    # lakebed's l2 score is the negative squared distance; LangChain's Euclidean relevance
    # is 1 - distance / sqrt(2) (unit vectors are at most 2 apart), kept inside [0, 1]
    return _clamp(1.0 - math.sqrt(max(0.0, -score)) / math.sqrt(2.0))


_RELEVANCE: dict[str, Callable[[float], float]] = {
    "cosine": _cosine_relevance, "dot": _dot_relevance, "l2": _l2_relevance}


# -- the store --------------------------------------------------------------------------


def _check_metadata(i: int, metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidArgument(f"the metadata of document {i} must be a dict, got {type(metadata).__name__}")

    def bad(v: Any, path: str, depth: int) -> str | None:
        if depth > 64:
            return f"{path} is nested more than 64 levels deep"
        if v is None or isinstance(v, bool | str | int):
            return None
        if isinstance(v, float):
            return None if math.isfinite(v) else f"{path} is {v!r}, not a finite number"
        if isinstance(v, list | tuple):
            for j, x in enumerate(v):
                found = bad(x, f"{path}[{j}]", depth + 1)
                if found:
                    return found
            return None
        if isinstance(v, Mapping):
            for key, x in v.items():
                if not isinstance(key, str):
                    return f"{path} has the key {key!r} ({type(key).__name__}); keys must be str"
                found = bad(x, f"{path}.{key}" if path else key, depth + 1)
                if found:
                    return found
            return None
        return f"{path} is a {type(v).__name__} ({v!r:.80})"

    problem = bad(metadata, "", 0)
    if problem:
        raise InvalidArgument(
            f"the metadata of document {i} is not JSON: {problem}; store JSON values only "
            "(str, int, finite float, bool, None, lists and dicts), e.g. a datetime as its isoformat()"
        )
    return _plain(metadata)  # type: ignore[no-any-return]


def _check_search_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - set(_SEARCH_OPTIONS))
    if unknown:
        raise InvalidArgument(
            f"unknown search argument(s) {', '.join(unknown)}; a lakebed search takes k, filter, "
            f"{', '.join(_SEARCH_OPTIONS)}"
        )
    return kwargs


class _Batch:
    """Texts, payloads and ids of one add, checked (nothing is embedded or written yet)."""

    def __init__(self, texts: list[str], payloads: list[dict[str, Any]], ids: list[str]) -> None:
        self.texts = texts
        self.payloads = payloads
        self.ids = ids

    @classmethod
    def check(cls, texts: Iterable[str], metadatas: Sequence[Any] | None, ids: Sequence[Any] | None) -> _Batch:
        text_list = list(texts)
        n = len(text_list)
        # an empty list of metadatas or ids means none, as in LangChain's own stores
        if metadatas and len(metadatas) != n:
            raise InvalidArgument(f"got {n} texts but {len(metadatas)} metadatas; pass one per text")
        if ids and len(ids) != n:
            raise InvalidArgument(f"got {n} texts but {len(ids)} ids; pass one per text")
        for i, t in enumerate(text_list):
            if not isinstance(t, str):
                raise InvalidArgument(f"text {i} must be a str, got {type(t).__name__}")
        payloads = [_check_metadata(i, metadatas[i] if metadatas else None) for i in range(n)]
        out_ids: list[str] = []
        for i in range(n):
            given = ids[i] if ids else None
            if given is None:
                out_ids.append(str(uuid.uuid4()))
            elif isinstance(given, str) and given:
                out_ids.append(given)
            else:
                raise InvalidArgument(
                    f"document ids are non-empty strings (LangChain's id type), got {given!r} for "
                    f"document {i}; pass str(id), or None to get a new UUID"
                )
        return cls(text_list, payloads, out_ids)


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgument(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def _embed(embedding: Embeddings, texts: list[str], batch_size: int) -> np.ndarray:
    rows = [row for i in range(0, len(texts), batch_size)
            for row in embedding.embed_documents(texts[i:i + batch_size])]
    if len(rows) != len(texts):
        raise InvalidArgument(f"the embedding returned {len(rows)} vectors for {len(texts)} texts")
    try:
        arr = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"the embedding returned vectors of different lengths or types: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InvalidArgument(f"the embedding returned vectors of shape {arr.shape}; expected (n, dim)")
    if not np.isfinite(arr).all():
        raise InvalidArgument("the embedding returned NaN or infinite values; nothing was written")
    return arr


class LakebedVectorStore(VectorStore):
    """A LangChain vector store whose documents live in a lakebed collection.

    Args:
        collection: an open collection, embedded (``lake.collections.open(name)`` or
            ``.create(...)``) or served (the same calls on ``lakebed.connect("http://...")``).
        embedding: the LangChain ``Embeddings`` that turns texts and queries into vectors
            of the collection's dimension.
        metric: the collection's metric (``cosine``, ``l2``, ``dot``), read from the
            collection when it has a ``metric`` attribute; only relevance scores need it.
        relevance_score_fn: replaces the metric's mapping of scores to ``[0, 1]``.
        batch_size: documents embedded and written per request.

    Use :meth:`from_texts` / :meth:`from_documents` to create the collection when it is
    missing (its dimension is the embedding's), or :meth:`from_existing_collection`.

    Example:
        >>> import lakebed, tempfile
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> with lakebed.connect(tempfile.mkdtemp() + "/lake") as lake:
        ...     col = lake.collections.create("notes", dim=8, metric="cosine")
        ...     store = LakebedVectorStore(col, DeterministicFakeEmbedding(size=8))
        ...     store.add_texts(["red", "green"], [{"n": 1}, {"n": 2}], ids=["r", "g"])
        ...     [d.metadata for d in store.get_by_ids(["g", "missing"])]
        ...     store.delete(["r"])
        ...     [d.id for d in store.similarity_search("red", k=5)]
        ['r', 'g']
        [{'n': 2}]
        True
        ['g']
    """

    def __init__(
        self,
        collection: CollectionLike,
        embedding: Embeddings,
        *,
        metric: str | None = None,
        relevance_score_fn: Callable[[float], float] | None = None,
        batch_size: int = 512,
    ) -> None:
        for method in ("upsert", "delete", "get", "search"):
            if not callable(getattr(collection, method, None)):
                raise InvalidArgument(
                    f"collection must be a lakebed collection (lake.collections.open(name)), "
                    f"got {type(collection).__name__} without {method}()"
                )
        if metric is None:
            metric = getattr(collection, "metric", None)
        if metric is not None and metric not in METRICS:
            raise InvalidArgument(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
        self.collection = collection
        self.embedding = embedding
        self.metric = metric
        self.override_relevance_score_fn = relevance_score_fn
        self.batch_size = _check_batch_size(batch_size)
        dim = getattr(collection, "dim", None)
        self._dim: int | None = dim if isinstance(dim, int) else None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_existing_collection(
        cls, lake: Any, collection_name: str, embedding: Embeddings, **kwargs: Any
    ) -> LakebedVectorStore:
        """The store over the existing collection ``collection_name`` of ``lake`` (embedded
        or served); raises :class:`~lakebed.errors.NotFound` when it does not exist.

        Example:
            >>> import lakebed
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> with lakebed.connect("http://127.0.0.1:8765") as lake:  # doctest: +SKIP
            ...     store = LakebedVectorStore.from_existing_collection(
            ...         lake, "docs", DeterministicFakeEmbedding(size=384))
        """
        col = lake.collections.open(collection_name)
        info = lake.collections.info(collection_name)
        kwargs.setdefault("metric", info.get("metric"))
        store = cls(col, embedding, **kwargs)
        if store._dim is None and isinstance(info.get("dim"), int):
            store._dim = info["dim"]
        return store

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        lake: Any = None,
        collection_name: str = DEFAULT_COLLECTION,
        collection: CollectionLike | None = None,
        metric: str = "cosine",
        index: dict[str, Any] | None = None,
        text_field: bool = False,
        **kwargs: Any,
    ) -> LakebedVectorStore:
        """Embed ``texts`` and add them to a collection, creating it when missing.

        Args:
            lake: an embedded or served lake (``lakebed.connect(...)``); the collection
                ``collection_name`` is opened, or created with the embedding's dimension,
                ``metric``, ``index`` and ``text_field`` (see ``lake.collections.create``).
            collection: an open collection instead of ``lake`` and ``collection_name``.
            **kwargs: ``relevance_score_fn``, ``batch_size`` (see the class).

        Example:
            >>> import lakebed
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> with lakebed.connect(":memory:") as lake:
            ...     store = LakebedVectorStore.from_texts(
            ...         ["a", "b"], DeterministicFakeEmbedding(size=4), lake=lake, metric="l2")
            ...     lake.collections.info("langchain")["dim"], store.metric
            (4, 'l2')
        """
        unknown = sorted(set(kwargs) - {"relevance_score_fn", "batch_size"})
        if unknown:
            raise InvalidArgument(f"unknown argument(s) {', '.join(unknown)} for LakebedVectorStore.from_texts")
        if (lake is None) == (collection is None):
            raise InvalidArgument(
                "pass lake= (the collection is opened or created by collection_name) "
                "or collection= (an open collection), exactly one"
            )
        batch = _Batch.check(texts, metadatas, ids)
        if collection is not None:
            store = cls(collection, embedding, **kwargs)
        elif lake.collections.exists(collection_name):
            store = cls.from_existing_collection(lake, collection_name, embedding, **kwargs)
        else:
            if metric not in METRICS:
                raise InvalidArgument(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
            # the dimension is the embedding's: of the texts, or of a probe query when there are none
            size = _check_batch_size(kwargs.get("batch_size", 512))
            vectors = (_embed(embedding, batch.texts, size) if batch.texts
                       else np.asarray([embedding.embed_query("dimension")], dtype=np.float32))
            col = lake.collections.create(collection_name, dim=int(vectors.shape[1]), metric=metric, index=index,
                                          text_field=text_field)
            store = cls(col, embedding, metric=metric, **kwargs)
            if batch.texts:
                store._write(batch, vectors)
            return store
        if batch.texts:
            store._write(batch, _embed(embedding, batch.texts, store.batch_size))
        return store

    # -- writes ---------------------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model of the store."""
        return self.embedding

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and upsert ``texts``; returns their ids (given, or new UUID4 strings).

        An id given again replaces the stored document (the last of a batch wins). Every
        text, metadata and id is checked, and every text embedded, before the first write.
        ``batch_size=`` overrides the store's for this call (LangChain's ``index()`` passes it).
        """
        size = _check_batch_size(kwargs.pop("batch_size", self.batch_size))
        if kwargs:
            raise InvalidArgument(f"unknown argument(s) {', '.join(sorted(kwargs))} for add_texts")
        batch = _Batch.check(texts, metadatas, ids)
        if batch.texts:
            self._write(batch, _embed(self.embedding, batch.texts, size), size)
        return batch.ids

    def _write(self, batch: _Batch, vectors: np.ndarray, batch_size: int | None = None) -> None:
        if self._dim is not None and vectors.shape[1] != self._dim:
            raise InvalidArgument(
                f"the embedding makes {vectors.shape[1]}-d vectors but collection "
                f"{self.collection.name!r} holds {self._dim}-d ones; use the embedding the collection was made with"
            )
        if self.metric == "cosine" and not np.linalg.norm(vectors, axis=1).all():
            bad = int(np.flatnonzero(np.linalg.norm(vectors, axis=1) == 0)[0])
            raise InvalidArgument(f"the embedding of text {bad} is all zeros, which has no cosine similarity")
        last = {doc_id: i for i, doc_id in enumerate(batch.ids)}  # the last of duplicate ids wins
        keep = sorted(last.values())
        size = batch_size or self.batch_size
        for start in range(0, len(keep), size):
            rows = keep[start:start + size]
            self.collection.upsert([batch.ids[i] for i in rows], vectors[rows],
                                   payloads=[batch.payloads[i] for i in rows],
                                   texts=[batch.texts[i] for i in rows])

    def delete(self, ids: list[str] | None = None, filter: FilterSpec = None, **kwargs: Any) -> bool:
        """Delete documents by id (missing ids are ignored) or by metadata filter.

        Example:
            >>> import lakebed
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> with lakebed.connect(":memory:") as lake:
            ...     store = LakebedVectorStore.from_texts(["a", "b", "c"], DeterministicFakeEmbedding(size=4),
            ...                                           [{"n": 1}, {"n": 2}, {"n": 3}], lake=lake)
            ...     store.delete(filter={"n": {"$gte": 2}})
            ...     [d.page_content for d in store.similarity_search("a", k=3)]
            True
            ['a']
        """
        if kwargs:
            raise InvalidArgument(f"unknown argument(s) {', '.join(sorted(kwargs))} for delete")
        flt = to_filter(filter)
        if ids is not None and flt is not None:
            raise InvalidArgument("pass ids= or filter= to delete, not both")
        if ids is not None:
            id_list = list(ids)
            for i in id_list:
                if not isinstance(i, str) or not i:
                    raise InvalidArgument(f"document ids are non-empty strings, got {i!r}")
            if id_list:
                self.collection.delete(ids=id_list)
            return True
        if flt is None:
            raise InvalidArgument(
                "delete needs ids= or a non-empty filter=; to remove every document, drop the "
                "collection (lake.collections.drop(name))"
            )
        self.collection.delete(filter=flt)
        return True

    # -- reads ----------------------------------------------------------------------------

    @staticmethod
    def _document(point: Hit | Point) -> Document:
        return Document(page_content=point.text or "", metadata=point.payload, id=str(point.id))

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents of ``ids`` in the order given; missing and repeated ids
        are skipped."""
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))
        if not wanted:
            return []
        return [self._document(p) for p in self.collection.get(wanted)]

    def _search(self, vector: Any, k: int, filter: FilterSpec, options: dict[str, Any]) -> list[Hit]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidArgument(f"k must be a positive integer, got {k!r}")
        return self.collection.search(vector, k=k, filter=to_filter(filter), **_check_search_options(options))

    def _query_vector(self, query: str, filter: FilterSpec) -> list[float]:
        to_filter(filter)  # a bad filter fails before the embedding is paid for
        return self.embedding.embed_query(query)

    def similarity_search(self, query: str, k: int = 4, filter: FilterSpec = None,
                          **kwargs: Any) -> list[Document]:
        """The ``k`` documents most similar to ``query`` (matching ``filter``), best first.
        ``ef``, ``nprobe`` and ``exact`` go to the collection's search."""
        return self.similarity_search_by_vector(self._query_vector(query, filter), k, filter, **kwargs)

    def similarity_search_with_score(self, query: str, k: int = 4, filter: FilterSpec = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """As :meth:`similarity_search`, with lakebed's score of each document (higher is
        better: cosine similarity, inner product or negative squared L2 distance)."""
        return self.similarity_search_with_score_by_vector(self._query_vector(query, filter), k, filter, **kwargs)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: FilterSpec = None,
                                    **kwargs: Any) -> list[Document]:
        """The ``k`` documents nearest to the vector ``embedding``, best first."""
        return [self._document(h) for h in self._search(embedding, k, filter, kwargs)]

    def similarity_search_with_score_by_vector(self, embedding: list[float], k: int = 4,
                                               filter: FilterSpec = None,
                                               **kwargs: Any) -> list[tuple[Document, float]]:
        """As :meth:`similarity_search_by_vector`, with lakebed's scores."""
        return [(self._document(h), float(h.score)) for h in self._search(embedding, k, filter, kwargs)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Maps lakebed's score to LangChain's relevance in ``[0, 1]`` (1 is most similar):
        ``cosine``: the cosine similarity (LangChain's ``1 - cosine distance``); ``dot``:
        the inner product (the cosine similarity of unit vectors); ``l2``: LangChain's
        ``1 - distance / sqrt(2)`` of the Euclidean distance. Each is clamped to
        ``[0, 1]``; ``relevance_score_fn=`` replaces it."""
        if self.override_relevance_score_fn is not None:
            return self.override_relevance_score_fn
        if self.metric is None:
            raise InvalidArgument(
                "relevance scores depend on the collection's metric, which this collection object "
                "does not tell: pass metric='cosine' (or 'l2', 'dot') to LakebedVectorStore"
            )
        return _RELEVANCE[self.metric]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: FilterSpec = None, **kwargs: Any) -> list[Document]:
        """``k`` documents chosen by maximal marginal relevance among the ``fetch_k`` most
        similar to ``query`` (matching ``filter``), using their stored vectors."""
        return self.max_marginal_relevance_search_by_vector(
            self._query_vector(query, filter), k, fetch_k, lambda_mult, filter, **kwargs)

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: FilterSpec = None,
                                                **kwargs: Any) -> list[Document]:
        """As :meth:`max_marginal_relevance_search`, from a query vector.

        Example:
            >>> import lakebed
            >>> from langchain_core.embeddings import DeterministicFakeEmbedding
            >>> emb = DeterministicFakeEmbedding(size=8)
            >>> with lakebed.connect(":memory:") as lake:
            ...     store = LakebedVectorStore.from_texts(["x", "x", "y"], emb, lake=lake, ids=["1", "2", "3"])
            ...     query = emb.embed_query("x")
            ...     [d.id for d in store.similarity_search_by_vector(query, k=2)]
            ...     [d.id for d in store.max_marginal_relevance_search_by_vector(query, k=2, lambda_mult=0.25)]
            ['1', '2']
            ['1', '3']
        """
        if isinstance(fetch_k, bool) or not isinstance(fetch_k, int) or fetch_k < 1:
            raise InvalidArgument(f"fetch_k must be a positive integer, got {fetch_k!r}")
        if isinstance(lambda_mult, bool) or not isinstance(lambda_mult, int | float) or not 0 <= lambda_mult <= 1:
            raise InvalidArgument(f"lambda_mult must be a number in [0, 1], got {lambda_mult!r}")
        hits = self._search(embedding, max(k, fetch_k), filter, kwargs)
        if not hits:
            return []
        stored = {p.id: p for p in self.collection.get([h.id for h in hits], include_vectors=True)}
        points = [stored[h.id] for h in hits if h.id in stored and stored[h.id].vector is not None]
        if not points:  # deleted between the search and the read
            return []
        chosen = maximal_marginal_relevance(embedding, np.stack([np.asarray(p.vector) for p in points]), k,
                                            float(lambda_mult))
        return [self._document(points[i]) for i in chosen]
