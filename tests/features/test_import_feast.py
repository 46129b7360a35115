"""``lakebed import feast``: a Feast repository read by Feast, imported into a lake, and
training sets compared row by row with Feast's own ``get_historical_features``.

Feast pins packages that clash with lakebed's development environment, so it runs in a
Python of its own: ``LAKEBED_FEAST_PYTHON`` names it (or this Python, when it has Feast).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import lakebed
from lakebed.errors import ConflictError, InvalidArgument, MissingExtra, NotFound
from lakebed.features import Entity, FeatureView, Field
from lakebed.importers import feast as feast_importer
from lakebed.importers.cli import app
from lakebed.importers.feast import FeastRepo, import_feast, plan_feast, read_feast_repo


def _feast_python() -> str | None:
    env = os.environ.get("LAKEBED_FEAST_PYTHON")
    if env:
        return env
    return sys.executable if importlib.util.find_spec("feast") is not None else None


FEAST_PYTHON = _feast_python()


@pytest.fixture(scope="module")
def feast_python() -> str:
    """The Python that runs Feast; the tests that need it skip without one (fail in CI)."""
    if FEAST_PYTHON is None:
        msg = ("Feast is not installed: set LAKEBED_FEAST_PYTHON to the python of a venv with feast==0.67.0 "
               "(python -m venv /path/feast && /path/feast/bin/pip install feast==0.67.0)")
        if os.environ.get("LAKEBED_REQUIRE_SERVICES") == "1":
            pytest.fail(f"LAKEBED_REQUIRE_SERVICES=1 but {msg}")
        pytest.skip(msg)
    return FEAST_PYTHON

T0 = datetime(2024, 5, 1, tzinfo=UTC)
runner = CliRunner()

FEATURE_STORE_YAML = """\
project: drivers
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

DEFINITIONS = '''\
from datetime import timedelta

import numpy as np
import pandas as pd
from feast import (BigQuerySource, Entity, FeatureService, FeatureView, Field, FileSource, KafkaSource,
                   PushSource, RequestSource, StreamFeatureView, ValueType)
from feast.data_format import JsonFormat
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float32, Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64, description="a driver")
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)

driver_stats_source = FileSource(name="driver_stats", path="data/driver_stats.parquet",
                                 timestamp_field="event_timestamp", created_timestamp_column="created")
customer_source = FileSource(name="customer_profile", path="data/customer.parquet", timestamp_field="ts",
                             field_mapping={"ltv": "lifetime_value"})
driver_push = PushSource(name="driver_push", batch_source=driver_stats_source)
warehouse = BigQuerySource(name="warehouse_trips", table="proj.ds.trips", timestamp_field="ts")
trips_stream = KafkaSource(
    name="trips_stream", kafka_bootstrap_servers="localhost:9092", topic="trips",
    timestamp_field="event_timestamp", batch_source=driver_stats_source,
    message_format=JsonFormat(schema_json="driver_id integer, event_timestamp timestamp, conv_rate double"),
    watermark_delay_threshold=timedelta(minutes=5))

driver_stats = FeatureView(
    name="driver_hourly_stats", entities=[driver], ttl=timedelta(days=1), source=driver_stats_source,
    schema=[Field(name="conv_rate", dtype=Float32), Field(name="acc_rate", dtype=Float64),
            Field(name="avg_daily_trips", dtype=Int64)],
    tags={"team": "drivers"}, description="hourly driver statistics")
customer_profile = FeatureView(
    name="customer_profile", entities=[customer], ttl=timedelta(days=30), source=customer_source,
    schema=[Field(name="tier", dtype=String), Field(name="lifetime_value", dtype=Float64)])
driver_pushed = FeatureView(
    name="driver_pushed_stats", entities=[driver], ttl=timedelta(hours=12), source=driver_push,
    schema=[Field(name="conv_rate", dtype=Float32)])
warehouse_trips = FeatureView(
    name="warehouse_trips", entities=[driver], ttl=timedelta(days=1), source=warehouse,
    schema=[Field(name="trips", dtype=Int64)])
driver_stream = StreamFeatureView(
    name="driver_stream", entities=[driver], ttl=timedelta(days=1), source=trips_stream,
    schema=[Field(name="conv_rate", dtype=Float32)])

input_request = RequestSource(name="vals_to_add", schema=[Field(name="val_to_add", dtype=Int64)])


@on_demand_feature_view(sources=[driver_stats, input_request],
                        schema=[Field(name="conv_rate_plus_val", dtype=Float64),
                                Field(name="acc_log", dtype=Float64)])
def transformed_conv_rate(inputs: pd.DataFrame) -> pd.DataFrame:
    df = pd.DataFrame()
    df["conv_rate_plus_val"] = inputs["conv_rate"] + inputs["val_to_add"]
    df["acc_log"] = np.log1p(inputs["driver_hourly_stats__acc_rate"])
    return df


@on_demand_feature_view(sources=[driver_stats[["conv_rate"]]], schema=[Field(name="conv_pct", dtype=Float64)],
                        mode="python")
def conv_pct(inputs: dict) -> dict:
    return {"conv_pct": [None if v is None else v * 100.0 for v in inputs["conv_rate"]]}


def _scale(x):
    return x * 10


@on_demand_feature_view(sources=[driver_stats], schema=[Field(name="trips_x10", dtype=Float64)])
def scaled_trips(inputs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"trips_x10": _scale(inputs["avg_daily_trips"]).astype("float64")})


def _scaled_acc(factor):
    @on_demand_feature_view(sources=[driver_stats], schema=[Field(name="acc_scaled", dtype=Float64)])
    def acc_scaled(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"acc_scaled": inputs["acc_rate"] * factor})
    return acc_scaled


acc_scaled = _scaled_acc(3.0)


driver_activity = FeatureService(
    name="driver_activity",
    features=[driver_stats[["conv_rate", "avg_daily_trips"]], transformed_conv_rate, customer_profile])
driver_aliased = FeatureService(name="driver_aliased", features=[driver_stats.with_name("ds")[["acc_rate"]]])
warehouse_service = FeatureService(name="warehouse_service", features=[warehouse_trips])
scaled_service = FeatureService(name="scaled_service", features=[scaled_trips])
'''

