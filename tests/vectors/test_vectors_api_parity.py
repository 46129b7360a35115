"""Collections have one API: the embedded classes and the HTTP client's implement
:mod:`lakebed.api`'s interfaces with the same methods and signatures."""

from __future__ import annotations

from tests._api_parity import check_parity

from lakebed.api._vectors import CollectionAPI, CollectionsAPI
from lakebed.client._collections import RemoteCollection, RemoteCollections
from lakebed.vectors import Collection, Collections


def test_collections_parity() -> None:
    check_parity(CollectionsAPI, Collections, RemoteCollections, embedded_only={
        "close": "releases the open collections' files when the lake closes (the lake calls it)",
        "forget": "drops a collection from the lake's cache of open collections (cluster nodes)",
        "is_cached": "whether a collection is open in this process (the server's read workers)",
    })


def test_collection_parity() -> None:
    check_parity(CollectionAPI, Collection, RemoteCollection, embedded_only={
        "close": "waits for background sealing and releases files; the lake closes its collections",
        "log_seq": "the external log position of the last write (cluster replicas)",
        "log_digest": "the digest recorded with log_seq (cluster replicas)",
    }, remote_only={
        "dim": "the embedded Collection holds it as an attribute (so do the three below)",
        "metric": "an attribute on the embedded side",
        "index_config": "an attribute on the embedded side",
        "text_field": "an attribute on the embedded side",
    }, embedded_params={
        "upsert": {"log_seq": "a cluster replica records the log position with the write",
                   "log_digest": "the digest of the log up to log_seq"},
        "delete": {"log_seq": "as upsert", "log_digest": "as upsert"},
    })
