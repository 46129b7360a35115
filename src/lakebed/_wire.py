"""What the server and the client share: wire formats (JSON for small requests, Arrow IPC
streams for tables, base64 for vectors) and the mapping between lakebed's error tree and HTTP
status codes. It imports neither the server (FastAPI) nor the engine (FAISS, DuckDB), so the
HTTP client stands alone."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pyarrow as pa

from lakebed import errors as e
from lakebed.errors import InvalidArgument

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def table_to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def ipc_to_table(body: bytes) -> pa.Table:
    if not body:
        raise InvalidArgument("the request body is empty; send an Arrow IPC stream")
    try:
        return pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise InvalidArgument(f"the body is not a valid Arrow IPC stream: {exc}") from None


def encode_vectors(vectors: Any) -> dict[str, Any]:
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr[None, :]
    return {"b64": base64.b64encode(arr.astype("<f4").tobytes()).decode(), "shape": list(arr.shape)}


def decode_vectors(payload: Any) -> np.ndarray:
    """Vectors as ``{"b64": ..., "shape": [n, d]}`` (little-endian float32) or nested lists."""
    if isinstance(payload, dict) and "b64" in payload:
        try:
            raw = base64.b64decode(payload["b64"], validate=True)
            shape = tuple(int(s) for s in payload["shape"])
            return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidArgument(f"malformed base64 vectors: {exc}") from None
    try:
        return np.asarray(payload, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"vectors must be numbers: {exc}") from None

# Error types and HTTP status codes, most specific first.
STATUS: list[tuple[type[e.LakebedError], int]] = [
    (e.PermissionDenied, 403),
    (e.AuthError, 401),
    (e.NotFound, 404),
    (e.AlreadyExists, 409),
    (e.LockedError, 423),
    (e.ConflictError, 409),
    (e.ReadOnlyError, 403),
    (e.InvalidArgument, 400),
    (e.BackendUnavailable, 503),
    (e.MissingExtra, 501),
    (e.CorruptionError, 500),
    (e.LakebedError, 400),
]


def status_for(exc: e.LakebedError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: BaseException, type_name: str | None = None) -> dict[str, dict[str, Any]]:
    """``{"error": {"type", "message", "bases"}}``; ``bases`` lets a client that does not
    know an area's own error class raise its nearest known ancestor."""
    bases = [c.__name__ for c in type(exc).__mro__[1:] if isinstance(c, type) and issubclass(c, e.LakebedError)]
    return {"error": {"type": type_name or type(exc).__name__, "message": str(exc), "bases": bases}}


def _all_errors(cls: type[e.LakebedError]) -> dict[str, type[e.LakebedError]]:
    out = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        out.update(_all_errors(sub))
    return out


def error_class(type_name: str, bases: list[str] | None = None) -> type[e.LakebedError]:
    """The LakebedError subclass named in an error body, else its nearest known base."""
    known = _all_errors(e.LakebedError)
    for name in [type_name, *(bases or [])]:
        if name in known:
            return known[name]
    return e.LakebedError


def invalid_request(errors: Any, loc_prefix: tuple[str, ...] = ()) -> e.InvalidArgument:
    """The InvalidArgument for a request that failed validation: ``loc: msg`` per error
    (pydantic's error dicts; ``loc_prefix`` adds FastAPI's leading ``body``)."""
    details = "; ".join(
        f"{'.'.join(str(p) for p in (*loc_prefix, *err.get('loc', ())))}: {err.get('msg')}" for err in errors
    )
    return e.InvalidArgument(f"invalid request: {details}")
