"""The interface of versioned tables, implemented by the embedded class and by the HTTP
client alike (see :mod:`lakebed.api`)."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

if TYPE_CHECKING:
    import pyarrow.dataset as pads


class TablesAPI(ABC):
    """Versioned tables, addressed as ``namespace.name``: every write makes a new version,
    and any version can be read back until it is vacuumed.

    Embedded: :class:`lakebed.tables.Tables` (``lake.tables``); remote: the same methods over
    HTTP (``lakebed.connect("http://...").tables``)."""

    @abstractmethod
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
        """Create a table from a schema and/or data; returns the new version (0).

        ``data`` may be the path (``str`` or ``pathlib.Path``) of a CSV, JSON Lines, Avro or
        Parquet file, in the ``format`` of its extension or the one given (``"csv"``,
        ``"jsonl"``, ``"avro"``, ``"parquet"``). It is read in blocks and written as one
        commit; a line that does not read raises an error naming it, and no table is
        created. With a file, ``schema`` may name only some columns: those are read as the
        given types (``{"zip": "string"}`` keeps leading zeros), the others are inferred.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     lake.tables.create("silver.users", schema={"id": "int64", "name": "string"})
            0
        """

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether the table exists."""

    @abstractmethod
    def list(self, namespace: str | None = None) -> builtins.list[str]:
        """Names of the tables, optionally of one namespace, sorted."""

    @abstractmethod
    def drop(self, name: str) -> None:
        """Drop the table and delete its files (every version)."""

    @abstractmethod
    def info(self, name: str) -> dict[str, Any]:
        """Name, location, schema, version, row count, description, partitioning."""

    @abstractmethod
    def schema(self, name: str, version: int | None = None) -> pa.Schema:
        """The table's Arrow schema (at a version)."""

    @abstractmethod
    def version(self, name: str) -> int:
        """The latest version number."""

    @abstractmethod
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
        """Append or overwrite; returns the new version.

        ``data`` may be the path of a CSV, JSON Lines, Avro or Parquet file (see
        :meth:`create`); its columns are read as the table's types, and it is written as
        one commit, or not at all when a line does not read or fit.

        With ``schema_mode="merge"`` new columns are added (old rows read them as null);
        otherwise a column or type that does not fit raises SchemaError and nothing is
        written. ``commit_metadata`` (keys starting with ``lakebed.``) is stored in the
        commit, atomically with the rows, and shown by :meth:`history` (stream
        processors record the offsets they reached there).
        """

    @abstractmethod
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

    @abstractmethod
    def delete(self, name: str, where: str) -> int:
        """Delete the rows matching a predicate; returns the new version (the current one
        when no row matches).

        ``where`` is parsed as for :meth:`read` (one expression over the table's columns;
        anything else raises InvalidArgument and changes nothing), and it deletes exactly
        the rows that ``read(name, where=...)`` returns: the rows are counted by the
        engine that reads (DuckDB) and the one that deletes (delta-rs) before the delete,
        and a predicate on which they disagree is refused.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     _ = lake.tables.create("gold.subs", data=[{"id": 1, "plan": "trial"}, {"id": 2, "plan": "pro"}])
            ...     lake.tables.delete("gold.subs", where="plan = 'trial'")
            ...     lake.tables.read("gold.subs").to_pylist()
            1
            [{'id': 2, 'plan': 'pro'}]
        """

    @abstractmethod
    def read(
        self,
        name: str,
        version: int | None = None,
        as_of: datetime | str | None = None,
        columns: Sequence[str] | None = None,
        where: str | None = None,
    ) -> pa.Table:
        """Read the table (at a version or a point in time) as a pyarrow Table.

        ``where`` is one SQL expression over the table's columns (``"plan = 'trial' AND
        amount > 10"``): comparisons, AND/OR/NOT, arithmetic, IN (list), LIKE/ILIKE,
        IS [NOT] NULL, BETWEEN, casts and a few scalar functions. It is parsed and
        written back out by lakebed before DuckDB runs it over the scan (with filter
        pushdown); anything else (a second statement, a comment, a subquery, a table
        function, an unknown column) raises InvalidArgument.
        Use ``.to_pandas()`` or ``polars.from_arrow()`` on the result for data frames.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     _ = lake.tables.create("gold.nums", data=[{"n": 1}, {"n": 2}, {"n": None}])
            ...     lake.tables.read("gold.nums", where="n > 1 OR n IS NULL").to_pylist()
            [{'n': 2}, {'n': None}]
        """

    @abstractmethod
    def dataset(self, name: str, version: int | None = None) -> pads.Dataset:
        """A pyarrow dataset over the table's files (for zero-copy scans with DuckDB)."""

    @abstractmethod
    def history(self, name: str, limit: int | None = None) -> builtins.list[dict[str, Any]]:
        """Commits, newest first: version, timestamp (UTC), operation, parameters, metrics."""

    @abstractmethod
    def restore(self, name: str, version: int) -> int:
        """Make the table's content that of ``version`` again, as a new version."""

    @abstractmethod
    def flush(self) -> None:
        """Make every table commit made so far durable. Under ``fsync="batch"`` commits are
        fsynced here and when the lake closes (under ``"always"`` each commit already was
        before it returned; under ``"never"`` this does nothing).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:", fsync="batch") as lake:
            ...     _ = lake.tables.create("bronze.b", data=[{"x": 1}])
            ...     lake.tables.flush()  # the create is on the disk now
            ...     lake.tables.read("bronze.b").num_rows
            1
        """

    @abstractmethod
    def vacuum(self, name: str, retain: timedelta = timedelta(days=7), dry_run: bool = False) -> builtins.list[str]:
        """Delete data files no longer referenced by versions newer than ``retain``.

        Versions older than ``retain`` may no longer be readable afterwards.
        """

    @abstractmethod
    def sql(
        self,
        query: str,
        *,
        tables: Sequence[str] | None = None,
        timeout: float | None = None,
        max_rows: int | None = None,
    ) -> pa.Table:
        """Run one DuckDB query over the lake's tables, referenced as ``namespace.name``.

        The query runs sandboxed: it sees the lake's tables (only those named in
        ``tables``, when given; the others are unknown to it) and nothing of the host: no
        files, URLs, extensions, settings or attached databases. It is one statement that
        returns rows (SELECT, WITH, VALUES, ...). ``timeout`` (seconds) interrupts a query
        that runs longer, and a result of more than ``max_rows`` rows raises rather than
        being cut short; both raise InvalidArgument.

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     _ = lake.tables.create("gold.t", data=[{"x": 1}, {"x": 2}])
            ...     lake.tables.sql("SELECT max(x) AS m FROM gold.t", timeout=5, max_rows=10).to_pylist()
            [{'m': 2}]
        """
