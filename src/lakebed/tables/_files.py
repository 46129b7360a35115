"""Reading CSV, JSON Lines, Avro and Parquet files as a stream of Arrow record batches.

``lake.tables.create(name, data="events.csv")`` and ``lake.tables.write`` take a file path
(a ``str`` or ``pathlib.Path``); the format comes from the extension (``.csv``, ``.tsv``,
``.jsonl``, ``.ndjson``, ``.json``, ``.avro``, ``.parquet``; CSV and JSON Lines may be
compressed: ``.gz``, ``.bz2``, ``.zst``, ``.lz4``) or from ``format=`` (``"csv"``,
``"jsonl"``, ``"avro"``, ``"parquet"``). This module depends on pyarrow only (and on
fastavro, the ``avro`` extra, for Avro files), so the client of a lakebed server reads files
with it too and sends Arrow.

Files are read in blocks, never as Python objects (Avro records excepted: fastavro decodes
them, a batch at a time):

* CSV (pyarrow.csv): the first line names the columns; an empty field is null (``""``
  quoted is an empty string); quoted values may span lines. Column types are inferred
  from the first block (:data:`BLOCK_BYTES`, the whole of a smaller file); a column that
  is empty there is read as text.
* JSON Lines (pyarrow.json): one object per line; the columns and their types are inferred
  from the first block likewise.
* Avro (fastavro): types map to Arrow: records to structs, arrays to lists, maps to maps,
  enums to strings, fixed and bytes to binary, a union of ``null`` and one type to a
  nullable column of that type; logical types ``timestamp-millis``/``-micros``/``-nanos``
  to UTC timestamps, ``local-timestamp-*`` to timestamps without zone, ``date``, ``time-*``,
  ``decimal`` and ``uuid`` (a string).
* Parquet (pyarrow.parquet): as stored.

``schema`` (a pyarrow schema, or a dict of column name to type) gives the types of the
columns it names: CSV and JSON values are parsed as those types (ids with leading zeros
stay text with ``{"zip": "string"}``); Avro and Parquet columns are converted when no value
changes. Columns the schema does not name are inferred.

A malformed file raises :class:`~lakebed.errors.InvalidArgument` (a value that does not
fit its column: :class:`~lakebed.errors.SchemaError`) naming the file, the line (CSV,
JSON Lines) or record (Avro) and the problem.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "users.csv"
    >>> _ = path.write_text("id,zip\\n1,02139\\n2,10001\\n")
    >>> open_file(path, schema={"zip": "string"}).read_all().to_pylist()
    [{'id': 1, 'zip': '02139'}, {'id': 2, 'zip': '10001'}]
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakebed.errors import InvalidArgument, LakebedError, SchemaError, require

FORMATS = ("csv", "jsonl", "avro", "parquet")
"""The file formats lakebed reads."""

BLOCK_BYTES = 16 * 1024 * 1024
"""CSV and JSON Lines files are read in blocks of this many (uncompressed) bytes; column
types are inferred from the first block."""

AVRO_BATCH_ROWS = 50_000
PARQUET_BATCH_ROWS = 128 * 1024

_FORMAT_NAMES = {"csv": "csv", "tsv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl",
                 "avro": "avro", "parquet": "parquet"}
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".tab": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".json": "jsonl", ".avro": "avro", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd", ".lz4": "lz4"}
_KNOWN = ", ".join([*_EXTENSIONS, *(f".csv{c}" for c in (".gz", ".bz2", ".zst", ".lz4"))])

Progress = Callable[[int, int], None]
"""``on_progress(bytes_read, total_bytes)``, called after each batch read."""


def is_file_source(data: Any) -> bool:
    """Whether ``data`` names a file to read (a ``str`` or ``os.PathLike``) or is an open
    :class:`FileReader`."""
    return isinstance(data, str | os.PathLike | FileReader)


def file_format(path: str | os.PathLike[str], format: str | None = None) -> tuple[str, str | None]:
    """The format of ``path`` (``format``, else from its extension) and its compression.

    Example:
        >>> file_format("logs/2024-05-01.jsonl.gz")
        ('jsonl', 'gzip')
    """
    name = Path(os.fspath(path)).name.lower()
    compression = None
    stem = name
    for ext, codec in _COMPRESSIONS.items():
        if name.endswith(ext):
            compression, stem = codec, name[: -len(ext)]
            break
    if format is not None:
        fmt = _FORMAT_NAMES.get(str(format).lower())
        if fmt is None:
            raise InvalidArgument(f"unknown file format {format!r}; use one of {', '.join(FORMATS)}")
    else:
        fmt = _EXTENSIONS.get(Path(stem).suffix)
        if fmt is None:
            raise InvalidArgument(
                f"cannot tell the format of {os.fspath(path)!r} from its extension (known: {_KNOWN}); "
                f"pass format= one of {', '.join(FORMATS)}"
            )
    if compression is not None and fmt in ("avro", "parquet"):
        raise InvalidArgument(
            f"{os.fspath(path)!r}: {fmt} files are not read compressed as a whole ({compression}); "
            f"{fmt} compresses its own blocks: decompress the file first"
        )
    return fmt, compression


def open_file(
    path: str | os.PathLike[str],
    format: str | None = None,
    schema: pa.Schema | Mapping[str, Any] | None = None,
    *,
    delimiter: str | None = None,
    on_progress: Progress | None = None,
) -> FileReader:
    """Open a CSV, JSON Lines, Avro or Parquet file for reading as Arrow record batches.

    ``format`` defaults to the one of the file's extension; ``schema`` gives the types of
    the columns it names (see the module's docstring); ``delimiter`` is the CSV field
    separator (default ``,``, a tab for ``.tsv``); ``on_progress(bytes_read, total)`` is
    called after each batch.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
        >>> _ = path.write_text('{"id": 1, "kind": "view"}\\n{"id": 2, "kind": "buy"}\\n')
        >>> reader = open_file(path)
        >>> reader.schema.names, reader.read_all().num_rows, reader.rows_read
        (['id', 'kind'], 2, 2)
    """
    return FileReader(path, format, schema, delimiter=delimiter, on_progress=on_progress)


class FileReader:
    """A file being read as Arrow record batches; single pass. Make one with :func:`open_file`.

    ``schema`` is the schema of the batches; ``rows_read`` and ``bytes_read`` tell how far
    the reading got; ``error`` holds the :class:`~lakebed.errors.LakebedError` that stopped
    it, if one did. ``to_reader()`` gives a ``pyarrow.RecordBatchReader``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        schema: pa.Schema | Mapping[str, Any] | None = None,
        *,
        delimiter: str | None = None,
        on_progress: Progress | None = None,
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            raise InvalidArgument(f"a file path is a str or pathlib.Path, got {type(path).__name__}")
        shown = os.fspath(path)
        p = Path(shown).expanduser()
        if "\n" in shown or "\x00" in shown:
            raise InvalidArgument(
                f"data is a string of several lines ({shown[:40]!r}...), not the path of a file: a string "
                "given as data is the path of a .csv, .jsonl, .avro or .parquet file to read; write the "
                "text to a file first, or pass rows or a pyarrow Table"
            )
        if not p.exists():
            raise InvalidArgument(
                f"no file {shown!r} (looked at {p.absolute()}); a string given as data is the path "
                "of a .csv, .jsonl, .avro or .parquet file to read"
            )
        if p.is_dir():
            raise InvalidArgument(f"{shown!r} is a directory; give the path of one file to import")
        self.path = p
        self.format, self.compression = file_format(p, format)
        if delimiter is not None and (self.format != "csv" or len(delimiter) != 1):
            raise InvalidArgument(f"delimiter applies to CSV files and is one character, got {delimiter!r}")
        tabs = re.search(r"\.(tsv|tab)(\.\w+)?$", p.name.lower()) is not None
        self.delimiter = delimiter or ("\t" if tabs else ",")
        self.size = p.stat().st_size
        self.rows_read = 0
        self.error: LakebedError | None = None
        self._on_progress = on_progress
        self._used = False
        self._raw: Any = None  # the file object whose position tells the bytes read
        self._position: int | None = None  # or the bytes read, when counted otherwise
        self._overrides = _parse_schema(schema)
        opener = {"csv": self._open_csv, "jsonl": self._open_json, "avro": self._open_avro,
                  "parquet": self._open_parquet}[self.format]
        try:
            self._source_schema, self._source = opener()
        except LakebedError:
            self.close()
            raise
        self.schema = _output_schema(self._source_schema, self._overrides)

    # -- public ------------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        """Bytes of the file read so far (of the compressed file, when it is)."""
        if self._position is not None:
            return self._position
        if self._raw is None or self._raw.closed:
            return self.size if self._used else 0
        try:
            return min(int(self._raw.tell()), self.size)
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self._batches()

    def to_reader(self) -> pa.RecordBatchReader:
        """The batches as a ``pyarrow.RecordBatchReader`` (the file is read as it is consumed)."""
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def read_all(self) -> pa.Table:
        """Every batch as one table."""
        return pa.Table.from_batches(list(self._batches()), schema=self.schema)

    def close(self) -> None:
        """Close the file (done when the last batch has been read, or on an error)."""
        if self._raw is not None and not self._raw.closed:
            self._raw.close()

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.to_reader().__arrow_c_stream__(requested_schema)

    def __repr__(self) -> str:
        return f"FileReader({str(self.path)!r}, format={self.format!r}, columns={self.schema.names})"

    # -- reading -----------------------------------------------------------------------
    def _batches(self) -> Iterator[pa.RecordBatch]:
        if self._used:
            raise InvalidArgument(f"{self.path} was read already; open it again to read it again")
        self._used = True
        try:
            for batch in self._source:
                batch = self._conform(batch)
                self.rows_read += batch.num_rows
                if self._on_progress is not None:
                    self._on_progress(self.bytes_read, self.size)
                yield batch
        except LakebedError as exc:
            self.error = exc
            raise
        finally:
            self.close()
        if self._on_progress is not None:
            self._on_progress(self.size, self.size)

    def _conform(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with the reader's schema: null columns as text, schema's types applied."""
        if batch.schema.equals(self.schema):
            return batch
        from lakebed.tables._arrow import _cast, _compatible

        arrays = []
        for field in self.schema:
            col = batch.column(field.name)
            if col.type != field.type:
                if pa.types.is_time(col.type) and pa.types.is_integer(field.type):  # time of day as a number
                    col = col.cast(pa.int32() if col.type.bit_width == 32 else pa.int64())
                if not (pa.types.is_null(col.type) or _compatible(col.type, field.type) or _nulls_only(col.type)):
                    raise SchemaError(
                        f"{self.path}: column {field.name!r} holds {col.type} values, which cannot be read as "
                        f"{field.type} (lakebed converts a value only when it keeps its value); give the "
                        "column the file's type in schema=, or convert the file"
                    )
                try:
                    col = _cast(pa.chunked_array([col]), field.type, field.name, self.rows_read).combine_chunks()
                except SchemaError as exc:
                    raise SchemaError(f"{self.path}: {exc}") from None
            arrays.append(col)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _input(self) -> Any:
        """The file as an Arrow input stream (decompressed when it is compressed)."""
        self._raw = pa.OSFile(str(self.path), "r")
        if self.compression is None:
            return self._raw
        try:
            return pa.CompressedInputStream(self._raw, self.compression)
        except (pa.ArrowException, ValueError) as exc:
            raise InvalidArgument(f"{self.path}: cannot read {self.compression} compression: {exc}") from None

    # CSV
    def _csv_options(self, column_types: dict[str, pa.DataType]) -> tuple[Any, Any, Any]:
        import pyarrow.csv as pcsv

        read = pcsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=True)
        parse = pcsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True)
        convert = pcsv.ConvertOptions(column_types=column_types, null_values=[""], strings_can_be_null=True,
                                      quoted_strings_can_be_null=False)
        return read, parse, convert

    def _open_csv(self) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        import pyarrow.csv as pcsv

        types = {f.name: f.type for f in self._overrides if _csv_type(f.type)}
        reader = self._csv_reader(pcsv, types)
        empty = [f.name for f in reader.schema if pa.types.is_null(f.type) and f.name not in types]
        if empty:  # read as text the columns that are empty in the first block
            self.close()
            reader = self._csv_reader(pcsv, {**types, **dict.fromkeys(empty, pa.string())})
        _check_names(self.path, reader.schema.names, "the header")
        return reader.schema, self._arrow_batches(reader)

    def _csv_reader(self, pcsv: Any, types: dict[str, pa.DataType]) -> Any:
        read, parse, convert = self._csv_options(types)
        try:
            return pcsv.open_csv(self._input(), read_options=read, parse_options=parse, convert_options=convert)
        except (pa.ArrowException, OSError) as exc:
            self.close()
            raise self._problem(exc, None) from None

    # JSON Lines
    def _open_json(self) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        import pyarrow.json as pjson

        explicit = pa.schema([f for f in self._overrides if _json_type(f.type)])
        read = pjson.ReadOptions(block_size=BLOCK_BYTES, use_threads=True)
        parse = pjson.ParseOptions(explicit_schema=explicit if len(explicit) else None,
                                   unexpected_field_behavior="infer")
        try:
            reader = pjson.open_json(self._input(), read_options=read, parse_options=parse)
        except (pa.ArrowException, OSError) as exc:
            self.close()
            raise self._problem(exc, None) from None
        schema = reader.schema
        if len(explicit):  # pyarrow puts the schema's fields first: keep the order of the file
            order = _first_keys(self)
            names = schema.names
            schema = pa.schema(sorted(schema, key=lambda f: (order.get(f.name, len(order)), names.index(f.name))))
        return schema, self._arrow_batches(reader)

    def _arrow_batches(self, reader: Any) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise self._problem(exc, reader.schema) from None
            yield batch

    def _problem(self, exc: BaseException, schema: pa.Schema | None) -> LakebedError:
        """The error for a CSV or JSON Lines file that pyarrow could not read: the line and
        the problem, found by reading the file again with Python's csv or json module."""
        text = str(exc)
        if isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException):
            return InvalidArgument(f"cannot read {self.path}: {text}")
        if "empty" in text.lower() and self.size == 0:
            return InvalidArgument(f"{self.path} is empty; a {self.format.upper()} file to import needs rows")
        try:
            found = (_csv_line(self, text, schema) if self.format == "csv" else _json_line(self, text, schema))
        except (OSError, csv.Error, ValueError, UnicodeError):  # the search must never hide the error
            found = None
        if found is None:
            detail = re.sub(r"^(CSV|JSON) (parse|conversion) error: ", "", text).strip()
            return InvalidArgument(f"cannot read {self.path} as {self.format.upper()}: {detail}")
        line, message, schema_problem = found
        cls = SchemaError if schema_problem else InvalidArgument
        return cls(f"{self.path}: line {line}: {message}")

    # Avro
    def _open_avro(self) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        fastavro: Any = require("fastavro", "avro")
        self._raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        try:
            records = fastavro.reader(self._raw)
        except Exception as exc:  # fastavro raises many kinds on a file that is not Avro
            self.close()
            raise InvalidArgument(f"{self.path} is not an Avro object container file: {exc}") from None
        converter = _AvroSchema()
        try:
            struct = converter.arrow(records.writer_schema, "")
            fix = converter.fixer(records.writer_schema)
        except LakebedError:
            self.close()
            raise
        if not pa.types.is_struct(struct):  # a file of plain values: one column "value"
            struct = pa.struct([pa.field("value", struct)])
            inner = fix
            fix = (lambda v: {"value": inner(v)}) if inner is not None else (lambda v: {"value": v})
        return pa.schema(list(struct)), self._avro_batches(records, struct, fix)

    def _avro_batches(self, records: Iterator[Any], struct: pa.DataType,
                      fix: Callable[[Any], Any] | None) -> Iterator[pa.RecordBatch]:
        done = 0
        while True:
            chunk: list[Any] = []
            try:
                for record in records:
                    chunk.append(record if fix is None else fix(record))
                    if len(chunk) >= AVRO_BATCH_ROWS:
                        break
            except Exception as exc:  # a damaged block
                raise InvalidArgument(
                    f"{self.path}: record {done + len(chunk) + 1}: the file is damaged or not Avro "
                    f"({type(exc).__name__}: {exc})"
                ) from None
            if not chunk:
                return
            try:
                array = pa.array(chunk, type=struct)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                raise _avro_value_error(self.path, chunk, struct, done) from None
            done += len(chunk)
            yield pa.RecordBatch.from_struct_array(array)

    # Parquet
    def _open_parquet(self) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        import pyarrow.parquet as pq

        try:
            self._raw = pa.OSFile(str(self.path), "r")
            pf = pq.ParquetFile(self._raw)
            schema = pf.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            self.close()
            raise InvalidArgument(f"{self.path} is not a Parquet file or is damaged: {exc}") from None
        return schema, self._parquet_batches(pf)

    def _parquet_batches(self, pf: Any) -> Iterator[pa.RecordBatch]:
        total = max(pf.metadata.num_rows, 1)
        done = 0
        self._position = 0  # progress by rows (the footer, at the end, is read first)
        try:
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                done += batch.num_rows
                self._position = self.size * done // total
                yield batch
        except (pa.ArrowException, OSError) as exc:
            raise InvalidArgument(f"{self.path}: row {done + 1}: the file is damaged: {exc}") from None


# -- schemas -----------------------------------------------------------------------------
def _parse_schema(schema: pa.Schema | Mapping[str, Any] | None) -> pa.Schema:
    if schema is None:
        return pa.schema([])
    from lakebed.tables._arrow import parse_schema

    return parse_schema(schema)


def _output_schema(source: pa.Schema, overrides: pa.Schema) -> pa.Schema:
    """The file's schema with the schema's types for the columns it names; null columns as
    text (a column with only nulls has no type a table can store)."""
    fields = []
    for f in source:
        t = overrides.field(f.name).type if f.name in overrides.names else _no_nulls(f.type)
        fields.append(pa.field(f.name, t, True))
    return pa.schema(fields)


def _no_nulls(t: pa.DataType) -> pa.DataType:
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_no_nulls(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _no_nulls(f.type)) for f in (t.field(i) for i in range(t.num_fields))])
    return t


