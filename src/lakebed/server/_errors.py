"""The one place where lakebed's error tree meets HTTP status codes."""

from __future__ import annotations

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


def error_body(exc: BaseException, type_name: str | None = None) -> dict[str, dict[str, str]]:
    return {"error": {"type": type_name or type(exc).__name__, "message": str(exc)}}


def error_class(type_name: str) -> type[e.LakebedError]:
    """The LakebedError subclass named in an error body (the root for unknown names)."""
    cls = getattr(e, type_name, None)
    if isinstance(cls, type) and issubclass(cls, e.LakebedError):
        return cls
    return e.LakebedError
