"""lakebed: the data layer for AI applications.

Versioned tables, vector collections with filtered and hybrid search, a feature store
with point-in-time correct training sets and an online store, and ML metadata, in one
embedded package.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     lake.tables.create("bronze.events", data=[{"id": 1}])
    ...     lake.tables.list()
    ['bronze.events']
"""

from lakebed.errors import (
    AlreadyExists,
    AuthError,
    BackendUnavailable,
    ConflictError,
    CorruptionError,
    FilterError,
    InvalidArgument,
    LakebedError,
    LockedError,
    MissingExtra,
    NotFound,
    PermissionDenied,
    QualityError,
    ReadOnlyError,
    SchemaError,
)
from lakebed.lake import Lake, connect

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "AuthError",
    "BackendUnavailable",
    "ConflictError",
    "CorruptionError",
    "FilterError",
    "InvalidArgument",
    "Lake",
    "LakebedError",
    "LockedError",
    "MissingExtra",
    "NotFound",
    "PermissionDenied",
    "QualityError",
    "ReadOnlyError",
    "SchemaError",
    "__version__",
    "connect",
]
