"""Data contracts: definitions versioned in the catalog, enforcement on table writes,
validation of stored versions, and the stored results.

Example:
    >>> import lakebed
    >>> from lakebed.quality import not_null, between
    >>> with lakebed.connect(":memory:") as lake:
    ...     _ = lake.tables.create("silver.users", data=[{"id": 1, "age": 30}])
    ...     c = lake.quality.contract("silver.users", checks=[not_null("id"), between("age", 0, 130)])
    ...     try:
    ...         lake.tables.write("silver.users", [{"id": None, "age": 200}])
    ...     except lakebed.QualityError as exc:
    ...         print([(o.name, o.failing) for o in exc.result.failed])
    ...     lake.tables.version("silver.users")
    [('not_null(id)', 1), ('between(age, 0, 130)', 1)]
    0
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from lakebed.api._quality import QualityAPI
from lakebed.errors import InvalidArgument, NotFound, QualityError
from lakebed.quality._checks import (
    SAMPLES,
    Check,
    Freshness,
    Outcome,
    RowCount,
    Unique,
    _pl,
    check_from_spec,
    check_masks,
    jsonable,
    run_checks,
)

if TYPE_CHECKING:
    import polars as pl

    from lakebed.lake import Lake

OnViolation = Literal["reject", "warn", "quarantine"]
_ACTIONS = ("reject", "warn", "quarantine")
QUARANTINE_SUFFIX = "__quarantine"
REASONS = "_lakebed_reasons"
MAX_CHECKS = 200


# -- contracts ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Contract:
    """What a table promises: column types and checks, and what a write that breaks them
    does (``reject``: raise QualityError, write nothing; ``quarantine``: failing rows go to
    ``<table>__quarantine`` with their reasons, the rest to the table; ``warn``: write all,
    record the result)."""

    table: str
    checks: tuple[Check, ...] = ()
    columns: dict[str, str] | None = None
    on_violation: OnViolation = "reject"
    description: str | None = None
    version: int | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        from lakebed._names import parse_name

        if not isinstance(self.table, str):
            raise InvalidArgument(f"a contract names a table ('silver.users') or a stream ('stream:clicks'), "
                                  f"got {self.table!r}")
        stream = stream_name(self.table)
        if stream is None:
            parse_name(self.table)
        if self.on_violation not in _ACTIONS:
            raise InvalidArgument(f"on_violation must be one of {list(_ACTIONS)}, got {self.on_violation!r}")
        if not isinstance(self.checks, tuple):
            object.__setattr__(self, "checks", tuple(self.checks))
        if len(self.checks) > MAX_CHECKS:
            raise InvalidArgument(f"a contract holds at most {MAX_CHECKS} checks, got {len(self.checks)}")
        for c in self.checks:
            if not isinstance(c, Check):
                raise InvalidArgument(
                    f"contract checks come from lakebed.quality (not_null, unique, between, ...), got {c!r}"
                )
        labels = [c.label for c in self.checks]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise InvalidArgument(f"two checks share the name {dupes[0]!r}; give one of them name=...")
        if self.columns is not None:
            if not isinstance(self.columns, dict):
                raise InvalidArgument("columns= maps column names to types, e.g. {'id': 'int64'}")
            for col, t in self.columns.items():
                _type_rule(col, t)
        if stream is not None:
            judged = [c.label for c in self.checks if c.level == "dataset"]
            if judged:
                raise InvalidArgument(
                    f"contract of {self.table}: {judged[0]} judges a whole table; a stream's contract judges "
                    "each append, so it takes row checks (and columns=); put dataset checks on the table the "
                    "stream lands in"
                )
        parse_name(quarantine_table(self.table))
        if not self.checks and not self.columns:
            raise InvalidArgument("a contract needs checks=[...] or columns={...}")

    def to_spec(self) -> dict[str, Any]:
        return {
            "checks": [c.to_spec() for c in self.checks],
            "columns": {k: _type_text(v) for k, v in self.columns.items()} if self.columns else None,
            "on_violation": self.on_violation,
            "description": self.description,
        }

    @classmethod
    def from_spec(cls, table: str, spec: dict[str, Any], version: int | None = None) -> Contract:
        if not isinstance(spec, dict):
            raise InvalidArgument(f"a contract spec is a dict, got {type(spec).__name__}")
        return cls(table, tuple(check_from_spec(s) for s in spec.get("checks") or []), spec.get("columns"),
                   spec.get("on_violation", "reject"), spec.get("description"), version)

    def to_dict(self) -> dict[str, Any]:
        """The table, the version and the spec (:meth:`to_spec`) in one dict."""
        return {"table": self.table, "version": self.version, **self.to_spec()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Contract:
        """The contract whose :meth:`to_dict` is ``d``."""
        if not isinstance(d, dict) or not isinstance(d.get("table"), str):
            raise InvalidArgument("a contract dict names its table: {'table': 'silver.users', 'checks': [...]}")
        version = d.get("version")
        return cls.from_spec(d["table"], d, None if version is None else int(version))

    def bind(self, schema: pa.Schema) -> None:
        """Check every check against the table's columns (InvalidArgument naming the first
        that does not fit)."""
        for c in self.checks:
            c.bind(schema)

    @property
    def row_checks(self) -> list[Check]:
        return [c for c in self.checks if c.level == "row"]


def stream_name(target: str) -> str | None:
    """``"stream:clicks"`` -> ``"clicks"`` (checked); None for a table name."""
    if not target.startswith("stream:"):
        return None
    from lakebed.streams._spec import check_stream_name

    return check_stream_name(target[len("stream:"):])


def quarantine_table(target: str) -> str:
    """Where a contract's quarantined rows go: ``<table>__quarantine``, or for a stream
    ``quarantine.<stream>``."""
    stream = stream_name(target)
    return f"quarantine.{stream}" if stream is not None else target + QUARANTINE_SUFFIX


def _type_text(t: Any) -> str:
    return t if isinstance(t, str) else str(t)


_FAMILIES = {
    "int": pa.types.is_integer, "integer": pa.types.is_integer, "float": pa.types.is_floating,
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t),
    "timestamp": pa.types.is_timestamp, "date": pa.types.is_date, "bool": pa.types.is_boolean,
    "boolean": pa.types.is_boolean, "list": lambda t: pa.types.is_list(t) or pa.types.is_large_list(t)
    or pa.types.is_fixed_size_list(t),
}


def _type_rule(col: str, t: Any) -> None:
    if isinstance(t, pa.DataType):
        return
    if not isinstance(t, str) or not t:
        raise InvalidArgument(f"columns[{col!r}] must be a type such as 'int64', 'string' or 'timestamp'")
    if t in _FAMILIES:
        return
    try:
        pa.type_for_alias(t)
    except ValueError:
        if not t.startswith(("timestamp[", "list<", "fixed_size_list<", "decimal")):
            raise InvalidArgument(
                f"columns[{col!r}]: unknown type {t!r}; use an Arrow type name ('int64', 'float32', "
                f"'string', 'timestamp[us, tz=UTC]') or a family ({', '.join(sorted(_FAMILIES))})"
            ) from None


def type_matches(actual: pa.DataType, expected: Any) -> bool:
    from lakebed.tables._arrow import storage_type

    if isinstance(expected, pa.DataType):
        return storage_type(actual) == storage_type(expected)
    if expected in _FAMILIES:
        return bool(_FAMILIES[expected](actual))
    try:
        return storage_type(actual) == storage_type(pa.type_for_alias(expected))
    except ValueError:
        return str(storage_type(actual)) == expected or str(actual) == expected


def schema_outcome(contract: Contract, schema: pa.Schema, rows: int) -> Outcome | None:
    """The ``columns={...}`` part of a contract, judged against a schema."""
    if not contract.columns:
        return None
    problems = []
    for col, t in contract.columns.items():
        if col not in schema.names:
            problems.append(f"{col}: missing")
        elif not type_matches(schema.field(col).type, t):
            problems.append(f"{col}: {schema.field(col).type} (expected {_type_text(t)})")
    return Outcome("schema", "schema", "dataset", None, not problems, len(problems), rows,
                   "; ".join(problems) or "columns and types as declared")


# -- results --------------------------------------------------------------------------------
@dataclasses.dataclass
class ValidationResult:
    """One validation: of a stored table version, of a write, or of data in memory.

    ``action`` says what happened: ``validate`` (on demand), ``accept`` (a write that
    passed), ``reject`` (a write refused: nothing written, ``table_version`` is None),
    ``quarantine`` (failing rows went to ``<table>__quarantine``), ``warn`` (written anyway).
    """

    id: int | None
    table: str | None
    table_version: int | None
    contract_version: int | None
    passed: bool
    action: str
    rows: int
    checks: list[Outcome]
    created_at: dt.datetime
    duration_ms: float

    @property
    def failed(self) -> list[Outcome]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    @property
    def ref(self) -> str | None:
        """The lineage ref of the stored result (``quality:<id>``)."""
        return None if self.id is None else f"quality:{self.id}"

    def outcome(self, name: str) -> Outcome:
        """The outcome of the check named ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise NotFound(f"no check named {name!r} in this result; checks: {[c.name for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "table": self.table, "table_version": self.table_version,
            "contract_version": self.contract_version, "passed": self.passed, "action": self.action,
            "rows": self.rows, "checks": [c.to_dict() for c in self.checks],
            "created_at": self.created_at.isoformat(), "duration_ms": round(self.duration_ms, 3),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationResult:
        """The result whose :meth:`to_dict` is ``d``."""
        try:
            return cls(
                _opt_int(d["id"]), d["table"], _opt_int(d["table_version"]), _opt_int(d["contract_version"]),
                bool(d["passed"]), str(d["action"]), int(d["rows"]), [Outcome.from_dict(c) for c in d["checks"]],
                _datetime(d["created_at"]), float(d["duration_ms"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a validation result dict: {exc!r}") from None

    def summary(self) -> str:
        """One line per failed check: name, failing rows, detail."""
        if self.passed:
            return f"all {len(self.checks)} checks passed on {self.rows:,} rows"
        lines = []
        for c in self.failed:
            what = c.detail if c.level == "dataset" else f"{c.failing:,} of {c.rows:,} rows"
            lines.append(f"{c.name}: {what}")
        return "; ".join(lines)

    def __repr__(self) -> str:
        where = f"{self.table}@{self.table_version}" if self.table else "data"
        verdict = "passed" if self.passed else f"FAILED {len(self.failed)}/{len(self.checks)}"
        return f"<ValidationResult {self.id} {where} {self.action} {verdict}>"


def _result_from_row(r: Any) -> ValidationResult:
    return ValidationResult(
        r.id, r.target, r.table_version, r.contract_version, bool(r.passed), r.action, int(r.rows),
        [Outcome.from_dict(c) for c in r.checks], dt.datetime.fromtimestamp(r.created_at, tz=dt.UTC),
        float(r.duration_ms),
    )


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _datetime(v: Any) -> dt.datetime:
    """An ISO timestamp (as :meth:`datetime.isoformat` writes it) or a datetime."""
    if isinstance(v, dt.datetime):
        return v
    if not isinstance(v, str):
        raise InvalidArgument(f"a timestamp is ISO text, got {v!r}")
    try:
        return dt.datetime.fromisoformat(v)
    except ValueError:
        raise InvalidArgument(f"a timestamp is ISO text, got {v!r}") from None


# -- reading stored data with polars --------------------------------------------------------
def table_frame(lake: Lake, name: str, version: int | None, columns: Sequence[str] | None,
                dt_: Any = None) -> pl.DataFrame:
    """The table's columns at ``version`` as a polars DataFrame, read from its Parquet files
    (``dt_``: the DeltaTable at that version, when the caller has it open already)."""
    pl = _pl()
    tables = lake.tables
    if dt_ is None:
        dt_ = tables._delta(name, version)
    schema = pa.schema(dt_.schema().to_arrow())  # type: ignore[call-overload]
    cols = list(dict.fromkeys(columns)) if columns is not None else schema.names
    partitioned = bool(dt_.metadata().partition_columns)
    files = dt_.file_uris()
    if not files:
        return pl.DataFrame(pa.Table.from_pylist([], schema=pa.schema([schema.field(c) for c in cols])))
    if not partitioned:
        try:
            return pl.scan_parquet(files, missing_columns="insert", extra_columns="ignore").select(cols).collect()
        except Exception:  # unusual files: fall back to Arrow's reader below
            pass
    try:
        return pl.from_arrow(dt_.to_pyarrow_table(columns=cols))  # type: ignore[return-value]
    except (pa.ArrowException, OSError) as exc:
        tables._raise_if_corrupt(name, exc)
        raise


# -- the gate on writes ---------------------------------------------------------------------
class WriteGate:
    """Checks a batch against a table's contract before it is written (see Tables.write)."""

    def __init__(self, lake: Lake, name: str, contract: Contract) -> None:
        self.lake, self.name, self.contract = lake, name, contract
        self.result: ValidationResult | None = None
        self._started = time.perf_counter()

    def check(self, batch: pa.Table, mode: str, merge_keys: Sequence[str] | None = None) -> pa.Table:
        """The rows to write: all of ``batch``, or (quarantine) the passing ones; raises
        QualityError (reject, or a dataset check failing under quarantine) and writes the
        quarantined rows to ``<table>__quarantine``."""
        pl = _pl()
        c = self.contract
        df = pl.from_arrow(batch)
        assert isinstance(df, pl.DataFrame)
        schema = batch.schema
        c.bind(schema)
        rest = self._remaining(mode, merge_keys, df)
        overrides: dict[int, Any] = {}
        extra: dict[str, Any] = {}
        dataset: dict[int, tuple[bool, str]] = {}
        for i, check in enumerate(c.checks):
            if isinstance(check, Unique) and rest is not None:
                stored = rest.select(list(check.keys)).unique()
                seen = (df.select(list(check.keys)).with_row_index("__lakebed_i")
                        .join(stored, on=list(check.keys), how="semi")["__lakebed_i"])
                flag = pl.Series(f"__lakebed_u{i}", [False] * df.height, dtype=pl.Boolean)
                if seen.len():
                    flag = flag.scatter(seen, True)
                extra[flag.name] = flag
                overrides[i] = (check.violation(schema) | pl.col(flag.name)) & check.not_null()
            elif isinstance(check, RowCount):
                total = df.height + (rest.height if rest is not None else 0)
                dataset[i] = check.judge(total)
            elif isinstance(check, Freshness):
                newest = df[check.column].max()
                if rest is not None and rest.height:
                    old = rest[check.column].max()
                    newest = old if newest is None or (old is not None and old > newest) else newest  # type: ignore[operator]
                dataset[i] = check.judge(newest)
        work = df.with_columns(**extra) if extra else df
        outcomes, masks = check_masks(work, c.checks, overrides=overrides, dataset=dataset,
                                      sample_columns=df.columns)
        so = schema_outcome(c, schema, df.height)
        if so is not None:
            outcomes.insert(0, so)
        passed = all(o.passed for o in outcomes)
        dataset_failed = [o for o in outcomes if not o.passed and o.level == "dataset"]
        action = "accept" if passed else c.on_violation
        if not passed and c.on_violation == "quarantine" and dataset_failed:
            action = "reject"  # no split of rows mends a failed dataset check
        self.outcomes, self.action, self.rows = outcomes, action, df.height
        if action == "reject":
            result = self.record(None)
            raise QualityError(_reject_message(self.name, result, c, quarantine_fallback=c.on_violation
                                               == "quarantine"), result)
        if action != "quarantine":
            return batch
        flags = masks.select([pl.col(f"__v{i}") for i in range(len(c.checks)) if f"__v{i}" in masks.columns])
        bad = flags.select(pl.any_horizontal(pl.all()).alias("bad"))["bad"]
        reasons = flags.select(
            pl.concat_list([pl.when(pl.col(f"__v{i}")).then(pl.lit(ch.label)).otherwise(pl.lit(None, pl.String))
                            for i, ch in enumerate(c.checks) if f"__v{i}" in masks.columns])
            .list.drop_nulls().alias(REASONS)
        )[REASONS]
        mask = bad.to_arrow()
        self.kept_rows = [i for i, b in enumerate(bad.to_list()) if not b]
        failing = batch.filter(mask)
        self._quarantine(failing, reasons.filter(bad).to_arrow())
        return batch.filter(pc.invert(mask))

    def _remaining(self, mode: str, merge_keys: Sequence[str] | None, df: pl.DataFrame) -> pl.DataFrame | None:
        """The stored rows the write keeps (None when it keeps none: an overwrite, or an
        append to a stream, judged alone), as far as the contract's unique/freshness checks
        and row count need them."""
        if mode in ("overwrite", "stream"):
            return None
        pl = _pl()
        need: list[str] = []
        for check in self.contract.checks:
            if isinstance(check, Unique | Freshness):
                need.extend(check.columns())
        if mode == "merge" and merge_keys:
            need.extend(merge_keys)
        need = list(dict.fromkeys(need))
        wants_count = any(isinstance(c, RowCount) for c in self.contract.checks)
        if not need and not wants_count:
            return None
        if not need:  # only the row count: n rows of nothing
            n = int(self.lake.tables._delta(self.name).to_pyarrow_dataset().count_rows())
            return pl.select(pl.repeat(None, n, dtype=pl.Null).alias("__lakebed_n"))
        stored = table_frame(self.lake, self.name, None, need)
        if mode == "merge" and merge_keys:
            stored = stored.join(df.select(list(merge_keys)), on=list(merge_keys), how="anti")
        return stored

    def _quarantine(self, rows: pa.Table, reasons: pa.Array) -> None:
        if rows.num_rows == 0:
            return
        qname = quarantine_table(self.name)
        now = dt.datetime.now(dt.UTC)
        extra = {
            REASONS: reasons.cast(pa.list_(pa.string())),
            "_lakebed_quarantined_at": pa.array([now] * rows.num_rows, pa.timestamp("us", tz="UTC")),
            "_lakebed_contract_version": pa.array([self.contract.version or 0] * rows.num_rows, pa.int64()),
        }
        table = rows
        for k, v in extra.items():
            table = table.append_column(k, v)
        tables = self.lake.tables
        if tables.exists(qname):
            tables.write(qname, table, schema_mode="merge")
        else:
            tables.create(qname, data=table, description=f"rows refused by the data contract of {self.name}")
        if stream_name(self.name) is not None:
            self.lake.catalog.add_lineage(f"stream:{stream_name(self.name)}", f"table:{qname}",
                                          "quarantine")

    def record(self, table_version: int | None) -> ValidationResult:
        """Store the result (with lineage from the written version) and return it."""
        quality = self.lake.quality
        self.result = quality._store(self.name, table_version, self.contract.version, self.action,
                                     self.rows, self.outcomes, self._started)
        return self.result


def _reject_message(name: str, result: ValidationResult, c: Contract, *, quarantine_fallback: bool) -> str:
    parts = []
    for o in result.failed[:10]:
        what = o.detail if o.level == "dataset" else f"{o.failing:,} of {o.rows:,} rows fail"
        shown = dict(list(o.samples[0].items())[:4]) if o.samples else None
        sample = f", e.g. {shown}" if shown else ""
        parts.append(f"{o.name}: {what}{sample}")
    more = f" (and {len(result.failed) - 10} more)" if len(result.failed) > 10 else ""
    why = ("a dataset check failed, which quarantining rows cannot mend; " if quarantine_fallback else "")
    return (
        f"the write to {name!r} breaks its data contract (version {c.version}): " + "; ".join(parts) + more +
        f". Nothing was written ({why}result {result.ref}); fix the rows, or change the contract with "
        "lake.quality.contract(...) (on_violation='quarantine' sets failing rows aside)"
    )


# -- the area -------------------------------------------------------------------------------
@dataclasses.dataclass
class ContractChange:
    """What a plan does to the contract of one table: ``create``, ``update``, ``delete`` or
    nothing (``unchanged``), the version it makes (or has), and the changes line by line."""

    table: str
    action: Literal["create", "update", "delete", "unchanged"]
    version: int | None
    detail: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContractChange:
        """The change whose :meth:`to_dict` is ``d``."""
        try:
            action = d["action"]
            if action not in ("create", "update", "delete", "unchanged"):
                raise ValueError(f"unknown action {action!r}")
            return cls(str(d["table"]), action, _opt_int(d["version"]), [str(x) for x in d["detail"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a contract change dict: {exc!r}") from None


@dataclasses.dataclass
class ContractPlan:
    """What :meth:`Quality.apply` would change (or did)."""

    changes: list[ContractChange]

    @property
    def empty(self) -> bool:
        """True when nothing changes."""
        return all(c.action == "unchanged" for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContractPlan:
        """The plan whose :meth:`to_dict` is ``d``."""
        if not isinstance(d, dict) or not isinstance(d.get("changes"), list):
            raise InvalidArgument("a contract plan dict is {'changes': [...]}")
        return cls([ContractChange.from_dict(c) for c in d["changes"]])

    def __str__(self) -> str:
        lines = []
        for c in self.changes:
            mark = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}[c.action]
            lines.append(f"{mark} contract {c.table}" + (f" (v{c.version})" if c.version else ""))
            lines.extend(f"    {d}" for d in c.detail)
        return "\n".join(lines) or "no contracts"


def _diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    if old is None:
        return [f"+ {check_from_spec(s).label}" for s in new["checks"]]
    out = []
    old_checks = {check_from_spec(s).label: s for s in old.get("checks") or []}
    new_checks = {check_from_spec(s).label: s for s in new.get("checks") or []}
    out += [f"- {k}" for k in old_checks if k not in new_checks]
    out += [f"+ {k}" for k in new_checks if k not in old_checks]
    out += [f"~ {k}" for k in new_checks if k in old_checks and new_checks[k] != old_checks[k]]
    for key in ("columns", "on_violation", "description"):
        if old.get(key) != new.get(key):
            out.append(f"~ {key}: {old.get(key)!r} -> {new.get(key)!r}")
    return out


def current_contract(lake: Lake, name: str) -> Contract | None:
    """The contract in force for table ``name`` (None when there is none).

    A writable lake caches the answer: it holds the writer lock, so contracts change only
    through this handle (:meth:`Contracts.apply` and ``drop_contract`` clear the cache),
    and a write or an append asks once per call."""
    cache: dict[str, Contract | None] | None = None
    if not lake.read_only:
        cache = lake.__dict__.setdefault("_quality_contracts", {})
        if name in cache:
            return cache[name]
    found = _load_contract(lake, name)
    if cache is not None:
        cache[name] = found
    return found


def forget_contracts(lake: Lake) -> None:
    """Clear the cache of :func:`current_contract` (after contracts changed)."""
    lake.__dict__.pop("_quality_contracts", None)


def _load_contract(lake: Lake, name: str) -> Contract | None:
    import sqlalchemy as sa

    from lakebed.quality import _schema as qs

    t = qs.contracts
    with lake.catalog.connect() as conn:
        row = conn.execute(
            sa.select(t.c.version, t.c.spec, t.c.deleted).where(t.c.target == name).order_by(t.c.version.desc())
            .limit(1)
        ).first()
    if row is None or row.deleted:
        return None
    return Contract.from_spec(name, row.spec, row.version)


class Contracts(QualityAPI):
    """Mixin of :class:`lakebed.quality.Quality`: contracts, validation and results."""

    _lake: Lake

    # contracts
    def contract(
        self,
        table: str,
        *,
        checks: Iterable[Check] = (),
        columns: dict[str, Any] | None = None,
        on_violation: OnViolation = "reject",
        description: str | None = None,
    ) -> Contract:
        c = Contract(table, tuple(checks), columns, on_violation, description)
        self.apply([c])
        got = current_contract(self._lake, table)
        assert got is not None
        return got

    def plan(self, contracts: Iterable[Contract], *, prune: bool = False) -> ContractPlan:
        wanted = list(contracts)
        names = [c.table for c in wanted]
        if len(set(names)) != len(names):
            raise InvalidArgument("each table has one contract; the list names a table twice")
        changes = []
        for c in wanted:
            c.bind(self._target_schema(c.table))
            old = current_contract(self._lake, c.table)
            spec = c.to_spec()
            if old is None:
                changes.append(ContractChange(c.table, "create", self._last_version(c.table) + 1,
                                              _diff(None, spec)))
            elif old.to_spec() == spec:
                changes.append(ContractChange(c.table, "unchanged", old.version, []))
            else:
                changes.append(ContractChange(c.table, "update", (old.version or 0) + 1, _diff(old.to_spec(), spec)))
        if prune:
            for c in self.contracts():
                if c.table not in names:
                    changes.append(ContractChange(c.table, "delete", (c.version or 0) + 1, ["- contract"]))
        return ContractPlan(changes)

    def apply(self, contracts: Iterable[Contract] | ContractPlan, *, prune: bool = False) -> ContractPlan:
        from lakebed.quality import _schema as qs

        self._lake.check_writable()
        if isinstance(contracts, ContractPlan):
            raise InvalidArgument("apply takes the contracts themselves (plan shows what they change)")
        wanted = {c.table: c for c in contracts}
        plan = self.plan(wanted.values(), prune=prune)
        t = qs.contracts
        now = time.time()
        forget_contracts(self._lake)
        with self._lake.catalog.begin() as conn:
            for ch in plan.changes:
                if ch.action in ("create", "update"):
                    conn.execute(t.insert().values(target=ch.table, version=ch.version,
                                                   spec=wanted[ch.table].to_spec(), deleted=False, created_at=now))
                elif ch.action == "delete":
                    conn.execute(t.insert().values(target=ch.table, version=ch.version, spec=None, deleted=True,
                                                   created_at=now))
        return plan

    def _target_schema(self, target: str) -> pa.Schema:
        stream = stream_name(target)
        if stream is not None:
            return self._lake.streams.get(stream).spec.schema
        if not self._lake.tables.exists(target):
            raise NotFound(f"no table {target!r} for a contract; create the table first")
        return self._lake.tables.schema(target)

    def _last_version(self, table: str) -> int:
        import sqlalchemy as sa

        from lakebed.quality import _schema as qs

        t = qs.contracts
        with self._lake.catalog.connect() as conn:
            v = conn.execute(sa.select(sa.func.max(t.c.version)).where(t.c.target == table)).scalar()
        return int(v or 0)

    def get_contract(self, table: str, version: int | None = None) -> Contract:
        import sqlalchemy as sa

        from lakebed.quality import _schema as qs

        if version is None:
            c = current_contract(self._lake, table)
            if c is None:
                raise NotFound(f"table {table!r} has no data contract; define one with lake.quality.contract(...)")
            return c
        t = qs.contracts
        with self._lake.catalog.connect() as conn:
            row = conn.execute(
                sa.select(t.c.spec, t.c.deleted).where(t.c.target == table, t.c.version == version)
            ).first()
        if row is None or row.deleted:
            raise NotFound(f"table {table!r} has no contract version {version}")
        return Contract.from_spec(table, row.spec, version)

    def contracts(self) -> list[Contract]:
        import sqlalchemy as sa

        from lakebed.quality import _schema as qs

        t = qs.contracts
        latest = sa.select(t.c.target, sa.func.max(t.c.version).label("v")).group_by(t.c.target).subquery()
        q = sa.select(t.c.target, t.c.version, t.c.spec, t.c.deleted).join(
            latest, sa.and_(t.c.target == latest.c.target, t.c.version == latest.c.v)).order_by(t.c.target)
        with self._lake.catalog.connect() as conn:
            return [Contract.from_spec(r.target, r.spec, r.version) for r in conn.execute(q) if not r.deleted]

    def contract_history(self, table: str) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        from lakebed.quality import _schema as qs

        t = qs.contracts
        with self._lake.catalog.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.target == table).order_by(t.c.version.desc())).all()
        return [{"version": r.version, "spec": r.spec, "deleted": bool(r.deleted),
                 "created_at": dt.datetime.fromtimestamp(r.created_at, tz=dt.UTC)} for r in rows]

    def drop_contract(self, table: str) -> None:
        from lakebed.quality import _schema as qs

        self._lake.check_writable()
        c = self.get_contract(table)
        forget_contracts(self._lake)
        with self._lake.catalog.begin() as conn:
            conn.execute(qs.contracts.insert().values(target=table, version=(c.version or 0) + 1, spec=None,
                                                      deleted=True, created_at=time.time()))

    # validation
    def validate(
        self,
        target: Any,
        *,
        version: int | None = None,
        checks: Iterable[Check] | None = None,
        samples: int = SAMPLES,
        store: bool | None = None,
    ) -> ValidationResult:
        started = time.perf_counter()
        pl = _pl()
        if isinstance(target, str):
            if stream_name(target) is not None:
                raise InvalidArgument(f"{target}: a stream's contract is checked on each append; validate the "
                                      "table the stream lands in, or data read from it")
            name, at = _split_version(target)
            version = at if at is not None else version
            if not self._lake.tables.exists(name):
                raise NotFound(f"no table {name!r}; lake.tables.list() shows the tables there are")
            if checks is not None:
                contract = Contract(name, tuple(checks))
            else:
                contract = self.get_contract(name)
            tables = self._lake.tables
            dt_ = tables._delta(name, version)  # opened once: version, schema, files, count
            v = dt_.version()
            schema = pa.schema(dt_.schema().to_arrow())  # type: ignore[call-overload]
            contract.bind(schema)
            cols = _needed_columns(contract.checks, schema)
            if cols:
                df = table_frame(self._lake, name, v, cols, dt_)
            else:  # only dataset checks without columns (row_count): n rows of nothing
                n = int(dt_.to_pyarrow_dataset().count_rows())
                df = pl.select(pl.repeat(None, n, dtype=pl.Null).alias("__lakebed_n"))
            outcomes = run_checks(df, contract.checks, samples=samples,
                                  sample_columns=[c for c in df.columns if not c.startswith("__lakebed_")])
            so = schema_outcome(contract, schema, df.height)
            if so is not None:
                outcomes.insert(0, so)
            if store is False or self._lake.read_only:
                return ValidationResult(None, name, v, contract.version, all(o.passed for o in outcomes),
                                        "validate", df.height, outcomes, dt.datetime.now(dt.UTC),
                                        (time.perf_counter() - started) * 1000)
            return self._store(name, v, contract.version, "validate", df.height, outcomes, started)
        if checks is None:
            raise InvalidArgument("validate(data) needs checks=[...] (a contract belongs to a table)")
        checks = tuple(checks)
        Contract("data.checks", checks)  # the same rules for the list of checks
        df = _frame_of(target)
        outcomes = run_checks(df, checks, samples=samples)
        return ValidationResult(None, None, None, None, all(o.passed for o in outcomes), "validate", df.height,
                                outcomes, dt.datetime.now(dt.UTC), (time.perf_counter() - started) * 1000)

    def _store(self, table: str, table_version: int | None, contract_version: int | None, action: str, rows: int,
               outcomes: list[Outcome], started: float) -> ValidationResult:
        from lakebed.quality import _schema as qs

        now = time.time()
        duration = (time.perf_counter() - started) * 1000
        passed = all(o.passed for o in outcomes)
        with self._lake.catalog.begin() as conn:
            rid = conn.execute(qs.results.insert().values(
                target=table, table_version=table_version, contract_version=contract_version, passed=passed,
                action=action, rows=rows, checks=[jsonable(o.to_dict()) for o in outcomes], created_at=now,
                duration_ms=duration,
            )).inserted_primary_key[0]  # type: ignore[index]
            if table_version is not None:
                self._lake.catalog.add_lineage(
                    f"table:{table}@{table_version}", f"quality:{rid}", "validated",
                    {"passed": passed, "action": action, "contract_version": contract_version}, conn=conn)
        return ValidationResult(int(rid), table, table_version, contract_version, passed, action, rows, outcomes,
                                dt.datetime.fromtimestamp(now, tz=dt.UTC), duration)

    def results(
        self,
        table: str | None = None,
        *,
        passed: bool | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[ValidationResult]:
        import sqlalchemy as sa

        from lakebed.quality import _schema as qs

        if not isinstance(limit, int) or not 0 < limit <= 100_000:
            raise InvalidArgument(f"limit is 1..100000, got {limit!r}")
        t = qs.results
        q = sa.select(t).order_by(t.c.id.desc()).limit(limit)
        if table is not None:
            q = q.where(t.c.target == table)
        if passed is not None:
            q = q.where(t.c.passed == bool(passed))
        if action is not None:
            q = q.where(t.c.action == action)
        if since is not None:
            since_ = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
            q = q.where(t.c.created_at >= since_.timestamp())
        with self._lake.catalog.connect() as conn:
            return [_result_from_row(r) for r in conn.execute(q)]

    def result(self, result_id: int) -> ValidationResult:
        import sqlalchemy as sa

        from lakebed.quality import _schema as qs

        t = qs.results
        with self._lake.catalog.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == int(result_id))).first()
        if row is None:
            raise NotFound(f"no quality result {result_id}; lake.quality.results() lists them")
        return _result_from_row(row)


def _split_version(target: str) -> tuple[str, int | None]:
    if target.startswith("table:"):
        target = target[len("table:"):]
    name, at, v = target.rpartition("@")
    if not at:
        return target, None
    if not v.isdigit():
        raise InvalidArgument(f"{target!r}: the version after '@' must be a number")
    return name, int(v)


def _needed_columns(checks: Sequence[Check], schema: pa.Schema) -> list[str]:
    from lakebed.quality._checks import Sql

    cols: list[str] = []
    for c in checks:
        cols.extend(c.columns())
        if isinstance(c, Sql):
            cols.extend(c.parsed(schema).columns)
    return list(dict.fromkeys(cols))


def _frame_of(data: Any) -> pl.DataFrame:
    """Data of any kind lakebed accepts as a polars DataFrame."""
    pl = _pl()
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    to_arrow = getattr(data, "to_arrow", None)
    if callable(to_arrow) and not isinstance(data, pa.Table):
        data = to_arrow()
    from lakebed.tables._arrow import to_arrow as as_arrow

    arrow = as_arrow(data)
    if isinstance(arrow, pa.RecordBatchReader):
        arrow = arrow.read_all()
    return pl.from_arrow(arrow)  # type: ignore[return-value]
