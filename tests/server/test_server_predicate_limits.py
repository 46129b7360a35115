"""Oversized and over-deep user text on the predicate and SQL routes: 4xx with the limit
named, and the table untouched (embedded and served)."""

from __future__ import annotations

import httpx
import pytest
from tests.server.conftest import MAX_BODY, Served

import lakebed
from lakebed.errors import InvalidArgument
from lakebed.tables._predicate import MAX_DEPTH, MAX_LENGTH

LONG = "id IN (" + ", ".join(str(i) for i in range(MAX_LENGTH // 3)) + ")"
DEEP = "NOT (" * (MAX_DEPTH + 10) + "id = 1" + ")" * (MAX_DEPTH + 10)  # redundant brackets alone add no depth


def _fill(lake: lakebed.Lake) -> None:
    lake.tables.create("silver.users", data=[{"id": i, "name": f"u{i}"} for i in range(5)])


def test_embedded_long_and_deep_predicates_are_refused_and_change_nothing(lake: lakebed.Lake) -> None:
    _fill(lake)
    assert len(LONG) > MAX_LENGTH
    for where, words in ((LONG, "limit"), (DEEP, "nests deeper")):
        for call in (lake.tables.read, lake.tables.delete):
            with pytest.raises(InvalidArgument, match=words):
                call("silver.users", where=where)
    assert len(lake.tables.history("silver.users")) == 1
    assert lake.tables.read("silver.users").num_rows == 5


def test_served_long_and_deep_predicates_get_400_and_change_nothing(served: Served) -> None:
    _fill(served.lake)
    for where in (LONG, DEEP):
        read = httpx.get(f"{served.url}/v1/tables/silver.users/data", params={"where": where})
        delete = httpx.post(f"{served.url}/v1/tables/silver.users/delete", json={"where": where})
        for got in (read, delete):
            assert got.status_code in (400, 422), got.text[:200]
            assert any(w in got.text for w in ("limit", "at most 16384", "nests deeper")), got.text[:200]
    assert len(served.lake.tables.history("silver.users")) == 1
    assert served.lake.tables.read("silver.users").num_rows == 5


def test_served_sql_body_over_the_limit_gets_413(served: Served) -> None:
    _fill(served.lake)
    query = "SELECT count(*) FROM silver.users -- " + "x" * (MAX_BODY + 1)
    got = httpx.post(f"{served.url}/v1/sql", json={"query": query}, timeout=60)
    assert got.status_code == 413, got.text[:200]
