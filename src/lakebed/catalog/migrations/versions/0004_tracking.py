"""Catalog tables of the tracking area (owned by src/lakebed/tracking/).

Revision ID: 0004_tracking
Revises: 0003_features
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0004_tracking"
down_revision = "0003_features"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
