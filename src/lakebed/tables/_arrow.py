"""Conversion of user data to Arrow, and the schema rules of lakebed tables.

Delta Lake stores a subset of Arrow's types. lakebed maps the rest on the way in so that
what is read back equals what was written: unsigned integers widen to the next signed
type, timestamps become microseconds (UTC when they carry a zone), large and view
variants of strings, binaries and lists become the plain ones. A write whose values would
not survive that mapping (an overflow, sub-microsecond digits) is refused.

One coercion rule for every input kind (Arrow tables and streams, pandas, polars, rows
given as dicts): a value is converted to its column's type only when it keeps its value.

* integers into any integer or floating column, when the value fits (an integer beyond
  2**53 into float64, 300 into int8: refused);
* floats into integer columns only when the value is integral and in range (``2.0`` is
  stored as 2, ``1.5`` and NaN are refused); floats into a narrower float column round to
  its precision, but a finite value that would become infinite is refused;
* no parsing and no formatting: strings never become numbers or timestamps, numbers and
  booleans never become strings, booleans never become numbers;
* timestamps convert between units and zones when no digit is lost; naive and zoned
  timestamps do not mix (naive datetimes in rows are taken as UTC for a zoned column).

A value that would change raises :class:`~lakebed.errors.SchemaError` naming the column,
the first offending row (its index in the data written) and value, and how to fix it;
nothing is written. Rows are converted column by column with the same rule: a numeric
column's values are read as they are (``1.5`` stays a float) and then converted.

Example:
    >>> import pyarrow as pa
    >>> target = pa.schema([("user_id", pa.int64())])
    >>> conform(to_arrow([{"user_id": 2.0}], target), target).column("user_id").to_pylist()
    [2]
    >>> conform(to_arrow([{"user_id": 1}, {"user_id": 1.5}], target), target)
    Traceback (most recent call last):
    ...
    lakebed.errors.SchemaError: column 'user_id' (double) cannot be stored as int64 ...: row 1 holds 1.5; ...
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


def to_arrow(
    data: Any, schema: pa.Schema | None = None, *, format: str | None = None
) -> pa.Table | pa.RecordBatchReader:
    """Turn supported inputs into an Arrow table (or keep a stream as a stream).

    Accepts a pyarrow Table, RecordBatch or RecordBatchReader, a pandas or polars
    DataFrame, a list of dicts (rows), a dict of columns, or the path (``str`` or
    ``pathlib.Path``) of a CSV, JSON Lines, Avro or Parquet file, read as a stream in the
    ``format`` given or that of its extension, with ``schema``'s types for the columns it
    names (see :mod:`lakebed.tables._files`).
    """
    from lakebed.tables._files import FileReader, file_format, is_file_source, open_file

    if is_file_source(data):
        if isinstance(data, FileReader):
            if format is not None and file_format(data.path, format)[0] != data.format:
                raise InvalidArgument(f"{data.path} is open as {data.format}, not {format!r}")
            return data.to_reader()
        return open_file(data, format, schema).to_reader()
    if format is not None:
        raise InvalidArgument(
            f"format= applies to data given as a file path, not to {type(data).__name__}; drop format="
        )
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
        return _rows_to_arrow(data, schema)
    raise InvalidArgument(
        f"unsupported data of type {type(data).__name__}; pass a pyarrow Table or "
        "RecordBatchReader, a pandas or polars DataFrame, a list of dicts, or the path of a "
        ".csv, .jsonl, .avro or .parquet file"
    )


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _rows_to_arrow(rows: Any, schema: pa.Schema | None) -> pa.Table:
    """Rows (dicts) to a table, column by column. A column the table knows is built as the
    table's type, except numeric ones: their values are taken as they are (a float stays a
    float) so that :func:`conform` applies the same rule as to every other input."""
    keys = _keys(rows)
    arrays, fields = [], []
    for key in keys:
        values = [row.get(key) for row in rows]
        t = schema.field(key).type if schema is not None and key in schema.names else None
        if t is not None and _is_numeric(t):
            t = None
        try:
            arr = pa.array(values, type=t)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
            raise SchemaError(_value_error(key, values, t, exc)) from None
        arrays.append(arr)
        fields.append(pa.field(key, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _value_error(key: str, values: list[Any], t: pa.DataType | None, exc: Exception) -> str:
    """Name the column and its first value that does not convert (alone, or next to the
    first value of another kind)."""
    first_kind: type | None = None
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            pa.array([v], type=t)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            want = f"type {t}" if t is not None else "any column type"
            return (f"column {key!r}: row {i} holds {v!r}, which does not fit {want}; fix or cast "
                    "that value")
        if first_kind is None:
            first_kind = type(v)
        elif t is None and type(v) is not first_kind and not (
            isinstance(v, int | float) and issubclass(first_kind, int | float)
        ):
            return (f"column {key!r} mixes kinds of value: row {i} holds {v!r} "
                    f"({type(v).__name__}) after {first_kind.__name__} values; give the "
                    "column one kind of value")
    return f"column {key!r}: the values do not fit ({exc}); fix or cast those values"


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
    if pa.types.is_integer(dst):  # floats only when integral: checked value by value
        return pa.types.is_integer(src) or pa.types.is_floating(src)
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


def conform(table: pa.Table, target: pa.Schema, *, allow_new: bool = False, offset: int = 0) -> pa.Table:
    """Cast ``table`` to the table schema ``target`` or raise SchemaError naming the columns.

    Missing columns are filled with nulls; with ``allow_new`` extra columns are kept (and
    mapped to storage types) for schema evolution, otherwise they are an error. Values are
    converted by the rule in this module's docstring; ``offset`` is the index of the
    table's first row in the data written (for a stream's later batches), used in messages.
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
        raise SchemaError(
            f"column types do not fit the table: {', '.join(bad)}; lakebed converts a value only "
            "when it keeps its value (no parsing of strings, no numbers as strings): cast those "
            "columns first, or write into a column of that type"
        )
    arrays: list[pa.Array | pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for f in target:
        if f.name in names:
            arrays.append(_cast(table.column(f.name), f.type, f.name, offset))
        else:
            arrays.append(pa.nulls(table.num_rows, f.type))
        fields.append(f)
    for n in extra:
        t = storage_type(table.schema.field(n).type)
        arrays.append(_cast(table.column(n), t, n, offset))
        fields.append(pa.field(n, t, True))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _cast(col: pa.ChunkedArray, t: pa.DataType, name: str, offset: int = 0) -> pa.ChunkedArray:
    if col.type == t:
        return col
    src = original = col.type
    try:
        if pa.types.is_timestamp(src) and src.tz is not None and t.tz is not None and src.tz != t.tz:
            col = col.cast(pa.timestamp(src.unit, tz=t.tz))
        if pa.types.is_dictionary(src):
            col = col.cast(src.value_type)
        if pa.types.is_integer(col.type) and pa.types.is_decimal(t) and t.scale <= 18:
            col = pc.cast(col, pa.decimal128(38, t.scale), safe=True)  # then checked against t's precision
        out = pc.cast(col, t, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(_changed(col, t, name, offset, str(exc), original)) from None
    if pa.types.is_floating(col.type) and pa.types.is_floating(t) and t.bit_width < col.type.bit_width:
        overflow = pc.and_(pc.is_finite(col), pc.invert(pc.is_finite(out)))
        if pc.any(overflow).as_py():
            raise SchemaError(_changed(col, t, name, offset, "the value is out of range", original))
    return out


def _changed(
    col: pa.ChunkedArray, t: pa.DataType, name: str, offset: int, why: str, original: pa.DataType
) -> str:
    """The message for a column whose values would change: the first such row and value."""
    where = ""
    try:
        arr = col.combine_chunks()
        back = pc.cast(pc.cast(arr, t, safe=False), arr.type, safe=False)
        differs = pc.fill_null(pc.not_equal(back, arr), False)
        if pa.types.is_floating(arr.type):
            differs = pc.or_(differs, pc.fill_null(pc.is_nan(arr), False))
            if pa.types.is_floating(t):
                differs = pc.or_(differs, pc.fill_null(pc.invert(pc.is_finite(pc.cast(arr, t, safe=False))), False))
                differs = pc.and_(differs, pc.fill_null(pc.is_finite(arr), False))
        idx = pc.index(differs, True).as_py()
        if idx is not None and idx >= 0:
            where = f": row {offset + idx} holds {arr[idx].as_py()!r}"
    except (pa.ArrowException, ValueError, TypeError):
        pass
    if not where:
        where = f" ({why})"
    if pa.types.is_integer(t) and pa.types.is_floating(col.type):
        fix = "round or cast that value first (e.g. to an integer), or store the column as a float"
    elif pa.types.is_timestamp(t):
        fix = f"truncate the value to {t.unit} first (e.g. with pyarrow.compute.floor_temporal)"
    else:
        fix = f"fix that value; a column of type {t} cannot hold it"
    return f"column {name!r} ({original}) cannot be stored as {t} without changing a value{where}; {fix}"


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
