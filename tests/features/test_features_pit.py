"""Point-in-time training sets against a brute-force Python reference (Hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakebed
from lakebed.features import Aggregation, Entity, FeatureView, Field

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TTL = timedelta(hours=5)
WIN = timedelta(hours=3)
SCHEMA_A = pa.schema([
    ("user_id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")),
    ("created_at", pa.timestamp("us", tz="UTC")), ("amount", pa.float64()), ("n", pa.int64()),
])
SCHEMA_B = pa.schema([("user_id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("score", pa.string())])


@pytest.fixture(scope="module")
def pit_lake():
    with lakebed.connect(":memory:") as lake:
        lake.tables.create("silver.a", schema=SCHEMA_A)
        lake.tables.create("silver.b", schema=SCHEMA_B)
        user = Entity("user", join_keys=["user_id"])
        a = FeatureView("a", entities=[user], source="silver.a", timestamp_field="ts",
                        created_timestamp_field="created_at", ttl=TTL,
                        fields=[Field("amount", "float64"), Field("n", "int64")])
        b = FeatureView("b", entities=[user], source="silver.b", timestamp_field="ts",
                        fields=[Field("score", "string")])
        c = FeatureView("c", entities=[user], source="silver.a", timestamp_field="ts", aggregations=[
            Aggregation("amount", f, window=WIN) for f in ("sum", "count", "mean", "min", "max")
        ])
        lake.features.apply([user, a, b, c])
        yield lake


def at(h: int) -> datetime:
    return T0 + timedelta(minutes=30 * h)


rows_a = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 20), st.one_of(st.none(), st.integers(0, 2)),
              st.one_of(st.none(), st.integers(-50, 50).map(float)), st.one_of(st.none(), st.integers(0, 9))),
    max_size=30, unique_by=lambda r: (r[0], r[1], r[2]),
)
rows_b = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 20), st.one_of(st.none(), st.text("xyz", max_size=3))),
    max_size=15, unique_by=lambda r: (r[0], r[1]),
)
entities = st.lists(
    st.tuples(st.integers(0, 4), st.integers(-2, 24), st.integers(-1000, 1000)), min_size=1, max_size=25
)


def reference(a_rows, b_rows, ents):
    """Brute force: the latest row at or before t (ties: larger created), within ttl."""
    out = []
    for uid, th, _ in ents:
        t = at(th)
        cand = [r for r in a_rows if r[0] == uid and at(r[1]) <= t and at(r[1]) > t - TTL]
        best = max(cand, key=lambda r: (r[1], -1 if r[2] is None else r[2]), default=None)
        candb = [r for r in b_rows if r[0] == uid and at(r[1]) <= t]
        bestb = max(candb, key=lambda r: r[1], default=None)
        win = [r[3] for r in a_rows if r[0] == uid and t - WIN < at(r[1]) <= t]
        vals = [v for v in win if v is not None]
        out.append({
            "amount": best[3] if best else None,
            "n": best[4] if best else None,
            "score": bestb[2] if bestb else None,
            "amount_sum_3h": sum(vals) if vals else None,
            "amount_count_3h": len(vals),
            "amount_mean_3h": sum(vals) / len(vals) if vals else None,
            "amount_min_3h": min(vals) if vals else None,
            "amount_max_3h": max(vals) if vals else None,
        })
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a_rows=rows_a, b_rows=rows_b, ents=entities)
def test_training_set_matches_brute_force(pit_lake, a_rows, b_rows, ents):
    lake = pit_lake
    lake.tables.write("silver.a", pa.Table.from_pylist([
        {"user_id": u, "ts": at(h), "created_at": None if c is None else at(h) + timedelta(seconds=c),
         "amount": v, "n": n} for u, h, c, v, n in a_rows], schema=SCHEMA_A), mode="overwrite")
    lake.tables.write("silver.b", pa.Table.from_pylist([
        {"user_id": u, "ts": at(h), "score": s} for u, h, s in b_rows], schema=SCHEMA_B), mode="overwrite")
    ent = pa.table({
        "user_id": [e[0] for e in ents],
        "event_timestamp": pa.array([at(e[1]) for e in ents], pa.timestamp("us", tz="UTC")),
        "extra": [e[2] for e in ents],
    })
    feats = ["a:amount", "a:n", "b:score", *(f"c:amount_{f}_3h" for f in ("sum", "count", "mean", "min", "max"))]
    got = lake.features.training_set(ent, feats).to_arrow()
    assert got.column_names[:3] == ["user_id", "event_timestamp", "extra"]
    assert got.select(["user_id", "event_timestamp", "extra"]).equals(ent)  # order, duplicates, extras
    want = reference(a_rows, b_rows, ents)
    for i, row in enumerate(got.drop_columns(["user_id", "event_timestamp", "extra"]).to_pylist()):
        for k, v in want[i].items():
            if isinstance(v, float) and row[k] is not None:
                assert row[k] == pytest.approx(v), (i, k)
            else:
                assert row[k] == v, (i, k, ents[i])


def test_ttl_edges_are_exclusive_below_inclusive_above(pit_lake):
    lake = pit_lake
    lake.tables.write("silver.a", pa.Table.from_pylist([
        {"user_id": 1, "ts": at(0), "created_at": None, "amount": 1.0, "n": 1}], schema=SCHEMA_A), mode="overwrite")
    ts = [at(0) - timedelta(microseconds=1), at(0), at(0) + TTL - timedelta(microseconds=1), at(0) + TTL]
    ent = pa.table({"user_id": [1] * 4, "event_timestamp": pa.array(ts, pa.timestamp("us", tz="UTC"))})
    got = lake.features.training_set(ent, ["a:amount"]).to_arrow().column("amount").to_pylist()
    assert got == [None, 1.0, 1.0, None]


def test_nanosecond_entity_times_are_floored(pit_lake):
    lake = pit_lake
    lake.tables.write("silver.a", pa.Table.from_pylist([
        {"user_id": 1, "ts": at(0), "created_at": None, "amount": 1.0, "n": 1}], schema=SCHEMA_A), mode="overwrite")
    base = int(at(0).timestamp() * 1_000_000_000)
    times = pa.array([base - 1, base + 999], pa.timestamp("ns", tz="UTC"))
    ent = pa.table({"user_id": [1, 1], "event_timestamp": times})
    got = lake.features.training_set(ent, ["a:amount"]).to_arrow().column("amount").to_pylist()
    assert got == [None, 1.0]
