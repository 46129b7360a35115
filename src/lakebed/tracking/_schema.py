"""Catalog tables of the tracking area, on the shared catalog ``metadata``.

They are created by the Alembic migration ``0004_tracking``; keep both in step.
Metric points go to ``run_metrics`` (the full, append-only series) and the latest
point of each (run, key) is kept in ``run_latest_metrics`` so that search and ordering
on ``metrics.x`` is one indexed lookup per run, not an aggregate over the series.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakebed.catalog.schema import metadata

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("experiment", sa.String(200), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("start_time", sa.Float, nullable=False, index=True),
    sa.Column("end_time", sa.Float, nullable=True),
    sa.Column("user", sa.String(200), nullable=True),
    sa.Column("host", sa.String(200), nullable=True),
    sa.Column("python_version", sa.String(50), nullable=True),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("git_dirty", sa.Boolean, nullable=True),
    sa.Column("environment", sa.String(64), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

# (key, value) on SQLite; on PostgreSQL the migration indexes the key only (see there)
run_params = sa.Table(
    "run_params",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_run_params_key_value", "key", "value"),
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_run_tags_key_value", "key", "value"),
)

# value NULL stands for NaN: SQLite stores NaN as NULL, so both catalogs do the same.
run_metrics = sa.Table(
    "run_metrics",
    metadata,
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Index("ix_run_metrics_run_key", "run_id", "key"),
)

run_latest_metrics = sa.Table(
    "run_latest_metrics",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Index("ix_run_latest_metrics_key_value", "key", "value"),
)

run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(250), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("flavor", sa.String(50), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("properties", sa.JSON, nullable=True),
)

environments = sa.Table(
    "tracking_environments",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("packages", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
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

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
