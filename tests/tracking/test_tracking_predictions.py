"""Prediction logs: a lakebed table partitioned by day, model name and version on every row."""

from __future__ import annotations

import pyarrow as pa
import pytest

import lakebed
from lakebed.errors import InvalidArgument, NotFound


@pytest.fixture
def tlake(tmp_path, catalog_url):
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lk:
        for i in (1, 2):
            with lk.runs.start() as run:
                run.log_model({"v": i})
            lk.models.register("fraud", run=run)
        lk.models.set_alias("fraud", "champion", 1)
        yield lk


def test_write_and_read(tlake):
    log = tlake.predictions("fraud@champion")
    assert log.version == 1
    log.write({"amount": [1.0, 2.0]}, [0, 1], request_ids=["a", "b"], latency_ms=[1.5, 2.5])
    tlake.predictions("fraud@2").write(pa.table({"amount": [3.0]}), {"score": [0.9]}, request_ids=["c"])
    rows = log.read().to_pylist()
    assert [(r["request_id"], r["model"], r["model_version"], r["prediction"]) for r in rows] == [
        ("a", "fraud", 1, 0),
        ("b", "fraud", 1, 1),
    ]
    assert rows[0]["latency_ms"] == 1.5 and rows[0]["input_amount"] == 1.0
    everything = tlake.predictions("fraud").read()
    assert everything.num_rows == 3
    assert set(everything["model_version"].to_pylist()) == {1, 2}
    assert "output_score" in everything.column_names
    assert tlake.tables.info("predictions.fraud")["partition_by"] == ["day"]
    day = everything["day"][0].as_py()
    assert len(day) == 10 and day[4] == "-"


def test_latest_version_when_unpinned(tlake):
    tlake.predictions("fraud").write([{"amount": 1.0}], [1])
    assert tlake.predictions("fraud").read()["model_version"].to_pylist() == [2]
    edges = {(e.src, e.dst) for e in tlake.lineage.edges()}
    assert ("model:fraud@2", "predictions:fraud@2") in edges


def test_join_labels(tlake):
    log = tlake.predictions("fraud@champion")
    log.write({"amount": [1.0, 2.0, 3.0]}, [0, 1, 1], request_ids=["a", "b", "c"])
    tlake.tables.create("gold.labels", data=[{"request_id": "a", "label": 0}, {"request_id": "c", "label": 0}])
    joined = log.join_labels("gold.labels")
    assert [(r["request_id"], r["prediction"], r["label"]) for r in joined.to_pylist()] == [
        ("a", 0, 0),
        ("c", 1, 0),
    ]
    joined2 = log.join_labels(pa.table({"request_id": ["b"], "label": [1]}))
    assert joined2.num_rows == 1
    with pytest.raises(InvalidArgument):
        log.join_labels(pa.table({"id": ["b"]}))


def test_bad_input_changes_nothing(tlake):
    log = tlake.predictions("fraud@1")
    with pytest.raises(InvalidArgument):
        log.write({"amount": [1.0, 2.0]}, [0])
    with pytest.raises(InvalidArgument):
        log.write({"amount": [1.0]}, [0], request_ids=["a", "b"])
    with pytest.raises(InvalidArgument):
        log.write("not columns", [0])
    assert not tlake.tables.exists("predictions.fraud")
    with pytest.raises(NotFound):
        tlake.predictions("ghost@champion")
    with pytest.raises(InvalidArgument):
        tlake.predictions("bad-name")


def test_new_input_columns_extend_the_log(tlake):
    log = tlake.predictions("fraud@1")
    assert log.write({"amount": [1.0]}, [0], request_ids=["a"]) == 0
    assert log.write({"amount": [2.0], "country": ["fr"]}, [1], request_ids=["b"]) == 1
    rows = log.read().to_pylist()
    assert [(r["request_id"], r["input_country"]) for r in rows] == [("a", None), ("b", "fr")]
