"""Run lifecycle, params immutability, metric series, tags, artifacts and environment."""

from __future__ import annotations

import math
import os
import sys

import pytest

import lakebed
from lakebed.errors import ConflictError, CorruptionError, InvalidArgument, NotFound


@pytest.fixture
def tlake(tmp_path, catalog_url):
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lk:
        yield lk


def test_run_lifecycle_finished(tlake):
    with tlake.runs.start(experiment="fraud", name="first", tags={"team": "risk"}) as run:
        assert run.status == "RUNNING"
        assert tlake.runs.get(run.id).status == "RUNNING"
        run.log_params({"lr": 0.1, "depth": 3})
        run.log_metric("auc", 0.8, step=1)
        run.log_metric("auc", 0.9, step=2)
        run.log_metrics({"loss": 0.3, "acc": 0.7}, step=2)
        run.set_tags({"stage": "dev"})
    got = tlake.runs.get(run.id)
    assert got.status == "FINISHED"
    assert got.name == "first" and got.experiment == "fraud"
    assert got.end_time is not None and got.end_time >= got.start_time
    assert got.params == {"lr": "0.1", "depth": "3"}
    assert got.metrics == {"auc": 0.9, "loss": 0.3, "acc": 0.7}
    assert got.tags == {"team": "risk", "stage": "dev"}
    assert got.python_version == ".".join(map(str, sys.version_info[:3]))
    assert got.host
    assert "pyarrow" in got.environment


def test_failing_run_is_failed_and_reraises(tlake):
    with pytest.raises(RuntimeError, match="boom"), tlake.runs.start(experiment="x") as run:
        run.log_metric("loss", 1.0)
        raise RuntimeError("boom")
    got = tlake.runs.get(run.id)
    assert got.status == "FAILED"
    assert "boom" in (got.error or "")
    assert got.metrics == {"loss": 1.0}  # buffered points are not lost on failure


def test_ending_inside_the_block_is_kept(tlake):
    with tlake.runs.start() as run:
        run.end("KILLED")
    assert tlake.runs.get(run.id).status == "KILLED"
    with pytest.raises(InvalidArgument):
        tlake.runs.start().end("RUNNING")


def test_params_are_immutable(tlake):
    with tlake.runs.start() as run:
        run.log_params({"lr": 0.1})
        run.log_params({"lr": 0.1})  # the same value is fine
        with pytest.raises(ConflictError, match="immutable"):
            run.log_params({"lr": 0.2, "new": 1})
        # the failed call changed nothing, not even the new key
        assert run.params == {"lr": "0.1"}
        run.log_param("new", 1)
    assert tlake.runs.get(run.id).params == {"lr": "0.1", "new": "1"}


def test_bad_metric_values_are_rejected(tlake):
    with tlake.runs.start() as run:
        with pytest.raises(InvalidArgument):
            run.log_metric("auc", "high")
        with pytest.raises(InvalidArgument):
            run.log_metric("", 1.0)
        with pytest.raises(InvalidArgument):
            run.log_metric("auc", 1.0, step=1.5)
    assert run.metrics == {}


def test_metric_series_is_append_only_with_latest_by_step(tlake):
    with tlake.runs.start() as run:
        run.log_metric("loss", 0.5, step=5)
        run.log_metric("loss", 0.9, step=1)  # an older step logged later
        run.log_metric("loss", 0.4, step=5)  # same step, later: wins
        run.log_metric("nan", float("nan"))
    hist = run.metric_history("loss")
    assert hist["step"].to_pylist() == [1, 5, 5]
    assert hist["value"].to_pylist() == [0.9, 0.5, 0.4]
    metrics = tlake.runs.get(run.id).metrics
    assert metrics["loss"] == 0.4
    assert math.isnan(metrics["nan"])


def test_metrics_flush_when_the_lake_closes(tmp_path, catalog_url):
    path = tmp_path / "lake"
    with lakebed.connect(path, catalog=catalog_url) as lk:
        lk.runs.flush_interval = 3600
        run = lk.runs.start()
        for i in range(100):
            run.log_metric("m", float(i), step=i)
        assert len(lk.runs._buffer) == 100  # still buffered
    with lakebed.connect(path, catalog=catalog_url) as lk:
        assert lk.runs.get(run.id).metric_history("m").num_rows == 100


