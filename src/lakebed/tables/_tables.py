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
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from lakebed._names import parse_name
from lakebed.api._tables import TablesAPI
from lakebed.catalog import schema as cat
from lakebed.errors import AlreadyExists, CorruptionError, InvalidArgument, LakebedError, NotFound, SchemaError
from lakebed.tables._arrow import conform, parse_schema, storage_schema, to_arrow
from lakebed.tables._check import check_table
from lakebed.tables._durable import Durability
from lakebed.tables._files import is_file_source
from lakebed.tables._predicate import Predicate, quote_ident
from lakebed.tables._predicate import parse as parse_predicate
from lakebed.tables._sandbox import connect as sandboxed_duckdb

if TYPE_CHECKING:
    from lakebed.lake import Lake


class Tables(TablesAPI):
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
        # fsync of commits by the lake's setting; "batch" flushes at lake.tables.flush()/close
        self._durability = Durability(lake.settings.fsync)
        lake.on_close(self.flush)

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

    def _raise_if_corrupt(self, name: str, exc: BaseException | None = None) -> None:
        """After a failure reading the table's files: when ``exc`` looks like damage (a log
        entry or a Parquet file that does not read) and :func:`check_table` finds some,
        raise CorruptionError naming the file (relative to the lake) and the fix."""
        text = str(exc).lower() if exc is not None else "parquet"
        if not any(w in text for w in _DAMAGE_WORDS):
            return
        try:
            problems = check_table(self._lake.path, name, self._lake.path / self._row(name).location)
        except Exception:  # the check must never hide the original error
            return
        if problems:
            p = problems[0]
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise CorruptionError(
                f"table {name!r} is damaged: {p.file}: {p.what}{more}. Run `lakebed check "
                f"{self._lake.path}` for everything that is wrong; to fix this: {p.action}"
            ) from None

    def _open(self, name: str, path: str) -> DeltaTable:
        """The latest version of the table, for a write; CorruptionError when its log is damaged."""
        try:
            return DeltaTable(path)
        except DeltaError as exc:
            self._raise_if_corrupt(name, exc)
            raise

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
            self._raise_if_corrupt(name, exc)
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
        *,
        format: str | None = None,
    ) -> int:
        self._lake.check_writable()
        ns, tname = parse_name(name)
        if self.exists(name):
            if exist_ok:
                return self.version(name)
            raise AlreadyExists(f"table {name!r} exists; write to it, or drop it first")
        if schema is None and data is None:
            raise InvalidArgument("create needs a schema, data, or both")
        target = storage_schema(parse_schema(schema)) if schema is not None else None
        source: pa.Table | _ConformedReader | None = None
        if data is not None:
            arrow = to_arrow(data, target, format=format)
            if isinstance(arrow, pa.RecordBatchReader):  # written as it is read, in one commit
                want = target if target is not None else pa.schema([])
                if is_file_source(data):  # the file's columns, as the schema types those it names
                    want = _file_columns(arrow.schema, want)
                source = _ConformedReader(arrow, want, allow_new=target is None)
                target = source.stream.schema
            else:
                table = conform(arrow, target) if target is not None else conform(arrow, pa.schema([]), allow_new=True)
                source, target = table, table.schema
        elif format is not None:
            raise InvalidArgument("format= applies to data given as a file path")
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
            if source is not None:
                write_deltalake(str(path), source, mode="error", partition_by=parts or None,
                                description=description)
            else:
                DeltaTable.create(str(path), schema=target, partition_by=parts or None,
                                  description=description)
        except BaseException as exc:  # nothing of a failed create stays behind
            shutil.rmtree(path, ignore_errors=True)
            inner = getattr(source, "error", None)
            if isinstance(inner, LakebedError):  # a stream's batch that did not read or fit
                raise inner from None
            if isinstance(exc, DeltaError | pa.ArrowException):
                raise SchemaError(f"cannot create {name!r}: {exc}") from None
            raise
        # durable before the catalog names it: the table's files, and the new directories
        self._durability.committed(path, 0, 0, extra_dirs=[path.parent, path.parent.parent, self._lake.path])
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
        q = sa.select(cat.tables.c.namespace, cat.tables.c.name).order_by(
            cat.tables.c.namespace, cat.tables.c.name
        )
        if namespace is not None:
            q = q.where(cat.tables.c.namespace == namespace)
        with self._lake.catalog.connect() as conn:
            return [f"{r.namespace}.{r.name}" for r in conn.execute(q)]

    def drop(self, name: str) -> None:
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
        row = self._row(name)
        dt = self._delta(name)
        return {
            "name": name,
            "location": str(self._lake.path / row.location),
            "version": dt.version(),
            "schema": _arrow_schema(dt),
            "num_rows": self._count_rows(name, dt),
            "description": row.description,
            "partition_by": list(row.partition_by or []),
            "created_at": datetime.fromtimestamp(row.created_at, tz=UTC),
            "properties": dict(row.properties or {}),
        }

    def _count_rows(self, name: str, dt: DeltaTable) -> int:
        try:
            return int(dt.to_pyarrow_dataset().count_rows())
        except (pa.ArrowException, OSError) as exc:
            self._raise_if_corrupt(name, exc)
            raise

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
    def schema(self, name: str, version: int | None = None) -> pa.Schema:
        return _arrow_schema(self._delta(name, version))

    def version(self, name: str) -> int:
        return self._delta(name).version()

    def write(
        self,
        name: str,
        data: Any,
        mode: Literal["append", "overwrite"] = "append",
        schema_mode: Literal["merge"] | None = None,
        *,
        commit_metadata: dict[str, str] | None = None,
        format: str | None = None,
    ) -> int:
        self._lake.check_writable()
        if mode not in ("append", "overwrite"):
            raise InvalidArgument(f"mode must be 'append' or 'overwrite', got {mode!r}")
        if schema_mode not in (None, "merge"):
            raise InvalidArgument(f"schema_mode must be None or 'merge', got {schema_mode!r}")
        path = self._path(name)
        key = parse_name(name)
        with self._lock(key):
            dt = self._open(name, path)
            first = dt.version() + 1
            target = _arrow_schema(dt)
            arrow = to_arrow(data, target, format=format)
            gate = self._gate(name)
            if isinstance(arrow, pa.RecordBatchReader) and gate is not None:
                arrow = arrow.read_all()  # a contract judges the whole batch before any of it is written
            if isinstance(arrow, pa.RecordBatchReader):
                source: Any = _ConformedReader(arrow, target, schema_mode == "merge")
            else:
                source = conform(arrow, target, allow_new=schema_mode == "merge")
            if gate is not None:
                source = gate.check(source, mode)
                if source.num_rows == 0 and mode == "append":  # every row was quarantined
                    gate.record(None)
                    return dt.version()
            try:
                props = None
                if commit_metadata:
                    bad = [k for k in commit_metadata if not k.startswith("lakebed.")]
                    if bad:
                        raise InvalidArgument(f"commit_metadata keys must start with 'lakebed.', got {bad}")
                    props = CommitProperties(custom_metadata=dict(commit_metadata))
                write_deltalake(dt, source, mode=mode, schema_mode=schema_mode, commit_properties=props)
            except (DeltaError, SchemaError, OSError, pa.ArrowException) as exc:
                inner = getattr(source, "error", None)
                if isinstance(inner, LakebedError):  # a stream's batch that did not read or fit
                    raise inner from None
                if isinstance(exc, SchemaError):
                    raise
                raise SchemaError(f"cannot write to {name!r}: {exc}") from None
            dt.update_incremental()
            self._durability.committed(Path(path), first, dt.version())
            if gate is not None:
                gate.record(dt.version())
            return dt.version()

    def _gate(self, name: str) -> Any:
        """The data contract's check of a write to ``name`` (None when it has no contract)."""
        from lakebed.quality._contracts import WriteGate, current_contract

        contract = current_contract(self._lake, name)
        return None if contract is None else WriteGate(self._lake, name, contract)

    def merge(self, name: str, data: Any, on: Sequence[str] | str) -> int:
        self._lake.check_writable()
        keys = [on] if isinstance(on, str) else list(on)
        if not keys:
            raise InvalidArgument("merge needs at least one key column in on=[...]")
        path = self._path(name)
        with self._lock(parse_name(name)):
            dt = self._open(name, path)
            first = dt.version() + 1
            target = _arrow_schema(dt)
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
            gate = self._gate(name)
            if gate is not None:
                source = gate.check(source, "merge", keys)
                if source.num_rows == 0:  # every row was quarantined
                    gate.record(None)
                    return dt.version()
            predicate = " AND ".join(f'target."{k}" = source."{k}"' for k in keys)
            try:
                (
                    dt.merge(source, predicate, source_alias="source", target_alias="target")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                )
            except DeltaError as exc:
                self._raise_if_corrupt(name, exc)
                raise SchemaError(f"cannot merge into {name!r}: {exc}") from None
            dt.update_incremental()
            self._durability.committed(Path(path), first, dt.version())
            if gate is not None:
                gate.record(dt.version())
            return dt.version()

    def delete(self, name: str, where: str) -> int:
        self._lake.check_writable()
        path = self._path(name)
        with self._lock(parse_name(name)):
            dt = self._open(name, path)
            schema = _arrow_schema(dt)
            pred = parse_predicate(where, schema.names)
            before = dt.version()
            expected, total = _count_where(name, dt, pred, schema)
            if expected == 0:
                return before
            # IS TRUE: a row whose predicate is NULL is kept (delta-rs dropped some such rows)
            rendered = f"({pred.sql('datafusion')}) IS TRUE"
            try:
                if _count_datafusion(dt, rendered) != expected:
                    raise InvalidArgument(
                        f"the predicate {where!r} selects different rows for reading and for deleting "
                        f"in {name!r}; write it with plain comparisons (no casts or functions whose "
                        "meaning differs between engines)"
                    )
                if expected == total:
                    # every row goes: no predicate (delta-rs fails on some predicates that
                    # DataFusion folds to a constant, "Unable to locate expected metric node")
                    deleted = dt.delete().get("num_deleted_rows")
                else:
                    deleted = dt.delete(rendered).get("num_deleted_rows")
            except InvalidArgument:
                raise
            except Exception as exc:
                if isinstance(exc, DeltaError) or "error" in type(exc).__name__.lower():
                    raise InvalidArgument(f"cannot delete from {name!r} where {where!r}: {exc}") from None
                raise
            dt.update_incremental()
            if deleted != expected:  # a delta-rs bug (seen with NULL predicates): undo, don't guess
                if dt.version() > before:  # (a delete that removed nothing made no version)
                    dt.restore(before)
                    dt.update_incremental()
                    self._durability.committed(Path(path), before + 1, dt.version())
                raise InvalidArgument(
                    f"deleting where {where!r} removed {deleted} rows of {name!r} where {expected} "
                    f"match; the delete was undone (the table's content is that of version {before})"
                )
            self._durability.committed(Path(path), before + 1, dt.version())
            return dt.version()

    def read(
        self,
        name: str,
        version: int | None = None,
        as_of: datetime | str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
    ) -> pa.Table:
        if version is not None and as_of is not None:
            raise InvalidArgument("give version or as_of, not both")
        dt = self._delta(name, version, as_of)
        schema = _arrow_schema(dt)
        cols = list(columns) if columns is not None else None
        if cols is not None:
            unknown = [c for c in cols if c not in schema.names]
            if unknown:
                raise SchemaError(f"columns {unknown} are not in {name!r} (columns: {sorted(schema.names)})")
        if where is None:
            try:
                return dt.to_pyarrow_table(columns=cols)
            except (pa.ArrowException, OSError) as exc:
                self._raise_if_corrupt(name, exc)
                raise
        import duckdb

        pred = parse_predicate(where, schema.names)
        ds = scan_dataset(dt, schema)
        con = _duckdb()
        try:
            con.register("__lakebed_scan", ds)
            select = ", ".join(quote_ident(c) for c in cols) if cols else "*"
            return con.sql(f"SELECT {select} FROM __lakebed_scan WHERE {pred.sql()}").to_arrow_table()
        except duckdb.Error as exc:
            self._raise_if_corrupt(name, exc)
            raise InvalidArgument(f"the predicate {where!r} cannot be evaluated on {name!r}: {exc}") from None
        finally:
            con.close()

    def dataset(self, name: str, version: int | None = None) -> pads.Dataset:
        return self._delta(name, version).to_pyarrow_dataset()

    def history(self, name: str, limit: int | None = None) -> builtins.list[dict[str, Any]]:
        out = []
        for h in self._delta(name).history(limit):
            out.append(
                {
                    "version": h.get("version"),
                    "timestamp": datetime.fromtimestamp(h.get("timestamp", 0) / 1000, tz=UTC),
                    "operation": h.get("operation"),
                    "parameters": h.get("operationParameters", {}),
                    "metrics": h.get("operationMetrics", {}),
                    "metadata": {k: v for k, v in h.items() if k.startswith("lakebed.")},
                }
            )
        return out

    def restore(self, name: str, version: int) -> int:
        self._lake.check_writable()
        self._delta(name, version)  # a clear NotFound for a version that does not exist
        path = self._path(name)
        with self._lock(parse_name(name)):
            dt = self._open(name, path)
            first = dt.version() + 1
            dt.restore(version)
            dt.update_incremental()
            self._durability.committed(Path(path), first, dt.version())
            return dt.version()

    def flush(self) -> None:
        self._durability.flush()

    def vacuum(self, name: str, retain: timedelta = timedelta(days=7), dry_run: bool = False) -> builtins.list[str]:
        self._lake.check_writable()
        if not isinstance(retain, timedelta) or retain < timedelta(0):
            raise InvalidArgument(f"retain must be a non-negative timedelta, got {retain!r}")
        # Delta counts whole hours; round up so that nothing younger than retain is removed.
        hours = math.ceil(retain.total_seconds() / 3600)
        with self._lock(parse_name(name)):
            dt = DeltaTable(self._path(name))
            return builtins.list(dt.vacuum(retention_hours=hours, dry_run=dry_run, enforce_retention_duration=False))

    # -- SQL ---------------------------------------------------------------------------
    def sql(
        self,
        query: str,
        *,
        tables: Sequence[str] | None = None,
        timeout: float | None = None,
        max_rows: int | None = None,
    ) -> pa.Table:
        import duckdb

        if not isinstance(query, str) or not query.strip():
            raise InvalidArgument("lake.sql needs a query that can return rows, such as 'SELECT count(*) FROM gold.t'")
        if max_rows is not None and max_rows < 1:
            raise InvalidArgument(f"max_rows must be >= 1, got {max_rows}")
        if timeout is not None and not timeout > 0:
            raise InvalidArgument(f"timeout must be a positive number of seconds, got {timeout}")
        allowed = None if tables is None else set(tables)
        visible = [t for t in self.list() if allowed is None or t in allowed]
        con = _duckdb()
        timer: threading.Timer | None = None
        try:
            statements = con.extract_statements(query)
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                kinds = ", ".join(str(st.type).rsplit(".", 1)[-1] for st in statements) or "nothing"
                raise InvalidArgument(
                    f"lake.sql runs one query, which must return rows (SELECT, WITH, VALUES), got {kinds}; "
                    "write data with lake.tables.write/merge/delete"
                )
            lowered = query.lower()
            for full in visible:
                ns, tname = full.split(".")
                if not re.search(rf"\b{re.escape(ns.lower())}\W*\.\W*{re.escape(tname.lower())}\b", lowered):
                    continue
                alias = f"__lakebed_{ns}__{tname}"
                con.register(alias, scan_dataset(self._delta(full)))
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(ns)}")
                con.execute(f"CREATE OR REPLACE VIEW {quote_ident(ns)}.{quote_ident(tname)} AS "
                            f"SELECT * FROM {quote_ident(alias)}")
            relation = con.sql(query)  # one SELECT statement (checked above): never None
            if max_rows is not None:
                relation = relation.limit(max_rows + 1)
            if timeout is not None:
                timer = threading.Timer(timeout, con.interrupt)
                timer.daemon = True
                timer.start()
            result = relation.to_arrow_table()
            if max_rows is not None and result.num_rows > max_rows:
                raise InvalidArgument(
                    f"the query returns more than {max_rows:,} rows; aggregate, add a LIMIT, or read "
                    "whole tables with lake.tables.read"
                )
            return result
        except duckdb.InterruptException:
            raise InvalidArgument(
                f"the query ran longer than {timeout} s and was stopped; narrow it or aggregate less"
            ) from None
        except duckdb.Error as exc:
            hit = re.search(r"registered as '__lakebed_(\w+?)__(\w+)'", str(exc))  # a table's files failed
            if hit:
                self._raise_if_corrupt(f"{hit.group(1)}.{hit.group(2)}", exc)
            raise InvalidArgument(f"the query failed: {exc}") from None
        finally:
            if timer is not None:
                timer.cancel()
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


