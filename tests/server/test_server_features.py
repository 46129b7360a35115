"""Congruence of the feature store: embedded and served lakes answer the same."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa

import lakebed
from lakebed.features import Entity, FeatureView, Field

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _script(lake: Any) -> list[Any]:
    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        if hasattr(result, "to_arrow"):
            result = result.to_arrow()
        if isinstance(result, pa.Table):
            result = result.to_pylist()
        if hasattr(result, "values") and hasattr(result, "statuses"):
            result = (result.values, result.statuses)
        out.append(result)

    ts = pa.array([NOW - timedelta(days=d) for d in (40, 3, 2, 1, 0)], pa.timestamp("us", "UTC"))
    src = pa.table({"user_id": [1, 1, 1, 2, 2], "ts": ts, "amount": [9.0, 1.0, 2.0, 3.0, 4.0],
                    "country": ["DE", "DE", "FR", "US", "US"]})
    lake.tables.create("silver.tx", data=src)
    user = Entity("user", join_keys=["user_id"])
    stats = FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts", ttl=timedelta(days=30),
                        fields=[Field("amount", "float64"), Field("country", "string")])
    step(lambda: [(c["kind"], c["name"], c["action"]) for c in _changes(lake.features.apply([user, stats]))])
    step(lambda: [(c["kind"], c["name"], c["action"]) for c in _changes(lake.features.apply([user, stats]))])
    entity_df = pa.table({
        "user_id": [1, 2, 1, 3, 1],
        "event_timestamp": pa.array([NOW, NOW - timedelta(days=1), NOW - timedelta(days=35), NOW,
                                     NOW - timedelta(days=2)], pa.timestamp("us", "UTC")),
        "label": [1, 0, 1, 0, 1],
    })
    step(lambda: lake.features.training_set(entity_df, ["stats:amount", "stats:country"]))
    step(lambda: lake.features.training_set(entity_df, ["stats:nope"]))
    step(lambda: lake.features.training_set(entity_df.drop(["user_id"]), ["stats:amount"]))
    step(lambda: lake.features.materialize(NOW + timedelta(hours=1)))
    step(lambda: lake.features.online([{"user_id": 1}, {"user_id": 2}, {"user_id": 3}], ["stats:amount"]))
    step(lambda: lake.features.push("stats", [{"user_id": 3, "ts": datetime.now(UTC), "amount": 7.5,
                                               "country": "JP"}]))
    step(lambda: lake.features.push("stats", [{"user_id": 3, "ts": NOW, "amount": "lots", "country": "JP"}]))
    step(lambda: lake.features.online([{"user_id": 3}], ["stats:amount", "stats:country"]))
    step(lambda: lake.features.online([{"user_id": 3}], ["nope:amount"]))
    step(lambda: [v.name for v in lake.features.list_views()])
    step(lambda: [(s["view"], s["rows_online"]) for s in lake.features.status()])
    return out


def _changes(plan: Any) -> list[dict[str, Any]]:
    if isinstance(plan, list):
        return plan
    return [{"kind": c.kind, "name": c.name, "action": c.action} for c in plan.changes]


def test_features_congruence(served_any: Any) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _script(embedded)
    with lakebed.connect(served_any.url) as remote:
        served_any.lake.tables.create("silver.tx_placeholder", data=[{"a": 1}])  # the served lake has other tables too
        got = _script(remote)
    assert got == expected
    assert ("error", "NotFound") in got or ("error", "InvalidArgument") in got


# -- the rest of the interface: definitions, references, saved training sets, replay ----------


def _definitions_script(lake: Any) -> list[Any]:
    """Every FeatureStoreAPI method beyond _script's, with their errors; answers as plain values."""
    from lakebed.features import Aggregation, FeatureService, StreamFeatureView

    out: list[Any] = []

    def step(fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except lakebed.LakebedError as exc:
            result = ("error", type(exc).__name__)
        out.append(result)

    def view(v: Any) -> Any:
        return (type(v).__name__, v.name, v.version, v.feature_names, getattr(v, "source", None))

    ts = pa.array([NOW - timedelta(days=d) for d in (3, 2, 1)], pa.timestamp("us", "UTC"))
    lake.tables.create("silver.tx", data=pa.table({"user_id": [1, 1, 2], "ts": ts, "amount": [1.0, 2.0, 3.0]}))
    user = Entity("user", join_keys=["user_id"])
    stats = FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts", ttl=timedelta(days=30),
                        fields=[Field("amount", "float64")])
    svc = FeatureService("scoring", [stats[["amount"]]])
    step(lambda: str(lake.features.plan([user, stats, svc])))
    step(lambda: [(c.kind, c.name, c.action, c.new_version) for c in lake.features.apply([user, stats, svc])])
    stats2 = FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts", ttl=timedelta(days=7),
                         fields=[Field("amount", "float64")], description="a week")
    step(lambda: str(lake.features.apply([user, stats2, svc])))
    # reading definitions
    step(lambda: [view(v) for v in lake.features.list_views()])
    step(lambda: view(lake.features.get_view("stats")))
    step(lambda: lake.features.get_view("stats", version=1).ttl)
    step(lambda: lake.features.get_view("stats", version=9))
    for bad in ("nope", "../x", "a/b", "x y"):
        step(lambda bad=bad: lake.features.get_view(bad))
        step(lambda bad=bad: lake.features.get_entity(bad))
        step(lambda bad=bad: lake.features.get_service(bad))
        step(lambda bad=bad: lake.features.history(bad))
        step(lambda bad=bad: lake.features.delete(bad))
        step(lambda bad=bad: lake.features.reproduce_training_set(bad))
    step(lambda: [(e.name, e.version, e.join_keys) for e in lake.features.list_entities()])
    step(lambda: (lake.features.get_entity("user").join_keys, lake.features.get_entity("user", 1).version))
    step(lambda: [(s.name, s.version, s.feature_refs) for s in lake.features.list_services()])
    step(lambda: lake.features.get_service("scoring", version=1).feature_refs)
    step(lambda: [(h["version"], h["deleted"], h["spec"]["ttl_us"], type(h["created_at"]).__name__)
                  for h in lake.features.history("stats")])
    step(lambda: [h["version"] for h in lake.features.history("user", kind="entity")])
    step(lambda: lake.features.history("stats", kind="nope"))
    # references
    step(lambda: lake.features.resolve(["stats:amount"]))
    step(lambda: lake.features.resolve("scoring"))
    step(lambda: lake.features.resolve(svc))
    step(lambda: lake.features.resolve(FeatureService("unapplied", ["stats:amount"])))
    step(lambda: lake.features.resolve([stats, stats[["amount"]]]))
    step(lambda: lake.features.resolve(["stats:nope"]))
    step(lambda: lake.features.resolve([]))
    step(lambda: lake.features.resolve(["other:x"], specs={"other": {"type": "feature_view", "fields": [
        {"name": "x"}], "aggregations": []}}))
    step(lambda: lake.features.key_types(["stats:amount"]))
    step(lambda: lake.features.key_types("scoring"))
    # online at a time, materialize with progress
    calls: dict[str, Any] = {}
    step(lambda: lake.features.materialize(NOW, progress=lambda v, done, total: calls.__setitem__(v, done)))
    step(lambda: dict(calls))
    step(lambda: lake.features.materialize_incremental(NOW + timedelta(hours=1)))
    for at in (NOW, NOW + timedelta(days=29)):
        step(lambda at=at: lake.features.online([{"user_id": 1}, {"user_id": 2}], "scoring", now=at).statuses)
    step(lambda: lake.features.status())
    step(lambda: lake.features.refresh())
    # saved training sets
    entity_df = pa.table({"user_id": [2, 1, 1], "event_timestamp": pa.array(
        [NOW, NOW - timedelta(days=2), NOW], pa.timestamp("us", "UTC")), "label": [1, 0, 1]})
    made = lake.features.training_set(entity_df, ["stats:amount"])
    step(lambda: (made.to_arrow().to_pylist(), made.feature_refs, made.view_versions, made.source_versions,
                  made.num_rows, made.column_names, len(made)))
    step(lambda: (made.save("gold.train", description="fraud"), made.ref))
    lake.tables.write("silver.tx", pa.table({"user_id": [2], "ts": pa.array([NOW], pa.timestamp("us", "UTC")),
                                             "amount": [30.0]}))
    step(lambda: lake.features.reproduce_training_set("gold.train").to_pylist())
    step(lambda: lake.features.reproduce_training_set("gold.train", version=0).equals(made.to_arrow()))
    step(lambda: lake.features.reproduce_training_set("gold.train", version=5))
    step(lambda: lake.tables.read("gold.train__entities").column_names)
    # deletes
    step(lambda: lake.features.delete("stats"))  # the service uses it
    step(lambda: lake.features.delete("scoring", kind="service"))
    step(lambda: (lake.features.delete("stats").action, [view(v) for v in lake.features.list_views()]))
    step(lambda: lake.features.delete("user", kind="view"))
    # a stream view: applied remotely too, replayed
    lake.streams.create("clicks", schema={"user_id": "int64", "price": "float64", "ts": "timestamp[us, tz=UTC]"},
                        key="user_id", event_time="ts")
    clicks = StreamFeatureView("spend", entities=[user], source="stream:clicks", timestamp_field="ts",
                               aggregations=[Aggregation("price", "sum", window=timedelta(days=1))])
    step(lambda: str(lake.features.apply([user, clicks])))
    step(lambda: view(lake.features.get_view("spend")))
    events = [{"user_id": u, "price": p, "ts": NOW} for u, p in [(1, 1.0), (2, 2.0), (1, 4.0)]]
    lake.streams.get("clicks").append(events)
    step(lambda: {k: v for k, v in lake.features.replay("spend").items() if k in ("view", "applied", "lag")})
    step(lambda: lake.features.replay("stats"))
    step(lambda: lake.features.online([{"user_id": 1}, {"user_id": 2}], ["spend:price_sum_1d"],
                                      now=NOW + timedelta(hours=1)).values)
    return out


