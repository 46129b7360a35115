"""lakebed's three configurations for ``bench/vectors.py`` (hnsw, hnsw+int8, ivf_pq)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _vectors_common import FILTERS, K
from _vectors_systems import Adapter

BATCH = 5000


class Lakebed(Adapter):
    """A lakebed collection driven through its public API only."""

    name = "lakebed-hnsw"
    knob = "ef"
    knob_values = [16, 24, 32, 48, 64, 96, 128, 192, 256]
    knob_default = 64
    index: dict[str, Any] = {"type": "hnsw", "m": 16, "ef_construction": 200}
    quantization: str | None = None

    def build(self) -> dict[str, Any]:
        import lakebed

        lake = lakebed.connect(str(self.workdir / "lake"))
        col = lake.collections.create("ann", dim=self.data.dim, metric="cosine", index=dict(self.index),
                                      quantization=self.quantization)
        col.create_payload_index("source", "keyword")
        col.create_payload_index("year", "integer")
        payloads = self.data.payloads()
        ids = np.arange(self.data.n)
        t0 = time.perf_counter()
        for s in range(0, self.data.n, BATCH):
            e = min(self.data.n, s + BATCH)
            col.upsert(ids[s:e].tolist(), self.data.base[s:e], payloads[s:e])
        upsert_s = time.perf_counter() - t0
        col.flush()
        flush_s = time.perf_counter() - t0 - upsert_s
        info: dict[str, Any] = {"params": f"index={self.index} quantization={self.quantization}",
                                "upsert_s": upsert_s, "flush_s": flush_s}
        try:
            info["stats_after_build"] = _jsonable(col.stats())
        except Exception as exc:
            info["stats_error"] = repr(exc)
        # the build published several versions (seals, merges); time travel keeps their
        # segments until vacuum, which a user finishing a build runs: keep only the newest
        info["vacuum"] = _jsonable(col.vacuum(keep_versions=1))
        lake.close()
        return info

    def open(self) -> None:
        import lakebed

        self.lake = lakebed.connect(str(self.workdir / "lake"))
        self.col = self.lake.collections.open("ann")

    def set_threads(self, n: int) -> None:
        import faiss

        faiss.omp_set_num_threads(n)

    def _kw(self) -> dict[str, Any]:
        return {"ef": int(self.knob_value)} if self.knob == "ef" else {"nprobe": int(self.knob_value)}

    def search(self, q: np.ndarray) -> list[int]:
        return [int(h.id) for h in self.col.search(q, k=K, **self._kw())]

    def search_batch(self, qs: np.ndarray) -> list[list[int]]:
        return [[int(h.id) for h in hits] for hits in self.col.search_batch(qs, k=K, **self._kw())]

    def search_filtered(self, q: np.ndarray, fname: str) -> list[int]:
        hits = self.col.search(q, k=K, filter=FILTERS[fname]["mongo"], **self._kw())
        return [int(h.id) for h in hits]

    def explain(self, q: np.ndarray, fname: str) -> Any:
        """The planner's choice for one filtered query, if the engine exposes it."""
        if hasattr(self.col, "explain"):
            try:
                return _jsonable(self.col.explain(q, k=K, filter=FILTERS[fname]["mongo"], **self._kw()))
            except Exception as exc:
                return f"explain failed: {exc!r}"
        hits = self.col.search(q, k=K, filter=FILTERS[fname]["mongo"], **self._kw())
        meta = getattr(hits[0], "metadata", None) if hits else None
        return _jsonable(meta) if meta is not None else None

    def stats(self) -> dict[str, Any]:
        try:
            return _jsonable(self.col.stats())
        except Exception as exc:
            return {"error": repr(exc)}

    def close(self) -> None:
        self.lake.close()


class LakebedInt8(Lakebed):
    name = "lakebed-hnsw-int8"
    quantization = "int8"


class LakebedIvfPq(Lakebed):
    name = "lakebed-ivf_pq"
    knob = "nprobe"
    knob_values = [4, 8, 16, 24, 32, 48, 64, 96, 128, 256]
    knob_default = 16
    index = {"type": "ivf_pq", "nlist": 1024, "m": 48, "nbits": 8}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, int | float | str | bool) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "__dict__"):
        return {k: _jsonable(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return repr(obj)


LAKEBED_SYSTEMS: dict[str, type[Adapter]] = {
    "lakebed-hnsw": Lakebed,
    "lakebed-hnsw-int8": LakebedInt8,
    "lakebed-ivf_pq": LakebedIvfPq,
}
