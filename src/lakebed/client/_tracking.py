"""Runs, the model registry, lineage and prediction logs of a served lake: the interfaces
of :mod:`lakebed.api._tracking` over HTTP. Models are serialized and loaded on the client;
the server stores their bytes and never loads them."""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from lakebed.api._tracking import LineageAPI, ModelsAPI, PredictionLogAPI, RunAPI, RunsAPI
from lakebed.client._http import Http
from lakebed.errors import CorruptionError, InvalidArgument, NotFound

if TYPE_CHECKING:
    from lakebed.tracking._lineage import LineageEdge, LineageGraph
    from lakebed.tracking._models import ModelVersion
    from lakebed.tracking._runs import Artifact


def _seg(value: str) -> str:
    """``value`` as one path segment: a name with a slash or ``..`` cannot reach another route."""
    seg = quote(str(value), safe="@:")
    return seg.replace(".", "%2E") if seg in (".", "..") else seg


def _artifact(d: dict[str, Any]) -> Artifact:
    from lakebed.tracking._runs import Artifact

    return Artifact(d["run_id"], d["name"], d["sha256"], d["size"], d["kind"], d.get("flavor"), d.get("properties"))


def _bytes(http: Http, path: str) -> bytes:
    response = http.client.get(path)
    if response.status_code >= 400:
        http._result(response, False)
    return bytes(response.content)


