"""Import a Feast repository: its entities, feature views, on-demand views and feature
services become lakebed definitions, and the files of its file sources become lakebed
tables.

The repository is read by Feast itself, in a subprocess (``_feast_reader.py``), so the
definitions are exactly the ones ``feast plan`` sees: the repository's Python files are
imported, with Feast's inference of timestamp columns, entity columns and features. The
subprocess runs in any Python that has Feast: this one (``pip install 'lakebed[feast]'``)
or a separate environment (``feast_python=`` / ``--feast-python``) when Feast's pinned
dependencies clash with lakebed's. Nothing is written to the repository.

:func:`plan_feast` shows every Feast object and its fate (imported, changed, or not
imported with the reason) and the lakebed plan, changing nothing; :func:`import_feast`
(or :func:`apply_feast_plan`) writes the tables and applies the definitions.

Example:
    >>> import lakebed
    >>> from lakebed.importers.feast import import_feast, plan_feast
    >>> lake = lakebed.connect("./lake")                                   # doctest: +SKIP
    >>> plan = plan_feast(lake, "feature_repo")                             # doctest: +SKIP
    >>> print(plan)                                                         # doctest: +SKIP
    + entity driver (v1)                      <- entity driver
    + view driver_hourly_stats (v1)           <- feature view driver_hourly_stats
    ...
    >>> import_feast(lake, "feature_repo", feast_python="/opt/feast/bin/python")  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from lakebed.errors import InvalidArgument, LakebedError, MissingExtra, NotFound, SchemaError
from lakebed.features import Entity, FeatureService, FeatureView, Field, OnDemandFeatureView, Plan
from lakebed.features._definitions import parse_dtype
from lakebed.features._registry import castable

if TYPE_CHECKING:
    from lakebed.lake import Lake

__all__ = [
    "FeastImportPlan",
    "FeastObject",
    "FeastRepo",
    "TableImport",
    "apply_feast_plan",
    "import_feast",
    "plan_feast",
    "read_feast_repo",
]

READER = Path(__file__).with_name("_feast_reader.py")
IMPORT_TAG = "lakebed.import"
UDF_TAG = "lakebed.feast_udf"
TABLE_PROPERTY = "feast_import"
FORMAT = 1
DUMMY_ENTITY = "__dummy"
INSTALL_HINT = (
    "install it with: pip install 'lakebed[feast]'; or, when Feast's pinned dependencies clash with this "
    "environment, install Feast in a virtualenv of its own and pass its Python: --feast-python "
    "/path/to/venv/bin/python (feast_python= in Python, or LAKEBED_FEAST_PYTHON)"
)

IMPORTED = "imported"
CHANGED = "changed"
NOT_IMPORTED = "not imported"

ProgressCallback = Callable[[str, int, "int | None"], None]

# Feast value types -> lakebed field types (timestamps take the stored zone)
_SCALARS = {
    "INT32": "int32", "INT64": "int64", "FLOAT": "float32", "DOUBLE": "float64", "STRING": "string",
    "BYTES": "binary", "BOOL": "bool", "UNIX_TIMESTAMP": "timestamp[us, tz=UTC]",
}
_TYPES = {**_SCALARS, **{f"{k}_LIST": f"list<{v}>" for k, v in _SCALARS.items()}}


# ---------------------------------------------------------------------------- reading


@dataclass
class FeastRepo:
    """The definitions of a Feast repository as Feast read them (see :func:`read_feast_repo`).

    Example:
        >>> repo = read_feast_repo("feature_repo")                           # doctest: +SKIP
        >>> repo.project, [v["name"] for v in repo.data["feature_views"]]    # doctest: +SKIP
        ('drivers', ['driver_hourly_stats'])
    """

    path: Path
    data: dict[str, Any]

    @property
    def project(self) -> str:
        return str(self.data["project"])

    @property
    def feast_version(self) -> str:
        return str(self.data.get("feast_version", "?"))


def _check_repo_path(repo_path: str | os.PathLike[str]) -> Path:
    path = Path(repo_path).expanduser()
    if not path.exists():
        raise NotFound(f"no Feast repository at {str(path)!r}: the directory does not exist")
    if not path.is_dir():
        raise InvalidArgument(f"{str(path)!r} is a file; pass the Feast repository's directory "
                              "(the one that holds feature_store.yaml)")
    if not (path / "feature_store.yaml").is_file():
        raise InvalidArgument(
            f"{str(path)!r} is not a Feast repository: it has no feature_store.yaml; pass the directory "
            "that `feast apply` runs in"
        )
    return path.resolve()


def _feast_python(feast_python: str | os.PathLike[str] | None) -> str:
    if feast_python is None:
        feast_python = os.environ.get("LAKEBED_FEAST_PYTHON") or None
    if feast_python is not None:
        exe = Path(feast_python).expanduser()
        if not exe.is_file() or not os.access(exe, os.X_OK):
            raise InvalidArgument(f"--feast-python {str(exe)!r} is not an executable Python; pass the path of "
                                  "the python of an environment that has Feast (e.g. /path/to/venv/bin/python)")
        return str(exe)
    if importlib.util.find_spec("feast") is None:
        raise MissingExtra(f"reading a Feast repository needs Feast, which is not installed; {INSTALL_HINT}")
    return sys.executable


def read_feast_repo(
    repo_path: str | os.PathLike[str],
    *,
    feast_python: str | os.PathLike[str] | None = None,
    from_registry: bool = False,
    timeout: float = 600.0,
) -> FeastRepo:
    """Read a Feast repository with Feast, in a subprocess of ``feast_python`` (default:
    ``LAKEBED_FEAST_PYTHON``, else this Python when it has Feast).

    Without ``from_registry`` the repository's Python files are read as ``feast plan``
    reads them (nothing is written to the repository); with it, the definitions that
    ``feast apply`` recorded in its registry.

    Example:
        >>> repo = read_feast_repo("feature_repo", feast_python="/opt/feast/bin/python")  # doctest: +SKIP
    """
    path = _check_repo_path(repo_path)
    python = _feast_python(feast_python)
    with tempfile.TemporaryDirectory(prefix="lakebed-feast-") as tmp:
        out = Path(tmp) / "repo.json"
        cmd = [python, str(READER), str(path), str(out)] + (["--from-registry"] if from_registry else [])
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            proc = subprocess.run(cmd, cwd=path, env=env, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise InvalidArgument(f"Feast did not finish reading {str(path)!r} within {timeout:.0f} s") from None
        if not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise InvalidArgument(f"Feast ({python}) could not read {str(path)!r}: exit {proc.returncode}: "
                                  + " | ".join(tail))
        data = json.loads(out.read_text())
    if "error" in data:
        err = str(data["error"])
        if "No module named 'feast'" in err:
            raise MissingExtra(f"the Python {python} has no Feast; {INSTALL_HINT}")
        raise InvalidArgument(f"Feast could not read the repository {str(path)!r}: {err}")
    if data.get("format") != FORMAT:
        raise InvalidArgument(f"the Feast reader wrote format {data.get('format')!r}, expected {FORMAT}")
    return FeastRepo(path, data)


# ---------------------------------------------------------------------------- the plan


@dataclass
class FeastObject:
    """One Feast object and what the import does with it.

    ``fate`` is ``"imported"`` (carried faithfully; ``notes`` may say how),
    ``"changed"`` (imported with a difference listed in ``notes``) or ``"not imported"``
    (``notes`` give the reason). ``target`` names the lakebed object
    (``"view driver_stats"``, ``"table feast.feast_driver_stats"``) and ``action``
    what applying does to it: ``create``, ``update``, ``unchanged`` (or ``""``).

    Example:
        >>> print(FeastObject("feature view", "driver_stats", "imported", "view driver_stats", "create",
        ...                   ["ttl 1 day + 1 µs"]))
        + view driver_stats                          <- feature view driver_stats [imported]
              ttl 1 day + 1 µs
    """

    kind: str
    name: str
    fate: str
    target: str = ""
    action: str = ""
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "unchanged": "="}.get(self.action, "x" if self.fate == NOT_IMPORTED
                                                                     else " ")
        head = f"{sign} {self.target or '-'}"
        line = f"{head:<44} <- {self.kind} {self.name} [{self.fate}]"
        return "\n".join([line, *[f"      {n}" for n in self.notes]])


@dataclass
class TableImport:
    """A file source whose data becomes a lakebed table (one entry of :attr:`FeastImportPlan.tables`).

    Example:
        >>> [(t.source, t.table, t.action) for t in plan.tables]          # doctest: +SKIP
        [('driver_stats', 'feast.feast_driver_stats', 'create')]
    """

    source: str
    table: str
    path: Path
    file_format: str
    timestamp_field: str
    created_timestamp_field: str | None
    field_mapping: dict[str, str]
    schema: pa.Schema
    num_rows: int | None
    fingerprint: str
    action: str  # create | update | unchanged
    naive_times: list[str] = field(default_factory=list)  # event/created columns stored without a zone


@dataclass
class FeastImportPlan:
    """What importing a Feast repository does: every Feast object with its fate, the
    tables to write, the lakebed definitions and their plan (:class:`lakebed.features.Plan`).

    Example:
        >>> plan = plan_feast(lake, "feature_repo")                        # doctest: +SKIP
        >>> [(o.kind, o.name, o.fate) for o in plan.objects]               # doctest: +SKIP
        [('entity', 'driver', 'imported'), ...]
        >>> plan.has_changes                                               # doctest: +SKIP
        True
    """

    repo: FeastRepo
    namespace: str
    objects: list[FeastObject]
    tables: list[TableImport]
    definitions: list[Any]
    features_plan: Plan

    @property
    def has_changes(self) -> bool:
        """Whether applying would write a table or a definition."""
        return self.features_plan.has_changes or any(t.action != "unchanged" for t in self.tables)

    def fate(self, kind: str, name: str) -> FeastObject:
        """The entry of one Feast object (NotFound when the repository has no such object)."""
        for o in self.objects:
            if o.kind == kind and o.name == name:
                return o
        raise NotFound(f"the Feast repository has no {kind} {name!r}")

    def __iter__(self) -> Iterator[FeastObject]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)

    def __str__(self) -> str:
        head = (f"Feast project {self.repo.project} ({self.repo.path}, Feast {self.repo.feast_version}, "
                f"read from {self.repo.data.get('read_from', 'repository files')})")
        return "\n".join([head, *[str(o) for o in self.objects]])


def _table_name(namespace: str, prefix: str, source: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]", "_", source)
    return f"{namespace}.{(prefix + safe)[:128]}"


def _fmt_delta(us: int) -> str:
    d = timedelta(microseconds=us)
    return str(d).replace(", 0:00:00", "")


def _ident(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name, re.ASCII) is not None


def _dtype(field_: dict[str, Any], stored: pa.DataType | None = None) -> str | None:
    """The lakebed type of a Feast field (None when lakebed has none)."""
    vt = str(field_.get("value_type", ""))
    t = _TYPES.get(vt)
    if t is None:
        return None
    if vt == "UNIX_TIMESTAMP" and stored is not None and pa.types.is_timestamp(stored) and stored.tz is None:
        return "timestamp[us]"
    return t


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def _fingerprint(path: Path, options: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps({"format": FORMAT, **options}, sort_keys=True).encode())
    for f in _files(path):
        h.update(str(f.relative_to(path) if f != path else f.name).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _file_schema(path: Path, fmt: str) -> tuple[pa.Schema, int | None]:
    if fmt == "parquet":
        import pyarrow.dataset as pads

        ds = pads.dataset(str(path), format="parquet")
        return ds.schema, ds.count_rows()
    if fmt == "delta":
        from deltalake import DeltaTable

        ds = DeltaTable(str(path)).to_pyarrow_dataset()
        return ds.schema, ds.count_rows()
    if fmt == "csv":
        t = _read_data(path, fmt)
        return t.schema, t.num_rows
    raise InvalidArgument(f"unsupported file format {fmt!r}")


def _read_data(path: Path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        import pyarrow.dataset as pads

        return pads.dataset(str(path), format="parquet").to_table()
    if fmt == "delta":
        from deltalake import DeltaTable

        return DeltaTable(str(path)).to_pyarrow_table()
    import pyarrow.csv as pcsv

    return pcsv.read_csv(str(path))


def _mapped_schema(schema: pa.Schema, mapping: dict[str, str], ts_cols: set[str]) -> pa.Schema:
    """The schema of the imported table: mapped names, microsecond timestamps, UTC event times."""
    out = []
    for f in schema:
        name = mapping.get(f.name, f.name)
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us", tz="UTC" if (t.tz is not None or name in ts_cols) else None)
        elif pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_large_binary(t):
            t = pa.binary()
        elif pa.types.is_dictionary(t):
            t = t.value_type
        out.append(pa.field(name, t))
    return pa.schema(out)


def _prepare_table(data: pa.Table, imp: TableImport) -> tuple[pa.Table, list[str]]:
    """The data as it is stored: mapped names, timestamps floored to microseconds, naive
    event and created times as UTC (as Feast reads them)."""
    notes: list[str] = []
    if imp.field_mapping:
        data = data.rename_columns([imp.field_mapping.get(n, n) for n in data.column_names])
    ts_cols = {imp.timestamp_field, *([imp.created_timestamp_field] if imp.created_timestamp_field else [])}
    for i, f in enumerate(data.schema):
        t = f.type
        if pa.types.is_dictionary(t):
            data = data.set_column(i, f.name, data.column(i).cast(t.value_type))
            t = t.value_type
        if not pa.types.is_timestamp(t):
            continue
        col = data.column(i)
        if t.unit == "ns":
            floored = pc.floor_temporal(col, unit="microsecond")
            lost = int(pc.sum(pc.not_equal(floored, col)).as_py() or 0)
            if lost:
                notes.append(f"{lost} values of {f.name!r} had nanoseconds; floored to microseconds")
            col = floored
        tz = "UTC" if (t.tz is not None or f.name in ts_cols) else None
        col = col.cast(pa.timestamp(t.unit, tz=tz if t.tz is None else t.tz)).cast(pa.timestamp("us", tz=tz))
        data = data.set_column(i, pa.field(f.name, col.type), col)
    return data, notes


class _Builder:
    """Turns the reader's JSON into lakebed definitions, noting every object's fate."""

    def __init__(self, lake: Lake, repo: FeastRepo, namespace: str, table_prefix: str) -> None:
        self.lake = lake
        self.repo = repo
        self.data = repo.data
        self.namespace = namespace
        self.prefix = table_prefix
        self.tag = f"feast:{repo.project}"
        self.objects: list[FeastObject] = []
        self.entities: dict[str, Entity] = {}
        self.reused: set[str] = set()  # the lake's own entities that match the Feast ones
        self.views: dict[str, FeatureView] = {}
        self.odfvs: dict[str, OnDemandFeatureView] = {}
        self.services: dict[str, FeatureService] = {}
        self.tables: dict[str, TableImport] = {}
        self.sources = {s["name"]: s for s in self.data["data_sources"]}
        self.source_used: dict[str, list[str]] = {}
        self.push_users: dict[str, list[str]] = {}
        self.table_errors: dict[str, str] = {}
        self.current = lake.features.registry.current()

    def add(self, kind: str, name: str, fate: str, target: str = "", notes: list[str] | None = None) -> FeastObject:
        obj = FeastObject(kind, name, fate, target, "", list(notes or []))
        self.objects.append(obj)
        return obj

    def fate(self, kind: str, name: str) -> FeastObject:
        return next(o for o in self.objects if o.kind == kind and o.name == name)

    def tags(self, spec: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**spec.get("tags", {}), IMPORT_TAG: self.tag, **(extra or {})}

    def foreign(self, kind: str, name: str) -> str | None:
        """Why a lakebed definition of that name may not be replaced (None when it may)."""
        found = self.current.get((kind, name))
        if found is None:
            return None
        owner = (found[1].get("tags") or {}).get(IMPORT_TAG)
        if owner == self.tag:
            return None
        made = f"by importing Feast project {owner.split(':', 1)[1]!r}" if owner else "in lakebed"
        return (f"the lake already has a {kind} {name!r} made {made}; delete it "
                f"(lake.features.delete({name!r})) or import into another lake")

    # -- entities -----------------------------------------------------------------------
    def build_entities(self) -> None:
        for e in self.data["entities"]:
            name = e["name"]
            if name == DUMMY_ENTITY:
                continue
            notes: list[str] = []
            if not _ident(name) or not all(_ident(k) for k in e["join_keys"]):
                self.add("entity", name, NOT_IMPORTED, notes=[
                    f"{name!r} or its join keys {e['join_keys']} are not lakebed names (letters, digits, '_')"])
                continue
            why = self.foreign("entity", name)
            if why:
                have = self.current[("entity", name)][1]
                if have.get("join_keys") == list(e["join_keys"]):
                    self.entities[name] = Entity.from_spec(have)
                    self.reused.add(name)
                    self.add("entity", name, IMPORTED, f"entity {name}", [
                        f"the lake's own entity {name!r} has the same join keys; the views use it as it is"])
                else:
                    keys = have.get("join_keys")
                    self.add("entity", name, NOT_IMPORTED, notes=[f"{why} (its join keys are {keys})"])
                continue
            if e.get("value_type") not in (None, "UNKNOWN"):
                notes.append(f"value type {e['value_type']}: lakebed takes key types from the source tables")
            self.entities[name] = Entity(name, join_keys=e["join_keys"], description=e.get("description", ""),
                                         tags=self.tags(e))
            self.add("entity", name, IMPORTED, f"entity {name}", notes)

    # -- tables -------------------------------------------------------------------------
    def file_source(self, name: str | None) -> tuple[dict[str, Any] | None, list[str], str | None]:
        """The file source behind a view's batch source, notes, or the reason there is none."""
        if name is None:
            return None, [], "it has no batch source"
        src = self.sources.get(name)
        if src is None:
            return None, [], f"its batch source {name!r} is not in the repository"
        notes: list[str] = []
        if src["class"] == "PushSource":
            notes.append(f"push source {name!r}: push rows to the view instead "
                         "(lake.features.push(view, rows, to='offline'|'online'|'both'))")
            inner = src.get("batch_source")
            src = self.sources.get(inner) if inner else None
            if src is None:
                return None, notes, f"push source {name!r} has no batch source"
        if src["class"] != "FileSource":
            return None, notes, (f"its source {src['name']!r} is a {src['class']}; only file sources (Parquet, "
                                 "Delta, CSV) are imported: load the data into a lakebed table and define the "
                                 "view in lakebed")
        return src, notes, None

    def table_for(self, src: dict[str, Any]) -> TableImport:
        name = src["name"]
        if name in self.tables:
            return self.tables[name]
        if name in self.table_errors:
            raise InvalidArgument(self.table_errors[name])
        try:
            imp = self._plan_table(src)
        except LakebedError as exc:
            self.table_errors[name] = str(exc)
            raise
        self.tables[name] = imp
        return imp

    def _plan_table(self, src: dict[str, Any]) -> TableImport:
        name = src["name"]
        raw = str(src.get("resolved_path") or src.get("path") or "")
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", raw) and not raw.startswith("file://"):
            raise InvalidArgument(f"file source {name!r} is remote ({raw}); copy it locally or load it into a "
                                  "lakebed table yourself")
        path = Path(raw[len("file://"):] if raw.startswith("file://") else raw)
        if not path.exists():
            raise NotFound(f"the file of source {name!r} does not exist: {path}")
        fmt = str(src.get("file_format") or "parquet")
        if fmt == "parquet" and path.suffix.lower() == ".csv":
            fmt = "csv"
        if fmt not in ("parquet", "delta", "csv"):
            raise InvalidArgument(f"file source {name!r} has format {fmt!r}; Parquet, Delta and CSV are imported")
        mapping = {k: v for k, v in (src.get("field_mapping") or {}).items()}
        ts = str(src.get("timestamp_field") or "")
        ts = mapping.get(ts, ts)
        created = str(src.get("created_timestamp_column") or "") or None
        created = mapping.get(created, created) if created else None
        if not ts:
            raise InvalidArgument(f"file source {name!r} has no timestamp field")
        try:
            schema, rows = _file_schema(path, fmt)
        except (OSError, pa.ArrowException) as exc:
            raise InvalidArgument(f"cannot read the file of source {name!r} ({path}): {exc}") from None
        mapped = _mapped_schema(schema, mapping, {ts, *([created] if created else [])})
        for col in (ts, created):
            if col is None:
                continue
            if col not in mapped.names:
                raise SchemaError(f"source {name!r}: column {col!r} is not in {path.name} (columns {mapped.names})")
            if not pa.types.is_timestamp(mapped.field(col).type):
                raise SchemaError(f"source {name!r}: column {col!r} is {mapped.field(col).type}, not a timestamp")
        table = _table_name(self.namespace, self.prefix, name)
        fp = _fingerprint(path, {"mapping": mapping, "ts": ts, "created": created, "format": fmt})
        action = "create"
        if self.lake.tables.exists(table):
            props = (self.lake.tables.info(table).get("properties") or {}).get(TABLE_PROPERTY)
            if not isinstance(props, dict):
                raise InvalidArgument(f"table {table!r} exists and was not made by this importer; import into "
                                      "another namespace (--namespace) or drop it")
            if props.get("project") != self.repo.project:
                raise InvalidArgument(f"table {table!r} was imported from Feast project {props.get('project')!r}; "
                                      "import into another namespace (--namespace)")
            if props.get("fingerprint") == fp:
                action = "unchanged"
            else:
                have = self.lake.tables.schema(table)
                if have != mapped:
                    raise SchemaError(f"table {table!r} exists with another schema ({have}); the source file now "
                                      f"has {mapped}: drop the table or import into another namespace")
                action = "update"
        naive = [c for c in (ts, created) if c and any(
            mapping.get(f.name, f.name) == c and pa.types.is_timestamp(f.type) and f.type.tz is None for f in schema)]
        return TableImport(name, table, path, fmt, ts, created, mapping, mapped, rows, fp, action, naive)

    # -- feature views ------------------------------------------------------------------
    def build_views(self) -> None:
        for v in self.data["feature_views"]:
            self._build_view(v)
        for v in self.data.get("stream_feature_views", []):
            self.add("stream feature view", v["name"], NOT_IMPORTED, notes=[
                "lakebed's StreamFeatureView reads a lakebed stream with window aggregations computed by "
                "lakebed; Feast's stream processing (Kafka/Kinesis sources, its transformations) does not map. "
                "Define a StreamFeatureView over a lakebed stream instead"])

    def _build_view(self, v: dict[str, Any]) -> None:
        name = v["name"]
        kind = "batch feature view" if v["class"] == "BatchFeatureView" else "feature view"

        def skip(reason: str) -> None:
            self.add(kind, name, NOT_IMPORTED, notes=[reason])

        if not _ident(name):
            return skip(f"{name!r} is not a lakebed name (letters, digits, '_')")
        if v.get("has_transformation"):
            return skip("it has a transformation of Feast's batch engine, which lakebed does not run")
        if v.get("aggregations"):
            return skip("Feast aggregations do not map; define lakebed Aggregation features over the table")
        ents = [e for e in v["entities"] if e != DUMMY_ENTITY]
        if not ents:
            return skip("it has no entities; lakebed views need at least one")
        missing = [e for e in ents if e not in self.entities]
        if missing:
            return skip(f"its entities {missing} are not imported")
        src, notes, why = self.file_source(v.get("batch_source"))
        if why or src is None:
            return skip(why or "no source")
        try:
            imp = self.table_for(src)
        except LakebedError as exc:
            return skip(str(exc))
        schema = imp.schema
        fields: list[Field] = []
        join_keys = [k for e in ents for k in self.entities[e].join_keys]
        for k in join_keys:
            if k not in schema.names:
                return skip(f"join key {k!r} is not a column of {imp.path.name}")
        fate = IMPORTED
        for f in v["features"]:
            fname = f["name"]
            if not _ident(fname):
                return skip(f"feature {fname!r} is not a lakebed name")
            if fname not in schema.names:
                return skip(f"feature {fname!r} is not a column of {imp.path.name} (columns {schema.names})")
            stored = schema.field(fname).type
            dtype = _dtype(f, stored)
            if dtype is None:
                return skip(f"feature {fname!r} has type {f['feast_type']}, which lakebed has no type for")
            if not castable(stored, parse_dtype(dtype)):
                return skip(f"feature {fname!r} is declared {f['feast_type']} but {imp.path.name} stores {stored}")
            if parse_dtype(stored) != parse_dtype(dtype):
                fate = CHANGED
                notes.append(f"{fname!r} is stored as {stored} and read as {dtype} (the declared "
                             f"{f['feast_type']}); Feast's offline store returns the stored type")
            fields.append(Field(fname, dtype, f.get("description", "")))
        ttl_us = v.get("ttl_us") or None
        ttl = None
        if ttl_us:
            ttl = timedelta(microseconds=int(ttl_us) + 1)
            notes.append(f"ttl {_fmt_delta(int(ttl_us))} + 1 µs: Feast keeps rows exactly ttl old, lakebed "
                         "keeps rows newer than t - ttl")
        stream = v.get("stream_source")
        if stream and (self.sources.get(stream) or {}).get("class") == "PushSource":
            notes.append(f"pushes to {stream!r} become lake.features.push({name!r}, rows, to='offline'|'online'|"
                         "'both')")
            self.push_users.setdefault(stream, []).append(name)
        elif stream:
            notes.append(f"its stream source {stream!r} is not imported")
        why = self.foreign("view", name)
        if why:
            return skip(why)
        try:
            view = FeatureView(
                name, entities=[self.entities[e] for e in ents], source=imp.table,
                timestamp_field=imp.timestamp_field, created_timestamp_field=imp.created_timestamp_field,
                ttl=ttl, fields=fields, online=bool(v.get("online", True)),
                description=v.get("description", ""), tags=self.tags(v),
            )
        except LakebedError as exc:
            return skip(str(exc))
        self.views[name] = view
        self.source_used.setdefault(src["name"], []).append(name)
        if v.get("batch_source") != src["name"]:
            self.source_used.setdefault(str(v["batch_source"]), []).append(name)
        self.add(kind, name, fate, f"view {name}", notes)

    # -- on-demand views ----------------------------------------------------------------
    def build_odfvs(self) -> None:
        for o in self.data["on_demand_feature_views"]:
            self._build_odfv(o)
        for other in self.data.get("other", []):
            kind = str(other["kind"]).replace("_", " ")
            if kind == "on demand feature view":
                self.odfvs.pop(other["name"], None)
                for obj in self.objects:
                    if obj.name == other["name"] and obj.kind == "on-demand feature view":
                        self.objects.remove(obj)
                kind = "on-demand feature view"
            self.add(kind, other["name"], NOT_IMPORTED, notes=[other["reason"]])

    def _build_odfv(self, o: dict[str, Any]) -> None:
        name = o["name"]
        kind = "on-demand feature view"

        def skip(reason: str) -> None:
            self.add(kind, name, NOT_IMPORTED, notes=[reason])

        if not _ident(name):
            return skip(f"{name!r} is not a lakebed name (letters, digits, '_')")
        mode = o.get("mode") or "pandas"
        if mode not in ("pandas", "python"):
            return skip(f"its mode is {mode!r}; lakebed runs pandas and python functions")
        if o.get("aggregations"):
            return skip("Feast on-demand aggregations do not map to lakebed")
        notes: list[str] = []
        fate = IMPORTED
        refs: list[str] = []
        aliases: list[tuple[str, str]] = []
        request: list[Field] = []
        for s in o["sources"]:
            if s["kind"] == "feature_view":
                if s["view"] in self.odfvs or any(x["name"] == s["view"] for x in self.data["on_demand_feature_views"]):
                    return skip(f"it reads on-demand view {s['view']!r}; lakebed on-demand views read feature views")
                if s["view"] not in self.views:
                    return skip(f"its source view {s['view']!r} is not imported")
                if s.get("join_key_map"):
                    return skip(f"its source {s['view']!r} maps join keys {s['join_key_map']}; lakebed has no "
                                "join key mapping")
                for feat in s["features"]:
                    refs.append(f"{s['view']}:{feat}")
                    aliases.append((f"{s['name_to_use']}__{feat}", feat))
            else:
                for f in s["schema"]:
                    dtype = _dtype(f)
                    if dtype is None or not _ident(f["name"]):
                        return skip(f"request field {f['name']!r} ({f['feast_type']}) does not map to lakebed")
                    request.append(Field(f["name"], dtype, f.get("description", "")))
        outputs: list[Field] = []
        for f in o["features"]:
            dtype = _dtype(f)
            if dtype is None or not _ident(f["name"]):
                return skip(f"output {f['name']!r} ({f['feast_type']}) does not map to lakebed")
            outputs.append(Field(f["name"], dtype, f.get("description", "")))
        udf_info = o.get("udf") or {}
        inputs = {r.split(":", 1)[1] for r in refs} | {full for full, _ in aliases} | {f.name for f in request}
        try:
            fn = _compile_udf(name, udf_info, inputs)
        except _NotCarried as exc:
            return skip(f"its function cannot be carried: {exc}")
        udf = _wrap_udf(name, fn, mode, bool(o.get("singleton")), aliases, [f.name for f in outputs])
        if o.get("write_to_online_store"):
            fate = CHANGED
            notes.append("Feast writes it to the online store at materialization; lakebed computes it at read "
                         "time (the same function, so the same values)")
        notes.append(f"the {mode} function {udf_info.get('name')!r} runs in lakebed's Python; in a new process, "
                     "import again (nothing changes) to load it")
        why = self.foreign("view", name)
        if why:
            return skip(why)
        try:
            odfv = OnDemandFeatureView(
                name, sources=refs, fields=outputs, udf=udf, request_fields=request, mode=mode,
                description=o.get("description", ""),
                tags=self.tags(o, {UDF_TAG: str(udf_info.get("sha256", ""))[:16]}),
            )
        except LakebedError as exc:
            return skip(str(exc))
        self.odfvs[name] = odfv
        self.add(kind, name, fate, f"view {name}", notes)

    # -- services -----------------------------------------------------------------------
    def build_services(self) -> None:
        for s in self.data["feature_services"]:
            name = s["name"]
            notes: list[str] = []
            fate = IMPORTED
            refs: list[str] = []
            why: str | None = None
            if not _ident(name):
                why = f"{name!r} is not a lakebed name (letters, digits, '_')"
            for p in s["projections"]:
                if why:
                    break
                if p["view"] not in self.views and p["view"] not in self.odfvs:
                    why = f"it uses view {p['view']!r}, which is not imported"
                elif p.get("join_key_map"):
                    why = f"it maps join keys of {p['view']!r} ({p['join_key_map']}); lakebed has no join key mapping"
                else:
                    refs += [f"{p['view']}:{f}" for f in p["features"]]
                    if p.get("name_alias"):
                        fate = CHANGED
                        notes.append(f"alias {p['name_alias']!r} of {p['view']!r} is dropped: full feature names "
                                     f"are {p['view']}__<feature>")
            if s.get("logging"):
                notes.append("its feature logging config is not imported (lakebed logs predictions with "
                             "lake.predictions)")
            why = why or self.foreign("service", name)
            if why:
                self.add("feature service", name, NOT_IMPORTED, notes=[why])
                continue
            try:
                self.services[name] = FeatureService(name, refs, description=s.get("description", ""),
                                                     tags=self.tags(s))
            except LakebedError as exc:
                self.add("feature service", name, NOT_IMPORTED, notes=[str(exc)])
                continue
            self.add("feature service", name, fate, f"service {name}", notes)

    # -- data sources -------------------------------------------------------------------
    def note_sources(self) -> None:
        used_odfv = {s["name"] for o in self.data["on_demand_feature_views"] if o["name"] in self.odfvs
                     for s in o["sources"] if s["kind"] == "request"}
        for src in self.data["data_sources"]:
            name, cls = src["name"], src["class"]
            imp = self.tables.get(name)
            if imp is not None and name in self.source_used:
                notes = [f"{imp.path} ({imp.file_format}, {imp.num_rows if imp.num_rows is not None else '?'} rows)"]
                if imp.field_mapping:
                    notes.append(f"columns renamed by the field mapping {imp.field_mapping}")
                if imp.naive_times:
                    notes.append(f"{imp.naive_times} have no time zone in the file: stored as UTC (as Feast "
                                 "reads them); pass timezone-aware entity times")
                self.add("data source", name, IMPORTED, f"table {imp.table}", notes)
            elif cls == "RequestSource":
                if name in used_odfv:
                    self.add("request source", name, IMPORTED, "request fields",
                             ["its fields are request fields of the on-demand views that use it"])
                else:
                    self.add("request source", name, NOT_IMPORTED, notes=["no imported on-demand view uses it"])
            elif cls == "PushSource":
                users = self.push_users.get(name, []) + self.source_used.get(name, [])
                self.add("push source", name, NOT_IMPORTED, notes=[
                    "lakebed has no push sources: push rows to the view itself, lake.features.push(view, rows)"
                    + (f"; views {users} read its batch source's table" if users else "")])
            elif cls in ("KafkaSource", "KinesisSource"):
                self.add("stream source", name, NOT_IMPORTED, notes=[
                    "lakebed streams are lakebed's own (lake.streams); produce the events there"])
            elif name in self.table_errors:
                self.add("data source", name, NOT_IMPORTED, notes=[self.table_errors[name]])
            elif cls == "FileSource":
                self.add("data source", name, NOT_IMPORTED, notes=["no imported feature view uses it"])
            else:
                self.add("data source", name, NOT_IMPORTED, notes=[
                    f"a {cls}: only file sources are imported; load the data into a lakebed table"])
        for name in list(self.tables):
            if name not in self.source_used:
                del self.tables[name]


