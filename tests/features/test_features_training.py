"""Training sets: inputs, output shape, errors, saving with lineage, reproduction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import sqlalchemy as sa
from features_helpers import T0, definitions, transactions

import lakebed
from lakebed.catalog import schema as cat
from lakebed.errors import InvalidArgument, NotFound, SchemaError
from lakebed.features import FeatureService, FeatureView, Field


def entity_rows(n: int = 50) -> pa.Table:
    return pa.table({
        "user_id": [i % 35 for i in range(n)],
        "event_timestamp": pa.array([T0 + timedelta(hours=7 * i) for i in range(n)], pa.timestamp("us", tz="UTC")),
        "label": [i % 2 for i in range(n)],
        "amount_now": [float(i) for i in range(n)],
    })


def test_pandas_polars_and_arrow_inputs_agree(tx_lake):
    ent = entity_rows()
    feats = ["user_stats:amount", "user_spend:amount_sum_7d", "tx_ratio:big_spender"]
    base = tx_lake.features.training_set(ent, feats)
    assert base.column_names == [*ent.column_names, "amount", "amount_sum_7d", "big_spender"]
    pdf = tx_lake.features.training_set(ent.to_pandas(), feats).to_pandas()
    assert pdf["amount"].tolist() == pytest.approx(base.to_pandas()["amount"].tolist(), nan_ok=True)
    import polars as pl

    pl_out = tx_lake.features.training_set(pl.from_arrow(ent), feats)
    two = ["amount", "amount_sum_7d"]
    assert pl_out.to_arrow().select(two).equals(base.to_arrow().select(two))
    full = tx_lake.features.training_set(ent, feats, full_feature_names=True)
    assert full.column_names[-3:] == ["user_stats__amount", "user_spend__amount_sum_7d", "tx_ratio__big_spender"]
    assert len(base) == 50 and base.num_rows == 50 and isinstance(pa.table(base), pa.Table)


def test_other_timestamp_column_and_naive_times(lake):
    table = transactions(n=50)
    naive = table.set_column(1, "ts", table.column("ts").cast(pa.timestamp("us")))
    naive = naive.set_column(3, "created_at", naive.column("created_at").cast(pa.timestamp("us")))
    lake.tables.create("silver.transactions", data=naive)
    user, stats, *_ = definitions()
    lake.features.apply([user, stats])
    ent = pa.table({"user_id": [1, 2], "when": pa.array([datetime(2024, 1, 30)] * 2, pa.timestamp("us"))})
    out = lake.features.training_set(ent, ["user_stats:amount"], timestamp_column="when")
    assert out.column_names == ["user_id", "when", "amount"]
    aware = ent.set_column(1, "when", ent.column("when").cast(pa.timestamp("us", tz="UTC")))
    with pytest.raises(SchemaError, match="naive"):
        lake.features.training_set(aware, ["user_stats:amount"], timestamp_column="when")


def test_bad_requests_are_clear_errors(tx_lake):
    lake = tx_lake
    ent = entity_rows()
    with pytest.raises(NotFound):
        lake.features.training_set(ent, ["nope:amount"])
    with pytest.raises(NotFound):
        lake.features.training_set(ent, ["user_stats:nope"])
    with pytest.raises(InvalidArgument):
        lake.features.training_set(ent, ["user_stats"])  # a service name that does not exist -> NotFound
    with pytest.raises(SchemaError, match="join keys"):
        lake.features.training_set(ent.drop_columns(["user_id"]), ["user_stats:amount"])
    with pytest.raises(SchemaError, match="timestamp"):
        lake.features.training_set(ent.drop_columns(["event_timestamp"]), ["user_stats:amount"])
    with pytest.raises(SchemaError):
        lake.features.training_set(ent.drop_columns(["amount_now"]), ["tx_ratio:big_spender"])
    with pytest.raises(SchemaError):
        bad = ent.set_column(0, "user_id", pa.array([str(i) for i in range(50)]))
        lake.features.training_set(bad, ["user_stats:amount"])
    with pytest.raises(InvalidArgument, match="overwrite"):
        lake.features.training_set(ent.append_column("amount", pa.array([1.0] * 50)), ["user_stats:amount"])


def test_service_and_save_with_lineage_and_reproduce(catalog_url, lake_path):
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        lake.tables.create("silver.transactions", data=transactions())
        svc = FeatureService("fraud", features=["user_stats:amount", "user_spend:amount_sum_7d",
                                                "tx_ratio:amount_vs_now"])
        lake.features.apply([*definitions(), svc])
        ts = lake.features.training_set(entity_rows(), svc)
        assert ts.feature_refs == svc.feature_refs
        assert ts.view_versions == {"user_stats": 1, "user_spend": 1, "tx_ratio": 1}
        version = ts.save("gold.train_x")
        assert version == 0
        saved = lake.tables.read("gold.train_x")
        assert saved.equals(ts.to_arrow())
        # the source moves on; the reproduction reads the recorded versions
        lake.tables.write("silver.transactions", transactions(n=100, seed=99))
        assert not lake.features.training_set(entity_rows(), svc).to_arrow().equals(saved)
        assert lake.features.reproduce_training_set("gold.train_x").equals(saved)
        with lake.catalog.connect() as conn:
            edges = {(r.src, r.dst, r.kind) for r in conn.execute(sa.select(cat.lineage_edges))}
        assert ("table:silver.transactions@0", "table:gold.train_x@0", "training_set") in edges
        assert ("featureview:user_stats@1", "table:gold.train_x@0", "training_set") in edges
        assert ("table:silver.transactions@0", "featureview:user_stats@1", "feature_source") in edges
        assert ("table:gold.train_x__entities@0", "table:gold.train_x@0", "entity_df") in edges
        props = lake.tables.info("gold.train_x")["properties"]["training_set"]
        assert props["source_versions"] == {"silver.transactions": 0}
        # saving again makes version 1; both versions stay reproducible
        ts2 = lake.features.training_set(entity_rows(), svc)
        assert ts2.save("gold.train_x") == 1
        assert lake.features.reproduce_training_set("gold.train_x", version=1).equals(ts2.to_arrow())
        assert lake.features.reproduce_training_set("gold.train_x", version=0).equals(saved)
        with pytest.raises(NotFound):
            lake.features.reproduce_training_set("silver.transactions")


def test_entity_rows_from_list_of_dicts(tx_lake):
    rows = [{"user_id": 3, "event_timestamp": datetime(2024, 1, 9, tzinfo=UTC)}] * 3
    out = tx_lake.features.training_set(rows, ["user_stats:amount"])
    assert out.num_rows == 3 and len(set(out["amount"].to_pylist())) == 1


def test_composite_join_keys_offline_and_online(lake):
    from lakebed.features import Entity, FeatureView, Field

    rows = [{"user_id": u, "merchant": m, "ts": T0 + timedelta(hours=h), "spent": float(u * 10 + h)}
            for u in range(3) for m in ("a", "b") for h in range(0, 6, 2)]
    lake.tables.create("silver.pairs", data=rows)
    user = Entity("user", join_keys=["user_id"])
    merchant = Entity("merchant", join_keys=["merchant"])
    view = FeatureView("pair", entities=[user, merchant], source="silver.pairs", timestamp_field="ts",
                       fields=[Field("spent", "float64")])
    lake.features.apply([user, merchant, view])
    ent = pa.table({"user_id": [1, 1, 2, 9], "merchant": ["a", "b", "b", "a"],
                    "event_timestamp": pa.array([T0 + timedelta(hours=3)] * 4, pa.timestamp("us", tz="UTC"))})
    off = lake.features.training_set(ent, ["pair:spent"])["spent"].to_pylist()
    assert off == [12.0, 12.0, 22.0, None]
    lake.features.materialize(end=T0 + timedelta(hours=3))
    on = lake.features.online([{"user_id": u, "merchant": m} for u, m in [(1, "a"), (1, "b"), (2, "b"), (9, "a")]],
                              ["pair:spent"], now=T0 + timedelta(hours=3))
    assert on["spent"] == off and on.status("spent") == ["present"] * 3 + ["missing"]


def test_partitioned_and_evolved_sources_give_the_same_answer(lake):
    """A partitioned table is streamed, an unpartitioned one read as Parquet: same rows."""
    user, stats, *_ = definitions()
    data = transactions()
    lake.tables.create("silver.transactions", data=data.slice(0, 200))
    lake.tables.write("silver.transactions", data.slice(200))
    lake.tables.create("silver.parted", data=data, partition_by=["merchant"])
    parted = FeatureView("parted", entities=[user], source="silver.parted", timestamp_field="ts",
                         created_timestamp_field="created_at", ttl=timedelta(days=2),
                         fields=[Field("amount", "float64"), Field("merchant", "string")])
    lake.features.apply([user, stats, parted])
    ent = entity_rows(120)
    a = lake.features.training_set(ent, ["user_stats:amount", "user_stats:merchant"]).to_arrow()
    b = lake.features.training_set(ent, ["parted:amount", "parted:merchant"]).to_arrow()
    assert a.equals(b)


@pytest.mark.parametrize("partition_by", [None, ["region"]])
def test_a_merged_source_with_string_keys_materializes_and_trains(lake, partition_by):
    """A merge rewrites files with string_view columns: both reads of the source see them."""
    from lakebed.features import Entity

    schema = pa.schema([("user", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
                        ("tier", pa.string()), ("region", pa.string())])
    rows = [{"user": f"u{i}", "ts": T0, "tier": "bronze", "region": ("eu", "us")[i % 2]} for i in range(6)]
    kw = {"partition_by": partition_by} if partition_by else {}
    lake.tables.create("silver.members", data=pa.Table.from_pylist(rows, schema=schema), **kw)
    later = T0 + timedelta(hours=1)
    updates = [{"user": u, "ts": later, "tier": "gold", "region": r} for u, r in [("u1", "us"), ("u4", "eu")]]
    lake.tables.merge("silver.members", pa.Table.from_pylist(updates, schema=schema), on="user")
    assert lake.tables.history("silver.members", limit=1)[0]["operation"] == "MERGE"
    member = Entity("member", join_keys=["user"])
    tiers = FeatureView("tiers", entities=[member], source="silver.members", timestamp_field="ts",
                        fields=[Field("tier", "string"), Field("region", "string")])
    lake.features.apply([member, tiers])
    now = T0 + timedelta(hours=2)
    assert lake.features.materialize(end=now) == {"tiers": 6}
    users = ["u0", "u1", "u4", "u5", "nobody"]
    want = ["bronze", "gold", "gold", "bronze", None]
    online = lake.features.online([{"user": u} for u in users], ["tiers:tier", "tiers:region"], now=now)
    assert online["tier"] == want and online["region"] == ["eu", "us", "eu", "us", None]
    ent = pa.table({"user": users, "event_timestamp": pa.array([now] * 5, pa.timestamp("us", tz="UTC"))})
    ts = lake.features.training_set(ent, ["tiers:tier", "tiers:region"]).to_arrow()
    assert ts["tier"].to_pylist() == want and ts["region"].to_pylist() == ["eu", "us", "eu", "us", None]
    assert ts.schema.field("tier").type == pa.string()
    before = pa.table({"user": ["u1"], "event_timestamp": pa.array([T0], pa.timestamp("us", tz="UTC"))})
    assert lake.features.training_set(before, ["tiers:tier"])["tier"].to_pylist() == [None]
