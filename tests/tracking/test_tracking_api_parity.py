"""ML tracking has one API: the embedded runs, run, model registry, lineage and prediction
log and the HTTP client's implement :mod:`lakebed.api`'s interfaces with the same methods
and signatures."""

from __future__ import annotations

from tests._api_parity import check_parity

from lakebed.api._tracking import LineageAPI, ModelsAPI, PredictionLogAPI, RunAPI, RunsAPI
from lakebed.client._tracking import RemoteLineage, RemoteModels, RemotePredictionLog, RemoteRun, RemoteRuns
from lakebed.tracking import Lineage, Models, PredictionLog, Run, Runs


def test_runs_parity() -> None:
    check_parity(RunsAPI, Runs, RemoteRuns, embedded_only={
        "flush": "writes this process's buffer of metric points to the catalog (with a callback run in the same "
                 "transaction); over HTTP the server flushes every logging request before it answers",
    })


def test_run_parity() -> None:
    check_parity(RunAPI, Run, RemoteRun)


def test_models_parity() -> None:
    check_parity(ModelsAPI, Models, RemoteModels)


def test_lineage_parity() -> None:
    check_parity(LineageAPI, Lineage, RemoteLineage)


def test_prediction_log_parity() -> None:
    check_parity(PredictionLogAPI, PredictionLog, RemotePredictionLog)
