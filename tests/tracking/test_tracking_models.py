"""The model registry: versions, aliases, loading with checksum verification."""

from __future__ import annotations

import pytest

import lakebed
from lakebed.errors import CorruptionError, InvalidArgument, NotFound


@pytest.fixture
def tlake(tmp_path, catalog_url):
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lk:
        yield lk


def _run_with_model(lake, value):
    with lake.runs.start(experiment="fraud") as run:
        run.log_model(value)
    return run


def test_versions_count_up_and_aliases_move(tlake):
    r1, r2 = _run_with_model(tlake, {"v": 1}), _run_with_model(tlake, {"v": 2})
    mv1 = tlake.models.register("fraud", run=r1, description="first")
    mv2 = tlake.models.register("fraud", run=r2.id)
    assert (mv1.version, mv2.version) == (1, 2)
    assert mv1.ref == "model:fraud@1"
    tlake.models.set_alias("fraud", "champion", 1)
    assert tlake.models.get("fraud@champion").version == 1
    assert tlake.models.load("fraud@champion") == {"v": 1}
    tlake.models.set_alias("fraud", "champion", 2)  # moves
    assert tlake.models.get("fraud@champion").aliases == ("champion",)
    assert tlake.models.load("fraud@champion") == {"v": 2}
    assert tlake.models.get("fraud").version == 2  # latest
    assert tlake.models.get("fraud", 1).description == "first"
    assert tlake.models.get("fraud@1").run_id == r1.id
    assert tlake.models.load("model:fraud@latest") == {"v": 2}
    assert [v.version for v in tlake.models.versions("fraud")] == [1, 2]
    listed = tlake.models.list()
    assert listed[0]["name"] == "fraud" and listed[0]["latest_version"] == 2
    assert listed[0]["aliases"] == {"champion": 2}
    tlake.models.delete_alias("fraud", "champion")
    with pytest.raises(NotFound):
        tlake.models.get("fraud@champion")
    with pytest.raises(NotFound):
        tlake.models.delete_alias("fraud", "champion")


def test_register_errors(tlake):
    run = _run_with_model(tlake, {"v": 1})
    with pytest.raises(NotFound, match="no artifact"):
        tlake.models.register("fraud", run=run, artifact="other")
    with pytest.raises(NotFound):
        tlake.models.register("fraud", run="no-such-run")
    with pytest.raises(InvalidArgument):
        tlake.models.register("bad name!", run=run)
    with pytest.raises(NotFound):
        tlake.models.get("fraud")
    tlake.models.register("fraud", run=run)
    with pytest.raises(NotFound):
        tlake.models.set_alias("fraud", "champion", 7)
    with pytest.raises(InvalidArgument):
        tlake.models.set_alias("fraud", "latest", 1)
    with pytest.raises(InvalidArgument):
        tlake.models.set_alias("fraud", "3", 1)
    with pytest.raises(NotFound):
        tlake.models.get("fraud@9")


def test_load_verifies_the_checksum(tlake):
    run = _run_with_model(tlake, {"v": 1})
    mv = tlake.models.register("fraud", run=run)
    (tlake.path / "artifacts" / mv.sha256).write_bytes(b"tampered")
    with pytest.raises(CorruptionError):
        tlake.models.load("fraud@1")


def test_registration_records_lineage(tlake):
    run = _run_with_model(tlake, {"v": 1})
    mv = tlake.models.register("fraud", run=run)
    graph = tlake.lineage.upstream("model:fraud@1")
    assert graph.nodes == [mv.ref, run.ref]
    assert graph.edges[0].kind == "registered"
