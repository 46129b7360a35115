"""Catalog tables of the server area (owned by src/lakebed/server/).

Revision ID: 0006_server
Revises: 0005_rag
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006_server"
down_revision = "0005_rag"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
