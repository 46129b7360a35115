"""Streams through the server: ``/v1/streams`` and the remote ``lake.streams``.

The remote stream answers as the embedded one on the same script; appends through the
server reach a stream feature view run by the server; keys, grants, hostile names and
bodies are refused with nothing appended or created."""

from __future__ import annotations

import gc
import http.client
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from tests._injections import SQL_INJECTIONS, WHERE_INJECTIONS, snapshot
from tests.server.conftest import MAX_BODY, Served, serving

import lakebed
from lakebed._wire import ARROW_STREAM, table_to_ipc
from lakebed.features import Aggregation, Entity, StreamFeatureView
from lakebed.server import create_app
from lakebed.server import keys as key_store

SCHEMA = {"user_id": "int64", "price": "float64", "ts": "timestamp[us, tz=UTC]"}
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def rows(n: int, start: int = 0, ts: datetime | str = T0) -> list[dict[str, Any]]:
    """``n`` records of three users (``ts`` as ISO text for JSON bodies)."""
    return [{"user_id": i % 3, "price": float(i), "ts": ts} for i in range(start, start + n)]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- congruence ----------------------------------------------------------------------------


def _commit(stream: Any, group: str, offsets: dict[int, int]) -> dict[int, int]:
    """Commit offsets through a consumer of the group (embedded and remote alike)."""
    consumer = stream.consumer(group)
    try:
        consumer.commit(offsets)
    finally:
        consumer.close()
    return dict(stream.committed(group))


def _streams_script(lake: Any) -> list[Any]:
    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        if isinstance(result, pa.RecordBatch):  # the append time differs between the lakes
            result = (result.schema.names, result.drop_columns(["_time"]).to_pylist())
        out.append(result)

    S = lake.streams
    step(lambda: S.create("clicks", schema=SCHEMA, key="user_id", event_time="ts", partitions=2,
                          retention=timedelta(days=1)).partitions)
    step(lambda: S.create("clicks", schema=SCHEMA, key="user_id", event_time="ts", partitions=2,
                          retention=timedelta(days=1), exist_ok=True).name)
    step(lambda: S.create("clicks", schema=SCHEMA, exist_ok=True))
    step(lambda: S.create("bad name", schema=SCHEMA))
    step(lambda: S.create("x", schema={"_offset": "int64"}))
    step(lambda: S.create("x", schema=SCHEMA, partitions=3))
    step(lambda: S.create("orders", schema={"id": "string", "amount": "float64"}, id_field="id",
                          description="orders").schema.names)
    step(lambda: (S.list(), S.exists("clicks"), S.exists("nope")))
    step(lambda: S.exists("../x"))
    step(lambda: S.get("nope"))
    c = S.get("clicks")
    step(lambda: c.append(rows(4), ids=["a", "b", "c", "a"]))  # a repeat inside the call
    step(lambda: c.append(rows(2, start=4), ids=["b", "e"]))  # and one of an earlier call
    step(lambda: c.append(rows(3, start=6)))
    step(lambda: c.append(rows(1), ids=["only-one", "two"]))
    step(lambda: c.append(rows(1), ids=["has space"]))
    step(lambda: c.append([{"user_id": "x", "price": 1.0, "ts": T0}]))
    step(lambda: c.append([{"user_id": 1, "price": 1.0, "ts": T0, "extra": 1}]))
    step(lambda: c.append([{"user_id": 1, "price": 1.0}]))
    step(lambda: c.append([]))
    step(lambda: c.append(pa.table({"user_id": [7], "price": [7.0],
                                    "ts": pa.array([T0], pa.timestamp("us", tz="UTC"))})))
    step(lambda: (c.bounds(), c.end_offsets()))
    step(lambda: c.read(0))
    step(lambda: c.read(1, offset=1, max_records=2))
    step(lambda: c.read(1, offset=99))
    step(lambda: c.read(1, max_records=250_000))  # beyond one request of the server: paged
    step(lambda: c.read(2))
    step(lambda: c.lag("g"))
    step(lambda: _commit(c, "g", {0: 1, 1: 2}))
    step(lambda: _commit(c, "g", {1: 3}))
    step(lambda: _commit(c, "g", {5: 1}))
    step(lambda: (c.committed("g"), c.lag("g"), c.groups()))
    step(lambda: c.committed("bad group"))
    step(lambda: c.lag("no-such-group"))
    step(lambda: [b.num_rows for b in c.consume("g2", max_records=2, timeout=0)])
    step(lambda: (c.committed("g2"), c.lag("g2")))
    step(lambda: [b.column("price").to_pylist() for b in c.consume("g", max_records=100, timeout=0)])
    step(lambda: [b.num_rows for b in c.consume(max_records=3, timeout=0, start="latest")])
    step(lambda: c.lag("g"))
    o = S.get("orders")
    step(lambda: o.append([{"id": "o1", "amount": 1.0}, {"id": "o1", "amount": 2.0}, {"id": "o2", "amount": 3.0}]))
    step(lambda: o.read())
    step(lambda: S.describe())
    step(lambda: S.drop("orders"))
    step(lambda: S.drop("orders"))
    step(lambda: (S.list(), S.exists("orders")))
    return out


