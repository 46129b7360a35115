"""The feature store over HTTP: definitions as JSON specs, training sets as Arrow,
online reads as compact JSON (the hot path skips FastAPI's response encoding).

Scopes: ``read`` reads definitions, their history, resolves references, builds training
sets, reads online values and status and refreshes the cached definitions; ``write``
applies and deletes definitions, pushes, materializes and replays stream views. Grants
name the area (``features:*``); reproducing a saved training set also needs a grant to
read its table (``tables:<name>``): it returns the stored entity rows."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lakebed.errors import InvalidArgument, LakebedError, NotFound
from lakebed.server.routers._common import (
    ARROW_BODY,
    ARROW_RESPONSE,
    arrow_body,
    arrow_response,
    fast_json,
    fast_route,
    json_bytes,
)

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics


class Definition(BaseModel):
    kind: Literal["entity", "view", "service"]
    spec: dict[str, Any]


class Apply(BaseModel):
    objects: list[Definition]
    prune: bool = False


class Online(BaseModel):
    entity_rows: list[dict[str, Any]] = Field(max_length=100_000)
    features: list[str] | str
    full_feature_names: bool = False
    now: datetime | None = None


class ViewRef(BaseModel):
    """Every feature of a view (a view object in a list of features)."""

    view: str = Field(max_length=200)


class ServiceRef(BaseModel):
    """A FeatureService object: its name and its own references (used when it is not applied)."""

    service: str = Field(max_length=200)
    features: list[str] = Field(max_length=10_000)


class Features(BaseModel):
    features: str | list[str | ViewRef] | ServiceRef = Field(
        description="'view:feature' refs (or {'view': name} for all of a view's features), a service name, "
                    "or {'service': name, 'features': [...]}")
    specs: dict[str, dict[str, Any]] | None = Field(None, max_length=10_000)


class Replay(BaseModel):
    since: datetime | None = None


class Materialize(BaseModel):
    end: datetime | None = None
    start: datetime | None = None
    views: list[str] | None = None
    incremental: bool = False


def fast_online(lake: Lake, auth: Auth, metrics: Metrics, max_body: int) -> Any:
    """``POST /v1/features/online`` through :func:`fast_route` (the feature read itself
    takes tens of microseconds, so the framework was most of the cost)."""

    def work(payload: Any, _name: str | None) -> bytes:
        body = Online.model_validate(payload) if not _plain(payload) else None
        rows = payload["entity_rows"] if body is None else body.entity_rows
        features = payload["features"] if body is None else body.features
        full = bool(payload.get("full_feature_names", False)) if body is None else body.full_feature_names
        now = None if body is None else body.now
        r0 = time.perf_counter()
        result = lake.features.online(rows, features, full_feature_names=full, now=now)
        metrics.online.observe(time.perf_counter() - r0)
        return json_bytes({"values": result.values, "statuses": result.statuses})

    return fast_route(auth, metrics, max_body, "/v1/features/online", "features", work)


def _plain(payload: Any) -> bool:
    """The common well-formed request, checked cheaply; anything else goes through the model."""
    if type(payload) is not dict or not payload.keys() <= {"entity_rows", "features", "full_feature_names"}:
        return False
    rows, features = payload.get("entity_rows"), payload.get("features")
    return (
        type(rows) is list and len(rows) <= 100_000 and all(type(r) is dict for r in rows)
        and (type(features) is str or (type(features) is list and all(type(f) is str for f in features)))
        and type(payload.get("full_feature_names", False)) is bool
    )


def decode_definitions(objects: list[Definition]) -> list[Any]:
    from lakebed.features import Entity, FeatureService, FeatureView, StreamFeatureView

    classes = {"entity": Entity, "view": FeatureView, "service": FeatureService}
    out = []
    for obj in objects:
        cls = StreamFeatureView if obj.kind == "view" and obj.spec.get("stream") else classes[obj.kind]
        try:
            out.append(cls.from_spec(obj.spec))  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidArgument):
                raise
            raise InvalidArgument(f"malformed {obj.kind} definition: {exc!r}") from None
    return out


def plan_json(plan: Any) -> list[dict[str, Any]]:
    """A plan's changes as JSON (:meth:`lakebed.features.Change.to_json`)."""
    return [c.to_json() for c in plan.changes]