class _NotCarried(Exception):
    pass


def _compile_udf(view: str, info: dict[str, Any], inputs: set[str]) -> Callable[[Any], Any]:
    """Rebuild an on-demand view's function from its source text, as Feast does when it
    loads one from its registry: only the function definition is compiled (decorators
    and annotations dropped), in a namespace holding the modules, importable objects and
    constants it uses."""
    problems = list(info.get("problems") or [])
    if problems:
        raise _NotCarried("; ".join(problems))
    text = str(info.get("source") or "")
    if not text.strip():
        raise _NotCarried("Feast has no source text for it")
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError as exc:
        raise _NotCarried(f"its source does not parse ({exc.msg})") from None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    wanted = info.get("name")
    fn_def = next((d for d in defs if d.name == wanted), defs[0] if len(defs) == 1 else None)
    if fn_def is None:
        raise _NotCarried("its source holds no single function definition")
    fn_def.decorator_list = []
    fn_def.returns = None
    args = fn_def.args
    for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if a is not None:
            a.annotation = None
    if any(d is not None and not isinstance(d, ast.Constant) for d in [*args.defaults, *args.kw_defaults]):
        raise _NotCarried("its default arguments are not constants")
    params = [a.arg for a in args.args]
    if params:
        read = sorted({
            n.slice.value for n in ast.walk(fn_def)
            if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == params[0]
            and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)
        })
        unknown = [c for c in read if c not in inputs]
        if unknown:
            raise _NotCarried(
                f"it reads columns {unknown}, which lakebed does not pass it (lakebed passes the source "
                f"features and request fields: {sorted(inputs)})"
            )
    ns: dict[str, Any] = {"__builtins__": builtins, "__name__": f"lakebed_feast_udf_{view}"}
    for g in info.get("globals") or []:
        if "module" in g:
            try:
                mod: Any = importlib.import_module(str(g["module"]))
            except ImportError:
                raise _NotCarried(f"it uses module {g['module']!r}, which is not installed here") from None
            if "attr" in g:
                try:
                    for part in str(g["attr"]).split("."):
                        mod = getattr(mod, part)
                except AttributeError:
                    raise _NotCarried(f"it uses {g['module']}.{g['attr']}, which this environment lacks") from None
            ns[str(g["name"])] = mod
        else:
            ns[str(g["name"])] = g.get("value")
    module = ast.Module(body=[fn_def], type_ignores=[])
    ast.fix_missing_locations(module)
    code = compile(module, filename=f"<Feast on-demand view {view}>", mode="exec")
    exec(code, ns)  # only the function definition runs: its body runs when lakebed calls it
    fn = ns[fn_def.name]
    if not callable(fn):
        raise _NotCarried("its source does not define a function")
    return fn  # type: ignore[no-any-return]


