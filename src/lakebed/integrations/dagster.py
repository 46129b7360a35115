"""Dagster: a lake as a resource, and an IO manager that keeps asset outputs as versioned
lakebed tables with lineage.

- :class:`LakebedResource` opens a lake (a directory, or ``http(s)://`` with an API key)
  for assets and ops: ``lakebed.get_lake()``.
- :class:`LakebedIOManager` writes each asset output (a pyarrow Table, a pandas or polars
  DataFrame) to the table ``<namespace>.<name>`` and reads it back for downstream assets,
  at its latest version or at the version pinned in the input's metadata
  (``AssetIn(metadata={"version": 3})``). The output's materialization carries the table
  version written (``lakebed/version``), its row count and its column schema. Every write
  records lineage edges (``lake.lineage.record``, embedded or served) from the table versions
  the step read to the table version it wrote (kind ``dagster``, with the Dagster run id).

Needs the ``dagster`` extra (``pip install 'lakebed[dagster]'``).

Example:
    >>> import tempfile, dagster as dg, pyarrow as pa, pyarrow.compute as pc
    >>> import lakebed
    >>> from lakebed.integrations.dagster import LakebedIOManager, LakebedResource
    >>> @dg.asset(key_prefix="silver")
    ... def users() -> pa.Table:
    ...     return pa.table({"id": [1, 2, 3], "plan": ["free", "pro", "pro"]})
    >>> @dg.asset(key_prefix="gold", ins={"users": dg.AssetIn(key=["silver", "users"])})
    ... def pro_users(users: pa.Table) -> pa.Table:
    ...     return users.filter(pc.equal(users["plan"], "pro"))
    >>> path = tempfile.mkdtemp() + "/lake"
    >>> io = LakebedIOManager(lake=LakebedResource(location=path))
    >>> with dg.DagsterInstance.ephemeral() as instance:
    ...     result = dg.materialize([users, pro_users], resources={"io_manager": io}, instance=instance)
    >>> with lakebed.connect(path) as lake:
    ...     lake.tables.read("gold.pro_users").num_rows, lake.lineage.upstream("table:gold.pro_users@0").nodes
    (2, ['table:gold.pro_users@0', 'table:silver.users@0'])
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakebed._names import validate_name
from lakebed.errors import InvalidArgument, LakebedError, raise_missing_extra

if TYPE_CHECKING:
    import pyarrow as pa
    from dagster import ConfigurableIOManager, ConfigurableResource, InitResourceContext, InputContext, OutputContext
else:
    try:
        from dagster import ConfigurableIOManager, ConfigurableResource
    except ImportError:  # the classes below still import; using them raises MissingExtra

        class ConfigurableResource:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                raise_missing_extra("dagster", "dagster")

        ConfigurableIOManager = ConfigurableResource

__all__ = ["LakebedIOManager", "LakebedResource"]

LINEAGE_KIND = "dagster"

# -- one open lake per location and process ---------------------------------------------------
# An embedded lake admits one open handle per process (its writer lock), while Dagster sets
# up every resource instance of a run by itself (a resource and the copy nested in an IO
# manager are two instances): they share the lake, which closes when the last one lets go.
_open_lakes: dict[tuple[Any, ...], list[Any]] = {}
_open_guard = threading.Lock()


def _lake_key(location: str, api_key: str | None, catalog: str | None, read_only: bool) -> tuple[Any, ...]:
    if location.startswith(("http://", "https://", "lakebed+cluster://")):
        return (location, api_key)
    if location == ":memory:":
        raise InvalidArgument(
            "a Dagster resource cannot use location=':memory:' (each open would be a new, empty "
            "lake); give a directory or a server URL"
        )
    return (str(Path(location).expanduser().resolve()), catalog, read_only)


def _acquire(location: str, api_key: str | None, catalog: str | None, read_only: bool) -> tuple[Any, ...]:
    import lakebed

    key = _lake_key(location, api_key, catalog, read_only)
    with _open_guard:
        entry = _open_lakes.get(key)
        if entry is None:
            kwargs: dict[str, Any] = {}
            if location.startswith(("http://", "https://", "lakebed+cluster://")):
                kwargs["api_key"] = api_key
            else:
                kwargs["read_only"] = read_only
                if catalog is not None:
                    kwargs["catalog"] = catalog
            entry = _open_lakes[key] = [lakebed.connect(location, **kwargs), 0]
        entry[1] += 1
    return key


def _release(key: tuple[Any, ...]) -> None:
    with _open_guard:
        entry = _open_lakes.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _open_lakes[key]
    entry[0].close()


class LakebedResource(ConfigurableResource):
    """A lake for Dagster assets and ops.

    Config: ``location`` (a lake directory, or ``http(s)://host:port`` of ``lakebed
    serve``), ``api_key`` (served lakes), ``catalog`` (a ``postgresql://`` catalog of an
    embedded lake) and ``read_only``. The lake opens on the first :meth:`get_lake` and
    closes when the run's resources are torn down; resources of one process that name
    the same lake share one handle.

    An embedded lake has one writer process at a time: run its assets with Dagster's
    in-process executor (``dg.in_process_executor``), or serve the lake
    (``lakebed serve``) and give its URL when steps run in parallel processes.

    Example:
        >>> import tempfile, dagster as dg
        >>> from lakebed.integrations.dagster import LakebedResource
        >>> @dg.asset
        ... def tables_seen(lakebed: LakebedResource) -> None:
        ...     lakebed.get_lake().tables.create("bronze.hello", data=[{"n": 1}])
        >>> res = LakebedResource(location=tempfile.mkdtemp() + "/lake")
        >>> with dg.DagsterInstance.ephemeral() as instance:
        ...     dg.materialize([tables_seen], resources={"lakebed": res}, instance=instance).success
        True
    """

    location: str
    api_key: str | None = None
    catalog: str | None = None
    read_only: bool = False

    _key: Any = None

    def get_lake(self) -> Any:
        """The open lake (a :class:`lakebed.Lake`, or the client of a served lake)."""
        if self._key is None:
            self._key = _acquire(self.location, self.api_key, self.catalog, self.read_only)
        return _open_lakes[self._key][0]

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Let go of the lake (it closes when no resource of this process uses it)."""
        if self._key is not None:
            key, self._key = self._key, None
            _release(key)


