"""Core catalog tables. Each area defines its own tables beside its code, on the same
``metadata``, and creates them in its own Alembic migration (see ``migrations/versions``).

Times are stored as float seconds since the epoch (UTC) so that SQLite and PostgreSQL
agree to the microsecond; free-form properties are JSON.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

lake_meta = sa.Table(
    "lake_meta",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
)

tables = sa.Table(
    "tables",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("partition_by", sa.JSON, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("properties", sa.JSON, nullable=True),
)

lineage_edges = sa.Table(
    "lineage_edges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("src", sa.String(500), nullable=False, index=True),
    sa.Column("dst", sa.String(500), nullable=False, index=True),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("properties", sa.JSON, nullable=True),
    sa.UniqueConstraint("src", "dst", "kind", name="uq_lineage_edge"),
)
