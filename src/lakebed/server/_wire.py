"""Wire formats: JSON for small requests, Arrow IPC streams for tables, base64 for vectors."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pyarrow as pa

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