def _wrap_udf(view: str, fn: Callable[[Any], Any], mode: str, singleton: bool,
              aliases: list[tuple[str, str]], outputs: list[str]) -> Callable[[Any], Any]:
    """The function lakebed calls: the inputs also under Feast's full names
    (``view__feature``), as Feast passes them; a singleton function runs row by row."""
    def by_frame(df: Any) -> Any:
        df = df.copy(deep=False)
        for full, short in aliases:
            if short in df.columns and full not in df.columns:
                df[full] = df[short]
        return fn(df)

    def by_row(d: Any) -> Any:
        n = len(next(iter(d.values()))) if d else 0
        cols: dict[str, list[Any]] = {o: [] for o in outputs}
        for i in range(n):
            row = {k: v[i] for k, v in d.items()}
            for full, short in aliases:
                row.setdefault(full, row.get(short))
            out = fn(row)
            for o in outputs:
                cols[o].append(out.get(o))
        return cols

    def by_dict(d: Any) -> Any:
        d = dict(d)
        for full, short in aliases:
            if short in d:
                d.setdefault(full, d[short])
        return fn(d)

    udf = by_frame if mode == "pandas" else by_row if singleton else by_dict
    udf.__name__ = f"feast_{view}"
    udf.__qualname__ = f"feast_udf.{view}"
    return udf