def test_remote_streams_answer_as_embedded(served_any: Served) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _streams_script(embedded)
    with lakebed.connect(served_any.url) as remote:
        got = _streams_script(remote)
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert g == e, f"step {i}: remote {g!r} != embedded {e!r}"
    # the server appended to the lake it serves
    assert served_any.lake.streams.get("clicks").end_offsets() == {0: 1, 1: 7}


# -- a stream view fed through the server --------------------------------------------------


def test_appends_through_the_server_reach_a_stream_view(tmp_path: Path) -> None:
    """The server is the lake's writer and runs the stream processor: producers append
    through it (Arrow from the remote client, JSON rows with ISO times from anything),
    and the view's online value changes within seconds."""
    from lakebed.server._streams import attach_stream_runner

    user = Entity("user", join_keys=["user_id"])
    spend = StreamFeatureView("spend", entities=[user], source="stream:clicks", timestamp_field="ts",
                              aggregations=[Aggregation("price", "sum", window=timedelta(hours=1))])
    with lakebed.connect(tmp_path / "lake") as lake:
        lake.streams.create("clicks", schema=SCHEMA, key="user_id", event_time="ts", partitions=2)
        lake.features.apply([user, spend])
        app = create_app(lake, max_body_bytes=MAX_BODY)
        runner = attach_stream_runner(app, lake)
        with serving(app) as url, lakebed.connect(url) as remote:
            wait_for(lambda: runner.running and runner.views == {"spend": 1}, "the processor to start")

            def online() -> list[Any]:
                got = remote.features.online([{"user_id": 0}, {"user_id": 1}], ["spend:price_sum_1h"])
                return list(got["price_sum_1h"])

            now = datetime.now(UTC)
            clicks = remote.streams.get("clicks")
            clicks.append([{"user_id": u, "price": p, "ts": now} for u, p in [(0, 1.0), (1, 2.0), (0, 3.0)]])
            wait_for(lambda: online() == [4.0, 2.0], "the appended events online")
            r = httpx.post(f"{url}/v1/streams/clicks/append",
                           json={"rows": [{"user_id": 1, "price": 10.0, "ts": now.isoformat()}], "ids": ["m1"]})
            assert r.status_code == 200, r.text
            wait_for(lambda: online() == [4.0, 12.0], "the JSON append online")
            assert runner.errors == 0, runner.last_error
        assert sum(lake.streams.get("clicks").end_offsets().values()) == 4


# -- keys, grants and hostile input --------------------------------------------------------


def _auth_on(served: Served) -> None:
    """Keys made in-process behind the running server's back: let its Auth re-read them."""
    from lakebed.server._app import Auth

    for obj in gc.get_objects():
        if type(obj) is Auth and obj.lake is served.lake:
            obj.refresh()


