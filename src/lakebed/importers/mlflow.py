"""Import an MLflow tracking store into a lake: ``lakebed import mlflow``.

What comes over, read with MLflow's own client (so any store MLflow reads works: a
``sqlite:///mlflow.db`` or other database URI, an ``mlruns`` folder, a tracking server):

- experiments (as the ``experiment`` of their runs) and runs: name, status, start and end
  time, user, params, tags, every metric with its whole history (step, timestamp, value),
  and every artifact file, copied into the lake's artifact store. The run keeps its MLflow
  id (both are 32 hex digits) and carries the tag ``mlflow.run_id``; the commit in the
  tag ``mlflow.source.git.commit`` also fills the run's ``git_commit``.
- registered models with their version numbers, descriptions, creation times, the link
  from each version to its run (lineage ``run:<id> -> model:<name>@<version>``) and the
  aliases. A version's MLflow stage, status, tags, source and file list go to its
  ``properties["mlflow"]``. Model names that are not lakebed identifiers are rewritten
  (``Churn-Model`` -> ``Churn_Model``, listed in the report).

An MLflow model is a folder. When its ``MLmodel`` names a pickled model (the ``sklearn``
flavor), the version points at that file with flavor ``sklearn``, and
``lake.models.load`` returns the estimator; otherwise it points at the ``MLmodel`` file
with flavor ``mlflow`` and the files are read with MLflow. Every file of the folder is kept
(as run artifacts ``<path>/...``, and content-addressed in ``properties["mlflow"]["files"]``).

Not imported (lakebed has no place for them; the report counts them under ``dropped``):
experiment tags, registered-model tags, deleted runs and experiments, dataset inputs,
MLflow 3 logged-model params and metrics, traces and prompts. Empty artifact folders are
not kept.

Importing is idempotent: runs whose ``mlflow.run_id`` is in the lake already and model
versions imported before are skipped, so a second import adds only what is new (and
moves aliases to where MLflow has them). Each run is written in one transaction.

MLflow runs in a child process (``python``, by default this interpreter), which reads the
store and downloads artifacts into a temporary folder; so MLflow may also live in another
virtualenv (``python="/path/to/mlflow-env/bin/python"``, ``--mlflow-python``).

Example:
    >>> import lakebed
    >>> from lakebed.importers.mlflow import import_mlflow
    >>> lake = lakebed.connect("./lake")                            # doctest: +SKIP
    >>> report = import_mlflow(lake, "sqlite:///mlflow.db")         # doctest: +SKIP
    >>> report.runs_imported, report.versions_imported               # doctest: +SKIP
    (12, 3)
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakebed._names import validate_name
from lakebed.errors import (
    BackendUnavailable,
    ConflictError,
    InvalidArgument,
    LakebedError,
    MissingExtra,
    NotFound,
)

if TYPE_CHECKING:
    from lakebed.lake import Lake

__all__ = ["ImportReport", "Skipped", "import_mlflow"]

RUN_ID_TAG = "mlflow.run_id"
_STATUS = {"RUNNING": "RUNNING", "SCHEDULED": "RUNNING", "FINISHED": "FINISHED", "FAILED": "FAILED",
           "KILLED": "KILLED"}
_READER = Path(__file__).with_name("_mlflow_reader.py")
_INSTALL = "pip install 'lakebed[mlflow]'"


@dataclasses.dataclass(frozen=True)
class Skipped:
    """Something of the MLflow store that was not imported, and why."""

    kind: str  # "run", "model", "version", "alias"
    name: str
    reason: str


@dataclasses.dataclass
class ImportReport:
    """What :func:`import_mlflow` did: counts, and the items it skipped with the reason.

    ``run_ids`` maps the MLflow id of each run imported now to its lakebed id (the same
    unless the id was not 32 hex digits); ``renamed`` maps MLflow model names to the lakebed
    names they were stored under; ``dropped`` counts what lakebed has no place for.
    """

    tracking_uri: str
    mlflow_version: str = ""
    experiments: list[str] = dataclasses.field(default_factory=list)
    runs_total: int = 0
    runs_imported: int = 0
    runs_existing: int = 0
    params: int = 0
    tags: int = 0
    metric_points: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    models_imported: int = 0
    versions_imported: int = 0
    versions_existing: int = 0
    aliases_set: int = 0
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    renamed: dict[str, str] = dataclasses.field(default_factory=dict)
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)
    run_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def _drop(self, what: str, n: int = 1) -> None:
        if n:
            self.dropped[what] = self.dropped.get(what, 0) + n

    def rows(self) -> list[tuple[str, str]]:
        """(what, how many) for a summary table."""
        rows = [
            ("experiments", str(len(self.experiments))),
            ("runs imported", f"{self.runs_imported} of {self.runs_total}"),
            ("runs already in the lake", str(self.runs_existing)),
            ("params", str(self.params)),
            ("tags", str(self.tags)),
            ("metric points", str(self.metric_points)),
            ("artifacts", f"{self.artifacts} ({self.artifact_bytes:,} bytes)"),
            ("models", str(self.models_imported)),
            ("model versions imported", str(self.versions_imported)),
            ("model versions already in the lake", str(self.versions_existing)),
            ("aliases set", str(self.aliases_set)),
            ("skipped", str(len(self.skipped))),
        ]
        rows += [(f"not imported: {k}", str(v)) for k, v in sorted(self.dropped.items())]
        return rows


def import_mlflow(
    lake: Lake,
    tracking_uri: str | os.PathLike[str],
    *,
    experiments: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    registry_uri: str | None = None,
    python: str | os.PathLike[str] | None = None,
) -> ImportReport:
    """Import the experiments, runs and registered models of an MLflow tracking store.

    Args:
        lake: an embedded lake opened for writing.
        tracking_uri: ``sqlite:///path/mlflow.db`` (a ``.db`` file path works too), an
            ``mlruns`` folder (file store), or any other URI MLflow's client reads.
        experiments: import only the runs of these experiments (by name) and the model
            versions made by them; None: everything.
        progress: called as ``progress(runs_done, runs_total)`` while runs are imported.
        registry_uri: the model registry's URI when it is not the tracking store.
        python: a Python interpreter with ``mlflow`` installed, when it is not this one.

    Raises NotFound for a store or an experiment that does not exist, MissingExtra when
    MLflow is not installed, and BackendUnavailable when MLflow fails to read the store.

    Example:
        >>> report = import_mlflow(lake, "./mlruns", experiments=["fraud"])  # doctest: +SKIP
        >>> report.skipped                                                    # doctest: +SKIP
        []
    """
    from lakebed.lake import Lake

    if not isinstance(lake, Lake):
        raise InvalidArgument("import_mlflow writes into an embedded lake: lakebed.connect('<path>')")
    lake.check_writable()
    if experiments is not None:
        if isinstance(experiments, str):
            experiments = [experiments]
        experiments = list(experiments)
        if not experiments or not all(isinstance(e, str) and e for e in experiments):
            raise InvalidArgument(f"experiments must be a list of experiment names, got {experiments!r}")
    uri, file_store = _normalize_uri(tracking_uri)
    reg = uri if registry_uri is None else _normalize_uri(registry_uri)[0]
    exe = _python(python)
    started = time.monotonic()
    report = ImportReport(tracking_uri=uri)
    importer = _Importer(lake, report)
    with tempfile.TemporaryDirectory(prefix="lakebed-mlflow-") as work:
        settings = {
            "tracking_uri": uri,
            "registry_uri": reg,
            "experiments": experiments,
            "workdir": work,
            "file_store": file_store,
            "artifacts": True,
            "in_lake": sorted(importer.run_map),
            "known_versions": sorted(importer.known_versions),
        }
        (Path(work) / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
        done = 0
        # closing() stops the child process on any error before the folder is removed
        with contextlib.closing(_records(exe, work, uri, reg)) as stream:
            for record in stream:
                kind = record["t"]
                if kind == "hello":
                    report.mlflow_version = record["mlflow"]
                elif kind == "plan":
                    report.runs_total = record["runs"]
                    report.experiments = [e["name"] for e in record["experiments"]]
                    report._drop("experiment tags", sum(len(e["tags"]) for e in record["experiments"]))
                    if progress is not None:
                        progress(0, report.runs_total)
                elif kind in ("run", "run_skipped", "run_failed"):
                    if kind == "run":
                        importer.run(record)
                    elif kind == "run_skipped":
                        report.runs_existing += 1
                    else:
                        report.skipped.append(Skipped("run", record["id"], record["reason"]))
                    done += 1
                    if progress is not None:
                        progress(done, report.runs_total)
                elif kind == "model":
                    importer.model(record, filtered=experiments is not None)
    report.seconds = time.monotonic() - started
    return report


# -- the MLflow side -------------------------------------------------------------------
def _normalize_uri(value: str | os.PathLike[str]) -> tuple[str, str | None]:
    """An absolute URI for the child process (which runs in another folder), after
    checking that a local store exists; and the folder of a file store, if it is one."""
    text = os.fspath(value)
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgument(f"tracking_uri must be a URI or a path, got {value!r}")
    text = text.strip()
    if text.startswith("sqlite:"):
        if not text.startswith("sqlite:///") or text in ("sqlite:///", "sqlite:///:memory:"):
            raise InvalidArgument(f"{text!r} names no database file; write sqlite:///path/to/mlflow.db")
        path = Path(text[len("sqlite:///"):].split("?", 1)[0]).expanduser().resolve()
        if not path.is_file():
            raise NotFound(f"no MLflow store at {text!r}: the file {path} does not exist; "
                           "check the path (sqlite:///relative/path or sqlite:////absolute/path)")
        return "sqlite:///" + str(path), None
    if text.startswith("file:"):
        from urllib.parse import unquote, urlparse

        text = unquote(urlparse(text).path)
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        return text, None  # a database or a tracking server: MLflow's client reports problems
    path = Path(text).expanduser().resolve()
    if path.is_file() and path.suffix in (".db", ".sqlite", ".sqlite3"):
        return "sqlite:///" + str(path), None
    if not path.is_dir():
        raise NotFound(f"no MLflow store at {str(value)!r}: {path} is not a folder; give an mlruns "
                       "folder or a database URI such as sqlite:///mlflow.db")
    if not any((p / "meta.yaml").is_file() for p in path.iterdir() if p.is_dir()):
        raise NotFound(f"{path} is not an MLflow file store (an mlruns folder has one folder with a "
                       "meta.yaml per experiment); give the mlruns folder or a database URI")
    return str(path), str(path)


def _python(python: str | os.PathLike[str] | None) -> str:
    if python is None:
        if importlib.util.find_spec("mlflow") is None:
            raise MissingExtra(
                "importing from MLflow needs the optional dependency 'mlflow', which is not installed; "
                f"install it with: {_INSTALL} (or give python= / --mlflow-python, a Python that has mlflow)"
            )
        return sys.executable
    exe = shutil.which(os.fspath(python)) or os.fspath(python)
    if not os.path.isfile(exe) or not os.access(exe, os.X_OK):
        raise NotFound(f"no Python interpreter at {os.fspath(python)!r}; give the path of one that has mlflow")
    return exe


def _records(exe: str, work: str, uri: str, registry_uri: str) -> Generator[dict[str, Any], None, None]:
    """Run the reader in a child process and yield its records."""
    env = dict(os.environ)
    # MLflow's file registry opens a client on the *global* tracking URI: point it at the
    # store, never at a default ./mlflow.db; the file store needs an explicit opt-in in 3.x
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=registry_uri, MLFLOW_ALLOW_FILE_STORE="true",
               PYTHONIOENCODING="utf-8")
    code = _READER.read_text(encoding="utf-8")
    errors_path = Path(work) / "stderr.txt"
    with open(errors_path, "wb") as errors:
        proc = subprocess.Popen(
            [exe, "-c", code, str(Path(work) / "settings.json")],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
        )
        failure: dict[str, Any] | None = None
        finished = False
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                record = json.loads(line)
                if record["t"] == "error":
                    failure = record
                elif record["t"] == "done":
                    finished = True
                else:
                    yield record
        finally:
            if proc.poll() is None and not finished:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    if failure is not None:
        msg = failure["message"]
        if failure["kind"] == "missing":
            raise MissingExtra(f"{msg}; install it there with: pip install mlflow-skinny sqlalchemy alembic, "
                               f"or here with: {_INSTALL}")
        if failure["kind"] == "not_found":
            raise NotFound(msg)
        raise BackendUnavailable(f"MLflow could not read {uri!r}: {msg}")
    if proc.returncode != 0 or not finished:
        tail = errors_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise BackendUnavailable(f"the MLflow reader ({exe}) stopped with exit code {proc.returncode}: "
                                 + (" | ".join(tail) or "no message"))


# -- the lakebed side ------------------------------------------------------------------
def _model_name(name: str) -> str:
    """An MLflow model name as a lakebed model name (an identifier)."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not out or out[0].isdigit():
        out = "_" + out
    return out[:128]


