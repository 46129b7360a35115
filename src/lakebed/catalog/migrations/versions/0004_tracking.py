"""Catalog tables of the tracking area (owned by src/lakebed/tracking/).

Runs, their params, tags, metric series (plus the latest point per key, for search),
artifacts, captured package environments, and the model registry. Mirrors
``lakebed/tracking/_schema.py``.

Revision ID: 0004_tracking
Revises: 0003_features
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_tracking"
down_revision = "0003_features"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("experiment", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_time", sa.Float, nullable=False),
        sa.Column("end_time", sa.Float, nullable=True),
        sa.Column("user", sa.String(200), nullable=True),
        sa.Column("host", sa.String(200), nullable=True),
        sa.Column("python_version", sa.String(50), nullable=True),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("git_dirty", sa.Boolean, nullable=True),
        sa.Column("environment", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_runs_experiment", "runs", ["experiment"])
    op.create_index("ix_runs_start_time", "runs", ["start_time"])
    for name in ("run_params", "run_tags"):
        op.create_table(
            name,
            sa.Column("run_id", sa.String(32), primary_key=True),
            sa.Column("key", sa.String(250), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    # search filters on params/tags select by (key, value); on PostgreSQL a btree over
    # unbounded text fails for values past ~2.7 kB, so there only the key is indexed
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in ("run_params", "run_tags"):
        cols = ["key", "value"] if sqlite else ["key"]
        op.create_index(f"ix_{name}_key_value", name, cols)
    op.create_table(
        "run_metrics",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_run_metrics_run_key", "run_metrics", ["run_id", "key"])
    op.create_table(
        "run_latest_metrics",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_run_latest_metrics_key_value", "run_latest_metrics", ["key", "value"])
    op.create_table(
        "run_artifacts",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(250), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("flavor", sa.String(50), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("properties", sa.JSON, nullable=True),
    )
    op.create_table(
        "tracking_environments",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("packages", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "models",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("artifact", sa.String(250), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("flavor", sa.String(50), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("properties", sa.JSON, nullable=True),
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("alias", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "model_aliases",
        "model_versions",
        "models",
        "tracking_environments",
        "run_artifacts",
        "run_latest_metrics",
        "run_metrics",
        "run_tags",
        "run_params",
        "runs",
    ):
        op.drop_table(name)
