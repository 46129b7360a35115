from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from lakebed._wire import decode_vectors, encode_vectors
from lakebed.api._vectors import CollectionAPI, CollectionsAPI
from lakebed.client._http import Http
from lakebed.errors import InvalidArgument, NotFound, ReadOnlyError
from lakebed.vectors import Hit, Point


def _ids(ids: Any) -> list[Any]:
    if isinstance(ids, np.ndarray):
        return ids.tolist()  # type: ignore[no-any-return]
    return [i.item() if isinstance(i, np.generic) else i for i in ids]


def _hit(d: dict[str, Any]) -> Hit:
    vec = decode_vectors(d["vector"])[0] if d.get("vector") else None
    return Hit(d["id"], d["score"], d["payload"], d.get("text"), vec, d.get("meta") or {})


def _point(d: dict[str, Any]) -> Point:
    vec = decode_vectors(d["vector"])[0] if d.get("vector") else None
    return Point(d["id"], d["payload"], d.get("text"), vec)


class RemoteCollection(CollectionAPI):
    """A collection of a served lake: the same methods as :class:`lakebed.vectors.Collection`."""

    def __init__(self, http: Http, name: str, version: int | None = None) -> None:
        self._http = http
        self.name = name
        self.version = version  # a manifest version, read-only; None: the current one
        self._base = f"/v1/collections/{name}"

    def _read(self, op: str, body: dict[str, Any]) -> Any:
        """A read: at the collection's version when it was opened at one."""
        if self.version is not None:
            body = {**body, "version": self.version}
        return self._http.request("POST", f"{self._base}/{op}", json=body, idempotent=True)

    def _get(self, op: str) -> Any:
        params = {"version": self.version} if self.version is not None else None
        return self._http.request("GET", f"{self._base}/{op}", params=params)

    def _check_writable(self) -> None:
        if self.version is not None:
            raise ReadOnlyError(f"collection {self.name!r} was opened at version {self.version}, which is "
                                "read-only; open it without version= to write")

    def _config(self) -> dict[str, Any]:
        """The collection's configuration, fetched once (it does not change)."""
        if "_info" not in self.__dict__:
            self.__dict__["_info"] = self._http.request("GET", self._base)
        return self.__dict__["_info"]  # type: ignore[no-any-return]

    @property
    def dim(self) -> int:
        """The vectors' dimension (as the embedded ``Collection.dim``)."""
        return int(self._config()["dim"])

    @property
    def metric(self) -> str:
        """``cosine``, ``l2`` or ``dot`` (as the embedded ``Collection.metric``)."""
        return str(self._config()["metric"])

    @property
    def index_config(self) -> dict[str, Any]:
        """The index configuration (as the embedded ``Collection.index_config``)."""
        return dict(self._config()["index_config"])

    @property
    def text_field(self) -> bool:
        """Whether the collection keeps a BM25 index of texts."""
        return bool(self._config()["text_field"])

    def _post(self, op: str, body: dict[str, Any], idempotent: bool = True) -> Any:
        return self._http.request("POST", f"{self._base}/{op}", json=body, idempotent=idempotent)

    def upsert(self, ids: Any, vectors: Any, payloads: Any = None, texts: Any = None) -> None:
        self._check_writable()
        self._post("upsert", {"ids": _ids(ids), "vectors": encode_vectors(vectors),
                              "payloads": payloads, "texts": texts})

    def delete(self, ids: Any = None, filter: dict[str, Any] | None = None) -> int:
        self._check_writable()
        body = {"ids": _ids(ids) if ids is not None else None, "filter": filter}
        return int(self._post("delete", body)["deleted"])

    def get(self, ids: Any, include_vectors: bool = False) -> list[Point]:
        return [_point(p) for p in self._read("get", {"ids": _ids(ids), "include_vectors": include_vectors})]

    def count(self, filter: dict[str, Any] | None = None) -> int:
        return int(self._read("count", {"filter": filter})["count"])

    def scroll(self, filter: dict[str, Any] | None = None, limit: int = 100,
               cursor: int | None = None) -> tuple[list[Point], int | None]:
        out = self._read("scroll", {"filter": filter, "limit": limit, "cursor": cursor})
        return [_point(p) for p in out["points"]], out["cursor"]

    def _search_body(self, vector: Any, k: int, filter: Any, ef: Any, nprobe: Any, exact: bool) -> dict[str, Any]:
        return {"vector": encode_vectors(vector), "k": k, "filter": filter, "ef": ef, "nprobe": nprobe,
                "exact": exact}

    def search(self, vector: Any, k: int = 10, filter: dict[str, Any] | None = None, ef: int | None = None,
               nprobe: int | None = None, exact: bool = False) -> list[Hit]:
        return [_hit(h) for h in self._read("search", self._search_body(vector, k, filter, ef, nprobe, exact))]

    def search_batch(self, vectors: Any, k: int = 10, filter: dict[str, Any] | None = None, ef: int | None = None,
                     nprobe: int | None = None, exact: bool = False) -> list[list[Hit]]:
        out = self._read("search_batch", self._search_body(vectors, k, filter, ef, nprobe, exact))
        return [[_hit(h) for h in hits] for hits in out]

    def explain(self, vector: Any, k: int = 10, filter: dict[str, Any] | None = None, ef: int | None = None,
                nprobe: int | None = None, exact: bool = False) -> dict[str, Any]:
        return self._read("explain", self._search_body(vector, k, filter, ef, nprobe, exact))  # type: ignore[no-any-return]

    def search_text(self, query: str, k: int = 10, filter: dict[str, Any] | None = None) -> list[Hit]:
        return [_hit(h) for h in self._read("search_text", {"query": query, "k": k, "filter": filter})]

    def hybrid_search(self, text: str, vector: Any = None, k: int = 10, filter: dict[str, Any] | None = None,
                      fusion: str = "rrf", rrf_k: int = 60, alpha: float = 0.5,
                      candidates: int | None = None) -> list[Hit]:
        body = {"text": text, "vector": encode_vectors(vector) if vector is not None else None, "k": k,
                "filter": filter, "fusion": fusion, "rrf_k": rrf_k, "alpha": alpha, "candidates": candidates}
        return [_hit(h) for h in self._read("hybrid", body)]

    def add_texts(self, texts: Sequence[str], ids: Sequence[int | str] | None = None,
                  payloads: Sequence[dict[str, Any]] | None = None) -> builtins.list[int | str]:
        self._check_writable()
        body = {"texts": builtins.list(texts), "ids": _ids(ids) if ids is not None else None,
                "payloads": builtins.list(payloads) if payloads is not None else None}
        return builtins.list(self._post("add_texts", body, idempotent=ids is not None)["ids"])

    def query(self, question: str, k: int = 10, mode: str = "hybrid",
              filter: dict[str, Any] | None = None, **options: Any) -> list[Hit]:
        body = {"question": question, "k": k, "mode": mode, "filter": filter, "options": options or None}
        return [_hit(h) for h in self._read("query", body)]

    def create_payload_index(self, field: str, kind: str) -> None:
        self._check_writable()
        self._post("payload_index", {"field": field, "kind": kind})

    def flush(self, seal: bool = True) -> None:
        self._check_writable()
        self._post("flush", {"seal": seal})

    def compact(self) -> dict[str, Any]:
        self._check_writable()
        return self._post("compact", {})  # type: ignore[no-any-return]

    def vacuum(self, keep_versions: int = 1) -> dict[str, int]:
        self._check_writable()
        return self._post("vacuum", {"keep_versions": keep_versions}, idempotent=False)  # type: ignore[no-any-return]

    def versions(self) -> list[dict[str, Any]]:
        return self._get("versions")  # type: ignore[no-any-return]

    def segments(self) -> list[dict[str, Any]]:
        return self._get("segments")  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self._get("stats")  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<RemoteCollection {self.name}>"


