"""The checks of a data contract, and the engine that runs them in one pass with polars.

A check is either a *row* check (each row passes or fails it: :func:`not_null`,
:func:`unique`, :func:`between`, :func:`isin`, :func:`matches`, :func:`sql`) or a
*dataset* check (the data as a whole passes or fails: :func:`row_count`,
:func:`freshness`). Null values pass every row check but :func:`not_null` (as in SQL, a
constraint on a value says nothing about a missing one); NaN is a value, larger than every
number (as DuckDB and polars order it), so it fails ``between(max=...)`` and ``isin``.

``sql("amount >= 0 OR refunded")`` is parsed by lakebed's predicate parser against the
table's columns (no statement, subquery, function of the host or unknown column gets
through) and fails a row when the expression is FALSE; NULL passes, like an SQL CHECK
constraint. Comparisons, AND/OR/NOT, IN, BETWEEN and IS NULL run as polars expressions in
the same pass as the other checks; anything else (arithmetic, LIKE, casts, functions)
runs in a sandboxed DuckDB over the same Arrow columns.

Example:
    >>> import polars as pl
    >>> from lakebed.quality import between, not_null
    >>> df = pl.DataFrame({"id": [1, 2, None], "age": [30, 150, 40]})
    >>> [(o.name, o.failing) for o in run_checks(df, [not_null("id"), between("age", 0, 130)])]
    [('not_null(id)', 1), ('between(age, 0, 130)', 1)]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from lakebed.errors import InvalidArgument

if TYPE_CHECKING:
    import polars as pl

SAMPLES = 5  # example rows kept per failed check
_MAX_TEXT = 200  # a sample's long strings are cut to this many characters
_MAX_VALUES = 10_000  # isin(...) values


def _pl() -> Any:
    from lakebed.errors import require

    return require("polars", "quality")


def _check_column(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{what} needs a column name (a non-empty string), got {value!r}")
    return value


def _scalar(value: Any, what: str) -> Any:
    """A bound of between(): a number, a datetime/date, or a string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | dt.datetime | dt.date):
        raise InvalidArgument(f"{what} must be a number, a string or a datetime, got {value!r}")
    if isinstance(value, float) and math.isnan(value):
        raise InvalidArgument(f"{what} must not be NaN")
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "datetime" in value:
            return dt.datetime.fromisoformat(value["datetime"])
        if "date" in value:
            return dt.date.fromisoformat(value["date"])
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)


