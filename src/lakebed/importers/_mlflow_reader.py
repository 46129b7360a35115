"""Read an MLflow tracking store with MLflow's own client and write what it holds as JSON
lines: the reading half of ``lakebed import mlflow``.

This file runs in a child process under any Python that has ``mlflow`` (or
``mlflow-skinny``) installed, which need not be lakebed's: it imports nothing from lakebed
and only the standard library besides MLflow, and keeps to syntax Python 3.8 reads. The
parent (:mod:`lakebed.importers.mlflow`) passes it the path of a JSON file of settings and
reads one record per line from its standard output; anything else written to standard
output (MLflow's own messages) is sent to standard error. Artifacts are downloaded into
the work directory named in the settings, one folder per run, which the parent deletes
once it has stored them.

Records: ``hello`` (MLflow version), ``plan`` (experiments and the number of runs),
``run`` / ``run_skipped`` / ``run_failed`` for each run, ``model`` for each registered
model with its versions, ``done``; or ``error`` (``kind``: ``missing``, ``not_found``,
``mlflow``) after which the process exits non-zero.

Example (what the parent runs; it needs a store and mlflow)::

    python -c "$(cat _mlflow_reader.py)" /tmp/work/settings.json
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from typing import Any

PAGE = 1000


class _Emitter:
    def __init__(self) -> None:
        # records go to the original stdout; everything else printed goes to stderr
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def __call__(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, default=str) + "\n")
        self.out.flush()


def _paged(fn: Any, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = fn(page_token=token, **kwargs)
        items.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return items


def _local_dir(uri: str) -> str | None:
    """The local directory of a ``file:`` or plain-path URI, else None."""
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(uri).path)
    if "://" not in uri and ":" not in uri[:2]:
        return uri
    return None


def _download_run(client: Any, mlflow: Any, cfg: dict[str, Any], run: Any, dst: str) -> str | None:
    """Download every artifact of ``run`` under ``dst``; the folder, or None without any."""
    info = run.info
    try:
        listed = client.list_artifacts(info.run_id)
    except Exception:
        listed = None
    if listed:
        return str(mlflow.artifacts.download_artifacts(
            run_id=info.run_id, dst_path=dst, tracking_uri=cfg["tracking_uri"]))
    # a file store that was moved: its runs still name their old artifact folders
    root = cfg.get("file_store")
    here = _local_dir(info.artifact_uri or "")
    if root and (here is None or not os.path.isdir(here)):
        moved = os.path.join(root, info.experiment_id, info.run_id, "artifacts")
        if os.path.isdir(moved) and os.listdir(moved):
            shutil.copytree(moved, dst)
            return dst
    return None


def _flavors(path: str) -> dict[str, Any] | None:
    try:
        import yaml

        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except Exception:
        return None
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    return json.loads(json.dumps(flavors, default=str)) if isinstance(flavors, dict) else None


def _runs_path(source: str) -> tuple[str, str] | None:
    """``runs:/<run id>/<path>`` -> (run id, path)."""
    if not source.startswith("runs:/"):
        return None
    run_id, _, path = source[len("runs:/"):].lstrip("/").partition("/")
    return (run_id, path.strip("/")) if run_id and path.strip("/") else None


def _version(client: Any, mlflow: Any, cfg: dict[str, Any], mv: Any, in_lake: set[str],
             selected: set[str], known: set[tuple[str, int]], n: int) -> dict[str, Any]:
    stage = getattr(mv, "current_stage", None)
    rec: dict[str, Any] = {
        "version": int(mv.version),
        "source": mv.source,
        "run_id": mv.run_id or None,
        "stage": None if stage in (None, "", "None") else stage,
        "status": getattr(mv, "status", None),
        "tags": dict(getattr(mv, "tags", None) or {}),
        "description": mv.description or None,
        "created": mv.creation_timestamp,
        "updated": getattr(mv, "last_updated_timestamp", None),
        "model_id": getattr(mv, "model_id", None),
        "run_path": None,
        "dir": None,
        "flavors": None,
        "error": None,
        "known": (mv.name, int(mv.version)) in known,
        "outside": False,
    }
    if rec["known"]:
        return rec
    if cfg["experiments"] is not None and mv.run_id and mv.run_id not in selected | in_lake:
        rec["outside"] = True
        return rec
    dst = os.path.join(cfg["workdir"], "models", str(n), str(mv.version))
    ref = _runs_path(mv.source or "")
    try:
        if ref is not None and ref[0] == mv.run_id and ref[0] in selected | in_lake:
            # the files are among the run's artifacts: read only the MLmodel descriptor here
            rec["run_path"] = ref[1]
            try:
                got = mlflow.artifacts.download_artifacts(
                    run_id=ref[0], artifact_path=ref[1] + "/MLmodel", dst_path=dst,
                    tracking_uri=cfg["tracking_uri"])
                rec["flavors"] = _flavors(str(got))
            except Exception:
                pass
            return rec
        uri = client.get_model_version_download_uri(mv.name, mv.version)
        got = str(mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=dst, tracking_uri=cfg["tracking_uri"]))
        rec["dir"] = got
        if os.path.isfile(os.path.join(got, "MLmodel")):
            rec["flavors"] = _flavors(os.path.join(got, "MLmodel"))
    except Exception as exc:
        rec["error"] = f"its files could not be read from {mv.source!r}: {exc}"
    return rec


def read(cfg: dict[str, Any], emit: Any) -> int:
    try:
        import mlflow
        from mlflow.entities import ViewType
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        emit({"t": "error", "kind": "missing", "message": f"{sys.executable} cannot import mlflow: {exc}"})
        return 3
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    emit({"t": "hello", "mlflow": mlflow.__version__, "python": sys.executable})
    client = MlflowClient(tracking_uri=cfg["tracking_uri"], registry_uri=cfg["registry_uri"])

    experiments = _paged(client.search_experiments, view_type=ViewType.ACTIVE_ONLY, max_results=PAGE)
    wanted = cfg["experiments"]
    if wanted is not None:
        names = {e.name for e in experiments}
        missing = [w for w in wanted if w not in names]
        if missing:
            emit({"t": "error", "kind": "not_found",
                  "message": f"the MLflow store has no experiment {', '.join(map(repr, missing))}; "
                             f"its experiments are: {', '.join(sorted(names)) or '(none)'}"})
            return 4
        experiments = [e for e in experiments if e.name in set(wanted)]
    by_id = {e.experiment_id: e for e in experiments}
    runs: list[Any] = []
    if by_id:
        runs = _paged(client.search_runs, experiment_ids=list(by_id), run_view_type=ViewType.ACTIVE_ONLY,
                      max_results=PAGE, order_by=["attributes.start_time ASC"])
    in_lake = set(cfg["in_lake"])
    selected = {r.info.run_id for r in runs}
    emit({"t": "plan", "runs": len(runs),
          "experiments": [{"id": e.experiment_id, "name": e.name, "tags": dict(e.tags or {})}
                          for e in experiments]})

    for run in runs:
        info, data = run.info, run.data
        if info.run_id in in_lake:
            emit({"t": "run_skipped", "id": info.run_id})
            continue
        try:
            metrics = {}
            for key in sorted(data.metrics):
                hist = client.get_metric_history(info.run_id, key)
                metrics[key] = [[int(m.step or 0), int(m.timestamp), float(m.value)] for m in hist]
            folder = None
            if cfg["artifacts"]:
                folder = _download_run(client, mlflow, cfg, run, os.path.join(cfg["workdir"], "runs", info.run_id))
        except Exception as exc:
            emit({"t": "run_failed", "id": info.run_id, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        emit({
            "t": "run",
            "id": info.run_id,
            "experiment": by_id[info.experiment_id].name,
            "experiment_id": info.experiment_id,
            "name": getattr(info, "run_name", None) or data.tags.get("mlflow.runName"),
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "user": info.user_id,
            "params": dict(data.params),
            "tags": dict(data.tags),
            "metrics": metrics,
            "artifact_dir": folder,
        })

    known = {(n, int(v)) for n, v in cfg["known_versions"]}
    models = _paged(client.search_registered_models, max_results=PAGE)
    for n, model in enumerate(models):
        tags = dict(getattr(model, "tags", None) or {})
        rec: dict[str, Any] = {
            "t": "model",
            "name": model.name,
            "description": model.description or None,
            "tags": tags,
            "created": model.creation_timestamp,
            "updated": model.last_updated_timestamp,
            "aliases": {a: int(v) for a, v in dict(getattr(model, "aliases", None) or {}).items()},
            "prompt": tags.get("mlflow.prompt.is_prompt") == "true",
            "versions": [],
        }
        if not rec["prompt"]:
            quote = "'" if "'" not in model.name else '"'
            versions = _paged(client.search_model_versions, filter_string=f"name = {quote}{model.name}{quote}",
                              max_results=PAGE)
            rec["versions"] = [_version(client, mlflow, cfg, mv, in_lake, selected, known, n)
                               for mv in sorted(versions, key=lambda v: int(v.version))]
        emit(rec)
    emit({"t": "done"})
    return 0


def main(argv: list[str]) -> int:
    emit = _Emitter()
    with open(argv[1], encoding="utf-8") as f:
        cfg = json.load(f)
    try:
        return read(cfg, emit)
    except Exception as exc:
        traceback.print_exc()
        emit({"t": "error", "kind": "mlflow", "message": f"{type(exc).__name__}: {exc}"})
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
