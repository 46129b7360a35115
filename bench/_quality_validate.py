"""The validation systems of ``bench/quality.py``: each takes the Parquet file (or the lake)
and returns ``(seconds, {check key: result}, notes)``; the time runs from the data on disk to
the per-check failing counts. A row check's result is ``{"failing": int}``; a dataset
check's is ``{"passed": bool, "value": ...}``; a check a system cannot express is
``{"na": "why"}``.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from _quality_data import (
    AGE_MAX,
    AGE_MIN,
    AMOUNT_MAX,
    AMOUNT_MIN,
    COUNTRIES,
    EMAIL_RE,
    MAX_AGE,
    NOW,
    PLANS,
    SQL_EXPR,
)

Result = tuple[float, dict[str, Any], dict[str, Any]]
CUTOFF = NOW - MAX_AGE


def _sql_list(xs: list[str]) -> str:
    return ", ".join("'" + x.replace("'", "''") + "'" for x in xs)


def _finish(counts: dict[str, Any], rows: int, newest: dt.datetime | None) -> dict[str, Any]:
    out: dict[str, Any] = {k: {"failing": int(v)} for k, v in counts.items()}
    out["row_count"] = {"passed": rows >= 1, "value": int(rows)}
    out["freshness_ts"] = {"passed": newest is not None and newest >= CUTOFF,
                           "value": newest.isoformat() if newest else None}
    return out


# -- raw polars --------------------------------------------------------------------------------
def polars_raw(path: Path, streaming: bool = False) -> Result:
    import polars as pl

    t0 = time.perf_counter()
    _el, out, notes = _polars_query(pl.scan_parquet(path), streaming)
    return time.perf_counter() - t0, out, notes


def _polars_query(lf: Any, streaming: bool = False) -> Result:
    import polars as pl

    c = pl.col
    t0 = time.perf_counter()
    df = lf.select(
        rows=pl.len(),
        not_null_user_id=c("user_id").is_null().sum(),
        unique_event_id=(c("event_id").is_duplicated() & c("event_id").is_not_null()).sum(),
        between_age=((c("age") < AGE_MIN) | (c("age") > AGE_MAX)).sum(),
        isin_plan=(~c("plan").is_in(PLANS)).sum(),
        matches_email=(~c("email").str.contains(EMAIL_RE)).sum(),
        not_null_ts=c("ts").is_null().sum(),
        between_amount=((c("amount") < AMOUNT_MIN) | (c("amount") > AMOUNT_MAX)).sum(),
        max_ts=c("ts").max(),
        sql_refund=(~((c("amount") >= 0) | c("refunded"))).sum(),
        isin_country=(~c("country").is_in(COUNTRIES)).sum(),
    ).collect(engine="streaming" if streaming else "auto")
    row = df.row(0, named=True)
    rows, newest = row.pop("rows"), row.pop("max_ts")
    out = _finish(row, rows, newest)
    return time.perf_counter() - t0, out, {"engine": "streaming" if streaming else "in-memory"}


def polars_lakefiles(path: Path) -> Result:
    """Diagnostic: the same polars query over lakebed's own Parquet files of the table (the
    Delta table written by the setup, one snappy file per 1M rows; appends only, so every file
    in the folder is live), to tell the file layout from lakebed's own work."""
    import polars as pl

    t0 = time.perf_counter()
    files = sorted(str(f) for f in (path.parent / "lake" / "tables" / "bench" / "events").glob("*.parquet"))
    if not files:
        raise FileNotFoundError("no lakebed table files (the lakebed setup did not run)")
    _el, out, notes = _polars_query(pl.scan_parquet(files))
    return time.perf_counter() - t0, out, {**notes, "files": len(files)}


# -- raw DuckDB --------------------------------------------------------------------------------
def duckdb_sql(src: str) -> str:
    """All aggregates in one statement; ``src`` is scanned twice (the duplicate count is a
    GROUP BY of its own), not materialised."""
    return f"""
SELECT count(*) AS rows,
  count(*) - count(user_id) AS not_null_user_id,
  (SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {src} WHERE event_id IS NOT NULL
     GROUP BY event_id HAVING count(*) > 1)) AS unique_event_id,
  count_if(age < {AGE_MIN} OR age > {AGE_MAX}) AS between_age,
  count_if(plan NOT IN ({_sql_list(PLANS)})) AS isin_plan,
  count_if(NOT regexp_matches(email, '{EMAIL_RE}')) AS matches_email,
  count(*) - count(ts) AS not_null_ts,
  count_if(amount < {AMOUNT_MIN} OR amount > {AMOUNT_MAX}) AS between_amount,
  epoch_us(max(ts)) AS max_ts_us,
  count_if(NOT ({SQL_EXPR})) AS sql_refund,
  count_if(country NOT IN ({_sql_list(COUNTRIES)})) AS isin_country
FROM {src}"""


