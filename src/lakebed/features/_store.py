"""The feature store facade: ``lake.features``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakebed.api._features import FeatureStoreAPI, ProgressCallback
from lakebed.errors import InvalidArgument, NotFound
from lakebed.features import _schema, _serving
from lakebed.features._definitions import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    Projection,
    StreamFeatureView,
    split_ref,
)
from lakebed.features._registry import Change, Plan, Registry
from lakebed.features._resolved import Resolved
from lakebed.features.online import OnlineStore, open_store

if TYPE_CHECKING:
    import pyarrow as pa

    from lakebed.features._serving import OnlineResponse
    from lakebed.features._stream import StreamProcessor
    from lakebed.features._training import TrainingSet
    from lakebed.lake import Lake


class FeatureStore(FeatureStoreAPI):
    """Feature definitions, training sets, materialization, online reads and pushes: the
    embedded :class:`lakebed.api.FeatureStoreAPI` (its methods are documented there).

    Example:
        >>> from datetime import timedelta
        >>> import lakebed
        >>> from lakebed.features import Entity, FeatureView, Field
        >>> with lakebed.connect(":memory:") as lake:
        ...     _ = lake.tables.create("silver.tx", data=[{"user_id": 1, "ts": datetime(2024, 1, 1), "amount": 5.0}])
        ...     user = Entity("user", join_keys=["user_id"])
        ...     stats = FeatureView("user_stats", entities=[user], source="silver.tx", timestamp_field="ts",
        ...                         ttl=timedelta(days=30), fields=[Field("amount", "float64")])
        ...     _ = lake.features.apply([user, stats])
        ...     rows = [{"user_id": 1, "event_timestamp": datetime(2024, 1, 2)}]
        ...     lake.features.training_set(rows, ["user_stats:amount"]).to_arrow().column("amount").to_pylist()
        [5.0]
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.registry = Registry(lake)
        self._online: OnlineStore | None = None
        self._online_lock = threading.Lock()
        self._duckdb: Any = None  # the in-memory DuckDB of pushes, opened at the first one
        self._plans: dict[Any, Any] = {}
        self._codecs: dict[tuple[str, int], Any] = {}
        lake.on_close(self.close)

    # -- definitions --------------------------------------------------------------------
    def _source_schema(self, name: str) -> pa.Schema | None:
        return self.lake.tables.schema(name) if self.lake.tables.exists(name) else None

    def plan(self, objects: Iterable[Any], *, prune: bool = False) -> Plan:
        self.registry.refresh_if_changed()
        objs = list(objects)
        from lakebed.features._stream import stream_source_schemas

        derived = stream_source_schemas(self, objs)

        def source_schema(name: str) -> pa.Schema | None:
            return self._source_schema(name) or derived.get(name)

        return self.registry.plan(objs, prune=prune, source_schema=source_schema)

    def apply(self, objects: Iterable[Any], *, prune: bool = False) -> Plan:
        self.lake.check_writable()
        objs = list(objects)
        plan = self.plan(objs, prune=prune)
        from lakebed.features._stream import create_offline_tables

        create_offline_tables(self, objs)
        self.registry.apply(plan)
        for ch in plan.changes:
            if ch.kind == "view" and ch.action == "delete":
                self._forget_view(ch.name)
        self._plans.clear()
        return plan

    def _forget_view(self, name: str) -> None:
        self.online_store.drop(name)
        t = _schema.materializations
        with self.lake.catalog.begin() as conn:
            conn.execute(t.delete().where(t.c.view == name))

    def delete(self, name: str, kind: str | None = None) -> Change:
        self.lake.check_writable()
        self.registry.refresh_if_changed()
        current = self.registry.current()
        kinds = [kind] if kind else [k for k in ("view", "service", "entity") if (k, name) in current]
        if not kinds or (kinds[0], name) not in current:
            raise NotFound(f"nothing named {name!r} is applied; see lake.features.list_views()")
        change = self.registry.delete(kinds[0], name)
        if kinds[0] == "view":
            self._forget_view(name)
        self._plans.clear()
        return change

    def _view(self, spec: dict[str, Any], version: int) -> FeatureView | OnDemandFeatureView:
        if spec["type"] == "on_demand":
            return OnDemandFeatureView.from_spec(spec, self.registry.udf(spec["name"], spec), version)
        if spec.get("stream"):
            return StreamFeatureView.from_spec(spec, version)
        return FeatureView.from_spec(spec, version)

    def list_views(self) -> list[FeatureView | OnDemandFeatureView]:
        cur = self.registry.current()
        out = []
        for (kind, _name), (version, spec) in sorted(cur.items()):
            if kind == "view":
                if spec["type"] == "on_demand":
                    try:
                        out.append(self._view(spec, version))
                    except InvalidArgument:
                        continue  # its function is not loaded in this process
                else:
                    out.append(self._view(spec, version))
        return out

    def get_view(self, name: str, version: int | None = None) -> FeatureView | OnDemandFeatureView:
        v, spec = self.registry.get("view", name, version)
        return self._view(spec, v)

    def list_entities(self) -> list[Entity]:
        cur = self.registry.current()
        return [Entity.from_spec(s, v) for (k, _), (v, s) in sorted(cur.items()) if k == "entity"]

    def get_entity(self, name: str, version: int | None = None) -> Entity:
        v, spec = self.registry.get("entity", name, version)
        return Entity.from_spec(spec, v)

    def list_services(self) -> list[FeatureService]:
        cur = self.registry.current()
        return [FeatureService.from_spec(s, v) for (k, _), (v, s) in sorted(cur.items()) if k == "service"]

    def get_service(self, name: str, version: int | None = None) -> FeatureService:
        v, spec = self.registry.get("service", name, version)
        return FeatureService.from_spec(spec, v)

    def history(self, name: str, kind: str = "view") -> list[dict[str, Any]]:
        if kind not in ("entity", "view", "service"):
            raise InvalidArgument(f"kind must be 'entity', 'view' or 'service', got {kind!r}")
        return [
            {"version": v, "spec": s, "deleted": s is None,
             "created_at": datetime.fromtimestamp(c, tz=UTC)}
            for v, s, c in self.registry.history(kind, name)
        ]

    # -- feature references -------------------------------------------------------------
    def resolve(self, features: Any, specs: dict[str, dict[str, Any]] | None = None) -> Resolved:
        views = specs if specs is not None else {
            n: s for (k, n), (_, s) in self.registry.current().items() if k == "view"
        }
        service = None
        if isinstance(features, FeatureService):
            service = features.name
            cur = self.registry.current().get(("service", features.name))
            refs_in = cur[1]["features"] if cur is not None else features.feature_refs
        elif isinstance(features, str) and ":" not in features:
            service = features
            refs_in = self.registry.get("service", features)[1]["features"]
        elif isinstance(features, str):
            refs_in = [features]
        elif isinstance(features, Iterable):
            refs_in = []
            for f in features:
                if isinstance(f, Projection):
                    refs_in += f.refs()
                elif isinstance(f, FeatureView | OnDemandFeatureView):
                    spec = views.get(f.name)
                    if spec is None:
                        raise NotFound(f"view {f.name!r} is not applied; apply it first")
                    refs_in += [f"{f.name}:{n}" for n in _feature_names(spec)]
                else:
                    refs_in.append(f)
        else:
            raise InvalidArgument("features must be a list of 'view:feature' refs or a FeatureService")
        if not refs_in:
            raise InvalidArgument("no features requested; pass e.g. ['user_stats:amount']")
        refs = [split_ref(r) for r in dict.fromkeys(refs_in)]
        out = Resolved(refs=refs, service=service)

        def need(view: str, feat: str) -> dict[str, Any]:
            spec = views.get(view)
            if spec is None:
                raise NotFound(f"unknown feature view {view!r}; applied views: {sorted(views)}")
            if feat not in _feature_names(spec):
                raise NotFound(
                    f"view {view!r} has no feature {feat!r}; its features: {_feature_names(spec)}"
                )
            lst = out.needed.setdefault(view, [])
            if feat not in lst:
                lst.append(feat)
            return spec

        for view, feat in refs:
            spec = need(view, feat)
            if spec["type"] == "on_demand":
                if view not in out.odfvs:
                    out.odfvs.append(view)
                for ref in spec["sources"]:
                    need(*split_ref(ref))
        return out

    # -- offline ------------------------------------------------------------------------
    def training_set(
        self,
        entity_df: Any,
        features: Sequence[str] | FeatureService | str,
        full_feature_names: bool = False,
        timestamp_column: str = "event_timestamp",
    ) -> TrainingSet:
        from lakebed.features._training import training_set

        return training_set(self, entity_df, features, full_feature_names, timestamp_column)

    def reproduce_training_set(self, name: str, version: int | None = None) -> pa.Table:
        from lakebed.features._training import reproduce

        return reproduce(self, name, version)

    # -- online -------------------------------------------------------------------------
    @property
    def online_store(self) -> OnlineStore:
        """The backend (sqlite, redis or postgres) chosen by ``connect(online=...)``."""
        store = self._online
        if store is None:
            with self._online_lock:
                if self._online is None:
                    self._online = open_store(
                        self.lake.settings.online,
                        path=self.lake.path / "online" / "online.db",
                        namespace=self._namespace(),
                        read_only=self.lake.read_only,
                        fsync=self.lake.settings.fsync,
                    )
                store = self._online
        return store

    def _namespace(self) -> str:
        """A per-lake id that keeps lakes apart in a shared Redis or PostgreSQL."""
        return self.lake.namespace

    def key_types(self, features: Sequence[str] | FeatureService | str) -> dict[str, pa.DataType]:
        out: dict[str, pa.DataType] = {}
        for view in self.resolve(features).needed:
            spec = self.registry.get("view", view)[1]
            if spec["type"] != "feature_view":
                continue
            schema = self._source_schema(spec["source"])
            for k in spec["join_keys"]:
                if schema is not None and k in schema.names:
                    out.setdefault(k, schema.field(k).type)
        return out

    def online(
        self,
        entity_rows: Any,
        features: Sequence[str] | FeatureService | str,
        *,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineResponse:
        return _serving.online(self, entity_rows, features, full_feature_names, now)

    def push(self, view: str, rows: Any, to: str = "online") -> int:
        from lakebed.features._serving import push

        if to not in ("online", "both"):
            return push(self, view, rows, to)
        with self.online_store.transaction():
            return push(self, view, rows, to)

    # -- materialization ----------------------------------------------------------------
    def materialize(
        self,
        end: datetime | None = None,
        views: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
        *,
        start: datetime | None = None,
    ) -> dict[str, int]:
        from lakebed.features._materialize import materialize

        return materialize(self, end, views, progress, start=start, incremental=False)

    def materialize_incremental(
        self, end: datetime | None = None, views: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, int]:
        from lakebed.features._materialize import materialize

        return materialize(self, end, views, progress, start=None, incremental=True)

    # -- streams ------------------------------------------------------------------------
    def stream_processor(
        self, views: Sequence[str] | str | None = None, *, max_records: int = 50_000, offline_interval: float = 1.0
    ) -> StreamProcessor:
        """A processor for stream feature views (all of them by default): see
        :class:`lakebed.features._stream.StreamProcessor`."""
        from lakebed.features._stream import StreamProcessor

        return StreamProcessor(self, [views] if isinstance(views, str) else views, max_records=max_records,
                               offline_interval=offline_interval)

    def run_stream(
        self,
        views: Sequence[str] | str | None = None,
        *,
        until_caught_up: bool = False,
        duration: float | None = None,
        stop: Any = None,
        on_status: Callable[[list[dict[str, Any]]], None] | None = None,
        max_records: int = 50_000,
        offline_interval: float = 1.0,
    ) -> dict[str, dict[str, Any]]:
        """Run stream feature views: consume their streams, keep windows in the online
        store (exactly once) and land events in the offline tables. Returns when caught
        up (``until_caught_up``), after ``duration`` seconds, or when the
        ``threading.Event`` ``stop`` is set; the result is each view's status.

        Example:
            >>> lake.features.run_stream(until_caught_up=True)  # doctest: +SKIP
            {'user_clicks': {'view': 'user_clicks', 'applied': 1200, 'lag': 0, ...}}
        """
        with self.stream_processor(views, max_records=max_records, offline_interval=offline_interval) as proc:
            return proc.run(until_caught_up=until_caught_up, duration=duration, stop=stop, on_status=on_status)

    def replay(self, view: str, since: datetime | None = None) -> dict[str, Any]:
        from lakebed.features._stream import replay

        return replay(self, view, since)

    def status(self) -> list[dict[str, Any]]:
        from lakebed.features._materialize import status

        return status(self)

    def refresh(self) -> None:
        self.registry.invalidate()
        self._plans.clear()

    def _push_duckdb(self) -> Any:
        """A fresh cursor of the store's sandboxed in-memory DuckDB, for the online side of a
        push: opening DuckDB costs tens of milliseconds, a cursor microseconds, and each
        cursor is a connection of its own (concurrent pushes do not see each other's
        registered tables). The caller closes it."""
        with self._online_lock:
            if self._duckdb is None:
                from lakebed.tables._sandbox import connect as sandboxed_duckdb

                self._duckdb = sandboxed_duckdb(timezone=None)
            return self._duckdb.cursor()

    def close(self) -> None:
        """Close the online store and the DuckDB of pushes (the lake does at its close)."""
        if self._online is not None:
            self._online.close()
            self._online = None
        if self._duckdb is not None:
            self._duckdb.close()
            self._duckdb = None


def _feature_names(spec: dict[str, Any]) -> list[str]:
    if spec["type"] == "on_demand":
        return [f["name"] for f in spec["fields"]]
    return [a["name"] for a in spec["aggregations"]] or [f["name"] for f in spec["fields"]]