def test_features_interface_congruence(served_any: Any) -> None:
    with lakebed.connect(":memory:") as embedded:
        expected = _definitions_script(embedded)
    with lakebed.connect(served_any.url) as remote:
        got = _definitions_script(remote)
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert g == e, f"step {i}: remote {g!r} != embedded {e!r}"
    assert ("error", "ConflictError") in got and ("error", "NotFound") in got


# -- keys, grants and hostile input on the feature routes ------------------------------------


def _served_with_keys(served: Any) -> dict[str, str]:
    """A view, a service and a saved training set in the served lake; keys made in-process
    behind the running server's back (its Auth re-reads them)."""
    import gc

    from lakebed.features import FeatureService
    from lakebed.server import keys as key_store
    from lakebed.server._app import Auth

    lake = served.lake
    ts = pa.array([NOW - timedelta(days=1)], pa.timestamp("us", "UTC"))
    lake.tables.create("silver.tx", data=pa.table({"user_id": [1], "ts": ts, "amount": [1.0]}))
    user = Entity("user", join_keys=["user_id"])
    stats = FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts",
                        fields=[Field("amount", "float64")])
    lake.features.apply([user, stats, FeatureService("scoring", ["stats:amount"])])
    entity_df = pa.table({"user_id": [1], "event_timestamp": pa.array([NOW], pa.timestamp("us", "UTC"))})
    lake.features.training_set(entity_df, ["stats:amount"]).save("gold.train")
    made = {name: key_store.create(lake, name, scopes, grants).secret or "" for name, scopes, grants in [
        ("read", ["read"], None), ("write", ["write"], None),
        ("features", ["write"], ["features:*"]), ("tables", ["admin"], ["tables:*"])]}
    for obj in gc.get_objects():
        if type(obj) is Auth and obj.lake is lake:
            obj.refresh()
    return made