def _duck_rows(con: Any, src: str) -> dict[str, Any]:
    cur = con.execute(duckdb_sql(src))
    names = [d[0] for d in cur.description]
    row = dict(zip(names, cur.fetchone(), strict=True))
    rows, us = row.pop("rows"), row.pop("max_ts_us")
    newest = dt.datetime.fromtimestamp(us / 1e6, dt.UTC) if us is not None else None
    return _finish(row, rows, newest)


def duckdb_parquet(path: Path) -> Result:
    import duckdb

    con = duckdb.connect()
    t0 = time.perf_counter()
    out = _duck_rows(con, f"read_parquet('{path}')")
    return time.perf_counter() - t0, out, {"threads": con.execute("SELECT current_setting('threads')").fetchone()[0]}


def duckdb_arrow(path: Path) -> Result:
    import duckdb
    import pyarrow.parquet as pq

    con = duckdb.connect()
    t0 = time.perf_counter()
    tbl = pq.read_table(path)
    t1 = time.perf_counter()
    con.register("events_arrow", tbl)
    out = _duck_rows(con, "events_arrow")
    el = time.perf_counter() - t0
    return el, out, {"read_s": t1 - t0, "query_s": el - (t1 - t0)}


# -- Pandera -----------------------------------------------------------------------------------
def _pandera_keys(failures: list[dict[str, Any]]) -> dict[str, Any]:
    """(column, check) -> check key."""
    counts: dict[str, int] = {}
    for f in failures:
        col, chk = f["column"], str(f["check"])
        if chk == "not_nullable":
            key = f"not_null_{col}"
        elif chk == "field_uniqueness":
            key = f"unique_{col}"
        elif chk.startswith("in_range"):
            key = f"between_{col}"
        elif chk.startswith("isin"):
            key = f"isin_{col}"
        elif chk.startswith("str_contains"):
            key = f"matches_{col}"
        else:
            key = chk
        counts[key] = counts.get(key, 0) + int(f["n"])
    return counts


def _pandera_result(counts: dict[str, int], rows: int, newest: Any) -> dict[str, Any]:
    row_keys = ["not_null_user_id", "unique_event_id", "between_age", "isin_plan", "matches_email", "not_null_ts",
                "between_amount", "sql_refund", "isin_country"]
    out: dict[str, Any] = {k: {"failing": counts.get(k, 0)} for k in row_keys}
    out["row_count"] = {"passed": counts.get("row_count", 0) == 0, "value": rows}
    out["freshness_ts"] = {"passed": counts.get("freshness", 0) == 0, "value": newest}
    return out


def pandera_polars(path: Path) -> Result:
    import pandera.polars as pa
    import polars as pl
    from pandera.errors import SchemaErrors

    schema = pa.DataFrameSchema(
        {
            "user_id": pa.Column(nullable=False),
            "event_id": pa.Column(unique=True),
            "age": pa.Column(nullable=True, checks=pa.Check.in_range(AGE_MIN, AGE_MAX)),
            "plan": pa.Column(nullable=True, checks=pa.Check.isin(PLANS)),
            "email": pa.Column(nullable=True, checks=pa.Check.str_contains(EMAIL_RE)),
            "ts": pa.Column(nullable=False, checks=pa.Check(
                lambda d: d.lazyframe.select(pl.col(d.key).max() >= CUTOFF), name="freshness")),
            "amount": pa.Column(nullable=True, checks=pa.Check.in_range(AMOUNT_MIN, AMOUNT_MAX)),
            "country": pa.Column(nullable=True, checks=pa.Check.isin(COUNTRIES)),
        },
        checks=[
            pa.Check(lambda d: d.lazyframe.select(pl.len() >= 1), name="row_count"),
            # NULL passes, as in an SQL CHECK constraint
            pa.Check(lambda d: d.lazyframe.select(((pl.col("amount") >= 0) | pl.col("refunded")).fill_null(True)),
                     name="sql_refund"),
        ],
    )
    t0 = time.perf_counter()
    df = pl.read_parquet(path)
    try:
        schema.validate(df, lazy=True)
        failures: list[dict[str, Any]] = []
        exc_rows = 0
    except SchemaErrors as exc:
        fc = exc.failure_cases
        exc_rows = fc.height
        # a dataframe-level check may report a failing row once per column: count distinct rows
        failures = fc.group_by(["column", "check"]).agg(
            pl.when(pl.col("index").null_count() < pl.len()).then(pl.col("index").drop_nulls().n_unique())
            .otherwise(pl.len()).alias("n")).to_dicts()
    out = _pandera_result(_pandera_keys(failures), df.height, None)
    return time.perf_counter() - t0, out, {"failure_case_rows": exc_rows}