def _schema(lake: Any, name: str, version: int) -> pa.Schema:
    """The stored schema of a table version (a served lake answers it with an empty read)."""
    if hasattr(lake, "catalog"):
        return lake.tables.schema(name, version)
    return lake.tables.read(name, version=version, where="FALSE").schema


def _table_name(path: Sequence[str], namespace: str) -> str:
    parts = list(path)
    if len(parts) == 1:
        return f"{namespace}.{parts[0]}"
    return f"{'__'.join(parts[:-1])}.{parts[-1]}"


def _int_version(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{where}: version must be a non-negative integer, got {value!r}")
    return value


def _arrow(obj: Any, table: str) -> pa.Table:
    import pyarrow as pa

    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(obj, preserve_index=False)
    if module == "polars":
        if type(obj).__name__ == "LazyFrame":
            obj = obj.collect()
        return obj.to_arrow()  # type: ignore[no-any-return]
    raise InvalidArgument(
        f"LakebedIOManager stores pyarrow Tables and pandas or polars DataFrames; the output for "
        f"{table!r} is a {type(obj).__module__}.{type(obj).__name__}"
    )


def _convert(table: pa.Table, want: Any) -> Any:
    """The table as the type the input asks for (pandas, polars, else Arrow)."""
    module = getattr(want, "__module__", "") or ""
    if module.split(".")[0] == "pandas" and getattr(want, "__name__", "") == "DataFrame":
        return table.to_pandas()
    if module.split(".")[0] == "polars" and getattr(want, "__name__", "") in ("DataFrame", "LazyFrame"):
        import polars as pl

        frame = pl.DataFrame(pl.from_arrow(table))
        return frame.lazy() if want.__name__ == "LazyFrame" else frame
    return table


def _literal(value: Any) -> str:
    from lakebed.tables._predicate import quote_string

    return quote_string(str(value))


class _Slice:
    """The rows of one or more partitions: a predicate for reads and deletes, and a check
    that written rows belong to them."""

    def __init__(self, column: str, keys: Sequence[str] | None, window: tuple[datetime, datetime] | None) -> None:
        self.column = column
        self.keys = list(keys or [])
        self.window = window

    def _bounds(self, arrow_type: Any) -> tuple[Any, Any, str]:
        import pyarrow as pa

        assert self.window is not None
        start, end = (w.astimezone(UTC) for w in self.window)
        if pa.types.is_date(arrow_type):
            return start.date(), end.date(), "DATE"
        if pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
            return start.replace(tzinfo=None), end.replace(tzinfo=None), "TIMESTAMP"
        if pa.types.is_timestamp(arrow_type):
            return start, end, "TIMESTAMP"
        raise InvalidArgument(
            f"partition column {self.column!r} of a time-partitioned asset must be a date or a "
            f"timestamp, not {arrow_type}"
        )

    def where(self, schema: pa.Schema) -> str:
        from lakebed.tables._predicate import quote_ident

        col = quote_ident(self.column)
        if self.window is None:
            return f"{col} IN ({', '.join(_literal(k) for k in self.keys)})"
        lo, hi, sql_type = self._bounds(schema.field(self.column).type)

        def text(v: Any) -> str:
            if isinstance(v, datetime):
                return _literal(v.replace(tzinfo=None).isoformat(sep=" "))
            return _literal(v.isoformat() if isinstance(v, date) else v)

        return f"{col} >= CAST({text(lo)} AS {sql_type}) AND {col} < CAST({text(hi)} AS {sql_type})"

    def check(self, table: pa.Table, name: str) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.column not in table.column_names:
            raise InvalidArgument(
                f"the output for {name!r} has no column {self.column!r}, which its partition_expr "
                "names; add the column (the partition key of each row)"
            )
        col = table[self.column]
        if col.null_count:
            raise InvalidArgument(f"partition column {self.column!r} of {name!r} has nulls")
        if self.window is None:
            inside = pc.is_in(pc.cast(col, pa.string()), value_set=pa.array(self.keys, pa.string()))
            what = f"the partition keys {self.keys}"
        else:
            lo, hi, _ = self._bounds(col.type)
            lo_s, hi_s = pa.scalar(lo, col.type), pa.scalar(hi, col.type)
            inside = pc.and_(pc.greater_equal(col, lo_s), pc.less(col, hi_s))
            what = f"the time window [{lo}, {hi})"
        if not pc.all(inside).as_py():
            bad = table.filter(pc.invert(inside))[self.column][0].as_py()
            raise InvalidArgument(
                f"the output for {name!r} has rows outside {what} being written (e.g. "
                f"{self.column}={bad!r}); a partition's output may hold only its own rows"
            )


def _slice(context: Any, metadata: Mapping[str, Any], name: str) -> _Slice | None:
    """The partition slice of an input or output context, or None (not partitioned)."""
    if not context.has_asset_partitions:
        return None
    column = metadata.get("partition_expr")
    if not isinstance(column, str) or not column:
        raise InvalidArgument(
            f"the partitioned asset stored as {name!r} needs metadata={{'partition_expr': '<column>'}} "
            "naming the column that holds each row's partition"
        )
    from dagster import MultiPartitionsDefinition, TimeWindowPartitionsDefinition

    pdef = context.asset_partitions_def
    if isinstance(pdef, MultiPartitionsDefinition):
        raise InvalidArgument(
            f"{name!r}: multi-dimensional partitions are not supported by LakebedIOManager; "
            "use one partition dimension"
        )
    if isinstance(pdef, TimeWindowPartitionsDefinition):
        window = context.asset_partitions_time_window
        return _Slice(column, None, (window.start, window.end))
    return _Slice(column, list(context.asset_partition_keys), None)


class LakebedIOManager(ConfigurableIOManager):
    """Stores asset outputs as lakebed tables and loads them for downstream assets.

    The asset key names the table: ``["silver", "users"]`` is ``silver.users``; a key of one
    part goes to the ``namespace`` config (default ``dagster``); longer prefixes are joined
    with ``__`` (``["lake", "silver", "users"]`` is ``lake__silver.users``). The asset
    metadata ``lakebed/table`` (``"ns.name"``) overrides it. Op outputs (not assets) go to
    ``<namespace>.<op>__<output>``.

    Writes: a missing table is created from the output; otherwise ``mode`` is
    ``overwrite`` (default: the output is the asset) or ``append``; ``schema_mode="merge"``
    adds new columns. The materialization metadata holds ``lakebed/version`` (the table
    version written), ``dagster/table_name``, ``dagster/row_count``, ``dagster/column_schema``
    and ``lakebed/inputs`` (the table versions the step read).

    Reads: the latest version, or ``AssetIn(metadata={"version": 3})`` for a pinned one,
    and ``{"columns": [...]}`` for some columns; returned as the input's annotation asks
    (pandas or polars DataFrame, else a pyarrow Table).

    Partitioned assets (one dimension: static, dynamic or time windows) name their
    partition column with the asset metadata ``partition_expr``. Writing a partition
    deletes that partition's rows and appends the output (whose rows must all belong to
    it): two table versions; if the append fails, the table is restored to its content
    before the delete. Downstream inputs read only their partitions' rows.

    Lineage (embedded and served lakes): edges ``table:<input>@<version> -> table:<output>@<version>``
    of kind ``dagster`` with the Dagster run id, job and asset in their properties.

    Example:
        >>> import tempfile, dagster as dg, pandas as pd
        >>> import lakebed
        >>> from lakebed.integrations.dagster import LakebedIOManager, LakebedResource
        >>> @dg.asset(key_prefix="bronze", metadata={"partition_expr": "day"},
        ...           partitions_def=dg.StaticPartitionsDefinition(["mon", "tue"]))
        ... def visits(context) -> pd.DataFrame:
        ...     return pd.DataFrame({"day": [context.partition_key] * 2, "n": [1, 2]})
        >>> path = tempfile.mkdtemp() + "/lake"
        >>> io = LakebedIOManager(lake=LakebedResource(location=path))
        >>> with dg.DagsterInstance.ephemeral() as instance:
        ...     for day in ("mon", "tue", "mon"):
        ...         _ = dg.materialize([visits], partition_key=day, resources={"io_manager": io},
        ...                            instance=instance)
        >>> with lakebed.connect(path) as lake:
        ...     lake.tables.read("bronze.visits").num_rows
        4
    """

    lake: LakebedResource
    namespace: str = "dagster"
    mode: Literal["overwrite", "append"] = "overwrite"
    schema_mode: str | None = None  # None or "merge" (checked in __init__)
    record_lineage: bool = True

    _reads: Any = None

    def __init__(self, **config: Any) -> None:
        mode, schema_mode = config.get("mode", "overwrite"), config.get("schema_mode")
        if mode not in ("overwrite", "append"):
            raise InvalidArgument(f"LakebedIOManager mode must be 'overwrite' or 'append', got {mode!r}")
        if schema_mode not in (None, "merge"):
            raise InvalidArgument(f"LakebedIOManager schema_mode must be None or 'merge', got {schema_mode!r}")
        namespace = config.get("namespace", "dagster")
        try:
            validate_name("table", namespace, "namespace")
        except InvalidArgument as exc:
            raise InvalidArgument(f"LakebedIOManager namespace: {exc}") from None
        super().__init__(**config)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._reads = {}

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self._reads = {}

    # -- names ----------------------------------------------------------------------------
    def _name(self, context: Any, metadata: Mapping[str, Any], asset_key: Any = None) -> str:
        """The table of an output context (or of ``asset_key``), checked."""
        from lakebed.tables import parse_name

        override = metadata.get("lakebed/table")
        if asset_key is None and context.has_asset_key:
            asset_key = context.asset_key
        if override is not None:
            name = str(override)
            source = f"the metadata lakebed/table={override!r}"
        elif asset_key is not None:
            name = _table_name(asset_key.path, self.namespace)
            source = f"the asset key {asset_key.to_user_string()!r}"
        else:
            op, output = context.op_def.name, context.name
            name = f"{self.namespace}.{op if output == 'result' else f'{op}__{output}'}"
            source = f"the output {output!r} of op {op!r}"
        try:
            parse_name(name)
        except InvalidArgument as exc:
            raise InvalidArgument(
                f"{source} maps to the table name {name!r}, which is not valid ({exc}); rename the "
                "asset or set the asset metadata 'lakebed/table' to 'namespace.name'"
            ) from None
        return name

    def _step(self, context: Any) -> tuple[str, str]:
        step = context.step_context
        return step.run_id, step.step.key

    # -- writing --------------------------------------------------------------------------
    def handle_output(self, context: OutputContext, obj: Any) -> None:
        """Write the output to its table and record the version, counts and lineage."""
        from dagster import MetadataValue, TableColumn, TableSchema

        if obj is None:
            context.log.info("LakebedIOManager: the output is None; nothing written")
            return
        metadata = context.definition_metadata or {}
        name = self._name(context, metadata)
        table = _arrow(obj, name)
        lake = self.lake.get_lake()
        part = _slice(context, metadata, name)
        if part is not None:
            part.check(table, name)
        created = not lake.tables.exists(name)
        if created:
            version = int(lake.tables.create(name, data=table))
        elif part is not None:
            version = self._replace_partition(lake, name, table, part)
        else:
            version = int(lake.tables.write(name, table, mode=self.mode, schema_mode=self.schema_mode))
        inputs = self._inputs(context)
        if self.record_lineage and inputs:  # embedded or served alike
            props = {"dagster_run_id": context.run_id, "dagster_job": context.job_name,
                     "dagster_asset": context.asset_key.to_user_string() if context.has_asset_key else None}
            for ref in inputs:
                lake.lineage.record(ref, f"table:{name}@{version}", LINEAGE_KIND, props)
        stored = _schema(lake, name, version)
        schema = TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in stored])
        whole = part is None and (created or self.mode == "overwrite")  # the output is the table
        count = table.num_rows if whole else int(lake.tables.info(name)["num_rows"])
        meta: dict[str, Any] = {  # Dagster's standard table keys, then lakebed's
            "dagster/table_name": MetadataValue.text(name),
            "dagster/row_count": MetadataValue.int(count),
            "dagster/column_schema": MetadataValue.table_schema(schema),
            "lakebed/version": MetadataValue.int(version),
            "lakebed/inputs": MetadataValue.json(list(inputs)),
        }
        if part is not None:
            meta["dagster/partition_row_count"] = MetadataValue.int(table.num_rows)
        context.add_output_metadata(meta)

    def _replace_partition(self, lake: Any, name: str, table: pa.Table, part: _Slice) -> int:
        before = int(lake.tables.version(name))
        lake.tables.delete(name, where=part.where(_schema(lake, name, before)))
        try:
            return int(lake.tables.write(name, table, mode="append", schema_mode=self.schema_mode))
        except LakebedError:
            if int(lake.tables.version(name)) != before:
                lake.tables.restore(name, before)  # the partition's old rows come back
            raise

    def _inputs(self, context: OutputContext) -> list[str]:
        """Refs of the tables this step read that the output depends on."""
        reads = (self._reads or {}).get((context.run_id, context.step_key), {})
        if not reads:
            return []
        deps: set[str] | None = None
        if context.has_asset_key:
            try:
                deps = {d.asset_key.to_user_string() for d in context.asset_spec.deps}
            except Exception:  # no spec for this output: keep every read
                deps = None
        return sorted({ref for key, ref in reads.items() if deps is None or key in deps})

    # -- reading --------------------------------------------------------------------------
    def load_input(self, context: InputContext) -> Any:
        """Read the upstream table (latest, or the pinned ``version``) for an input."""
        from dagster import MetadataValue

        upstream = context.upstream_output
        up_meta: Mapping[str, Any] = (upstream.definition_metadata if upstream is not None else None) or {}
        if context.has_asset_key:
            name = self._name(upstream, up_meta, asset_key=context.asset_key)
        elif upstream is not None:
            name = self._name(upstream, up_meta)
        else:
            raise InvalidArgument("LakebedIOManager loads inputs of assets or of op outputs it stored")
        meta = context.definition_metadata or {}
        lake = self.lake.get_lake()
        pinned = meta.get("version")
        version = (_int_version(pinned, f"the input {context.name!r}") if pinned is not None
                   else int(lake.tables.version(name)))
        columns = meta.get("columns")
        part = _slice(context, up_meta, name) if context.has_asset_key else None
        where = part.where(_schema(lake, name, version)) if part is not None else None
        table = lake.tables.read(name, version=version, columns=columns, where=where)
        key = context.asset_key.to_user_string() if context.has_asset_key else name
        if self._reads is None:
            self._reads = {}
        self._reads.setdefault(self._step(context), {})[key] = f"table:{name}@{version}"
        context.add_input_metadata({"lakebed/table": name, "lakebed/version": MetadataValue.int(version),
                                    "dagster/row_count": MetadataValue.int(table.num_rows)})
        want = context.dagster_type.typing_type if context.dagster_type is not None else None
        return _convert(table, want)


if ConfigurableResource.__module__ == __name__:  # dagster is missing
    __doc__ = LakebedResource.__doc__ = LakebedIOManager.__doc__ = (
        "Needs the dagster extra: pip install 'lakebed[dagster]'."
    )
