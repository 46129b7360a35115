"""The systems of ``bench/vectors.py``: one small adapter per system under test.

Each adapter builds an index from :class:`_vectors_common.Data` into a directory (``build``),
reopens it in a fresh process (``open``), and answers single, batch and filtered queries
with plain lists of integer ids. A ``knob`` (ef or nprobe) is swept by the runner.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from _vectors_common import FILTERS, Data, K


class Adapter:
    """Base class: override what the system supports."""

    name = "?"
    knob: str | None = None  # "ef", "nprobe", ... swept by the runner
    knob_values: list[Any] = []
    knob_default: Any = None
    supports_filter = True
    notes: list[str] = []

    def __init__(self, workdir: Path, data: Data) -> None:
        self.workdir = workdir
        self.data = data
        self.knob_value: Any = self.knob_default
        self.notes = list(self.notes)

    def build(self) -> dict[str, Any]:
        raise NotImplementedError

    def open(self) -> None:
        raise NotImplementedError

    def set_knob(self, value: Any) -> None:
        self.knob_value = value

    def set_threads(self, n: int) -> None:
        """Threads for the next searches (1 for single-query timing, all cores for batch)."""

    def search(self, q: np.ndarray) -> list[int]:
        raise NotImplementedError

    def search_filtered(self, q: np.ndarray, fname: str) -> list[int]:
        raise NotImplementedError

    def search_batch(self, qs: np.ndarray) -> list[list[int]]:
        return [self.search(q) for q in qs]

    def stats(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- raw FAISS


class FaissHNSW(Adapter):
    """Raw FAISS IndexHNSWFlat (inner product), the kernel lakebed is built on."""

    name = "faiss-hnsw"
    knob = "ef"
    knob_values = [16, 24, 32, 48, 64, 96, 128, 192, 256]
    knob_default = 64

    def build(self) -> dict[str, Any]:
        import faiss

        faiss.omp_set_num_threads(2)
        index = faiss.IndexHNSWFlat(self.data.dim, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        index.add(self.data.base)
        faiss.write_index(index, str(self.workdir / "index.faiss"))
        return {"params": "IndexHNSWFlat M=16 efConstruction=200, METRIC_INNER_PRODUCT"}

    def open(self) -> None:
        import faiss

        self.faiss = faiss
        self.index = faiss.read_index(str(self.workdir / "index.faiss"))
        n = self.data.n
        # IDSelectorBitmap over packed little-endian bits: the kernel-level filter
        self.selectors = {}
        self._bitmaps = {}
        for f in FILTERS:
            bits = np.packbits(self.data.masks[f].astype(np.uint8), bitorder="little")
            self._bitmaps[f] = bits
            self.selectors[f] = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))

    def set_threads(self, n: int) -> None:
        self.faiss.omp_set_num_threads(n)

    def set_knob(self, value: Any) -> None:
        self.knob_value = value
        self.index.hnsw.efSearch = int(value)

    def search(self, q: np.ndarray) -> list[int]:
        _, ids = self.index.search(q.reshape(1, -1), K)
        return ids[0].tolist()

    def search_batch(self, qs: np.ndarray) -> list[list[int]]:
        _, ids = self.index.search(qs, K)
        return ids.tolist()

    def search_filtered(self, q: np.ndarray, fname: str) -> list[int]:
        params = self.faiss.SearchParametersHNSW(sel=self.selectors[fname], efSearch=int(self.knob_value))
        _, ids = self.index.search(q.reshape(1, -1), K, params=params)
        return [int(x) for x in ids[0] if x >= 0]


class FaissRefined(FaissHNSW):
    """Raw FAISS with a quantized index re-ranked by full-precision vectors
    (``IndexRefineFlat``): the kernel of lakebed's int8 and IVF-PQ configurations, with
    the same parameters and the same oversampling. Unfiltered only (the kernel's limit)."""

    supports_filter = False
    k_factor = 3

    def make(self, faiss: Any) -> Any:
        raise NotImplementedError

    def build(self) -> dict[str, Any]:
        import faiss

        faiss.omp_set_num_threads(2)
        base = self.make(faiss)
        if not base.is_trained:
            base.train(self.data.base)
        refine = faiss.IndexRefineFlat(base)
        refine.k_factor = self.k_factor
        refine.add(self.data.base)
        faiss.write_index(refine, str(self.workdir / "index.faiss"))
        return {"params": self.params}

    def open(self) -> None:
        import faiss

        self.faiss = faiss
        self.index = faiss.read_index(str(self.workdir / "index.faiss"))
        self.base_index = faiss.downcast_index(self.index.base_index)


class FaissHNSWSQ8(FaissRefined):
    name = "faiss-hnsw-int8"
    knob = "ef"
    knob_values = [16, 24, 32, 48, 64, 96, 128, 192, 256]
    knob_default = 64
    params = "IndexRefineFlat(IndexHNSWSQ QT_8bit M=16 efConstruction=200), k_factor 3, METRIC_INNER_PRODUCT"

    def make(self, faiss: Any) -> Any:
        index = faiss.IndexHNSWSQ(self.data.dim, faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
        return index

    def set_knob(self, value: Any) -> None:
        # lakebed searches the graph with ef = max(ef, k * 3) for its 3x oversampled candidates
        self.knob_value = value
        self.base_index.hnsw.efSearch = max(int(value), K * self.k_factor)


class FaissIVFPQ(FaissRefined):
    name = "faiss-ivf_pq"
    knob = "nprobe"
    knob_values = [4, 8, 16, 24, 32, 48, 64, 96, 128, 256]
    knob_default = 16
    k_factor = 10
    params = "IndexRefineFlat(IndexIVFPQ nlist=1024 m=48 nbits=8), k_factor 10, METRIC_INNER_PRODUCT"

    def make(self, faiss: Any) -> Any:
        quantizer = faiss.IndexFlatIP(self.data.dim)
        index = faiss.IndexIVFPQ(quantizer, self.data.dim, 1024, 48, 8, faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()
        return index

    def set_knob(self, value: Any) -> None:
        self.knob_value = value
        self.base_index.nprobe = int(value)


# --------------------------------------------------------------------------- hnswlib


class Hnswlib(Adapter):
    name = "hnswlib"
    knob = "ef"
    knob_values = [16, 24, 32, 48, 64, 96, 128, 192, 256]
    knob_default = 64
    notes = ["filter = Python callable per candidate (hnswlib's filter API)"]

    def build(self) -> dict[str, Any]:
        import hnswlib

        idx = hnswlib.Index(space="ip", dim=self.data.dim)
        idx.init_index(max_elements=self.data.n, ef_construction=200, M=16)
        idx.add_items(self.data.base, np.arange(self.data.n), num_threads=2)
        idx.save_index(str(self.workdir / "index.bin"))
        return {"params": "space=ip M=16 ef_construction=200"}

    def open(self) -> None:
        import hnswlib

        self.idx = hnswlib.Index(space="ip", dim=self.data.dim)
        self.idx.load_index(str(self.workdir / "index.bin"), max_elements=self.data.n)
        self.threads = 1
        masks = self.data.masks
        self.filters = {f: (lambda m: (lambda label: bool(m[label])))(masks[f]) for f in FILTERS}

    def set_threads(self, n: int) -> None:
        self.threads = n

    def set_knob(self, value: Any) -> None:
        self.knob_value = value
        self.idx.set_ef(int(value))

    def search(self, q: np.ndarray) -> list[int]:
        labels, _ = self.idx.knn_query(q, k=K, num_threads=1)
        return labels[0].tolist()

    def search_batch(self, qs: np.ndarray) -> list[list[int]]:
        labels, _ = self.idx.knn_query(qs, k=K, num_threads=self.threads)
        return labels.tolist()

    def search_filtered(self, q: np.ndarray, fname: str) -> list[int]:
        try:
            labels, _ = self.idx.knn_query(q, k=K, num_threads=1, filter=self.filters[fname])
        except RuntimeError:  # fewer than k matches reachable: hnswlib raises
            return []
        return labels[0].tolist()


# --------------------------------------------------------------------------- Chroma


class Chroma(Adapter):
    name = "chroma"
    # ef_search stays at Chroma's default (100): in chromadb 1.5.9 collection.modify() updated the stored
    # configuration but not the index an open client searches (recall did not move), so no sweep.
    notes = ["PersistentClient; hnsw ef_search = Chroma's default 100 (not sweepable in-process)"]

    def _client(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        return chromadb.PersistentClient(path=str(self.workdir / "chroma"), settings=settings)

    def build(self) -> dict[str, Any]:
        client = self._client()
        col = client.create_collection(
            "ann",
            configuration={"hnsw": {"space": "cosine", "ef_construction": 200, "max_neighbors": 16}},
            embedding_function=None,
        )
        payloads = self.data.payloads()
        step = min(5000, client.get_max_batch_size())
        for s in range(0, self.data.n, step):
            e = min(self.data.n, s + step)
            col.add(
                ids=[str(i) for i in range(s, e)],
                embeddings=self.data.base[s:e],
                metadatas=payloads[s:e],
            )
        # a count forces the write path to settle before the clock stops
        col.count()
        return {"params": "PersistentClient, hnsw space=cosine max_neighbors=16 ef_construction=200"}

    def open(self) -> None:
        self.client = self._client()
        self.col = self.client.get_collection("ann", embedding_function=None)

    def _ids(self, res: Any) -> list[list[int]]:
        return [[int(x) for x in ids] for ids in res["ids"]]

    def search(self, q: np.ndarray) -> list[int]:
        return self._ids(self.col.query(query_embeddings=q.reshape(1, -1), n_results=K, include=[]))[0]

    def search_batch(self, qs: np.ndarray) -> list[list[int]]:
        return self._ids(self.col.query(query_embeddings=qs, n_results=K, include=[]))

    def search_filtered(self, q: np.ndarray, fname: str) -> list[int]:
        res = self.col.query(query_embeddings=q.reshape(1, -1), n_results=K, include=[],
                             where=FILTERS[fname]["chroma"])
        return self._ids(res)[0]


# --------------------------------------------------------------------------- LanceDB


class LanceDB(Adapter):
    name = "lancedb"
    knob = "nprobes/refine"
    # cheapest first; the runner keeps the first setting that reaches the target recall
    knob_values = [(20, None), (20, 5), (20, 10), (40, 10), (40, 20), (80, 20), (160, 40)]
    knob_default = (20, None)
    notes = ["IVF_PQ with lancedb's default partitions/sub-vectors, metric=cosine; filters with prefilter=True"]

    def build(self) -> dict[str, Any]:
        import lancedb
        import pyarrow as pa

        db = lancedb.connect(str(self.workdir / "lance"))
        cols = self.data.payload_columns
        vec = pa.FixedSizeListArray.from_arrays(pa.array(self.data.base.reshape(-1)), self.data.dim)
        table = pa.table({
            "id": pa.array(cols["id"], pa.int64()),
            "vector": vec,
            **{c: pa.array(cols[c]) for c in cols if c != "id"},
        })
        tbl = db.create_table("ann", data=table)
        t0 = time.perf_counter()
        tbl.create_index(metric="cosine", index_type="IVF_PQ", vector_column_name="vector")
        self.index_time = time.perf_counter() - t0
        return {"params": "IVF_PQ metric=cosine (defaults: num_partitions~sqrt(n), num_sub_vectors=dim/16)",
                "index_s": self.index_time}

    def open(self) -> None:
        import lancedb

        self.db = lancedb.connect(str(self.workdir / "lance"))
        self.tbl = self.db.open_table("ann")

    def _query(self, q: Any) -> Any:
        nprobes, refine = self.knob_value
        b = self.tbl.search(q, vector_column_name="vector").metric("cosine").limit(K).nprobes(int(nprobes))
        if refine:
            b = b.refine_factor(int(refine))
        return b.select(["id"])

    def search(self, q: np.ndarray) -> list[int]:
        return self._query(q).to_arrow().column("id").to_pylist()

    def search_batch(self, qs: np.ndarray) -> list[list[int]]:
        t = self._query([row for row in qs]).with_row_id(False).to_arrow()
        out: list[list[int]] = [[] for _ in range(qs.shape[0])]
        if "query_index" in t.column_names:
            for qi, i in zip(t.column("query_index").to_pylist(), t.column("id").to_pylist(), strict=True):
                out[qi].append(i)
            return out
        return [self.search(q) for q in qs]

    def search_filtered(self, q: np.ndarray, fname: str) -> list[int]:
        b = self._query(q).where(FILTERS[fname]["sql"], prefilter=True)
        return b.to_arrow().column("id").to_pylist()


# --------------------------------------------------------------------------- Qdrant local


class QdrantLocal(Adapter):
    name = "qdrant-local"
    notes = ["qdrant-client local mode (QdrantClient(path=...)), no server: numpy brute force"]

    def build(self) -> dict[str, Any]:
        from qdrant_client import QdrantClient, models

        client = QdrantClient(path=str(self.workdir / "qdrant"))
        client.create_collection("ann", vectors_config=models.VectorParams(size=self.data.dim,
                                                                          distance=models.Distance.COSINE))
        payloads = self.data.payloads()
        step = 2000
        for s in range(0, self.data.n, step):
            e = min(self.data.n, s + step)
            client.upsert("ann", points=models.Batch(ids=list(range(s, e)),
                                                     vectors=self.data.base[s:e].tolist(),
                                                     payloads=payloads[s:e]))
        client.close()
        return {"params": "local mode, Distance.COSINE"}

    def open(self) -> None:
        from qdrant_client import QdrantClient, models

        self.models = models
        self.client = QdrantClient(path=str(self.workdir / "qdrant"))
        m = models
        self.filters = {
            "f1": m.Filter(must=[m.FieldCondition(key="source", match=m.MatchValue(value="man")),
                                 m.FieldCondition(key="year", range=m.Range(gte=2020, lte=2021))]),
            "f10": m.Filter(must=[m.FieldCondition(key="year", range=m.Range(gte=1995, lte=1997))]),
            "f50": m.Filter(must=[m.FieldCondition(key="year", range=m.Range(gte=2010))]),
        }

    def search(self, q: np.ndarray) -> list[int]:
        res = self.client.query_points("ann", query=q.tolist(), limit=K, with_payload=False)
        return [int(p.id) for p in res.points]

    def search_batch(self, qs: np.ndarray) -> list[list[int]]:
        reqs = [self.models.QueryRequest(query=q.tolist(), limit=K, with_payload=False) for q in qs]
        res = self.client.query_batch_points("ann", requests=reqs)
        return [[int(p.id) for p in r.points] for r in res]

    def search_filtered(self, q: np.ndarray, fname: str) -> list[int]:
        res = self.client.query_points("ann", query=q.tolist(), limit=K, with_payload=False,
                                       query_filter=self.filters[fname])
        return [int(p.id) for p in res.points]

    def close(self) -> None:
        self.client.close()


SYSTEMS: dict[str, type[Adapter]] = {
    "faiss-hnsw": FaissHNSW,
    "faiss-hnsw-int8": FaissHNSWSQ8,
    "faiss-ivf_pq": FaissIVFPQ,
    "hnswlib": Hnswlib,
    "chroma": Chroma,
    "lancedb": LanceDB,
    "qdrant-local": QdrantLocal,
}
