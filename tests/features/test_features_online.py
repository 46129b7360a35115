"""Online store: offline/online parity for every view type, TTL statuses, backend congruence."""

from __future__ import annotations

import math
from datetime import timedelta

import pyarrow as pa
import pytest
from features_helpers import T0, definitions, transactions

import lakebed
from lakebed.errors import InvalidArgument, NotFound, ReadOnlyError, SchemaError

FEATURES = [
    "user_stats:amount", "user_stats:merchant", "user_stats:n_items",
    *(f"user_spend:amount_{f}_7d" for f in ("sum", "count", "mean", "min", "max")),
    "user_spend:n_items_sum_1d", "tx_ratio:amount_vs_now", "tx_ratio:big_spender",
]


def assert_same(offline: dict, online: dict, where: str) -> None:
    for k, col in offline.items():
        for i, (a, b) in enumerate(zip(col, online[k], strict=True)):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b)), (
                    where, k, i, a, b)
            else:
                assert a == b, (where, k, i, a, b)


def parity(lake, at, users=range(35)) -> dict:
    """Training set at ``at`` must equal online reads at ``at`` for every user."""
    ids = list(users)
    ent = pa.table({"user_id": ids, "event_timestamp": pa.array([at] * len(ids), pa.timestamp("us", tz="UTC")),
                    "amount_now": [10.0] * len(ids)})
    off = lake.features.training_set(ent, FEATURES).to_arrow().drop_columns(["event_timestamp"]).to_pydict()
    off.pop("amount_now")
    rows = [{"user_id": u, "amount_now": 10.0} for u in ids]
    on = lake.features.online(rows, FEATURES, now=at)
    assert_same(off, on.to_dict(), f"at {at}")
    return on.statuses


@pytest.fixture
def store_lake(online_url):
    with lakebed.connect(":memory:", online=online_url) as lake:
        lake.tables.create("silver.transactions", data=transactions())
        lake.features.apply(list(definitions()))
        yield lake


def test_offline_online_parity_after_materialize_and_push(store_lake):
    lake = store_lake
    end = T0 + timedelta(days=20, hours=1)  # after every source row: online and offline agree later too
    lake.features.materialize(end=end)
    statuses = parity(lake, end)
    # materialization loads values within the ttl as of end: the rest are missing online
    assert set(statuses["amount"]) == {"present", "missing"}
    # pushes to both stores: new rows, an older row (must not win online) and a new user
    cols = ("user_id", "ts", "amount", "created_at", "merchant", "n_items")
    push = [dict(zip(cols, r, strict=True)) for r in [
        (3, end + timedelta(hours=1), 77.5, end, "z", 2),
        (4, end - timedelta(days=5), 1.0, end, "old", 1),
        (33, end + timedelta(hours=2), 5.0, end, None, 3),
    ]]
    lake.features.push("user_stats", push, to="both")
    lake.features.push("user_spend", push, to="online")  # same source table: offline rows exist already
    later = end + timedelta(hours=3)
    statuses = parity(lake, later)
    assert lake.features.online([{"user_id": 33}], ["user_stats:merchant"], now=later).status("merchant") == ["present"]
    # far later, everything has expired online as offline
    statuses = parity(lake, end + timedelta(days=30))
    assert set(statuses["amount"]) == {"expired", "missing"}
    assert set(statuses["amount_sum_7d"]) == {"expired", "missing"}


def test_materialize_is_idempotent_and_incremental(store_lake):
    lake = store_lake
    mid = T0 + timedelta(days=6)
    lake.features.materialize(end=mid)
    first = lake.features.online([{"user_id": u} for u in range(30)], FEATURES[:3], now=mid).to_dict()
    lake.features.materialize(end=mid)
    assert lake.features.online([{"user_id": u} for u in range(30)], FEATURES[:3], now=mid).to_dict() == first
    end = T0 + timedelta(days=15)
    lake.features.materialize_incremental(end=end, views=["user_stats"])
    lake.features.materialize(end=end, views=["user_spend"])
    parity(lake, end)
    st = {s["view"]: s for s in lake.features.status()}
    assert st["user_stats"]["last_materialized"] == end
    assert st["user_stats"]["rows_online"] > 0