def decode_features(lake: Lake, body: Features) -> Any:
    """The ``features`` argument of :meth:`lakebed.api.FeatureStoreAPI.resolve` from its
    wire form (view objects arrive as ``{"view": name}``, FeatureService objects as
    ``{"service": name, "features": [...]}``)."""
    from lakebed.features import FeatureService
    from lakebed.features._store import _feature_names

    f = body.features
    if isinstance(f, ServiceRef):
        return FeatureService(f.service, f.features)
    if isinstance(f, str):
        return f
    out: list[str] = []
    for item in f:
        if isinstance(item, ViewRef):
            views = body.specs if body.specs is not None else {
                n: s for (k, n), (_, s) in lake.features.registry.current().items() if k == "view"}
            spec = views.get(item.view)
            if spec is None:
                raise NotFound(f"view {item.view!r} is not applied; apply it first")
            out += [f"{item.view}:{n}" for n in _feature_names(spec)]
        else:
            out.append(item)
    return out


TRAINING_SET_META = b"lakebed:training_set"
"""The schema metadata key of a training set's Arrow answer (and of the entity rows sent to
save one): what it was made from, as JSON."""


def save_training_set(lake: Lake, name: str, entities: pa.Table, raw_spec: bytes, description: str | None) -> int:
    """Compute a training set again from ``raw_spec`` (features and the view and source
    versions it was made from, as the training_set answer carries them) and save it as
    ``name``: the table saved is the one the server computes, never one a client sent."""
    from lakebed.features._offline import ROW
    from lakebed.features._training import ENTITY_ROW, TrainingSet, compute

    try:
        spec = json.loads(raw_spec)
        features = [str(f) for f in spec["features"]]
        full, ts_col = bool(spec["full_feature_names"]), str(spec["timestamp_column"])
        view_versions = {str(v): int(n) for v, n in spec["view_versions"].items()}
        source_versions = {str(t): int(n) for t, n in spec["source_versions"].items()}
        service = spec.get("service")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidArgument(f"malformed training-set metadata: {exc!r}") from None
    if ROW in entities.column_names or ENTITY_ROW in entities.column_names:
        raise InvalidArgument(f"entity_df may not have a column named {ROW!r} or {ENTITY_ROW!r}")
    store = lake.features
    specs = {v: store.registry.get("view", v, n) for v, n in view_versions.items()}
    resolved = store.resolve(features, specs={v: s for v, (_, s) in specs.items()})
    if set(resolved.needed) != set(specs):
        raise InvalidArgument("the training-set metadata names other views than its features need")
    sources = {s["source"] for _, s in specs.values() if s["type"] == "feature_view"}
    if set(source_versions) != sources:
        raise InvalidArgument(f"the training-set metadata must give the version of each source: {sorted(sources)}")
    outs = resolved.output_names(full)
    clash = sorted(set(outs) & set(entities.column_names))
    if clash:
        raise InvalidArgument(f"feature columns {clash} would overwrite entity_df columns")
    table = compute(store, entities, ts_col, resolved, specs, source_versions, full)
    made = {
        "features": [f"{v}:{f}" for v, f in resolved.refs], "service": service if isinstance(service, str) else None,
        "full_feature_names": full, "timestamp_column": ts_col,
        "view_versions": {v: ver for v, (ver, _) in specs.items()},
        "view_sources": {v: s["source"] for v, (_, s) in specs.items() if s["type"] == "feature_view"},
        "source_versions": source_versions,
    }
    return TrainingSet(store, table, entities, made).save(name, description)


def _seconds(value: Any) -> Any:
    return value.total_seconds() if isinstance(value, timedelta) else value