# What Feast itself applies and retrieves (the objects lakebed imports)
FEAST_OBJECTS = ["driver", "customer", "driver_stats", "customer_profile", "driver_push", "vals_to_add",
                 "driver_hourly_stats", "driver_pushed_stats", "transformed_conv_rate", "conv_pct",
                 "driver_activity"]
# One get_historical_features call per view: Feast's file store drops an entity row when
# a view has rows for its key but none inside [t - ttl, t], so a call per view shows
# exactly which rows that view has no value for (lakebed keeps the rows, with nulls).
GROUPS = {
    "driver_hourly_stats": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
                            "driver_hourly_stats:avg_daily_trips"],
    "customer_profile": ["customer_profile:tier", "customer_profile:lifetime_value"],
    "driver_pushed_stats": ["driver_pushed_stats:conv_rate"],
    "transformed_conv_rate": ["transformed_conv_rate:conv_rate_plus_val", "transformed_conv_rate:acc_log"],
    "conv_pct": ["conv_pct:conv_pct"],
}

FEAST_REFERENCE = '''\
import json, os, sys
from pathlib import Path
import pandas as pd
repo = Path(sys.argv[1]).resolve()
os.chdir(repo)
sys.path.insert(0, str(repo))
from feast import FeatureStore
from feast.repo_operations import parse_repo
keep = set(json.loads(sys.argv[3]))
contents = parse_repo(repo)
objs = [o for group in (contents.entities, contents.data_sources, contents.feature_views,
                        contents.on_demand_feature_views, contents.feature_services)
        for o in group if o.name in keep]
store = FeatureStore(repo_path=str(repo))
store.apply(objs)
entity_df = pd.read_parquet(repo / "entity_rows.parquet")
out = Path(sys.argv[2])
out.mkdir()
for group, features in json.loads(sys.argv[4]).items():
    job = store.get_historical_features(entity_df=entity_df, features=features, full_feature_names=True)
    job.to_df().to_parquet(out / f"{group}.parquet")
'''

H = timedelta(hours=1)