def _bearer(secret: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"} if secret else {}


@pytest.fixture
def keyed(served: Served, monkeypatch: pytest.MonkeyPatch) -> tuple[Served, dict[str, str]]:
    lake = served.lake
    lake.streams.create("clicks", schema=SCHEMA, key="user_id", partitions=2)
    lake.streams.create("orders", schema={"id": "string"})
    lake.streams.get("clicks").append(rows(4))
    # the key store does not list "streams" among its grant areas (yet): allow it here
    made = {name: key_store.create(lake, name, scopes, grants).secret or "" for name, scopes, grants in [
        ("read", ["read"], None), ("write", ["write"], None), ("admin", ["admin"], None),
        ("orders", ["admin"], ["streams:orders"]), ("tables", ["admin"], ["tables:*"])]}
    _auth_on(served)
    return served, made


def _requests(name: str = "clicks", group: str = "g") -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        "list": ("GET", "/v1/streams", {}),
        "create": ("POST", "/v1/streams", {"json": {"name": f"{name}_2", "schema": {"a": "int64"}}}),
        "info": ("GET", f"/v1/streams/{name}", {}),
        "append": ("POST", f"/v1/streams/{name}/append", {"json": {"rows": [{"user_id": 9, "id": "x"}]}}),
        "records": ("GET", f"/v1/streams/{name}/records", {}),
        "lag": ("GET", f"/v1/streams/{name}/lag", {"params": {"group": group}}),
        "groups": ("GET", f"/v1/streams/{name}/groups", {}),
        "committed": ("GET", f"/v1/streams/{name}/groups/{group}", {}),
        "commit": ("POST", f"/v1/streams/{name}/groups/{group}/commit", {"json": {"offsets": {"0": 1}}}),
        "drop": ("DELETE", f"/v1/streams/{name}", {}),
    }


READS = {"list", "info", "records", "lag", "groups", "committed"}


def test_scopes_and_grants_on_stream_routes(keyed: tuple[Served, dict[str, str]]) -> None:
    served, k = keyed
    lake, url = served.lake, served.url
    clicks = lake.streams.get("clicks")
    ends = clicks.end_offsets()
    assert clicks.groups() == []  # the groups database exists from here on
    before = snapshot(Path(lake.path) / "streams")

    def status(who: str | None, route: str, name: str = "clicks") -> int:
        method, path, kw = _requests(name)[route]
        return httpx.request(method, url + path, headers=_bearer(k.get(who or "", "")), **kw).status_code

    for route in _requests():
        assert status(None, route) == 401, route
        assert status("nobody", route) == 401, route
        # a key with grants on tables only reaches no stream, nor the list of them
        assert status("tables", route) == (200 if route == "list" else 403), route
        # a key granted another stream gets 403 here, whatever the route
        if route not in ("list", "create"):
            assert status("orders", route) == 403, route
    for route in READS:
        assert status("read", route) == 200, route
    for route in ("append", "create", "drop", "commit"):
        assert status("read", route) == 403, route
    assert status("write", "drop") == 403
    assert httpx.get(f"{url}/v1/streams", headers=_bearer(k["tables"])).json() == []
    # nothing changed: no record, no group, no stream
    assert clicks.end_offsets() == ends and clicks.groups() == []
    assert lake.streams.list() == ["clicks", "orders"]
    assert snapshot(Path(lake.path) / "streams") == before

    # the key granted "orders" sees and works that stream only
    listed = httpx.get(f"{url}/v1/streams", headers=_bearer(k["orders"])).json()
    assert [d["name"] for d in listed] == ["orders"]
    with lakebed.connect(url, api_key=k["orders"]) as remote:
        assert remote.streams.list() == ["orders"]
        assert remote.streams.get("orders").append([{"id": "x"}]) == [(0, 0)]
        with pytest.raises(lakebed.PermissionDenied):
            remote.streams.get("clicks")
        with pytest.raises(lakebed.PermissionDenied):
            remote.streams.create("clicks_2", schema={"a": "int64"})
        remote.streams.create("orders", schema={"id": "string"}, exist_ok=True)
    assert lake.streams.list() == ["clicks", "orders"]
    # the write key appends and commits, the admin key drops
    with lakebed.connect(url, api_key=k["write"]) as remote:
        [pos] = remote.streams.get("clicks").append(rows(1, start=3), ids=["w1"])
        assert pos.offset == ends[pos.partition]
        with remote.streams.get("clicks").consumer("g") as consumer:
            consumer.commit({0: 1})
        assert remote.streams.get("clicks").committed("g") == {0: 1}
    with lakebed.connect(url, api_key=k["admin"]) as remote:
        remote.streams.drop("orders")
    assert lake.streams.list() == ["clicks"]


HOSTILE = [*WHERE_INJECTIONS, *SQL_INJECTIONS, "nl\n", "x\x00", "ｘ", "x\u202e", "n" * 300, "1abc", "a.b"]


