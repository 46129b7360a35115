"""The interface of a lake handle, implemented by the embedded :class:`lakebed.Lake` and by
the HTTP client's :class:`lakebed.client.RemoteLake` (see :mod:`lakebed.api`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from lakebed.api._features import FeatureStoreAPI
    from lakebed.api._quality import QualityAPI
    from lakebed.api._rag import RagAPI
    from lakebed.api._streams import StreamsAPI
    from lakebed.api._tables import TablesAPI
    from lakebed.api._tracking import LineageAPI, ModelsAPI, PredictionLogAPI, RunsAPI
    from lakebed.api._vectors import CollectionsAPI


class LakeAPI(ABC):
    """A lake: its areas, SQL over its tables, and closing. What ``lakebed.connect()``
    returns, for a directory (embedded) and for ``http(s)://`` (a ``lakebed serve``) alike.

    Example:
        >>> import lakebed
        >>> from lakebed.api import LakeAPI
        >>> with lakebed.connect(":memory:") as lake:
        ...     isinstance(lake, LakeAPI)
        True
    """

    read_only: bool

    @property
    @abstractmethod
    def tables(self) -> TablesAPI:
        """Versioned tables (Delta Lake), addressed as ``namespace.name``."""

    @property
    @abstractmethod
    def collections(self) -> CollectionsAPI:
        """Vector collections."""

    @property
    @abstractmethod
    def features(self) -> FeatureStoreAPI:
        """The feature store."""

    @property
    @abstractmethod
    def streams(self) -> StreamsAPI:
        """Streams of records: the embedded log, or JetStream / Redis Streams (``streams=``)."""

    @property
    @abstractmethod
    def quality(self) -> QualityAPI:
        """Data quality: contracts enforced on writes, validation results, profiles, drift."""

    @property
    @abstractmethod
    def runs(self) -> RunsAPI:
        """Experiment runs: params, metrics, artifacts."""

    @property
    @abstractmethod
    def models(self) -> ModelsAPI:
        """The model registry."""

    @property
    @abstractmethod
    def lineage(self) -> LineageAPI:
        """Lineage from source data to features, models and predictions."""

    @property
    @abstractmethod
    def rag(self) -> RagAPI:
        """Document ingestion and retrieval."""

    @abstractmethod
    def predictions(self, model: str) -> PredictionLogAPI:
        """The prediction log of a model (``"fraud"``, ``"fraud@champion"``, ``"fraud@3"``)."""

    @abstractmethod
    def sql(self, query: str) -> pa.Table:
        """Run SQL over the lake's tables with DuckDB (tables named ``namespace.name``).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     _ = lake.tables.create("gold.t", data=[{"x": 1}, {"x": 2}])
            ...     lake.sql("SELECT max(x) AS m, count(*) AS n FROM gold.t").to_pylist()
            [{'m': 2, 'n': 2}]
        """

    @abstractmethod
    def close(self) -> None:
        """Release the lake: flush and close every area and the writer lock (embedded), or
        the connection pool (remote). Idempotent."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
