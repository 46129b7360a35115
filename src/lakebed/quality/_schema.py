"""Catalog tables of the quality area (created by migration ``0007_quality``).

- ``quality_contracts``: every version of every table's data contract (a JSON spec); the
  newest version is in force unless it is a deletion marker.
- ``quality_results``: every validation: the table and version it judged (None for a
  rejected write, which made no version), the contract version, the verdict, the action
  taken and each check's outcome with failing counts and example rows.
- ``quality_profiles``: column profiles, stored with the table version they describe.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakebed.catalog.schema import metadata

contracts = sa.Table(
    "quality_contracts",
    metadata,
    sa.Column("target", sa.String(300), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("spec", sa.JSON, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

results = sa.Table(
    "quality_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(300), nullable=False, index=True),
    sa.Column("table_version", sa.Integer, nullable=True),
    sa.Column("contract_version", sa.Integer, nullable=True),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("checks", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("duration_ms", sa.Float, nullable=False),
)

profiles = sa.Table(
    "quality_profiles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(300), nullable=False, index=True),
    sa.Column("table_version", sa.Integer, nullable=True),
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
