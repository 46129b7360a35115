"""Catalog tables of the quality area: contracts (versioned), validation results, profiles.

Revision ID: 0007_quality
Revises: 0006_server
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_quality"
down_revision = "0006_server"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_contracts",
        sa.Column("target", sa.String(300), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("spec", sa.JSON, nullable=True),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "quality_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("table_version", sa.Integer, nullable=True),
        sa.Column("contract_version", sa.Integer, nullable=True),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )
    op.create_index("ix_quality_results_target", "quality_results", ["target"])
    op.create_index("ix_quality_results_created_at", "quality_results", ["created_at"])
    op.create_table(
        "quality_profiles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("table_version", sa.Integer, nullable=True),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_quality_profiles_target", "quality_profiles", ["target"])


def downgrade() -> None:
    op.drop_table("quality_profiles")
    op.drop_table("quality_results")
    op.drop_table("quality_contracts")
