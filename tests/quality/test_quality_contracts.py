"""Contracts on writes: reject writes nothing, quarantine splits rows exactly, warn writes and
records; versions of contracts; validation of stored versions; results and lineage."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import hypothesis.strategies as st
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import lakebed
from lakebed.errors import InvalidArgument, NotFound, QualityError
from lakebed.quality import between, freshness, isin, matches, not_null, row_count, sql, unique

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
EMAIL = r"^[a-z]+@[a-z]+\.[a-z]{2,}$"
SCHEMA = pa.schema([("id", pa.int64()), ("age", pa.int64()), ("plan", pa.string()), ("email", pa.string()),
                    ("amount", pa.float64()), ("refunded", pa.bool_()), ("ts", pa.timestamp("us", tz="UTC"))])
CHECKS = [not_null("id"), unique("id"), between("age", 0, 130), isin("plan", ["free", "pro"]),
          matches("email", EMAIL), sql("amount >= 0 OR refunded")]


def row(i: int | None, age: int | None = 30, plan: str | None = "free", email: str | None = "a@b.io",
        amount: float | None = 1.0, refunded: bool | None = False, hours: float = 0) -> dict:
    return {"id": i, "age": age, "plan": plan, "email": email, "amount": amount, "refunded": refunded,
            "ts": NOW - dt.timedelta(hours=hours)}


def make(lake: lakebed.Lake, rows: list[dict], **contract) -> None:
    lake.tables.create("silver.users", data=pa.Table.from_pylist(rows, schema=SCHEMA))
    lake.quality.contract("silver.users", checks=contract.pop("checks", CHECKS), **contract)


def plain(r: dict) -> str:
    """A row as comparable text (every ts is NOW; time zone objects differ in repr)."""
    return repr({k: r[k] for k in SCHEMA.names if k != "ts"})


def reference_failures(r: dict, stored_ids: set, batch_ids: list) -> set[str]:
    """The checks a row of a write fails, by hand."""
    out = set()
    if r["id"] is None:
        out.add("not_null(id)")
    if r["id"] is not None and (r["id"] in stored_ids or batch_ids.count(r["id"]) > 1):
        out.add("unique(id)")
    if r["age"] is not None and not 0 <= r["age"] <= 130:
        out.add("between(age, 0, 130)")
    if r["plan"] is not None and r["plan"] not in ("free", "pro"):
        out.add("isin(plan, ['free', 'pro'])")
    if r["email"] is not None and re.search(EMAIL, r["email"]) is None:
        out.add(f"matches(email, {EMAIL!r})")
    if r["amount"] is not None and r["refunded"] is not None and r["amount"] < 0 and not r["refunded"]:
        out.add("sql(amount >= 0 OR refunded)")
    return out


def test_reject_writes_nothing_and_names_each_failed_check(lake: lakebed.Lake) -> None:
    make(lake, [row(1), row(2)])
    before = lake.tables.read("silver.users")
    bad = [row(3), row(None), row(1, age=200), row(4, plan="trial", email="nope")]
    with pytest.raises(QualityError) as info:
        lake.tables.write("silver.users", bad)
    msg = str(info.value)
    for text in ("not_null(id): 1 of 4 rows", "unique(id): 1 of 4", "between(age, 0, 130): 1 of 4",
                 "isin(plan", "matches(email", "Nothing was written"):
        assert text in msg, text
    result = info.value.result
    assert result.action == "reject" and result.table_version is None and not result.passed
    assert {o.name: o.failing for o in result.failed} == {
        "not_null(id)": 1, "unique(id)": 1, "between(age, 0, 130)": 1, "isin(plan, ['free', 'pro'])": 1,
        f"matches(email, {EMAIL!r})": 1}
    assert result.outcome("between(age, 0, 130)").samples[0]["age"] == 200
    assert lake.tables.version("silver.users") == 0
    assert lake.tables.read("silver.users").equals(before)
    stored = lake.quality.result(result.id)
    assert stored.action == "reject" and stored.to_dict()["checks"] == result.to_dict()["checks"]
    with pytest.raises(QualityError):  # merge is held to the contract too
        lake.tables.merge("silver.users", [row(9, age=-1)], on="id")
    assert lake.tables.version("silver.users") == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({
    "id": st.one_of(st.none(), st.integers(0, 12)), "age": st.one_of(st.none(), st.integers(-2, 140)),
    "plan": st.sampled_from(["free", "pro", "trial", None]), "email": st.sampled_from(["a@b.io", "bad", None]),
    "amount": st.sampled_from([1.0, -1.0, None]), "refunded": st.sampled_from([True, False, None])}),
    min_size=1, max_size=15))
def test_quarantine_splits_rows_exactly(tmp_path_factory: pytest.TempPathFactory, batch: list[dict]) -> None:
    batch = [{**r, "ts": NOW} for r in batch]
    with lakebed.connect(tmp_path_factory.mktemp("q") / "lake", fsync="never") as lake:
        make(lake, [row(0), row(1)], on_violation="quarantine")
        ids = [r["id"] for r in batch]
        expected = [(r, reference_failures(r, {0, 1}, ids)) for r in batch]
        lake.tables.write("silver.users", pa.Table.from_pylist(batch, schema=SCHEMA))
        kept = [plain(r) for r in lake.tables.read("silver.users").to_pylist()]
        assert sorted(kept) == sorted(plain(r) for r in [row(0), row(1)] + [r for r, f in expected if not f])
        bad = [(r, f) for r, f in expected if f]
        if not bad:
            assert not lake.tables.exists("silver.users__quarantine")
            return
        q = lake.tables.read("silver.users__quarantine").to_pylist()
        got = sorted((plain(x), sorted(x["_lakebed_reasons"])) for x in q)
        assert got == sorted((plain(r), sorted(f)) for r, f in bad)
        res = lake.quality.results("silver.users", limit=1)[0]
        assert res.action == "quarantine" and not res.passed


def test_warn_writes_everything_and_records_the_failure(lake: lakebed.Lake) -> None:
    make(lake, [row(1)], on_violation="warn")
    v = lake.tables.write("silver.users", [row(2, age=999)])
    assert lake.tables.read("silver.users").num_rows == 2
    res = lake.quality.results("silver.users", limit=1)[0]
    assert (res.action, res.passed, res.table_version) == ("warn", False, v)
    assert res.outcome("between(age, 0, 130)").failing == 1
    assert f"table:silver.users@{v}" in lake.lineage.upstream(res.ref).nodes


def test_unique_judges_new_rows_against_the_rows_the_write_keeps(lake: lakebed.Lake) -> None:
    make(lake, [row(1), row(2)])
    with pytest.raises(QualityError, match=r"unique\(id\): 1 of 1"):
        lake.tables.write("silver.users", [row(2)])
    lake.tables.merge("silver.users", [row(2, age=40), row(3)], on="id")  # replaces 2: no repeat
    lake.tables.write("silver.users", [row(1), row(2)], mode="overwrite")  # keeps no stored row
    assert sorted(r["id"] for r in lake.tables.read("silver.users").to_pylist()) == [1, 2]
    with pytest.raises(QualityError, match=r"unique\(id\): 2 of 2"):
        lake.tables.write("silver.users", [row(5), row(5)])


def test_dataset_checks_judge_the_table_the_write_would_make(lake: lakebed.Lake) -> None:
    checks = [row_count(max=3), freshness("ts", dt.timedelta(hours=1), now=NOW)]
    make(lake, [row(1), row(2)], checks=checks, on_violation="quarantine")
    lake.tables.write("silver.users", [row(3, hours=5)])  # 3 rows; the newest stored row is fresh
    with pytest.raises(QualityError, match="quarantining rows cannot mend") as info:
        lake.tables.write("silver.users", [row(4)])  # 4 rows > 3
    assert info.value.result.outcome("row_count(0..3)").detail == "4 rows"
    lake.tables.write("silver.users", [row(1)], mode="overwrite")
    with pytest.raises(QualityError, match="freshness"):
        lake.tables.write("silver.users", [row(2, hours=9)], mode="overwrite")
    assert lake.tables.read("silver.users").num_rows == 1


def test_stream_of_batches_is_judged_whole(lake: lakebed.Lake) -> None:
    make(lake, [row(1)])
    good = pa.Table.from_pylist([row(2), row(3)], schema=SCHEMA)
    bad = pa.Table.from_pylist([row(4), row(5, age=-5)], schema=SCHEMA)
    reader = pa.RecordBatchReader.from_batches(SCHEMA, [*good.to_batches(), *bad.to_batches()])
    with pytest.raises(QualityError):
        lake.tables.write("silver.users", reader)
    assert lake.tables.read("silver.users").num_rows == 1


def test_contract_versions_plan_and_apply(lake: lakebed.Lake) -> None:
    make(lake, [row(1)])
    first = lake.quality.get_contract("silver.users")
    assert first.version == 1
    again = lake.quality.contract("silver.users", checks=CHECKS)
    assert again.version == 1  # the same contract is not a new version
    from lakebed.quality import Contract

    changed = Contract("silver.users", (*CHECKS[:-1], between("amount", 0, None)), on_violation="warn")
    plan = lake.quality.plan([changed])
    assert [c.action for c in plan.changes] == ["update"]
    assert "- sql(amount >= 0 OR refunded)" in str(plan) and "+ between(amount, 0, inf)" in str(plan)
    lake.quality.apply([changed])
    assert lake.quality.get_contract("silver.users").version == 2
    assert lake.quality.get_contract("silver.users", version=1) == first
    lake.tables.write("silver.users", [row(7, amount=-3.0)])  # warn now
    lake.quality.drop_contract("silver.users")
    lake.tables.write("silver.users", [row(None)])  # no contract: anything goes
    assert [h["version"] for h in lake.quality.contract_history("silver.users")] == [3, 2, 1]
    assert lake.quality.contracts() == []
    with pytest.raises(NotFound):
        lake.quality.get_contract("silver.users")
    assert lake.quality.contract("silver.users", checks=[not_null("age")]).version == 4


def test_bad_contracts_are_refused_and_store_nothing(lake: lakebed.Lake) -> None:
    lake.tables.create("silver.users", data=pa.Table.from_pylist([row(1)], schema=SCHEMA))
    with pytest.raises(InvalidArgument, match="no column 'nope'"):
        lake.quality.contract("silver.users", checks=[not_null("nope")])
    with pytest.raises(InvalidArgument, match="on_violation"):
        lake.quality.contract("silver.users", checks=CHECKS, on_violation="explode")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="share the name"):
        lake.quality.contract("silver.users", checks=[not_null("id"), not_null("id")])
    with pytest.raises(InvalidArgument, match="unknown type"):
        lake.quality.contract("silver.users", columns={"id": "integer64"})
    with pytest.raises(InvalidArgument, match="subqueries"):
        lake.quality.contract("silver.users", checks=[sql("id IN (SELECT 1)")])
    with pytest.raises(NotFound):
        lake.quality.contract("silver.nope", checks=[not_null("id")])
    with pytest.raises(InvalidArgument):
        lake.quality.contract("../etc.passwd", checks=[not_null("id")])
    assert lake.quality.contracts() == []
    lake.tables.write("silver.users", [row(None)])  # nothing is enforced


def test_validate_a_stored_version_and_query_results(lake: lakebed.Lake) -> None:
    lake.tables.create("silver.users", data=pa.Table.from_pylist([row(1), row(2)], schema=SCHEMA))
    lake.tables.write("silver.users", [row(2, age=300), row(None)])  # before any contract
    lake.quality.contract("silver.users", checks=CHECKS, columns={"id": "int64", "age": "int", "ts": "timestamp"})
    now = lake.quality.validate("silver.users")
    assert now.table_version == 1 and now.rows == 4 and not now.passed
    assert {o.name: o.failing for o in now.failed} == {"not_null(id)": 1, "unique(id)": 2,
                                                       "between(age, 0, 130)": 1}
    assert now.checks[0].name == "schema" and now.checks[0].passed
    old = lake.quality.validate("silver.users@0")
    assert old.passed and old.table_version == 0 and old.rows == 2
    assert [r.id for r in lake.quality.results("silver.users")] == [old.id, now.id]
    assert [r.id for r in lake.quality.results("silver.users", passed=False)] == [now.id]
    assert lake.lineage.downstream("table:silver.users@0").nodes == ["table:silver.users@0", old.ref]
    adhoc = lake.quality.validate("silver.users", version=0, checks=[row_count(min=5)], store=False)
    assert adhoc.id is None and not adhoc.passed
    mem = lake.quality.validate(pa.table({"x": [1, None]}), checks=[not_null("x")])
    assert mem.failed[0].failing == 1 and mem.id is None
    with pytest.raises(InvalidArgument, match="needs checks"):
        lake.quality.validate(pa.table({"x": [1]}))
    schema_contract = lake.quality.contract("silver.users", checks=[], columns={"age": "string"})
    res = lake.quality.validate("silver.users")
    assert res.checks[0].detail == "age: int64 (expected string)" and schema_contract.version == 2


def test_contracts_live_in_either_catalog(catalog_url: str | None, tmp_path: Path) -> None:
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lake:
        make(lake, [row(1)], on_violation="quarantine")
        lake.tables.write("silver.users", [row(1), row(2)])
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lake:
        assert lake.quality.get_contract("silver.users").on_violation == "quarantine"
        (res, *_) = lake.quality.results("silver.users")
        assert res.outcome("unique(id)").failing == 1
        assert lake.tables.read("silver.users__quarantine").column("id").to_pylist() == [1]
