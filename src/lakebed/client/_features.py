from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from lakebed.client._http import Http
from lakebed.features import OnlineResponse
from lakebed.tables import to_arrow


def _definitions(objects: Iterable[Any]) -> list[dict[str, Any]]:
    from lakebed.features import Entity, FeatureService, FeatureView

    out = []
    for obj in objects:
        kind = {Entity: "entity", FeatureView: "view", FeatureService: "service"}.get(type(obj))
        if kind is None:
            from lakebed.errors import InvalidArgument

            raise InvalidArgument(
                f"{type(obj).__name__} cannot be applied over HTTP (on-demand views hold Python code); "
                "apply it where the lake is served"
            )
        out.append({"kind": kind, "spec": obj.spec()})
    return out


def _features(features: Sequence[str] | Any) -> list[str]:
    if isinstance(features, str):
        return [features]
    if hasattr(features, "name") and hasattr(features, "spec"):  # a FeatureService
        return [str(features.name)]
    return list(features)


class RemoteFeatureStore:
    """``lake.features`` of a served lake (definitions, training sets, online, push)."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def plan(self, objects: Iterable[Any], *, prune: bool = False) -> list[dict[str, Any]]:
        body = {"objects": _definitions(objects), "prune": prune}
        return self._http.request("POST", "/v1/features/plan", json=body, idempotent=True)  # type: ignore[no-any-return]

    def apply(self, objects: Iterable[Any], *, prune: bool = False) -> list[dict[str, Any]]:
        body = {"objects": _definitions(objects), "prune": prune}
        return self._http.request("POST", "/v1/features/apply", json=body, idempotent=True)  # type: ignore[no-any-return]

    def list_views(self) -> list[Any]:
        from lakebed.features import FeatureView

        return [FeatureView.from_spec(v["spec"], v["version"]) for v in self._http.request("GET", "/v1/features/views")]

    def training_set(self, entity_df: Any, features: Sequence[str] | Any, full_feature_names: bool = False,
                     timestamp_column: str = "event_timestamp") -> pa.Table:
        table = to_arrow(entity_df)
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        params = {"features": _features(features), "full_feature_names": full_feature_names,
                  "timestamp_column": timestamp_column}
        return self._http.request("POST", "/v1/features/training_set", arrow=table, params=params,  # type: ignore[no-any-return]
                                  idempotent=True, expect_arrow=True)

    def online(self, entity_rows: Any, features: Sequence[str] | Any, *,
               full_feature_names: bool = False) -> OnlineResponse:
        body = {"entity_rows": list(entity_rows), "features": _features(features),
                "full_feature_names": full_feature_names}
        out = self._http.request("POST", "/v1/features/online", json=body, idempotent=True)
        return OnlineResponse(out["values"], out["statuses"])

    def push(self, view: str, rows: Any, to: str = "online") -> int:
        table = to_arrow(rows)
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        return int(self._http.request("POST", f"/v1/features/push/{view}", arrow=table, params={"to": to})["rows"])

    def materialize(self, end: datetime | None = None, views: Sequence[str] | None = None, *,
                    start: datetime | None = None) -> dict[str, int]:
        body = {"end": end.isoformat() if end else None, "start": start.isoformat() if start else None,
                "views": list(views) if views else None}
        return self._http.request("POST", "/v1/features/materialize", json=body, idempotent=True)  # type: ignore[no-any-return]

    def materialize_incremental(self, end: datetime | None = None,
                                views: Sequence[str] | None = None) -> dict[str, int]:
        body = {"end": end.isoformat() if end else None, "views": list(views) if views else None,
                "incremental": True}
        return self._http.request("POST", "/v1/features/materialize", json=body, idempotent=True)  # type: ignore[no-any-return]

    def status(self) -> list[dict[str, Any]]:
        return self._http.request("GET", "/v1/features/status")  # type: ignore[no-any-return]
