"""Importing CSV, JSON Lines, Avro and Parquet files into tables: round trips against what
was written (by the csv and json modules, fastavro, pyarrow), the Avro type mapping, schema
overrides, malformed input (an error naming the line; nothing written), the CLI command and
the client of a served lake."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import gzip
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.server.conftest import Served, served  # noqa: F401 - the served lake fixture
from typer.testing import CliRunner

import lakebed
from lakebed.cli import app
from lakebed.errors import AlreadyExists, InvalidArgument, MissingExtra, NotFound, SchemaError
from lakebed.tables import _files
from lakebed.tables._files import open_file

fastavro = pytest.importorskip("fastavro")

UTC = dt.UTC


# -- files written by the reference writers ------------------------------------------------
CSV_ROWS: list[dict[str, Any]] = [
    {"id": 1, "name": "plain", "zip": "02139", "score": 1.5, "active": True, "note": None,
     "day": dt.date(2024, 5, 1), "at": dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)},
    {"id": 2, "name": 'with "quotes", a comma', "zip": "10001", "score": -0.25, "active": False,
     "note": "two\nlines", "day": dt.date(2024, 5, 2), "at": dt.datetime(2024, 5, 2, 0, 0, 1, tzinfo=UTC)},
    {"id": 3, "name": "ünïcødé ✓", "zip": "00501", "score": 1e10, "active": True, "note": "x",
     "day": dt.date(2024, 5, 3), "at": None},
]


def _csv_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def write_csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        for row in rows:
            w.writerow({k: _csv_text(v) for k, v in row.items()})
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def _sorted(table: pa.Table, key: str = "id") -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: r[key])


def _tables_dir(lake: lakebed.Lake, name: str) -> Path:
    ns, tname = name.split(".")
    return lake.path / "tables" / ns / tname


# -- CSV -------------------------------------------------------------------------------------
def test_csv_round_trip(lake: lakebed.Lake, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "people.csv", CSV_ROWS)
    assert lake.tables.create("bronze.people", data=str(path), schema={"zip": "string"}) == 0
    got = _sorted(lake.tables.read("bronze.people"))
    assert got == CSV_ROWS  # row by row, value by value
    schema = lake.tables.schema("bronze.people")
    assert schema.names == list(CSV_ROWS[0])  # the file's column order
    assert schema.field("day").type == pa.date32()
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert len(lake.tables.history("bronze.people")) == 1


def test_csv_types_are_inferred_without_schema(lake: lakebed.Lake, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "people.csv", CSV_ROWS)
    lake.tables.create("bronze.people", data=path)  # a pathlib.Path
    assert lake.tables.schema("bronze.people").field("zip").type == pa.int64()  # leading zeros lost...
    assert _sorted(lake.tables.read("bronze.people"))[2]["zip"] == 501  # ...which schema= prevents


def test_tsv_gzip_and_explicit_format(lake: lakebed.Lake, tmp_path: Path) -> None:
    rows = [{"id": i, "word": f"w{i}"} for i in range(5)]
    tsv = write_csv(tmp_path / "words.tsv", rows, delimiter="\t")
    gz = tmp_path / "words.csv.gz"
    with gzip.open(gz, "wb") as f:
        f.write(write_csv(tmp_path / "tmp.csv", rows).read_bytes())
    txt = tmp_path / "words.txt"
    txt.write_bytes((tmp_path / "tmp.csv").read_bytes())
    semi = tmp_path / "semi.csv"
    semi.write_text("id;word\n" + "".join(f"{r['id']};{r['word']}\n" for r in rows))
    lake.tables.create("bronze.tsv", data=tsv)
    lake.tables.create("bronze.gz", data=gz)
    lake.tables.create("bronze.txt", data=txt, format="csv")
    lake.tables.create("bronze.semi", data=open_file(semi, delimiter=";"))
    for name in ("bronze.tsv", "bronze.gz", "bronze.txt", "bronze.semi"):
        assert _sorted(lake.tables.read(name)) == rows, name


def test_write_reads_the_file_as_the_tables_types(lake: lakebed.Lake, tmp_path: Path) -> None:
    lake.tables.create("silver.zips", schema={"id": "int64", "zip": "string", "city": "string"})
    path = write_csv(tmp_path / "zips.csv", [{"id": 1, "zip": "02139"}, {"id": 2, "zip": "00501"}])
    assert lake.tables.write("silver.zips", path) == 1
    assert _sorted(lake.tables.read("silver.zips")) == [
        {"id": 1, "zip": "02139", "city": None}, {"id": 2, "zip": "00501", "city": None}]
    assert lake.tables.write("silver.zips", path, mode="overwrite") == 2
    assert lake.tables.read("silver.zips").num_rows == 2
    assert lake.tables.merge("silver.zips", path, on="id") == 3


def test_schema_may_name_some_columns_of_a_file(lake: lakebed.Lake, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "z.csv", [{"id": 7, "zip": "02139"}])
    lake.tables.create("bronze.z", data=path, schema={"zip": "string", "id": "int32", "extra": "float64"})
    assert lake.tables.schema("bronze.z") == pa.schema(
        [("id", pa.int32()), ("zip", pa.string()), ("extra", pa.float64())])
    assert lake.tables.read("bronze.z").to_pylist() == [{"id": 7, "zip": "02139", "extra": None}]


def test_streamed_csv_is_one_commit_and_reports_progress(
    lake: lakebed.Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "BLOCK_BYTES", 4096)
    rows = [{"id": i, "name": f"name {i}", "score": i / 4} for i in range(3000)]
    path = write_csv(tmp_path / "big.csv", rows)
    seen: list[tuple[int, int]] = []
    reader = open_file(path, on_progress=lambda done, total: seen.append((done, total)))
    assert lake.tables.create("bronze.big", data=reader) == 0
    assert reader.rows_read == 3000
    assert len(seen) > 10  # one call per block
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert _sorted(lake.tables.read("bronze.big")) == rows
    assert [h["version"] for h in lake.tables.history("bronze.big")] == [0]


# -- JSON Lines --------------------------------------------------------------------------------
def test_jsonl_round_trip(lake: lakebed.Lake, tmp_path: Path) -> None:
    rows = [
        {"id": 1, "name": "a", "tags": ["x", "y"], "geo": {"lat": 1.5, "lon": -2.0}, "ok": True, "n": None},
        {"id": 2, "name": "b\n\"q\"", "tags": [], "geo": {"lat": 0.0, "lon": 0.0}, "ok": False, "n": 3},
        {"id": 3, "name": None, "tags": None, "geo": None, "ok": None, "n": -4},
    ]
    path = write_jsonl(tmp_path / "events.jsonl", rows)
    lake.tables.create("bronze.events", data=path)
    assert _sorted(lake.tables.read("bronze.events")) == rows
    nd = write_jsonl(tmp_path / "more.ndjson", [{"id": 4, "name": "d"}])  # missing fields: null
    assert lake.tables.write("bronze.events", nd) == 1
    assert _sorted(lake.tables.read("bronze.events"))[-1] == {
        "id": 4, "name": "d", "tags": None, "geo": None, "ok": None, "n": None}


def test_jsonl_schema_override_keeps_the_files_column_order(lake: lakebed.Lake, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [{"id": 1, "at": "2024-05-01T12:00:00Z", "v": 1}])
    lake.tables.create("bronze.e", data=path, schema={"at": pa.timestamp("us", tz="UTC"), "v": "float64"})
    assert lake.tables.schema("bronze.e").names == ["id", "at", "v"]
    assert lake.tables.read("bronze.e").to_pylist() == [
        {"id": 1, "at": dt.datetime(2024, 5, 1, 12, tzinfo=UTC), "v": 1.0}]


# -- Parquet -----------------------------------------------------------------------------------
def test_parquet_round_trip(lake: lakebed.Lake, tmp_path: Path) -> None:
    table = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "v": [0.5, None, 2.5],
                      "s": ["a", "b", None], "l": [[1], [], None]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    lake.tables.create("bronze.pq", data=tmp_path / "t.parquet")
    assert _sorted(lake.tables.read("bronze.pq")) == table.to_pylist()


# -- Avro ----------------------------------------------------------------------------------------
def write_avro(path: Path, schema: dict[str, Any], records: list[dict[str, Any]], codec: str = "null") -> Path:
    with open(path, "wb") as f:
        fastavro.writer(f, fastavro.parse_schema(schema), records, codec=codec)
    return path


def _record(fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "record", "name": "Row", "namespace": "test", "fields": fields}


T_MS = dt.datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)
T_US = dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)

# (Avro type, a value, the Arrow type read, the value read back)
AVRO_TYPES: list[tuple[Any, Any, pa.DataType, Any]] = [
    ("boolean", True, pa.bool_(), True),
    ("int", -7, pa.int32(), -7),
    ("long", 2**40, pa.int64(), 2**40),
    ("float", 1.5, pa.float32(), 1.5),
    ("double", 0.1, pa.float64(), 0.1),
    ("string", "héllo", pa.string(), "héllo"),
    ("bytes", b"\x00\xff", pa.binary(), b"\x00\xff"),
    ({"type": "fixed", "name": "F4", "size": 4}, b"abcd", pa.binary(), b"abcd"),
    ({"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}, "GREEN", pa.string(), "GREEN"),
    (["null", "long"], None, pa.int64(), None),
    (["long", "null"], 5, pa.int64(), 5),
    ({"type": "array", "items": "int"}, [1, 2], pa.list_(pa.int32()), [1, 2]),
    ({"type": "map", "values": "double"}, {"a": 1.0}, pa.map_(pa.string(), pa.float64()), [("a", 1.0)]),
    (_record([{"name": "x", "type": "long"}, {"name": "y", "type": ["null", "string"]}]) | {"name": "Inner"},
     {"x": 1, "y": None}, pa.struct([("x", pa.int64()), ("y", pa.string())]), {"x": 1, "y": None}),
    ({"type": "long", "logicalType": "timestamp-millis"}, T_MS, pa.timestamp("ms", tz="UTC"), T_MS),
    ({"type": "long", "logicalType": "timestamp-micros"}, T_US, pa.timestamp("us", tz="UTC"), T_US),
    ({"type": "long", "logicalType": "local-timestamp-micros"}, T_US.replace(tzinfo=None), pa.timestamp("us"),
     T_US.replace(tzinfo=None)),
    ({"type": "int", "logicalType": "date"}, dt.date(2024, 2, 29), pa.date32(), dt.date(2024, 2, 29)),
    ({"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}, decimal.Decimal("-12.34"),
     pa.decimal128(10, 2), decimal.Decimal("-12.34")),
    ({"type": "fixed", "name": "D8", "size": 8, "logicalType": "decimal", "precision": 16, "scale": 4},
     decimal.Decimal("1.2345"), pa.decimal128(16, 4), decimal.Decimal("1.2345")),
    ({"type": "string", "logicalType": "uuid"}, str(uuid.UUID(int=42)), pa.string(), str(uuid.UUID(int=42))),
    ({"type": "int", "logicalType": "time-millis"}, dt.time(1, 2, 3, 4000), pa.time32("ms"), dt.time(1, 2, 3, 4000)),
    ({"type": "long", "logicalType": "time-micros"}, dt.time(1, 2, 3, 5), pa.time64("us"), dt.time(1, 2, 3, 5)),
]


@pytest.mark.parametrize(("avro", "value", "arrow", "back"), AVRO_TYPES,
                         ids=[json.dumps(a)[:40] for a, *_ in AVRO_TYPES])
def test_avro_type_mapping(tmp_path: Path, avro: Any, value: Any, arrow: pa.DataType, back: Any) -> None:
    named = avro.get("name") if isinstance(avro, dict) else None  # a named type is defined once
    nullable = avro if isinstance(avro, list) else ["null", named or avro]
    path = write_avro(tmp_path / "t.avro", _record([{"name": "v", "type": avro}, {"name": "n", "type": nullable}]),
                      [{"v": value, "n": value}, {"v": value, "n": None}])
    reader = open_file(path)
    assert reader.schema.field("v").type == arrow
    assert reader.schema.field("n").type == arrow
    assert reader.read_all().to_pylist() == [{"v": back, "n": back}, {"v": back, "n": None}]


def test_avro_round_trip_into_a_table(lake: lakebed.Lake, tmp_path: Path) -> None:
    fields = [{"name": f"f{i}", "type": avro} for i, (avro, *_) in enumerate(AVRO_TYPES)]
    fields[12]["type"] = {"type": "map", "values": "double"}
    records = [{f"f{i}": value for i, (_, value, *_) in enumerate(AVRO_TYPES)} for _ in range(3)]
    for i, r in enumerate(records):
        r["f2"] = i  # a key
    path = write_avro(tmp_path / "all.avro", _record(fields), records, codec="deflate")
    with pytest.raises(SchemaError, match=r"time32\[ms\] cannot be stored.*schema=\{'f21': 'int64'\}"):
        lake.tables.create("bronze.avro", data=path)
    assert not lake.tables.exists("bronze.avro")
    lake.tables.create("bronze.avro", data=path, schema={"f21": "int64", "f22": "int64"})
    got = _sorted(lake.tables.read("bronze.avro"), "f2")
    with open(path, "rb") as f:
        reference = list(fastavro.reader(f))  # what fastavro reads back, value by value
    assert len(got) == len(reference) == 3
    for row, ref in zip(got, reference, strict=True):
        for key, value in ref.items():
            if key == "f12":
                assert dict(row[key]) == value
            elif key in ("f21", "f22"):  # time-millis, time-micros: milli-, microseconds since midnight
                micros = (value.hour * 3600 + value.minute * 60 + value.second) * 10**6 + value.microsecond
                assert row[key] == (micros // 1000 if key == "f21" else micros)
            elif key == "f20":
                assert row[key] == str(value)
            else:
                assert row[key] == value, key
    schema = lake.tables.schema("bronze.avro")
    assert schema.field("f14").type == pa.timestamp("us", tz="UTC")  # millis stored as micros
    assert schema.field("f7").type == pa.binary()


def test_avro_schema_override_converts_only_when_values_keep(lake: lakebed.Lake, tmp_path: Path) -> None:
    path = write_avro(tmp_path / "a.avro", _record([{"name": "id", "type": "int"}, {"name": "s", "type": "string"}]),
                      [{"id": 1, "s": "7"}])
    assert open_file(path, schema={"id": "int64"}).schema.field("id").type == pa.int64()
    with pytest.raises(SchemaError, match="column 's' holds string values, which cannot be read as int64"):
        lake.tables.create("bronze.a", data=path, schema={"s": "int64"})
    with pytest.raises(SchemaError, match=r"column 'id'.*cannot be stored as int8"):
        write_avro(tmp_path / "b.avro", _record([{"name": "id", "type": "int"}]), [{"id": 300}])
        lake.tables.create("bronze.a", data=tmp_path / "b.avro", schema={"id": "int8"})
    assert not lake.tables.exists("bronze.a")


def test_avro_schemas_without_an_arrow_type(tmp_path: Path) -> None:
    union = write_avro(tmp_path / "u.avro", _record([{"name": "v", "type": ["null", "long", "string"]}]), [{"v": 1}])
    with pytest.raises(SchemaError, match=r"Avro field 'v' is a union of \['null', 'long', 'string'\]"):
        open_file(union)
    node = {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}
    rec = write_avro(tmp_path / "r.avro", node, [{"next": None}])
    with pytest.raises(SchemaError, match="recursive"):
        open_file(rec)
    plain = write_avro(tmp_path / "p.avro", {"type": "long"}, [1, 2])  # not records: one column "value"
    assert open_file(plain).read_all().to_pylist() == [{"value": 1}, {"value": 2}]


def test_damaged_avro_names_the_record(lake: lakebed.Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "AVRO_BATCH_ROWS", 100)
    schema = _record([{"name": "id", "type": "long"}, {"name": "s", "type": "string"}])
    path = tmp_path / "d.avro"
    with open(path, "wb") as f:  # blocks of 100 records; the third block gets damaged
        w = fastavro.write.Writer(f, fastavro.parse_schema(schema), sync_interval=1)
        for i in range(1000):
            w.write({"id": i, "s": f"s{i}"})
            if i % 100 == 99:
                w.flush()
        w.flush()
    data = bytearray(path.read_bytes())
    sync = data[-16:]
    positions = [i for i in range(len(data) - 16) if data[i:i + 16] == sync]
    at = positions[2] + 40
    data[at:at + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidArgument, match=rf"{path.name}: record \d+: the file is damaged"):
        lake.tables.create("bronze.d", data=path)
    assert not lake.tables.exists("bronze.d")
    assert not _tables_dir(lake, "bronze.d").exists()
    (tmp_path / "no.avro").write_bytes(b"this is not avro")
    with pytest.raises(InvalidArgument, match="not an Avro object container file"):
        open_file(tmp_path / "no.avro")


def test_avro_without_fastavro_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_avro(tmp_path / "a.avro", _record([{"name": "id", "type": "long"}]), [{"id": 1}])
    monkeypatch.setitem(sys.modules, "fastavro", None)  # import fastavro fails
    with pytest.raises(MissingExtra, match=r"pip install 'lakebed\[avro\]'"):
        open_file(path)


# -- malformed input: an error naming the line, nothing written ---------------------------------
def test_bad_csv_line_in_the_middle_creates_nothing(lake: lakebed.Lake, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [{"id": i, "v": i} for i in range(10)])
    lines = path.read_text().splitlines(keepends=True)
    lines[5] = "5,5,extra\n"
    path.write_text("".join(lines))
    with pytest.raises(InvalidArgument, match=r"bad\.csv: line 6: 3 fields where the header has 2"):
        lake.tables.create("bronze.bad", data=path)
    assert not lake.tables.exists("bronze.bad")
    assert not _tables_dir(lake, "bronze.bad").exists()


def test_bad_value_deep_in_a_streamed_csv_leaves_the_table_unchanged(
    lake: lakebed.Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "BLOCK_BYTES", 4096)
    lake.tables.create("bronze.t", data=[{"id": -1, "v": -1}])
    rows = [{"id": i, "v": i} for i in range(3000)]
    rows[2500]["v"] = "oops"
    path = write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(SchemaError, match=r"t\.csv: line 2502: column 'v': 'oops' is not a valid int64"):
        lake.tables.write("bronze.t", path)
    assert lake.tables.version("bronze.t") == 0
    assert lake.tables.read("bronze.t").to_pylist() == [{"id": -1, "v": -1}]
    with pytest.raises(SchemaError, match=r"line 2502.*schema=\{'v': 'string'\}"):
        lake.tables.create("bronze.t2", data=path)
    assert not lake.tables.exists("bronze.t2")
    assert not _tables_dir(lake, "bronze.t2").exists()
    lake.tables.create("bronze.t2", data=path, schema={"v": "string"})
    assert lake.tables.read("bronze.t2", where="v = 'oops'").column("id").to_pylist() == [2500]


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": 3, "v": \n', r"line 4: not valid JSON"),
    ('[1, 2]\n', r"line 4: a JSON array, not an object"),
    ('{"id": 3, "v": "three"}\n', r"line 4: field 'v' holds a string where the column holds number values"),
])
def test_bad_jsonl_line(lake: lakebed.Lake, tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "e.jsonl"
    good = [json.dumps({"id": i, "v": i}) + "\n" for i in range(6)]
    path.write_text("".join(good[:3]) + line + "".join(good[3:]))
    with pytest.raises(InvalidArgument, match=rf"e\.jsonl: {message}"):
        lake.tables.create("bronze.e", data=path)
    assert not lake.tables.exists("bronze.e")
    lake.tables.create("bronze.e", data=[{"id": 0, "v": 0}])
    with pytest.raises(InvalidArgument, match=message):
        lake.tables.write("bronze.e", path)
    assert lake.tables.version("bronze.e") == 0


def test_new_jsonl_field_after_the_first_block(
    lake: lakebed.Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "BLOCK_BYTES", 2048)
    rows: list[dict[str, Any]] = [{"id": i} for i in range(1000)]
    rows[900]["late"] = "x"
    path = write_jsonl(tmp_path / "l.jsonl", rows)
    with pytest.raises(SchemaError, match=r"line 901: the field 'late' first appears here.*first 2 KiB"):
        lake.tables.create("bronze.l", data=path)
    lake.tables.create("bronze.l", data=path, schema={"late": "string"})
    assert lake.tables.read("bronze.l", where="late IS NOT NULL").to_pylist() == [{"id": 900, "late": "x"}]


def test_bad_paths_and_formats(lake: lakebed.Lake, tmp_path: Path) -> None:
    (tmp_path / "data.xml").write_text("<a/>")
    with pytest.raises(InvalidArgument, match=r"cannot tell the format of .*data\.xml.*pass format="):
        lake.tables.create("bronze.x", data=tmp_path / "data.xml")
    with pytest.raises(InvalidArgument, match="unknown file format 'xml'"):
        lake.tables.create("bronze.x", data=tmp_path / "data.xml", format="xml")
    with pytest.raises(InvalidArgument, match=r"no file .*missing\.csv"):
        lake.tables.create("bronze.x", data=str(tmp_path / "missing.csv"))
    with pytest.raises(InvalidArgument, match="is a directory"):
        lake.tables.create("bronze.x", data=tmp_path)
    with pytest.raises(InvalidArgument, match="string of several lines"):
        lake.tables.create("bronze.x", data="id,name\n1,a\n")
    with pytest.raises(InvalidArgument, match="format= applies to data given as a file path"):
        lake.tables.create("bronze.x", data=[{"id": 1}], format="csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InvalidArgument, match="is empty"):
        lake.tables.create("bronze.x", data=tmp_path / "empty.csv")
    (tmp_path / "dup.csv").write_text("a,a\n1,2\n")
    with pytest.raises(InvalidArgument, match="names the column 'a' twice"):
        lake.tables.create("bronze.x", data=tmp_path / "dup.csv")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InvalidArgument, match="not a Parquet file"):
        lake.tables.create("bronze.x", data=tmp_path / "bad.parquet")
    assert lake.tables.list() == []
    assert not (lake.path / "tables" / "bronze" / "x").exists()


def test_header_only_csv_makes_an_empty_table_of_text_columns(lake: lakebed.Lake, tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("a,b\n")
    lake.tables.create("bronze.h", data=tmp_path / "h.csv")
    assert lake.tables.schema("bronze.h") == pa.schema([("a", pa.string()), ("b", pa.string())])
    assert lake.tables.read("bronze.h").num_rows == 0


# -- the CLI -------------------------------------------------------------------------------------
runner = CliRunner()


def test_cli_import_create_append_and_errors(
    lake_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lakebed.connect(lake_path).close()
    path = write_csv(tmp_path / "people.csv", CSV_ROWS)
    lake = str(lake_path)
    result = runner.invoke(app, ["tables", "import", str(path), "bronze.people", "--lake", lake, "-t", "zip=string"])
    assert result.exit_code == 0, result.output
    assert "imported 3 rows, 8 columns" in result.output and "bronze.people (version 0)" in result.output
    result = runner.invoke(app, ["tables", "import", str(path), "bronze.people", "-l", lake, "--mode", "append"])
    assert result.exit_code == 0, result.output
    assert "(version 1)" in result.output
    result = runner.invoke(app, ["tables", "import", str(path), "bronze.people", "-l", lake])
    assert isinstance(result.exception, AlreadyExists)
    jl = write_jsonl(tmp_path / "j.data", [{"id": 1}])
    result = runner.invoke(app, ["tables", "import", str(jl), "bronze.j", "-l", lake, "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["tables", "import", str(path), "bronze.p", "-l", lake, "--mode", "upsert"])
    assert result.exit_code == 2 and "create, append, overwrite" in result.output
    with lakebed.connect(lake_path, read_only=True) as lk:
        people = _sorted(lk.tables.read("bronze.people"))
        assert people[::2] == CSV_ROWS and people[1::2] == CSV_ROWS
        assert lk.tables.read("bronze.j").to_pylist() == [{"id": 1}]
        assert not lk.tables.exists("bronze.p")

    bad = write_csv(tmp_path / "bad.csv", [{"id": 1, "v": 1}, {"id": 2, "v": 2}])
    bad.write_text(bad.read_text() + "3\n")
    from lakebed import cli

    monkeypatch.setattr("sys.argv", ["lakebed", "tables", "import", str(bad), "bronze.bad", "--lake", lake])
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "bad.csv: line 4: 1 fields where the header has 2" in out
    with lakebed.connect(lake_path, read_only=True) as lk:
        assert not lk.tables.exists("bronze.bad")


# -- the client of a served lake ---------------------------------------------------------------
def test_remote_client_imports_a_local_file(served: Served, tmp_path: Path) -> None:  # noqa: F811
    path = write_csv(tmp_path / "people.csv", CSV_ROWS)
    with lakebed.connect(served.url) as remote:
        assert remote.tables.create("bronze.people", data=path, schema={"zip": "string", "x": "int32"}) == 0
        assert _sorted(remote.tables.read("bronze.people")) == [r | {"x": None} for r in CSV_ROWS]
        more = write_csv(tmp_path / "more.csv", [{"id": 4, "zip": "00001"}])
        assert remote.tables.write("bronze.people", str(more)) == 1  # read as the table's types
        assert remote.tables.read("bronze.people", where="id = 4").column("zip").to_pylist() == ["00001"]
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": 5}\n{"id": \n')
        with pytest.raises(InvalidArgument, match=r"bad\.jsonl: line 2: not valid JSON"):
            remote.tables.write("bronze.people", bad)
        assert remote.tables.version("bronze.people") == 1
        with pytest.raises(NotFound):
            remote.tables.write("bronze.nope", more)
    assert served.lake.tables.read("bronze.people").num_rows == 4
    result = runner.invoke(app, ["tables", "import", str(more), "bronze.people", "--lake", served.url,
                                 "--mode", "append"])
    assert result.exit_code == 0, result.output
    assert "imported 1 rows, 2 columns" in result.output and "(version 2)" in result.output
    assert served.lake.tables.read("bronze.people", where="id = 4").num_rows == 2


def test_file_reader_is_single_pass(tmp_path: Path) -> None:
    reader = open_file(write_csv(tmp_path / "a.csv", [{"id": 1}]))
    assert reader.read_all().num_rows == 1
    with pytest.raises(InvalidArgument, match="read already"):
        reader.read_all()
    assert os.path.exists(tmp_path / "a.csv")