def test_push_with_wrong_types_writes_nothing(store_lake):
    lake = store_lake
    before = lake.tables.version("silver.transactions")
    bad = [{"user_id": 1, "ts": T0, "amount": "lots", "created_at": T0, "merchant": "a", "n_items": 1}]
    with pytest.raises(SchemaError):
        lake.features.push("user_stats", bad, to="both")
    with pytest.raises(SchemaError):
        lake.features.push("user_stats", [{"user_id": "x", "ts": T0, "amount": 1.0, "merchant": "a",
                                           "n_items": 1}], to="both")
    with pytest.raises(SchemaError):
        lake.features.push("user_stats", [{"user_id": 1, "ts": T0, "amount": 1.0}], to="online")  # lacks fields
    assert lake.tables.version("silver.transactions") == before
    assert lake.features.online_store.count("user_stats") == 0


def test_newer_rows_win_in_every_backend(redis_url, pg_url):
    """Congruence: the same operations give the same answers on sqlite, redis and postgres."""
    answers = []
    end = T0 + timedelta(days=10)
    for url in (None, redis_url, pg_url):
        with lakebed.connect(":memory:", online=url) as lake:
            lake.tables.create("silver.transactions", data=transactions(n=600, users=50, seed=3))
            lake.features.apply(list(definitions()))
            lake.features.push("user_stats", [  # a pushed row newer than anything materialized later
                {"user_id": 1, "ts": end + timedelta(days=1), "amount": 9.0, "created_at": end,
                 "merchant": "p", "n_items": 1}], to="online")
            lake.features.materialize(end=end)
            lake.features.push("user_stats", [  # an older one: must not replace the stored row
                {"user_id": 2, "ts": T0, "amount": 1.0, "created_at": T0, "merchant": "q", "n_items": 1}], to="online")
            # a tie on event time: the larger created time wins
            tie = end + timedelta(hours=1)
            lake.features.push("user_stats", [
                {"user_id": 5, "ts": tie, "amount": 2.0, "created_at": tie + timedelta(seconds=5),
                 "merchant": "late", "n_items": 1},
                {"user_id": 5, "ts": tie, "amount": 1.0, "created_at": tie, "merchant": "early", "n_items": 1},
            ], to="online")
            rows = [{"user_id": u, "amount_now": 3.0} for u in range(55)]
            r = lake.features.online(rows, FEATURES, now=end + timedelta(days=1, hours=1))
            answers.append(r.to_dict(statuses=True))
            assert r["amount"][1] == 9.0 and r["merchant"][5] == "late"
            assert lake.features.online_store.name == ("sqlite", "redis", "postgres")[len(answers) - 1]
    assert answers[0] == answers[1] == answers[2]


def test_online_reads_old_version_rows_after_a_view_change(lake):
    from lakebed.features import FeatureView, Field

    lake.tables.create("silver.transactions", data=transactions())
    user, stats, _, _ = definitions()
    lake.features.apply([user, stats])
    end = T0 + timedelta(days=20)
    lake.features.materialize(end=end)
    before = lake.features.online([{"user_id": u} for u in range(30)], ["user_stats:amount"], now=end)
    v2 = FeatureView("user_stats", entities=[user], source="silver.transactions", timestamp_field="ts",
                     created_timestamp_field="created_at", ttl=timedelta(days=2),
                     fields=[Field("n_items", "int64"), Field("amount", "float64")])
    plan = lake.features.apply([v2])
    assert [c.action for c in plan if c.name == "user_stats"] == ["update"]
    after = lake.features.online([{"user_id": u} for u in range(30)], ["user_stats:amount"], now=end)
    assert after.to_dict(True) == before.to_dict(True)


def test_online_response_shapes(tx_lake):
    lake = tx_lake
    lake.features.materialize(end=T0 + timedelta(days=20))
    r = lake.features.online({"user_id": [1, 2]}, ["user_stats:amount"], full_feature_names=True)
    assert list(r.values) == ["user_id", "user_stats__amount"]
    assert r.to_arrow(statuses=True).column_names == ["user_id", "user_stats__amount", "user_stats__amount__status"]
    assert len(r) == 2


def test_progress_bad_rows_and_read_only_lake(lake_path):
    with lakebed.connect(lake_path) as lake:
        lake.tables.create("silver.transactions", data=transactions())
        lake.features.apply(list(definitions()))
        calls = []
        out = lake.features.materialize(end=T0 + timedelta(days=20), progress=lambda v, d, t: calls.append((v, d)))
        assert {v for v, _ in calls} == {"user_stats", "user_spend"}
        assert out["user_stats"] == max(d for v, d in calls if v == "user_stats")
        with pytest.raises(InvalidArgument, match="join key"):
            lake.features.online([{"uid": 1}], ["user_stats:amount"])
        with pytest.raises(InvalidArgument, match="on-demand"):
            lake.features.push("tx_ratio", [{"user_id": 1}])
        with pytest.raises(InvalidArgument):
            lake.features.push("user_stats", [{"user_id": 1}], to="elsewhere")
        with pytest.raises(NotFound):
            lake.features.materialize(views=["ghost"])
        want = lake.features.online([{"user_id": 1}], ["user_stats:amount"], now=T0 + timedelta(days=20)).to_dict()
    with lakebed.connect(lake_path, read_only=True) as lake:
        got = lake.features.online([{"user_id": 1}], ["user_stats:amount"], now=T0 + timedelta(days=20)).to_dict()
        assert got == want
        with pytest.raises(ReadOnlyError):
            lake.features.materialize()


