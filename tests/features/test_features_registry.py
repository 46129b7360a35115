"""Definitions: plan/diff, versions, breaking plans, deletes, on both catalogs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from features_helpers import definitions, transactions

import lakebed
from lakebed.errors import ConflictError, InvalidArgument, NotFound, SchemaError
from lakebed.features import Aggregation, Entity, FeatureService, FeatureView, Field


def stats_view(*fields: str, ttl: timedelta = timedelta(days=2)) -> FeatureView:
    return FeatureView("user_stats", entities=["user"], source="silver.transactions", timestamp_field="ts",
                       created_timestamp_field="created_at", ttl=ttl,
                       fields=[Field(f, "float64" if f == "amount" else "int64" if f == "n_items" else "string")
                               for f in fields])


def test_plan_apply_versions_and_diff(catalog_url, lake_path):
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        lake.tables.create("silver.transactions", data=transactions(n=20))
        user = Entity("user", join_keys=["user_id"])
        plan = lake.features.plan([user, stats_view("amount")])
        assert [(c.kind, c.name, c.action, c.new_version) for c in plan] == [
            ("entity", "user", "create", 1), ("view", "user_stats", "create", 1)]
        assert lake.features.list_views() == []  # plan changes nothing
        lake.features.apply([user, stats_view("amount")])
        again = lake.features.apply([user, stats_view("amount")])
        assert not again.has_changes
        plan = lake.features.apply([stats_view("amount", "n_items", ttl=timedelta(days=3))])
        [ch] = list(plan)
        assert ch.action == "update" and (ch.old_version, ch.new_version) == (1, 2)
        assert set(ch.diff) == {"fields", "ttl_us"}
        assert "user_stats (v1 -> v2)" in str(plan)
        assert lake.features.get_view("user_stats").feature_names == ["amount", "n_items"]
        assert lake.features.get_view("user_stats", version=1).feature_names == ["amount"]
        assert [h["version"] for h in lake.features.history("user_stats")] == [1, 2]
    # the registry survives reopening, on either catalog
    with lakebed.connect(lake_path, catalog=catalog_url) as lake:
        v = lake.features.get_view("user_stats")
        assert v.version == 2 and v.ttl == timedelta(days=3)
        assert [e.name for e in lake.features.list_entities()] == ["user"]


def test_plan_that_breaks_a_service_is_refused(tx_lake):
    lake = tx_lake
    svc = FeatureService("fraud", features=["user_stats:amount", "user_stats:merchant"])
    lake.features.apply([svc])
    with pytest.raises(ConflictError, match="break"):
        lake.features.apply([stats_view("amount")])  # drops merchant, which fraud uses
    assert lake.features.get_view("user_stats").version == 1  # nothing changed
    with pytest.raises(ConflictError):
        lake.features.delete("user_stats")
    # changing service and view together is fine
    plan = lake.features.apply([stats_view("amount"), FeatureService("fraud", features=["user_stats:amount"])])
    assert {c.name: c.new_version for c in plan} == {"user_stats": 2, "fraud": 2}


def test_on_demand_sources_are_dependencies(tx_lake):
    with pytest.raises(ConflictError):
        tx_lake.features.delete("user_spend")  # tx_ratio reads amount_sum_7d


def test_delete_and_prune(tx_lake):
    lake = tx_lake
    lake.features.materialize()
    lake.features.delete("tx_ratio")
    lake.features.delete("user_spend")
    assert lake.features.online_store.count("user_spend") == 0
    with pytest.raises(NotFound):
        lake.features.get_view("user_spend")
    assert lake.features.get_view("user_spend", version=1).name == "user_spend"
    user, _stats, spend, _ = definitions()
    plan = lake.features.apply([user, spend], prune=True)
    assert {(c.name, c.action) for c in plan} == {("user", "unchanged"), ("user_spend", "create"),
                                                  ("user_stats", "delete")}
    assert lake.features.get_view("user_spend").version == 3  # v1, deleted (v2), v3


def test_fields_are_inferred_and_checked(lake):
    lake.tables.create("silver.transactions", data=transactions(n=10))
    user = Entity("user", join_keys=["user_id"])
    view = FeatureView("all_cols", entities=[user], source="silver.transactions", timestamp_field="ts",
                       created_timestamp_field="created_at")
    lake.features.apply([user, view])
    assert lake.features.get_view("all_cols").feature_names == ["amount", "merchant", "n_items"]
    with pytest.raises(SchemaError):
        lake.features.plan([FeatureView("bad", entities=[user], source="silver.transactions",
                                        timestamp_field="ts", fields=[Field("amount", "string")])])
    with pytest.raises(SchemaError):
        lake.features.plan([FeatureView("bad", entities=[user], source="silver.transactions",
                                        timestamp_field="nope", fields=[Field("amount")])])
    with pytest.raises(SchemaError):
        lake.features.plan([FeatureView("bad", entities=[user], source="silver.transactions", timestamp_field="ts",
                                        aggregations=[Aggregation("merchant", "sum", timedelta(days=1))])])
    with pytest.raises(NotFound):
        lake.features.plan([FeatureView("bad", entities=["ghost"], source="silver.transactions",
                                        timestamp_field="ts", fields=[Field("amount")])])
    with pytest.raises(NotFound):
        lake.features.plan([FeatureService("svc", features=["all_cols:nope"])])


def test_definition_validation():
    with pytest.raises(InvalidArgument):
        Field("bad name")
    with pytest.raises(SchemaError):
        Field("x", "complex128")
    with pytest.raises(InvalidArgument):
        Aggregation("amount", "median", window=timedelta(days=1))
    assert Aggregation("amount", "max", window=timedelta(minutes=90)).name == "amount_max_90m"
    with pytest.raises(InvalidArgument):
        FeatureView("v", entities=[], source="silver.t", timestamp_field="ts")
    with pytest.raises(InvalidArgument):
        FeatureView("v", entities=["u"], source="t", timestamp_field="ts")
    with pytest.raises(InvalidArgument):
        FeatureView("v", entities=["u"], source="s.t", timestamp_field="ts", ttl=timedelta(0))
    with pytest.raises(InvalidArgument):
        FeatureView("v", entities=["u"], source="s.t", timestamp_field="ts", fields=[Field("a")],
                    aggregations=[Aggregation("a", "sum", timedelta(days=1))])
    view = FeatureView("v", entities=["u"], source="s.t", timestamp_field="ts", fields=[Field("a"), Field("b")])
    assert view[["a"]].refs() == ["v:a"]
    with pytest.raises(InvalidArgument):
        view[["zzz"]]
    with pytest.raises(InvalidArgument):
        lakebed.features.FeatureService("s", features=[])
