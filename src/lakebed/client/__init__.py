"""The HTTP client: ``lakebed.connect("http://host:8765", api_key=...)`` returns a
:class:`RemoteLake` with the same area objects and methods as an embedded
:class:`lakebed.Lake`, talking to ``lakebed serve``.

Example:
    >>> import lakebed
    >>> lake = lakebed.connect("http://127.0.0.1:8765")   # doctest: +SKIP
    >>> lake.tables.list()                                # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakebed.api._lake import LakeAPI
from lakebed.client._http import Http
from lakebed.client._tables import RemoteTables

if TYPE_CHECKING:
    from lakebed.api._features import FeatureStoreAPI
    from lakebed.api._quality import QualityAPI
    from lakebed.api._rag import RagAPI
    from lakebed.api._streams import StreamsAPI
    from lakebed.api._tracking import LineageAPI, ModelsAPI, PredictionLogAPI, RunsAPI
    from lakebed.api._vectors import CollectionsAPI


class RemoteLake(LakeAPI):
    """A lake served over HTTP (``lakebed serve``): the same areas and methods as an
    embedded :class:`lakebed.Lake` (:class:`lakebed.api.LakeAPI`). Use as a context manager
    or call :meth:`close`. An area's client module is imported on its first use."""

    read_only = False

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 3) -> None:
        self.url = url
        self._http = Http(url, api_key=api_key, timeout=timeout, retries=retries)
        self._tables = RemoteTables(self._http)
        self._areas: dict[str, Any] = {}

    def _area(self, name: str) -> Any:
        import importlib

        if name not in self._areas:
            module, cls = _AREAS[name]
            self._areas[name] = getattr(importlib.import_module(module), cls)(self._http)
        return self._areas[name]

    @property
    def tables(self) -> RemoteTables:
        return self._tables

    @property
    def collections(self) -> CollectionsAPI:
        return self._area("collections")  # type: ignore[no-any-return]

    @property
    def features(self) -> FeatureStoreAPI:
        return self._area("features")  # type: ignore[no-any-return]

    @property
    def streams(self) -> StreamsAPI:
        return self._area("streams")  # type: ignore[no-any-return]

    @property
    def quality(self) -> QualityAPI:
        return self._area("quality")  # type: ignore[no-any-return]

    @property
    def runs(self) -> RunsAPI:
        return self._area("runs")  # type: ignore[no-any-return]

    @property
    def models(self) -> ModelsAPI:
        return self._area("models")  # type: ignore[no-any-return]

    @property
    def lineage(self) -> LineageAPI:
        return self._area("lineage")  # type: ignore[no-any-return]

    @property
    def rag(self) -> RagAPI:
        return self._area("rag")  # type: ignore[no-any-return]

    def predictions(self, model: str) -> PredictionLogAPI:
        return self._area("predictions")(model)  # type: ignore[no-any-return]

    def sql(self, query: str) -> pa.Table:
        return self.tables.sql(query)

    def health(self) -> dict[str, Any]:
        """The server's ``/health`` answer (status, version, uptime)."""
        return self._http.request("GET", "/health")  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteLake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RemoteLake {self.url}>"


_AREAS: dict[str, tuple[str, str]] = {
    "collections": ("lakebed.client._collections", "RemoteCollections"),
    "quality": ("lakebed.client._quality", "RemoteQuality"),
    "features": ("lakebed.client._features", "RemoteFeatureStore"),
    "streams": ("lakebed.client._streams", "RemoteStreams"),
    "runs": ("lakebed.client._tracking", "RemoteRuns"),
    "models": ("lakebed.client._tracking", "RemoteModels"),
    "lineage": ("lakebed.client._tracking", "RemoteLineage"),
    "predictions": ("lakebed.client._tracking", "RemotePredictions"),
    "rag": ("lakebed.client._rag", "RemoteRag"),
}


def connect_remote(url: str, api_key: str | None = None, **options: Any) -> RemoteLake:
    """Connect to a lakebed server."""
    return RemoteLake(url, api_key=api_key, **options)


__all__ = ["RemoteLake", "connect_remote"]
