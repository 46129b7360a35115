from __future__ import annotations

import builtins
import math
import re
import shutil
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.dataset as pads
import sqlalchemy as sa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from lakebed.catalog import schema as cat
from lakebed.errors import AlreadyExists, InvalidArgument, NotFound, SchemaError
from lakebed.tables._arrow import conform, parse_schema, storage_schema, to_arrow

if TYPE_CHECKING:
    from lakebed.lake import Lake

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def parse_name(name: str) -> tuple[str, str]:
    """Split ``namespace.name`` and check both parts are plain identifiers."""
    if not isinstance(name, str) or name.count(".") != 1:
        raise InvalidArgument(
            f"table names are 'namespace.name' (e.g. 'silver.events'), got {name!r}"
        )
    ns, tname = name.split(".")
    for part in (ns, tname):
        if not _IDENT.match(part):
            raise InvalidArgument(
                f"{part!r} in {name!r} is not a valid name part: use letters, digits and "
                "underscores, starting with a letter or underscore"
            )
    return ns, tname


class Tables:
    """Versioned tables on Delta Lake, addressed as ``namespace.name``.

    Every write makes a new version; any version can be read back (by number or by
    time) until it is vacuumed. Writes are checked against the table's schema: columns
    or types that do not fit raise SchemaError and leave the table as it was.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     lake.tables.create("bronze.events", data=[{"id": 1, "kind": "view"}])
        ...     lake.tables.write("bronze.events", [{"id": 2, "kind": "buy"}])
        ...     lake.tables.read("bronze.events", version=0).num_rows
        0
        1
        1
    """

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._root = lake.path / "tables"
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    # -- helpers -----------------------------------------------------------------------
    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _row(self, name: str) -> sa.Row[Any]:
        ns, tname = parse_name(name)
        with self._lake.catalog.connect() as conn:
            row = conn.execute(
                sa.select(cat.tables).where(cat.tables.c.namespace == ns, cat.tables.c.name == tname)
            ).first()
        if row is None:
            raise NotFound(f"no table {name!r}; lake.tables.list() shows the tables there are")
        return row

    def _path(self, name: str) -> str:
        return str(self._lake.path / self._row(name).location)

    def _delta(self, name: str, version: int | None = None, as_of: datetime | str | None = None) -> DeltaTable:
        path = self._path(name)
        try:
            if version is not None:
                if version < 0:
                    raise InvalidArgument(f"version must be >= 0, got {version}")
                if version >= 2**31:  # deltalake searches a long time for absurd versions
                    raise NotFound(f"table {name!r} has no version {version}")
                return _check_files(name, DeltaTable(path, version=version), f"version {version}")
            dt = DeltaTable(path)
            if as_of is not None:
                when = _utc(as_of)
                first = dt.history()[-1]
                first_time = datetime.fromtimestamp(first.get("timestamp", 0) / 1000, tz=UTC)
                if when < first_time and first.get("version", 0) == 0:
                    raise NotFound(
                        f"table {name!r} did not exist yet at {when.isoformat()}; its first version was "
                        f"written at {first_time.isoformat()}"
                    )
                dt.load_as_version(when)
                return _check_files(name, dt, f"the version as of {when.isoformat()}")
            return dt
        except TableNotFoundError:
            raise NotFound(f"table {name!r} has no data files at {path}") from None
        except DeltaError as exc:
            msg = str(exc)
            if version is not None and ("version" in msg.lower() or "not found" in msg.lower()):
                latest = DeltaTable(path).version()
                raise NotFound(
                    f"table {name!r} has no version {version} (versions 0..{latest}, "
                    "unless vacuumed)"
                ) from None
            if as_of is not None:
                raise NotFound(f"table {name!r} has no version as of {as_of}: {msg}") from None
            raise

    # -- catalog operations -------------------------------------------------------------
    def create(
        self,
        name: str,
        schema: pa.Schema | dict[str, Any] | None = None,
        data: Any = None,
        partition_by: Sequence[str] | None = None,
        description: str | None = None,
        exist_ok: bool = False,
    ) -> int:
        """Create a table from a schema and/or data; returns the new version (0).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     lake.tables.create("silver.users", schema={"id": "int64", "name": "string"})
            0
        """
        self._lake.check_writable()
        ns, tname = parse_name(name)
        if self.exists(name):
            if exist_ok:
                return self.version(name)
            raise AlreadyExists(f"table {name!r} exists; write to it, or drop it first")
        if schema is None and data is None:
            raise InvalidArgument("create needs a schema, data, or both")
        target = storage_schema(parse_schema(schema)) if schema is not None else None
        table: pa.Table | None = None
        if data is not None:
            arrow = to_arrow(data, target)
            if isinstance(arrow, pa.RecordBatchReader):
                arrow = arrow.read_all()
            if target is not None:
                table = conform(arrow, target)
            else:
                table = conform(arrow, pa.schema([]), allow_new=True)
            target = table.schema
        if target is None or len(target) == 0:
            raise SchemaError(f"table {name!r} needs at least one column")
        parts = list(partition_by or [])
        missing = [p for p in parts if p not in target.names]
        if missing:
            raise SchemaError(f"partition columns {missing} are not in the schema {target.names}")
        location = Path("tables") / ns / tname
        path = self._lake.path / location
        if path.exists():  # left behind by a create that crashed before the catalog commit
            shutil.rmtree(path)
        path.mkdir(parents=True)
        try:
            if table is not None:
                write_deltalake(str(path), table, mode="error", partition_by=parts or None,
                                description=description)
            else:
                DeltaTable.create(str(path), schema=target, partition_by=parts or None,
                                  description=description)
        except DeltaError as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise SchemaError(f"cannot create {name!r}: {exc}") from None
        try:
            with self._lake.catalog.begin() as conn:
                conn.execute(
                    cat.tables.insert().values(
                        namespace=ns, name=tname, location=str(location), description=description,
                        partition_by=parts, created_at=time.time(), properties={},
                    )
                )
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return 0

    def exists(self, name: str) -> bool:
        """Whether the table exists."""
        ns, tname = parse_name(name)
        with self._lake.catalog.connect() as conn:
            return (
                conn.execute(
                    sa.select(cat.tables.c.name).where(
                        cat.tables.c.namespace == ns, cat.tables.c.name == tname
                    )
                ).first()
                is not None
            )

    def list(self, namespace: str | None = None) -> builtins.list[str]:
        """Names of the tables, optionally of one namespace, sorted."""
        q = sa.select(cat.tables.c.namespace, cat.tables.c.name).order_by(
            cat.tables.c.namespace, cat.tables.c.name
        )
        if namespace is not None:
            q = q.where(cat.tables.c.namespace == namespace)
        with self._lake.catalog.connect() as conn:
            return [f"{r.namespace}.{r.name}" for r in conn.execute(q)]

    def drop(self, name: str) -> None:
        """Drop the table and delete its files (every version)."""
        self._lake.check_writable()
        row = self._row(name)
        with self._lock((row.namespace, row.name)):
            with self._lake.catalog.begin() as conn:
                conn.execute(
                    cat.tables.delete().where(
                        cat.tables.c.namespace == row.namespace, cat.tables.c.name == row.name
                    )
                )
            shutil.rmtree(self._lake.path / row.location, ignore_errors=True)

    def info(self, name: str) -> dict[str, Any]:
        """Name, location, schema, version, row count, description, partitioning."""
        row = self._row(name)
        dt = self._delta(name)
        return {
            "name": name,
            "location": str(self._lake.path / row.location),
            "version": dt.version(),
            "schema": self._schema(dt),
            "num_rows": dt.to_pyarrow_dataset().count_rows(),
            "description": row.description,
            "partition_by": list(row.partition_by or []),
            "created_at": datetime.fromtimestamp(row.created_at, tz=UTC),
            "properties": dict(row.properties or {}),
        }

    def set_properties(self, name: str, properties: dict[str, Any]) -> None:
        """Merge ``properties`` into the table's catalog properties (used by other areas)."""
        self._lake.check_writable()
        row = self._row(name)
        merged = {**(row.properties or {}), **properties}
        with self._lake.catalog.begin() as conn:
            conn.execute(
                cat.tables.update()
                .where(cat.tables.c.namespace == row.namespace, cat.tables.c.name == row.name)
                .values(properties=merged)
            )

    # -- data --------------------------------------------------------------------------
    @staticmethod
    def _schema(dt: DeltaTable) -> pa.Schema:
        return pa.schema(dt.schema().to_arrow())  # type: ignore[call-overload]

    def schema(self, name: str, version: int | None = None) -> pa.Schema:
        """The table's Arrow schema (at a version)."""
        return self._schema(self._delta(name, version))

    def version(self, name: str) -> int:
        """The latest version number."""
        return self._delta(name).version()

    def write(
        self,
        name: str,
        data: Any,
        mode: Literal["append", "overwrite"] = "append",
        schema_mode: Literal["merge"] | None = None,
    ) -> int:
        """Append or overwrite; returns the new version.

        With ``schema_mode="merge"`` new columns are added (old rows read them as null);
        otherwise a column or type that does not fit raises SchemaError and nothing is
        written.
        """
        self._lake.check_writable()
        if mode not in ("append", "overwrite"):
            raise InvalidArgument(f"mode must be 'append' or 'overwrite', got {mode!r}")
        if schema_mode not in (None, "merge"):
            raise InvalidArgument(f"schema_mode must be None or 'merge', got {schema_mode!r}")
        path = self._path(name)
        key = parse_name(name)
        with self._lock(key):
            dt = DeltaTable(path)
            target = self._schema(dt)
            arrow = to_arrow(data, target)
            if isinstance(arrow, pa.RecordBatchReader):
                source: Any = _ConformedReader(arrow, target, schema_mode == "merge")
            else:
                source = conform(arrow, target, allow_new=schema_mode == "merge")
            try:
                write_deltalake(dt, source, mode=mode, schema_mode=schema_mode)
            except (DeltaError, SchemaError, OSError, pa.ArrowException) as exc:
                inner = getattr(source, "error", None)
                if isinstance(inner, SchemaError):
                    raise inner from None
                if isinstance(exc, SchemaError):
                    raise
                raise SchemaError(f"cannot write to {name!r}: {exc}") from None
            dt.update_incremental()
            return dt.version()

    def merge(self, name: str, data: Any, on: Sequence[str] | str) -> int:
        """Upsert: rows whose ``on`` keys match are updated, the others inserted.

        Keys compare with SQL equality, so a row with a null key never matches and is
        always inserted; a key may appear once per batch (two null keys count as a repeat).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     lake.tables.create("gold.users", data=[{"id": 1, "n": 1}])
            ...     lake.tables.merge("gold.users", [{"id": 1, "n": 5}, {"id": 2, "n": 7}], on="id")
            ...     sorted(lake.tables.read("gold.users").to_pylist(), key=lambda r: r["id"])
            0
            1
            [{'id': 1, 'n': 5}, {'id': 2, 'n': 7}]
        """
        self._lake.check_writable()
        keys = [on] if isinstance(on, str) else list(on)
        if not keys:
            raise InvalidArgument("merge needs at least one key column in on=[...]")
        path = self._path(name)
        with self._lock(parse_name(name)):
            dt = DeltaTable(path)
            target = self._schema(dt)
            arrow = to_arrow(data, target)
            if isinstance(arrow, pa.RecordBatchReader):
                arrow = arrow.read_all()
            missing = [k for k in keys if k not in arrow.column_names or k not in target.names]
            if missing:
                raise SchemaError(f"merge keys {missing} must be columns of both the data and the table")
            source = conform(arrow, target)
            if source.num_rows and source.group_by(keys).aggregate([]).num_rows != source.num_rows:
                raise InvalidArgument(
                    f"the data has duplicate keys on {keys}; each key may appear once in a merge"
                )
            predicate = " AND ".join(f'target."{k}" = source."{k}"' for k in keys)
            try:
                (
                    dt.merge(source, predicate, source_alias="source", target_alias="target")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                )
            except DeltaError as exc:
                raise SchemaError(f"cannot merge into {name!r}: {exc}") from None
            dt.update_incremental()
            return dt.version()

    def delete(self, name: str, where: str) -> int:
        """Delete the rows matching a SQL predicate; returns the new version."""
        self._lake.check_writable()
        if not isinstance(where, str) or not where.strip():
            raise InvalidArgument("delete needs a SQL predicate, e.g. where=\"ts < '2024-01-01'\"")
        path = self._path(name)
        with self._lock(parse_name(name)):
            dt = DeltaTable(path)
            try:
                dt.delete(where)
            except (DeltaError, Exception) as exc:
                if isinstance(exc, DeltaError) or "error" in type(exc).__name__.lower():
                    raise InvalidArgument(f"cannot delete from {name!r} where {where!r}: {exc}") from None
                raise
            dt.update_incremental()
            return dt.version()

    def read(
        self,
        name: str,
        version: int | None = None,
        as_of: datetime | str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
    ) -> pa.Table:
        """Read the table (at a version or a point in time) as a pyarrow Table.

        ``where`` is a SQL predicate run by DuckDB over the scan, with filter pushdown.
        Use ``.to_pandas()`` or ``polars.from_arrow()`` on the result for data frames.
        """
        if version is not None and as_of is not None:
            raise InvalidArgument("give version or as_of, not both")
        dt = self._delta(name, version, as_of)
        cols = list(columns) if columns is not None else None
        if cols is not None:
            known = set(self._schema(dt).names)
            unknown = [c for c in cols if c not in known]
            if unknown:
                raise SchemaError(f"columns {unknown} are not in {name!r} (columns: {sorted(known)})")
        if where is None:
            return dt.to_pyarrow_table(columns=cols)
        import duckdb

        ds = dt.to_pyarrow_dataset()
        con = _duckdb()
        try:
            con.register("__lakebed_scan", ds)
            select = ", ".join(f'"{c}"' for c in cols) if cols else "*"
            return con.sql(f"SELECT {select} FROM __lakebed_scan WHERE {where}").to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidArgument(f"bad where clause {where!r} for {name!r}: {exc}") from None
        finally:
            con.close()

    def dataset(self, name: str, version: int | None = None) -> pads.Dataset:
        """A pyarrow dataset over the table's files (for zero-copy scans with DuckDB)."""
        return self._delta(name, version).to_pyarrow_dataset()

    def history(self, name: str, limit: int | None = None) -> builtins.list[dict[str, Any]]:
        """Commits, newest first: version, timestamp (UTC), operation, parameters, metrics."""
        out = []
        for h in self._delta(name).history(limit):
            out.append(
                {
                    "version": h.get("version"),
                    "timestamp": datetime.fromtimestamp(h.get("timestamp", 0) / 1000, tz=UTC),
                    "operation": h.get("operation"),
                    "parameters": h.get("operationParameters", {}),
                    "metrics": h.get("operationMetrics", {}),
                }
            )
        return out

    def restore(self, name: str, version: int) -> int:
        """Make the table's content that of ``version`` again, as a new version."""
        self._lake.check_writable()
        self._delta(name, version)  # a clear NotFound for a version that does not exist
        with self._lock(parse_name(name)):
            dt = DeltaTable(self._path(name))
            dt.restore(version)
            dt.update_incremental()
            return dt.version()

    def vacuum(self, name: str, retain: timedelta = timedelta(days=7), dry_run: bool = False) -> builtins.list[str]:
        """Delete data files no longer referenced by versions newer than ``retain``.

        Versions older than ``retain`` may no longer be readable afterwards.
        """
        self._lake.check_writable()
        if not isinstance(retain, timedelta) or retain < timedelta(0):
            raise InvalidArgument(f"retain must be a non-negative timedelta, got {retain!r}")
        # Delta counts whole hours; round up so that nothing younger than retain is removed.
        hours = math.ceil(retain.total_seconds() / 3600)
        with self._lock(parse_name(name)):
            dt = DeltaTable(self._path(name))
            return builtins.list(dt.vacuum(retention_hours=hours, dry_run=dry_run, enforce_retention_duration=False))

    # -- SQL ---------------------------------------------------------------------------
    def sql(self, query: str) -> pa.Table:
        """Run a DuckDB query over the lake's tables, referenced as ``namespace.name``."""
        import duckdb

        con = _duckdb()
        try:
            lowered = query.lower()
            for full in self.list():
                ns, tname = full.split(".")
                if not re.search(rf"\b{re.escape(ns.lower())}\s*\.\s*{re.escape(tname.lower())}\b", lowered):
                    continue
                alias = f"__lakebed_{ns}__{tname}"
                con.register(alias, self.dataset(full))
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{ns}"')
                con.execute(f'CREATE OR REPLACE VIEW "{ns}"."{tname}" AS SELECT * FROM "{alias}"')
            # The query sees the lake's tables only: no files, URLs or extensions of its own.
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            relation = con.sql(query)
            if relation is None:
                raise InvalidArgument(
                    f"{query!r} is no query; lake.sql runs queries that return rows (SELECT, WITH, ...)"
                )
            return relation.to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidArgument(f"the query failed: {exc}") from None
        finally:
            con.close()