# Words in an error that may come from a damaged file (then check_table looks).
_DAMAGE_WORDS = ("parquet", "json", "object store", "no such file", "not found", "corrupt", "ioerror",
                 "unexpected end", "truncated", "eof", "invalid")

# Table types and the view types DuckDB scans them as (see scan_dataset).
_VIEWS = {pa.string(): pa.string_view(), pa.binary(): pa.binary_view()}


def _arrow_schema(dt: DeltaTable) -> pa.Schema:
    return pa.schema(dt.schema().to_arrow())  # type: ignore[call-overload]


def scan_dataset(dt: DeltaTable, schema: pa.Schema | None = None) -> pads.Dataset:
    """The table's files as a pyarrow dataset for DuckDB, which pushes its filters into it.

    delta-rs writes the files of a merge or a delete (rewritten by DataFusion) with
    ``string_view``/``binary_view`` Arrow types while other writes store ``string``/``binary``.
    A dataset typed ``string`` cannot evaluate a pushed-down filter against the row-group
    statistics of a ``string_view`` file (pyarrow has no kernel comparing the two), but a
    dataset typed with the view types reads both kinds of file and evaluates the filter on
    either. DuckDB returns the columns as plain strings. ``schema`` is the table's, when
    the caller has it already.
    """
    schema = _arrow_schema(dt) if schema is None else schema
    view = pa.schema([f.with_type(_VIEWS.get(f.type, f.type)) for f in schema])
    return dt.to_pyarrow_dataset(schema=view)