# -- checks -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Check:
    """Base of every check. ``name`` defaults to the call that made it (``not_null(id)``)."""

    kind: ClassVar[str] = ""
    level: ClassVar[str] = "row"  # "row" | "dataset"

    def __post_init__(self) -> None:
        name = getattr(self, "name", None)
        if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
            raise InvalidArgument(f"a check's name is 1-200 characters, got {name!r}")

    @property
    def label(self) -> str:
        return getattr(self, "name", None) or self.default_name()

    def default_name(self) -> str:
        raise NotImplementedError

    def columns(self) -> tuple[str, ...]:
        return ()

    def column_label(self) -> str | None:
        cols = self.columns()
        return ", ".join(cols) if cols else None

    def params(self) -> dict[str, Any]:
        return {}

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": self.kind, **self.params()}
        if getattr(self, "name", None):
            spec["name"] = self.name  # type: ignore[attr-defined]
        return spec

    def bind(self, schema: pa.Schema) -> None:
        """Check the columns exist in ``schema`` (and fit the check); InvalidArgument if not."""
        for col in self.columns():
            if col not in schema.names:
                raise InvalidArgument(
                    f"check {self.label}: the table has no column {col!r} (columns: {sorted(schema.names)})"
                )

    def violation(self, schema: pa.Schema) -> pl.Expr:
        """A boolean polars expression, True on a row that fails (row checks only)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class NotNull(Check):
    column: str
    name: str | None = None
    kind: ClassVar[str] = "not_null"

    def default_name(self) -> str:
        return f"not_null({self.column})"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def params(self) -> dict[str, Any]:
        return {"column": self.column}

    def violation(self, schema: pa.Schema) -> pl.Expr:
        return _pl().col(self.column).is_null()  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class Unique(Check):
    """Fails every row whose key (one or more columns, none null) occurs more than once."""

    keys: tuple[str, ...]
    name: str | None = None
    kind: ClassVar[str] = "unique"

    def default_name(self) -> str:
        return f"unique({', '.join(self.keys)})"

    def columns(self) -> tuple[str, ...]:
        return self.keys

    def params(self) -> dict[str, Any]:
        return {"columns": list(self.keys)}

    def key_expr(self) -> pl.Expr:
        pl = _pl()
        return pl.col(self.keys[0]) if len(self.keys) == 1 else pl.struct(list(self.keys))

    def not_null(self) -> pl.Expr:
        pl = _pl()
        return pl.all_horizontal([pl.col(k).is_not_null() for k in self.keys])  # type: ignore[no-any-return]

    def violation(self, schema: pa.Schema) -> pl.Expr:
        return self.key_expr().is_duplicated() & self.not_null()


@dataclasses.dataclass(frozen=True)
class Between(Check):
    """Fails a value below ``min`` or above ``max`` (``inclusive`` bounds by default)."""

    column: str
    min: Any = None
    max: Any = None
    inclusive: bool = True
    name: str | None = None
    kind: ClassVar[str] = "between"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min is None and self.max is None:
            raise InvalidArgument(f"between({self.column!r}) needs min=, max= or both")
        for what, v in (("min", self.min), ("max", self.max)):
            if v is not None:
                _scalar(v, f"between({self.column!r}): {what}")
        if self.min is not None and self.max is not None:
            try:
                wrong = self.min > self.max
            except TypeError:
                raise InvalidArgument(
                    f"between({self.column!r}): min {self.min!r} and max {self.max!r} are not comparable"
                ) from None
            if wrong:
                raise InvalidArgument(f"between({self.column!r}): min {self.min!r} is above max {self.max!r}")

    def default_name(self) -> str:
        lo = "-inf" if self.min is None else _fmt(self.min)
        hi = "inf" if self.max is None else _fmt(self.max)
        return f"between({self.column}, {lo}, {hi}{'' if self.inclusive else ', exclusive'})"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "min": _to_json(self.min), "max": _to_json(self.max),
                "inclusive": self.inclusive}

    def bind(self, schema: pa.Schema) -> None:
        super().bind(schema)
        t = schema.field(self.column).type
        for v in (self.min, self.max):
            if v is None:
                continue
            ok = ((pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))
                  and isinstance(v, int | float)) or \
                 (pa.types.is_timestamp(t) and isinstance(v, dt.datetime)) or \
                 (pa.types.is_date(t) and isinstance(v, dt.date) and not isinstance(v, dt.datetime)) or \
                 ((pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))
                  and isinstance(v, str))
            if not ok:
                raise InvalidArgument(
                    f"check {self.label}: column {self.column!r} is {t}; a bound of {type(v).__name__} "
                    "does not compare with it (numbers for numeric columns, datetimes for timestamps, "
                    "dates for dates, strings for strings)"
                )

    def violation(self, schema: pa.Schema) -> pl.Expr:
        pl = _pl()
        col = pl.col(self.column)
        t = schema.field(self.column).type
        parts = []
        if self.min is not None:
            parts.append(col < _lit(self.min, t) if self.inclusive else col <= _lit(self.min, t))
        if self.max is not None:
            parts.append(col > _lit(self.max, t) if self.inclusive else col >= _lit(self.max, t))
        expr = parts[0] if len(parts) == 1 else parts[0] | parts[1]
        return expr.fill_null(False)  # type: ignore[no-any-return]


def _lit(value: Any, t: pa.DataType) -> Any:
    pl = _pl()
    if isinstance(value, dt.datetime) and pa.types.is_timestamp(t):
        if t.tz is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        if t.tz is None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return pl.lit(value, dtype=pl.Datetime(t.unit, t.tz))
    return pl.lit(value)


@dataclasses.dataclass(frozen=True)
class IsIn(Check):
    """Fails a value that is not one of ``values``."""

    column: str
    values: tuple[Any, ...]
    name: str | None = None
    kind: ClassVar[str] = "isin"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.values:
            raise InvalidArgument(f"isin({self.column!r}) needs at least one value")
        if len(self.values) > _MAX_VALUES:
            raise InvalidArgument(f"isin({self.column!r}) takes at most {_MAX_VALUES:,} values, "
                                  f"got {len(self.values):,}; check against a table instead")
        kinds = {type(v) for v in self.values}
        if not kinds <= {str} and not kinds <= {int, float} and not kinds <= {bool}:
            raise InvalidArgument(f"isin({self.column!r}): values must all be strings, all numbers or all "
                                  f"booleans, got {sorted(k.__name__ for k in kinds)}")

    def default_name(self) -> str:
        shown = ", ".join(_fmt(v) for v in self.values[:5]) + (", ..." if len(self.values) > 5 else "")
        return f"isin({self.column}, [{shown}])"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "values": list(self.values)}

    def bind(self, schema: pa.Schema) -> None:
        super().bind(schema)
        t = schema.field(self.column).type
        first = self.values[0]
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
        text = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
        if not ((numeric and isinstance(first, int | float) and not isinstance(first, bool))
                or (text and isinstance(first, str)) or (pa.types.is_boolean(t) and isinstance(first, bool))):
            raise InvalidArgument(f"check {self.label}: column {self.column!r} is {t}; its values must be "
                                  f"of that type, got {type(first).__name__}")

    def violation(self, schema: pa.Schema) -> pl.Expr:
        pl = _pl()
        col = pl.col(self.column)
        return (~col.is_in(list(self.values))).fill_null(False) & col.is_not_null()  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class Matches(Check):
    """Fails a string in which the regular expression finds no match (a search: anchor it
    with ``^...$`` to match whole values). The syntax is Rust's ``regex`` (as polars'):
    no look-around, no back-references."""

    column: str
    pattern: str
    name: str | None = None
    kind: ClassVar[str] = "matches"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.pattern, str) or not self.pattern or len(self.pattern) > 4096:
            raise InvalidArgument(f"matches({self.column!r}) needs a regular expression of 1-4096 characters")
        try:
            re.compile(self.pattern)
            _pl().Series([""]).str.contains(self.pattern)
        except Exception as exc:
            raise InvalidArgument(
                f"matches({self.column!r}): {self.pattern!r} is not a regular expression lakebed runs "
                f"(Rust regex syntax: no look-around or back-references): {exc}"
            ) from None

    def default_name(self) -> str:
        return f"matches({self.column}, {self.pattern!r})"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "pattern": self.pattern}

    def bind(self, schema: pa.Schema) -> None:
        super().bind(schema)
        t = schema.field(self.column).type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
            raise InvalidArgument(f"check {self.label}: column {self.column!r} is {t}, not a string column")

    def violation(self, schema: pa.Schema) -> pl.Expr:
        pl = _pl()
        col = pl.col(self.column)
        return (~col.str.contains(self.pattern)).fill_null(False) & col.is_not_null()  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class RowCount(Check):
    """The number of rows is at least ``min`` and at most ``max``."""

    min: int | None = None
    max: int | None = None
    name: str | None = None
    kind: ClassVar[str] = "row_count"
    level: ClassVar[str] = "dataset"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min is None and self.max is None:
            raise InvalidArgument("row_count() needs min=, max= or both")
        for v in (self.min, self.max):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise InvalidArgument(f"row_count(): bounds are non-negative integers, got {v!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise InvalidArgument(f"row_count(): min {self.min} is above max {self.max}")

    def default_name(self) -> str:
        return f"row_count({self.min if self.min is not None else 0}..{'' if self.max is None else self.max})"

    def params(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max}

    def judge(self, rows: int) -> tuple[bool, str]:
        ok = (self.min is None or rows >= self.min) and (self.max is None or rows <= self.max)
        return ok, f"{rows:,} rows"


@dataclasses.dataclass(frozen=True)
class Freshness(Check):
    """The newest value of a timestamp column is at most ``max_age`` old (at ``now``, by
    default the time of the check)."""

    column: str
    max_age: dt.timedelta
    now: dt.datetime | None = None
    name: str | None = None
    kind: ClassVar[str] = "freshness"
    level: ClassVar[str] = "dataset"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.max_age, dt.timedelta) or self.max_age <= dt.timedelta(0):
            raise InvalidArgument(f"freshness({self.column!r}): max_age must be a positive timedelta")
        if self.now is not None and not isinstance(self.now, dt.datetime):
            raise InvalidArgument(f"freshness({self.column!r}): now must be a datetime")

    def default_name(self) -> str:
        return f"freshness({self.column}, {self.max_age})"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def params(self) -> dict[str, Any]:
        return {"column": self.column, "max_age_s": self.max_age.total_seconds(),
                "now": None if self.now is None else _to_json(self.now)}

    def bind(self, schema: pa.Schema) -> None:
        super().bind(schema)
        t = schema.field(self.column).type
        if not (pa.types.is_timestamp(t) or pa.types.is_date(t)):
            raise InvalidArgument(f"check {self.label}: column {self.column!r} is {t}, not a timestamp or date")

    def judge(self, newest: Any) -> tuple[bool, str]:
        now = self.now or dt.datetime.now(dt.UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        if newest is None:
            return False, "no values"
        if isinstance(newest, dt.date) and not isinstance(newest, dt.datetime):
            newest = dt.datetime(newest.year, newest.month, newest.day, tzinfo=dt.UTC)
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=dt.UTC)
        age = now - newest
        return age <= self.max_age, f"newest {newest.isoformat()} ({_age(age)} old at {now.isoformat()})"


def _age(delta: dt.timedelta) -> str:
    s = delta.total_seconds()
    if abs(s) < 120:
        return f"{s:.0f} s"
    if abs(s) < 7200:
        return f"{s / 60:.0f} min"
    if abs(s) < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


@dataclasses.dataclass(frozen=True)
class Sql(Check):
    """Fails a row on which the SQL expression is FALSE (NULL passes, as in a CHECK
    constraint). The expression is parsed by lakebed (see ``lake.tables.read(where=...)``)."""

    expression: str
    name: str | None = None
    kind: ClassVar[str] = "sql"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.expression, str) or not self.expression.strip():
            raise InvalidArgument("sql() needs an expression, such as \"amount >= 0 OR refunded\"")

    def default_name(self) -> str:
        return f"sql({self.expression})"

    def params(self) -> dict[str, Any]:
        return {"expression": self.expression}

    def parsed(self, schema: pa.Schema) -> Any:
        from lakebed.tables._predicate import parse

        try:
            return parse(self.expression, schema.names)
        except InvalidArgument as exc:
            raise InvalidArgument(f"check {self.label}: {exc}") from None

    def columns(self) -> tuple[str, ...]:
        return ()

    def bind(self, schema: pa.Schema) -> None:
        self.parsed(schema)

    def violation(self, schema: pa.Schema) -> pl.Expr:
        pred = self.parsed(schema)
        if not pred.columns:  # a constant: DuckDB evaluates it once for every row
            raise _Untranslated
        expr = _to_polars(pred.tree, schema)
        return (~expr).fill_null(False)  # type: ignore[no-any-return]


# -- public constructors ------------------------------------------------------------------
def not_null(column: str, *, name: str | None = None) -> NotNull:
    """Every row has a value in ``column``."""
    return NotNull(_check_column(column, "not_null()"), name)


def unique(*columns: str, name: str | None = None) -> Unique:
    """No two rows share a value of ``columns`` (rows with a null key are not compared)."""
    cols = tuple(columns[0]) if len(columns) == 1 and isinstance(columns[0], list | tuple) else columns
    if not cols:
        raise InvalidArgument("unique() needs one or more column names")
    for c in cols:
        _check_column(c, "unique()")
    return Unique(tuple(cols), name)


def between(column: str, min: Any = None, max: Any = None, *, inclusive: bool = True,
            name: str | None = None) -> Between:
    """Values lie in ``[min, max]`` (either bound may be None)."""
    return Between(_check_column(column, "between()"), min, max, bool(inclusive), name)


def isin(column: str, values: Sequence[Any], *, name: str | None = None) -> IsIn:
    """Values are among ``values``."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | set | frozenset):
        raise InvalidArgument(f"isin({column!r}, values): values is a list, got {type(values).__name__}")
    return IsIn(_check_column(column, "isin()"), tuple(values), name)