class RemoteRun(RunAPI):
    """A run of a served lake; a context manager like :class:`lakebed.tracking.Run`."""

    def __init__(self, http: Http, data: dict[str, Any]) -> None:
        self._http = http
        self._update(data)

    def _update(self, data: dict[str, Any]) -> None:
        self.id = data["id"]
        self.experiment = data["experiment"]
        self.name = data["name"]
        self.status = data["status"]
        self.start_time = data["start_time"]
        self.end_time = data["end_time"]
        self.error = data.get("error")
        self.user: str | None = data.get("user")
        self.host: str | None = data.get("host")
        self.python_version: str | None = data.get("python_version")
        self.git_commit: str | None = data.get("git_commit")
        self.git_dirty: bool | None = data.get("git_dirty")
        self._data = data

    @property
    def ref(self) -> str:
        return f"run:{self.id}"

    def _path(self, *parts: str) -> str:
        return "/".join((f"/v1/runs/{_seg(self.id)}", *(_seg(p) for p in parts)))

    def _post(self, op: str, body: dict[str, Any], idempotent: bool = False) -> Any:
        return self._http.request("POST", self._path(op), json=body, idempotent=idempotent)

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise InvalidArgument("log_params takes a mapping {name: value}")
        self._post("params", {"params": {k: str(v) for k, v in params.items()}}, idempotent=True)

    def log_metric(self, key: str, value: float, step: int | None = None, timestamp: float | None = None) -> None:
        self._log({key: value}, step, timestamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if not isinstance(metrics, Mapping):
            raise InvalidArgument("log_metrics takes a mapping {name: value}")
        self._log(metrics, step, None)

    def _log(self, metrics: Mapping[str, Any], step: int | None, timestamp: float | None) -> None:
        values: dict[str, Any] = {}
        for k, v in metrics.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                try:
                    v = float(v)  # numpy numbers
                except (TypeError, ValueError):
                    raise InvalidArgument(f"metric {k!r} must be a number, got {v!r}") from None
            values[k] = None if v != v else float(v)  # NaN travels as null
        if step is not None and not isinstance(step, int):
            try:
                step = int(step.__index__())  # numpy integers
            except AttributeError:
                raise InvalidArgument(f"step must be an integer, got {step!r}") from None
        body: dict[str, Any] = {"metrics": values, "step": step}
        if timestamp is not None:
            body["timestamp"] = float(timestamp)
        self._post("metrics", body)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if not isinstance(tags, Mapping):
            raise InvalidArgument("tags must be a mapping {name: value}")
        self._post("tags", {"tags": {k: str(v) for k, v in tags.items()}}, idempotent=True)

    def log_input(self, source: Any, *, kind: str = "input") -> str:
        if isinstance(source, tuple):
            if len(source) != 2:
                raise InvalidArgument("a table input tuple is (name, version)")
            source = f"table:{source[0]}@{int(source[1])}"
        elif not isinstance(source, str):
            ref = getattr(source, "ref", None)
            name = next((getattr(source, a) for a in ("table", "table_name", "name")
                         if isinstance(getattr(source, a, None), str)), None)
            version = getattr(source, "version", None)
            if isinstance(ref, str):
                source = ref
            elif name is not None and isinstance(version, int):
                source = f"table:{name}@{version}"
            else:
                raise InvalidArgument(
                    f"cannot log {type(source).__name__} as a run input; pass a saved training set, "
                    "a table at a version ('gold.train@3' or ('gold.train', 3)) or a lineage ref"
                )
        return str(self._post("inputs", {"ref": source, "kind": kind}, idempotent=True)["ref"])

    @property
    def inputs(self) -> builtins.list[str]:
        return builtins.list(self._http.request("GET", self._path("inputs")))

    def _put(self, name: str, data: bytes, params: dict[str, Any] | None = None) -> Artifact:
        d = self._http.request("POST", self._path("artifacts", name), content=data, params=params,
                               headers={"content-type": "application/octet-stream"}, idempotent=True)
        return _artifact(d)

    def log_artifact(self, source: str | Path | bytes, name: str | None = None) -> Artifact:
        from lakebed.tracking._artifacts import read_source

        data = read_source(source)  # a file is read here, on the client
        if name is None:
            if isinstance(source, bytes | bytearray | memoryview):
                raise InvalidArgument("log_artifact(bytes) needs a name=")
            name = Path(source).name
        return self._put(name, data)

    def log_model(self, model: Any, name: str = "model", flavor: str | None = None) -> Artifact:
        from lakebed.tracking._artifacts import dump_model

        data, flavor, props = dump_model(model, flavor)
        return self.log_model_bytes(data, name, flavor, props)

    def log_model_bytes(
        self, data: bytes, name: str = "model", flavor: str = "pickle", properties: dict[str, Any] | None = None
    ) -> Artifact:
        params = {"kind": "model", "flavor": flavor}
        if properties is not None:
            params["properties"] = json.dumps(properties)
        return self._put(name, bytes(data), params)

    def load_artifact(self, name: str) -> bytes:
        return _bytes(self._http, self._path("artifacts", name))

    def metric_history(self, key: str) -> pa.Table:
        return self._http.request("GET", self._path("metrics", key), expect_arrow=True)  # type: ignore[no-any-return]

    def _refresh(self) -> dict[str, Any]:
        data: dict[str, Any] = self._http.request("GET", self._path())
        self._update(data)
        return data

    @property
    def params(self) -> dict[str, str]:
        return dict(self._refresh()["params"])

    @property
    def metrics(self) -> dict[str, float]:
        return {k: float("nan") if v is None else v for k, v in self._refresh()["metrics"].items()}

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._refresh()["tags"])

    @property
    def artifacts(self) -> builtins.list[Artifact]:
        return [_artifact(d) for d in self._http.request("GET", self._path("artifacts"))]

    def artifact(self, name: str) -> Artifact:
        for a in self.artifacts:
            if a.name == name:
                return a
        raise NotFound(f"run {self.id} has no artifact {name!r}; see run.artifacts for its artifacts")

    def load_model(self, name: str = "model") -> Any:
        from lakebed.tracking._artifacts import load_model

        a = self.artifact(name)
        data = self.load_artifact(name)
        if hashlib.sha256(data).hexdigest() != a.sha256:
            raise CorruptionError(f"artifact {name!r} of run {self.id} arrived with a wrong checksum")
        return load_model(data, a.flavor, a.properties)

    @property
    def environment(self) -> dict[str, str]:
        return dict(self._http.request("GET", self._path("environment")))

    def end(self, status: str = "FINISHED", error: str | None = None) -> None:
        self._post("end", {"status": status, "error": error}, idempotent=True)
        self._refresh()

    def __enter__(self) -> RemoteRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.status != "RUNNING":  # ended inside the block already
            return
        if exc_type is None:
            self.end("FINISHED")
        else:
            status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
            self.end(status, "".join(traceback.format_exception_only(exc_type, exc)).strip()[:4000])

    def __repr__(self) -> str:
        return f"<RemoteRun {self.id} experiment={self.experiment!r} status={self.status}>"


