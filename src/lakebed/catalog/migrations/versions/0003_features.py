"""Catalog tables of the features area (owned by src/lakebed/features/).

Revision ID: 0003_features
Revises: 0002_vectors
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_features"
down_revision = "0002_vectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
