"""Versioned tables on Delta Lake: write, merge, delete, history, time travel, SQL.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     lake.tables.create("bronze.events", data=[{"id": 1}])
    ...     lake.tables.history("bronze.events")[0]["version"]
    0
    0
"""

from lakebed.tables._arrow import storage_schema, storage_type, to_arrow
from lakebed.tables._tables import Tables, parse_name

__all__ = ["Tables", "parse_name", "storage_schema", "storage_type", "to_arrow"]
