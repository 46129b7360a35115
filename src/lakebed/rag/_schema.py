"""Catalog table of the rag area: one row per ingested document and collection.

The row remembers the file's content hash and the ids of the chunks it produced, so
that re-ingesting skips an unchanged file and replaces exactly the chunks of a changed
one.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakebed.catalog.schema import metadata

rag_documents = sa.Table(
    "rag_documents",
    metadata,
    sa.Column("collection", sa.String(200), primary_key=True),
    sa.Column("source", sa.String(1000), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("title", sa.Text, nullable=True),
    sa.Column("chunk_ids", sa.JSON, nullable=False),
    sa.Column("n_chunks", sa.Integer, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("chunking", sa.JSON, nullable=True),
    sa.Column("embedder", sa.String(200), nullable=True),
    sa.Column("ingested_at", sa.Float, nullable=False),
    sa.Column("properties", sa.JSON, nullable=True),
)