def pandera_pandas(path: Path) -> Result:
    import pandas as pd
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

    schema = pa.DataFrameSchema(
        {
            "user_id": pa.Column(nullable=False),
            "event_id": pa.Column(unique=True),
            "age": pa.Column(nullable=True, checks=pa.Check.in_range(AGE_MIN, AGE_MAX)),
            "plan": pa.Column(nullable=True, checks=pa.Check.isin(PLANS)),
            "email": pa.Column(nullable=True, checks=pa.Check.str_contains(EMAIL_RE)),
            "ts": pa.Column(nullable=False, checks=pa.Check(lambda s: s.max() >= CUTOFF, name="freshness")),
            "amount": pa.Column(nullable=True, checks=pa.Check.in_range(AMOUNT_MIN, AMOUNT_MAX)),
            "country": pa.Column(nullable=True, checks=pa.Check.isin(COUNTRIES)),
        },
        checks=[
            pa.Check(lambda df: len(df) >= 1, name="row_count"),
            # NULL passes, as in an SQL CHECK constraint: a missing amount never makes it FALSE
            pa.Check(lambda df: (df["amount"] >= 0) | df["refunded"] | df["amount"].isna(), name="sql_refund"),
        ],
    )
    t0 = time.perf_counter()
    df = pd.read_parquet(path)
    try:
        schema.validate(df, lazy=True)
        failures: list[dict[str, Any]] = []
        exc_rows = 0
    except SchemaErrors as exc:
        fc = exc.failure_cases
        exc_rows = len(fc)
        # a dataframe-level check reports each failing row once per column: count distinct rows
        fc["column"] = fc["column"].where(fc["schema_context"] != "DataFrameSchema", "*")
        g = fc.groupby(["column", "check"], dropna=False).agg(n=("index", "nunique"), cases=("index", "size"))
        g["n"] = g["n"].where(g["n"] > 0, g["cases"])
        failures = g.reset_index().to_dict("records")
        for f in failures:
            if f["column"] is None or f["column"] != f["column"]:  # dataframe-level check: column is NaN
                f["column"] = None
    out = _pandera_result(_pandera_keys(failures), len(df), None)
    return time.perf_counter() - t0, out, {"failure_case_rows": exc_rows}


# -- Great Expectations ------------------------------------------------------------------------
GX_KINDS = {"expect_column_values_to_not_be_null": "not_null", "expect_column_values_to_be_unique": "unique",
            "expect_column_values_to_be_between": "between", "expect_column_values_to_be_in_set": "isin",
            "expect_column_values_to_match_regex": "matches"}


def _gx_key(cfg: Any) -> str:
    col = cfg.kwargs.get("column")
    if cfg.type == "expect_table_row_count_to_be_between":
        return "row_count"
    if cfg.type == "expect_column_max_to_be_between":
        return "freshness_ts"
    if cfg.kwargs.get("row_condition"):
        return "sql_refund"
    return f"{GX_KINDS[cfg.type]}_{col}"


def gx_suite() -> list[Any]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="user_id"),
        gxe.ExpectColumnValuesToBeUnique(column="event_id"),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=AGE_MIN, max_value=AGE_MAX),
        gxe.ExpectColumnValuesToBeInSet(column="plan", value_set=PLANS),
        gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_RE),
        gxe.ExpectColumnValuesToNotBeNull(column="ts"),
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=AMOUNT_MIN, max_value=AMOUNT_MAX),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnMaxToBeBetween(column="ts", min_value=CUTOFF),
        # the pandas source runs no SQL (UnexpectedRowsExpectation is SQL-only): "amount >= 0 OR
        # refunded" is FALSE exactly where amount < 0 and refunded is false, so: refunded in {True}
        # on the rows where amount < 0 (a missing amount is not < 0, so NULL passes)
        gxe.ExpectColumnValuesToBeInSet(column="refunded", value_set=[True], row_condition="amount < 0",
                                        condition_parser="pandas"),
        gxe.ExpectColumnValuesToBeInSet(column="country", value_set=COUNTRIES),
    ]


