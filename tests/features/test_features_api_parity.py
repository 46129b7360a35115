"""The feature store has one API: the embedded store and the HTTP client's implement
:class:`lakebed.api.FeatureStoreAPI` with the same methods and signatures."""

from __future__ import annotations

from tests._api_parity import check_parity

from lakebed.api._features import FeatureStoreAPI
from lakebed.client._features import RemoteFeatureStore
from lakebed.features import FeatureStore


def test_feature_store_parity() -> None:
    check_parity(FeatureStoreAPI, FeatureStore, RemoteFeatureStore, embedded_only={
        "close": "closes the online store and DuckDB of this process; the lake calls it at close and reload",
        "online_store": "the online-store backend object of this process (SQLite, Redis or PostgreSQL "
                        "connections): engine plumbing for maintenance and tests",
        "stream_processor": "an in-process processor object stepping stream views (the server's "
                            "--stream-processors and benchmarks drive it)",
        "run_stream": "runs stream views in this process until stopped (a threading.Event and callbacks); "
                      "a served lake runs them with `lakebed serve --stream-processors`",
    })