class RemoteRuns(RunsAPI):
    """``lake.runs`` of a served lake."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def start(self, experiment: str = "default", name: str | None = None,
              tags: Mapping[str, Any] | None = None) -> RemoteRun:
        if tags is not None and not isinstance(tags, Mapping):
            raise InvalidArgument("tags must be a mapping {name: value}")
        body = {"experiment": experiment, "name": name, "tags": {k: str(v) for k, v in tags.items()} if tags else None}
        return RemoteRun(self._http, self._http.request("POST", "/v1/runs", json=body))

    def get(self, run_id: str | RunAPI) -> RemoteRun:
        if not isinstance(run_id, str):
            run_id = run_id.id
        return RemoteRun(self._http, self._http.request("GET", f"/v1/runs/{_seg(run_id)}"))

    def experiments(self) -> builtins.list[str]:
        return builtins.list(self._http.request("GET", "/v1/experiments"))

    def search(self, query: str = "", experiment: str | Iterable[str] | None = None,
               order_by: Iterable[str] | None = None, limit: int | None = 100, offset: int = 0) -> pa.Table:
        exp = experiment if isinstance(experiment, str) or experiment is None else builtins.list(experiment)
        if isinstance(order_by, str):
            order_by = [order_by]
        body = {"query": query, "experiment": exp, "order_by": builtins.list(order_by) if order_by else None,
                "limit": limit, "offset": offset}
        return self._http.request("POST", "/v1/runs/search", json=body, idempotent=True,  # type: ignore[no-any-return]
                                  expect_arrow=True)

    def count(self, query: str = "", experiment: str | Iterable[str] | None = None) -> int:
        exp = experiment if isinstance(experiment, str) or experiment is None else builtins.list(experiment)
        out = self._http.request("POST", "/v1/runs/count", json={"query": query, "experiment": exp},
                                 idempotent=True)
        return int(out["count"])

    def list(self, experiment: str | None = None, *, status: str | None = None,
             limit: int | None = None) -> pa.Table:
        params = {k: v for k, v in {"experiment": experiment, "status": status, "limit": limit}.items() if v}
        return self._http.request("GET", "/v1/runs", params=params, expect_arrow=True)  # type: ignore[no-any-return]

    def delete(self, run_id: str) -> None:
        self._http.request("DELETE", f"/v1/runs/{_seg(run_id)}")


def _mv(d: dict[str, Any]) -> ModelVersion:
    from lakebed.tracking._models import ModelVersion

    return ModelVersion(d["name"], d["version"], d["run_id"], d["artifact"], d["sha256"], d["flavor"],
                        d["description"], d["created_at"], tuple(d["aliases"]), d.get("properties"))


def _version_param(version: int | str | None) -> dict[str, str]:
    return {} if version is None else {"version": str(version)}


class RemoteModels(ModelsAPI):
    """``lake.models`` of a served lake."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def register(self, name: str, run: RunAPI | str, artifact: str = "model",
                 description: str | None = None) -> ModelVersion:
        body = {"run_id": run if isinstance(run, str) else run.id, "artifact": artifact, "description": description}
        return _mv(self._http.request("POST", f"/v1/models/{_seg(name)}/versions", json=body))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._http.request("POST", f"/v1/models/{_seg(name)}/aliases", json={"alias": alias, "version": version},
                           idempotent=True)

    def delete_alias(self, name: str, alias: str) -> None:
        self._http.request("DELETE", f"/v1/models/{_seg(name)}/aliases/{_seg(alias)}")

    def resolve(self, ref: str, version: int | str | None = None) -> tuple[str, int]:
        d = self._http.request("GET", f"/v1/models/{_seg(ref)}/resolve", params=_version_param(version))
        return str(d["name"]), int(d["version"])

    def get(self, ref: str, version: int | str | None = None) -> ModelVersion:
        return _mv(self._http.request("GET", f"/v1/models/{_seg(ref)}", params=_version_param(version)))

    def load(self, ref: str, version: int | str | None = None) -> Any:
        from lakebed.tracking._artifacts import load_model

        mv = self.get(ref, version)
        data = _bytes(self._http, f"/v1/models/{_seg(f'{mv.name}@{mv.version}')}/artifact")
        if hashlib.sha256(data).hexdigest() != mv.sha256:
            raise CorruptionError(f"model {mv.name}@{mv.version} arrived with a wrong checksum")
        return load_model(data, mv.flavor, mv.properties)

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        return [_mv(d) for d in self._http.request("GET", f"/v1/models/{_seg(name)}/versions")]

    def list(self) -> builtins.list[dict[str, Any]]:
        return builtins.list(self._http.request("GET", "/v1/models"))


def _edge(e: dict[str, Any]) -> LineageEdge:
    from lakebed.tracking._lineage import LineageEdge

    return LineageEdge(e["src"], e["dst"], e["kind"], e.get("properties"))


