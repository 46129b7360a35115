"""What the routers share: Arrow IPC bodies and answers, compact JSON (orjson), and
:func:`fast_route`, the bare ASGI handler of the hot POST routes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from fastapi import Request
from fastapi.responses import Response

from lakebed._wire import ARROW_STREAM, ipc_to_table, table_to_ipc
from lakebed.errors import InvalidArgument, LakebedError, PermissionDenied

if TYPE_CHECKING:
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics

_orjson: Any
try:  # a server extra: Rust-speed JSON (formatting 50 floats: 32 us with json, ~3 us here)
    import orjson as _orjson
except ImportError:  # pragma: no cover - the server extra installs it
    _orjson = None
# NaN and infinities become null either way; datetimes and keys as the json module writes them
_ORJSON_OPTS = 0 if _orjson is None else _orjson.OPT_NON_STR_KEYS | _orjson.OPT_PASSTHROUGH_DATETIME


def key_allows(key: Any, scope: str, area: str, name: str | None) -> bool:
    """Whether ``key``'s grants name ``area:name`` for ``scope`` (no key, or a key without
    grants: yes; the route's own dependency has checked the scope). Lists use it to keep
    only what the key may see."""
    if key is None or not key.grants:
        return True
    try:
        key.allows(scope, area, name)
    except PermissionDenied:
        return False
    return True


def arrow_response(table: pa.Table) -> Response:
    return Response(table_to_ipc(table), media_type=ARROW_STREAM)


async def arrow_body(request: Request) -> pa.Table:
    """The request's Arrow IPC body, or its JSON rows (``{"rows": [...]}``) as a table."""
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        from lakebed.tables import to_arrow

        try:
            payload: Any = json.loads(body or b"null")
        except ValueError as exc:
            raise InvalidArgument(f"malformed JSON body: {exc}") from None
        rows = payload.get("rows") if isinstance(payload, dict) else None
        if not isinstance(rows, list):
            raise InvalidArgument('a JSON body must be {"rows": [{...}, ...]}')
        result = to_arrow(rows)
        return result.read_all() if isinstance(result, pa.RecordBatchReader) else result
    return ipc_to_table(body)


ARROW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"rows": {"type": "array", "items": {"type": "object"}}},
                    "required": ["rows"],
                }
            },
        },
    }
}
ARROW_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}}
}


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
    from lakebed._wire import error_body, invalid_request, status_for

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
            if auth.required:
                auth.check(auth.secret(authorization, x_api_key), "read", area, name, scope.get("client"), "POST",
                           scope["path"])
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
