"""Catalog tables of the rag area (owned by src/lakebed/rag/).

Revision ID: 0005_rag
Revises: 0004_tracking
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005_rag"
down_revision = "0004_tracking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