def _duckdb() -> Any:
    """A fresh in-memory DuckDB connection, sandboxed (no files, URLs, extensions or
    settings of its own), with lakebed's session settings."""
    return sandboxed_duckdb(timezone="UTC")


def _count_where(name: str, dt: DeltaTable, pred: Predicate, schema: pa.Schema) -> tuple[int, int]:
    """How many rows of ``dt`` match ``pred``, as DuckDB (the engine of reads) sees it, and
    how many rows it has."""
    import duckdb

    con = _duckdb()
    try:
        con.register("__lakebed_scan", scan_dataset(dt, schema))
        row = con.execute(f"SELECT count(*) FILTER (WHERE {pred.sql()}), count(*) FROM __lakebed_scan").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
    except duckdb.Error as exc:
        raise InvalidArgument(f"the predicate {pred.text!r} cannot be evaluated on {name!r}: {exc}") from None
    finally:
        con.close()


def _count_datafusion(dt: DeltaTable, rendered: str) -> int:
    """How many rows of ``dt`` match ``rendered``, as delta-rs's engine (DataFusion) sees it."""
    from deltalake import QueryBuilder

    table = QueryBuilder().register("__lakebed_scan", dt).execute(
        f"SELECT count(*) AS n FROM __lakebed_scan WHERE {rendered}"
    ).read_all()
    return int(pa.table(table).column("n")[0].as_py())


