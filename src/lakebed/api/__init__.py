"""One API, embedded and remote.

Each area of a lake has one interface here, an abstract base class that the embedded class
and the HTTP client's class both derive from, with the same methods and signatures:
``lakebed.connect("./lake")`` and ``lakebed.connect("http://host:8765")`` return a
:class:`LakeAPI`, and code written against it runs on either. The interfaces hold the
documentation; the implementations inherit it.

==================  =============================  ==========================================
interface           embedded                       remote (``lakebed.client``)
==================  =============================  ==========================================
LakeAPI             lakebed.Lake                   RemoteLake
TablesAPI           lakebed.tables.Tables          RemoteTables
CollectionsAPI      lakebed.vectors.Collections    RemoteCollections
CollectionAPI       lakebed.vectors.Collection     RemoteCollection
FeatureStoreAPI     lakebed.features.FeatureStore  RemoteFeatureStore
StreamsAPI          lakebed.streams.Streams        RemoteStreams
StreamAPI           lakebed.streams.Stream         RemoteStream
ConsumerAPI         lakebed.streams.Consumer       RemoteConsumer
QualityAPI          lakebed.quality.Quality        RemoteQuality
RunsAPI, RunAPI     lakebed.tracking.Runs, Run     RemoteRuns, RemoteRun
ModelsAPI           lakebed.tracking.Models        RemoteModels
LineageAPI          lakebed.tracking.Lineage       RemoteLineage
PredictionLogAPI    lakebed.tracking.PredictionLog RemotePredictionLog
RagAPI              lakebed.rag.Rag                RemoteRag
==================  =============================  ==========================================

Example:
    >>> import lakebed
    >>> from lakebed.api import LakeAPI, TablesAPI
    >>> def row_count(lake: LakeAPI, table: str) -> int:   # embedded or remote
    ...     return lake.tables.read(table).num_rows
    >>> with lakebed.connect(":memory:") as lake:
    ...     _ = lake.tables.create("bronze.events", data=[{"id": 1}, {"id": 2}])
    ...     row_count(lake, "bronze.events"), isinstance(lake.tables, TablesAPI)
    (2, True)
"""

from typing import TYPE_CHECKING

from lakebed._lazy import lazy_exports

if TYPE_CHECKING:
    from lakebed.api._features import FeatureStoreAPI
    from lakebed.api._lake import LakeAPI
    from lakebed.api._quality import QualityAPI
    from lakebed.api._rag import RagAPI
    from lakebed.api._streams import ConsumerAPI, StreamAPI, StreamsAPI
    from lakebed.api._tables import TablesAPI
    from lakebed.api._tracking import LineageAPI, ModelsAPI, PredictionLogAPI, RunAPI, RunsAPI
    from lakebed.api._vectors import CollectionAPI, CollectionsAPI

__getattr__ = lazy_exports(
    __name__,
    {
        "LakeAPI": "lakebed.api._lake",
        "TablesAPI": "lakebed.api._tables",
        "CollectionsAPI": "lakebed.api._vectors",
        "CollectionAPI": "lakebed.api._vectors",
        "FeatureStoreAPI": "lakebed.api._features",
        "StreamsAPI": "lakebed.api._streams",
        "StreamAPI": "lakebed.api._streams",
        "ConsumerAPI": "lakebed.api._streams",
        "QualityAPI": "lakebed.api._quality",
        "RunsAPI": "lakebed.api._tracking",
        "RunAPI": "lakebed.api._tracking",
        "ModelsAPI": "lakebed.api._tracking",
        "LineageAPI": "lakebed.api._tracking",
        "PredictionLogAPI": "lakebed.api._tracking",
        "RagAPI": "lakebed.api._rag",
    },
)

__all__ = [
    "CollectionAPI",
    "CollectionsAPI",
    "ConsumerAPI",
    "FeatureStoreAPI",
    "LakeAPI",
    "LineageAPI",
    "ModelsAPI",
    "PredictionLogAPI",
    "QualityAPI",
    "RagAPI",
    "RunAPI",
    "RunsAPI",
    "StreamAPI",
    "StreamsAPI",
    "TablesAPI",
]