def _nulls_only(t: pa.DataType) -> bool:
    """Whether ``t`` is null, or made of null (a list of nulls...)."""
    return _no_nulls(t) != t


def _csv_type(t: pa.DataType) -> bool:
    """Types pyarrow.csv parses text into."""
    return (pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t)
            or pa.types.is_decimal(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_binary(t) or pa.types.is_date(t) or pa.types.is_timestamp(t))


def _json_type(t: pa.DataType) -> bool:
    """Types pyarrow.json reads values into (nested ones too)."""
    return not (pa.types.is_dictionary(t) or pa.types.is_map(t) or pa.types.is_decimal(t))


def _check_names(path: Path, names: list[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InvalidArgument(f"{path}: {where} names the column {n!r} twice; give every column a unique name")
        seen.add(n)


# -- finding the line of a problem ------------------------------------------------------
def _text(reader: FileReader) -> io.TextIOWrapper:
    """The file as text (decompressed), for the search of a problem's line."""
    stream = pa.input_stream(str(reader.path), compression=reader.compression)
    return io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")  # type: ignore[arg-type]


_SURROGATE = re.compile("[\udc80-\udcff]")


def _csv_line(reader: FileReader, text: str, schema: pa.Schema | None) -> tuple[int, str, bool] | None:
    """(line, problem, is a type problem) for a CSV error, or None when not found."""
    columns = re.search(r"Expected (\d+) columns, got (\d+)", text)
    conversion = re.search(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to ([^:]+): (.*)", text, re.S)
    k = int(conversion.group(1)) if conversion is not None and columns is None else None
    value = _quoted(conversion.group(3)) if conversion is not None else None
    check_utf8 = "utf" in text.lower()
    with _text(reader) as f:
        rows = csv.reader(f, delimiter=reader.delimiter)
        header: list[str] | None = None
        width = 0
        end = 0
        for row in rows:
            start, end = end + 1, rows.line_num  # the record's first line, and its last
            if not row:  # an empty line
                continue
            if check_utf8:
                bad = next((v for v in row if _SURROGATE.search(v)), None)
                if bad is not None:
                    return start, f"the text is not UTF-8 ({bad.encode('utf-8', 'surrogateescape')[:40]!r})", False
            if header is None:
                header, width = row, len(row)
                continue
            if len(row) != width:
                return (start, f"{len(row)} fields where the header has {width} "
                        f"({reader.delimiter.join(row)[:80]!r}); fix that line, or quote values that hold "
                        f"{reader.delimiter!r}", False)
            if k is not None and k < width and row[k] == value and conversion is not None:
                name = header[k]
                why = conversion.group(3).strip()
                why = "" if why.startswith("invalid value") else f" ({why.rstrip('.')})"
                fix = ("fix that value, or give the column another type in schema=" if name in reader._overrides.names
                       else f"fix that value, or read the column as text with schema={{{name!r}: 'string'}} "
                       "(types are inferred from the start of the file)")
                return start, f"column {name!r}: {value!r} is not a valid {conversion.group(2)}{why}; {fix}", True
    return None


def _quoted(message: str) -> str | None:
    """The value quoted in pyarrow's message (``invalid value 'x'``, ``... in 'x'``)."""
    hit = re.search(r"'(.*)'", message, re.S)
    return hit.group(1) if hit else None


_JSON_KINDS = {"number": (int, float), "string": (str,), "object": (dict,), "array": (list,), "boolean": (bool,),
               "null": (type(None),)}


def _json_line(reader: FileReader, text: str, schema: pa.Schema | None) -> tuple[int, str, bool] | None:
    """(line, problem, is a type problem) for a JSON Lines error, or None when not found."""
    changed = re.search(r"Column\(([^)]*)\) changed from (\w+) to (\w+)", text)
    unexpected = "unexpected field" in text
    known = set(schema.names) if schema is not None else set()
    with pa.input_stream(str(reader.path), compression=reader.compression) as f:
        number = 0
        for raw in _binary_lines(f):
            number += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                return number, "the text is not UTF-8", False
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                return number, f"not valid JSON: {exc.msg} (column {exc.colno}); fix that line", False
            if not isinstance(value, dict):
                what = next(k for k, types in _JSON_KINDS.items() if _kind_is(value, types))
                return number, f"a JSON {what}, not an object; each line holds one object", False
            if unexpected and schema is not None:
                new = [k for k in value if k not in known]
                if new:
                    return (number, f"the field {new[0]!r} first appears here, after the first block of the file "
                            f"(the columns are inferred from its first {_block()}); name it in "
                            "schema=, or put such a line first", True)
            if changed is not None:
                path = [p for p in changed.group(1).split("/") if p]
                was, now = changed.group(2), changed.group(3)
                kinds = _JSON_KINDS.get(now)
                found = _at(value, path)
                if kinds is not None and found is not _MISSING and _kind_is(found, kinds):
                    fix = (f"give its type in schema= (the types are inferred from the first {_block()} "
                           "of the file)" if was == "null" else "make that field one kind of value")
                    return (number, f"field {'.'.join(path)!r} holds a {now} where the column holds {was} values; "
                            f"{fix}", True)
    return None


def _block() -> str:
    return f"{BLOCK_BYTES // 2**20} MiB" if BLOCK_BYTES >= 2**20 else f"{BLOCK_BYTES // 1024} KiB"


def _first_keys(reader: FileReader) -> dict[str, int]:
    """The keys of the first object of a JSON Lines file, by position (empty when it is not
    at hand)."""
    with pa.input_stream(str(reader.path), compression=reader.compression) as f:
        for line in _binary_lines(f, limit=4 << 20):
            if line.strip():
                try:
                    first = json.loads(line)
                except ValueError:
                    return {}
                return {k: i for i, k in enumerate(first)} if isinstance(first, dict) else {}
    return {}


def _kind_is(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


_MISSING = object()


def _at(value: Any, path: list[str]) -> Any:
    for p in path:
        if not isinstance(value, dict) or p not in value:
            return _MISSING
        value = value[p]
    return value


def _binary_lines(f: Any, limit: int | None = None) -> Iterator[bytes]:
    """The lines of a binary file (without their line ends); with ``limit``, those in its
    first ``limit`` bytes."""
    rest = b""
    seen = 0
    while True:
        chunk = f.read(1 << 20)
        seen += len(chunk)
        if not chunk or (limit is not None and seen > limit):
            if rest and not chunk:
                yield rest
            return
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts


# -- Avro ----------------------------------------------------------------------------------
_AVRO_PRIMITIVES = {"null": pa.null(), "boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(),
                    "float": pa.float32(), "double": pa.float64(), "bytes": pa.binary(), "string": pa.string()}

_AVRO_LOGICAL = {
    ("timestamp-millis", "long"): pa.timestamp("ms", tz="UTC"),
    ("timestamp-micros", "long"): pa.timestamp("us", tz="UTC"),
    ("timestamp-nanos", "long"): pa.timestamp("ns", tz="UTC"),
    ("local-timestamp-millis", "long"): pa.timestamp("ms"),
    ("local-timestamp-micros", "long"): pa.timestamp("us"),
    ("local-timestamp-nanos", "long"): pa.timestamp("ns"),
    ("date", "int"): pa.date32(),
    ("time-millis", "int"): pa.time32("ms"),
    ("time-micros", "long"): pa.time64("us"),
    ("uuid", "string"): pa.string(),
}


class _AvroSchema:
    """Avro schema (as fastavro parses it) to Arrow types, and the reader schema that reads
    logical types as their plain values."""

    def __init__(self) -> None:
        self.named: dict[str, Any] = {}
        self._open: set[str] = set()

    def arrow(self, t: Any, where: str) -> pa.DataType:
        if isinstance(t, str):
            if t in _AVRO_PRIMITIVES:
                return _AVRO_PRIMITIVES[t]
            if t in self._open:
                raise SchemaError(f"Avro field {where!r} refers to its own type {t!r}; recursive types have no "
                                  "Arrow equivalent")
            if t in self.named:
                return self.arrow(self.named[t], where)
            raise SchemaError(f"Avro field {where!r} has the unknown type {t!r}")
        if isinstance(t, list):
            kinds = [k for k in t if k != "null"]
            if not kinds:
                return pa.null()
            if len(kinds) > 1:
                raise SchemaError(
                    f"Avro field {where!r} is a union of {t}; a table column has one type, so lakebed reads "
                    "unions of null and one type only: convert the file, or split the field"
                )
            return self.arrow(kinds[0], where)
        if not isinstance(t, dict):
            raise SchemaError(f"Avro field {where!r} has a schema lakebed does not read: {t!r}")
        kind, logical = t.get("type"), t.get("logicalType")
        if isinstance(kind, str) and isinstance(logical, str) and (logical, kind) in _AVRO_LOGICAL:
            return _AVRO_LOGICAL[(logical, kind)]
        if logical == "decimal" and kind in ("bytes", "fixed"):
            precision, scale = int(t.get("precision", 38)), int(t.get("scale", 0))
            if kind == "fixed":
                self._name(t)
            return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        if kind == "record":
            name = self._name(t)
            self._open.add(name)
            try:
                fields = [pa.field(f["name"], self.arrow(f["type"], f"{where}.{f['name']}".lstrip(".")))
                          for f in t.get("fields", [])]
            finally:
                self._open.discard(name)
            return pa.struct(fields)
        if kind == "enum":
            self._name(t)
            return pa.string()
        if kind == "fixed":
            self._name(t)
            return pa.binary()
        if kind == "array":
            return pa.list_(self.arrow(t["items"], f"{where}[]"))
        if kind == "map":
            return pa.map_(pa.string(), self.arrow(t["values"], f"{where}{{}}"))
        return self.arrow(kind, where)  # {"type": "long"}, or a logical type lakebed does not know

    def _name(self, t: dict[str, Any]) -> str:
        name = str(t.get("name"))
        self.named[name] = t
        return name

    def fixer(self, t: Any, seen: frozenset[str] = frozenset()) -> Callable[[Any], Any] | None:
        """A function that makes the values of ``t`` as fastavro reads them fit Arrow (UUID
        objects of ``uuid`` strings to text), or None when they fit as they are."""
        if isinstance(t, str):
            if t in self.named and t not in seen:
                return self.fixer(self.named[t], seen | {t})
            return None
        if isinstance(t, list):
            fixes = [f for f in (self.fixer(k, seen) for k in t if k != "null") if f is not None]
            return fixes[0] if fixes else None
        if not isinstance(t, dict):
            return None
        kind = t.get("type")
        if t.get("logicalType") == "uuid" and kind == "string":
            return lambda v: None if v is None else str(v)
        if kind == "record":
            inner = {f["name"]: self.fixer(f["type"], seen | {str(t.get("name"))}) for f in t.get("fields", [])}
            todo = {k: f for k, f in inner.items() if f is not None}
            if not todo:
                return None
            return lambda v: None if v is None else {k: (todo[k](x) if k in todo else x) for k, x in v.items()}
        if kind == "array":
            item = self.fixer(t["items"], seen)
            return None if item is None else (lambda v: None if v is None else [item(x) for x in v])
        if kind == "map":
            value = self.fixer(t["values"], seen)
            return None if value is None else (lambda v: None if v is None else {k: value(x) for k, x in v.items()})
        if isinstance(kind, dict | list | str) and kind not in _AVRO_PRIMITIVES:
            return self.fixer(kind, seen)
        return None


def _avro_value_error(path: Path, chunk: list[Any], struct: pa.DataType, done: int) -> SchemaError:
    """Name the first record of ``chunk`` (and its field) that Arrow cannot hold."""
    for i, record in enumerate(chunk):
        try:
            pa.array([record], type=struct)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            for field in struct:
                value = record.get(field.name) if isinstance(record, dict) else None
                try:
                    pa.array([value], type=field.type)
                except (pa.ArrowException, TypeError, ValueError, OverflowError):
                    return SchemaError(f"{path}: record {done + i + 1}: field {field.name!r} holds {value!r:.80}, "
                                       f"which does not fit {field.type}")
            return SchemaError(f"{path}: record {done + i + 1} does not fit {struct}: {exc}")
    return SchemaError(f"{path}: records {done + 1}..{done + len(chunk)} do not convert to Arrow")