def plan_feast(
    lake: Lake,
    repo_path: str | os.PathLike[str] | FeastRepo,
    *,
    namespace: str = "feast",
    table_prefix: str = "feast_",
    feast_python: str | os.PathLike[str] | None = None,
    from_registry: bool = False,
) -> FeastImportPlan:
    """What importing the Feast repository would do, changing nothing.

    Every Feast object is listed with its fate (imported / changed / not imported and
    why); imported file sources become tables ``<namespace>.<table_prefix><source>``.
    ``repo_path`` may also be a :class:`FeastRepo` already read by :func:`read_feast_repo`.

    Example:
        >>> plan = plan_feast(lake, "feature_repo", namespace="feast")    # doctest: +SKIP
        >>> plan.fate("feature view", "driver_hourly_stats").fate          # doctest: +SKIP
        'imported'
    """
    from lakebed._names import validate_name

    validate_name("table", namespace, "namespace")
    if table_prefix and not re.fullmatch(r"[A-Za-z0-9_]{0,64}", table_prefix):
        raise InvalidArgument(f"table_prefix must be letters, digits and '_', got {table_prefix!r}")
    repo = repo_path if isinstance(repo_path, FeastRepo) else read_feast_repo(
        repo_path, feast_python=feast_python, from_registry=from_registry)
    lake.features.registry.refresh_if_changed()
    b = _Builder(lake, repo, namespace, table_prefix)
    b.build_entities()
    b.build_views()
    b.build_odfvs()
    b.build_services()
    b.note_sources()
    used = {e for v in b.views.values() for e in v.entity_names}
    definitions: list[Any] = [*(e for n, e in b.entities.items() if n not in b.reused), *b.views.values(),
                              *b.odfvs.values(), *b.services.values()]
    for name in [n for n in b.entities if n not in used]:
        b.fate("entity", name).notes.append("no imported feature view uses it")
    try:
        fplan = lake.features.plan(definitions)
    except LakebedError as exc:
        raise type(exc)(f"lakebed refuses the imported definitions: {exc}") from None
    actions = {(c.kind, c.name): c.action for c in fplan}
    kinds = {"entity": "entity", "view": "view", "service": "service"}
    for obj in b.objects:
        if obj.target.startswith("table "):
            imp = next(t for t in b.tables.values() if t.table == obj.target[len("table "):])
            obj.action = imp.action
        elif obj.target and obj.target.split(" ", 1)[0] in kinds:
            k, n = obj.target.split(" ", 1)
            obj.action = actions.get((k, n), "")
    order = {"entity": 0, "data source": 1, "request source": 2, "push source": 3, "stream source": 4,
             "feature view": 5, "batch feature view": 5, "stream feature view": 6, "on-demand feature view": 7,
             "feature service": 8}
    b.objects.sort(key=lambda o: (order.get(o.kind, 9), o.name))
    return FeastImportPlan(repo, namespace, b.objects, list(b.tables.values()), definitions, fplan)


