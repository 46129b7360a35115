"""The one place where lakebed's error tree meets HTTP status codes."""

from __future__ import annotations

from typing import Any

from lakebed import errors as e

# Most specific first.
STATUS: list[tuple[type[e.LakebedError], int]] = [
    (e.PermissionDenied, 403),
    (e.AuthError, 401),
    (e.NotFound, 404),
    (e.AlreadyExists, 409),
    (e.LockedError, 423),
    (e.ConflictError, 409),
    (e.ReadOnlyError, 403),
    (e.InvalidArgument, 400),
    (e.BackendUnavailable, 503),
    (e.MissingExtra, 501),
    (e.CorruptionError, 500),
    (e.LakebedError, 400),
]


def status_for(exc: e.LakebedError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: BaseException, type_name: str | None = None) -> dict[str, dict[str, Any]]:
    """``{"error": {"type", "message", "bases"}}``; ``bases`` lets a client that does not
    know an area's own error class raise its nearest known ancestor."""
    bases = [c.__name__ for c in type(exc).__mro__[1:] if isinstance(c, type) and issubclass(c, e.LakebedError)]
    return {"error": {"type": type_name or type(exc).__name__, "message": str(exc), "bases": bases}}


def _all_errors(cls: type[e.LakebedError]) -> dict[str, type[e.LakebedError]]:
    out = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        out.update(_all_errors(sub))
    return out


def error_class(type_name: str, bases: list[str] | None = None) -> type[e.LakebedError]:
    """The LakebedError subclass named in an error body, else its nearest known base."""
    known = _all_errors(e.LakebedError)
    for name in [type_name, *(bases or [])]:
        if name in known:
            return known[name]
    return e.LakebedError


def invalid_request(errors: Any, loc_prefix: tuple[str, ...] = ()) -> e.InvalidArgument:
    """The InvalidArgument for a request that failed validation: ``loc: msg`` per error
    (pydantic's error dicts; ``loc_prefix`` adds FastAPI's leading ``body``)."""
    details = "; ".join(
        f"{'.'.join(str(p) for p in (*loc_prefix, *err.get('loc', ())))}: {err.get('msg')}" for err in errors
    )
    return e.InvalidArgument(f"invalid request: {details}")
