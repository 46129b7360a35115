"""Fixtures of the feature store tests."""

from __future__ import annotations

import pytest
from features_helpers import definitions, transactions


@pytest.fixture
def tx_lake(lake):
    lake.tables.create("silver.transactions", data=transactions())
    lake.features.apply(list(definitions()))
    return lake


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def online_url(request: pytest.FixtureRequest) -> str | None:
    """Each online store backend: None (embedded SQLite), a Redis URL, a PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return str(request.getfixturevalue("pg_url"))
