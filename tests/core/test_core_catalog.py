from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import lakebed
from lakebed.catalog import Catalog, schema


def test_catalog_migrates_to_head_on_both_backends(catalog_url: str | None, lake_path) -> None:
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        head = lake.catalog.current_revision()
        assert head is not None
        lake.catalog.migrate()  # idempotent
        assert lake.catalog.current_revision() == head
        assert lake.catalog.dialect == ("sqlite" if catalog_url is None else "postgresql")
        names = set(sa.inspect(lake.catalog.engine).get_table_names())
        assert {"lake_meta", "tables", "lineage_edges", "alembic_version"} <= names


def test_tables_are_registered_in_the_catalog(catalog_url: str | None, lake_path) -> None:
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        lake.tables.create("silver.users", schema={"id": "int64"}, description="people")
        with lake.catalog.connect() as conn:
            rows = conn.execute(sa.select(schema.tables)).mappings().all()
        assert [(r["namespace"], r["name"], r["description"]) for r in rows] == [("silver", "users", "people")]
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        assert lake.tables.list() == ["silver.users"]


def test_lineage_edges_are_idempotent(catalog_url: str | None, lake_path) -> None:
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        for _ in range(3):
            lake.catalog.add_lineage("table:bronze.a@0", "table:silver.a@0", "derived", {"by": "test"})
        with lake.catalog.connect() as conn:
            edges = conn.execute(sa.select(schema.lineage_edges)).mappings().all()
        assert len(edges) == 1
        assert edges[0]["properties"] == {"by": "test"}


def test_failed_transaction_rolls_back(catalog_url: str | None, lake_path) -> None:
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        with pytest.raises(RuntimeError), lake.catalog.begin() as conn:
            conn.execute(schema.lake_meta.insert().values(key="k", value={"v": 1}))
            raise RuntimeError("boom")
        with lake.catalog.connect() as conn:
            assert conn.execute(sa.select(schema.lake_meta)).first() is None


def test_unreachable_postgres_is_backend_unavailable() -> None:
    with pytest.raises(lakebed.BackendUnavailable, match="cannot reach the catalog"):
        Catalog("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")


def test_unsupported_catalog_url() -> None:
    with pytest.raises(lakebed.InvalidArgument, match="unsupported catalog URL"):
        lakebed.connect(":memory:", catalog="mysql://x")


@pytest.mark.parametrize(("fsync", "level"), [("always", 2), ("batch", 1), ("never", 1)])
def test_sqlite_catalog_sync_level_follows_fsync(tmp_path: Path, fsync: str, level: int) -> None:
    """fsync="always" makes every catalog commit (runs, models, lineage, keys) FULL-synchronous."""
    with lakebed.connect(tmp_path / "lake", fsync=fsync) as lk, lk.catalog.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
