"""Catalog tables of the vectors area (owned by src/lakebed/vectors/).

Revision ID: 0002_vectors
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_vectors"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vector_collections",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(20), nullable=False),
        sa.Column("index_config", sa.JSON, nullable=False),
        sa.Column("quantization", sa.String(20), nullable=True),
        sa.Column("text_field", sa.Boolean, nullable=False),
        sa.Column("embedder", sa.String(200), nullable=True),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("properties", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("vector_collections")
