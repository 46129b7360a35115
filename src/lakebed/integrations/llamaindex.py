"""LlamaIndex: a lakebed vector collection as a LlamaIndex vector store.

:class:`LakebedVectorStore` keeps LlamaIndex nodes in a lakebed collection of an embedded
lake (``lakebed.connect("./lake")``) or of a served one (``lakebed.connect("http://...")``):
the node id is the point id, the embedding its vector, the node's text the point's text
(indexed for BM25 when the collection has ``text_field=True``) and the payload holds the
node's metadata, ``ref_doc_id`` and the serialized node. Metadata filters become lakebed
payload filters (dicts built from the filter objects, never text pasted into a query).
Needs the ``llamaindex`` extra (``pip install 'lakebed[llamaindex]'``).

Example:
    >>> import lakebed
    >>> from llama_index.core.schema import TextNode
    >>> from llama_index.core.vector_stores.types import VectorStoreQuery
    >>> from lakebed.integrations.llamaindex import LakebedVectorStore
    >>> with lakebed.connect(":memory:") as lake:
    ...     store = LakebedVectorStore(lake, "notes")
    ...     store.add([TextNode(id_="a", text="grep searches", embedding=[1.0, 0.0]),
    ...                TextNode(id_="b", text="ls lists", embedding=[0.0, 1.0])])
    ...     res = store.query(VectorStoreQuery(query_embedding=[0.9, 0.1], similarity_top_k=1))
    ...     res.ids, res.nodes[0].get_content()
    ['a', 'b']
    (['a'], 'grep searches')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from lakebed._names import validate_name
from lakebed.errors import FilterError, InvalidArgument, raise_missing_extra

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryResult,
    )
else:
    try:
        from llama_index.core.vector_stores.types import BasePydanticVectorStore
    except ImportError:  # the class below still imports; using it raises MissingExtra

        class BasePydanticVectorStore:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                raise_missing_extra("llama_index.core", "llamaindex")

__all__ = ["LakebedVectorStore", "to_lakebed_filter"]

NODE_ID_FIELD = "_node_id"
"""The payload field holding the node id (lakebed filters reach payloads, not ids)."""

# filters that match every point and no point (a field exists or it does not)
_NOTHING: dict[str, Any] = {"$and": [{NODE_ID_FIELD: {"$exists": True}}, {NODE_ID_FIELD: {"$exists": False}}]}
_EVERYTHING: dict[str, Any] = {"$not": _NOTHING}

DistinctStrings = Callable[[str], list[str]]


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise FilterError(f"a metadata filter key must be a non-empty string, got {key!r}")
    if key.startswith("$"):
        raise FilterError(
            f"metadata filter key {key!r} starts with '$', which lakebed filters reserve for "
            "operators; rename the metadata field"
        )
    if any(not part for part in key.split(".")):
        raise FilterError(
            f"metadata filter key {key!r} has an empty part between dots; dots reach into "
            "nested metadata ('meta.year'), so write the path without empty parts"
        )
    return key


def _as_list(value: Any, op: str, key: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise FilterError(f"the {op} filter on {key!r} needs a list of values, got {value!r}")
    return list(value)


def _leaf(f: MetadataFilter, distinct_strings: DistinctStrings | None) -> dict[str, Any]:
    from llama_index.core.vector_stores.types import FilterOperator as Op

    key = _check_key(f.key)
    op, value = f.operator, f.value
    simple = {Op.EQ: "$eq", Op.NE: "$ne", Op.GT: "$gt", Op.GTE: "$gte", Op.LT: "$lt", Op.LTE: "$lte"}
    if op in simple:
        return {key: {simple[op]: value}}
    if op in (Op.IN, Op.ANY):  # ANY: a list field holding any of the values ($eq matches elements)
        return {key: {"$in": _as_list(value, op.value, key)}}
    if op == Op.NIN:
        return {key: {"$nin": _as_list(value, op.value, key)}}
    if op == Op.CONTAINS:  # a list field holding the value
        return {key: {"$eq": value}}
    if op == Op.ALL:
        values = _as_list(value, op.value, key)
        return {"$and": [{key: {"$eq": v}} for v in values]} if values else _EVERYTHING
    if op == Op.IS_EMPTY:
        return {"$or": [{key: {"$exists": False}}, {key: {"$eq": None}}, {key: {"$eq": ""}},
                        {key: {"$eq": []}}]}
    if op in (Op.TEXT_MATCH, Op.TEXT_MATCH_INSENSITIVE):
        if not isinstance(value, str):
            raise FilterError(f"the {op.value} filter on {key!r} needs a string, got {value!r}")
        if distinct_strings is None:
            raise FilterError(f"the {op.value} filter on {key!r} needs the collection to scan; "
                              "use LakebedVectorStore.query")
        if op == Op.TEXT_MATCH:
            found = [s for s in distinct_strings(key) if value in s]
        else:
            needle = value.lower()
            found = [s for s in distinct_strings(key) if needle in s.lower()]
        return {key: {"$in": found}} if found else _NOTHING
    raise FilterError(f"the metadata filter operator {op!r} on {key!r} is not supported by lakebed")


def to_lakebed_filter(
    filters: MetadataFilters | None, distinct_strings: DistinctStrings | None = None
) -> dict[str, Any] | None:
    """Translate LlamaIndex ``MetadataFilters`` (nested, with AND/OR/NOT) into a lakebed
    payload filter dict; None when there is nothing to filter.

    Each filter becomes ``{key: {"$op": value}}`` built as data, so keys and values are
    never parsed as filter syntax: a key starting with ``$`` is refused. Dotted keys reach
    into nested metadata (``"meta.year"``). ``NE``/``NIN`` match nodes without the key
    (as LlamaIndex's own store does). ``TEXT_MATCH`` (substring, ``_INSENSITIVE`` ignoring
    case) needs ``distinct_strings(key)``: the string values the key takes in the
    collection (the store scans it).

    Example:
        >>> from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
        >>> to_lakebed_filter(MetadataFilters(filters=[
        ...     MetadataFilter(key="year", value=2020, operator=">="),
        ...     MetadataFilters(filters=[MetadataFilter(key="lang", value="en"),
        ...                              MetadataFilter(key="lang", value=["de", "fr"], operator="in")],
        ...                     condition="or")]))
        {'$and': [{'year': {'$gte': 2020}}, {'$or': [{'lang': {'$eq': 'en'}}, {'lang': {'$in': ['de', 'fr']}}]}]}
    """
    if filters is None:
        return None
    out = _group(filters, distinct_strings)
    return None if out is _EVERYTHING else out


def _group(filters: MetadataFilters, distinct_strings: DistinctStrings | None) -> dict[str, Any]:
    from llama_index.core.vector_stores.types import FilterCondition
    from llama_index.core.vector_stores.types import MetadataFilters as Group

    parts = [
        _group(f, distinct_strings) if isinstance(f, Group) else _leaf(f, distinct_strings)
        for f in filters.filters
    ]
    cond = filters.condition or FilterCondition.AND
    if cond == FilterCondition.AND:
        parts = [p for p in parts if p is not _EVERYTHING]
        if not parts:
            return _EVERYTHING
        return parts[0] if len(parts) == 1 else {"$and": parts}
    if cond == FilterCondition.OR:
        if not parts:
            return _NOTHING
        if any(p is _EVERYTHING for p in parts):
            return _EVERYTHING
        return parts[0] if len(parts) == 1 else {"$or": parts}
    if cond == FilterCondition.NOT:  # none of the filters matches
        if not parts:
            return _EVERYTHING
        if any(p is _EVERYTHING for p in parts):
            return _NOTHING
        return {"$not": parts[0] if len(parts) == 1 else {"$or": parts}}
    raise FilterError(f"unknown filter condition {cond!r}; use and, or, not")


def _and(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    parts = [f for f in filters if f is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


class LakebedVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over the lakebed collection ``collection_name``.

    The collection is created on the first :meth:`add` (its dimension from the first
    embedding) unless it exists; ``metric``, ``index`` and ``text_field`` configure that
    creation (``text_field=True`` keeps a BM25 index of the node texts and enables the
    ``text_search`` and ``hybrid`` query modes). ``lake`` is an embedded or a served lake.

    Query modes: ``default`` (vector search), ``mmr`` (maximal marginal relevance over
    ``mmr_prefetch_factor * similarity_top_k`` candidates, ``mmr_threshold`` as in
    LlamaIndex), ``text_search`` (BM25) and ``hybrid`` (BM25 and vectors fused: reciprocal
    rank fusion, or weighted scores when the query sets ``alpha``, 1 = vectors only).
    Filters (:func:`to_lakebed_filter`), ``doc_ids`` and ``node_ids`` restrict every mode
    inside the search, so a filtered query still returns ``similarity_top_k`` nodes
    whenever that many match.

    Example:
        >>> import lakebed
        >>> from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
        >>> with lakebed.connect(":memory:") as lake:
        ...     store = LakebedVectorStore(lake, "docs", text_field=True)
        ...     node = TextNode(id_="n1", text="tar makes archives", embedding=[1.0, 0.0],
        ...                     metadata={"section": 1},
        ...                     relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="tar.1")})
        ...     store.add([node])
        ...     [n.metadata for n in store.get_nodes(node_ids=["n1"])]
        ...     store.delete("tar.1")
        ...     store.get_nodes(node_ids=["n1"])
        ['n1']
        [{'section': 1}]
        []
    """

    stores_text: bool = True
    flat_metadata: bool = False
    collection_name: str = "llamaindex"
    metric: str = "cosine"
    index: dict[str, Any] | None = None
    text_field: bool = False
    batch_size: int = 1000
    mmr_prefetch_factor: int = 4

    _lake: Any = None
    _collection: Any = None

    def __init__(
        self,
        lake: Any,
        collection_name: str = "llamaindex",
        *,
        metric: str = "cosine",
        index: dict[str, Any] | None = None,
        text_field: bool = False,
        batch_size: int = 1000,
        mmr_prefetch_factor: int = 4,
        flat_metadata: bool = False,
    ) -> None:
        validate_name("collection", collection_name, "collection_name")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be a positive integer, got {batch_size!r}")
        if (isinstance(mmr_prefetch_factor, bool) or not isinstance(mmr_prefetch_factor, int)
                or mmr_prefetch_factor < 1):
            raise InvalidArgument(f"mmr_prefetch_factor must be a positive integer, got {mmr_prefetch_factor!r}")
        fields: dict[str, Any] = {
            "collection_name": collection_name, "metric": metric, "index": index, "text_field": text_field,
            "batch_size": batch_size, "mmr_prefetch_factor": mmr_prefetch_factor, "flat_metadata": flat_metadata,
        }
        super().__init__(**fields)
        if not hasattr(lake, "collections"):
            raise InvalidArgument(
                f"lake must be a lake from lakebed.connect(...), got {type(lake).__name__}"
            )
        self._lake = lake
        self._collection = None
        if lake.collections.exists(collection_name):
            self._collection = lake.collections.open(collection_name)

    @classmethod
    def class_name(cls) -> str:
        return "LakebedVectorStore"

    @property
    def client(self) -> Any:
        """The lake."""
        return self._lake

    @property
    def collection(self) -> Any:
        """The lakebed collection (None until the first :meth:`add` creates it)."""
        return self._col()

    def _col(self, dim: int | None = None) -> Any:
        if self._collection is None:
            cols = self._lake.collections
            if cols.exists(self.collection_name):
                self._collection = cols.open(self.collection_name)
            elif dim is not None:
                self._collection = cols.create(
                    self.collection_name, dim=dim, metric=self.metric, index=self.index,
                    text_field=self.text_field,
                )
        return self._collection

    # -- writing --------------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Insert or replace nodes (by node id); returns their ids. Every node needs its
        embedding (``VectorStoreIndex`` computes them). Written in batches of
        ``batch_size``; each batch is validated before any of it is stored."""
        from llama_index.core.schema import MetadataMode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        if not nodes:
            return []
        latest: dict[str, BaseNode] = {}
        for node in nodes:
            if node.embedding is None:
                raise InvalidArgument(
                    f"node {node.node_id!r} has no embedding; embed the nodes first (VectorStoreIndex "
                    "does it with its embed_model) or set node.embedding"
                )
            latest[node.node_id] = node  # a node given twice: the last copy wins, as an upsert
        col = self._col(dim=len(next(iter(latest.values())).get_embedding()))
        items = list(latest.items())
        for start in range(0, len(items), self.batch_size):
            batch = items[start:start + self.batch_size]
            payloads = []
            for node_id, node in batch:
                try:
                    payload = node_to_metadata_dict(node, remove_text=True, flat_metadata=self.flat_metadata)
                except ValueError as exc:  # flat_metadata=True and a nested value
                    raise InvalidArgument(f"node {node_id!r}: {exc}") from None
                payload[NODE_ID_FIELD] = node_id
                payloads.append(payload)
            col.upsert(
                [node_id for node_id, _ in batch],
                [node.get_embedding() for _, node in batch],
                payloads=payloads,
                texts=[node.get_content(metadata_mode=MetadataMode.NONE) for _, node in batch],
            )
        return [node.node_id for node in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id``."""
        col = self._col()
        if col is not None:
            col.delete(filter={"ref_doc_id": {"$eq": ref_doc_id}})

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with these ids and/or matching these filters (both: the nodes
        that are in ``node_ids`` and match). Without either, nothing is deleted."""
        col = self._col()
        if col is None or (node_ids is None and filters is None):
            return
        if filters is None:
            col.delete(ids=list(node_ids or []))
            return
        flt = self._filter(filters, None, node_ids)
        col.delete(filter=flt if flt is not None else _EVERYTHING)

    def clear(self) -> None:
        """Delete every point of the collection (the collection itself stays)."""
        col = self._col()
        if col is not None:
            col.delete(filter=_EVERYTHING)

    # -- reading --------------------------------------------------------------------------
    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """The stored nodes with these ids (in that order, missing ids skipped) and/or
        matching these filters; all nodes when neither is given."""
        col = self._col()
        if col is None:
            return []
        if filters is None and node_ids is not None:
            return [self._node(p.id, p.payload, p.text) for p in col.get(list(node_ids))]
        flt = self._filter(filters, None, node_ids)
        return [self._node(p.id, p.payload, p.text) for p in self._scroll(col, flt)]

    @staticmethod
    def _scroll(col: Any, flt: dict[str, Any] | None) -> list[Any]:
        out: list[Any] = []
        cursor = None
        while True:
            page, cursor = col.scroll(filter=flt, limit=1000, cursor=cursor)
            out.extend(page)
            if cursor is None:
                return out

    def _distinct_strings(self, key: str) -> list[str]:
        col = self._col()
        if col is None:
            return []
        seen: set[str] = set()
        for p in self._scroll(col, {key: {"$exists": True}}):
            v: Any = p.payload
            for part in key.split("."):
                v = v.get(part) if isinstance(v, dict) else None
            if isinstance(v, str):
                seen.add(v)
        return sorted(seen)

    def _filter(self, filters: MetadataFilters | None, doc_ids: list[str] | None,
                node_ids: list[str] | None) -> dict[str, Any] | None:
        return _and(
            to_lakebed_filter(filters, self._distinct_strings),
            {"ref_doc_id": {"$in": list(doc_ids)}} if doc_ids is not None else None,
            {NODE_ID_FIELD: {"$in": list(node_ids)}} if node_ids is not None else None,
        )

    @staticmethod
    def _node(point_id: Any, payload: dict[str, Any], text: str | None) -> BaseNode:
        from llama_index.core.schema import TextNode
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        if "_node_content" in payload:
            return metadata_dict_to_node(payload, text=text if text is not None else "")
        # a point written by other means (e.g. lakebed.rag ingestion): its payload is the metadata
        return TextNode(id_=str(point_id), text=text or "", metadata=dict(payload))

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Search the collection: the ``similarity_top_k`` best nodes of ``query.mode``
        (``default``, ``mmr``, ``text_search`` or ``hybrid``) that pass the filters and
        are in ``doc_ids``/``node_ids`` when those are non-empty.
        ``kwargs`` (a retriever's ``vector_store_kwargs``) may set ``mmr_threshold``,
        ``mmr_prefetch_factor`` or ``mmr_prefetch_k`` for MMR."""
        from llama_index.core.vector_stores.types import VectorStoreQueryMode as Mode
        from llama_index.core.vector_stores.types import VectorStoreQueryResult

        mode = Mode(query.mode)
        supported = (Mode.DEFAULT, Mode.MMR, Mode.TEXT_SEARCH, Mode.HYBRID)
        if mode not in supported:
            raise InvalidArgument(
                f"query mode {mode.value!r} is not supported by LakebedVectorStore; use one of "
                f"{', '.join(m.value for m in supported)}"
            )
        k = int(query.hybrid_top_k or query.similarity_top_k) if mode == Mode.HYBRID else int(query.similarity_top_k)
        if mode in (Mode.DEFAULT, Mode.MMR) and query.query_embedding is None:
            raise InvalidArgument(f"the {mode.value} query mode needs query.query_embedding")
        if mode in (Mode.TEXT_SEARCH, Mode.HYBRID) and not query.query_str:
            raise InvalidArgument(f"the {mode.value} query mode needs query.query_str")
        col = self._col()
        if col is None or k <= 0:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        # empty id lists mean "no restriction": VectorStoreIndex passes node_ids=[] to a
        # store that keeps the text, whose node ids the index does not track
        flt = self._filter(query.filters, query.doc_ids or None, query.node_ids or None)
        if mode == Mode.DEFAULT:
            hits = col.search(query.query_embedding, k=k, filter=flt)
            scores = [float(h.score) for h in hits]
        elif mode == Mode.MMR:
            hits, scores = self._mmr(col, query, k, flt, kwargs)
        elif mode == Mode.TEXT_SEARCH:
            hits = col.search_text(query.query_str, k=k, filter=flt)
            scores = [float(h.score) for h in hits]
        else:
            fusion = "rrf" if query.alpha is None else "weighted"
            alpha = 0.5 if query.alpha is None else float(query.alpha)
            hits = col.hybrid_search(query.query_str, vector=query.query_embedding, k=k, filter=flt,
                                     fusion=fusion, alpha=alpha)
            scores = [float(h.score) for h in hits]
        return VectorStoreQueryResult(
            nodes=[self._node(h.id, h.payload, h.text) for h in hits],
            similarities=scores,
            ids=[str(h.id) for h in hits],
        )

    def _mmr(self, col: Any, query: VectorStoreQuery, k: int, flt: dict[str, Any] | None,
             kwargs: dict[str, Any]) -> tuple[list[Any], list[float]]:
        import numpy as np
        from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings

        factor = int(kwargs.get("mmr_prefetch_factor", self.mmr_prefetch_factor))
        prefetch = int(kwargs.get("mmr_prefetch_k", k * factor))
        if prefetch < 1:
            raise InvalidArgument(f"mmr_prefetch_k must be positive, got {prefetch}")
        hits = col.search(query.query_embedding, k=max(prefetch, k), filter=flt)
        if not hits:
            return [], []
        by_id = {h.id: h for h in hits}
        points = col.get([h.id for h in hits], include_vectors=True)
        ids = [p.id for p in points]
        vectors = [np.asarray(p.vector, dtype=np.float64).tolist() for p in points]
        scores, chosen = get_top_k_mmr_embeddings(
            list(query.query_embedding or []), vectors, similarity_top_k=k, embedding_ids=ids,
            mmr_threshold=query.mmr_threshold if query.mmr_threshold is not None else kwargs.get("mmr_threshold"),
        )
        return [by_id[i] for i in chosen], [float(s) for s in scores]


if BasePydanticVectorStore.__module__ == __name__:  # llama-index-core is missing
    __doc__ = LakebedVectorStore.__doc__ = to_lakebed_filter.__doc__ = (
        "Needs the llamaindex extra: pip install 'lakebed[llamaindex]'."
    )