class RemoteCollections(CollectionsAPI):
    """``lake.collections`` of a served lake."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(self, name: str, dim: int, metric: str = "cosine", index: dict[str, Any] | None = None,
               quantization: str | None = None, text_field: bool = False,
               embedder: str | None = None) -> RemoteCollection:
        self._http.request("POST", "/v1/collections", json={
            "name": name, "dim": dim, "metric": metric, "index": index, "quantization": quantization,
            "text_field": text_field, "embedder": embedder})
        return RemoteCollection(self._http, name)

    def open(self, name: str, version: int | None = None) -> RemoteCollection:
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidArgument(f"version must be an int, got {version!r}")
        self.info(name)
        col = RemoteCollection(self._http, name, version)
        if version is not None:
            col.stats()  # NotFound now, as embedded, for a version that is not kept
        return col

    def info(self, name: str) -> dict[str, Any]:
        return self._http.request("GET", f"/v1/collections/{name}")  # type: ignore[no-any-return]

    def list(self) -> builtins.list[str]:
        return builtins.list(self._http.request("GET", "/v1/collections"))

    def exists(self, name: str) -> bool:
        try:
            self.info(name)
        except NotFound:
            return False
        return True

    def drop(self, name: str) -> None:
        self._http.request("DELETE", f"/v1/collections/{name}")
