"""Tables over HTTP: JSON for metadata, Arrow IPC streams for data.

``POST /v1/sql`` runs one sandboxed DuckDB query (see :meth:`lakebed.tables.Tables.sql`)
over the tables the key may read: a key with table grants sees only the granted tables
(the others are unknown to the query). The query is stopped after ``app.state.sql_timeout``
seconds (default :data:`SQL_TIMEOUT`) and a result of more than ``app.state.sql_max_rows``
rows (default :data:`SQL_MAX_ROWS`) is refused with 400 rather than cut short.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lakebed.errors import InvalidArgument, PermissionDenied
from lakebed.server.routers._common import ARROW_BODY, ARROW_RESPONSE, arrow_body, arrow_response

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics

SQL_TIMEOUT = 10.0  # seconds a /v1/sql query may run
SQL_MAX_ROWS = 100_000  # rows a /v1/sql answer may hold
MAX_PREDICATE = 16_384  # characters of a where= predicate (the parser's own limit)

NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}\.[A-Za-z_][A-Za-z0-9_]{0,127}$"


class CreateTable(BaseModel):
    name: str = Field(pattern=NAME)
    schema_: dict[str, str] = Field(alias="schema", description="column name -> Arrow type alias")
    partition_by: list[str] | None = None
    description: str | None = None
    exist_ok: bool = False


class DeleteRows(BaseModel):
    where: str = Field(min_length=1, max_length=MAX_PREDICATE)


class Restore(BaseModel):
    version: int = Field(ge=0, lt=2**31)


class Vacuum(BaseModel):
    retain_hours: int = Field(168, ge=0, le=24 * 365 * 100)
    dry_run: bool = False


class Sql(BaseModel):
    query: str = Field(min_length=1, max_length=1_000_000)
    tables: list[str] | None = Field(None, max_length=10_000)
    timeout: float | None = Field(None, gt=0, le=86_400)
    max_rows: int | None = Field(None, ge=1, le=2**31)


def _commit_metadata(text: str | None) -> dict[str, str] | None:
    """``commit_metadata`` arrives as a JSON object of strings in the query string."""
    if text is None:
        return None
    import json

    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidArgument('commit_metadata must be a JSON object of strings, e.g. {"lakebed.source": "etl"}')
    return value


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["tables"])
    T = lake.tables

    @r.get("/tables", summary="List tables", dependencies=[auth.need("read", "tables")])
    def list_tables(namespace: str | None = None) -> list[str]:
        return T.list(namespace)

    @r.post("/tables", summary="Create an empty table from a schema", dependencies=[auth.need("write", "tables")])
    def create(body: CreateTable) -> dict[str, int]:
        return {"version": T.create(body.name, schema=body.schema_, partition_by=body.partition_by,
                                    description=body.description, exist_ok=body.exist_ok)}

    @r.post("/tables/{name}/create", summary="Create a table from data (Arrow IPC or JSON rows)",
            openapi_extra=ARROW_BODY, dependencies=[auth.need("write", "tables", "name")])
    async def create_from_data(
        name: str, request: Request, partition_by: list[str] | None = Query(None), description: str | None = None
    ) -> dict[str, int]:
        data = await arrow_body(request)
        return {"version": T.create(name, data=data, partition_by=partition_by, description=description)}

    @r.get("/tables/{name}", summary="Table info", dependencies=[auth.need("read", "tables", "name")])
    def info(name: str) -> dict[str, Any]:
        out = T.info(name)
        out["schema"] = {f.name: str(f.type) for f in out["schema"]}
        out["created_at"] = out["created_at"].isoformat()
        return out

    @r.post("/tables/{name}/write", summary="Append or overwrite (Arrow IPC or JSON rows)",
            openapi_extra=ARROW_BODY, dependencies=[auth.need("write", "tables", "name")])
    async def write(
        name: str, request: Request, mode: Literal["append", "overwrite"] = "append",
        schema_mode: Literal["merge"] | None = None,
        commit_metadata: str | None = Query(None, max_length=16_384),
    ) -> dict[str, int]:
        meta = _commit_metadata(commit_metadata)
        data = await arrow_body(request)
        return {"version": T.write(name, data, mode=mode, schema_mode=schema_mode, commit_metadata=meta)}

    @r.post("/tables/{name}/merge", summary="Upsert on key columns", openapi_extra=ARROW_BODY,
            dependencies=[auth.need("write", "tables", "name")])
    async def merge(name: str, request: Request, on: list[str] = Query(...)) -> dict[str, int]:
        data = await arrow_body(request)
        return {"version": T.merge(name, data, on=on)}

    @r.post("/tables/{name}/delete", summary="Delete rows matching a SQL predicate",
            dependencies=[auth.need("write", "tables", "name")])
    def delete_rows(name: str, body: DeleteRows) -> dict[str, int]:
        return {"version": T.delete(name, where=body.where)}

    @r.get("/tables/{name}/data", summary="Read (Arrow IPC stream)", responses=ARROW_RESPONSE,
           response_class=Response, dependencies=[auth.need("read", "tables", "name")])
    def read(
        name: str, version: int | None = Query(None, ge=0, lt=2**31), as_of: str | None = None,
        columns: list[str] | None = Query(None), where: str | None = Query(None, max_length=MAX_PREDICATE),
    ) -> Response:
        return arrow_response(T.read(name, version=version, as_of=as_of, columns=columns, where=where))

    @r.get("/tables/{name}/history", summary="Versions, newest first",
           dependencies=[auth.need("read", "tables", "name")])
    def history(name: str, limit: int | None = Query(None, ge=1, le=1_000_000)) -> list[dict[str, Any]]:
        out = T.history(name, limit)
        for h in out:
            h["timestamp"] = h["timestamp"].isoformat()
        return out

    @r.post("/tables/{name}/restore", summary="Restore a version as a new version",
            dependencies=[auth.need("write", "tables", "name")])
    def restore(name: str, body: Restore) -> dict[str, int]:
        return {"version": T.restore(name, body.version)}

    @r.post("/tables/{name}/vacuum", summary="Delete unreferenced files",
            dependencies=[auth.need("admin", "tables", "name")])
    def vacuum(name: str, body: Vacuum) -> list[str]:
        return T.vacuum(name, retain=timedelta(hours=body.retain_hours), dry_run=body.dry_run)

    @r.delete("/tables/{name}", summary="Drop a table", dependencies=[auth.need("admin", "tables", "name")])
    def drop(name: str) -> dict[str, str]:
        T.drop(name)
        return {"dropped": name}

    @r.post("/sql", summary="DuckDB SQL over the tables the key may read (Arrow IPC result)",
            responses=ARROW_RESPONSE, response_class=Response)
    def sql(body: Sql, request: Request, key: Any = auth.need("read")) -> Response:
        state = request.app.state
        tables = granted_tables(lake, key)
        if body.tables is not None:  # the caller narrows what the query sees, never widens it
            tables = [t for t in body.tables if tables is None or t in tables]
        timeout = getattr(state, "sql_timeout", SQL_TIMEOUT)
        max_rows = getattr(state, "sql_max_rows", SQL_MAX_ROWS)
        return arrow_response(T.sql(
            body.query,
            tables=tables,
            timeout=min(timeout, body.timeout) if body.timeout is not None else timeout,
            max_rows=min(max_rows, body.max_rows) if body.max_rows is not None else max_rows,
        ))

    @r.post("/tables/flush", summary="Make every table commit so far durable (fsync='batch')",
            dependencies=[auth.need("write", "tables")])
    def flush() -> dict[str, bool]:
        T.flush()
        return {"flushed": True}

    return r


def granted_tables(lake: Lake, key: Any) -> list[str] | None:
    """The tables ``key`` may read, or None when it may read them all (no key, no grants)."""
    if key is None or not key.grants:
        return None
    out = []
    for name in lake.tables.list():
        try:
            key.allows("read", "tables", name)
        except PermissionDenied:
            continue
        out.append(name)
    return out
