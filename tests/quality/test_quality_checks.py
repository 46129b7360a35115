"""Each check against a brute-force Python reference (Hypothesis: nulls, NaN, edge values),
and SQL checks against DuckDB's own evaluation of the same expression."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter

import duckdb
import hypothesis.strategies as st
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from lakebed.errors import InvalidArgument
from lakebed.quality import between, freshness, isin, matches, not_null, row_count, sql, unique
from lakebed.quality._checks import check_from_spec, run_checks

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ints = st.lists(st.one_of(st.none(), st.integers(-5, 140)), max_size=40)
floats = st.lists(st.one_of(st.none(), st.floats(-10, 200, allow_nan=False), st.just(math.nan),
                            st.just(0.0), st.just(-0.0)), max_size=40)
words = st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "pro", "free", "x@y.io", "A@y.io", "", "é"])),
                 max_size=40)


def failing(df: pl.DataFrame, check) -> int:
    (o,) = run_checks(df, [check])
    return o.failing


def _gt(a: float, b: float) -> bool:
    """a > b with NaN larger than every number (as polars and DuckDB order it)."""
    if isinstance(a, float) and math.isnan(a):
        return not (isinstance(b, float) and math.isnan(b))
    return a > b


def _lt(a: float, b: float) -> bool:
    return _gt(b, a)


@SETTINGS
@given(floats)
def test_not_null_counts_missing_values_not_nan(values: list) -> None:
    df = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    assert failing(df, not_null("x")) == sum(v is None for v in values)


@SETTINGS
@given(ints, st.booleans())
def test_unique_fails_every_row_of_a_repeated_key(values: list, two_columns: bool) -> None:
    if two_columns:
        other = [None if v is None else v % 3 for v in values]
        df = pl.DataFrame({"x": values, "y": other}, schema={"x": pl.Int64, "y": pl.Int64})
        keys = [(a, b) for a, b in zip(values, other, strict=True) if a is not None and b is not None]
        check = unique("x", "y")
    else:
        df = pl.DataFrame({"x": values}, schema={"x": pl.Int64})
        keys = [v for v in values if v is not None]
        check = unique("x")
    counts = Counter(keys)
    assert failing(df, check) == sum(n for n in counts.values() if n > 1)


@SETTINGS
@given(floats, st.one_of(st.none(), st.integers(-5, 100)), st.one_of(st.none(), st.integers(0, 150)),
       st.booleans())
def test_between_with_open_and_closed_bounds(values: list, lo, hi, inclusive: bool) -> None:
    if lo is None and hi is None:
        hi = 130
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    df = pl.DataFrame({"x": values}, schema={"x": pl.Float64})
    expected = 0
    for v in values:
        if v is None:
            continue
        below = lo is not None and (_lt(v, lo) if inclusive else not _gt(v, lo))
        above = hi is not None and (_gt(v, hi) if inclusive else not _lt(v, hi))
        expected += below or above
    assert failing(df, between("x", lo, hi, inclusive=inclusive)) == expected


@SETTINGS
@given(words, st.lists(st.sampled_from(["a", "pro", "free", "zzz"]), min_size=1, max_size=3))
def test_isin(values: list, allowed: list) -> None:
    df = pl.DataFrame({"s": values}, schema={"s": pl.String})
    assert failing(df, isin("s", allowed)) == sum(v is not None and v not in allowed for v in values)


@SETTINGS
@given(words, st.sampled_from([r"^[a-z]+@[a-z]+\.[a-z]{2,}$", r"@", r"^$", r"^(pro|free)$", r"[A-Z]", r"é"]))
def test_matches_is_a_regex_search(values: list, pattern: str) -> None:
    df = pl.DataFrame({"s": values}, schema={"s": pl.String})
    assert failing(df, matches("s", pattern)) == sum(v is not None and re.search(pattern, v) is None for v in values)


@SETTINGS
@given(st.integers(0, 30), st.one_of(st.none(), st.integers(0, 20)), st.one_of(st.none(), st.integers(0, 40)))
def test_row_count(n: int, lo, hi) -> None:
    if lo is None and hi is None:
        lo = 1
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    (o,) = run_checks(pl.DataFrame({"x": list(range(n))}), [row_count(lo, hi)])
    assert o.passed == ((lo is None or n >= lo) and (hi is None or n <= hi))
    assert o.level == "dataset" and o.failing == (0 if o.passed else 1)


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.integers(0, 100)), max_size=20), st.integers(1, 100))
def test_freshness_judges_the_newest_value(hours_ago: list, max_age_h: int) -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    ts = [None if h is None else now - dt.timedelta(hours=h) for h in hours_ago]
    df = pl.DataFrame({"ts": ts}, schema={"ts": pl.Datetime("us", "UTC")})
    (o,) = run_checks(df, [freshness("ts", dt.timedelta(hours=max_age_h), now=now)])
    present = [h for h in hours_ago if h is not None]
    assert o.passed == (bool(present) and min(present) <= max_age_h)


# -- sql() against DuckDB -----------------------------------------------------------------------
COLUMNS = {"a": pl.Int64, "b": pl.Float64, "s": pl.String, "f": pl.Boolean}
_num = st.one_of(st.just("a"), st.just("b"), st.integers(-3, 3).map(str), st.sampled_from(["1.5", "-0.5", "NULL"]))
_str = st.one_of(st.just("s"), st.sampled_from(["'a'", "'pro'", "''", "NULL"]))


def _cmp(draw_side):
    return st.tuples(draw_side, st.sampled_from(["=", "<>", "<", ">", "<=", ">=", "IS DISTINCT FROM",
                                                 "IS NOT DISTINCT FROM"]), draw_side).map(" ".join)


_atoms = st.one_of(
    _cmp(_num), _cmp(_str), st.just("f"), st.sampled_from(["a IS NULL", "s IS NOT NULL", "b IS NULL", "TRUE",
                                                           "NULL"]),
    st.tuples(st.just("a IN ("), st.lists(st.sampled_from(["1", "2", "NULL", "-1"]), min_size=1, max_size=3)
              .map(", ".join), st.just(")")).map("".join),
    st.tuples(st.just("s NOT IN ("), st.lists(st.sampled_from(["'a'", "'b'", "NULL"]), min_size=1, max_size=3)
              .map(", ".join), st.just(")")).map("".join),
    st.sampled_from(["b BETWEEN 0 AND 100", "a NOT BETWEEN -1 AND 2", "a + 1 > b", "s LIKE 'p%'",
                     "abs(b) < 5", "a % 2 = 0", "b / a > 1"]),
)
_exprs = st.recursive(_atoms, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from([" AND ", " OR "]), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
    inner.map(lambda e: f"NOT ({e})")), max_leaves=5)
_rows = st.lists(st.fixed_dictionaries({
    "a": st.one_of(st.none(), st.integers(-3, 3)),
    "b": st.one_of(st.none(), st.floats(-5, 5, allow_nan=False), st.just(math.nan)),
    "s": st.one_of(st.none(), st.sampled_from(["a", "b", "pro", ""])),
    "f": st.one_of(st.none(), st.booleans()),
}), max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_exprs, _rows)
def test_sql_check_fails_exactly_the_rows_duckdb_finds_false(expr: str, rows: list) -> None:
    df = pl.DataFrame(rows, schema=COLUMNS)
    table = df.to_arrow()
    con = duckdb.connect()
    try:
        con.register("t", table)
        try:
            expected = con.execute(f"SELECT count(*) FROM t WHERE ({expr}) IS FALSE").fetchone()[0]
        except duckdb.Error:
            with pytest.raises(InvalidArgument):
                failing(df, sql(expr))
            return
    finally:
        con.close()
    assert failing(df, sql(expr)) == expected, expr


def test_sql_check_refuses_what_is_not_one_expression() -> None:
    df = pl.DataFrame({"amount": [1.0]})
    for bad in ("amount > 0; DROP TABLE t", "amount > (SELECT 1)", "read_csv('/etc/passwd') IS NULL",
                "nope > 1", "amount > 0 -- comment"):
        with pytest.raises(InvalidArgument):
            run_checks(df, [sql(bad)])


def test_bad_checks_say_what_is_wrong() -> None:
    with pytest.raises(InvalidArgument, match="min=, max="):
        between("x")
    with pytest.raises(InvalidArgument, match="above max"):
        between("x", 5, 1)
    with pytest.raises(InvalidArgument, match="not a regular expression"):
        matches("s", "(?<=a)b")  # look-behind: Rust's regex has none
    with pytest.raises(InvalidArgument, match="at least one value"):
        isin("s", [])
    with pytest.raises(InvalidArgument, match="no column 'zz'"):
        run_checks(pl.DataFrame({"x": [1]}), [not_null("zz")])
    with pytest.raises(InvalidArgument, match="does not compare"):
        run_checks(pl.DataFrame({"x": [1]}), [between("x", "a", "b")])
    with pytest.raises(InvalidArgument, match="not a string column"):
        run_checks(pl.DataFrame({"x": [1]}), [matches("x", "a")])


def test_specs_round_trip() -> None:
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    checks = [not_null("a", name="a present"), unique("a", "b"), between("t", now, None), isin("s", ["x", "y"]),
              matches("s", "^x"), row_count(1, 10), freshness("t", dt.timedelta(hours=2), now=now),
              sql("a > 1 OR b IS NULL")]
    for c in checks:
        assert check_from_spec(c.to_spec()) == c


def test_samples_show_failing_rows() -> None:
    df = pl.DataFrame({"id": [1, 2, 3, 4], "age": [10, 200, -1, 50]})
    (o,) = run_checks(df, [between("age", 0, 130)], samples=5)
    assert o.failing == 2
    assert sorted(s["age"] for s in o.samples) == [-1, 200]
    assert {"id", "age"} <= set(o.samples[0])


def test_timestamp_bounds_compare_with_tz_aware_columns() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    table = pa.table({"t": pa.array([t0, t0 + dt.timedelta(days=3)], pa.timestamp("us", tz="UTC"))})
    df = pl.from_arrow(table)
    assert failing(df, between("t", None, t0 + dt.timedelta(days=1))) == 1
    assert failing(df, between("t", None, dt.datetime(2026, 1, 2))) == 1  # naive bounds are UTC