def _check_files(name: str, dt: DeltaTable, what: str) -> DeltaTable:
    """An old version whose data files were vacuumed is gone: say so plainly."""
    missing = [u for u in dt.file_uris() if "://" not in u and not Path(u).exists()]
    if missing:
        raise NotFound(
            f"{what} of table {name!r} is no longer readable: its data files were vacuumed; "
            "lake.tables.history() lists the versions"
        )
    return dt


def _duckdb() -> Any:
    """A fresh in-memory DuckDB connection with lakebed's session settings."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


class _ConformedReader:
    """Conforms a stream batch by batch; a batch that does not fit is kept in ``error`` so
    that the writer can raise it as it is (not wrapped in the Arrow C stream's text)."""

    def __init__(self, reader: pa.RecordBatchReader, target: pa.Schema, allow_new: bool) -> None:
        self.error: SchemaError | None = None
        first = conform(pa.Table.from_batches([], schema=reader.schema), target, allow_new=allow_new)
        self._reader, self._target, self._allow_new = reader, target, allow_new
        self.stream = pa.RecordBatchReader.from_batches(first.schema, self._batches())

    def _batches(self) -> Any:
        for batch in self._reader:
            try:
                table = conform(pa.Table.from_batches([batch]), self._target, allow_new=self._allow_new)
            except SchemaError as exc:
                self.error = exc
                raise
            yield from table.to_batches()

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.stream.__arrow_c_stream__(requested_schema)


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidArgument(f"as_of {value!r} is not an ISO timestamp") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
