"""The feature store over HTTP: definitions as JSON specs, training sets as Arrow,
online reads as compact JSON (the hot path skips FastAPI's response encoding)."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lakebed.errors import InvalidArgument
from lakebed.server.routers._common import ARROW_BODY, ARROW_RESPONSE, arrow_body, arrow_response

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


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _finite(value: Any) -> Any:
    if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def fast_json(payload: Any) -> Response:
    """JSON without FastAPI's encoder; NaN and infinities (not JSON) become null."""
    try:
        body = json.dumps(payload, default=_default, separators=(",", ":"), allow_nan=False)
    except ValueError:
        body = json.dumps(_finite(payload), default=_default, separators=(",", ":"))
    return Response(body, media_type="application/json")


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
    def view(name: str, version: int | None = Query(None, ge=1)) -> Response:
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
