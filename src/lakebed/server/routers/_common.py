from __future__ import annotations

from typing import Any

import pyarrow as pa
from fastapi import Request
from fastapi.responses import Response

from lakebed.server._wire import ARROW_STREAM, ipc_to_table, table_to_ipc


def arrow_response(table: pa.Table) -> Response:
    return Response(table_to_ipc(table), media_type=ARROW_STREAM)


async def arrow_body(request: Request) -> pa.Table:
    """The request's Arrow IPC body, or its JSON rows (``{"rows": [...]}``) as a table."""
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        import json

        from lakebed.errors import InvalidArgument
        from lakebed.tables import to_arrow

        try:
            payload: Any = json.loads(body or b"null")
        except ValueError as exc:
            raise InvalidArgument(f"malformed JSON body: {exc}") from None
        rows = payload.get("rows") if isinstance(payload, dict) else None
        if not isinstance(rows, list):
            raise InvalidArgument('a JSON body must be {"rows": [{...}, ...]}')
        result = to_arrow(rows)
        return result.read_all() if isinstance(result, pa.RecordBatchReader) else result
    return ipc_to_table(body)


ARROW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"rows": {"type": "array", "items": {"type": "object"}}},
                    "required": ["rows"],
                }
            },
        },
    }
}
ARROW_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}}
}
