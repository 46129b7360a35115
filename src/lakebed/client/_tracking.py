from __future__ import annotations

import builtins
import json
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from lakebed.client._http import Http
from lakebed.errors import InvalidArgument


class RemoteRun:
    """A run of a served lake; a context manager like :class:`lakebed.tracking.Run`."""

    def __init__(self, http: Http, data: dict[str, Any]) -> None:
        self._http = http
        self._update(data)

    def _update(self, data: dict[str, Any]) -> None:
        self.id: str = data["id"]
        self.experiment: str = data["experiment"]
        self.name: str | None = data["name"]
        self.status: str = data["status"]
        self.start_time: float = data["start_time"]
        self.end_time: float | None = data["end_time"]
        self.error: str | None = data.get("error")
        self._data = data

    @property
    def ref(self) -> str:
        return f"run:{self.id}"

    def _post(self, op: str, body: dict[str, Any], idempotent: bool = False) -> Any:
        return self._http.request("POST", f"/v1/runs/{self.id}/{op}", json=body, idempotent=idempotent)

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._post("params", {"params": dict(params)}, idempotent=True)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._post("metrics", {"metrics": {k: float(v) for k, v in metrics.items()}, "step": step})

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._post("tags", {"tags": dict(tags)}, idempotent=True)

    def log_input(self, source: Any) -> str:
        if isinstance(source, tuple) and len(source) == 2:
            source = f"{source[0]}@{source[1]}"
        if not isinstance(source, str):
            raise InvalidArgument("over HTTP, log_input takes a ref string such as 'gold.train@3'")
        return str(self._post("inputs", {"ref": source}, idempotent=True)["ref"])

    def log_artifact(self, source: str | Path | bytes, name: str | None = None) -> dict[str, Any]:
        if isinstance(source, bytes | bytearray | memoryview):
            if name is None:
                raise InvalidArgument("log_artifact(bytes) needs a name=")
            data = bytes(source)
        else:
            data = Path(source).read_bytes()
            name = name or Path(source).name
        return self._http.request("POST", f"/v1/runs/{self.id}/artifacts/{name}", content=data,  # type: ignore[no-any-return]
                                  headers={"content-type": "application/octet-stream"}, idempotent=True)

    def log_model(self, model: Any, name: str = "model", flavor: str | None = None) -> dict[str, Any]:
        from lakebed.tracking._artifacts import dump_model

        data, flavor, props = dump_model(model, flavor)
        params = {"kind": "model", "flavor": flavor, "properties": json.dumps(props)}
        return self._http.request("POST", f"/v1/runs/{self.id}/artifacts/{name}", content=data, params=params,  # type: ignore[no-any-return]
                                  headers={"content-type": "application/octet-stream"}, idempotent=True)

    def load_artifact(self, name: str) -> bytes:
        response = self._http.client.get(f"/v1/runs/{self.id}/artifacts/{name}")
        if response.status_code >= 400:
            self._http._result(response, False)
        return bytes(response.content)

    def metric_history(self, key: str) -> pa.Table:
        return self._http.request("GET", f"/v1/runs/{self.id}/metrics/{key}", expect_arrow=True)  # type: ignore[no-any-return]

    def _refresh(self) -> dict[str, Any]:
        data: dict[str, Any] = self._http.request("GET", f"/v1/runs/{self.id}")
        self._update(data)
        return data

    @property
    def params(self) -> dict[str, str]:
        return dict(self._refresh()["params"])

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self._refresh()["metrics"])

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._refresh()["tags"])

    def end(self, status: str = "FINISHED", error: str | None = None) -> None:
        self._post("end", {"status": status, "error": error}, idempotent=True)
        self._refresh()

    def __enter__(self) -> RemoteRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.end("FINISHED")
        else:
            status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
            self.end(status, "".join(traceback.format_exception_only(exc_type, exc)).strip()[:4000])

    def __repr__(self) -> str:
        return f"<RemoteRun {self.id} experiment={self.experiment!r} status={self.status}>"


class RemoteRuns:
    """``lake.runs`` of a served lake."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def start(self, experiment: str = "default", name: str | None = None,
              tags: Mapping[str, Any] | None = None) -> RemoteRun:
        body = {"experiment": experiment, "name": name, "tags": dict(tags) if tags else None}
        return RemoteRun(self._http, self._http.request("POST", "/v1/runs", json=body))

    def get(self, run_id: str) -> RemoteRun:
        return RemoteRun(self._http, self._http.request("GET", f"/v1/runs/{run_id}"))

    def search(self, query: str = "", experiment: str | Iterable[str] | None = None,
               order_by: Iterable[str] | None = None, limit: int | None = 100, offset: int = 0) -> pa.Table:
        exp = experiment if isinstance(experiment, str) or experiment is None else builtins.list(experiment)
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
        self._http.request("DELETE", f"/v1/runs/{run_id}")


class RemoteModels:
    """``lake.models`` of a served lake."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def _mv(self, d: dict[str, Any]) -> Any:
        from lakebed.tracking import ModelVersion

        return ModelVersion(d["name"], d["version"], d["run_id"], d["artifact"], d["sha256"], d["flavor"],
                            d["description"], d["created_at"], tuple(d["aliases"]), d.get("properties"))

    def register(self, name: str, run: Any, artifact: str = "model", description: str | None = None) -> Any:
        body = {"run_id": run if isinstance(run, str) else run.id, "artifact": artifact, "description": description}
        return self._mv(self._http.request("POST", f"/v1/models/{name}/versions", json=body))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._http.request("POST", f"/v1/models/{name}/aliases", json={"alias": alias, "version": version},
                           idempotent=True)

    def delete_alias(self, name: str, alias: str) -> None:
        self._http.request("DELETE", f"/v1/models/{name}/aliases/{alias}")

    def get(self, ref: str, version: int | str | None = None) -> Any:
        if version is not None:
            ref = f"{ref}@{version}"
        return self._mv(self._http.request("GET", f"/v1/models/{ref}"))

    def load(self, ref: str, version: int | str | None = None) -> Any:
        import hashlib

        from lakebed.errors import CorruptionError
        from lakebed.tracking._artifacts import load_model

        mv = self.get(ref, version)
        response = self._http.client.get(f"/v1/models/{mv.name}@{mv.version}/artifact")
        if response.status_code >= 400:
            self._http._result(response, False)
        data = bytes(response.content)
        if hashlib.sha256(data).hexdigest() != mv.sha256:
            raise CorruptionError(f"model {mv.name}@{mv.version} arrived with a wrong checksum")
        return load_model(data, mv.flavor, mv.properties)

    def versions(self, name: str) -> builtins.list[Any]:
        return [self._mv(d) for d in self._http.request("GET", f"/v1/models/{name}/versions")]

    def list(self) -> builtins.list[dict[str, Any]]:
        return builtins.list(self._http.request("GET", "/v1/models"))


class RemoteLineage:
    """``lake.lineage`` of a served lake."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def _graph(self, direction: str, ref: str, depth: int | None) -> Any:
        from lakebed.tracking._lineage import LineageEdge, LineageGraph

        params: dict[str, Any] = {"ref": ref} | ({"depth": depth} if depth else {})
        d = self._http.request("GET", f"/v1/lineage/{direction}", params=params)
        return LineageGraph(d["root"], d["direction"], d["nodes"],
                            [LineageEdge(e["src"], e["dst"], e["kind"]) for e in d["edges"]])

    def upstream(self, ref: str, depth: int | None = None) -> Any:
        return self._graph("upstream", ref, depth)

    def downstream(self, ref: str, depth: int | None = None) -> Any:
        return self._graph("downstream", ref, depth)