def _driver_rows() -> pa.Table:
    rows: list[dict[str, Any]] = []
    for i, d in enumerate((1001, 1002, 1003)):
        for h in range(0, 72, 6):
            k = i * 100 + h
            rows.append({"driver_id": d, "event_timestamp": T0 + h * H, "created": T0 + h * H + timedelta(minutes=1),
                         "conv_rate": (k % 97) / 97, "acc_rate": (k % 89) / 89 + 0.01, "avg_daily_trips": k % 50})
    # a tie on event time: the row created later wins (in Feast and in lakebed)
    for created, conv in ((timedelta(minutes=5), 0.25), (timedelta(minutes=1), 0.75)):
        rows.append({"driver_id": 1004, "event_timestamp": T0 + 10 * H, "created": T0 + 10 * H + created,
                     "conv_rate": conv, "acc_rate": conv / 2, "avg_daily_trips": int(conv * 100)})
    schema = pa.schema([("driver_id", pa.int64()), ("event_timestamp", pa.timestamp("ns", tz="UTC")),
                        ("created", pa.timestamp("ns", tz="UTC")), ("conv_rate", pa.float32()),
                        ("acc_rate", pa.float64()), ("avg_daily_trips", pa.int64())])
    return pa.Table.from_pylist(rows, schema=schema)


def _customer_rows() -> pa.Table:
    naive = T0.replace(tzinfo=None)  # naive times: Feast reads them as UTC
    return pa.table({
        "customer_id": ["a", "b"],
        "ts": pa.array([naive, naive + 48 * H], pa.timestamp("ns")),
        "tier": ["gold", "silver"],
        "ltv": [10.0, 20.5],
    })


# (row_id, driver_id, customer_id, val_to_add, time)
ENTITY_ROWS = [
    (1, 1001, "a", 1, T0 + 7 * H),                      # latest driver row 6 h earlier
    (2, 1002, "b", 2, T0 + 48 * H),                     # exactly at an event time of both views (<=)
    (3, 1003, "a", 3, T0 + 90 * H),                     # exactly ttl (1 day) after the last driver row: kept
    (4, 1003, "a", 4, T0 + 90 * H + timedelta(seconds=1)),  # one second past the ttl: expired
    (5, 1004, "a", 5, T0 + 12 * H),                     # tie on event time: the later created row
    (6, 9999, "a", 6, T0 + 10 * H),                     # unknown driver
    (7, 1002, "zz", 7, T0 + 30 * H),                    # unknown customer
    (8, 1001, "b", 8, T0 + 1 * H),                      # customer b's only row is in the future
    (9, 1001, "a", 9, T0 - 1 * H),                      # every driver row is in the future
    (10, 1002, "a", 10, T0 + 78 * H),                   # exactly the push view's ttl (12 h) after the last row
]
# the rows each view has no value for (Feast drops them, lakebed gives nulls); row 3 is
# inside the 1-day ttl of driver_hourly_stats and outside the 12-hour one of the push view
NO_VALUE = {"driver_hourly_stats": {4, 9}, "customer_profile": {8, 9}, "driver_pushed_stats": {3, 4, 9},
            "transformed_conv_rate": {4, 9}, "conv_pct": {4, 9}}


def _entity_table() -> pa.Table:
    return pa.table({
        "row_id": [r[0] for r in ENTITY_ROWS],
        "driver_id": [r[1] for r in ENTITY_ROWS],
        "customer_id": [r[2] for r in ENTITY_ROWS],
        "val_to_add": [r[3] for r in ENTITY_ROWS],
        "event_timestamp": pa.array([r[4] for r in ENTITY_ROWS], pa.timestamp("us", tz="UTC")),
    })


def make_repo(root: Path) -> Path:
    repo = root / "feature_repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    (repo / "features.py").write_text(DEFINITIONS)
    pq.write_table(_driver_rows(), repo / "data" / "driver_stats.parquet")
    pq.write_table(_customer_rows(), repo / "data" / "customer.parquet")
    pq.write_table(_entity_table(), repo / "entity_rows.parquet")
    return repo


class FeastRun(NamedTuple):
    repo: FeastRepo                    # the repository as the importer read it
    reference: dict[str, pa.Table]     # Feast's training sets, by view
    applied: Path                      # a copy of the repository where Feast applied FEAST_OBJECTS