def test_hostile_stream_and_group_names_are_refused(served: Served) -> None:
    lake, url = served.lake, served.url
    lake.streams.create("clicks", schema=SCHEMA, key="user_id", partitions=2)
    lake.streams.get("clicks").append(rows(3))
    ends = lake.streams.get("clicks").end_offsets()
    assert lake.streams.get("clicks").groups() == []  # the groups database exists from here on
    root = Path(lake.path)
    before = _unchanged(root)
    statuses: set[int] = set()
    with httpx.Client(base_url=url) as client:
        for bad in HOSTILE:
            q = urllib.parse.quote(bad, safe="")
            answers = [
                client.post("/v1/streams", json={"name": bad, "schema": {"a": "int64"}}),
                client.post("/v1/streams", json={"name": "ok", "schema": {bad: "int64"}}),
                client.get(f"/v1/streams/{q}"),
                client.post(f"/v1/streams/{q}/append", json={"rows": [{"user_id": 1}]}),
                client.get(f"/v1/streams/{q}/records"),
                client.delete(f"/v1/streams/{q}"),
                client.get("/v1/streams/clicks/lag", params={"group": bad}),
                client.get(f"/v1/streams/clicks/groups/{q}"),
                client.post(f"/v1/streams/clicks/groups/{q}/commit", json={"offsets": {"0": 1}}),
            ]
            for r in answers:
                assert r.status_code in (400, 404, 405, 422), (bad, r.request.url, r.status_code, r.text[:200])
                statuses.add(r.status_code)
    assert 400 in statuses
    assert lake.streams.list() == ["clicks"]
    assert lake.streams.get("clicks").groups() == []
    assert lake.streams.get("clicks").end_offsets() == ends
    assert _unchanged(root) == before


def _unchanged(root: Path) -> dict[str, tuple[int, int]]:
    """The files of a lake but the catalog's and SQLite's shared-memory indexes."""
    return snapshot(root, skip=lambda p: p.name.startswith("catalog.db") or p.name.endswith("-shm"))


