"""The lakebed exception tree.

Every failure a user can cause raises a subclass of :class:`LakebedError`, with a
message that says what was wrong and what to do about it. Catch the root to handle
everything, or a leaf to handle one case::

    LakebedError
    ├── InvalidArgument          bad input: wrong type, wrong dimension, NaN, malformed filter
    │   ├── SchemaError          columns or types that do not fit a table or a feature view
    │   ├── FilterError          a payload filter that cannot be compiled
    │   └── QualityError         rows that break a table's data contract (nothing was written)
    ├── NotFound                 no such table, collection, feature, run, model, version
    ├── AlreadyExists            the name is taken
    ├── ConflictError            a concurrent change or a rule that the request would break
    │   └── LockedError          another process holds the lake's writer lock
    ├── ReadOnlyError            a write on a lake opened with read_only=True
    ├── BackendUnavailable       PostgreSQL, Redis or the server cannot be reached
    ├── MissingExtra             an optional dependency is not installed
    ├── CorruptionError          stored data fails a checksum or cannot be decoded
    └── AuthError                a missing, wrong or revoked API key (server and client)
        └── PermissionDenied     the key lacks the scope or grant for the request

Example:
    >>> import lakebed
    >>> try:
    ...     lakebed.errors.raise_missing_extra("sentence_transformers", "embed")
    ... except lakebed.LakebedError as exc:
    ...     print(type(exc).__name__)
    MissingExtra
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "AuthError",
    "BackendUnavailable",
    "ConflictError",
    "CorruptionError",
    "FilterError",
    "InvalidArgument",
    "LakebedError",
    "LockedError",
    "MissingExtra",
    "NotFound",
    "PermissionDenied",
    "QualityError",
    "ReadOnlyError",
    "SchemaError",
    "raise_missing_extra",
]


class LakebedError(Exception):
    """Root of every error lakebed raises on purpose."""


class InvalidArgument(LakebedError, ValueError):
    """An argument has the wrong type, shape or value."""


class SchemaError(InvalidArgument):
    """Columns or types that do not fit the target's schema."""


class FilterError(InvalidArgument):
    """A payload filter that is malformed or does not fit the field's type."""


class QualityError(InvalidArgument):
    """A write broke the table's data contract (``on_violation="reject"``): nothing was
    written. ``result`` is the stored :class:`lakebed.quality.ValidationResult` naming each
    failed check with its failing count and example rows."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class NotFound(LakebedError, KeyError):
    """The named object does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class AlreadyExists(LakebedError):
    """An object of that name exists already."""


class ConflictError(LakebedError):
    """The request conflicts with a concurrent change or with a rule of the lake."""


class LockedError(ConflictError):
    """Another process holds the lake's writer lock."""


class ReadOnlyError(LakebedError):
    """A write was attempted on a lake opened read-only."""


class BackendUnavailable(LakebedError):
    """An external service (PostgreSQL, Redis, the lakebed server) cannot be reached."""


class MissingExtra(LakebedError, ImportError):
    """An optional dependency is not installed."""


class CorruptionError(LakebedError):
    """Stored data fails its checksum or cannot be decoded."""


class AuthError(LakebedError):
    """The request carries no valid API key."""


class PermissionDenied(AuthError):
    """The API key lacks the scope or grant the request needs."""


def raise_missing_extra(module: str, extra: str) -> None:
    """Raise :class:`MissingExtra` naming the ``pip install`` that fixes it."""
    raise MissingExtra(
        f"the optional dependency {module!r} is not installed; "
        f"install it with: pip install 'lakebed[{extra}]'"
    )


def require(module: str, extra: str) -> object:
    """Import ``module`` or raise :class:`MissingExtra` naming the extra to install.

    Example:
        >>> np = require("numpy", "core")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise_missing_extra(module, extra)
        raise  # unreachable; keeps type checkers content