def test_offline_push_appends_a_source_version(tx_lake):
    lake = tx_lake
    v = lake.tables.version("silver.transactions")
    rows = pa.table({"user_id": [99], "ts": pa.array([T0], pa.timestamp("us", tz="UTC")), "amount": [1.5]})
    assert lake.features.push("user_spend", rows, to="offline") == 1
    assert lake.tables.version("silver.transactions") == v + 1
    ent = pa.table({"user_id": [99], "event_timestamp": pa.array([T0], pa.timestamp("us", tz="UTC"))})
    assert lake.features.training_set(ent, ["user_spend:amount_sum_7d"])["amount_sum_7d"].to_pylist() == [1.5]


def test_aggregation_rows_survive_a_view_change(tx_lake):
    from lakebed.features import FeatureView

    lake = tx_lake
    end = T0 + timedelta(days=20, hours=1)
    lake.features.materialize(end=end)
    before = lake.features.online([{"user_id": u} for u in range(30)], ["user_spend:n_items_sum_1d"], now=end)
    _, _, spend, _ = definitions()
    v2 = FeatureView("user_spend", entities=["user"], source="silver.transactions", timestamp_field="ts",
                     aggregations=list(reversed(spend.aggregations)))
    lake.features.apply([v2])
    after = lake.features.online([{"user_id": u} for u in range(30)], ["user_spend:n_items_sum_1d"], now=end)
    assert after.to_dict(True) == before.to_dict(True)


def test_sqlite_store_read_only_before_its_table_exists(tmp_path) -> None:
    # a read-only lake that opens the store file between its creation and the writer's
    # CREATE TABLE reads an empty store, not a raw SQLite error
    import sqlite3

    from lakebed.features.online.sqlite import SqliteOnlineStore

    path = tmp_path / "online.db"
    sqlite3.connect(path).close()  # the file, without the table
    ro = SqliteOnlineStore(path, read_only=True)
    assert ro.read("v", ["a"]) == [None]
    assert ro.read("v", ["a", "b"]) == [None, None]
    assert ro.raw_get("v", "a") is None and ro.count("v") == 0
    rw = SqliteOnlineStore(path)
    rw.write("v", ["a"], [b"x"])
    assert ro.read("v", ["a", "b"]) == [b"x", None]  # the same reader sees the table once it is made


def test_sqlite_store_pages_and_upserts(tmp_path) -> None:
    # a new store takes 16 KiB pages; a store made with SQLite's 4 KiB pages keeps them and
    # works as before; a write replaces a key's row, a newer-only write keeps the newer row
    import sqlite3

    from lakebed.features.online.sqlite import SqliteOnlineStore

    new = SqliteOnlineStore(tmp_path / "new.db")
    old_path = tmp_path / "old.db"
    con = sqlite3.connect(old_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE online (view TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, "
                "PRIMARY KEY (view, key)) WITHOUT ROWID")
    con.execute("INSERT INTO online VALUES ('v', 'a', ?)", (bytes(16) + b"old",))
    con.commit()
    con.close()
    old = SqliteOnlineStore(old_path)
    assert [s._con.execute("PRAGMA page_size").fetchone()[0] for s in (new, old)] == [16384, 4096]
    assert old.read("v", ["a"]) == [bytes(16) + b"old"]
    for s in (new, old):
        big = [b"\x01" * 16 + bytes([i]) * 5000 for i in range(3)]  # rows over a page
        s.write("v", ["a", "b", "a"], big)  # the last of a key wins
        assert s.read("v", ["a", "b"]) == [big[2], big[1]]
        s.write("v", ["a"], [bytes(16) + b"older"], newer_only=True)
        assert s.read("v", ["a"]) == [big[2]] and s.count("v") == 2
        s.write("v", ["a"], [b"\x02" * 16 + b"newer"], newer_only=True)
        assert s.read("v", ["a"]) == [b"\x02" * 16 + b"newer"]
        assert int(s._con.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) * int(
            s._con.execute("PRAGMA page_size").fetchone()[0]) == 40 << 20
        s.close()