def status_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Status rows with their durations (freshness lag and SLO) in seconds."""
    return [{k: _seconds(v) for k, v in row.items()} for row in rows]


def _spec(obj: Any) -> dict[str, Any]:
    return {"name": obj.name, "version": getattr(obj, "version", None), "spec": obj.spec()}


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1/features", tags=["features"])
    read = auth.need("read", "features")
    write = auth.need("write", "features")

    @r.post("/plan", summary="What apply would change", dependencies=[read])
    def plan(body: Apply) -> list[dict[str, Any]]:
        return plan_json(lake.features.plan(decode_definitions(body.objects), prune=body.prune))

    @r.post("/apply", summary="Apply definitions (versioned)", dependencies=[write])
    def apply(body: Apply) -> list[dict[str, Any]]:
        return plan_json(lake.features.apply(decode_definitions(body.objects), prune=body.prune))

    @r.get("/views", summary="Applied feature views", dependencies=[read])
    def views() -> Response:
        return fast_json([_spec(v) for v in lake.features.list_views()])

    @r.get("/views/{name}", summary="One feature view (at a version)", dependencies=[read])
    def view(name: str, version: int | None = Query(None, ge=1, lt=2**31)) -> Response:
        return fast_json(_spec(lake.features.get_view(name, version)))

    @r.get("/entities", summary="Applied entities", dependencies=[read])
    def entities() -> Response:
        return fast_json([_spec(e) for e in lake.features.list_entities()])

    @r.get("/entities/{name}", summary="One entity (at a version)", dependencies=[read])
    def entity(name: str, version: int | None = Query(None, ge=1, lt=2**31)) -> Response:
        return fast_json(_spec(lake.features.get_entity(name, version)))

    @r.get("/services", summary="Applied feature services", dependencies=[read])
    def services() -> Response:
        return fast_json([_spec(s) for s in lake.features.list_services()])

    @r.get("/services/{name}", summary="One feature service (at a version)", dependencies=[read])
    def service(name: str, version: int | None = Query(None, ge=1, lt=2**31)) -> Response:
        return fast_json(_spec(lake.features.get_service(name, version)))

    @r.get("/history/{kind}/{name}", summary="Every version of a definition", dependencies=[read])
    def history(kind: Literal["entity", "view", "service"], name: str) -> Response:
        return fast_json(lake.features.history(name, kind))

    @r.delete("/definitions/{name}", summary="Delete an applied view, service or entity", dependencies=[write])
    def delete(name: str, kind: Literal["entity", "view", "service"] | None = None) -> Response:
        return fast_json(lake.features.delete(name, kind).to_json())

    @r.post("/resolve", summary="Resolve feature references against the applied views", dependencies=[read])
    def resolve(body: Features) -> Response:
        try:
            resolved = lake.features.resolve(decode_features(lake, body), body.specs)
        except LakebedError:
            raise
        except (KeyError, TypeError, AttributeError) as exc:  # malformed specs
            raise InvalidArgument(f"malformed view specs: {exc!r}") from None
        return fast_json(resolved.to_json())

    @r.post("/key_types", summary="The Arrow type of each join key (an empty Arrow table of those columns)",
            responses=ARROW_RESPONSE, response_class=Response, dependencies=[read])
    def key_types(body: Features) -> Response:
        if body.specs is not None:
            raise InvalidArgument("key_types resolves against the applied views: leave specs out")
        types = lake.features.key_types(decode_features(lake, body))
        return arrow_response(pa.schema(list(types.items())).empty_table())

    @r.get("/training_sets/{name}", summary="Reproduce a saved training set (Arrow)", responses=ARROW_RESPONSE,
           response_class=Response, dependencies=[read])
    def reproduce(name: str, request: Request, version: int | None = Query(None, ge=0, lt=2**31)) -> Response:
        if auth.required:  # it returns the stored entity rows: the table's grant too
            h = request.headers
            auth.check(auth.secret(h.get("authorization"), h.get("x-api-key")), "read", "tables", name,
                       request.scope.get("client"), request.method, request.url.path)
        return arrow_response(lake.features.reproduce_training_set(name, version))

    @r.post("/training_sets/{name}", summary="Save a training set (the entity rows as Arrow, what it was made "
            "from in their schema metadata): the server computes it again from those inputs, stores it with "
            "lineage and answers the table version", openapi_extra=ARROW_BODY, dependencies=[write])
    async def save(name: str, request: Request, description: str | None = Query(None, max_length=10_000)) -> Any:
        if auth.required:  # it writes the table and its entity rows beside it
            h = request.headers
            for table in (name, f"{name}__entities"):
                auth.check(auth.secret(h.get("authorization"), h.get("x-api-key")), "write", "tables", table,
                           request.scope.get("client"), request.method, request.url.path)
        entities = await arrow_body(request)
        raw = (entities.schema.metadata or {}).get(TRAINING_SET_META)
        if raw is None:
            raise InvalidArgument(f"the entity rows' schema metadata lacks {TRAINING_SET_META.decode()!r}: what "
                                  "the training set was made from (as the training_set answer carries it)")
        entities = entities.replace_schema_metadata(
            {k: v for k, v in (entities.schema.metadata or {}).items() if k != TRAINING_SET_META} or None)
        return {"version": await run_in_threadpool(save_training_set, lake, name, entities, raw, description)}

    @r.post("/views/{name}/replay", summary="Rebuild a stream view from its stream", dependencies=[write])
    def replay(name: str, body: Replay) -> Response:
        return fast_json(lake.features.replay(name, body.since))

    @r.post("/refresh", summary="Forget the cached definitions (read them from the catalog again)",
            dependencies=[read])
    def refresh() -> dict[str, bool]:
        lake.features.refresh()
        return {"refreshed": True}

    @r.post("/training_set", summary="Point-in-time training set (entity rows as Arrow or JSON rows)",
            openapi_extra=ARROW_BODY, responses=ARROW_RESPONSE, response_class=Response, dependencies=[read])
    async def training_set(
        request: Request, features: list[str] = Query(...), full_feature_names: bool = False,
        timestamp_column: str = "event_timestamp",
    ) -> Response:
        entity_df = await arrow_body(request)
        spec: Any = features[0] if len(features) == 1 and ":" not in features[0] else features
        ts = lake.features.training_set(entity_df, spec, full_feature_names=full_feature_names,
                                        timestamp_column=timestamp_column)
        table = ts.to_arrow()
        meta = {**(table.schema.metadata or {}), TRAINING_SET_META: json.dumps(ts.spec).encode()}
        return arrow_response(table.replace_schema_metadata(meta))

    @r.post("/online", summary="Online feature values and statuses", dependencies=[read])
    def online(body: Online) -> Response:
        t0 = time.perf_counter()
        result = lake.features.online(body.entity_rows, body.features, full_feature_names=body.full_feature_names,
                                      now=body.now)
        metrics.online.observe(time.perf_counter() - t0)
        return fast_json({"values": result.values, "statuses": result.statuses})

    @r.post("/push/{view}", summary="Push rows to the online and/or offline store", openapi_extra=ARROW_BODY,
            dependencies=[write])
    async def push(view: str, request: Request, to: Literal["online", "offline", "both"] = "online") -> dict[str, int]:
        rows = await arrow_body(request)
        return {"rows": lake.features.push(view, rows, to=to)}

    @r.post("/materialize", summary="Load the latest values into the online store", dependencies=[write])
    def materialize(body: Materialize) -> dict[str, int]:
        if body.incremental:
            return lake.features.materialize_incremental(body.end, views=body.views)
        return lake.features.materialize(body.end, views=body.views, start=body.start)

    @r.get("/status", summary="Freshness per view", dependencies=[read])
    def status() -> Response:
        return fast_json(status_json(lake.features.status()))

    return r
