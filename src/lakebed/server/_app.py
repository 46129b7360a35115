"""The FastAPI application: one router per area, API keys, errors, metrics."""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from lakebed._wire import error_body, invalid_request, status_for
from lakebed.errors import AuthError, InvalidArgument, LakebedError, PermissionDenied
from lakebed.server import _keys
from lakebed.server._metrics import Metrics

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._workers import ChangeLog

DEFAULT_MAX_BODY = 256 * 1024 * 1024


class BodyTooLarge(InvalidArgument):
    """A request body over the server's limit."""


log = logging.getLogger("lakebed.server")
_KEY_ID = re.compile(r"[0-9a-f]{12}")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on loopback only: an address, or a name every
    address of which (as resolved now) is a loopback address. The empty host, wildcards
    (``0.0.0.0``, ``::``) and names that do not resolve are not.

    Example:
        >>> [is_loopback(h) for h in ("127.0.0.1", "[::1]", "localhost", "", "0.0.0.0", "::", "0")]
        [True, True, True, False, False, False, False]
    """
    if not isinstance(host, str) or not host:
        return False
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(literal).is_loopback
    except ValueError:
        pass
    try:  # a name, or a short form such as "0" or "127.1" that the resolver reads as an address
        infos = socket.getaddrinfo(literal, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return False
    addresses = {info[4][0] for info in infos}
    try:
        return bool(addresses) and all(ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback
                                       for a in addresses)
    except ValueError:
        return False


class FastRoutes:
    """Hot POST routes answered in front of FastAPI: path template -> handler(scope,
    receive, send[, name]); a template holds at most one "{name}" (a name has no slash)."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.exact = {t: h for t, h in table.items() if "{name}" not in t}
        self.named = [(*t.split("{name}"), h) for t, h in table.items() if "{name}" in t]

    def match(self, path: str) -> tuple[Any, str | None] | None:
        """The handler of ``path`` and the name in it, or None.

        Example:
            >>> routes = FastRoutes({"/a": 1, "/c/{name}/s": 2})
            >>> routes.match("/c/docs/s"), routes.match("/a"), routes.match("/c/x/y/s")
            ((2, 'docs'), (1, None), None)
        """
        handler = self.exact.get(path)
        if handler is not None:
            return handler, None
        for head, tail, handler in self.named:
            if path.startswith(head) and path.endswith(tail):
                name = path[len(head): len(path) - len(tail)]
                if name and "/" not in name:
                    return handler, name
        return None


def hot_routes(lake: Lake, auth: Auth, metrics: Metrics, max_body: int) -> FastRoutes:
    """The routes answered in front of FastAPI, by the writer and by read workers alike."""
    from lakebed.server.routers.collections import fast_search
    from lakebed.server.routers.features import fast_online

    return FastRoutes({
        "/v1/features/online": fast_online(lake, auth, metrics, max_body),
        "/v1/collections/{name}/search": fast_search(lake, auth, metrics, max_body),
    })


class _Gate:
    """Pure ASGI middleware: request metrics and the body size limit (cheaper than
    Starlette's BaseHTTPMiddleware on the hot path of online reads), the fast routes, and
    (with read workers) the change log written before a write is answered."""

    def __init__(self, app: Any, metrics: Metrics, max_body: int, fast: FastRoutes,
                 on_write: Callable[[str, str], None] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.fast = fast
        self.on_write = on_write

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                await _too_large(send, self.max_body)
                return
        if scope["method"] == "POST":
            match = self.fast.match(scope["path"])
            if match is not None:
                handler, name = match
                await handler(scope, receive, send, name)
                return
        seen = 0
        status = {"code": 500}

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(f"request body over {self.max_body} bytes")
            return message

        async def capture_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if self.on_write is not None:  # before the client can see the answer
                    self.on_write(scope["method"], scope["path"])
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, limited_receive, capture_send)
        except BodyTooLarge:
            await _too_large(send, self.max_body)
            status["code"] = 413
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], path, status["code"], time.perf_counter() - t0)


async def _too_large(send: Any, limit: int) -> None:
    body = JSONResponse(
        error_body(InvalidArgument(f"request body over the limit of {limit} bytes; send smaller batches"),
                   "InvalidArgument"),
        status_code=413,
    )
    await send({"type": "http.response.start", "status": 413, "headers": body.raw_headers})
    await send({"type": "http.response.body", "body": body.body})


