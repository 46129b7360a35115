"""The HTTP client: ``lakebed.connect("http://host:8765", api_key=...)`` returns a
:class:`RemoteLake` with the same area objects and methods as an embedded
:class:`lakebed.Lake`, talking to ``lakebed serve``.

Example:
    >>> import lakebed
    >>> lake = lakebed.connect("http://127.0.0.1:8765")   # doctest: +SKIP
    >>> lake.tables.list()                                # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lakebed.client._http import Http
from lakebed.client._tables import RemoteTables


class RemoteLake:
    """A lake served over HTTP. Use as a context manager or call :meth:`close`."""

    read_only = False

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 3) -> None:
        self.url = url
        self._http = Http(url, api_key=api_key, timeout=timeout, retries=retries)
        self.tables = RemoteTables(self._http)
        self._areas: dict[str, Any] = {}

    def _area(self, name: str) -> Any:
        import importlib

        if name not in self._areas:
            module, cls = _AREAS[name]
            self._areas[name] = getattr(importlib.import_module(module), cls)(self._http)
        return self._areas[name]

    @property
    def collections(self) -> Any:
        return self._area("collections")

    @property
    def features(self) -> Any:
        return self._area("features")

    @property
    def streams(self) -> Any:
        """Streams through the server (:class:`lakebed.client._streams.RemoteStreams`)."""
        return self._area("streams")

    @property
    def runs(self) -> Any:
        return self._area("runs")

    @property
    def models(self) -> Any:
        return self._area("models")

    @property
    def lineage(self) -> Any:
        return self._area("lineage")

    def sql(self, query: str) -> pa.Table:
        return self.tables.sql(query)

    def health(self) -> dict[str, Any]:
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
    "features": ("lakebed.client._features", "RemoteFeatureStore"),
    "streams": ("lakebed.client._streams", "RemoteStreams"),
    "runs": ("lakebed.client._tracking", "RemoteRuns"),
    "models": ("lakebed.client._tracking", "RemoteModels"),
    "lineage": ("lakebed.client._tracking", "RemoteLineage"),
}


def connect_remote(url: str, api_key: str | None = None, **options: Any) -> RemoteLake:
    """Connect to a lakebed server."""
    return RemoteLake(url, api_key=api_key, **options)


__all__ = ["RemoteLake", "connect_remote"]
