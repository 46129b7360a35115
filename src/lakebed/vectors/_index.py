"""FAISS index construction and searches for one segment.

Index ids are row positions inside the segment (0..n-1); tombstones and filters become a
packed bitmap (``faiss.IDSelectorBitmap``) handed to the kernel in ``SearchParameters``.
Quantized and product-quantized indexes return an oversampled candidate list that the
caller re-ranks with the full-precision vectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faiss as _faiss
import numpy as np

from lakebed.errors import InvalidArgument

# the bundled faiss stubs are partial (no SearchParametersHNSW, IndexHNSW.hnsw ...)
faiss: Any = _faiss

METRICS = ("cosine", "l2", "dot")
QUANTIZATIONS = (None, "fp16", "int8")
DEFAULT_INDEX: dict[str, Any] = {"type": "hnsw", "m": 16, "ef_construction": 200, "ef_search": 64}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "hnsw": DEFAULT_INDEX,
    "ivf_pq": {"type": "ivf_pq", "nlist": 1024, "m": 48, "nbits": 8, "nprobe": 32},
    "flat": {"type": "flat"},
}
# below this many rows a segment is searched by brute force: it is as fast and exact
SMALL_SEGMENT = 2048


def normalize_index_config(index: Mapping[str, Any] | None, dim: int) -> dict[str, Any]:
    """Fill defaults and validate an index configuration."""
    if index is None:
        return dict(DEFAULT_INDEX)
    if not isinstance(index, Mapping) or "type" not in index:
        raise InvalidArgument(
            "index must be a dict with a 'type' ('hnsw', 'ivf_pq' or 'flat'), e.g. "
            "{'type': 'hnsw', 'm': 16}"
        )
    kind = index["type"]
    if kind not in _DEFAULTS:
        raise InvalidArgument(f"unknown index type {kind!r}; use 'hnsw', 'ivf_pq' or 'flat'")
    cfg = dict(_DEFAULTS[kind])
    unknown = set(index) - set(cfg)
    if unknown:
        raise InvalidArgument(
            f"unknown option(s) {sorted(unknown)} for a {kind} index; known: {sorted(cfg)}"
        )
    cfg.update(index)
    for key, value in cfg.items():
        if key != "type" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InvalidArgument(f"index option {key!r} must be a positive integer, got {value!r}")
    if kind == "ivf_pq":
        if dim % cfg["m"] != 0:
            raise InvalidArgument(
                f"ivf_pq sub-quantizers m={cfg['m']} must divide the dimension {dim}; "
                "pick m among the divisors of dim (e.g. 16, 32, 48 for 384)"
            )
        if cfg["nbits"] > 16:
            raise InvalidArgument("ivf_pq nbits must be at most 16 (8 is usual)")
    return cfg


def faiss_metric(metric: str) -> int:
    return int(faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)


def is_approximate(cfg: Mapping[str, Any], quantization: str | None) -> bool:
    return cfg["type"] != "flat" or quantization is not None


def needs_rerank(cfg: Mapping[str, Any], quantization: str | None) -> bool:
    return cfg["type"] == "ivf_pq" or quantization is not None


def build_index(
    vectors: np.ndarray, metric: str, cfg: Mapping[str, Any], quantization: str | None
) -> Any:
    """Build the segment index; None for small segments (searched by brute force)."""
    n, dim = vectors.shape
    if n < SMALL_SEGMENT or (cfg["type"] == "flat" and quantization is None):
        return None
    if cfg["type"] == "ivf_pq" and n < 39 * 2 ** cfg["nbits"]:
        return None  # too few rows to train the product quantizer; brute force is cheap here
    fm = faiss_metric(metric)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    qtype = {"int8": faiss.ScalarQuantizer.QT_8bit, "fp16": faiss.ScalarQuantizer.QT_fp16}
    index: Any
    if cfg["type"] == "hnsw":
        if quantization is None:
            index = faiss.IndexHNSWFlat(dim, cfg["m"], fm)
        else:
            index = faiss.IndexHNSWSQ(dim, qtype[quantization], cfg["m"], fm)
        index.hnsw.efConstruction = cfg["ef_construction"]
        index.hnsw.efSearch = cfg["ef_search"]
    elif cfg["type"] == "flat":
        index = faiss.IndexScalarQuantizer(dim, qtype[str(quantization)], fm)
    else:
        # enough training points per list keeps k-means meaningful on small segments
        nlist = max(1, min(cfg["nlist"], n // 39))
        quantizer = faiss.IndexFlat(dim, fm)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, cfg["m"], cfg["nbits"], fm)
        index.own_fields = True
        quantizer.this.disown()
        index.nprobe = min(cfg["nprobe"], nlist)
    if not index.is_trained:
        rng = np.random.default_rng(0)
        sample = x if n <= 100_000 else x[np.sort(rng.choice(n, 100_000, replace=False))]
        index.train(sample)
    index.add(x)
    return index


def search_params(
    index: Any, sel: Any, ef: int | None, nprobe: int | None
) -> Any:
    """SearchParameters for one call, or None when the index defaults do."""
    if sel is None and ef is None and nprobe is None:
        return None
    if isinstance(index, faiss.IndexHNSW):
        p = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        if ef is not None:
            p.efSearch = int(ef)
        else:
            p.efSearch = index.hnsw.efSearch
    elif isinstance(index, faiss.IndexIVF):
        p = faiss.SearchParametersIVF()
        p.nprobe = int(nprobe) if nprobe is not None else index.nprobe
    else:
        p = faiss.SearchParameters()
    if sel is not None:
        p.sel = sel
    return p


def index_bytes(index: Any) -> int:
    """Bytes of an index's structures (codes, graph, lists), computed from its shape
    without serializing it."""
    if index is None:
        return 0
    n, d = int(index.ntotal), int(index.d)
    if isinstance(index, faiss.IndexHNSW):
        storage = faiss.downcast_index(index.storage)
        code = int(storage.sa_code_size()) if hasattr(storage, "sa_code_size") else 4 * d
        graph = int(index.hnsw.neighbors.size()) * 4 + n * 12
        return n * code + graph
    if isinstance(index, faiss.IndexIVF):
        return n * (int(index.code_size) + 8) + int(index.nlist) * d * 4
    code = int(index.sa_code_size()) if hasattr(index, "sa_code_size") else 4 * d
    return n * code
