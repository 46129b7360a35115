from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from lakebed.api._tables import TablesAPI
from lakebed.client._http import Http
from lakebed.errors import NotFound
from lakebed.tables import parse_name, to_arrow

if TYPE_CHECKING:
    import pyarrow.dataset as pads


def _table(data: Any) -> pa.Table:
    result = to_arrow(data)
    return result.read_all() if isinstance(result, pa.RecordBatchReader) else result


class RemoteTables(TablesAPI):
    """``lake.tables`` of a served lake: the same methods as :class:`lakebed.tables.Tables`."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(self, name: str, schema: pa.Schema | dict[str, Any] | None = None, data: Any = None,
               partition_by: Sequence[str] | None = None, description: str | None = None,
               exist_ok: bool = False, *, format: str | None = None) -> int:
        parse_name(name)
        from lakebed.tables._files import is_file_source

        if data is not None and is_file_source(data):  # read here, sent as Arrow
            from lakebed.tables._arrow import parse_schema

            if exist_ok and self.exists(name):
                return self.version(name)
            wanted = parse_schema(schema) if schema is not None else pa.schema([])
            data = _table(to_arrow(data, wanted, format=format))
            for field in wanted:  # the schema's columns that the file lacks
                if field.name not in data.column_names:
                    data = data.append_column(field, pa.nulls(data.num_rows, field.type))
        elif format is not None:
            from lakebed.errors import InvalidArgument

            raise InvalidArgument("format= applies to data given as a file path")
        if data is None:
            from lakebed.tables._arrow import parse_schema

            if schema is None:
                from lakebed.errors import InvalidArgument

                raise InvalidArgument("create needs a schema, data, or both")
            fields = {f.name: str(f.type) for f in parse_schema(schema)}
            body = {"name": name, "schema": fields, "partition_by": partition_by, "description": description,
                    "exist_ok": exist_ok}
            return int(self._http.request("POST", "/v1/tables", json=body)["version"])
        if exist_ok and self.exists(name):
            return self.version(name)
        params: dict[str, Any] = {"partition_by": list(partition_by or []) or None, "description": description}
        return int(self._http.request("POST", f"/v1/tables/{name}/create", arrow=_table(data),
                                      params={k: v for k, v in params.items() if v is not None})["version"])

    def write(self, name: str, data: Any, mode: Literal["append", "overwrite"] = "append",
              schema_mode: Literal["merge"] | None = None, *, commit_metadata: dict[str, str] | None = None,
              format: str | None = None) -> int:
        params: dict[str, str] = {"mode": mode} | ({"schema_mode": schema_mode} if schema_mode else {})
        if commit_metadata is not None:
            params["commit_metadata"] = json.dumps(commit_metadata)
        from lakebed.tables._files import is_file_source

        if is_file_source(data):  # read here as the table's types, sent as Arrow
            data = to_arrow(data, self.read(name, where="FALSE").schema, format=format)
        elif format is not None:
            from lakebed.errors import InvalidArgument

            raise InvalidArgument("format= applies to data given as a file path")
        return int(self._http.request("POST", f"/v1/tables/{name}/write", arrow=_table(data), params=params)["version"])

    def merge(self, name: str, data: Any, on: Sequence[str] | str) -> int:
        keys = [on] if isinstance(on, str) else list(on)
        return int(self._http.request("POST", f"/v1/tables/{name}/merge", arrow=_table(data),
                                      params={"on": keys})["version"])

    def delete(self, name: str, where: str) -> int:
        return int(self._http.request("POST", f"/v1/tables/{name}/delete", json={"where": where})["version"])

    def read(self, name: str, version: int | None = None, as_of: datetime | str | None = None,
             columns: Sequence[str] | None = None, where: str | None = None) -> pa.Table:
        params: dict[str, Any] = {}
        if version is not None:
            params["version"] = version
        if as_of is not None:
            params["as_of"] = as_of.isoformat() if isinstance(as_of, datetime) else as_of
        if columns is not None:
            params["columns"] = list(columns)
        if where is not None:
            params["where"] = where
        return self._http.request("GET", f"/v1/tables/{name}/data", params=params, expect_arrow=True)  # type: ignore[no-any-return]

    def dataset(self, name: str, version: int | None = None) -> pads.Dataset:
        import pyarrow.dataset as pads

        return pads.dataset(self.read(name, version=version))

    def info(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = self._http.request("GET", f"/v1/tables/{name}")
        out["schema"] = pa.schema([pa.field(k, pa.type_for_alias(v) if _simple(v) else pa.string())
                                   for k, v in out["schema"].items()])
        out["created_at"] = datetime.fromisoformat(out["created_at"])
        return out

    def schema(self, name: str, version: int | None = None) -> pa.Schema:
        return self.read(name, version=version).schema

    def version(self, name: str) -> int:
        return int(self._http.request("GET", f"/v1/tables/{name}")["version"])

    def exists(self, name: str) -> bool:
        parse_name(name)
        try:
            self._http.request("GET", f"/v1/tables/{name}")
        except NotFound:
            return False
        return True

    def list(self, namespace: str | None = None) -> builtins.list[str]:
        params = {"namespace": namespace} if namespace else {}
        return builtins.list(self._http.request("GET", "/v1/tables", params=params))

    def history(self, name: str, limit: int | None = None) -> builtins.list[dict[str, Any]]:
        out = self._http.request("GET", f"/v1/tables/{name}/history", params={"limit": limit} if limit else {})
        for h in out:
            h["timestamp"] = datetime.fromisoformat(h["timestamp"])
        return out  # type: ignore[no-any-return]

    def restore(self, name: str, version: int) -> int:
        return int(self._http.request("POST", f"/v1/tables/{name}/restore", json={"version": version})["version"])

    def vacuum(self, name: str, retain: timedelta = timedelta(days=7), dry_run: bool = False) -> builtins.list[str]:
        body = {"retain_hours": int(retain.total_seconds() // 3600), "dry_run": dry_run}
        return builtins.list(self._http.request("POST", f"/v1/tables/{name}/vacuum", json=body))

    def drop(self, name: str) -> None:
        self._http.request("DELETE", f"/v1/tables/{name}")

    def sql(self, query: str, *, tables: Sequence[str] | None = None, timeout: float | None = None,
            max_rows: int | None = None) -> pa.Table:
        body = {"query": query, "tables": builtins.list(tables) if tables is not None else None,
                "timeout": timeout, "max_rows": max_rows}
        return self._http.request("POST", "/v1/sql", json=body, idempotent=True,  # type: ignore[no-any-return]
                                  expect_arrow=True)

    def flush(self) -> None:
        self._http.request("POST", "/v1/tables/flush", json={})


def _simple(alias: str) -> bool:
    try:
        pa.type_for_alias(alias)
    except ValueError:
        return False
    return True