class Auth:
    """Per-request API key check. A lake that never had a key is served open (and
    ``serve`` binds to loopback only); once it had one, every request needs a valid key,
    even after every key is revoked (:func:`lakebed.server.keys.auth_required`, the one
    source the writer and the read workers decide from).

    Verified keys are cached in the process. That is exact, not approximate: while the
    server runs it holds the lake's writer lock, so keys change only through its own
    ``/v1/keys`` routes, which call :meth:`refresh` (read workers do when the change log
    says keys changed). Refused requests are logged (warning, logger ``lakebed.server``)
    with the client, the path and the key id, never the secret."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.required = _keys.auth_required(lake)
        self._cache: dict[str, _keys.ApiKey] = {}

    def refresh(self) -> None:
        """Keys changed: drop the verified keys; closed stays closed."""
        self._cache.clear()
        if not self.required:
            self.required = _keys.auth_required(self.lake)

    def verify(self, secret: str | None) -> _keys.ApiKey | None:
        if not self.required:
            return None
        if secret is not None:
            key = self._cache.get(secret)
            if key is not None:
                return key
        key = _keys.verify(self.lake, secret)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[secret or ""] = key
        return key

    def check(self, secret: str | None, scope: str, area: str | None, name: str | None,
              client: Any, method: str, path: str) -> _keys.ApiKey | None:
        """The request's key, checked for ``scope`` and a grant on ``area:name``; an
        AuthError (401) or PermissionDenied (403) is logged, then raised."""
        if not self.required:
            return None
        try:
            key = self.verify(secret)
            if key is not None:
                key.allows(scope, area, name)
            return key
        except AuthError as exc:
            log_refusal(exc, secret, client, method, path)
            raise

    @staticmethod
    def secret(authorization: str | None, x_api_key: str | None) -> str | None:
        header = authorization or ""
        return header[7:].strip() if header[:7].lower() == "bearer " else x_api_key

    def need(self, scope: str, area: str | None = None, name_param: str | None = None) -> Any:
        """A FastAPI dependency requiring ``scope`` (and a grant on the path's name).
        Async, so that it runs on the event loop without a thread-pool hop."""

        async def dependency(request: Request) -> _keys.ApiKey | None:
            if not self.required:
                return None
            h = request.headers
            name = request.path_params.get(name_param) if name_param else None
            return self.check(self.secret(h.get("authorization"), h.get("x-api-key")), scope, area, name,
                              request.scope.get("client"), request.method, request.url.path)

        return Depends(dependency)


def log_refusal(exc: AuthError, secret: str | None, client: Any, method: str, path: str) -> None:
    """One warning line per refused request: status, client, request, key id (only when
    the key has the form of one; never the secret) and the reason. Text the client chose
    is quoted with ``%r`` so it cannot forge log lines."""
    parts = (secret or "").split("_", 2)
    key_id = parts[1] if len(parts) == 3 and parts[0] == "lb" and _KEY_ID.fullmatch(parts[1]) else "-"
    status = 403 if isinstance(exc, PermissionDenied) else 401
    host = client[0] if isinstance(client, list | tuple) and client and client[0] else "-"  # "-": a Unix socket
    log.warning("refused %d from %s: %s %r key_id=%s: %r", status, host, method, path, key_id, str(exc))


def create_app(lake: Lake, *, max_body_bytes: int = DEFAULT_MAX_BODY, changes: ChangeLog | None = None,
               public_metrics: bool = False) -> FastAPI:
    """Build the app serving ``lake``. ``changes`` (set by ``serve`` with read workers)
    records what each write may change before it is answered, and ``/metrics`` adds the
    read workers' samples. ``/metrics`` (names and sizes of every table and collection)
    needs a key with the ``metrics`` scope (or ``read`` and above) unless
    ``public_metrics``.

    Example:
        >>> import lakebed
        >>> from lakebed.server import create_app
        >>> with lakebed.connect(":memory:") as lake:
        ...     app = create_app(lake)
        ...     sorted(r.path for r in app.routes if getattr(r, "path", "").startswith("/he"))
        ['/health']
    """
    from lakebed import __version__

    app = FastAPI(
        title="lakebed",
        version=__version__,
        description="The lakebed REST API: tables, collections, features, streams, runs, models, lineage.",
    )
    metrics = Metrics(lake, merge_dir=changes.dir if changes is not None else None)
    auth = Auth(lake)
    app.state.lake = lake
    app.state.auth = auth
    app.state.metrics = metrics

    @app.exception_handler(LakebedError)
    async def lakebed_error(_request: Request, exc: LakebedError) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):  # a body without content-length, over the limit while read
            return JSONResponse(error_body(exc, "InvalidArgument"), status_code=413)
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) and status == 401 else None
        return JSONResponse(error_body(exc), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(invalid_request(exc.errors())), status_code=422)

    @app.get("/health", tags=["ops"], summary="Liveness (and which server process answered: 0 is the writer)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "worker": 0}

    @app.get("/ready", tags=["ops"], summary="Readiness: the catalog answers")
    def ready() -> JSONResponse:
        try:
            with lake.catalog.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:  # readiness reports, never raises
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    metrics_auth = [] if public_metrics else [auth.need(_keys.METRICS)]

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics (a key with the metrics scope, or read)",
             dependencies=metrics_auth)
    def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    from lakebed.server.routers import include_all

    include_all(app, lake, auth, metrics)
    from lakebed.server.routers import streams as stream_routes

    app.include_router(stream_routes.router(lake, auth, metrics))
    from lakebed.ui import mount as mount_ui

    mount_ui(app, lake, auth)
    wrapped_app = app.build_middleware_stack

    fast = hot_routes(lake, auth, metrics, max_body_bytes)
    on_write = None
    if changes is not None:
        from lakebed.server._workers import write_scope

        def on_write(method: str, path: str) -> None:
            what = write_scope(method, path)
            if what is not None:
                changes.bump(what)

    def build_stack() -> Any:
        return _Gate(wrapped_app(), metrics, max_body_bytes, fast, on_write)

    app.build_middleware_stack = build_stack  # type: ignore[method-assign]
    return app