class _ConformedReader:
    """Conforms a stream batch by batch; a batch that does not fit is kept in ``error`` so
    that the writer can raise it as it is (not wrapped in the Arrow C stream's text)."""

    def __init__(self, reader: pa.RecordBatchReader, target: pa.Schema, allow_new: bool) -> None:
        self.error: LakebedError | None = None
        first = conform(pa.Table.from_batches([], schema=reader.schema), target, allow_new=allow_new)
        self._reader, self._target, self._allow_new = reader, target, allow_new
        self.stream = pa.RecordBatchReader.from_batches(first.schema, self._batches())

    def _batches(self) -> Any:
        offset = 0  # rows before this batch: messages name rows of the whole stream
        try:
            for batch in self._reader:  # a file's reader raises LakebedError on a line that does not read
                table = conform(pa.Table.from_batches([batch]), self._target, allow_new=self._allow_new,
                                offset=offset)
                offset += batch.num_rows
                yield from table.to_batches()
        except LakebedError as exc:
            self.error = exc
            raise

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.stream.__arrow_c_stream__(requested_schema)


def _file_columns(columns: pa.Schema, schema: pa.Schema) -> pa.Schema:
    """The table schema for a file with ``columns`` created with ``schema``: the file's
    columns in its order, typed as the schema names them (stored types otherwise), then
    the schema's other columns."""
    try:
        stored = storage_schema(columns)
    except SchemaError as exc:
        times = [f.name for f in columns if pa.types.is_time(f.type)]
        if times:  # a time of day (Avro time-millis/-micros) is stored as its number
            raise SchemaError(f"{exc} (e.g. read it as milliseconds or microseconds since midnight with "
                              f"schema={{{times[0]!r}: 'int64'}})") from None
        raise
    fields = [schema.field(f.name) if f.name in schema.names else f for f in stored]
    return pa.schema(fields + [f for f in schema if f.name not in stored.names])


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidArgument(f"as_of {value!r} is not an ISO timestamp") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
