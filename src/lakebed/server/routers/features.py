"""The feature store over HTTP: definitions as JSON specs, training sets as Arrow,
online reads as compact JSON (the hot path skips FastAPI's response encoding)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lakebed.errors import InvalidArgument
from lakebed.server.routers._common import ARROW_BODY, ARROW_RESPONSE, arrow_body, arrow_response

_orjson: Any
try:  # a server extra: Rust-speed JSON (formatting 50 floats: 32 us with json, ~3 us here)
    import orjson as _orjson
except ImportError:  # pragma: no cover - the server extra installs it
    _orjson = None
# NaN and infinities become null either way; datetimes and keys as the json module writes them
_ORJSON_OPTS = 0 if _orjson is None else _orjson.OPT_NON_STR_KEYS | _orjson.OPT_PASSTHROUGH_DATETIME

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
    return Response(json_bytes(payload), media_type="application/json")


def json_bytes(payload: Any) -> bytes:
    """``payload`` as compact JSON (orjson when installed, else the json module)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(payload, default=_default, option=_ORJSON_OPTS)
        except TypeError:  # e.g. an integer beyond 64 bits: the json module writes it
            pass
    try:
        body = json.dumps(payload, default=_default, separators=(",", ":"), allow_nan=False)
    except ValueError:
        body = json.dumps(_finite(payload), default=_default, separators=(",", ":"))
    return body.encode()


def fast_route(auth: Auth, metrics: Metrics, max_body: int, route: str, area: str,
               work: Callable[[Any, str | None], bytes]) -> Any:
    """A hot POST route as a bare ASGI handler in front of FastAPI: the same key check
    (scope ``read`` on ``area``, and on the path's name when there is one), body limit,
    error bodies and request metrics as the documented route, without routing, middleware
    and thread-pool hops. ``work(payload, name)`` gets the parsed JSON body and returns the
    response body; ``handle(scope, receive, send, name=None)`` is the ASGI entry."""
    from lakebed.errors import LakebedError
    from lakebed.server._errors import error_body, invalid_request, status_for

    async def handle(scope: dict[str, Any], receive: Any, send: Any, name: str | None = None) -> None:
        t0 = time.perf_counter()
        status = 200
        try:
            authorization = x_api_key = None
            for hname, value in scope["headers"]:
                if hname == b"authorization":
                    authorization = value.decode("latin-1")
                elif hname == b"x-api-key":
                    x_api_key = value.decode("latin-1")
            key = auth.verify(auth.secret(authorization, x_api_key)) if auth.required else None
            if key is not None:
                key.allows("read", area, name)
            chunks = []
            size = 0
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_body:
                    raise InvalidArgument(f"request body over the limit of {max_body} bytes")
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
            try:
                raw = b"".join(chunks)
                payload = _orjson.loads(raw) if _orjson is not None else json.loads(raw)
            except ValueError as exc:
                raise InvalidArgument(f"malformed JSON body: {exc}") from None
            response = work(payload, name)
        except LakebedError as exc:
            status = status_for(exc)
            response = json.dumps(error_body(exc)).encode()
        except Exception as exc:  # pydantic's ValidationError and friends: the client's fault
            from pydantic import ValidationError

            if not isinstance(exc, ValidationError):
                raise
            status = 422
            response = json.dumps(error_body(invalid_request(exc.errors(), ("body",)))).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(response)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": response})
        metrics.observe_request("POST", route, status, time.perf_counter() - t0)

    return handle


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