@pytest.fixture(scope="module")
def feast_repo(tmp_path_factory: pytest.TempPathFactory, feast_python: str) -> FeastRun:
    """The repository read by Feast (as the importer reads it) and Feast's training sets."""
    root = tmp_path_factory.mktemp("feast")
    repo = make_repo(root)
    repo_copy = root / "reference_repo"  # Feast's apply writes a registry: keep it out of the imported repo
    import shutil

    shutil.copytree(repo, repo_copy)
    script = root / "reference.py"
    script.write_text(FEAST_REFERENCE)
    out = root / "feast_training_sets"
    proc = subprocess.Popen([feast_python, str(script), str(repo_copy), str(out), json.dumps(FEAST_OBJECTS),
                             json.dumps(GROUPS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    read = read_feast_repo(repo, feast_python=feast_python)  # in parallel with the reference run
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    # reading changed nothing in the repository
    assert sorted(p.name for p in (repo / "data").iterdir()) == ["customer.parquet", "driver_stats.parquet"]
    return FeastRun(read, {g: pq.read_table(out / f"{g}.parquet") for g in GROUPS}, repo_copy)


def _close(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return False
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return bool(a == b)


def test_training_set_matches_feast(feast_repo, tmp_path):
    repo, reference = feast_repo.repo, feast_repo.reference
    with lakebed.connect(tmp_path / "lake") as lake:
        import_feast(lake, repo)
        features = [f for group in GROUPS.values() for f in group]
        ts = lake.features.training_set(_entity_table(), features, full_feature_names=True).to_arrow()
    assert ts.column("row_id").to_pylist() == [r[0] for r in ENTITY_ROWS]  # every row, in order
    got = {rid: row for rid, row in zip(ts.column("row_id").to_pylist(), ts.to_pylist(), strict=True)}
    compared = 0
    for group, feats in GROUPS.items():
        ref = reference[group]
        present = set(ref.column("row_id").to_pylist())
        assert set(got) - present == NO_VALUE[group], group
        for row in ref.to_pylist():
            for ref_name in feats:
                col = ref_name.replace(":", "__")
                assert _close(row[col], got[row["row_id"]][col]), (group, row["row_id"], col, row[col],
                                                                    got[row["row_id"]][col])
                compared += 1
        for rid in NO_VALUE[group]:
            assert all(got[rid][f.replace(":", "__")] is None for f in feats), (group, rid)
    assert compared == sum(len(f) * (len(ENTITY_ROWS) - len(NO_VALUE[g])) for g, f in GROUPS.items())
    # the cases the rows were chosen for
    assert got[5]["driver_hourly_stats__conv_rate"] == 0.25          # tie: the later created row
    assert got[3]["driver_hourly_stats__conv_rate"] is not None      # exactly the ttl: kept
    assert got[4]["driver_hourly_stats__conv_rate"] is None          # 1 s past it: expired
    assert got[1]["customer_profile__lifetime_value"] == 10.0        # field mapping ltv -> lifetime_value


EXPECTED_FATES = {
    ("entity", "driver"): "imported",
    ("entity", "customer"): "imported",
    ("data source", "driver_stats"): "imported",
    ("data source", "customer_profile"): "imported",
    ("data source", "warehouse_trips"): "not imported",
    ("request source", "vals_to_add"): "imported",
    ("push source", "driver_push"): "not imported",
    ("stream source", "trips_stream"): "not imported",
    ("feature view", "driver_hourly_stats"): "imported",
    ("feature view", "customer_profile"): "imported",
    ("feature view", "driver_pushed_stats"): "imported",
    ("feature view", "warehouse_trips"): "not imported",
    ("stream feature view", "driver_stream"): "not imported",
    ("on-demand feature view", "transformed_conv_rate"): "imported",
    ("on-demand feature view", "conv_pct"): "imported",
    ("on-demand feature view", "scaled_trips"): "not imported",
    ("on-demand feature view", "acc_scaled"): "not imported",
    ("feature service", "driver_activity"): "imported",
    ("feature service", "driver_aliased"): "changed",
    ("feature service", "warehouse_service"): "not imported",
    ("feature service", "scaled_service"): "not imported",
}


def test_plan_lists_every_object_and_changes_nothing(feast_repo):
    repo = feast_repo.repo
    with lakebed.connect(":memory:") as lake:
        plan = plan_feast(lake, repo)
        assert {(o.kind, o.name): o.fate for o in plan} == EXPECTED_FATES
        assert lake.tables.list() == [] and lake.features.list_views() == []   # a plan writes nothing
    assert plan.has_changes
    text = str(plan)
    for kind, name in EXPECTED_FATES:
        assert f"<- {kind} {name} [" in text
    # every object that is not imported says why, in words a user can act on
    assert "_scale" in plan.fate("on-demand feature view", "scaled_trips").notes[0]
    assert "enclosing function (factor)" in plan.fate("on-demand feature view", "acc_scaled").notes[0]
    assert "BigQuerySource" in plan.fate("feature view", "warehouse_trips").notes[0]
    assert "warehouse_trips" in plan.fate("feature service", "warehouse_service").notes[0]
    assert all(o.notes for o in plan if o.fate != "imported")
    # what the imported objects become
    assert plan.fate("data source", "driver_stats").target == "table feast.feast_driver_stats"
    assert plan.fate("feature view", "driver_hourly_stats").target == "view driver_hourly_stats"
    assert {c.name: c.action for c in plan.features_plan} == {
        "driver": "create", "customer": "create", "driver_hourly_stats": "create", "customer_profile": "create",
        "driver_pushed_stats": "create", "transformed_conv_rate": "create", "conv_pct": "create",
        "driver_activity": "create", "driver_aliased": "create"}
    views = {type(d).__name__ + ":" + d.name: d for d in plan.definitions}
    stats = views["FeatureView:driver_hourly_stats"]
    assert stats.source == "feast.feast_driver_stats" and stats.created_timestamp_field == "created"
    assert [(f.name, f.dtype) for f in stats.fields] == [
        ("conv_rate", "float32"), ("acc_rate", "float64"), ("avg_daily_trips", "int64")]
    assert stats.ttl == timedelta(days=1, microseconds=1)
    assert stats.tags["team"] == "drivers" and stats.description == "hourly driver statistics"
    assert views["FeatureService:driver_activity"].feature_refs == [
        "driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips",
        "transformed_conv_rate:conv_rate_plus_val", "transformed_conv_rate:acc_log",
        "customer_profile:tier", "customer_profile:lifetime_value"]


def test_reimport_is_idempotent_and_follows_changes(feast_repo, tmp_path):
    repo = feast_repo.repo
    with lakebed.connect(tmp_path / "lake") as lake:
        import_feast(lake, repo, namespace="fs")
        assert lake.tables.list("fs") == ["fs.feast_customer_profile", "fs.feast_driver_stats"]
        again = plan_feast(lake, repo, namespace="fs")
        assert not again.has_changes
        assert {o.action for o in again if o.fate != "not imported"} == {"unchanged", ""}
        assert {c.action for c in again.features_plan} == {"unchanged"}
        import_feast(lake, repo, namespace="fs")                       # applies nothing new
        assert lake.tables.version("fs.feast_driver_stats") == 0
        assert lake.features.get_view("driver_hourly_stats").version == 1

        # a changed file, ttl and function: a new table version and new view versions
        changed = FeastRepo(repo.path, copy.deepcopy(repo.data))
        data = _driver_rows()
        data = data.set_column(3, "conv_rate", pa.array([0.5] * data.num_rows, pa.float32()))
        new_file = tmp_path / "driver_stats_v2.parquet"
        pq.write_table(data, new_file)
        src = next(d for d in changed.data["data_sources"] if d["name"] == "driver_stats")
        src["resolved_path"] = str(new_file)
        view = next(v for v in changed.data["feature_views"] if v["name"] == "customer_profile")
        view["ttl_us"] = 2 * 86_400_000_000
        odfv = next(o for o in changed.data["on_demand_feature_views"] if o["name"] == "conv_pct")
        odfv["udf"]["source"] = odfv["udf"]["source"].replace("v * 100.0", "v * 1000.0")
        odfv["udf"]["sha256"] = "0" * 64
        plan = plan_feast(lake, changed, namespace="fs")
        assert plan.fate("data source", "driver_stats").action == "update"
        assert plan.fate("data source", "customer_profile").action == "unchanged"
        actions = {c.name: c.action for c in plan.features_plan}
        assert actions["customer_profile"] == actions["conv_pct"] == "update"
        assert actions["driver_hourly_stats"] == "unchanged"
        import_feast(lake, changed, namespace="fs")
        assert lake.tables.version("fs.feast_driver_stats") == 1
        rows = [{"driver_id": 1001, "event_timestamp": T0 + 7 * H}]
        got = lake.features.training_set(rows, ["driver_hourly_stats:conv_rate", "conv_pct:conv_pct"])
        got = got.to_arrow().to_pylist()
        assert got[0]["conv_rate"] == 0.5 and got[0]["conv_pct"] == 500.0


def test_lakebed_definitions_of_the_same_name_are_kept(feast_repo):
    repo = feast_repo.repo
    with lakebed.connect(":memory:") as lake:
        lake.tables.create("silver.customers", data=[{"customer_id": "a", "ts": T0, "tier": "x"}])
        mine = FeatureView("customer_profile", entities=[Entity("customer", join_keys=["customer_id"])],
                           source="silver.customers", timestamp_field="ts", fields=[Field("tier", "string")])
        lake.features.apply([mine])
        plan = plan_feast(lake, repo)
        assert plan.fate("feature view", "customer_profile").fate == "not imported"
        assert "made in lakebed" in plan.fate("feature view", "customer_profile").notes[0]
        assert plan.fate("feature service", "driver_activity").fate == "not imported"
        # the lake's own entity has the same join keys: the imported views use it unchanged
        assert plan.fate("entity", "customer").fate == "imported"
        assert "customer" not in [d.name for d in plan.definitions if isinstance(d, Entity)]
        import_feast(lake, repo)
        assert lake.features.get_view("customer_profile").source == "silver.customers"   # untouched
        assert lake.features.get_view("driver_hourly_stats").source == "feast.feast_driver_stats"


def test_a_function_needing_a_missing_module_is_not_imported(feast_repo):
    repo = feast_repo.repo
    changed = FeastRepo(repo.path, copy.deepcopy(repo.data))
    odfv = next(o for o in changed.data["on_demand_feature_views"] if o["name"] == "transformed_conv_rate")
    odfv["udf"]["globals"].append({"name": "zz", "module": "lakebed_no_such_module"})
    with lakebed.connect(":memory:") as lake:
        plan = plan_feast(lake, changed)
    fate = plan.fate("on-demand feature view", "transformed_conv_rate")
    assert fate.fate == "not imported" and "'lakebed_no_such_module', which is not installed" in fate.notes[0]
    assert plan.fate("feature service", "driver_activity").fate == "not imported"


def test_cli_applies(feast_repo, tmp_path, monkeypatch):
    repo = feast_repo.repo
    calls: list[tuple[Any, dict[str, Any]]] = []

    def read(path: Any, **kwargs: Any) -> FeastRepo:   # the fixture read the repository with Feast already
        calls.append((path, kwargs))
        return repo

    monkeypatch.setattr(feast_importer, "read_feast_repo", read)
    lake_path = tmp_path / "lake"
    env = {"COLUMNS": "250", "LAKEBED_FEAST_PYTHON": "/opt/feast/bin/python"}
    result = runner.invoke(app, ["feast", str(repo.path), "--lake", str(lake_path), "--apply"], env=env)
    assert result.exit_code == 0, result.output
    assert calls == [(str(repo.path), {"feast_python": "/opt/feast/bin/python", "from_registry": False})]
    for _, name in EXPECTED_FATES:
        assert name in result.output
    assert "applied: 2 tables written, 9 definitions created or updated" in result.output
    with lakebed.connect(lake_path, read_only=True) as lake:
        assert sorted(lake.features.registry.current()) == [
            ("entity", "customer"), ("entity", "driver"), ("service", "driver_activity"),
            ("service", "driver_aliased"), ("view", "conv_pct"), ("view", "customer_profile"),
            ("view", "driver_hourly_stats"), ("view", "driver_pushed_stats"), ("view", "transformed_conv_rate")]
        assert lake.tables.list() == ["feast.feast_customer_profile", "feast.feast_driver_stats"]


def test_cli_plan_only_changes_nothing(feast_repo, tmp_path, monkeypatch):
    repo = feast_repo.repo
    monkeypatch.setattr(feast_importer, "read_feast_repo", lambda *a, **k: repo)  # the repository read once
    lake_path = tmp_path / "lake"
    result = runner.invoke(app, ["feast", str(repo.path), "--lake", str(lake_path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "nothing changed (run with --apply to import)" in result.output
    assert "11 imported, 1 changed, 9 not imported" in result.output
    assert not lake_path.exists()
    with lakebed.connect(lake_path) as lake:
        import_feast(lake, repo)
    result = runner.invoke(app, ["feast", str(repo.path), "--lake", str(lake_path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "nothing to change: the lake already holds this import" in result.output


def test_bad_repository_paths_say_what_to_pass(tmp_path, monkeypatch):
    with pytest.raises(NotFound, match=r"no Feast repository at .*does not exist"):
        read_feast_repo(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InvalidArgument, match="is a file"):
        read_feast_repo(tmp_path / "file.txt")
    with pytest.raises(InvalidArgument, match=r"has no feature_store\.yaml"):
        read_feast_repo(tmp_path)
    (tmp_path / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    with pytest.raises(InvalidArgument, match="is not an executable Python"):
        read_feast_repo(tmp_path, feast_python=tmp_path / "python")
    result = runner.invoke(app, ["feast", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "lake").exists()
    with lakebed.connect(":memory:") as lake, pytest.raises(NotFound):
        plan_feast(lake, tmp_path / "nope")


def test_without_feast_the_error_names_the_extra(tmp_path, monkeypatch):
    if importlib.util.find_spec("feast") is not None:
        pytest.skip("Feast is installed in this environment")
    monkeypatch.delenv("LAKEBED_FEAST_PYTHON", raising=False)
    (tmp_path / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    with pytest.raises(MissingExtra, match=r"pip install 'lakebed\[feast\]'.*--feast-python"):
        read_feast_repo(tmp_path)


@pytest.mark.slow
def test_a_repository_feast_cannot_read_is_a_clear_error(tmp_path, feast_python):
    repo = tmp_path / "broken_repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    (repo / "features.py").write_text("from feast import Entity\ndriver = Entity(name='driver', join_keys=[1, 2])\n")
    with pytest.raises(InvalidArgument, match=r"Feast could not read the repository .*broken_repo"):
        read_feast_repo(repo, feast_python=feast_python)


@pytest.mark.slow
def test_reading_the_registry_gives_the_same_definitions(feast_repo, feast_python):
    registry = read_feast_repo(feast_repo.applied, feast_python=feast_python, from_registry=True)
    assert registry.data["read_from"] == "registry"
    with lakebed.connect(":memory:") as lake:
        from_files = plan_feast(lake, feast_repo.repo)
        from_registry = plan_feast(lake, registry)
    applied = {(o.kind, o.name): o.fate for o in from_registry}
    assert applied == {k: v for k, v in EXPECTED_FATES.items() if k[1] in FEAST_OBJECTS}
    specs = {d.name: d.spec() for d in from_files.definitions}
    for d in from_registry.definitions:
        spec = d.spec()
        if "source" in spec and isinstance(spec["source"], str):
            assert spec == specs[d.name], d.name
        else:
            assert {k: v for k, v in spec.items() if k != "udf_hash"} == {
                k: v for k, v in specs[d.name].items() if k != "udf_hash"}, d.name


def test_a_failed_apply_leaves_no_tables_behind(feast_repo, tmp_path, monkeypatch):
    repo = feast_repo.repo
    with lakebed.connect(tmp_path / "lake") as lake:
        import_feast(lake, repo)
        changed = FeastRepo(repo.path, copy.deepcopy(repo.data))
        new_file = tmp_path / "driver_stats_v2.parquet"
        pq.write_table(_driver_rows().slice(0, 5), new_file)
        next(d for d in changed.data["data_sources"] if d["name"] == "driver_stats")["resolved_path"] = str(new_file)
        lake.tables.drop("feast.feast_customer_profile")   # so that the plan creates it again
        plan = plan_feast(lake, changed, namespace="feast")
        assert [(t.source, t.action) for t in plan.tables] == [("customer_profile", "create"),
                                                               ("driver_stats", "update")]

        def refuse(objects: Any, prune: bool = False) -> Any:
            raise ConflictError("refused")

        monkeypatch.setattr(lake.features, "apply", refuse)
        with pytest.raises(ConflictError):
            feast_importer.apply_feast_plan(lake, plan)
        assert lake.tables.list() == ["feast.feast_driver_stats"]
        assert lake.tables.read("feast.feast_driver_stats").num_rows == 38   # the previous version is back
