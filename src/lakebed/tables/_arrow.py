"""Conversion of user data to Arrow, and the schema rules of lakebed tables.

Delta Lake stores a subset of Arrow's types. lakebed maps the rest on the way in so that
what is read back equals what was written: unsigned integers widen to the next signed
type, timestamps become microseconds (UTC when they carry a zone), large and view
variants of strings, binaries and lists become the plain ones. A write whose values would
not survive that mapping (an overflow, sub-microsecond digits) is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakebed.errors import InvalidArgument, SchemaError

_UNSIGNED = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.int64(),
}


def to_arrow(data: Any, schema: pa.Schema | None = None) -> pa.Table | pa.RecordBatchReader:
    """Turn supported inputs into an Arrow table (or keep a stream as a stream).

    Accepts a pyarrow Table, RecordBatch or RecordBatchReader, a pandas or polars
    DataFrame, a list of dicts (rows) or a dict of columns.
    """
    if isinstance(data, pa.Table | pa.RecordBatchReader):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()  # type: ignore[no-any-return]
    if isinstance(data, Mapping):
        try:
            return pa.table(dict(data))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise InvalidArgument(f"cannot turn the dict of columns into a table: {exc}") from None
    if isinstance(data, list | tuple):
        if not data:
            raise InvalidArgument("the data is an empty list; pass at least one row, or a schema")
        if not all(isinstance(row, Mapping) for row in data):
            raise InvalidArgument("a list of rows must hold dicts (column name -> value)")
        try:
            if schema is not None and set(_keys(data)) <= set(schema.names):
                sub = pa.schema([schema.field(n) for n in schema.names if n in set(_keys(data))])
                return pa.Table.from_pylist(list(data), schema=sub)
            return pa.Table.from_pylist(list(data))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
            raise SchemaError(_row_error(data, schema, exc)) from None
    raise InvalidArgument(
        f"unsupported data of type {type(data).__name__}; pass a pyarrow Table or "
        "RecordBatchReader, a pandas or polars DataFrame, or a list of dicts"
    )


def _row_error(rows: Any, schema: pa.Schema | None, exc: Exception) -> str:
    """Name the columns whose values do not fit, for a clear message."""
    bad = []
    for key in _keys(rows):
        t = schema.field(key).type if schema is not None and key in schema.names else None
        try:
            pa.array([row.get(key) for row in rows], type=t)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as col_exc:
            bad.append(f"{key} ({col_exc})")
    where = f"columns {'; '.join(bad)}" if bad else str(exc)
    return f"the rows do not fit the column types: {where}; fix or cast those values"


def _keys(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def storage_type(t: pa.DataType) -> pa.DataType:
    """The type a column of type ``t`` is stored (and read back) as."""
    if t in _UNSIGNED:
        return _UNSIGNED[t]
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz is not None else None)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_dictionary(t):
        return storage_type(t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(pa.field("element", storage_type(t.value_type), t.value_field.nullable))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(pa.field("element", storage_type(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct(
            [pa.field(f.name, storage_type(f.type), f.nullable) for f in (t.field(i) for i in range(t.num_fields))]
        )
    if pa.types.is_map(t):
        return pa.map_(storage_type(t.key_type), storage_type(t.item_type))
    if pa.types.is_null(t):
        raise SchemaError("a column with only nulls has no type; give the table a schema")
    if pa.types.is_duration(t) or pa.types.is_time(t) or pa.types.is_interval(t):
        raise SchemaError(f"type {t} cannot be stored in a table; store it as an integer")
    return t


def storage_schema(schema: pa.Schema) -> pa.Schema:
    """Map a user schema to the schema the table stores."""
    fields = []
    for f in schema:
        try:
            fields.append(pa.field(f.name, storage_type(f.type), True))
        except SchemaError as exc:
            raise SchemaError(f"column {f.name!r}: {exc}") from None
    if len(set(schema.names)) != len(schema.names):
        dupes = sorted({n for n in schema.names if schema.names.count(n) > 1})
        raise SchemaError(f"duplicate column names {dupes}; give every column a unique name")
    return pa.schema(fields)


def _compatible(src: pa.DataType, dst: pa.DataType) -> bool:
    """May a column of type ``src`` be written into a column of type ``dst``?"""
    if src == dst:
        return True
    if pa.types.is_null(src):
        return True
    if pa.types.is_integer(dst):
        return pa.types.is_integer(src)
    if pa.types.is_floating(dst):
        return pa.types.is_floating(src) or pa.types.is_integer(src)
    if pa.types.is_timestamp(dst):
        return pa.types.is_timestamp(src) and (src.tz is None) == (dst.tz is None)
    if pa.types.is_decimal(dst):
        return pa.types.is_decimal(src) or pa.types.is_integer(src)
    try:
        return storage_type(src) == dst
    except SchemaError:
        return False


def conform(table: pa.Table, target: pa.Schema, *, allow_new: bool = False) -> pa.Table:
    """Cast ``table`` to the table schema ``target`` or raise SchemaError naming the columns.

    Missing columns are filled with nulls; with ``allow_new`` extra columns are kept (and
    mapped to storage types) for schema evolution, otherwise they are an error.
    """
    names = set(table.column_names)
    extra = [n for n in table.column_names if n not in target.names]
    if extra and not allow_new:
        raise SchemaError(
            f"columns {extra} are not in the table (columns: {target.names}); drop them, or "
            "write with schema_mode='merge' to add them"
        )
    bad = [
        f"{f.name} ({table.schema.field(f.name).type} into {f.type})"
        for f in target
        if f.name in names and not _compatible(table.schema.field(f.name).type, f.type)
    ]
    if bad:
        raise SchemaError(f"column types do not fit the table: {', '.join(bad)}; cast them first")
    arrays: list[pa.Array | pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for f in target:
        if f.name in names:
            arrays.append(_cast(table.column(f.name), f.type, f.name))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
        fields.append(f)
    for n in extra:
        t = storage_type(table.schema.field(n).type)
        arrays.append(_cast(table.column(n), t, n))
        fields.append(pa.field(n, t, True))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _cast(col: pa.ChunkedArray, t: pa.DataType, name: str) -> pa.ChunkedArray:
    if col.type == t:
        return col
    src = col.type
    try:
        if pa.types.is_timestamp(src) and src.tz is not None and t.tz is not None and src.tz != t.tz:
            col = col.cast(pa.timestamp(src.unit, tz=t.tz))
        if pa.types.is_dictionary(src):
            col = col.cast(src.value_type)
        return pc.cast(col, t, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(f"column {name!r} cannot be stored as {t} without losing data: {exc}") from None


def parse_schema(schema: pa.Schema | Mapping[str, Any]) -> pa.Schema:
    """Accept a pyarrow schema or a mapping of column name to type (``"int64"`` or a DataType)."""
    if isinstance(schema, pa.Schema):
        return schema
    if isinstance(schema, Mapping):
        fields = []
        for name, t in schema.items():
            if isinstance(t, str):
                try:
                    t = pa.type_for_alias(t)
                except ValueError:
                    raise SchemaError(f"unknown type {t!r} for column {name!r}; use e.g. 'int64'") from None
            fields.append(pa.field(name, t))
        return pa.schema(fields)
    raise InvalidArgument("schema must be a pyarrow.Schema or a dict of column name -> type")
