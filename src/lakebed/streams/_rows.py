"""Rows checked against a stream's schema before an append. It depends on pyarrow alone,
so the HTTP client checks rows as the embedded stream does."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lakebed.errors import InvalidArgument, SchemaError
from lakebed.streams._spec import StreamSpec

MAX_APPEND_ROWS = 1_000_000


def validate_rows(spec: StreamSpec, rows: Any) -> pa.Table:
    """``rows`` (Arrow, pandas, polars, a list of dicts) as a table of the stream's schema,
    or SchemaError/InvalidArgument naming the problem.

    Example:
        >>> spec = StreamSpec.build("e", schema={"v": "int64"})
        >>> validate_rows(spec, [{"v": 1}]).to_pylist()
        [{'v': 1}]
        >>> validate_rows(spec, [{"v": 1, "w": 2}])
        Traceback (most recent call last):
        ...
        lakebed.errors.SchemaError: append to stream 'e': columns ['w'] are not in the stream (columns: ['v'])
    """
    from lakebed.tables._arrow import conform, to_arrow

    try:
        data = to_arrow(rows, spec.schema)
    except InvalidArgument as exc:
        raise InvalidArgument(f"append to stream {spec.name!r}: {exc}") from None
    if isinstance(data, pa.RecordBatchReader):
        data = data.read_all()
    dupes = sorted({c for c in data.column_names if data.column_names.count(c) > 1})
    if dupes:
        raise SchemaError(f"append to stream {spec.name!r}: columns {dupes} appear more than once")
    if data.num_rows > MAX_APPEND_ROWS:
        raise InvalidArgument(f"append to stream {spec.name!r}: {data.num_rows} rows in one call; "
                              f"append at most {MAX_APPEND_ROWS} at a time")
    extra = [c for c in data.column_names if c not in spec.schema.names]
    if extra:
        raise SchemaError(f"append to stream {spec.name!r}: columns {extra} are not in the stream "
                          f"(columns: {spec.schema.names})")
    try:
        table = conform(data, spec.schema)
    except SchemaError as exc:
        raise SchemaError(f"append to stream {spec.name!r}: {exc}") from None
    for what, col in (("event_time", spec.event_time), ("id_field", spec.id_field), ("key", spec.key)):
        if col is not None and table.column(col).null_count:
            if col not in data.column_names:
                raise SchemaError(f"append to stream {spec.name!r}: rows lack the {what} column {col!r}")
            raise SchemaError(f"append to stream {spec.name!r}: the {what} column {col!r} has nulls")
    return table
