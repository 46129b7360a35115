"""The catalog: the single metadata store of a lake (SQLAlchemy Core over SQLite or
PostgreSQL, schema migrations with Alembic).

Example:
    >>> import tempfile
    >>> cat = Catalog(f"sqlite:///{tempfile.mkdtemp()}/catalog.db")
    >>> cat.migrate()
    >>> with cat.begin() as conn:
    ...     cat.add_lineage("table:bronze.events@1", "table:silver.events@1", "derived", conn=conn)
    >>> cat.close()
"""

from lakebed.catalog._catalog import Catalog, normalize_url
from lakebed.catalog.schema import metadata

__all__ = ["Catalog", "metadata", "normalize_url"]
