"""Read operations of a collection (search, get, count, scroll, explain) over snapshots."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import faiss as _faiss
import numpy as np
from pyroaring import BitMap

from lakebed.api._vectors import CollectionAPI
from lakebed.errors import InvalidArgument
from lakebed.vectors._filters import Node, canonical, check_kinds, compile_filter, evaluate
from lakebed.vectors._hit import Hit, Point
from lakebed.vectors._search import (
    RERANK_FACTOR,
    SearchConfig,
    filtered_params,
    plan_for,
    rerank_one,
    search_view,
    subset_ivf_index,
    topk,
)
from lakebed.vectors._segment import FilterResult, SegmentData, SegmentView
from lakebed.vectors._validate import check_ids, check_k, check_query, fast_query

faiss: Any = _faiss  # the bundled stubs are partial
swig_ptr = faiss.swig_ptr


class Snapshot:
    """An immutable read view: one manifest version plus the unsealed rows of a moment."""

    __slots__ = ("fast", "live", "version", "views")

    def __init__(self, version: int, views: tuple[SegmentView, ...]) -> None:
        self.version = version
        self.views = views
        # live points: no search returns more, so k is clamped to it (k=10**9 on a small
        # collection must not allocate k-sized result arrays)
        self.live = max(1, sum(v.live for v in views))
        # the common case: one indexed segment without deletions is searched by one faiss call
        only = views[0] if len(views) == 1 else None
        self.fast = only if only is not None and only.data.index is not None and not only.deleted else None


class ReadOps(CollectionAPI):
    """Mixin with the read API; the Collection provides the state attributes."""

    dim: int
    metric: str
    name: str
    _snap: Snapshot
    _cfg: SearchConfig
    _kinds: dict[str, str]
    _fast_ok: bool

    def _hnsw_params(self, ef: Any, k: int) -> Any:
        """Cached SearchParametersHNSW for an ``ef`` (read-only, so shared by threads)."""
        if ef == self._cfg.ef_search and ef >= k:
            return None  # the index's own setting
        cache: dict[int, Any] = self.__dict__.setdefault("_ef_params", {})
        p = cache.get(ef)
        if p is None:
            if isinstance(ef, bool) or not isinstance(ef, int) or ef < 1:
                raise InvalidArgument(f"ef must be a positive integer, got {ef!r}")
            p = faiss.SearchParametersHNSW()
            p.efSearch = max(ef, k)
            if len(cache) < 64 and ef >= k:
                cache[ef] = p
        return p

    # -- filters ----------------------------------------------------------------------------
    def _compile(self, flt: Any) -> tuple[str, Node]:
        # the repr of a JSON-like dict spells every key, value and type, so equal reprs are
        # equal filters: a cheap first-level cache in front of the canonical JSON key
        rcache: dict[str, tuple[str, Node, dict[str, str]]] = self.__dict__.setdefault("_frepr", {})
        r = repr(flt)
        got = rcache.get(r)
        if got is not None and got[2] is self._kinds:
            return got[0], got[1]
        key, node = self._compile_slow(flt)
        if len(rcache) >= 256:
            rcache.clear()
        rcache[r] = (key, node, self._kinds)
        return key, node

    def _compile_slow(self, flt: Any) -> tuple[str, Node]:
        key = canonical(flt)
        cache: OrderedDict[str, tuple[Node, dict[str, str]]] = self.__dict__.setdefault("_fcompiled", OrderedDict())
        hit = cache.get(key)
        if hit is not None and hit[1] is self._kinds:
            return key, hit[0]
        node = compile_filter(flt)
        check_kinds(node, self._kinds)
        cache[key] = (node, self._kinds)
        if len(cache) > 256:
            cache.popitem(last=False)
        return key, node

    def _filtered(self, view: SegmentView, key: str, node: Node) -> FilterResult:
        def compute(data: SegmentData) -> np.ndarray:
            return evaluate(node, data.column, data.n)

        return view.filtered(key, compute)

    def _filter_keys(self, filter: Any, snap: Snapshot | None = None) -> BitMap | None:
        """Row keys of the live points matching ``filter`` (None when filter is None)."""
        if filter is None:
            return None
        snap = snap or self._snap
        key, node = self._compile(filter)
        out = BitMap()
        for view in snap.views:
            fres = self._filtered(view, key, node)
            if fres.count:
                out.update(view.data.keys[fres.positions].tolist())
        return out

    # -- search -----------------------------------------------------------------------------
    def search(
        self,
        vector: Any,
        k: int = 10,
        filter: dict[str, Any] | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        exact: bool = False,
    ) -> list[Hit]:
        if k.__class__ is not int or k < 1:
            k = check_k(k)
        q = fast_query(vector, self.dim, self.metric)
        snap = self._snap
        if k > snap.live:
            k = snap.live
        fast = snap.fast
        if fast is not None and filter is None and not exact and nprobe is None and self._fast_ok:
            # the common case: one faiss call and the hits, nothing else
            data = fast.data
            kk = min(k, data.n)
            d = np.empty((1, kk), np.float32)
            i = np.empty((1, kk), np.int64)
            params = None if ef is None else self._hnsw_params(ef, kk)
            data.index.search_c(1, swig_ptr(q), kk, swig_ptr(d), swig_ptr(i), params)
            if i[0, kk - 1] < 0:  # the graph found fewer than k (k near ef or the segment size)
                return self._search(snap, q.reshape(1, -1), k, None, ef, None, False)[0][0]
            ids, texts = data.ids, data.texts
            meta = {"plan": "index"}
            if self.metric == "l2":
                d = -d
            return [
                Hit(ids[p], s, None, texts[p] if texts else None, None, meta, data, p)
                for s, p in zip(d[0].tolist(), i[0].tolist(), strict=True)
                if p >= 0
            ]
        if fast is not None and filter is None and not exact and not self._fast_ok:
            # quantized or PQ index: one faiss call for oversampled candidates, re-ranked
            # with the full-precision (memory-mapped) vectors
            data = fast.data
            refined = data.refined
            if refined is not None:
                # the quantized index and the exact re-ranking in one faiss call
                kk = min(k, data.n)
                rp, _base = self._refine_params(data.index, ef, nprobe, kk)
                d = np.empty((1, kk), np.float32)
                i = np.empty((1, kk), np.int64)
                refined.search_c(1, swig_ptr(q), kk, swig_ptr(d), swig_ptr(i), rp)
                if i[0, kk - 1] < 0:  # fewer than k candidates: the general path
                    return self._search(snap, q.reshape(1, -1), k, None, ef, nprobe, False)[0][0]
                if self.metric == "l2":
                    d = -d
                ids, texts = data.ids, data.texts
                meta = {"plan": "index"}
                return [
                    Hit(ids[p], s, None, texts[p] if texts else None, None, meta, data, p)
                    for s, p in zip(d[0].tolist(), i[0].tolist(), strict=True)
                ]
            kq = min(k * self._rerank_factor, data.n)
            params = self._rerank_params(data.index, ef, nprobe, kq)
            d = np.empty((1, kq), np.float32)
            i = np.empty((1, kq), np.int64)
            data.index.search_c(1, swig_ptr(q), kq, swig_ptr(d), swig_ptr(i), params)
            if i[0, min(k, data.n) - 1] < 0:  # fewer than k candidates: the general path
                return self._search(snap, q.reshape(1, -1), k, None, ef, nprobe, False)[0][0]
            scores, pos = rerank_one(data, q, i[0], k, self.metric)
            ids, texts = data.ids, data.texts
            meta = {"plan": "index"}
            return [
                Hit(ids[p], s, None, texts[p] if texts else None, None, meta, data, p)
                for s, p in zip(scores.tolist(), pos.tolist(), strict=True)
            ]
        if len(snap.views) == 1 and filter is not None and not exact:
            return self._search_one_filtered(snap.views[0], q.reshape(1, -1), k, filter, ef, nprobe)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        return self._search(snap, q, k, filter, ef, nprobe, exact)[0][0]

    def _search_one_filtered(
        self, view: SegmentView, q: np.ndarray, k: int, filter: Any, ef: Any, nprobe: Any
    ) -> list[Hit]:
        """A filtered search of a single-segment collection without the merge and the
        per-segment bookkeeping of the general path (same planner and kernels)."""
        for name, val in (("ef", ef), ("nprobe", nprobe)):
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
                raise InvalidArgument(f"{name} must be a positive integer, got {val!r}")
        fkey, node = self._compile(filter)
        fres = self._filtered(view, fkey, node)
        plan = plan_for(view, fres, k, False)
        if plan == "skip":
            return []
        data = view.data
        ids, texts = data.ids, data.texts
        if plan == "index_filtered" and (self._fast_ok or data.refined is not None):
            # the index with the filter's selector (and, for a quantized or PQ index, the
            # exact re-ranking): one faiss call, hits straight from its output
            cfg = self._cfg
            kk = min(k, view.n)
            if self._fast_ok:
                params = filtered_params(view, fres, max(ef or cfg.ef_search, kk), nprobe or cfg.nprobe)
                index = data.index
            else:
                params = self._refine_filtered_params(view, fres, ef, nprobe, k)
                index = data.refined
            d = np.empty((1, kk), np.float32)
            i = np.empty((1, kk), np.int64)
            index.search_c(1, swig_ptr(q), kk, swig_ptr(d), swig_ptr(i), params)
            if self.metric == "l2":
                d = -d
            plist = i[0].tolist()
            want = min(k, fres.count)
            if want <= kk and plist[want - 1] >= 0:  # faiss fills results best first, -1 after
                meta = {"plan": plan}
                return [
                    Hit(ids[p], sc, None, texts[p] if texts else None, None, meta, data, p)
                    for sc, p in zip(d[0].tolist(), plist, strict=True)
                    if p >= 0
                ]
            # fewer than k matching rows reached: the general path falls back to exact search
        elif plan == "subset_ivf":
            # the filter's own small IVF: one faiss call, positions mapped back to the segment
            ivf = subset_ivf_index(view, fres, self.metric)
            kk = min(k, fres.count)
            d = np.empty((1, kk), np.float32)
            i = np.empty((1, kk), np.int64)
            ivf.search_c(1, swig_ptr(q), kk, swig_ptr(d), swig_ptr(i), None)
            if i[0, kk - 1] >= 0:
                if self.metric == "l2":
                    d = -d
                meta = {"plan": plan}
                return [
                    Hit(ids[p], sc, None, texts[p] if texts else None, None, meta, data, p)
                    for sc, p in zip(d[0].tolist(), fres.positions[i[0]].tolist(), strict=True)
                ]
            # the probed lists held fewer than k rows: the general path falls back to exact
        scores, pos, used = search_view(view, q, k, fres, self._cfg, ef, nprobe, plan)
        meta = {"plan": used}
        return [
            Hit(ids[p], sc, None, texts[p] if texts else None, None, meta, data, p)
            for sc, p in zip(scores[0].tolist(), pos[0].tolist(), strict=True)
            if p >= 0
        ]

    @property
    def _rerank_factor(self) -> int:
        cfg = self._cfg
        return RERANK_FACTOR["pq" if cfg.index_type == "ivf_pq" else str(cfg.quantization)]

    def _rerank_params(self, index: Any, ef: Any, nprobe: Any, kq: int) -> Any:
        """Cached search parameters of the re-ranked fast path (read-only, shared)."""
        cache: dict[tuple[Any, Any, int], Any] = self.__dict__.setdefault("_rr_params", {})
        key = (ef, nprobe, kq)
        p = cache.get(key)
        if p is not None and key[1] is not None and p.nprobe > index.nlist:
            p = None  # another segment with fewer lists
        if p is None:
            for name, val in (("ef", ef), ("nprobe", nprobe)):
                if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
                    raise InvalidArgument(f"{name} must be a positive integer, got {val!r}")
            cfg = self._cfg
            if cfg.index_type == "ivf_pq":
                p = faiss.SearchParametersIVF()
                p.nprobe = min(nprobe or cfg.nprobe, int(index.nlist))
            elif cfg.index_type == "hnsw":
                p = faiss.SearchParametersHNSW()
                p.efSearch = max(ef or cfg.ef_search, kq)
            if len(cache) < 64:
                cache[key] = p
        return p

    def _refine_params(self, index: Any, ef: Any, nprobe: Any, k: int) -> tuple[Any, Any]:
        """Cached IndexRefine parameters: the oversampling factor and the base index's
        breadth (as :meth:`_rerank_params` gives it for ``k * factor`` candidates), as the
        pair ``(params, base_params)``: hold both while searching (the first points into
        the second)."""
        cache: dict[tuple[Any, Any, int], tuple[Any, Any]] = self.__dict__.setdefault("_rf_params", {})
        key = (ef, nprobe, k)
        got = cache.get(key)
        if got is None or (nprobe is not None and getattr(got[1], "nprobe", 0) > getattr(index, "nlist", 0)):
            base = self._rerank_params(index, ef, nprobe, k * self._rerank_factor)
            p = faiss.IndexRefineSearchParameters()
            p.k_factor = float(self._rerank_factor)
            p.base_index_params = base
            got = (p, base)  # the pair keeps the base parameters alive with the wrapper's
            if len(cache) < 64:
                cache[key] = got
        return got

    def _refine_filtered_params(self, view: SegmentView, fres: FilterResult, ef: Any, nprobe: Any, k: int) -> Any:
        """IndexRefine parameters with the filter's selector in the base index's parameters,
        cached on the filter result next to those (read-only once made)."""
        cfg = self._cfg
        factor = self._rerank_factor
        ef_b, np_b = max(ef or cfg.ef_search, k * factor), nprobe or cfg.nprobe
        key = ("refine", ef_b, np_b)
        params = fres.params.get(key)
        if params is None:
            params = faiss.IndexRefineSearchParameters()
            params.k_factor = float(factor)
            # (the selector's parameters stay referenced by fres.params and by the wrapper)
            params._lakebed_base = filtered_params(view, fres, ef_b, np_b)
            params.base_index_params = params._lakebed_base
            if len(fres.params) < 16:
                fres.params[key] = params
        return params

    def search_batch(
        self,
        vectors: Any,
        k: int = 10,
        filter: dict[str, Any] | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        exact: bool = False,
    ) -> list[list[Hit]]:
        k = check_k(k)
        q = check_query(vectors, self.dim, self.metric, batch=True)
        if len(q) == 0:
            return []
        snap = self._snap
        k = min(k, snap.live)
        fast = snap.fast
        if fast is not None and filter is None and not exact and nprobe is None and self._fast_ok:
            # one indexed segment, no filter: one faiss call for all queries, hits from its output
            data = fast.data
            kk = min(k, data.n)
            nq = len(q)
            d = np.empty((nq, kk), np.float32)
            i = np.empty((nq, kk), np.int64)
            params = None if ef is None else self._hnsw_params(ef, kk)
            data.index.search_c(nq, swig_ptr(q), kk, swig_ptr(d), swig_ptr(i), params)
            if (i[:, kk - 1] < 0).any():  # the graph found fewer than k for some query
                return self._search(snap, q, k, None, ef, None, False)[0]
            if self.metric == "l2":
                d = -d
            ids, texts = data.ids, data.texts
            meta = {"plan": "index"}
            return [
                [Hit(ids[p], s, None, texts[p] if texts else None, None, meta, data, p)
                 for s, p in zip(drow, irow, strict=True) if p >= 0]
                for drow, irow in zip(d.tolist(), i.tolist(), strict=True)
            ]
        return self._search(snap, q, k, filter, ef, nprobe, exact)[0]

    def explain(
        self,
        vector: Any,
        k: int = 10,
        filter: dict[str, Any] | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        exact: bool = False,
    ) -> dict[str, Any]:
        k = check_k(k)
        q = check_query(vector, self.dim, self.metric, batch=False)
        snap = self._snap
        return self._search(snap, q, min(k, snap.live), filter, ef, nprobe, exact)[1]

    def _search(
        self,
        snap: Snapshot,
        q: np.ndarray,
        k: int,
        filter: Any,
        ef: int | None,
        nprobe: int | None,
        exact: bool,
    ) -> tuple[list[list[Hit]], dict[str, Any]]:
        for name, val in (("ef", ef), ("nprobe", nprobe)):
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
                raise InvalidArgument(f"{name} must be a positive integer, got {val!r}")
        node = None
        if filter is not None:
            fkey, node = self._compile(filter)
        parts: list[tuple[np.ndarray, np.ndarray, SegmentView]] = []
        plans: list[dict[str, Any]] = []
        matches = 0
        for view in snap.views:
            fres = self._filtered(view, fkey, node) if node is not None else None
            plan = plan_for(view, fres, k, exact)
            count = fres.count if fres is not None else view.live
            matches += count
            info = {"segment": view.data.seg_id, "rows": view.live, "matching": count, "plan": plan,
                    "indexed": view.data.index is not None}
            plans.append(info)
            if plan == "skip":
                continue
            s, p, used = search_view(view, q, k, fres, self._cfg, ef, nprobe, plan)
            info["plan"] = used
            parts.append((s, p, view))
        used_plans = sorted({p["plan"] for p in plans if p["plan"] != "skip"})
        meta = {
            "plan": "+".join(used_plans) if used_plans else "empty",
            "segments": plans,
            "matching": matches,
            "version": snap.version,
        }
        nq = len(q)
        if not parts:
            return [[] for _ in range(nq)], meta
        if len(parts) == 1:
            scores, pos = parts[0][0], parts[0][1]
            which = np.zeros_like(pos)
        else:
            scores = np.hstack([p[0] for p in parts])
            pos = np.hstack([p[1] for p in parts])
            which = np.hstack([np.full(p[1].shape, j) for j, p in enumerate(parts)])
            vals, idx = topk(scores, k)
            scores = vals
            pos = np.take_along_axis(pos, idx, axis=1)
            which = np.take_along_axis(which, idx, axis=1)
        out: list[list[Hit]] = []
        hit_meta = {"plan": meta["plan"]}
        for qi in range(nq):
            row: list[Hit] = []
            for s, p, w in zip(scores[qi].tolist(), pos[qi].tolist(), which[qi].tolist(), strict=True):
                if p < 0 or s == -np.inf:
                    break
                data = parts[w][2].data
                texts = data.texts
                row.append(Hit(data.ids[p], s, None, texts[p] if texts else None, None, hit_meta, data, p))
            out.append(row)
        return out, meta

    # -- points -----------------------------------------------------------------------------
    def _locate(self, snap: Snapshot, key: int) -> tuple[SegmentView, int] | None:
        for view in snap.views:
            data = view.data
            if data.min_key <= key <= data.max_key:
                p = int(np.searchsorted(data.keys[: view.n], key))
                if p < view.n and int(data.keys[p]) == key and p not in view.deleted:
                    return view, p
        return None

    def _point(self, view: SegmentView, p: int, include_vectors: bool) -> Point:
        data = view.data
        vec = np.array(data.vectors[p], dtype=np.float32) if include_vectors else None
        return Point(data.ids[p], data.payload(p), data.texts[p] if data.texts else None, vec)

    def get(self, ids: Any, include_vectors: bool = False) -> list[Point]:
        id_list = check_ids(ids, unique=False)
        snap = self._snap
        id_map: dict[Any, int] = self._id_map  # type: ignore[attr-defined]
        out = []
        for i in id_list:
            key = id_map.get(i)
            if key is None:
                continue
            loc = self._locate(snap, key)
            if loc is not None:
                out.append(self._point(loc[0], loc[1], include_vectors))
        return out

    def count(self, filter: dict[str, Any] | None = None) -> int:
        snap = self._snap
        if filter is None:
            return sum(v.live for v in snap.views)
        key, node = self._compile(filter)
        return sum(self._filtered(v, key, node).count for v in snap.views)

    def scroll(
        self, filter: dict[str, Any] | None = None, limit: int = 100, cursor: int | None = None
    ) -> tuple[list[Point], int | None]:
        limit = check_k(limit)
        if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, int)):
            raise InvalidArgument(f"cursor must be the int returned by a previous scroll, got {cursor!r}")
        snap = self._snap
        fkey, node = self._compile(filter) if filter is not None else ("", None)
        cands: list[tuple[np.ndarray, np.ndarray, int]] = []
        for j, view in enumerate(snap.views):
            fres = self._filtered(view, fkey, node) if node is not None else view.alive()
            pos = fres.positions
            keys = view.data.keys[pos].astype(np.int64)
            if cursor is not None:
                sel = keys > cursor
                pos, keys = pos[sel], keys[sel]
            cands.append((keys, pos, j))
        if not cands:
            return [], None
        allk = np.concatenate([c[0] for c in cands])
        allp = np.concatenate([c[1] for c in cands])
        allv = np.concatenate([np.full(len(c[0]), c[2]) for c in cands])
        order = np.argsort(allk, kind="stable")[: limit + 1]
        more = len(order) > limit
        order = order[:limit]
        pts = [self._point(snap.views[int(allv[o])], int(allp[o]), False) for o in order]
        nxt = int(allk[order[-1]]) if more and len(order) else None
        return pts, nxt

    def _hits_for_keys(self, keys: list[int], scores: list[float]) -> list[Hit]:
        """Hits for row keys (e.g. from the BM25 index); keys no longer live are skipped."""
        snap = self._snap
        out = []
        for key, score in zip(keys, scores, strict=True):
            loc = self._locate(snap, int(key))
            if loc is None:
                continue
            view, p = loc
            data = view.data
            out.append(Hit(data.ids[p], float(score), data.payload(p), data.texts[p] if data.texts else None))
        return out