def _model_file(flavors: dict[str, Any] | None, files: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(file, lakebed flavor, load properties) of the file a model version points at."""
    for flavor, conf in (flavors or {}).items():
        if not isinstance(conf, dict):
            continue
        pickled = conf.get("pickled_model")
        if pickled in files and conf.get("serialization_format", "cloudpickle") in ("pickle", "cloudpickle"):
            return pickled, ("sklearn" if flavor == "sklearn" else "pickle"), {"serializer": "pickle"}
    if "MLmodel" in files:
        return "MLmodel", "mlflow", {}
    return sorted(files)[0], "mlflow", {}


def _files(folder: str | None) -> list[tuple[str, Path]]:
    """(relative name with '/', path) of every file under ``folder``, sorted by name."""
    if not folder or not os.path.isdir(folder):
        return []
    root = Path(folder)
    return sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())


class _Importer:
    def __init__(self, lake: Lake, report: ImportReport) -> None:
        from lakebed.tracking._import import runs_with_tag

        self.lake = lake
        self.report = report
        self.run_map: dict[str, str] = runs_with_tag(lake.runs, RUN_ID_TAG)  # MLflow id -> lakebed id
        # (MLflow model name, version) already imported, and lakebed model -> MLflow name
        self.known_versions: set[tuple[str, int]] = set()
        self.origin: dict[str, set[str | None]] = {}
        for m in lake.models.list():
            for mv in lake.models.versions(m["name"]):
                src = (mv.properties or {}).get("mlflow") or {}
                self.origin.setdefault(m["name"], set()).add(src.get("name"))
                if src.get("name") is not None:
                    self.known_versions.add((src["name"], int(src["version"])))

    # runs --------------------------------------------------------------------------
    def run(self, rec: dict[str, Any]) -> None:
        from lakebed.tracking._import import insert_run

        report, runs = self.report, self.lake.runs
        try:
            validate_name("label", rec["experiment"], "experiment")
        except InvalidArgument as exc:
            report.skipped.append(Skipped("run", rec["id"], str(exc)))
            return
        name = rec["name"]
        with contextlib.suppress(InvalidArgument):
            name = validate_name("label", name, "run name") if name else None
        if name and len(name) > 200:
            name = None
        status = _STATUS.get(rec["status"], "RUNNING")
        if rec["status"] not in _STATUS or rec["status"] == "SCHEDULED":
            report._drop(f"run status {rec['status']} (stored as RUNNING)")
        files = _files(rec["artifact_dir"])
        artifacts = []
        for rel, path in files:
            data = path.read_bytes()
            artifacts.append((rel, runs.artifacts.put(data), len(data)))
        points = [(key, step, ts / 1000.0, value) for key, hist in rec["metrics"].items() for step, ts, value in hist]
        tags = dict(rec["tags"])
        tags[RUN_ID_TAG] = rec["id"]
        start = rec["start_time"]
        if start is None:  # never started (SCHEDULED): its first point, else the epoch
            start = min((p[2] * 1000 for p in points), default=0)
        try:
            run = insert_run(
                runs,
                run_id=rec["id"],
                experiment=rec["experiment"],
                name=name,
                status=status,
                start_time=start / 1000.0,
                end_time=None if rec["end_time"] is None else rec["end_time"] / 1000.0,
                user=rec["user"] or None,
                git_commit=tags.get("mlflow.source.git.commit"),
                params=rec["params"],
                tags=tags,
                metrics=points,
                artifacts=artifacts,
            )
        except (InvalidArgument, ConflictError) as exc:
            report.skipped.append(Skipped("run", rec["id"], str(exc)))
            return
        finally:
            if rec["artifact_dir"]:
                shutil.rmtree(rec["artifact_dir"], ignore_errors=True)
        self.run_map[rec["id"]] = run.id
        report.run_ids[rec["id"]] = run.id
        report.runs_imported += 1
        report.params += len(rec["params"])
        report.tags += len(rec["tags"])
        report.metric_points += len(points)
        report.artifacts += len(artifacts)
        report.artifact_bytes += sum(a[2] for a in artifacts)

    # models ------------------------------------------------------------------------
    def model(self, rec: dict[str, Any], *, filtered: bool) -> None:
        from lakebed.tracking._import import artifact_shas, insert_model_version

        report, lake = self.report, self.lake
        if rec["prompt"]:
            report._drop("prompts")
            return
        mname = rec["name"]
        name = _model_name(mname)
        if name != mname:
            report.renamed[mname] = name
        origin = self.origin.get(name, set())
        if origin - {mname}:
            report.skipped.append(Skipped("model", mname, (
                f"the lake has a model {name!r} that was not imported from the MLflow model {mname!r}; "
                "rename one of them")))
            return
        report._drop("registered-model tags", len(rec["tags"]))
        imported_any = False
        for v in rec["versions"]:
            label = f"{mname}@{v['version']}"
            if v["known"]:
                report.versions_existing += 1
                continue
            if v["outside"]:
                report.skipped.append(Skipped("version", label, f"its run {v['run_id']} is in an experiment "
                                                                "that was not imported"))
                continue
            lake_run = self.run_map.get(v["run_id"]) if v["run_id"] else None
            if filtered and v["run_id"] is None:
                report.skipped.append(Skipped("version", label, "it has no run, and only some experiments "
                                                                "were imported"))
                continue
            files: dict[str, tuple[str, int]] = {}
            reuse = v["run_path"] is not None and lake_run is not None
            if v["run_path"] is not None and lake_run is not None:
                prefix = v["run_path"] + "/"
                files = {n[len(prefix):]: hs for n, hs in artifact_shas(lake.runs, lake_run, prefix).items()}
            if not files and v["dir"]:
                reuse = False
                for rel, path in _files(v["dir"]):
                    data = path.read_bytes()
                    files[rel] = (lake.runs.artifacts.put(data), len(data))
            if v["dir"]:
                shutil.rmtree(v["dir"], ignore_errors=True)
            if not files:
                report.skipped.append(Skipped("version", label, v["error"] or f"no model files at {v['source']!r}"))
                continue
            main, flavor, props = _model_file(v["flavors"], files)
            sha, size = files[main]
            artifact = v["run_path"] if reuse else (v["source"] or "model")[-250:]
            properties = dict(props)
            properties["mlflow"] = {
                "name": mname, "version": v["version"], "source": v["source"], "run_id": v["run_id"],
                "stage": v["stage"], "status": v["status"], "tags": v["tags"], "model_id": v["model_id"],
                "flavors": sorted(v["flavors"] or {}), "file": main,
                "files": {k: h for k, (h, _) in sorted(files.items())},
            }
            try:
                insert_model_version(
                    lake.models, name=name, version=v["version"], sha256=sha, artifact=artifact, run_id=lake_run,
                    flavor=flavor, description=v["description"],
                    created_at=None if v["created"] is None else v["created"] / 1000.0,
                    properties=properties, model_description=rec["description"],
                    model_created_at=None if rec["created"] is None else rec["created"] / 1000.0,
                    run_artifact_size=size if reuse else None,
                )
            except (InvalidArgument, ConflictError) as exc:
                report.skipped.append(Skipped("version", label, str(exc)))
                continue
            self.origin.setdefault(name, set()).add(mname)
            report.versions_imported += 1
            imported_any = True
        if imported_any:
            report.models_imported += 1
        self._aliases(rec, name)

    def _aliases(self, rec: dict[str, Any], name: str) -> None:
        report, models = self.report, self.lake.models
        if not rec["aliases"]:
            return
        try:
            present = {mv.version: mv.aliases for mv in models.versions(name)}
        except NotFound:
            present = {}
        for alias, version in sorted(rec["aliases"].items()):
            label = f"{rec['name']}@{alias}"
            if version not in present:
                report.skipped.append(Skipped("alias", label, f"version {version} was not imported"))
                continue
            if alias in present[version]:
                continue
            try:
                models.set_alias(name, alias, version)
            except LakebedError as exc:
                report.skipped.append(Skipped("alias", label, str(exc)))
                continue
            report.aliases_set += 1