def matches(column: str, pattern: str, *, name: str | None = None) -> Matches:
    """String values contain a match of the regular expression ``pattern``."""
    return Matches(_check_column(column, "matches()"), pattern, name)


def row_count(min: int | None = None, max: int | None = None, *, name: str | None = None) -> RowCount:
    """The data has between ``min`` and ``max`` rows."""
    return RowCount(min, max, name)


def freshness(column: str, max_age: dt.timedelta, *, now: dt.datetime | None = None,
              name: str | None = None) -> Freshness:
    """The newest ``column`` value is at most ``max_age`` old."""
    return Freshness(_check_column(column, "freshness()"), max_age, now, name)


def sql(expression: str, *, name: str | None = None) -> Sql:
    """Rows satisfy an SQL expression over the table's columns (FALSE fails, NULL passes)."""
    return Sql(expression, name)


KINDS: dict[str, type[Check]] = {c.kind: c for c in (NotNull, Unique, Between, IsIn, Matches, RowCount,
                                                     Freshness, Sql)}


def check_from_spec(spec: dict[str, Any]) -> Check:
    """The check a stored spec describes (the inverse of ``Check.to_spec``)."""
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise InvalidArgument(f"a check spec names its kind, one of {sorted(KINDS)}; got {spec!r}")
    kind, name = spec["kind"], spec.get("name")
    try:
        if kind == "not_null":
            return not_null(spec["column"], name=name)
        if kind == "unique":
            return unique(*spec["columns"], name=name)
        if kind == "between":
            return between(spec["column"], _from_json(spec.get("min")), _from_json(spec.get("max")),
                           inclusive=spec.get("inclusive", True), name=name)
        if kind == "isin":
            return isin(spec["column"], spec["values"], name=name)
        if kind == "matches":
            return matches(spec["column"], spec["pattern"], name=name)
        if kind == "row_count":
            return row_count(spec.get("min"), spec.get("max"), name=name)
        if kind == "freshness":
            now = _from_json(spec.get("now"))
            return freshness(spec["column"], dt.timedelta(seconds=float(spec["max_age_s"])), now=now, name=name)
        return sql(spec["expression"], name=name)
    except KeyError as exc:
        raise InvalidArgument(f"the {kind} check spec {spec!r} lacks {exc}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, InvalidArgument):
            raise
        raise InvalidArgument(f"the {kind} check spec {spec!r} does not fit: {exc}") from None


# -- SQL expressions as polars expressions ------------------------------------------------
class _Untranslated(Exception):
    """The expression needs DuckDB (arithmetic, LIKE, casts, functions, mixed types)."""


def _family(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    return "other"


def _to_polars(node: Any, schema: pa.Schema) -> pl.Expr:
    """The predicate tree as a polars expression with SQL's three-valued logic, for the
    forms whose meaning polars and DuckDB share; _Untranslated otherwise."""
    pl = _pl()
    from lakebed.tables._predicate import Column, Literal_, Op

    def family(n: Any) -> str:
        if isinstance(n, Column):
            return _family(schema.field(n.name).type)
        if isinstance(n, Literal_):
            return {"int": "number", "number": "number", "string": "string", "bool": "bool"}.get(n.kind, "null")
        if isinstance(n, Op) and n.op in _BOOLEAN_OPS:
            return "bool"
        raise _Untranslated

    def value(n: Any) -> Any:
        if isinstance(n, Column):
            return pl.col(n.name)
        if isinstance(n, Literal_):
            if n.kind == "null":
                return pl.lit(None, dtype=pl.Boolean)
            if n.kind == "number":
                return pl.lit(float(n.value))
            return pl.lit(n.value)
        return go(n)

    def go(n: Any) -> Any:
        if isinstance(n, Column):
            if family(n) != "bool":
                raise _Untranslated
            return pl.col(n.name)
        if isinstance(n, Literal_):
            if n.kind == "bool":
                return pl.lit(n.value, dtype=pl.Boolean)
            if n.kind == "null":
                return pl.lit(None, dtype=pl.Boolean)
            raise _Untranslated
        if not isinstance(n, Op):
            raise _Untranslated
        if n.op == "AND":
            out = go(n.args[0])
            for a in n.args[1:]:
                out = out & go(a)
            return out
        if n.op == "OR":
            out = go(n.args[0])
            for a in n.args[1:]:
                out = out | go(a)
            return out
        if n.op == "NOT":
            return ~go(n.args[0])
        if n.op in ("IS NULL", "IS NOT NULL"):
            inner = n.args[0]
            if not isinstance(inner, Column):
                raise _Untranslated
            e = pl.col(inner.name)
            return e.is_null() if n.op == "IS NULL" else e.is_not_null()
        if n.op in _COMPARE:
            left, right = n.args
            fl, fr = family(left), family(right)
            if "null" in (fl, fr):
                return pl.lit(None, dtype=pl.Boolean)
            if fl != fr or fl not in ("number", "string", "bool"):
                raise _Untranslated
            return getattr(value(left), _COMPARE[n.op])(value(right))
        if n.op == "BETWEEN":
            x, lo, hi = n.args
            fams = {family(x), family(lo), family(hi)}
            if len(fams) != 1 or fams.pop() not in ("number", "string"):
                raise _Untranslated
            return (value(x) >= value(lo)) & (value(x) <= value(hi))
        if n.op == "IN":
            x, *items = n.args
            if not isinstance(x, Column) or not all(isinstance(i, Literal_) for i in items):
                raise _Untranslated
            fam = family(x)
            kinds = {family(i) for i in items}
            if kinds - {fam, "null"} or fam not in ("number", "string"):
                raise _Untranslated
            lits = [i for i in items if isinstance(i, Literal_)]
            vals = [float(i.value) if i.kind == "number" else i.value for i in lits if i.kind != "null"]
            has_null = any(i.kind == "null" for i in lits)
            col = pl.col(x.name)
            hit = col.is_in(vals) if vals else pl.lit(False)
            hit = pl.when(col.is_null()).then(pl.lit(None, dtype=pl.Boolean)).otherwise(hit)
            if has_null:  # x IN (.., NULL): TRUE on a hit, else NULL
                hit = pl.when(hit).then(True).otherwise(pl.lit(None, dtype=pl.Boolean))
            return hit
        raise _Untranslated

    return go(node)  # type: ignore[no-any-return]


_COMPARE = {"=": "eq", "<>": "ne", "<": "lt", ">": "gt", "<=": "le", ">=": "ge",
            "IS DISTINCT FROM": "ne_missing", "IS NOT DISTINCT FROM": "eq_missing"}
_BOOLEAN_OPS = {"AND", "OR", "NOT", "IS NULL", "IS NOT NULL", "IN", "BETWEEN", *_COMPARE}


def _duckdb_violation(check: Sql, data: pa.Table) -> pa.Array:
    """FALSE rows of ``check`` over ``data``, evaluated by a sandboxed DuckDB."""
    import duckdb

    from lakebed.tables._sandbox import connect

    pred = check.parsed(data.schema)
    con = connect(timezone="UTC")
    try:
        if not pred.columns:
            n = data.num_rows
            row = con.execute(f"SELECT coalesce(NOT ({pred.sql()}), FALSE)").fetchone()
            return pa.array([bool(row[0]) if row else False] * n, pa.bool_())
        con.register("__lakebed_rows", data.select(list(pred.columns)))
        out = con.sql(f"SELECT coalesce(NOT ({pred.sql()}), FALSE) AS v FROM __lakebed_rows").to_arrow_table()
        return out.column("v").combine_chunks()
    except duckdb.Error as exc:
        raise InvalidArgument(f"check {check.label} cannot be evaluated: {exc}") from None
    finally:
        con.close()


# -- the engine -----------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """How one check went on some data."""

    name: str
    kind: str
    level: str
    column: str | None
    passed: bool
    failing: int  # failing rows (row checks); 0 or 1 for dataset checks
    rows: int
    detail: str | None = None
    samples: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Outcome:
        """The outcome whose :meth:`to_dict` is ``d`` (keys it does not know are ignored)."""
        if not isinstance(d, dict):
            raise InvalidArgument(f"a check outcome is a dict, got {type(d).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in fields})
        except TypeError as exc:
            raise InvalidArgument(f"not a check outcome: {exc}") from None


def schema_of(df: pl.DataFrame | pl.LazyFrame) -> pa.Schema:
    """The Arrow schema of a polars frame (the types checks bind against)."""
    pl = _pl()
    if isinstance(df, pl.LazyFrame):
        return pl.DataFrame(schema=df.collect_schema()).to_arrow().schema  # type: ignore[no-any-return,union-attr]
    return df.head(0).to_arrow().schema  # type: ignore[no-any-return,union-attr]


def violations(df: pl.DataFrame, checks: Sequence[Check], schema: pa.Schema,
               overrides: dict[int, pl.Expr] | None = None) -> list[pl.Expr | None]:
    """One boolean expression per check (None for dataset checks), SQL checks that need
    DuckDB evaluated now and added to ``df`` as ``__lakebed_sql<i>`` columns (so run the
    expressions on :func:`with_sql_columns`'s frame)."""
    pl = _pl()
    out: list[Any] = []
    for i, check in enumerate(checks):
        if overrides and i in overrides:
            out.append(overrides[i])
        elif check.level != "row":
            out.append(None)
        elif isinstance(check, Sql):
            try:
                out.append(check.violation(schema))
            except _Untranslated:
                out.append(pl.col(f"__lakebed_sql{i}"))
        else:
            out.append(check.violation(schema))
    return out


def with_sql_columns(df: pl.DataFrame, checks: Sequence[Check], schema: pa.Schema) -> pl.DataFrame:
    """``df`` with a ``__lakebed_sql<i>`` column for each SQL check polars cannot run."""
    pl = _pl()
    extra = {}
    arrow: pa.Table | None = None
    for i, check in enumerate(checks):
        if isinstance(check, Sql):
            try:
                check.violation(schema)
            except _Untranslated:
                if arrow is None:
                    arrow = df.to_arrow()
                extra[f"__lakebed_sql{i}"] = pl.Series(f"__lakebed_sql{i}", _duckdb_violation(check, arrow),
                                                       dtype=pl.Boolean)
    return df.with_columns(**extra) if extra else df


def run_checks(
    df: pl.DataFrame,
    checks: Sequence[Check],
    *,
    samples: int = SAMPLES,
    overrides: dict[int, pl.Expr] | None = None,
    dataset: dict[int, tuple[bool, str]] | None = None,
    sample_columns: Sequence[str] | None = None,
) -> list[Outcome]:
    """Run ``checks`` over ``df`` in one polars pass: failing counts and example rows
    (:func:`check_masks` without the masks)."""
    return check_masks(df, checks, samples=samples, overrides=overrides, dataset=dataset,
                       sample_columns=sample_columns)[0]


def check_masks(
    df: pl.DataFrame,
    checks: Sequence[Check],
    *,
    samples: int = SAMPLES,
    overrides: dict[int, pl.Expr] | None = None,
    dataset: dict[int, tuple[bool, str]] | None = None,
    sample_columns: Sequence[str] | None = None,
) -> tuple[list[Outcome], pl.DataFrame]:
    """Run ``checks`` over ``df`` in one polars pass: the outcomes, and the mask of each row
    check (column ``__v<i>`` of the second frame: True on a failing row).

    ``overrides`` replaces the violation expression of some checks (unique keys judged
    against stored rows, when a write is checked); ``dataset`` gives the verdicts of
    dataset checks judged elsewhere (on the table the write would make).
    """
    pl = _pl()
    schema = schema_of(df)
    for c in checks:
        c.bind(schema)
    df = with_sql_columns(df, checks, schema)
    exprs = violations(df, checks, schema, overrides)
    # One pass: every row check's mask (True on a failing row) as a boolean column; counts
    # and example rows come from the masks (an aggregate that also gathered row numbers
    # evaluated each expression twice).
    masks = df.select([v.alias(f"__v{i}") for i, v in enumerate(exprs) if v is not None])
    counts = masks.sum().row(0, named=True) if masks.width else {}
    newest = [pl.col(c.column).max().alias(f"__m{i}") for i, c in enumerate(checks)
              if isinstance(c, Freshness) and not (dataset and i in dataset)]
    got: dict[str, Any] = {**counts, **(df.select(newest).row(0, named=True) if newest else {})}
    rows = df.height
    shown = [c for c in (sample_columns or df.columns) if not c.startswith("__lakebed_")]
    out = []
    for i, check in enumerate(checks):
        detail = None
        picked: list[dict[str, Any]] = []
        if exprs[i] is not None:
            failing = int(got[f"__v{i}"] or 0)
            passed = failing == 0
            if failing and samples:
                idx = masks.get_column(f"__v{i}").arg_true().head(samples).to_list()
                cols = _sample_columns(check, shown)
                picked = [_jsonable_row(r) for r in df.select(cols)[idx].iter_rows(named=True)]
        else:
            if dataset and i in dataset:
                passed, detail = dataset[i]
            elif isinstance(check, RowCount):
                passed, detail = check.judge(rows)
            elif isinstance(check, Freshness):
                passed, detail = check.judge(got[f"__m{i}"])
            else:  # pragma: no cover - every dataset check is handled above
                raise AssertionError(check)
            failing = 0 if passed else 1
        out.append(Outcome(check.label, check.kind, check.level, check.column_label(), passed, failing, rows,
                           detail, picked))
    return out, masks


def _sample_columns(check: Check, shown: Sequence[str]) -> list[str]:
    """The columns of a failed check's example rows: the check's own first, then up to 8 more."""
    own = [c for c in check.columns() if c in shown]
    rest = [c for c in shown if c not in own]
    return own + rest[: max(0, 8 - len(own))]


def _jsonable_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in row.items()}


def jsonable(v: Any) -> Any:
    """A value as JSON can hold it (dates as ISO text, long text cut, NaN as the string)."""
    if v is None or isinstance(v, bool | int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, str):
        return v if len(v) <= _MAX_TEXT else v[:_MAX_TEXT] + "…"
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, bytes):
        return v[:64].hex()
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v[:16]]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return str(v)[:_MAX_TEXT]