def _feature_routes() -> dict[str, tuple[str, str, dict[str, Any]]]:
    entity = pa.table({"user_id": [1], "event_timestamp": pa.array([NOW], pa.timestamp("us", "UTC"))})
    from lakebed._wire import table_to_ipc

    meta = {b"lakebed:training_set": b'{"features": ["stats:amount"], "full_feature_names": false, '
                                     b'"timestamp_column": "event_timestamp", "view_versions": {"stats": 1}, '
                                     b'"source_versions": {"silver.tx": 0}}'}
    body = table_to_ipc(entity.replace_schema_metadata(meta))
    return {
        "entity": ("GET", "/v1/features/entities/user", {}),
        "service": ("GET", "/v1/features/services/scoring", {}),
        "history": ("GET", "/v1/features/history/view/stats", {}),
        "resolve": ("POST", "/v1/features/resolve", {"json": {"features": ["stats:amount"]}}),
        "key_types": ("POST", "/v1/features/key_types", {"json": {"features": "scoring"}}),
        "refresh": ("POST", "/v1/features/refresh", {}),
        "reproduce": ("GET", "/v1/features/training_sets/gold.train", {}),
        "save": ("POST", "/v1/features/training_sets/gold.again", {
            "content": body, "headers": {"content-type": "application/vnd.apache.arrow.stream"}}),
        "replay": ("POST", "/v1/features/views/stats/replay", {"json": {}}),
        "delete": ("DELETE", "/v1/features/definitions/scoring", {}),
    }


WRITES = {"save", "replay", "delete"}


