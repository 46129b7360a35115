"""Catalog tables of the feature store (created by migration ``0003_features``).

- ``feature_registry``: every version of every definition (entity, view, service) as a
  JSON spec; the newest version of a name is current unless it is a deletion marker.
- ``feature_materializations``: per view, the end of the last materialization.
- ``feature_training_sets``: how each saved training-set table version was made, so
  that it can be reproduced.
- ``feature_meta``: small settings, e.g. the online store namespace of this lake.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakebed.catalog.schema import metadata

registry = sa.Table(
    "feature_registry",
    metadata,
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("spec", sa.JSON, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

materializations = sa.Table(
    "feature_materializations",
    metadata,
    sa.Column("view", sa.String(200), primary_key=True),
    sa.Column("view_version", sa.Integer, nullable=False),
    sa.Column("last_end", sa.Float, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

training_sets = sa.Table(
    "feature_training_sets",
    metadata,
    sa.Column("table_name", sa.String(300), primary_key=True),
    sa.Column("table_version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

meta = sa.Table(
    "feature_meta",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
)
