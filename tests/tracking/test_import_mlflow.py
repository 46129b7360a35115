"""``lakebed import mlflow``: stores written by MLflow itself (a SQLite database and an
``mlruns`` folder), imported, then compared field by field with what MLflow's own client
reads back from the same store.

MLflow runs in a child process: this interpreter when it has ``mlflow``, else the Python
named by ``LAKEBED_TEST_MLFLOW_PYTHON``; the tests skip when neither has it (and fail
under ``LAKEBED_REQUIRE_SERVICES=1``, as in CI). The child runs in a folder under the test's temporary
directory with ``MLFLOW_TRACKING_URI`` pointing at the store, so MLflow writes nothing
anywhere else.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import lakebed
from lakebed.cli import app as lakebed_app
from lakebed.errors import LakebedError, MissingExtra, NotFound
from lakebed.importers.mlflow import RUN_ID_TAG, ImportReport, import_mlflow


def _mlflow_python() -> str | None:
    if importlib.util.find_spec("mlflow") is not None:
        return sys.executable
    exe = os.environ.get("LAKEBED_TEST_MLFLOW_PYTHON", "")
    if exe and os.path.isfile(exe):
        return exe
    if os.environ.get("LAKEBED_REQUIRE_SERVICES") == "1":  # CI installs lakebed[all], which has mlflow
        raise RuntimeError("LAKEBED_REQUIRE_SERVICES=1 but mlflow is not installed (pip install 'lakebed[mlflow]')")
    return None


MLFLOW_PY = _mlflow_python()
PY_ARG = None if sys.executable == MLFLOW_PY else MLFLOW_PY
needs_mlflow = pytest.mark.skipif(
    MLFLOW_PY is None,
    reason="mlflow is not installed here (pip install 'lakebed[mlflow]') and LAKEBED_TEST_MLFLOW_PYTHON "
           "names no Python that has it",
)

# Writes the stores with MLflow's client, then reads everything back with a fresh client:
# that reading is the reference the import is compared with.
MAKE_STORES = r'''
import base64, json, os, pickle, sys, tempfile, warnings
warnings.simplefilter("ignore")
from mlflow import MlflowClient
import mlflow
from mlflow.entities import Metric, Param, RunTag, ViewType

BASE = 1_700_000_000_000


def files_of(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, folder).replace(os.sep, "/")] = base64.b64encode(f.read()).decode()
    return out


def write(uri, art_root):
    os.environ["MLFLOW_TRACKING_URI"] = uri
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    loc = (lambda name: os.path.join(art_root, name)) if art_root else (lambda name: None)
    fraud = c.create_experiment("fraud", artifact_location=loc("fraud"), tags={"team": "risk"})
    churn = c.create_experiment("churn / v2", artifact_location=loc("churn"))
    scratch = tempfile.mkdtemp(dir=".")
    ids = []
    for i in range(3):
        run = c.create_run(fraud, start_time=BASE + i * 60_000, run_name=f"logreg-{i}",
                           tags={"team": "risk", "mlflow.user": "alice"})
        rid = run.info.run_id
        ids.append(rid)
        loss = [Metric("loss", 1.0 / (s + 1 + i), BASE + i * 60_000 + s * 1_000 + 7, s) for s in range(6)]
        auc = [Metric("auc", 0.8 + i / 100, BASE + i * 60_000 + 5, 0),
               Metric("auc", 0.9 + i / 100, BASE + i * 60_000 + 9, 2)]
        c.log_batch(rid, metrics=loss + auc, params=[Param("lr", str(0.1 * (i + 1))), Param("C", "1.0")],
                    tags=[RunTag("mlflow.note.content", f"run **{i}**"),
                          RunTag("mlflow.source.git.commit", "0123456789abcdef0123456789abcdef0123456" + str(i))])
        c.log_metric(rid, "loss", 0.01, timestamp=BASE + i * 60_000 + 99_000, step=10)  # a later point
        c.log_text(rid, f"report of run {i}\n", "report.txt")
        c.log_dict(rid, {"i": i, "features": ["a", "b"]}, "config/params.json")
        c.log_text(rid, "deep", "config/sub/deep.txt")
        c.log_text(rid, "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
                        "    model_path: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n"
                        "    serialization_format: cloudpickle\n    sklearn_version: 1.5.0\n", "model/MLmodel")
        p = os.path.join(scratch, "model.pkl")
        with open(p, "wb") as f:
            pickle.dump({"coef": [i, i + 1], "kind": "logreg"}, f)
        c.log_artifact(rid, p, "model")
        c.set_terminated(rid, "FINISHED", end_time=BASE + i * 60_000 + 30_000)
    # a failed child under a parent, a run still running, a deleted run
    parent = c.create_run(churn, start_time=BASE + 200_000, run_name="tuning")
    child = c.create_run(churn, start_time=BASE + 200_500, run_name="trial 1",
                         tags={"mlflow.parentRunId": parent.info.run_id})
    c.log_metric(child.info.run_id, "val_loss", float("nan"), timestamp=BASE + 200_600, step=0)
    c.log_metric(child.info.run_id, "val_loss", 2.5, timestamp=BASE + 200_700, step=1)
    c.log_param(child.info.run_id, "layers", "[64, 32]")
    c.log_text(child.info.run_id, "Traceback ...\nValueError: boom\n", "logs/error.txt")
    c.set_terminated(child.info.run_id, "FAILED", end_time=BASE + 200_800)
    c.set_terminated(parent.info.run_id, "FINISHED", end_time=BASE + 201_000)
    running = c.create_run(churn, start_time=BASE + 300_000, run_name="still going")
    c.log_param(running.info.run_id, "seed", "7")
    gone = c.create_run(churn, start_time=BASE + 400_000, run_name="deleted")
    c.delete_run(gone.info.run_id)
    # the registry: two versions and an alias; a name lakebed rewrites, and an MLflow 3 logged model
    c.create_registered_model("fraud", tags={"owner": "risk"}, description="fraud detector")
    c.create_model_version("fraud", f"runs:/{ids[0]}/model", run_id=ids[0], description="first try")
    c.create_model_version("fraud", f"runs:/{ids[1]}/model", run_id=ids[1], tags={"validated": "yes"})
    c.set_registered_model_alias("fraud", "champion", "2")
    c.create_registered_model("churn-model")
    c.create_model_version("churn-model", f"runs:/{ids[2]}/model", run_id=ids[2])
    if hasattr(c, "create_logged_model"):
        lm = c.create_logged_model(churn, name="net", source_run_id=child.info.run_id)
        d = tempfile.mkdtemp(dir=".")
        with open(os.path.join(d, "MLmodel"), "w") as f:
            f.write("artifact_path: net\nflavors:\n  pytorch:\n    model_data: data\n")
        os.makedirs(os.path.join(d, "data"))
        with open(os.path.join(d, "data", "model.pth"), "wb") as f:
            f.write(bytes(range(256)) * 4)
        c.log_model_artifacts(lm.model_id, d)
        c.create_model_version("churn-model", f"models:/{lm.model_id}", run_id=child.info.run_id,
                               model_id=lm.model_id)
    c.set_registered_model_alias("churn-model", "shadow", "1")


def read(uri):
    os.environ["MLFLOW_TRACKING_URI"] = uri
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)
    out = {"experiments": {}, "runs": [], "models": []}
    for e in c.search_experiments(view_type=ViewType.ALL):
        out["experiments"][e.experiment_id] = {"name": e.name, "tags": dict(e.tags)}
        for r in c.search_runs([e.experiment_id], run_view_type=ViewType.ALL, max_results=1000):
            i, d = r.info, r.data
            dst = tempfile.mkdtemp(dir=".")
            got = mlflow.artifacts.download_artifacts(run_id=i.run_id, dst_path=dst, tracking_uri=uri) \
                if c.list_artifacts(i.run_id) else None
            out["runs"].append({
                "id": i.run_id, "experiment": e.name, "name": i.run_name, "status": i.status,
                "start_time": i.start_time, "end_time": i.end_time, "user": i.user_id,
                "deleted": i.lifecycle_stage == "deleted", "params": d.params, "tags": d.tags,
                "latest": d.metrics,
                "metrics": {k: [[m.step, m.timestamp, m.value] for m in c.get_metric_history(i.run_id, k)]
                            for k in d.metrics},
                "artifacts": files_of(got) if got else {},
            })
    for m in c.search_registered_models():
        versions = []
        for v in c.search_model_versions(f"name = '{m.name}'"):
            dst = tempfile.mkdtemp(dir=".")
            got = mlflow.artifacts.download_artifacts(
                artifact_uri=c.get_model_version_download_uri(m.name, v.version), dst_path=dst, tracking_uri=uri)
            versions.append({"version": int(v.version), "run_id": v.run_id, "source": v.source,
                             "stage": v.current_stage, "tags": v.tags, "description": v.description,
                             "created": v.creation_timestamp, "files": files_of(got)})
        out["models"].append({"name": m.name, "description": m.description, "tags": m.tags,
                              "aliases": {a: int(v) for a, v in m.aliases.items()}, "versions": versions})
    return out


kind, uri, art = sys.argv[2].split("|")
write(uri, art or None)
with open(sys.argv[1], "w") as f:
    json.dump({kind: read(uri)}, f)
'''


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both stores, written once per module by two MLflow processes side by side (MLflow's
    SQLite schema alone takes seconds), with the reference reading of each:
    {"sqlite": {"uri", "ref"}, "file": {...}}."""
    if MLFLOW_PY is None:
        pytest.skip("mlflow is not available")
    root = tmp_path_factory.mktemp("mlflow")
    uris = {"sqlite": f"sqlite:///{root / 'mlflow.db'}", "file": str(root / "mlruns")}
    art = {"sqlite": str(root / "artifacts"), "file": ""}  # a file store keeps them inside mlruns
    procs = {}
    with pytest.MonkeyPatch.context() as mp:
        for kind, uri in uris.items():
            work = root / f"work-{kind}"  # the child's folder: anything MLflow writes by itself lands here
            work.mkdir()
            mp.setenv("MLFLOW_TRACKING_URI", uri)
            mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
            procs[kind] = subprocess.Popen(
                [MLFLOW_PY, "-c", MAKE_STORES, str(root / f"{kind}.json"), f"{kind}|{uri}|{art[kind]}"],
                cwd=work, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
    for kind, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
        shutil.rmtree(root / f"work-{kind}")  # the reference's downloads
    yield {kind: {"uri": uris[kind], "ref": json.loads((root / f"{kind}.json").read_text())[kind]}
           for kind in uris}


@pytest.fixture(scope="module")
def imported(stores: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each store imported once into a lake of its own (both at once: most of the time is
    MLflow starting): {kind: (lake path, report, progress calls)}."""

    kinds = ("sqlite", "file")
    lakes = {k: lakebed.connect(tmp_path_factory.mktemp(f"lake-{k}") / "lake") for k in kinds}

    def run(kind: str) -> tuple[Path, ImportReport, list[tuple[int, int]]]:
        seen: list[tuple[int, int]] = []
        with lakes[kind] as lake:
            report = import_mlflow(lake, stores[kind]["uri"], python=PY_ARG,
                                   progress=lambda d, t: seen.append((d, t)))
        return lakes[kind].path, report, seen

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(kinds, pool.map(run, kinds), strict=True))


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


@needs_mlflow
@pytest.mark.parametrize("kind", ["sqlite", "file"])
def test_import_matches_what_mlflow_reads(kind: str, stores: dict[str, Any], imported: dict[str, Any]) -> None:
    ref = stores[kind]["ref"]
    path, report, seen = imported[kind]
    live = [r for r in ref["runs"] if not r["deleted"]]
    assert any(r["deleted"] for r in ref["runs"])
    assert report.runs_total == report.runs_imported == len(live)
    assert report.skipped == []
    assert seen[0] == (0, len(live)) and seen[-1] == (len(live), len(live))
    assert report.metric_points == sum(len(h) for r in live for h in r["metrics"].values())
    assert report.artifacts == sum(len(r["artifacts"]) for r in live)
    with lakebed.connect(path, read_only=True) as lake:
        assert lake.runs.count() == len(live)
        for r in ref["runs"]:
            if r["deleted"]:
                with pytest.raises(NotFound):
                    lake.runs.get(r["id"])
                continue
            run = lake.runs.get(r["id"])  # MLflow's id is kept
            assert run.experiment == r["experiment"]
            assert run.name == r["name"]
            assert run.status == r["status"]
            assert _ms(run.start_time) == r["start_time"]
            assert _ms(run.end_time) == r["end_time"]
            assert run.user == r["user"]
            assert run.git_commit == r["tags"].get("mlflow.source.git.commit")
            assert run.params == r["params"]
            assert run.tags == {**r["tags"], RUN_ID_TAG: r["id"]}
            assert sorted(run.metrics) == sorted(r["metrics"])
            for key, hist in r["metrics"].items():
                got = run.metric_history(key).to_pylist()
                want = sorted(hist, key=lambda p: (p[0], p[1]))
                assert len(got) == len(want)
                for g, (step, ts, value) in zip(got, want, strict=True):
                    assert g["step"] == step and _ms(g["timestamp"]) == ts and _same(g["value"], value)
                assert _same(run.metrics[key], r["latest"][key])  # the same "latest" as MLflow's
            files = {a.name: a for a in run.artifacts if a.kind == "file"}
            assert sorted(files) == sorted(r["artifacts"])
            for name, data in r["artifacts"].items():
                assert run.load_artifact(name) == base64.b64decode(data)

        models = {m["name"]: m for m in lake.models.list()}
        assert report.renamed == {"churn-model": "churn_model"}
        assert sorted(models) == sorted(report.renamed.get(m["name"], m["name"]) for m in ref["models"])
        for m in ref["models"]:
            name = report.renamed.get(m["name"], m["name"])
            assert models[name]["description"] == m["description"]
            assert models[name]["aliases"] == m["aliases"]
            versions = {v.version: v for v in lake.models.versions(name)}
            assert sorted(versions) == sorted(v["version"] for v in m["versions"])
            for v in m["versions"]:
                mv = versions[v["version"]]
                assert mv.run_id == v["run_id"]
                assert mv.description == v["description"]
                assert _ms(mv.created_at) == v["created"]
                props = (mv.properties or {})["mlflow"]
                assert props["source"] == v["source"]
                assert props["stage"] == (None if v["stage"] in (None, "None") else v["stage"])
                assert props["tags"] == v["tags"]
                assert sorted(props["files"]) == sorted(v["files"])
                for rel, data in v["files"].items():
                    assert lake.runs.artifacts.get(props["files"][rel]) == base64.b64decode(data)
                assert f"run:{v['run_id']}" in lake.lineage.upstream(mv.ref).nodes
                if "model.pkl" in v["files"]:  # a pickled sklearn-flavor model loads as such
                    want = pickle.loads(base64.b64decode(v["files"]["model.pkl"]))
                    assert mv.flavor == "sklearn"
                    assert lake.models.load(name, mv.version) == want
                    assert lake.runs.get(v["run_id"]).load_model(props["source"].rsplit("/", 1)[1]) == want
                else:
                    assert mv.flavor == "mlflow"
                    with pytest.raises(LakebedError, match="MLflow"):
                        lake.models.load(name, mv.version)
            for alias, version in m["aliases"].items():
                assert lake.models.get(f"{name}@{alias}").version == version
    assert report.dropped["experiment tags"] == sum(len(e["tags"]) for e in ref["experiments"].values())
    assert report.dropped["registered-model tags"] == sum(len(m["tags"]) for m in ref["models"])


@needs_mlflow
def test_second_import_adds_nothing(stores: dict[str, Any], imported: dict[str, Any], tmp_path: Path) -> None:
    src, first, _ = imported["sqlite"]
    path = tmp_path / "lake"
    shutil.copytree(src, path)
    with lakebed.connect(path) as lake:
        before = lake.runs.search("", limit=None)
        report = import_mlflow(lake, stores["sqlite"]["uri"], python=PY_ARG)
        after = lake.runs.search("", limit=None)
        versions = sum(len(lake.models.versions(m["name"])) for m in lake.models.list())
    assert report.runs_imported == 0 and report.runs_existing == first.runs_imported == report.runs_total
    assert report.versions_imported == 0 and report.versions_existing == first.versions_imported == versions
    assert report.aliases_set == 0 and report.skipped == []
    assert after.equals(before)


@needs_mlflow
def test_cli_experiment_filter_then_the_rest(stores: dict[str, Any], tmp_path: Path) -> None:
    ref = stores["file"]["ref"]
    lake_path = tmp_path / "lake"
    extra = [] if PY_ARG is None else ["--mlflow-python", PY_ARG]
    runner = CliRunner()
    result = runner.invoke(lakebed_app, ["import", "mlflow", "--tracking-uri", stores["file"]["uri"],
                                         "--lake", str(lake_path), "--experiment", "fraud", *extra],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    fraud = [r for r in ref["runs"] if r["experiment"] == "fraud" and not r["deleted"]]
    assert f"{len(fraud)} of {len(fraud)}" in result.output  # the summary table
    assert "churn-model@" in result.output and "not imported" in result.output  # versions of other runs
    with lakebed.connect(lake_path, read_only=True) as lake:
        assert sorted(lake.runs.search("", limit=None)["run_id"].to_pylist()) == sorted(r["id"] for r in fraud)
        assert lake.runs.experiments() == ["fraud"]

    result = runner.invoke(lakebed_app, ["import", "mlflow", "-t", stores["file"]["uri"], "-l", str(lake_path), *extra],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    live = [r for r in ref["runs"] if not r["deleted"]]
    with lakebed.connect(lake_path, read_only=True) as lake:
        ids = lake.runs.search("", limit=None)["run_id"].to_pylist()
        assert sorted(ids) == sorted(r["id"] for r in live)  # the rest arrived, nothing twice
        aliases = {x["name"]: x["aliases"] for x in lake.models.list()}
        assert len(aliases) == len(ref["models"])
        for m in ref["models"]:
            name = m["name"].replace("-", "_")  # churn-model is stored as churn_model
            assert [v.version for v in lake.models.versions(name)] == sorted(v["version"] for v in m["versions"])
            assert aliases[name] == m["aliases"]

    result = runner.invoke(lakebed_app, ["import", "mlflow", "-t", stores["file"]["uri"], "-l", str(lake_path),
                                        "-e", "no such experiment", *extra], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "no experiment 'no such experiment'" in result.output and "fraud" in result.output


def test_a_store_that_does_not_exist(tmp_path: Path) -> None:
    missing_db = tmp_path / "nope" / "mlflow.db"
    not_a_store = tmp_path / "empty"
    not_a_store.mkdir()
    with lakebed.connect(tmp_path / "lake") as lake:
        for uri in (f"sqlite:///{missing_db}", str(tmp_path / "mlruns"), str(not_a_store), f"file://{not_a_store}"):
            with pytest.raises(NotFound, match="MLflow"):
                import_mlflow(lake, uri, python=PY_ARG or sys.executable)
        assert lake.runs.count() == 0
    assert not missing_db.exists() and not (tmp_path / "mlruns").exists()
    result = CliRunner().invoke(lakebed_app, ["import", "mlflow", "-t", f"sqlite:///{missing_db}",
                                              "-l", str(tmp_path / "lake")], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "does not exist" in result.output


def test_without_mlflow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with lakebed.connect(tmp_path / "lake") as lake, pytest.raises(MissingExtra, match=r"lakebed\[mlflow\]"):
        import_mlflow(lake, f"sqlite:///{tmp_path / 'mlflow.db'}")
    result = CliRunner().invoke(lakebed_app, ["import", "mlflow", "-t", str(tmp_path / "mlflow.db"),
                                              "-l", str(tmp_path / "lake")], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "pip install 'lakebed[mlflow]'" in result.output


def test_report_is_a_dataclass_of_counts() -> None:
    report = ImportReport(tracking_uri="sqlite:///x.db", runs_total=3, runs_imported=2)
    rows = dict(report.rows())
    assert rows["runs imported"] == "2 of 3" and rows["skipped"] == "0"
