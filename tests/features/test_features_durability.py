"""The online store honours the lake's ``fsync`` setting, and a push is all-or-nothing.

The fsync counts come from ``strace -y`` over a child process that pushes 20 times: the
test fails if the setting is not honoured (no fsync of the online store under "always",
any under "never").
"""

from __future__ import annotations

import logging
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests._strace import count_fsyncs

import lakebed
from lakebed.features import Entity, FeatureView, Field
from lakebed.features.online import open_store
from lakebed.features.online.postgres import PostgresOnlineStore
from lakebed.features.online.redis import RedisOnlineStore
from lakebed.features.online.sqlite import SqliteOnlineStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)

PUSHER = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime, timedelta, UTC
    import lakebed
    from lakebed.features import Entity, FeatureView, Field
    lake = lakebed.connect(sys.argv[1], fsync=sys.argv[2])
    user = Entity("user", join_keys=["user_id"])
    view = FeatureView("v", entities=[user], source="silver.v", timestamp_field="ts",
                       ttl=timedelta(days=1), fields=[Field("x", "int64")])
    lake.features.apply([user, view])
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    lake.features.push("v", [{"user_id": 0, "ts": t0, "x": 0}])  # opens the store
    os.write(2, b"MARK-BEGIN\\n")
    for i in range(20):
        lake.features.push("v", [{"user_id": i, "ts": t0, "x": i}, {"user_id": i + 1, "ts": t0, "x": i}])
    os.write(2, b"MARK-END\\n")
    lake.close()
    """
)


def count_push_fsyncs(tmp_path: Path, fsync: str) -> int:
    return count_fsyncs(tmp_path / f"trace-{fsync}", PUSHER, [str(tmp_path / f"lake-{fsync}"), fsync],
                        "online/online.db")


def test_sqlite_online_push_fsyncs_each_push_under_always_and_never_under_never(tmp_path):
    always = count_push_fsyncs(tmp_path, "always")
    never = count_push_fsyncs(tmp_path, "never")
    assert always >= 20, f"20 pushes under fsync='always' made {always} fsyncs of the online store"
    assert never == 0, f"20 pushes under fsync='never' made {never} fsyncs of the online store"


@pytest.mark.parametrize(("fsync", "level"), [("always", "FULL"), ("batch", "NORMAL"), ("never", "OFF")])
def test_sqlite_online_store_synchronous_follows_fsync(lake_path, fsync, level):
    with lakebed.connect(lake_path, fsync=fsync) as lake:
        store = lake.features.online_store
        assert isinstance(store, SqliteOnlineStore)
        assert store.synchronous == level


@pytest.mark.parametrize(("fsync", "level"), [("always", "on"), ("never", "off")])
def test_postgres_online_store_synchronous_commit_follows_fsync(pg_url, fsync, level):
    store = open_store(pg_url, path="unused", namespace="dur", fsync=fsync)
    try:
        assert isinstance(store, PostgresOnlineStore)
        assert store.synchronous_commit == level
    finally:
        store.close()


def test_redis_without_aof_warns_once_under_always_only(redis_url, caplog):
    import redis

    from lakebed.storage import _redis as _redis_aof

    if int(redis.Redis.from_url(redis_url).info("persistence")["aof_enabled"]):
        pytest.skip("this Redis runs with appendonly=yes")
    _redis_aof._warned.clear()
    with caplog.at_level(logging.WARNING, logger="lakebed.features"):
        RedisOnlineStore(redis_url, namespace="dur", fsync="never").close()
        assert not caplog.records
        RedisOnlineStore(redis_url, namespace="dur", fsync="always").close()
        RedisOnlineStore(redis_url, namespace="dur", fsync="always").close()
    warnings = [r for r in caplog.records if "appendonly=no" in r.getMessage()]
    assert len(warnings) == 1
    assert "appendonly yes" in warnings[0].getMessage()


def test_unknown_fsync_is_refused_by_every_backend():
    with pytest.raises(lakebed.errors.InvalidArgument, match="fsync must be one of"):
        SqliteOnlineStore(":memory:", fsync="sometimes")


# -- atomicity ------------------------------------------------------------------------
def _store(online_url: str | None, tmp_path: Path, namespace: str = "atomic"):
    return open_store(online_url, path=tmp_path / "online.db", namespace=namespace)


N_BIG = 55_000  # above the 50,000-row batches a push used to commit one by one


def test_a_failed_transaction_leaves_nothing(online_url, tmp_path):
    store = _store(online_url, tmp_path)
    other = _store(online_url, tmp_path)  # another connection: what a reader sees
    try:
        keys = [str(i) for i in range(N_BIG)]
        store.write("v", keys[:10], [bytes(16) + b"old"] * 10)
        with pytest.raises(RuntimeError, match="boom"), store.transaction():
            store.write("v", keys[:50_000], [bytes(16) + b"new"] * 50_000)
            store.write("v", keys[50_000:], [bytes(16) + b"new"] * (N_BIG - 50_000), newer_only=True)
            assert other.count("v") == 10  # not visible before the commit
            raise RuntimeError("boom")
        assert store.count("v") == 10
        assert other.read("v", ["0", "54999"]) == [bytes(16) + b"old", None]
        with store.transaction():
            store.write("v", keys[:50_000], [bytes(16) + b"new"] * 50_000)
            with store.transaction():  # nested: joins the outer one
                store.write("v", keys[50_000:], [bytes(16) + b"new"] * (N_BIG - 50_000), newer_only=True)
            assert other.count("v") == 10
        assert other.count("v") == N_BIG
        assert set(other.read("v", keys[::997])) == {bytes(16) + b"new"}
    finally:
        store.close()
        other.close()


def test_redis_transaction_leaves_no_staging_keys(redis_url, tmp_path):
    import redis

    store = _store(redis_url, tmp_path)
    try:
        keys = [str(i) for i in range(5000)]
        store.write("v", keys, [bytes(16) + b"x"] * len(keys), newer_only=True)
        with pytest.raises(RuntimeError), store.transaction():
            store.write("v", keys, [bytes(16) + b"y"] * len(keys))
            raise RuntimeError
        client = redis.Redis.from_url(redis_url)
        assert [k for k in client.keys("*") if b":stage:" in k] == []
        assert store.read("v", ["0"]) == [bytes(16) + b"x"]
    finally:
        store.close()


def test_newer_only_inside_a_transaction_keeps_the_newest(online_url, tmp_path):
    store = _store(online_url, tmp_path)
    try:
        new, old = b"\x00" * 15 + b"\x02" + b"new", b"\x00" * 15 + b"\x01" + b"old"
        keys = [str(i) for i in range(3000)]
        store.write("v", keys, [new] * len(keys))
        with store.transaction():
            store.write("v", keys, [old] * len(keys), newer_only=True)
            store.write("v", ["x"], [old], newer_only=True)
        assert store.read("v", ["0", "2999", "x"]) == [new, new, old]
    finally:
        store.close()


def test_push_is_one_transaction_of_the_online_store(lake_path):
    """A push above the old 50,000-row boundary: readers see none of it before it returns."""
    with lakebed.connect(lake_path) as lake:
        user = Entity("user", join_keys=["user_id"])
        view = FeatureView("v", entities=[user], source="silver.v", timestamp_field="ts",
                           ttl=timedelta(days=1), fields=[Field("x", "int64")])
        lake.features.apply([user, view])
        rows = [{"user_id": i, "ts": T0, "x": 1} for i in range(N_BIG)]
        assert lake.features.push("v", rows) == N_BIG
        reader = SqliteOnlineStore(lake_path / "online" / "online.db", read_only=True)
        try:
            assert reader.count("v") == N_BIG
            later = T0 + timedelta(hours=1)
            with pytest.raises(lakebed.errors.SchemaError):  # nothing of a bad push is written
                lake.features.push("v", [*({"user_id": i, "ts": later, "x": 2} for i in range(10)),
                                         {"user_id": 11, "ts": later, "x": "two"}])
            got = lake.features.online([{"user_id": 0}], ["v:x"], now=later)
            assert got["x"] == [1]
        finally:
            reader.close()


def test_sqlite_transaction_holds_other_threads_only_from_its_first_write(tmp_path):
    import threading

    store = SqliteOnlineStore(tmp_path / "online.db")
    one, two, three = (bytes(16) + c for c in (b"1", b"2", b"3"))
    try:
        store.write("v", ["a"], [one])
        seen: list[list[bytes | None]] = []
        with store.transaction():
            reader = threading.Thread(target=lambda: seen.append(store.read("v", ["a"])))
            reader.start()
            reader.join(timeout=10)
            assert seen == [[one]]  # nothing begun yet: another thread reads freely
            store.write("v", ["a"], [two])
            writer = threading.Thread(target=lambda: store.write("v", ["b"], [three]))
            writer.start()
            writer.join(timeout=0.3)
            assert writer.is_alive()  # waits for this transaction's commit
        writer.join(timeout=10)
        assert not writer.is_alive()
        assert store.read("v", ["a", "b"]) == [two, three]
    finally:
        store.close()
