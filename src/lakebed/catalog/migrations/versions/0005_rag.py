"""Catalog tables of the rag area (owned by src/lakebed/rag/).

Revision ID: 0005_rag
Revises: 0004_tracking
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_rag"
down_revision = "0004_tracking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Mirrors lakebed.rag._schema.rag_documents (ingested documents per collection).
    op.create_table(
        "rag_documents",
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


def downgrade() -> None:
    op.drop_table("rag_documents")
