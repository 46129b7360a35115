"""Catalog tables of the features area (owned by src/lakebed/features/).

Revision ID: 0003_features
Revises: 0002_vectors
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_features"
down_revision = "0002_vectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_registry",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("spec", sa.JSON, nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "feature_materializations",
        sa.Column("view", sa.String(200), primary_key=True),
        sa.Column("view_version", sa.Integer, nullable=False),
        sa.Column("last_end", sa.Float, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "feature_training_sets",
        sa.Column("table_name", sa.String(300), primary_key=True),
        sa.Column("table_version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "feature_meta",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("feature_meta")
    op.drop_table("feature_training_sets")
    op.drop_table("feature_materializations")
    op.drop_table("feature_registry")
