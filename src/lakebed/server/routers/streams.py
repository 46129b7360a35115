"""Streams over HTTP: producers append and consumers read through the server.

With the embedded stream log only the lake's writer process may append, and ``lakebed
serve`` is that writer: these routes are how other processes append to (and read from) a
served lake's streams. Definitions, positions, lag and offsets travel as JSON; records
as Arrow IPC streams (a JSON body ``{"rows": [...], "ids": [...]}`` is accepted for
appends too).

Scopes: ``read`` lists, describes and reads streams, lag, committed offsets and the
offset of a time; ``write`` creates streams, appends, trims, flushes, joins and leaves a
group (member heartbeats) and commits a group's offsets; ``admin`` drops. A key with
grants reaches a stream only through a grant on ``streams:<name>`` (listing shows only
those streams; a flush, which concerns every stream, needs a grant on all of them); a
group is reached through its stream's grant. Stream names follow the table rule
(:func:`lakebed.streams._spec.check_stream_name`), consumer groups the alias rule, member
ids 1-64 ASCII letters, digits, '_' or '-'; a bad name answers 400 and creates nothing.

Every stream route is served by the writer: read workers (``--workers``) forward them.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lakebed._names import validate_name
from lakebed._wire import ARROW_STREAM, ipc_to_table
from lakebed.errors import InvalidArgument
from lakebed.server.routers._common import ARROW_RESPONSE, arrow_response, fast_json, key_allows
from lakebed.streams._spec import MAX_PARTITIONS, StreamSpec, check_stream_name

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics
    from lakebed.streams import Stream

MAX_READ_RECORDS = 100_000
"""Records one ``GET /v1/streams/{name}/records`` may return (the client pages beyond)."""
MAX_SECONDS = 100 * 365 * 86_400  # retention and dedup windows: at most a century
ID_COLUMN = "_id"
"""The column of an Arrow append body that holds the message ids (when the stream has no
column of that name)."""

APPEND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "rows": {"type": "array", "items": {"type": "object"}},
                        "ids": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["rows"],
                }
            },
        },
    }
}


class CreateStream(BaseModel):
    name: str = Field(description="the table rule: 1-128 ASCII letters, digits and '_'")
    schema_: dict[str, str] = Field(alias="schema", min_length=1, max_length=4096,
                                    description="column name -> type ('int64', 'timestamp[us, tz=UTC]', ...)")
    key: str | None = None
    event_time: str | None = None
    partitions: int = 1
    retention: float | None = Field(None, gt=0, le=MAX_SECONDS, description="seconds")
    retention_bytes: int | None = Field(None, ge=1 << 20, lt=2**63, description="per partition")
    id_field: str | None = None
    dedup_window: float = Field(120.0, gt=0, le=MAX_SECONDS, description="seconds")
    description: str = Field("", max_length=10_000)
    exist_ok: bool = False


class Commit(BaseModel):
    offsets: dict[int, int] = Field(description="partition -> next offset to read", max_length=MAX_PARTITIONS)


class Heartbeat(BaseModel):
    session_timeout: float = Field(10.0, ge=0.5, le=3600, description="seconds the member stays without a heartbeat")


_MEMBER = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)


def _member(member: str) -> str:
    if not _MEMBER.fullmatch(member):
        raise InvalidArgument(f"member id {member[:80]!r} is not valid: use 1-64 ASCII letters, digits, '_' or '-'")
    return member


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def describe_json(entry: dict[str, Any]) -> dict[str, Any]:
    """A :meth:`lakebed.streams.Streams.describe` entry as JSON (retention in seconds)."""
    return {**entry, "retention": _seconds(entry.get("retention"))}


def stream_json(stream: Stream) -> dict[str, Any]:
    """One stream: its description, its exact definition (``spec``) and bounds."""
    spec = stream.spec
    bounds = stream.bounds()
    return {
        **describe_json(spec.describe()),
        "description": spec.description,
        "backend": stream.backend.name,
        "spec": json.loads(spec.to_json()),
        "bounds": [[f, n] for f, n in bounds],
        "records": sum(n - f for f, n in bounds),
        "appended": sum(n for _, n in bounds),
    }


def _group(group: str) -> str:
    return validate_name("alias", group, "consumer group")


def _iso_times(rows: list[Any], spec: StreamSpec) -> list[Any]:
    """JSON rows with ISO 8601 text in the timestamp and date columns as datetimes and
    dates (text that does not parse is left for the schema check to name)."""
    kinds = {f.name: (datetime if pa.types.is_timestamp(f.type) else date) for f in spec.schema
             if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)}
    if not kinds:
        return rows
    out = []
    for row in rows:
        if isinstance(row, dict) and any(isinstance(row.get(c), str) for c in kinds):
            row = dict(row)
            for c, kind in kinds.items():
                v = row.get(c)
                if isinstance(v, str):
                    with contextlib.suppress(ValueError):
                        row[c] = kind.fromisoformat(v)
        out.append(row)
    return out


def append_body(body: bytes, content_type: str, spec: StreamSpec) -> tuple[Any, list[str] | None]:
    """The rows and message ids of an append body: JSON ``{"rows": [...], "ids": [...]}``,
    or an Arrow IPC stream whose ``_id`` column (when the stream has none) holds the ids."""
    if content_type.startswith("application/json"):
        try:
            payload: Any = json.loads(body or b"null")
        except ValueError as exc:
            raise InvalidArgument(f"malformed JSON body: {exc}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list) or (
                payload.keys() - {"rows", "ids"}):
            raise InvalidArgument('a JSON append body must be {"rows": [{...}, ...], "ids": ["...", ...]} '
                                  '("ids" optional)')
        ids = payload.get("ids")
        if ids is not None and (not isinstance(ids, list)
                                or not all(isinstance(i, str) or (isinstance(i, int) and not isinstance(i, bool))
                                           for i in ids)):
            raise InvalidArgument("ids must be a list of strings, one per row")
        return _iso_times(payload["rows"], spec), None if ids is None else [str(i) for i in ids]
    table = ipc_to_table(body)
    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidArgument(f"the append body has duplicate columns {dupes}; give every column a unique name")
    if ID_COLUMN in table.column_names and ID_COLUMN not in spec.schema.names:
        col = table.column(ID_COLUMN)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) or col.null_count:
            raise InvalidArgument(f"the {ID_COLUMN!r} column of an append body holds the message ids: strings, "
                                  "no nulls")
        return table.drop_columns([ID_COLUMN]), [str(i) for i in col.to_pylist()]
    return table, None


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1/streams", tags=["streams"])
    S = lake.streams
    read = auth.need("read", "streams", "name")
    write = auth.need("write", "streams", "name")

    def granted(key: Any, scope: str, name: str) -> bool:
        return key_allows(key, scope, "streams", name)

    def check_grant(request: Request, scope: str, name: str) -> None:
        """The key's grant on a stream named in the body (refusals are logged as others)."""
        if auth.required:
            h = request.headers
            auth.check(auth.secret(h.get("authorization"), h.get("x-api-key")), scope, "streams", name,
                       request.scope.get("client"), request.method, request.url.path)

    @r.get("", summary="Describe the streams the key may read (definition, records, groups and their lag)")
    def describe(key: Any = auth.need("read")) -> Response:
        return fast_json([describe_json(d) for d in S.describe() if granted(key, "read", d["name"])])

    @r.post("", summary="Create a stream")
    def create(body: CreateStream, request: Request, _key: Any = auth.need("write")) -> Response:
        check_stream_name(body.name)
        check_grant(request, "write", body.name)
        stream = S.create(
            body.name, schema=body.schema_, key=body.key, event_time=body.event_time, partitions=body.partitions,
            retention=None if body.retention is None else timedelta(seconds=body.retention),
            retention_bytes=body.retention_bytes, id_field=body.id_field,
            dedup_window=timedelta(seconds=body.dedup_window), description=body.description,
            exist_ok=body.exist_ok)
        return fast_json(stream_json(stream))

    @r.post("/flush", summary="Make the appends of every stream durable now (fsync=\"batch\")",
            dependencies=[auth.need("write", "streams")])
    def flush() -> dict[str, bool]:
        S.flush()
        return {"flushed": True}

    @r.get("/{name}", summary="A stream: definition and bounds", dependencies=[read])
    def info(name: str) -> Response:
        return fast_json(stream_json(S.get(name)))

    @r.delete("/{name}", summary="Drop a stream with its records and groups",
              dependencies=[auth.need("admin", "streams", "name")])
    def drop(name: str) -> dict[str, str]:
        S.drop(name)
        return {"dropped": name}

    @r.post("/{name}/append", summary="Append records (Arrow IPC or JSON rows); their positions",
            openapi_extra=APPEND_BODY, dependencies=[write])
    async def append(name: str, request: Request) -> Response:
        check_stream_name(name)
        body = await request.body()
        content_type = request.headers.get("content-type", "")

        def work() -> dict[str, list[int]]:
            stream = S.get(name)
            rows, ids = append_body(body, content_type, stream.spec)
            positions = stream.append(rows, ids=ids)
            return {"partitions": [p.partition for p in positions], "offsets": [p.offset for p in positions]}

        # off the event loop: an append waits for its fsync
        return fast_json(await run_in_threadpool(work))

    @r.get("/{name}/records", summary="Records of one partition from an offset (Arrow IPC), with _partition, "
           "_offset and _time", responses=ARROW_RESPONSE, response_class=Response, dependencies=[read])
    def records(
        name: str, partition: int = Query(0, ge=0, lt=MAX_PARTITIONS), offset: int = Query(0, ge=0, lt=2**62),
        max_records: int = Query(10_000, ge=1, le=MAX_READ_RECORDS),
    ) -> Response:
        batch = S.get(name).read(partition, offset, max_records)
        return arrow_response(pa.Table.from_batches([batch]))

    @r.get("/{name}/offset", summary="The first offset of a partition appended at or after a time",
           dependencies=[read])
    def offset(name: str, partition: int = Query(0, ge=0, lt=MAX_PARTITIONS),
               time_us: int = Query(..., gt=-(2**62), lt=2**62, description="UTC microseconds")) -> dict[str, int]:
        stream = S.get(name)
        if partition >= stream.partitions:
            raise InvalidArgument(f"stream {name!r} has partitions 0..{stream.partitions - 1}, got {partition!r}")
        return {"offset": stream.backend.offset_for_time(stream.spec, partition, time_us)}

    @r.post("/{name}/trim", summary="Apply retention now; how many records were dropped", dependencies=[write])
    def trim(name: str) -> dict[str, int]:
        return {"dropped": S.get(name).trim()}

    @r.get("/{name}/lag", summary="Records per partition not yet committed by a group", dependencies=[read])
    def lag(name: str, group: str = Query(..., max_length=200)) -> dict[int, int]:
        return S.get(name).lag(_group(group))

    @r.get("/{name}/groups", summary="Consumer groups with committed offsets", dependencies=[read])
    def groups(name: str) -> list[str]:
        return S.get(name).groups()

    @r.get("/{name}/groups/{group}", summary="A group's committed offsets (partition -> next offset)",
           dependencies=[read])
    def committed(name: str, group: str) -> dict[int, int]:
        return S.get(name).committed(_group(group))

    @r.post("/{name}/groups/{group}/commit", summary="Commit a group's offsets (partition -> next offset)",
            dependencies=[write])
    def commit(name: str, group: str, body: Commit) -> dict[int, int]:
        stream = S.get(name)
        g = _group(group)
        for k, o in body.offsets.items():
            if not 0 <= k < stream.partitions:
                raise InvalidArgument(f"stream {name!r} has partitions 0..{stream.partitions - 1}, got {k!r}")
            if not 0 <= o < 2**62:
                raise InvalidArgument(f"offsets must be integers 0..2**62, got {o!r} for partition {k}")
        if body.offsets:
            stream.backend.commit(stream.spec, g, dict(body.offsets))
        return stream.committed(g)

    @r.post("/{name}/groups/{group}/members/{member}",
            summary="Join a consumer group, or keep a member alive (a heartbeat); the live members, sorted",
            dependencies=[write])
    def heartbeat(name: str, group: str, member: str, body: Heartbeat) -> dict[str, list[str]]:
        stream = S.get(name)
        g, m = _group(group), _member(member)
        return {"members": stream.backend.heartbeat(stream.spec, g, m, body.session_timeout)}

    @r.delete("/{name}/groups/{group}/members/{member}", summary="Leave a consumer group", dependencies=[write])
    def leave(name: str, group: str, member: str) -> dict[str, str]:
        stream = S.get(name)
        g, m = _group(group), _member(member)
        stream.backend.leave(stream.spec, g, m)
        return {"left": m}

    return r