def test_many_metrics_flush_in_batches(tlake):
    tlake.runs.max_buffered = 1000
    with tlake.runs.start() as run:
        for i in range(2500):
            run.log_metric("m", float(i), step=i)
        assert len(tlake.runs._buffer) < 1000
    assert run.metric_history("m")["value"].to_pylist() == [float(i) for i in range(2500)]
    assert tlake.runs.get(run.id).metrics["m"] == 2499.0


def test_artifact_round_trip_and_checksum(tlake, tmp_path):
    f = tmp_path / "report.txt"
    f.write_text("hello")
    with tlake.runs.start() as run:
        a = run.log_artifact(f)
        b = run.log_artifact(b"raw bytes", name="raw.bin")
        run.log_artifact(b"raw bytes", name="raw.bin")  # same content again: fine
        with pytest.raises(ConflictError):
            run.log_artifact(b"other", name="raw.bin")
        with pytest.raises(InvalidArgument):
            run.log_artifact(b"no name")
    assert a.name == "report.txt"
    assert (tlake.path / "artifacts" / a.sha256).exists()
    assert run.load_artifact("report.txt") == b"hello"
    assert run.load_artifact("raw.bin") == b"raw bytes"
    assert [x.name for x in run.artifacts] == ["raw.bin", "report.txt"]
    # corrupt the stored file: reading must fail loudly
    (tlake.path / "artifacts" / b.sha256).write_bytes(b"raw bytez")
    with pytest.raises(CorruptionError):
        run.load_artifact("raw.bin")
    with pytest.raises(NotFound):
        run.load_artifact("missing")


def test_log_model_flavors(tlake):
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    import numpy as np

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    clf = sklearn_linear.LogisticRegression().fit(x, y)

    class Booster:  # an xgboost-style booster
        def __init__(self) -> None:
            self.raw = b""

        def save_raw(self) -> bytearray:
            return bytearray(b"tree-bytes")

        def load_model(self, raw: bytearray) -> None:
            self.raw = bytes(raw)

    with tlake.runs.start() as run:
        assert run.log_model(clf).flavor == "sklearn"
        assert run.log_model({"a": 1}, name="dict").flavor == "pickle"
        assert run.log_model(Booster(), name="booster").flavor == "booster"
    loaded = run.load_model()
    assert (loaded.predict(x) == clf.predict(x)).all()
    assert run.load_model("dict") == {"a": 1}
    assert run.artifact("booster").flavor == "booster"


def test_log_model_torch_state_dict(tlake):
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(3, 2)
    with tlake.runs.start() as run:
        assert run.log_model(net).flavor == "torch"
    state = run.load_model()
    assert torch.equal(state["weight"], net.state_dict()["weight"])


def test_get_missing_and_delete(tlake):
    with pytest.raises(NotFound):
        tlake.runs.get("nope")
    with tlake.runs.start() as run:
        run.log_metric("m", 1.0)
        run.log_params({"p": 1})
    tlake.runs.delete(run.id)
    with pytest.raises(NotFound):
        tlake.runs.get(run.id)
    assert tlake.runs.list().num_rows == 0
    with pytest.raises(NotFound):
        tlake.runs.delete(run.id)


def test_delete_refuses_a_run_behind_a_model(tlake):
    with tlake.runs.start() as run:
        run.log_model({"w": 1})
    tlake.models.register("m", run=run)
    with pytest.raises(ConflictError, match="m@1"):
        tlake.runs.delete(run.id)


def test_git_commit_recorded_inside_a_repository(tlake, tmp_path, monkeypatch):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    (repo / "f.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "f.py"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True, env=env)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(repo)
    with tlake.runs.start() as run:
        pass
    assert run.git_commit == head
    assert run.git_dirty is False
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    with tlake.runs.start() as run2:
        pass
    if not any((p / ".git").exists() for p in (outside, *outside.parents)):
        assert run2.git_commit is None


def test_read_only_lake_refuses_runs(tmp_path):
    path = tmp_path / "lake"
    with lakebed.connect(path) as lk, lk.runs.start() as run:
        run.log_metric("m", 1.0)
    with lakebed.connect(path, read_only=True) as ro:
        assert ro.runs.get(run.id).metrics == {"m": 1.0}
        with pytest.raises(lakebed.errors.ReadOnlyError):
            ro.runs.start()
        with pytest.raises(lakebed.errors.ReadOnlyError):
            ro.runs.get(run.id).log_metric("m", 2.0)
