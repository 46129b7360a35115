"""Lineage of a whole pipeline: source table version -> training set -> run -> model ->
predictions, and reproduction of a training set from a model's lineage."""

from __future__ import annotations

import pyarrow as pa
import pytest

import lakebed
from lakebed.errors import InvalidArgument, NotFound


@pytest.fixture
def tlake(tmp_path, catalog_url):
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lk:
        yield lk


def _pipeline(lake: lakebed.Lake) -> dict[str, str]:
    """Source table -> derived training table -> run -> model -> predictions."""
    src = pa.table({"user": [1, 2, 3, 4], "amount": [5.0, 50.0, 7.0, 900.0], "fraud": [0, 0, 0, 1]})
    lake.tables.create("bronze.tx", data=src)
    src_v = lake.tables.version("bronze.tx")
    train = src.append_column("big", pa.array([a > 100 for a in src["amount"].to_pylist()]))
    lake.tables.create("gold.train", data=train)
    train_v = lake.tables.version("gold.train")
    lake.catalog.add_lineage(f"table:bronze.tx@{src_v}", f"table:gold.train@{train_v}", "derived")
    with lake.runs.start(experiment="fraud") as run:
        assert run.log_input(f"gold.train@{train_v}") == f"table:gold.train@{train_v}"
        run.log_model({"threshold": 100})
    mv = lake.models.register("fraud", run=run)
    lake.models.set_alias("fraud", "champion", mv.version)
    lake.predictions("fraud@champion").write({"amount": [1.0, 500.0]}, [0, 1], request_ids=["r1", "r2"])
    return {
        "source": f"table:bronze.tx@{src_v}",
        "train": f"table:gold.train@{train_v}",
        "run": run.ref,
        "model": mv.ref,
        "predictions": f"predictions:fraud@{mv.version}",
    }


def test_whole_pipeline_lineage(tlake):
    refs = _pipeline(tlake)
    up = tlake.lineage.upstream(refs["predictions"])
    assert up.nodes == [refs["predictions"], refs["model"], refs["run"], refs["train"], refs["source"]]
    kinds = {(e.src, e.dst): e.kind for e in up.edges}
    assert kinds[(refs["train"], refs["run"])] == "input"
    assert kinds[(refs["run"], refs["model"])] == "registered"
    assert kinds[(refs["model"], refs["predictions"])] == "predicted"
    down = tlake.lineage.downstream(refs["source"])
    assert set(down.nodes) == set(up.nodes)
    assert tlake.lineage.upstream(refs["predictions"], depth=2).nodes == up.nodes[:3]
    # aliases resolve to versions
    assert tlake.lineage.upstream("model:fraud@champion").root == refs["model"]
    # the rich tree renders every node
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(up.to_tree())
    text = console.export_text()
    for ref in up.nodes:
        assert ref in text
    assert tlake.runs.get(refs["run"][4:]).inputs == [refs["train"]]


def test_log_input_forms(tlake):
    tlake.tables.create("gold.t", data=[{"x": 1}])
    tlake.tables.write("gold.t", [{"x": 2}])
    v = tlake.tables.version("gold.t")

    class SavedTrainingSet:
        name = "gold.t"
        version = 0

    with tlake.runs.start() as run:
        assert run.log_input(("gold.t", 0)) == "table:gold.t@0"
        assert run.log_input("gold.t") == f"table:gold.t@{v}"
        assert run.log_input("table:gold.t@1") == "table:gold.t@1"
        assert run.log_input(SavedTrainingSet()) == "table:gold.t@0"
        assert run.log_input("collection:docs@5") == "collection:docs@5"
        with pytest.raises(InvalidArgument):
            run.log_input(3.5)
        with pytest.raises(InvalidArgument):
            run.log_input("gold.t@latest")
    assert sorted(run.inputs) == sorted({"table:gold.t@0", f"table:gold.t@{v}", "table:gold.t@1", "collection:docs@5"})


def test_bad_refs(tlake):
    with pytest.raises(InvalidArgument):
        tlake.lineage.upstream("no-kind")
    with pytest.raises(NotFound):
        tlake.lineage.upstream("model:ghost@champion")
    assert tlake.lineage.upstream("table:x.y@1").nodes == ["table:x.y@1"]


