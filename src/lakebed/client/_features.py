"""``lake.features`` of a served lake: the methods of :class:`lakebed.api.FeatureStoreAPI`
over HTTP. Definitions travel as their JSON specs, training sets and key types as Arrow,
online reads as compact JSON.

Example:
    >>> import lakebed
    >>> lake = lakebed.connect("http://127.0.0.1:8765", api_key="lb_...")              # doctest: +SKIP
    >>> lake.features.online([{"user_id": 1}], ["user_stats:amount"])["amount"]       # doctest: +SKIP
    [5.0]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from lakebed._names import parse_name, validate_name
from lakebed.api._features import FeatureStoreAPI, ProgressCallback
from lakebed.client._http import Http
from lakebed.errors import InvalidArgument, NotFound
from lakebed.features import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    OnlineResponse,
    Projection,
    StreamFeatureView,
)
from lakebed.features._plan import Change, Plan
from lakebed.features._resolved import Resolved
from lakebed.features._table_view import TrainingSetTable
from lakebed.tables import to_arrow

# status() keys that are datetimes (ISO text on the wire) and durations (seconds)
_TIMES = ("last_materialized", "newest_event", "last_applied")
_DURATIONS = ("freshness_lag", "freshness_slo")


def _definitions(objects: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for obj in objects:
        kind = ("entity" if isinstance(obj, Entity) else "view" if isinstance(obj, FeatureView)
                else "service" if isinstance(obj, FeatureService) else None)  # StreamFeatureView is a view
        if kind is None:
            raise InvalidArgument(
                f"{type(obj).__name__} cannot be applied over HTTP (on-demand views hold Python code); "
                "apply it where the lake is served"
            )
        out.append({"kind": kind, "spec": obj.spec()})
    return out


def _features(features: Sequence[str] | Any) -> list[str] | str:
    """``features`` of online reads and training sets: refs, or a service's name."""
    if isinstance(features, str):
        return features
    if isinstance(features, FeatureService):
        return features.name
    return list(features)


def _feature_refs(features: Any) -> Any:
    """The wire form of ``resolve``'s ``features``: refs as text, view objects as
    ``{"view": name}``, a FeatureService as its name and references."""
    if isinstance(features, FeatureService):
        return {"service": features.name, "features": list(features.feature_refs)}
    if isinstance(features, str):
        return features
    if not isinstance(features, Iterable):
        raise InvalidArgument("features must be a list of 'view:feature' refs or a FeatureService")
    out: list[Any] = []
    for f in features:
        if isinstance(f, Projection):
            out += f.refs()
        elif isinstance(f, FeatureView | OnDemandFeatureView):
            out.append({"view": f.name})
        else:
            out.append(f)
    return out


def _remote_udf(name: str) -> Any:
    def udf(_inputs: Any) -> Any:
        raise InvalidArgument(f"the function of on-demand view {name!r} runs where the lake is served; "
                              "read its features with lake.features.online or training_set")

    return udf


def _view(entry: dict[str, Any]) -> FeatureView | OnDemandFeatureView:
    """A view object from its spec, as the embedded store builds it."""
    spec, version = entry["spec"], entry["version"]
    if spec["type"] == "on_demand":
        return OnDemandFeatureView.from_spec(spec, _remote_udf(spec["name"]), version)
    if spec.get("stream"):
        return StreamFeatureView.from_spec(spec, version)
    return FeatureView.from_spec(spec, version)


def _path_name(name: str, what: str) -> str:
    """``name`` for a URL path; NotFound (as the embedded store answers) for text no
    definition can be named, which could not travel in a path either."""
    try:
        return validate_name("feature", name)
    except InvalidArgument:
        raise NotFound(f"no {what} {name!r} is applied (it is not a valid name)") from None


def _plan(changes: list[dict[str, Any]]) -> Plan:
    return Plan([Change.from_json(c) for c in changes])