def apply_feast_plan(lake: Lake, plan: FeastImportPlan, *, progress: ProgressCallback | None = None) -> FeastImportPlan:
    """Write the plan's tables and apply its definitions (in one catalog transaction).

    If applying the definitions fails, the tables this call created are dropped and the
    ones it overwrote are restored to their previous version.

    Example:
        >>> apply_feast_plan(lake, plan_feast(lake, "feature_repo"))      # doctest: +SKIP
    """
    lake.check_writable()
    created: list[str] = []
    restored: list[tuple[str, int]] = []
    try:
        for imp in plan.tables:
            if progress is not None:
                progress(f"table {imp.table}", 0, imp.num_rows)
            if imp.action == "unchanged":
                if progress is not None:
                    progress(f"table {imp.table}", imp.num_rows or 0, imp.num_rows)
                continue
            data, notes = _prepare_table(_read_data(imp.path, imp.file_format), imp)
            props = {TABLE_PROPERTY: {"project": plan.repo.project, "source": imp.source, "path": str(imp.path),
                                      "format": imp.file_format, "fingerprint": imp.fingerprint,
                                      "rows": data.num_rows, "notes": notes}}
            if lake.tables.exists(imp.table):
                restored.append((imp.table, lake.tables.version(imp.table)))
                lake.tables.write(imp.table, data, mode="overwrite")
            else:
                lake.tables.create(imp.table, data=data,
                                   description=f"Feast source {imp.source} of project {plan.repo.project}")
                created.append(imp.table)
            lake.tables.set_properties(imp.table, props)
            if progress is not None:
                progress(f"table {imp.table}", data.num_rows, data.num_rows)
        applied = lake.features.apply(plan.definitions)
    except BaseException:
        for name in created:
            with contextlib.suppress(LakebedError):
                lake.tables.drop(name)
        for name, version in restored:
            with contextlib.suppress(LakebedError):
                lake.tables.restore(name, version)
        raise
    plan.features_plan = applied
    return plan


def import_feast(
    lake: Lake,
    repo_path: str | os.PathLike[str] | FeastRepo,
    *,
    apply: bool = True,
    namespace: str = "feast",
    progress: ProgressCallback | None = None,
    table_prefix: str = "feast_",
    feast_python: str | os.PathLike[str] | None = None,
    from_registry: bool = False,
) -> FeastImportPlan:
    """Import a Feast repository into the lake: plan, then (with ``apply=True``) write the
    tables and apply the definitions. Importing again changes nothing unless the
    repository or its files changed; it also loads the on-demand views' functions into
    this process.

    ``progress(step, rows_done, rows_total)`` is called as tables are written.

    Example:
        >>> plan = import_feast(lake, "feature_repo", feast_python="/opt/feast/bin/python")  # doctest: +SKIP
        >>> lake.features.training_set(entity_df, "driver_activity").to_pandas()            # doctest: +SKIP
    """
    plan = plan_feast(lake, repo_path, namespace=namespace, table_prefix=table_prefix,
                      feast_python=feast_python, from_registry=from_registry)
    if apply:
        apply_feast_plan(lake, plan, progress=progress)
    return plan
