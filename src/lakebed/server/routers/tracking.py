"""Runs, the model registry and lineage over HTTP. Artifacts travel as raw bytes; the
server stores model bytes but never unpickles them (loading happens in the client)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lakebed.errors import InvalidArgument
from lakebed.server.routers._common import ARROW_RESPONSE, arrow_response, fast_json

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
    metrics: dict[str, float]
    step: int | None = None


class Tags(BaseModel):
    tags: dict[str, Any]


class Input(BaseModel):
    ref: str = Field(min_length=1)


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


def run_json(run: Any) -> dict[str, Any]:
    return {
        "id": run.id, "experiment": run.experiment, "name": run.name, "status": run.status,
        "start_time": run.start_time, "end_time": run.end_time, "git_commit": run.git_commit,
        "git_dirty": run.git_dirty, "host": run.host, "python_version": run.python_version, "error": run.error,
        "params": run.params, "metrics": run.metrics, "tags": run.tags,
    }


def model_json(mv: Any) -> dict[str, Any]:
    return {"name": mv.name, "version": mv.version, "run_id": mv.run_id, "artifact": mv.artifact,
            "sha256": mv.sha256, "flavor": mv.flavor, "description": mv.description,
            "created_at": mv.created_at, "aliases": list(mv.aliases), "properties": mv.properties}


def graph_json(g: Any) -> dict[str, Any]:
    return {"root": g.root, "direction": g.direction, "nodes": list(g.nodes),
            "edges": [{"src": e.src, "dst": e.dst, "kind": e.kind} for e in g.edges]}


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["tracking"])
    read_runs, write_runs = auth.need("read", "runs"), auth.need("write", "runs")
    read_models, write_models = auth.need("read", "models"), auth.need("write", "models")

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
        run.log_metrics(body.metrics, step=body.step)
        lake.runs.flush()  # acknowledged over HTTP = durable
        return {"logged": len(body.metrics)}

    @r.post("/runs/{run_id}/tags", summary="Set tags", dependencies=[write_runs])
    def tags(run_id: str, body: Tags) -> dict[str, int]:
        lake.runs.get(run_id).set_tags(body.tags)
        return {"set": len(body.tags)}

    @r.post("/runs/{run_id}/inputs", summary="Record an input (lineage ref or table@version)",
            dependencies=[write_runs])
    def log_input(run_id: str, body: Input) -> dict[str, str]:
        return {"ref": lake.runs.get(run_id).log_input(body.ref)}

    @r.get("/runs/{run_id}/metrics/{key}", summary="A metric's history (Arrow)", responses=ARROW_RESPONSE,
           response_class=Response, dependencies=[read_runs])
    def metric_history(run_id: str, key: str) -> Response:
        return arrow_response(lake.runs.get(run_id).metric_history(key))

    @r.post("/runs/{run_id}/artifacts/{name}", summary="Store an artifact (raw bytes)", openapi_extra=BYTES_BODY,
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
        return {"name": art.name, "sha256": art.sha256, "size": art.size}

    @r.get("/runs/{run_id}/artifacts/{name}", summary="Fetch an artifact (checksum verified)",
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
    def get_model(ref: str) -> dict[str, Any]:
        return model_json(lake.models.get(ref))

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

    @r.get("/lineage/upstream", summary="What a ref was made from", dependencies=[auth.need("read", "lineage")])
    def upstream(ref: str, depth: int | None = Query(None, ge=1, le=1000)) -> dict[str, Any]:
        return graph_json(lake.lineage.upstream(ref, depth))

    @r.get("/lineage/downstream", summary="What was made from a ref", dependencies=[auth.need("read", "lineage")])
    def downstream(ref: str, depth: int | None = Query(None, ge=1, le=1000)) -> dict[str, Any]:
        return graph_json(lake.lineage.downstream(ref, depth))

    return r
