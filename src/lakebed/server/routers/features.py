"""The feature store over HTTP: definitions as JSON specs, training sets as Arrow,
online reads as compact JSON (the hot path skips FastAPI's response encoding)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lakebed.errors import InvalidArgument
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
        r0 = time.perf_counter()
        result = lake.features.online(rows, features, full_feature_names=full)
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
    from lakebed.features import Entity, FeatureService, FeatureView

    classes = {"entity": Entity, "view": FeatureView, "service": FeatureService}
    out = []
    for obj in objects:
        try:
            out.append(classes[obj.kind].from_spec(obj.spec))  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidArgument):
                raise
            raise InvalidArgument(f"malformed {obj.kind} definition: {exc!r}") from None
    return out


def plan_json(plan: Any) -> list[dict[str, Any]]:
    return [{"kind": c.kind, "name": c.name, "action": c.action, "old_version": c.old_version,
             "new_version": c.new_version, "text": str(c)} for c in plan.changes]


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

    @r.get("/services", summary="Applied feature services", dependencies=[read])
    def services() -> Response:
        return fast_json([_spec(s) for s in lake.features.list_services()])

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
        return arrow_response(ts.to_arrow())

    @r.post("/online", summary="Online feature values and statuses", dependencies=[read])
    def online(body: Online) -> Response:
        t0 = time.perf_counter()
        result = lake.features.online(body.entity_rows, body.features, full_feature_names=body.full_feature_names)
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
        return fast_json(lake.features.status())

    return r
