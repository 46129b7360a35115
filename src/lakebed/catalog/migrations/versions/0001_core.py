"""Core catalog: lake metadata, tables, lineage edges.

Revision ID: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lake_meta",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
    )
    op.create_table(
        "tables",
        sa.Column("namespace", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("partition_by", sa.JSON, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("properties", sa.JSON, nullable=True),
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("src", sa.String(500), nullable=False),
        sa.Column("dst", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("properties", sa.JSON, nullable=True),
        sa.UniqueConstraint("src", "dst", "kind", name="uq_lineage_edge"),
    )
    op.create_index("ix_lineage_edges_src", "lineage_edges", ["src"])
    op.create_index("ix_lineage_edges_dst", "lineage_edges", ["dst"])


def downgrade() -> None:
    op.drop_table("lineage_edges")
    op.drop_table("tables")
    op.drop_table("lake_meta")
