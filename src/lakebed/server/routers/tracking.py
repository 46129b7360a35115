"""Runs, the model registry, lineage and prediction logs over HTTP. Artifacts travel as
raw bytes; the server stores model bytes but never unpickles them (loading happens in the
client). Prediction rows travel as Arrow IPC streams (JSON ``{"rows": [...]}`` accepted).

Scopes: ``read`` reads, ``write`` logs, registers and writes predictions, ``admin`` deletes
runs. Grants: runs, models and lineage are granted per area (``runs:*``); a prediction log
per model (``predictions:<model>``). Routes that return table data check the key's grant on
the table too: ``join_labels`` on a labels table, ``training_set/data`` on the training
set's table (and ``features`` when the feature store made it).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lakebed._names import validate_name
from lakebed.errors import InvalidArgument
from lakebed.server.routers._common import ARROW_BODY, ARROW_RESPONSE, arrow_body, arrow_response, fast_json

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics

BYTES_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
BYTES_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


class StartRun(BaseModel):
    experiment: str = "default"
    name: str | None = None
    tags: dict[str, Any] | None = None


class Params(BaseModel):
    params: dict[str, Any]


class Metrics_(BaseModel):
    metrics: dict[str, float | None]  # null: NaN
    step: int | None = Field(None, ge=-(2**63), lt=2**63)
    timestamp: float | None = None


class Tags(BaseModel):
    tags: dict[str, Any]


class Input(BaseModel):
    ref: str = Field(min_length=1, max_length=4096)
    kind: str = Field("input", min_length=1, max_length=200)


class EndRun(BaseModel):
    status: Literal["FINISHED", "FAILED", "KILLED"] = "FINISHED"
    error: str | None = None


class Search(BaseModel):
    query: str = ""
    experiment: str | list[str] | None = None
    order_by: list[str] | None = None
    limit: int | None = Field(100, ge=1, le=1_000_000)
    offset: int = Field(0, ge=0, lt=2**31)


class Register(BaseModel):
    run_id: str
    artifact: str = "model"
    description: str | None = None


class Alias(BaseModel):
    alias: str
    version: int = Field(ge=1, lt=2**31)


class Edges(BaseModel):
    refs: list[str] | None = Field(None, max_length=10_000)


class RecordEdge(BaseModel, extra="forbid"):
    src: str = Field(max_length=4096)
    dst: str = Field(max_length=4096)
    kind: str = Field(max_length=200)
    properties: dict[str, Any] | None = None


MAX_PREDICTION_ROWS = 1_000_000
JOIN_TYPES = Literal["inner", "left outer", "right outer", "full outer", "left semi", "right semi", "left anti",
                     "right anti"]


def run_json(run: Any) -> dict[str, Any]:
    return {
        "id": run.id, "experiment": run.experiment, "name": run.name, "status": run.status,
        "start_time": run.start_time, "end_time": run.end_time, "user": run.user, "git_commit": run.git_commit,
        "git_dirty": run.git_dirty, "host": run.host, "python_version": run.python_version, "error": run.error,
        "params": run.params, "metrics": run.metrics, "tags": run.tags,
    }


def model_json(mv: Any) -> dict[str, Any]:
    return {"name": mv.name, "version": mv.version, "run_id": mv.run_id, "artifact": mv.artifact,
            "sha256": mv.sha256, "flavor": mv.flavor, "description": mv.description,
            "created_at": mv.created_at, "aliases": list(mv.aliases), "properties": mv.properties}


def artifact_json(a: Any) -> dict[str, Any]:
    return {"run_id": a.run_id, "name": a.name, "sha256": a.sha256, "size": a.size, "kind": a.kind,
            "flavor": a.flavor, "properties": a.properties}


def edge_json(e: Any) -> dict[str, Any]:
    return {"src": e.src, "dst": e.dst, "kind": e.kind, "properties": e.properties}


def graph_json(g: Any) -> dict[str, Any]:
    return {"root": g.root, "direction": g.direction, "nodes": list(g.nodes),
            "edges": [edge_json(e) for e in g.edges]}


def split_predictions(rows: pa.Table) -> tuple[pa.Table, Any, list[str] | None, list[float] | None]:
    """The inputs, outputs, request ids and latencies of a prediction write as sent: columns
    ``input_<name>``, then ``prediction`` or ``output_<name>``, and optionally ``request_id``
    and ``latency_ms`` (the names the log stores them under)."""
    names = rows.column_names
    if rows.num_rows > MAX_PREDICTION_ROWS:
        raise InvalidArgument(f"{rows.num_rows} rows in one write; send at most {MAX_PREDICTION_ROWS:,}")
    if len(set(names)) != len(names):
        raise InvalidArgument("the rows repeat a column name")
    inputs = {c[len("input_"):]: rows[c] for c in names if c.startswith("input_")}
    outputs = {c[len("output_"):]: rows[c] for c in names if c.startswith("output_")}
    known = ("prediction", "request_id", "latency_ms")
    other = [c for c in names if not c.startswith(("input_", "output_")) and c not in known]
    if other:
        raise InvalidArgument(f"unexpected columns {other}: send input_<name> columns, the outputs as "
                              "prediction or output_<name> columns, and optionally request_id and latency_ms")
    if not inputs:
        raise InvalidArgument("no inputs: send the model's inputs as input_<name> columns")
    if ("prediction" in names) == bool(outputs):
        raise InvalidArgument("send the outputs as one column prediction or as output_<name> columns")
    out: Any = rows["prediction"].combine_chunks() if "prediction" in names else pa.table(outputs)
    ids = None
    if "request_id" in names:
        if rows["request_id"].null_count:
            raise InvalidArgument("request_id holds nulls; leave the column out to have ids made")
        ids = [str(x) for x in rows["request_id"].to_pylist()]
    latency = None
    if "latency_ms" in names:
        try:
            latency = rows["latency_ms"].cast(pa.float64()).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InvalidArgument("latency_ms must be numbers") from None
    return pa.table(inputs), out, ids, latency


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["tracking"])
    read_runs, write_runs = auth.need("read", "runs"), auth.need("write", "runs")
    read_models, write_models = auth.need("read", "models"), auth.need("write", "models")
    read_lineage = auth.need("read", "lineage")
    read_log, write_log = auth.need("read", "predictions", "name"), auth.need("write", "predictions", "name")

    @r.post("/runs", summary="Start a run", dependencies=[write_runs])
    def start(body: StartRun) -> dict[str, Any]:
        return run_json(lake.runs.start(body.experiment, name=body.name, tags=body.tags))

    @r.get("/runs", summary="List runs (Arrow)", responses=ARROW_RESPONSE, response_class=Response,
           dependencies=[read_runs])
    def list_runs(experiment: str | None = None, status: str | None = None,
                  limit: int | None = Query(None, ge=1, le=1_000_000)) -> Response:
        return arrow_response(lake.runs.list(experiment, status=status, limit=limit))

    @r.post("/runs/search", summary="Search runs (Arrow)", responses=ARROW_RESPONSE, response_class=Response,
            dependencies=[read_runs])
    def search(body: Search) -> Response:
        return arrow_response(lake.runs.search(body.query, experiment=body.experiment, order_by=body.order_by,
                                               limit=body.limit, offset=body.offset))

    @r.post("/runs/count", summary="How many runs a search finds", dependencies=[read_runs])
    def count(body: Search) -> dict[str, int]:
        return {"count": lake.runs.count(body.query, experiment=body.experiment)}

    @r.get("/experiments", summary="Names of the experiments that have runs", dependencies=[read_runs])
    def experiments() -> list[str]:
        return lake.runs.experiments()

    @r.get("/runs/{run_id}", summary="A run with its params, metrics and tags", dependencies=[read_runs])
    def get(run_id: str) -> Response:
        return fast_json(run_json(lake.runs.get(run_id)))

    @r.delete("/runs/{run_id}", summary="Delete a run", dependencies=[auth.need("admin", "runs")])
    def delete(run_id: str) -> dict[str, str]:
        lake.runs.delete(run_id)
        return {"deleted": run_id}

    @r.post("/runs/{run_id}/params", summary="Log params (immutable)", dependencies=[write_runs])
    def params(run_id: str, body: Params) -> dict[str, int]:
        lake.runs.get(run_id).log_params(body.params)
        return {"logged": len(body.params)}

    @r.post("/runs/{run_id}/metrics", summary="Log metrics (append-only)", dependencies=[write_runs])
    def log_metrics(run_id: str, body: Metrics_) -> dict[str, int]:
        run = lake.runs.get(run_id)
        if body.timestamp is not None and not math.isfinite(body.timestamp):
            raise InvalidArgument(f"timestamp must be a finite number of seconds, got {body.timestamp}")
        values = {k: math.nan if v is None else v for k, v in body.metrics.items()}
        if body.timestamp is None:
            run.log_metrics(values, step=body.step)
        else:  # one call's points, validated together, as log_metrics buffers them
            lake.runs._append(run.id, list(values.items()), body.step, body.timestamp)
        lake.runs.flush()  # acknowledged over HTTP = durable
        return {"logged": len(body.metrics)}

    @r.post("/runs/{run_id}/tags", summary="Set tags", dependencies=[write_runs])
    def tags(run_id: str, body: Tags) -> dict[str, int]:
        lake.runs.get(run_id).set_tags(body.tags)
        return {"set": len(body.tags)}

    @r.post("/runs/{run_id}/inputs", summary="Record an input (lineage ref or table@version)",
            dependencies=[write_runs])
    def log_input(run_id: str, body: Input) -> dict[str, str]:
        kind = validate_name("label", body.kind, "lineage kind")
        return {"ref": lake.runs.get(run_id).log_input(body.ref, kind=kind)}

    @r.get("/runs/{run_id}/inputs", summary="Refs recorded as the run's inputs", dependencies=[read_runs])
    def inputs(run_id: str) -> list[str]:
        return lake.runs.get(run_id).inputs

    @r.get("/runs/{run_id}/environment", summary="Packages installed when the run started",
           dependencies=[read_runs])
    def environment(run_id: str) -> Response:
        return fast_json(lake.runs.get(run_id).environment)

    @r.get("/runs/{run_id}/artifacts", summary="Artifacts and models recorded by the run", dependencies=[read_runs])
    def artifacts(run_id: str) -> list[dict[str, Any]]:
        return [artifact_json(a) for a in lake.runs.get(run_id).artifacts]

    @r.get("/runs/{run_id}/metrics/{key:path}", summary="A metric's history (Arrow)", responses=ARROW_RESPONSE,
           response_class=Response, dependencies=[read_runs])
    def metric_history(run_id: str, key: str) -> Response:
        return arrow_response(lake.runs.get(run_id).metric_history(key))

    @r.post("/runs/{run_id}/artifacts/{name:path}", summary="Store an artifact (raw bytes)", openapi_extra=BYTES_BODY,
            dependencies=[write_runs])
    async def put_artifact(run_id: str, name: str, request: Request, kind: Literal["file", "model"] = "file",
                           flavor: str | None = None, properties: str | None = None) -> dict[str, Any]:
        data = await request.body()
        run = lake.runs.get(run_id)
        if kind == "model":
            try:
                props = json.loads(properties) if properties else None
            except ValueError:
                raise InvalidArgument("properties must be a JSON object") from None
            # model bytes serialized by the client; the server stores them, never loads them
            art = run.log_model_bytes(data, name, flavor or "pickle", props)
        else:
            art = run.log_artifact(data, name=name)
        return artifact_json(art)

    @r.get("/runs/{run_id}/artifacts/{name:path}", summary="Fetch an artifact (checksum verified)",
           responses=BYTES_RESPONSE, response_class=Response, dependencies=[read_runs])
    def get_artifact(run_id: str, name: str) -> Response:
        return Response(lake.runs.get(run_id).load_artifact(name), media_type="application/octet-stream")

    @r.post("/runs/{run_id}/end", summary="End a run", dependencies=[write_runs])
    def end(run_id: str, body: EndRun) -> dict[str, str]:
        lake.runs.get(run_id).end(body.status, error=body.error)
        return {"status": body.status}

    @r.get("/models", summary="Registered models", dependencies=[read_models])
    def models() -> Response:
        return fast_json(lake.models.list())

    @r.get("/models/{name}/versions", summary="Versions of a model", dependencies=[read_models])
    def versions(name: str) -> list[dict[str, Any]]:
        return [model_json(v) for v in lake.models.versions(name)]

    @r.get("/models/{ref}", summary="A model version (name, name@version or name@alias)",
           dependencies=[read_models])
    def get_model(ref: str, version: str | None = Query(None, max_length=200)) -> dict[str, Any]:
        return model_json(lake.models.get(ref, version))

    @r.get("/models/{ref}/resolve", summary="The name and version a model ref points at",
           dependencies=[read_models])
    def resolve_model(ref: str, version: str | None = Query(None, max_length=200)) -> dict[str, Any]:
        name, v = lake.models.resolve(ref, version)
        return {"name": name, "version": v}

    @r.get("/models/{ref}/artifact", summary="The model's bytes (checksum verified)", responses=BYTES_RESPONSE,
           response_class=Response, dependencies=[read_models])
    def model_bytes(ref: str) -> Response:
        mv = lake.models.get(ref)
        return Response(lake.runs.artifacts.get(mv.sha256), media_type="application/octet-stream")

    @r.post("/models/{name}/versions", summary="Register a run's artifact as a new version",
            dependencies=[write_models])
    def register(name: str, body: Register) -> dict[str, Any]:
        return model_json(lake.models.register(name, run=body.run_id, artifact=body.artifact,
                                               description=body.description))

    @r.post("/models/{name}/aliases", summary="Point an alias at a version", dependencies=[write_models])
    def set_alias(name: str, body: Alias) -> dict[str, Any]:
        lake.models.set_alias(name, body.alias, body.version)
        return {"name": name, "alias": body.alias, "version": body.version}

    @r.delete("/models/{name}/aliases/{alias}", summary="Remove an alias", dependencies=[write_models])
    def delete_alias(name: str, alias: str) -> dict[str, str]:
        lake.models.delete_alias(name, alias)
        return {"deleted": alias}

    @r.get("/lineage/upstream", summary="What a ref was made from", dependencies=[read_lineage])
    def upstream(ref: str, depth: int | None = Query(None, ge=0, le=1000)) -> Response:
        return fast_json(graph_json(lake.lineage.upstream(ref, depth)))

    @r.get("/lineage/downstream", summary="What was made from a ref", dependencies=[read_lineage])
    def downstream(ref: str, depth: int | None = Query(None, ge=0, le=1000)) -> Response:
        return fast_json(graph_json(lake.lineage.downstream(ref, depth)))

    @r.get("/lineage/resolve", summary="A ref with aliases and missing versions resolved",
           dependencies=[read_lineage])
    def resolve_ref(ref: str = Query(max_length=4096)) -> dict[str, str]:
        return {"ref": lake.lineage.resolve(ref)}

    @r.post("/lineage/edges", summary="Edges touching refs (every edge when refs is null)",
            dependencies=[read_lineage])
    def edges(body: Edges) -> Response:
        return fast_json([edge_json(e) for e in lake.lineage.edges(body.refs)])

    @r.post("/lineage/record", summary="Record an edge made outside lakebed (an orchestrator's step)",
            dependencies=[auth.need("write", "lineage")])
    def record_edge(body: RecordEdge) -> dict[str, str]:
        lake.lineage.record(body.src, body.dst, body.kind, body.properties)
        return {"src": body.src, "dst": body.dst, "kind": body.kind}

    @r.get("/lineage/training_set", summary="The table and version a model version was trained on",
           dependencies=[read_lineage])
    def training_set_of(model: str = Query(max_length=4096)) -> dict[str, Any]:
        table, version = lake.lineage.training_set_of(model)
        return {"table": table, "version": version}

    @r.get("/lineage/training_set/data", summary="A model version's training set, rebuilt (Arrow)",
           responses=ARROW_RESPONSE, response_class=Response)
    def reproduce_training_set(model: str = Query(max_length=4096), key: Any = read_lineage) -> Response:
        if key is not None:  # the data of a table: the key must be allowed to read it
            table, version = lake.lineage.training_set_of(model)
            key.allows("read", "tables", table)
            if any(n.startswith("featureview:") for n in lake.lineage.upstream(f"table:{table}@{version}", 1).nodes):
                key.allows("read", "features")
        return arrow_response(lake.lineage.reproduce_training_set(model))

    def log_of(name: str, version: int | str | None = None) -> Any:
        """The log of the model ``name`` (a bare name: the grant names it), at ``version``."""
        from lakebed.tracking import PredictionLog

        validate_name("model", name)
        return PredictionLog(lake, name if version is None else f"{name}@{version}")

    @r.get("/predictions/{name}", summary="Open a model's prediction log (resolves an alias or version)",
           dependencies=[read_log])
    def open_log(name: str, selector: str | None = Query(None, max_length=200)) -> dict[str, Any]:
        log = log_of(name, selector)
        return {"name": log.name, "version": log.version, "table_name": log.table_name}

    @r.post("/predictions/{name}/write", summary="Log predictions (Arrow IPC or JSON rows)",
            openapi_extra=ARROW_BODY, dependencies=[write_log])
    async def write_predictions(name: str, request: Request,
                                version: int | None = Query(None, ge=1, lt=2**31)) -> dict[str, int]:
        rows = await arrow_body(request)

        def work() -> int:
            inputs, outputs, ids, latency = split_predictions(rows)
            return int(log_of(name, version).write(inputs, outputs, request_ids=ids, latency_ms=latency))

        return {"version": await run_in_threadpool(work)}

    @r.get("/predictions/{name}/read", summary="Logged predictions (Arrow)", responses=ARROW_RESPONSE,
           response_class=Response, dependencies=[read_log])
    def read_predictions(name: str, version: int | None = Query(None, ge=1, lt=2**31),
                         start: datetime | None = None, end: datetime | None = None,
                         columns: list[str] | None = Query(None, max_length=1000)) -> Response:
        return arrow_response(log_of(name).read(version=version, start=start, end=end, columns=columns))

    @r.post("/predictions/{name}/join_labels", summary="Predictions joined with labels (Arrow)",
            openapi_extra=ARROW_BODY, responses=ARROW_RESPONSE, response_class=Response)
    async def join_labels(name: str, request: Request, version: int | None = Query(None, ge=1, lt=2**31),
                          on: str = Query("request_id", min_length=1, max_length=200), how: JOIN_TYPES = "inner",
                          table: str | None = Query(None, max_length=400), key: Any = read_log) -> Response:
        labels: Any
        if table is not None:
            if await request.body():
                raise InvalidArgument("give the labels as a table name (table=) or in the body, not both")
            if key is not None:
                key.allows("read", "tables", table)
            labels = table
        else:
            labels = await arrow_body(request)
        joined = await run_in_threadpool(lambda: log_of(name, version).join_labels(labels, on=on, how=how))
        return arrow_response(joined)

    return r