def test_reproduce_training_set_from_table_version(tlake):
    refs = _pipeline(tlake)
    original = tlake.tables.read("gold.train", version=int(refs["train"].rsplit("@", 1)[1]))
    # the table moves on after training; the model's training set must not
    tlake.tables.write("gold.train", original.slice(0, 1), mode="overwrite")
    again = tlake.lineage.reproduce_training_set("model:fraud@champion")
    assert again.sort_by("user").equals(original.sort_by("user"))
    assert tlake.lineage.training_set_of("fraud@1") == ("gold.train", int(refs["train"].rsplit("@", 1)[1]))


def test_reproduce_without_training_set(tlake):
    with tlake.runs.start() as run:
        run.log_model({"w": 1})
    tlake.models.register("m", run=run)
    with pytest.raises(NotFound, match="log_input"):
        tlake.lineage.reproduce_training_set("model:m@1")


def _feature_store_ready(lake: lakebed.Lake) -> bool:
    try:
        fs = lake.features
    except Exception:
        return False
    return hasattr(fs, "training_set") and hasattr(fs, "reproduce_training_set")


def test_feature_store_pipeline_lineage_and_reproduction(tlake, monkeypatch):
    """source table -> feature view -> saved training set -> run -> model -> predictions;
    the model's training set is rebuilt by the feature store, equal to the original."""
    if not _feature_store_ready(tlake):
        pytest.skip("the feature store has no training_set/reproduce_training_set in this build")
    from datetime import UTC, datetime, timedelta

    from lakebed.features import Entity, FeatureView, Field

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ts_type = pa.timestamp("us", tz="UTC")

    def transactions(shift: float) -> pa.Table:
        return pa.table(
            {
                "user_id": [i % 5 for i in range(40)],
                "ts": pa.array([t0 + timedelta(hours=3 * i) for i in range(40)], ts_type),
                "amount": [float(i) + shift for i in range(40)],
            }
        )

    tlake.tables.create("silver.tx", data=transactions(0.0))
    user = Entity("user", join_keys=["user_id"])
    view = FeatureView(
        "user_tx",
        entities=[user],
        source="silver.tx",
        timestamp_field="ts",
        ttl=timedelta(days=3),
        fields=[Field("amount", "float64")],
    )
    tlake.features.apply([user, view])
    entities = pa.table(
        {
            "user_id": [i % 5 for i in range(20)],
            "event_timestamp": pa.array([t0 + timedelta(hours=5 * i + 1) for i in range(20)], ts_type),
            "label": [i % 2 for i in range(20)],
        }
    )
    ts = tlake.features.training_set(entities, ["user_tx:amount"])
    version = ts.save("gold.train_fs")
    original = tlake.tables.read("gold.train_fs", version=version)
    with tlake.runs.start(experiment="fraud") as run:
        assert run.log_input(("gold.train_fs", version)) == f"table:gold.train_fs@{version}"
        run.log_model({"kind": "constant"})
    mv = tlake.models.register("fraud", run=run)
    tlake.predictions(f"fraud@{mv.version}").write({"amount": [1.0]}, [0])

    up = tlake.lineage.upstream(f"predictions:fraud@{mv.version}")
    for ref in (mv.ref, run.ref, f"table:gold.train_fs@{version}", "table:silver.tx@0"):
        assert ref in up, ref
    assert any(n.startswith("featureview:user_tx@") for n in up.nodes)
    down = tlake.lineage.downstream("table:silver.tx@0")
    assert f"predictions:fraud@{mv.version}" in down

    # the source and the saved table both move on; the model's training set does not
    tlake.tables.write("silver.tx", transactions(1000.0), mode="overwrite")
    tlake.tables.write("gold.train_fs", original.slice(0, 2), mode="overwrite")
    calls = []
    rebuild = tlake.features.reproduce_training_set

    def spy(name, version=None):
        calls.append((name, version))
        return rebuild(name, version)

    monkeypatch.setattr(tlake.features, "reproduce_training_set", spy)
    again = tlake.lineage.reproduce_training_set(mv.ref)
    assert calls == [("gold.train_fs", version)]  # recomputed by the feature store
    assert again.equals(original)