def test_feature_routes_check_keys_and_grants(served: Any) -> None:
    k = _served_with_keys(served)
    lake, url = served.lake, served.url
    routes = _feature_routes()

    def status(who: str | None, route: str) -> int:
        method, path, kw = routes[route]
        kw = {**kw, "headers": {**kw.get("headers", {}), **({"authorization": f"Bearer {k[who]}"} if who else {})}}
        return httpx.request(method, url + path, **kw).status_code

    for route in routes:
        assert status(None, route) == 401, route
        assert status("tables", route) == 403, route  # no grant on the feature store
        if route in WRITES:
            assert status("read", route) == 403, route
        else:
            assert status("read", route) == 200, route
    # a key granted the feature store only: not the saved table's rows, nor a new table
    assert status("features", "reproduce") == 403
    assert status("features", "save") == 403
    assert status("features", "resolve") == 200
    assert not lake.tables.exists("gold.again")
    assert [s.name for s in lake.features.list_services()] == ["scoring"]
    # the write key may
    assert status("write", "save") == 200 and lake.tables.exists("gold.again")
    assert lake.features.reproduce_training_set("gold.again").equals(lake.tables.read("gold.again"))
    assert status("write", "replay") == 400  # not a stream view: refused, but let in
    assert status("write", "delete") == 200 and lake.features.list_services() == []


def test_feature_routes_refuse_hostile_input(served: Any) -> None:
    import gc

    from tests._injections import snapshot

    from lakebed.server._app import Auth

    _served_with_keys(served)
    for obj in gc.get_objects():
        if type(obj) is Auth and obj.lake is served.lake:
            obj.required = False
    lake, url = served.lake, served.url
    before = snapshot(lake.path, skip=lambda p: p.name.startswith("catalog.db") or p.name.endswith("-shm"))
    versions = lake.features.history("stats")
    bad_names = ["..", "%2e%2e", "a%2Fb", "%00", "x%0Ay", "stats'--", "stats;DROP TABLE feature_registry", "n" * 300]
    with httpx.Client(base_url=url) as c:
        answers = []
        for q in bad_names:
            history = c.get(f"/v1/features/history/view/{q}")  # as embedded: no versions of that name
            assert history.status_code == 404 or history.json() == [], (q, history.text[:200])
            answers += [c.get(f"/v1/features/entities/{q}"), c.get(f"/v1/features/services/{q}"),
                        c.get(f"/v1/features/training_sets/{q}"),
                        c.post(f"/v1/features/views/{q}/replay", json={}), c.delete(f"/v1/features/definitions/{q}")]
        answers += [
            c.get("/v1/features/history/nope/stats"),
            c.get("/v1/features/entities/user", params={"version": -1}),
            c.get("/v1/features/training_sets/gold.train", params={"version": 2**40}),
            c.delete("/v1/features/definitions/stats", params={"kind": "table"}),
            c.post("/v1/features/resolve", json={"features": ["stats:amount; DROP TABLE x"]}),
            c.post("/v1/features/resolve", json={"features": [{"view": "../stats"}]}),
            c.post("/v1/features/resolve", json={"features": 5}),
            c.post("/v1/features/resolve", json={"features": ["x:y"], "specs": {"x": {"type": 1}}}),
            c.post("/v1/features/resolve", json={"features": ["x:y"], "specs": {"x": "nope"}}),
            c.post("/v1/features/key_types", json={"features": ["stats:amount"], "specs": {}}),
            c.post("/v1/features/online", json={"entity_rows": [{"user_id": 1}], "features": "stats:amount",
                                                "now": "soon"}),
            c.post("/v1/features/views/stats/replay", json={"since": "yesterday"}),
            c.post("/v1/features/training_sets/gold.x", content=b"not arrow",
                   headers={"content-type": "application/vnd.apache.arrow.stream"}),
            c.post("/v1/features/training_sets/gold.x", json={"rows": [{"user_id": 1}]}),  # no metadata
            c.post("/v1/features/resolve", content=b'{"features": "' + b"x" * (9 * 1024 * 1024) + b'"}',
                   headers={"content-type": "application/json"}),
        ]
    statuses = [r.status_code for r in answers]
    assert all(400 <= s < 500 for s in statuses), [(r.request.url, r.status_code) for r in answers
                                                   if not 400 <= r.status_code < 500]
    assert statuses[-1] == 413
    assert lake.features.history("stats") == versions
    assert [s.name for s in lake.features.list_services()] == ["scoring"]
    assert not lake.tables.exists("gold.x")
    assert snapshot(lake.path, skip=lambda p: p.name.startswith("catalog.db") or p.name.endswith("-shm")) == before
