"""The interface of the feature store, implemented by the embedded store and by the HTTP
client alike (see :mod:`lakebed.api`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from lakebed.features._definitions import Entity, FeatureService, FeatureView, OnDemandFeatureView
    from lakebed.features._plan import Change, Plan
    from lakebed.features._resolved import Resolved
    from lakebed.features._response import OnlineResponse

ProgressCallback = Callable[[str, int, int | None], None]
"""``progress(view, rows_done, total_or_None)``, called by materialization."""


class TrainingSet(Protocol):
    """What :meth:`FeatureStoreAPI.training_set` returns, embedded
    (:class:`lakebed.features.TrainingSet`) and remote alike: the entity rows (in their
    order, with all their columns) plus one column per requested feature, as a
    ``pyarrow.Table`` (``.table``) that it behaves like for the common calls, and what
    it was made from. ``save(name)`` stores it as a lakebed table with lineage and what
    :meth:`FeatureStoreAPI.reproduce_training_set` needs.

    Example:
        >>> ts = lake.features.training_set(entity_df, ["user_stats:amount"])  # doctest: +SKIP
        >>> ts.num_rows, ts.feature_refs, ts.save("gold.train_fraud")  # doctest: +SKIP
        (1000, ['user_stats:amount'], 0)
    """

    table: pa.Table
    ref: str | None

    def to_arrow(self) -> pa.Table: ...

    def to_pandas(self, **kwargs: Any) -> Any: ...

    def to_polars(self) -> Any: ...

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def column_names(self) -> list[str]: ...

    @property
    def num_rows(self) -> int: ...

    def __len__(self) -> int: ...

    def __getitem__(self, column: str | int) -> pa.ChunkedArray: ...

    @property
    def feature_refs(self) -> list[str]: ...

    @property
    def view_versions(self) -> dict[str, int]: ...

    @property
    def source_versions(self) -> dict[str, int]: ...

    def save(self, name: str, description: str | None = None) -> int: ...


class FeatureStoreAPI(ABC):
    """Feature definitions (versioned in the catalog), point-in-time training sets,
    materialization, online reads and pushes: ``lake.features``.

    Embedded: :class:`lakebed.features.FeatureStore`; remote: the same methods over HTTP
    (``lakebed.connect("http://...").features``). Definitions travel as their specs;
    on-demand views hold Python code and are applied where the lake is served.

    Example:
        >>> from datetime import datetime, timedelta
        >>> import lakebed
        >>> from lakebed.features import Entity, FeatureView, Field
        >>> with lakebed.connect(":memory:") as lake:
        ...     row = {"user_id": 1, "ts": datetime(2024, 1, 1), "amount": 5.0}
        ...     _ = lake.tables.create("silver.tx", data=[row])
        ...     user = Entity("user", join_keys=["user_id"])
        ...     stats = FeatureView("user_stats", entities=[user], source="silver.tx", timestamp_field="ts",
        ...                         ttl=timedelta(days=30), fields=[Field("amount", "float64")])
        ...     print(lake.features.apply([user, stats]))
        ...     [v.name for v in lake.features.list_views()], lake.features.get_entity("user").join_keys
        + entity user (v1)
        + view user_stats (v1)
        (['user_stats'], ['user_id'])
    """

    # -- definitions --------------------------------------------------------------------
    @abstractmethod
    def plan(self, objects: Iterable[Any], *, prune: bool = False) -> Plan:
        """What :meth:`apply` would change, without changing anything.

        Example:
            >>> print(lake.features.plan([user, stats]))  # doctest: +SKIP
            + entity user (v1)
            + view user_stats (v1)
        """

    @abstractmethod
    def apply(self, objects: Iterable[Any], *, prune: bool = False) -> Plan:
        """Record the definitions in the catalog: each changed one gets a new version.
        With ``prune=True`` applied definitions not in ``objects`` are deleted. A plan that
        would break a FeatureService or an on-demand view raises ConflictError and
        changes nothing.

        Remote: on-demand views hold Python code and cannot be applied over HTTP (apply
        them where the lake is served)."""

    @abstractmethod
    def delete(self, name: str, kind: str | None = None) -> Change:
        """Delete an applied view, service or entity (``kind`` when names collide). A view
        still used by a service or on-demand view cannot be deleted (ConflictError); its
        online rows and materialization record go with it.

        Example:
            >>> lake.features.delete("user_stats")  # doctest: +SKIP
            Change(kind='view', name='user_stats', action='delete', old_version=1, new_version=2, diff={})
        """

    @abstractmethod
    def list_views(self) -> list[FeatureView | OnDemandFeatureView]:
        """The applied feature views and on-demand views (current versions).

        Remote: an on-demand view's function runs where the lake is served; the view
        object here describes it (calling its ``udf`` raises InvalidArgument)."""

    @abstractmethod
    def get_view(self, name: str, version: int | None = None) -> FeatureView | OnDemandFeatureView:
        """An applied view (its current version, or ``version``); NotFound otherwise."""

    @abstractmethod
    def list_entities(self) -> list[Entity]:
        """The applied entities (current versions), sorted by name."""

    @abstractmethod
    def get_entity(self, name: str, version: int | None = None) -> Entity:
        """An applied entity (its current version, or ``version``); NotFound otherwise."""

    @abstractmethod
    def list_services(self) -> list[FeatureService]:
        """The applied feature services (current versions), sorted by name."""

    @abstractmethod
    def get_service(self, name: str, version: int | None = None) -> FeatureService:
        """An applied feature service (its current version, or ``version``); NotFound
        otherwise."""

    @abstractmethod
    def history(self, name: str, kind: str = "view") -> list[dict[str, Any]]:
        """Every version of a definition: ``version``, ``spec`` (None when deleted),
        ``deleted`` and ``created_at`` (a UTC datetime), oldest first.

        Example:
            >>> [(h["version"], h["deleted"]) for h in lake.features.history("user_stats")]  # doctest: +SKIP
            [(1, False), (2, True)]
        """

    # -- feature references -------------------------------------------------------------
    @abstractmethod
    def resolve(self, features: Any, specs: dict[str, dict[str, Any]] | None = None) -> Resolved:
        """Turn ``["view:feature", ...]`` (or view objects and ``view[["a"]]``
        projections in the list), a FeatureService or its name into a
        :class:`~lakebed.features._resolved.Resolved`: the references in order, the
        features needed per view (the sources of on-demand views too) and the service.
        ``specs`` (view name -> spec) resolves against those specs instead of the
        applied views. Unknown views or features raise NotFound.

        Example:
            >>> lake.features.resolve(["user_stats:amount"]).needed  # doctest: +SKIP
            {'user_stats': ['amount']}
        """

    @abstractmethod
    def key_types(self, features: Sequence[str] | FeatureService | str) -> dict[str, pa.DataType]:
        """The Arrow type of each join key that ``features`` are looked up by, from the
        source tables of their views (keys of views without a source table are left out).

        Example:
            >>> import lakebed
            >>> from datetime import datetime, timedelta
            >>> from lakebed.features import Entity, FeatureView, Field
            >>> with lakebed.connect(":memory:") as lake:
            ...     row = {"user_id": 1, "ts": datetime(2024, 1, 1), "amount": 5.0}
            ...     _ = lake.tables.create("silver.tx", data=[row])
            ...     user = Entity("user", join_keys=["user_id"])
            ...     stats = FeatureView("user_stats", entities=[user], source="silver.tx", timestamp_field="ts",
            ...                         ttl=timedelta(days=30), fields=[Field("amount", "float64")])
            ...     _ = lake.features.apply([user, stats])
            ...     lake.features.key_types(["user_stats:amount"])
            {'user_id': DataType(int64)}
        """

    # -- offline ------------------------------------------------------------------------
    @abstractmethod
    def training_set(
        self,
        entity_df: Any,
        features: Sequence[str] | FeatureService | str,
        full_feature_names: bool = False,
        timestamp_column: str = "event_timestamp",
    ) -> TrainingSet:
        """Point-in-time correct features for each entity row.

        For each row (join keys + ``timestamp_column``), each feature is taken from the
        latest source row of its view with event time <= the row's time and > time - ttl
        (ties: the larger created timestamp); otherwise null. Rows keep their order,
        duplicates and extra columns. Aware and naive timestamps may not be mixed.

        Example:
            >>> ts = lake.features.training_set(entity_df, ["user_stats:amount"])  # doctest: +SKIP
        """

    @abstractmethod
    def reproduce_training_set(self, name: str, version: int | None = None) -> pa.Table:
        """Re-run the join of a saved training set with every input read at its recorded
        version; the result equals the saved table.

        Example:
            >>> v = lake.features.training_set(entity_df, ["user_stats:amount"]).save("gold.train")  # doctest: +SKIP
            >>> lake.features.reproduce_training_set("gold.train", v)  # doctest: +SKIP
        """

    # -- online -------------------------------------------------------------------------
    @abstractmethod
    def online(
        self,
        entity_rows: Any,
        features: Sequence[str] | FeatureService | str,
        *,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """Latest feature values for entity rows, from the online store.

        Returns columns of values and, per feature, statuses ``present``, ``missing`` (no
        row for the entity) or ``expired`` (older than the view's ttl at ``now``; the value
        is null). Window aggregations are computed at ``now`` (default: the clock).

        Example:
            >>> r = lake.features.online([{"user_id": 1}], ["user_stats:amount"])  # doctest: +SKIP
            >>> r["amount"], r.status("amount")  # doctest: +SKIP
            ([5.0], ['present'])
        """

    @abstractmethod
    def push(self, view: str, rows: Any, to: str = "online") -> int:
        """Write rows of a view: ``to="online"``, ``"offline"`` (append to the view's
        source table) or ``"both"``. Types are checked against the view first: a row that
        does not fit raises SchemaError and nothing is written. Returns the row count.

        The online side of a push is one transaction of the online store whatever its
        size (written in bounded chunks): after a crash the store holds all of it or none.
        With ``to="both"`` the offline append is committed first, then the online
        transaction: a crash between the two leaves the rows in the source table only,
        and the next :meth:`materialize` brings them online (see ``docs/durability.md``).

        Example:
            >>> lake.features.push("user_stats", [{"user_id": 1, "ts": now, "amount": 5.0}])  # doctest: +SKIP
            1
        """

    # -- materialization ----------------------------------------------------------------
    @abstractmethod
    def materialize(
        self,
        end: datetime | None = None,
        views: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
        *,
        start: datetime | None = None,
    ) -> dict[str, int]:
        """Load the latest value per entity (within ttl as of ``end``, default now) of each
        view into the online store, in bounded-memory batches. Idempotent; newer online
        rows (from pushes) are kept. ``progress(view, rows_done, total_or_None)`` is called
        after each batch. Returns rows written per view.

        Example:
            >>> lake.features.materialize()  # doctest: +SKIP
            {'user_stats': 1000}

        Remote: the server materializes in one request; ``progress(view, rows, rows)`` is
        called once per view when it has answered."""

    @abstractmethod
    def materialize_incremental(
        self, end: datetime | None = None, views: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, int]:
        """Materialize only the rows after each view's last materialized end (see
        :meth:`materialize`).

        Remote: ``progress(view, rows, rows)`` is called once per view when the server
        has answered."""

    # -- streams ------------------------------------------------------------------------
    @abstractmethod
    def replay(self, view: str, since: datetime | None = None) -> dict[str, Any]:
        """Rebuild a stream view's online state and offline table from its stream (from
        ``since``, an append time; default: the oldest retained record), then run it
        until caught up; the state equals what live processing built. Returns the view's
        processor status (``applied``, ``lag``, ...).

        Remote: the server replays; ConflictError while the server runs the view's stream
        processor (``lakebed serve --stream-processors``)."""

    @abstractmethod
    def status(self) -> list[dict[str, Any]]:
        """Per view: version, last materialized end, newest event in the source, freshness
        lag (newest event - last materialized end, 0 when caught up), rows online; stream
        views add their processor's lag, counts and freshness.

        Example:
            >>> [(s["view"], s["rows_online"]) for s in lake.features.status()]  # doctest: +SKIP
            [('user_stats', 1000)]
        """

    @abstractmethod
    def refresh(self) -> None:
        """Forget the cached definitions (online reads use them without asking the catalog);
        call it after another process applied changes. Applies in this process refresh
        the cache themselves, and training sets and materialization check for changes.

        Remote: the server (and its read workers) forget theirs."""
