"""After a merge or a delete (whose files delta-rs writes with string_view types), SQL and
``read(where=)`` filters on string and binary columns keep working (issue 14 item 4)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq

import lakebed


def test_readme_table_sequence_keeps_sql_working(lake: lakebed.Lake) -> None:
    t = lake.tables
    df = pd.DataFrame({"user_id": [1, 2, 3, 4], "plan": ["free", "pro", "trial", "trial"]})
    t.create("silver.users", schema={"user_id": "int64", "plan": "string"})
    t.write("silver.users", df)
    t.write("silver.users", df, mode="overwrite")
    t.write("silver.users", df.assign(region="eu"), schema_mode="merge")
    t.merge("silver.users", pd.DataFrame({"user_id": [1, 5], "plan": ["pro", "pro"]}), on=["user_id"])
    t.write("silver.users", [{"user_id": 6, "plan": "pro"}])
    # the merge's files carry string_view, the earlier ones string: both kinds are in the table
    kinds = {str(pq.read_schema(f).field("plan").type) for f in t._delta("silver.users").file_uris()}
    assert kinds == {"string", "string_view"}
    t.delete("silver.users", where="plan = 'trial'")
    assert t.read("silver.users").num_rows == 6
    got = t.read("silver.users", where="plan = 'pro'")
    assert got.schema.field("plan").type == "string"
    assert sorted(got.column("user_id").to_pylist()) == [1, 1, 2, 2, 5, 6]
    assert t.read("silver.users", version=3, columns=["user_id"]).num_rows == 8
    assert lake.sql("SELECT count(*) AS n FROM silver.users WHERE plan = 'pro'").to_pylist() == [{"n": 6}]
    rows = lake.sql(
        "SELECT plan, count(*) AS n FROM silver.users WHERE plan IN ('pro', 'free') "
        "AND plan LIKE '%r%' AND region IS NULL GROUP BY plan ORDER BY plan"
    ).to_pylist()
    assert rows == [{"plan": "pro", "n": 5}]
    assert t.history("silver.users")[0]["operation"] == "DELETE"
    t.restore("silver.users", 3)
    assert t.read("silver.users", where="plan >= 'q'").num_rows == 4
    t.vacuum("silver.users", retain=timedelta(days=7))


def test_filters_on_partition_and_binary_columns_after_merge(lake: lakebed.Lake) -> None:
    t = lake.tables
    t.create(
        "s.p",
        data=[{"id": 1, "r": "eu", "b": b"x", "plan": "a"}, {"id": 2, "r": "us", "b": b"y", "plan": "b"}],
        partition_by=["r"],
    )
    updates = [{"id": 1, "r": "eu", "b": b"z", "plan": "c"}, {"id": 3, "r": "us", "b": b"y", "plan": "d"}]
    t.merge("s.p", updates, on="id")
    assert t.read("s.p", where="r = 'eu' AND plan = 'c'").column("id").to_pylist() == [1]
    assert lake.sql("SELECT id FROM s.p WHERE b = 'y'::BLOB ORDER BY id").column("id").to_pylist() == [2, 3]