class RemoteLineage(LineageAPI):
    """``lake.lineage`` of a served lake."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def _graph(self, direction: str, ref: str, depth: int | None) -> LineageGraph:
        from lakebed.tracking._lineage import LineageGraph

        params: dict[str, Any] = {"ref": ref} | ({"depth": depth} if depth is not None else {})
        d = self._http.request("GET", f"/v1/lineage/{direction}", params=params)
        return LineageGraph(d["root"], d["direction"], d["nodes"], [_edge(e) for e in d["edges"]])

    def resolve(self, ref: str) -> str:
        return str(self._http.request("GET", "/v1/lineage/resolve", params={"ref": ref})["ref"])

    def upstream(self, ref: str, depth: int | None = None) -> LineageGraph:
        return self._graph("upstream", ref, depth)

    def downstream(self, ref: str, depth: int | None = None) -> LineageGraph:
        return self._graph("downstream", ref, depth)

    def record(self, src: str, dst: str, kind: str, properties: dict[str, Any] | None = None) -> None:
        from lakebed.tracking._lineage import check_edge

        src, dst, kind, properties = check_edge(src, dst, kind, properties)
        body = {"src": src, "dst": dst, "kind": kind, "properties": properties}
        self._http.request("POST", "/v1/lineage/record", json=body, idempotent=True)

    def edges(self, refs: Iterable[str] | None = None) -> builtins.list[LineageEdge]:
        body = {"refs": None if refs is None else builtins.list(refs)}
        return [_edge(e) for e in self._http.request("POST", "/v1/lineage/edges", json=body, idempotent=True)]

    def training_set_of(self, model_ref: str) -> tuple[str, int]:
        d = self._http.request("GET", "/v1/lineage/training_set", params={"model": model_ref})
        return str(d["table"]), int(d["version"])

    def reproduce_training_set(self, model_ref: str) -> pa.Table:
        return self._http.request("GET", "/v1/lineage/training_set/data",  # type: ignore[no-any-return]
                                  params={"model": model_ref}, expect_arrow=True)


class RemotePredictionLog(PredictionLogAPI):
    """The prediction log of a model of a served lake: ``lake.predictions("fraud@champion")``."""

    def __init__(self, http: Http, model: str) -> None:
        if not isinstance(model, str):
            raise InvalidArgument(f"a model reference is a string like 'fraud@champion', got {model!r}")
        self._http = http
        ref = model[len("model:"):] if model.startswith("model:") else model
        name, at, selector = ref.partition("@")
        d = self._http.request("GET", f"/v1/predictions/{_seg(name)}", params={"selector": selector} if at else {})
        self.name = str(d["name"])
        self.version = d["version"]
        self.table_name = str(d["table_name"])

    def _path(self, op: str) -> str:
        return f"/v1/predictions/{_seg(self.name)}/{op}"

    def __repr__(self) -> str:
        v = "all versions" if self.version is None else f"version {self.version}"
        return f"<PredictionLog {self.name} ({v})>"

    def write(
        self,
        inputs: Any,
        outputs: Any,
        request_ids: Sequence[str] | None = None,
        latency_ms: float | Sequence[float] | None = None,
    ) -> int:
        from lakebed.tracking._predictions import prepare

        ins, out_cols, ids, lat = prepare(inputs, outputs, request_ids, latency_ms)
        cols: dict[str, Any] = {f"input_{c}": ins.column(c) for c in ins.column_names}
        cols.update(out_cols)
        if ids is not None:
            cols["request_id"] = pa.array(ids, pa.string())
        if lat.null_count < len(lat):
            cols["latency_ms"] = lat
        params = {} if self.version is None else {"version": self.version}
        out = self._http.request("POST", self._path("write"), arrow=pa.table(cols), params=params)
        return int(out["version"])

    def read(
        self,
        *,
        version: int | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        v = self.version if version is None else version
        params: dict[str, Any] = {}
        if v is not None:
            params["version"] = v
        for key, bound in (("start", start), ("end", end)):
            if bound is not None:
                if not isinstance(bound, dt.datetime):
                    raise InvalidArgument(f"{key} must be a datetime, got {bound!r}")
                params[key] = bound.isoformat()
        names = None
        if columns is not None:
            if isinstance(columns, str):
                raise InvalidArgument("columns is a list of names, not one string")
            names = params["columns"] = builtins.list(columns)
        table: pa.Table = self._http.request("GET", self._path("read"), params=params, expect_arrow=True)
        return table.select([]) if names == [] else table

    def join_labels(self, labels: Any, on: str = "request_id", how: str = "inner") -> pa.Table:
        params: dict[str, Any] = {"on": on, "how": how}
        if self.version is not None:
            params["version"] = self.version
        if isinstance(labels, str):
            params["table"] = labels
            return self._http.request("POST", self._path("join_labels"), params=params,  # type: ignore[no-any-return]
                                      expect_arrow=True, idempotent=True)
        from lakebed.tracking._predictions import _table

        return self._http.request("POST", self._path("join_labels"), params=params,  # type: ignore[no-any-return]
                                  arrow=_table(labels, "labels"), expect_arrow=True, idempotent=True)


class RemotePredictions:
    """Opens prediction logs of a served lake: ``lake.predictions(model)``."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def __call__(self, model: str) -> RemotePredictionLog:
        return RemotePredictionLog(self._http, model)
