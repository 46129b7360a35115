"""Versioned tables on Delta Lake: write, merge, delete, history, time travel, SQL.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     lake.tables.create("bronze.events", data=[{"id": 1}])
    ...     lake.tables.history("bronze.events")[0]["version"]
    0
    0
"""

from typing import TYPE_CHECKING

from lakebed._lazy import lazy_exports
from lakebed._names import parse_name
from lakebed.tables._arrow import storage_schema, storage_type, to_arrow
from lakebed.tables._files import open_file

if TYPE_CHECKING:
    from lakebed.tables._tables import Tables

# The engine classes load on first use: the HTTP client imports this package for its
# light types without loading the engine.
__getattr__ = lazy_exports(
    __name__,
    {
        "Tables": "lakebed.tables._tables",
    },
)

__all__ = ["Tables", "open_file", "parse_name", "storage_schema", "storage_type", "to_arrow"]
