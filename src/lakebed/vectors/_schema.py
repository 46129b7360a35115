"""Catalog table of the vectors area: one row per collection (its configuration).

The collection's data and its versions live in the lake directory
(``collections/<name>/``: wal, segments, manifests); the catalog only registers it, so
that searches never touch the catalog.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakebed.catalog.schema import metadata

vector_collections = sa.Table(
    "vector_collections",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("metric", sa.String(20), nullable=False),
    sa.Column("index_config", sa.JSON, nullable=False),
    sa.Column("quantization", sa.String(20), nullable=True),
    sa.Column("text_field", sa.Boolean, nullable=False, default=False),
    sa.Column("embedder", sa.String(200), nullable=True),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("properties", sa.JSON, nullable=True),
)