def _raw(url: str, method: str, path: str, body: bytes | None = None) -> int:
    """A request with the path sent exactly as written (no dot-segment removal)."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["..", "%2e%2e", ".", "a/b", "..%2fclicks", "%2e%2e%2fx", "clicks/..", "%00"])
def test_path_traversal_names_are_refused(served: Served, name: str) -> None:
    lake, url = served.lake, served.url
    lake.streams.create("clicks", schema=SCHEMA, key="user_id", partitions=2)
    assert lake.streams.get("clicks").groups() == []
    root = Path(lake.path)
    before = _unchanged(root)
    body = b'{"rows": [{"user_id": 1, "price": 1.0, "ts": "2026-01-01T00:00:00+00:00"}]}'
    got = [
        _raw(url, "GET", f"/v1/streams/{name}"),
        _raw(url, "POST", f"/v1/streams/{name}/append", body),
        _raw(url, "GET", f"/v1/streams/{name}/records"),
        _raw(url, "DELETE", f"/v1/streams/{name}"),
        _raw(url, "GET", f"/v1/streams/clicks/groups/{name}"),
        _raw(url, "POST", f"/v1/streams/clicks/groups/{name}/commit", b'{"offsets": {"0": 1}}'),
    ]
    assert all(s in (400, 404, 405) for s in got), got
    assert lake.streams.list() == ["clicks"]
    assert lake.streams.get("clicks").end_offsets() == {0: 0, 1: 0}
    assert lake.streams.get("clicks").groups() == []
    assert _unchanged(root) == before


@pytest.fixture
def clicks(served: Served) -> Iterator[tuple[Served, Any]]:
    stream = served.lake.streams.create("clicks", schema=SCHEMA, key="user_id", partitions=2)
    stream.append(rows(3))
    yield served, stream


def test_bad_bodies_are_refused_and_append_nothing(clicks: tuple[Served, Any]) -> None:
    served, stream = clicks
    ends = stream.end_offsets()
    url = f"{served.url}/v1/streams/clicks"
    ts = pa.array([T0], pa.timestamp("us", tz="UTC"))
    wrong_type = pa.table({"user_id": [1], "price": ["dear"], "ts": ts})
    extra = pa.table({"user_id": [1], "price": [1.0], "ts": ts, "colour": ["red"]})
    answers = {
        "arrow type": httpx.post(f"{url}/append", content=table_to_ipc(wrong_type),
                                 headers={"content-type": ARROW_STREAM}),
        "arrow extra": httpx.post(f"{url}/append", content=table_to_ipc(extra), headers={"content-type": ARROW_STREAM}),
        "json type": httpx.post(f"{url}/append", json={"rows": [{"user_id": "x", "price": 1.0, "ts": T0.isoformat()}]}),
        "json time": httpx.post(f"{url}/append", json={"rows": [{"user_id": 1, "price": 1.0, "ts": "yesterday"}]}),
        "no key col": httpx.post(f"{url}/append", json={"rows": [{"price": 1.0}]}),
        "not arrow": httpx.post(f"{url}/append", content=b"not arrow", headers={"content-type": ARROW_STREAM}),
        "not json": httpx.post(f"{url}/append", content=b"{", headers={"content-type": "application/json"}),
        "rows": httpx.post(f"{url}/append", json={"rows": "nope"}),
        "ids count": httpx.post(f"{url}/append", json={"rows": rows(2, ts=T0.isoformat()), "ids": ["a"]}),
        "ids kind": httpx.post(f"{url}/append", json={"rows": rows(1, ts=T0.isoformat()), "ids": [{"a": 1}]}),
        "unknown field": httpx.post(f"{url}/append", json={"rows": [], "id": ["a"]}),
    }
    for what, r in answers.items():
        assert r.status_code == 400, (what, r.status_code, r.text[:300])
    assert "price" in answers["arrow type"].json()["error"]["message"]
    assert "colour" in answers["arrow extra"].json()["error"]["message"]
    assert "user_id" in answers["json type"].json()["error"]["message"]
    assert "'ts'" in answers["json time"].json()["error"]["message"]
    assert stream.end_offsets() == ends


def test_oversized_bodies_get_413_and_append_nothing(clicks: tuple[Served, Any]) -> None:
    served, stream = clicks
    ends = stream.end_offsets()
    url = f"{served.url}/v1/streams/clicks/append"
    big = [{"user_id": i, "price": 1.0, "ts": T0} for i in range(MAX_BODY // 20)]
    body = table_to_ipc(pa.Table.from_pylist(big, schema=stream.schema))
    assert len(body) > MAX_BODY
    r = httpx.post(url, content=body, headers={"content-type": ARROW_STREAM}, timeout=60)
    assert r.status_code == 413, r.text[:200]

    def chunks() -> Iterator[bytes]:  # no content-length: counted while read
        for i in range(0, len(body), 1 << 20):
            yield body[i:i + (1 << 20)]

    r = httpx.post(url, content=chunks(), headers={"content-type": ARROW_STREAM}, timeout=60)
    assert r.status_code == 413, r.text[:200]
    with lakebed.connect(served.url) as remote, pytest.raises(lakebed.InvalidArgument, match="limit"):
        remote.streams.get("clicks").append(big)
    assert stream.end_offsets() == ends


def test_reads_are_capped(clicks: tuple[Served, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    served, stream = clicks
    url = f"{served.url}/v1/streams/clicks/records"
    for params in ({"max_records": 100_001}, {"max_records": 0}, {"offset": -1}, {"partition": -1},
                   {"partition": 1_000}):
        r = httpx.get(url, params=params)
        assert r.status_code == 422 and r.json()["error"]["type"] == "InvalidArgument", (params, r.text)
    r = httpx.get(url, params={"partition": 2})
    assert r.status_code == 400 and "partitions 0..1" in r.json()["error"]["message"]
    r = httpx.get(url, params={"partition": 1, "max_records": 100_000})
    assert r.status_code == 200 and r.headers["content-type"] == ARROW_STREAM
    # the client asks for more than one answer may hold in pages
    from lakebed.client import _streams as remote_streams

    stream.append(rows(7, start=10))
    monkeypatch.setattr(remote_streams, "MAX_READ_RECORDS", 2)
    with lakebed.connect(served.url) as remote:
        for k in range(2):
            for offset, most in [(0, 10_000), (1, 3), (0, 4)]:
                got = remote.streams.get("clicks").read(k, offset, most).drop_columns(["_time"])
                assert got.to_pylist() == stream.read(k, offset, most).drop_columns(["_time"]).to_pylist()


def test_stream_writes_leave_read_workers_alone() -> None:
    """Read workers forward every stream route; an append must not make them reload the
    feature registry and reopen every collection (the change log's "everything")."""
    from lakebed.server._workers import write_scope

    for method, path in [("POST", "/v1/streams"), ("POST", "/v1/streams/clicks/append"),
                         ("POST", "/v1/streams/clicks/groups/g/commit"), ("DELETE", "/v1/streams/clicks")]:
        assert write_scope(method, path) is None, path


# -- consumers: the same consumer embedded and remote; groups shared across processes ------


def _plain(result: Any) -> Any:
    """Batches and tables as rows (but the append time, which differs between lakes)."""
    if isinstance(result, tuple):
        return tuple(_plain(r) for r in result)
    if isinstance(result, pa.RecordBatch):
        return (result.schema.names, result.drop_columns(["_time"]).to_pylist())
    if isinstance(result, pa.Table):
        return (result.schema, result.to_pylist())
    return result


def _consumer_script(lake: Any) -> list[Any]:
    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        out.append(_plain(result))

    S = lake.streams
    s = S.create("events", schema={"user_id": "int64", "v": "int64"}, key="user_id", partitions=3,
                 retention=timedelta(days=1))
    s.append([{"user_id": i % 5, "v": i} for i in range(12)])
    step(lambda: s.validate([{"user_id": 1, "v": 2}, {"v": 3, "user_id": 4}]))
    step(lambda: s.validate([{"user_id": "x", "v": 1}]))
    step(lambda: s.validate([{"v": 1}]))
    c = s.consumer("g", session_timeout=1.5)
    step(lambda: (c.group, c.start, c.ttl, c.assignment(), dict(c.position)))
    step(lambda: c.poll(max_records=4))
    step(lambda: (dict(c.position), c.lag()))
    step(lambda: (c.commit(), s.committed("g"), s.lag("g")))
    step(lambda: c.commit({9: 1}))
    step(lambda: c.commit({0: -1}))
    step(lambda: (c.seek(0, partition=1), c.poll(max_records=2)))
    step(lambda: (c.seek(time=datetime.now(UTC) + timedelta(days=1)), dict(c.position), c.poll(timeout=0)))
    step(lambda: (c.seek(time=datetime(2000, 1, 1)), dict(c.position)))
    step(lambda: c.seek())
    step(lambda: c.seek(-1))
    step(lambda: c.seek(0, partition=7))
    step(lambda: c.poll(max_records=0))
    step(lambda: c.poll(max_records=100))
    # a second member shares the partitions once the first one's heartbeat is due
    other = s.consumer("g", session_timeout=1.5)
    time.sleep(0.55)
    step(lambda: (sorted(c.assignment() + other.assignment()), not set(c.assignment()) & set(other.assignment())))
    other.close()
    time.sleep(0.55)
    step(lambda: c.assignment())
    c.close()
    step(lambda: c.poll())
    step(lambda: c.close())
    step(lambda: s.consumer(start="middle"))
    step(lambda: s.consumer("g", session_timeout=0.1))
    step(lambda: s.consumer("bad group"))
    with s.consumer() as free:
        step(lambda: (free.group, free.assignment(), free.commit()))
    with s.consumer(start="latest") as late:
        step(lambda: late.poll(timeout=0))
    step(lambda: [b.num_rows for b in s.consume("g", max_records=5, timeout=0)])
    step(lambda: (s.committed("g"), s.lag("g"), s.groups()))
    step(lambda: s.trim())
    step(lambda: S.flush())
    return out


def test_remote_consumers_answer_as_embedded(served_any: Served) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _consumer_script(embedded)
    with lakebed.connect(served_any.url) as remote:
        got = _consumer_script(remote)
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert g == e, f"step {i}: remote {g!r} != embedded {e!r}"
    assert ("error", "InvalidArgument") in got


def test_a_group_is_shared_by_embedded_and_remote_members(served: Served) -> None:
    lake = served.lake
    s = lake.streams.create("events", schema={"user_id": "int64"}, key="user_id", partitions=4)
    s.append([{"user_id": i} for i in range(40)])
    with lakebed.connect(served.url) as remote:
        far = remote.streams.get("events").consumer("g", session_timeout=1.5)
        near = s.consumer("g", session_timeout=1.5)
        time.sleep(0.55)
        a, b = far.assignment(), near.assignment()
        assert sorted(a + b) == [0, 1, 2, 3] and len(a) == len(b) == 2
        got: list[int] = []
        for c in (far, near):
            while (batch := c.poll(max_records=7, timeout=0)) is not None:
                assert set(batch.column("_partition").to_pylist()) <= set(c.assignment())
                got += batch.column("user_id").to_pylist()
            c.commit()
        assert sorted(got) == list(range(40))  # every record once, by one member or the other
        assert s.lag("g") == {0: 0, 1: 0, 2: 0, 3: 0}
        far.close()
        time.sleep(0.55)
        assert near.assignment() == [0, 1, 2, 3]  # the remote member left: its partitions moved
        near.close()


def test_scopes_and_grants_on_consumer_routes(keyed: tuple[Served, dict[str, str]]) -> None:
    served, k = keyed
    lake, url = served.lake, served.url
    clicks = lake.streams.get("clicks")
    assert clicks.groups() == []
    before = snapshot(Path(lake.path) / "streams")
    member = "/v1/streams/clicks/groups/g/members/m1"
    routes = {
        "flush": ("POST", "/v1/streams/flush", {}),
        "trim": ("POST", "/v1/streams/clicks/trim", {}),
        "offset": ("GET", "/v1/streams/clicks/offset", {"params": {"partition": 0, "time_us": 0}}),
        "join": ("POST", member, {"json": {"session_timeout": 5}}),
        "leave": ("DELETE", member, {}),
    }

    def status(who: str | None, route: str) -> int:
        method, path, kw = routes[route]
        return httpx.request(method, url + path, headers=_bearer(k.get(who or "", "")), **kw).status_code

    for route in routes:
        assert status(None, route) == 401, route
        assert status("nobody", route) == 401, route
        assert status("tables", route) == 403, route  # grants on tables only
        assert status("orders", route) == 403, route  # a grant on another stream
        assert status("read", route) == (200 if route == "offset" else 403), route
    assert snapshot(Path(lake.path) / "streams") == before
    for route in routes:
        assert status("write", route) == 200, route
    with lakebed.connect(url, api_key=k["read"]) as remote:
        stream = remote.streams.get("clicks")
        with pytest.raises(lakebed.PermissionDenied):
            stream.consumer("g")  # joining a group is a write
        with stream.consumer() as free:  # reading without a group is not
            assert free.poll(timeout=0) is not None
        with pytest.raises(lakebed.PermissionDenied):
            stream.trim()
    with lakebed.connect(url, api_key=k["orders"]) as remote:
        remote.streams.get("orders").consumer("g").close()
        remote.streams.get("orders").trim()
        with pytest.raises(lakebed.PermissionDenied):
            remote.streams.flush()  # every stream's: a grant on one is not enough


def test_hostile_consumer_input_is_refused(clicks: tuple[Served, Any]) -> None:
    served, stream = clicks
    lake, url = served.lake, served.url
    assert stream.groups() == []
    root = Path(lake.path)
    before = _unchanged(root)
    base = f"{url}/v1/streams/clicks"
    with httpx.Client() as client:
        for bad in HOSTILE:
            q = urllib.parse.quote(bad, safe="")
            answers = [client.post(f"{base}/groups/{q}/members/m1", json={"session_timeout": 5}),
                       client.post(f"{url}/v1/streams/{q}/trim"),
                       client.get(f"{url}/v1/streams/{q}/offset", params={"time_us": 0})]
            if bad != "1abc":  # "1abc" is a valid member id (not a valid group or stream name)
                answers += [client.post(f"{base}/groups/g/members/{q}", json={"session_timeout": 5}),
                            client.delete(f"{base}/groups/g/members/{q}")]
            for r in answers:
                assert r.status_code in (400, 404, 405, 422), (bad, r.request.url, r.status_code, r.text[:200])
        for name in ["..", "%2e%2e", "a/b", "%00"]:
            assert _raw(url, "POST", f"/v1/streams/clicks/groups/g/members/{name}", b'{"session_timeout": 5}') in (
                400, 404, 405)
            assert _raw(url, "POST", f"/v1/streams/{name}/trim") in (400, 404, 405)
        # out of range: session timeouts, member ids, partitions and times
        for body in ({"session_timeout": 0.1}, {"session_timeout": 3601}, {"session_timeout": "x"}, []):
            assert client.post(f"{base}/groups/g/members/m1", json=body).status_code == 422, body
        assert client.post(f"{base}/groups/g/members/{'m' * 65}", json={}).status_code == 400
        for params in ({"partition": 2, "time_us": 0}, {"partition": -1, "time_us": 0}, {"time_us": 2**63},
                       {"partition": 0}, {"partition": 0, "time_us": "soon"}):
            assert client.get(f"{base}/offset", params=params).status_code in (400, 422), params
        big = b'{"session_timeout": 5, "pad": "' + b"x" * (MAX_BODY + 10) + b'"}'
        r = client.post(f"{base}/groups/g/members/m1", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
    assert stream.groups() == []
    assert _unchanged(root) == before