def _status(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in _TIMES:
        if isinstance(out.get(k), str):
            out[k] = datetime.fromisoformat(out[k])
    for k in _DURATIONS:
        if isinstance(out.get(k), int | float):
            out[k] = timedelta(seconds=out[k])
    return out


TRAINING_SET_META = b"lakebed:training_set"  # what a training set was made from, in its Arrow metadata


class RemoteTrainingSet(TrainingSetTable):
    """A training set of a served lake: what :class:`lakebed.features.TrainingSet` is
    embedded (the same table, properties and :meth:`save`).

    Example:
        >>> ts = remote_lake.features.training_set(entity_df, ["user_stats:amount"])  # doctest: +SKIP
        >>> ts.save("gold.train_fraud")  # doctest: +SKIP
        0
    """

    def __init__(self, http: Http, table: pa.Table, entities: pa.Table, spec: dict[str, Any]) -> None:
        super().__init__(table, spec)
        self._http = http
        self._entities = entities

    def save(self, name: str, description: str | None = None) -> int:
        """Store as the table ``name`` of the served lake, as
        :meth:`lakebed.features.TrainingSet.save` does: the server computes the set again
        from the same entity rows and view and source versions (the same table) and saves
        it with lineage; returns the table version. Needs ``write`` on the feature store
        and on the tables ``name`` and ``<name>__entities``."""
        parse_name(name)
        meta = {**(self._entities.schema.metadata or {}), TRAINING_SET_META: json.dumps(self.spec).encode()}
        body = self._entities.replace_schema_metadata(meta)
        params = {} if description is None else {"description": description}
        version = int(self._http.request("POST", f"/v1/features/training_sets/{name}", arrow=body,
                                         params=params, idempotent=True)["version"])
        self.ref = f"table:{name}@{version}"
        return version


class RemoteFeatureStore(FeatureStoreAPI):
    """``lake.features`` of a served lake (see :class:`lakebed.api.FeatureStoreAPI`)."""

    def __init__(self, http: Http) -> None:
        self._http = http

    # -- definitions --------------------------------------------------------------------
    def plan(self, objects: Iterable[Any], *, prune: bool = False) -> Plan:
        body = {"objects": _definitions(objects), "prune": prune}
        return _plan(self._http.request("POST", "/v1/features/plan", json=body, idempotent=True))

    def apply(self, objects: Iterable[Any], *, prune: bool = False) -> Plan:
        body = {"objects": _definitions(objects), "prune": prune}
        return _plan(self._http.request("POST", "/v1/features/apply", json=body, idempotent=True))

    def delete(self, name: str, kind: str | None = None) -> Change:
        params = {"kind": kind} if kind is not None else {}
        path = f"/v1/features/definitions/{_path_name(name, kind or 'definition')}"
        return Change.from_json(self._http.request("DELETE", path, params=params))

    def list_views(self) -> list[FeatureView | OnDemandFeatureView]:
        return [_view(v) for v in self._http.request("GET", "/v1/features/views")]

    def get_view(self, name: str, version: int | None = None) -> FeatureView | OnDemandFeatureView:
        path = f"/v1/features/views/{_path_name(name, 'view')}"
        return _view(self._http.request("GET", path, params=_version(version)))

    def list_entities(self) -> list[Entity]:
        return [Entity.from_spec(e["spec"], e["version"]) for e in self._http.request("GET", "/v1/features/entities")]

    def get_entity(self, name: str, version: int | None = None) -> Entity:
        e = self._http.request("GET", f"/v1/features/entities/{_path_name(name, 'entity')}", params=_version(version))
        return Entity.from_spec(e["spec"], e["version"])

    def list_services(self) -> list[FeatureService]:
        return [FeatureService.from_spec(s["spec"], s["version"])
                for s in self._http.request("GET", "/v1/features/services")]

    def get_service(self, name: str, version: int | None = None) -> FeatureService:
        s = self._http.request("GET", f"/v1/features/services/{_path_name(name, 'service')}",
                               params=_version(version))
        return FeatureService.from_spec(s["spec"], s["version"])

    def history(self, name: str, kind: str = "view") -> list[dict[str, Any]]:
        if kind not in ("entity", "view", "service"):
            raise InvalidArgument(f"kind must be 'entity', 'view' or 'service', got {kind!r}")
        try:
            validate_name("feature", name)
        except InvalidArgument:
            return []  # no definition has that name
        rows = self._http.request("GET", f"/v1/features/history/{kind}/{name}")
        return [{**h, "created_at": datetime.fromisoformat(h["created_at"])} for h in rows]

    # -- feature references -------------------------------------------------------------
    def resolve(self, features: Any, specs: dict[str, dict[str, Any]] | None = None) -> Resolved:
        body = {"features": _feature_refs(features), "specs": specs}
        return Resolved.from_json(self._http.request("POST", "/v1/features/resolve", json=body, idempotent=True))

    def key_types(self, features: Sequence[str] | FeatureService | str) -> dict[str, pa.DataType]:
        body = {"features": _feature_refs(features)}
        table: pa.Table = self._http.request("POST", "/v1/features/key_types", json=body, idempotent=True,
                                             expect_arrow=True)
        return {f.name: f.type for f in table.schema}

    # -- offline ------------------------------------------------------------------------
    def training_set(self, entity_df: Any, features: Sequence[str] | FeatureService | str,
                     full_feature_names: bool = False, timestamp_column: str = "event_timestamp",
                     ) -> RemoteTrainingSet:
        entities = to_arrow(entity_df)
        if isinstance(entities, pa.RecordBatchReader):
            entities = entities.read_all()
        params = {"features": _features(features), "full_feature_names": full_feature_names,
                  "timestamp_column": timestamp_column}
        table: pa.Table = self._http.request("POST", "/v1/features/training_set", arrow=entities, params=params,
                                             idempotent=True, expect_arrow=True)
        meta = dict(table.schema.metadata or {})
        spec = json.loads(meta.pop(TRAINING_SET_META, b"{}"))
        return RemoteTrainingSet(self._http, table.replace_schema_metadata(meta or None), entities, spec)

    def reproduce_training_set(self, name: str, version: int | None = None) -> pa.Table:
        try:
            parse_name(name)
        except InvalidArgument:
            raise NotFound(f"{name!r} was not saved from a training set (it is not a valid table name)") from None
        return self._http.request("GET", f"/v1/features/training_sets/{name}",  # type: ignore[no-any-return]
                                  params=_version(version), expect_arrow=True)

    # -- online -------------------------------------------------------------------------
    def online(self, entity_rows: Any, features: Sequence[str] | FeatureService | str, *,
               full_feature_names: bool = False, now: datetime | None = None) -> OnlineResponse:
        body: dict[str, Any] = {"entity_rows": list(entity_rows), "features": _features(features),
                                "full_feature_names": full_feature_names}
        if now is not None:
            body["now"] = now.isoformat()
        out = self._http.request("POST", "/v1/features/online", json=body, idempotent=True)
        return OnlineResponse(out["values"], out["statuses"])

    def push(self, view: str, rows: Any, to: str = "online") -> int:
        table = to_arrow(rows)
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        return int(self._http.request("POST", f"/v1/features/push/{view}", arrow=table, params={"to": to})["rows"])

    # -- materialization ----------------------------------------------------------------
    def materialize(self, end: datetime | None = None, views: Sequence[str] | None = None,
                    progress: ProgressCallback | None = None, *, start: datetime | None = None) -> dict[str, int]:
        body = {"end": end.isoformat() if end else None, "start": start.isoformat() if start else None,
                "views": list(views) if views else None}
        return _progress(self._http.request("POST", "/v1/features/materialize", json=body, idempotent=True),
                         progress)

    def materialize_incremental(self, end: datetime | None = None, views: Sequence[str] | None = None,
                                progress: ProgressCallback | None = None) -> dict[str, int]:
        body = {"end": end.isoformat() if end else None, "views": list(views) if views else None,
                "incremental": True}
        return _progress(self._http.request("POST", "/v1/features/materialize", json=body, idempotent=True),
                         progress)

    # -- streams ------------------------------------------------------------------------
    def replay(self, view: str, since: datetime | None = None) -> dict[str, Any]:
        body = {"since": since.isoformat() if since else None}
        path = f"/v1/features/views/{_path_name(view, 'view')}/replay"
        return self._http.request("POST", path, json=body)  # type: ignore[no-any-return]

    def status(self) -> list[dict[str, Any]]:
        return [_status(row) for row in self._http.request("GET", "/v1/features/status")]

    def refresh(self) -> None:
        self._http.request("POST", "/v1/features/refresh", idempotent=True)


def _version(version: int | None) -> dict[str, int]:
    return {} if version is None else {"version": version}


def _progress(rows: dict[str, int], progress: ProgressCallback | None) -> dict[str, int]:
    if progress is not None:
        for view, n in rows.items():
            progress(view, n, n)
    return rows