def gx(path: Path) -> Result:
    import great_expectations as gxm
    import pandas as pd

    s0 = time.perf_counter()
    ctx = gxm.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False}
    asset = ctx.data_sources.add_pandas("pandas").add_dataframe_asset("events")
    batch_def = asset.add_batch_definition_whole_dataframe("all")
    suite = ctx.suites.add(gxm.ExpectationSuite(name="events"))
    for e in gx_suite():
        suite.add_expectation(e)
    vd = ctx.validation_definitions.add(gxm.ValidationDefinition(name="events", data=batch_def, suite=suite))
    setup_s = time.perf_counter() - s0
    t0 = time.perf_counter()
    df = pd.read_parquet(path)
    res = vd.run(batch_parameters={"dataframe": df}, result_format="BASIC")
    out: dict[str, Any] = {}
    for r in res.results:
        key = _gx_key(r.expectation_config)
        if key in ("row_count", "freshness_ts"):
            v = r.result.get("observed_value")
            out[key] = {"passed": bool(r.success), "value": str(v)}
        else:
            out[key] = {"failing": int(r.result.get("unexpected_count") or 0)}
        if r.exception_info and r.exception_info.get("raised_exception"):
            out[key] = {"error": str(r.exception_info.get("exception_message"))[:300]}
    return time.perf_counter() - t0, out, {"setup_s": setup_s, "result_format": "BASIC"}


# -- Soda Core ---------------------------------------------------------------------------------
def soda_yaml() -> str:
    esc = EMAIL_RE.replace("'", "''")
    return f"""
checks for events:
  - missing_count(user_id) = 0
  - duplicate_count(event_id) = 0
  - invalid_count(age) = 0:
      valid min: {AGE_MIN}
      valid max: {AGE_MAX}
  - invalid_count(plan) = 0:
      valid values: [{", ".join(PLANS)}]
  - invalid_count(email) = 0:
      valid regex: '{esc}'
  - missing_count(ts) = 0
  - invalid_count(amount) = 0:
      valid min: {AMOUNT_MIN}
      valid max: {AMOUNT_MAX}
  - row_count >= 1
  - freshness(ts) < 2d
  - failed rows:
      name: sql_refund
      fail condition: NOT ({SQL_EXPR})
  - invalid_count(country) = 0:
      valid values: [{", ".join(COUNTRIES)}]
"""


SODA_KEYS = {"missing_count(user_id)": "not_null_user_id", "duplicate_count(event_id)": "unique_event_id_groups",
             "invalid_count(age)": "between_age", "invalid_count(plan)": "isin_plan",
             "invalid_count(email)": "matches_email", "missing_count(ts)": "not_null_ts",
             "invalid_count(amount)": "between_amount", "row_count": "row_count", "freshness(ts)": "freshness_ts",
             "sql_refund": "sql_refund", "invalid_count(country)": "isin_country"}


def soda(path: Path) -> Result:
    import duckdb
    from soda.scan import Scan

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{path}')")
    scan = Scan()
    scan.disable_telemetry()
    scan.set_data_source_name("duckdb")
    scan.add_duckdb_connection(con, data_source_name="duckdb")
    scan.add_variables({"NOW": NOW.isoformat()})
    scan.add_sodacl_yaml_str(soda_yaml())
    scan.execute()
    results = scan.get_scan_results()
    el = time.perf_counter() - t0
    checks = results["checks"]
    if len(checks) != len(SODA_KEYS):
        raise RuntimeError(f"soda ran {len(checks)} checks, not {len(SODA_KEYS)}: {scan.get_logs_text()[-2000:]}")
    out: dict[str, Any] = {}
    for c in checks:
        key = SODA_KEYS[c["name"].split(" ")[0]]
        diag = c.get("diagnostics") or {}
        value = diag.get("maxColumnTimestampUtc") if key == "freshness_ts" else diag.get("value")
        if key in ("row_count", "freshness_ts"):
            out[key] = {"passed": c["outcome"] == "pass", "value": value}
        elif c["outcome"] not in ("pass", "fail"):
            out[key] = {"error": f"outcome {c['outcome']}"}
        else:
            out[key] = {"failing": int(value)}
    out["unique_event_id"] = {"na": "duplicate_count counts distinct values that repeat, not rows: see "
                                    "unique_event_id_groups"}
    return el, out, {"queries": len(results.get("queries", []) or []), "outcomes": [c["outcome"] for c in checks]}


SYSTEMS = {
    "polars": polars_raw,
    "polars_streaming": lambda p: polars_raw(p, streaming=True),
    "polars_lakefiles": polars_lakefiles,
    "duckdb_parquet": duckdb_parquet,
    "duckdb_arrow": duckdb_arrow,
    "pandera_polars": pandera_polars,
    "pandera_pandas": pandera_pandas,
    "gx": gx,
    "soda": soda,
}
