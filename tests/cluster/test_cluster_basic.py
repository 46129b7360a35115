"""A 3-node cluster answers as one node holding the same data would: searches (filtered,
exact and HNSW), hybrid search, get, count, deletes and payload indexes; bad input is
refused before it reaches the log; keys and scopes apply on every node."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

import lakebed
from lakebed.cluster import shard_of
from lakebed.errors import AuthError, InvalidArgument, NotFound, PermissionDenied

from .conftest import LocalCluster

pytestmark = pytest.mark.cluster

WORDS = ["apple", "river", "stone", "cloud", "ember", "glass", "maple", "orbit"]


def _data(n: int, dim: int, seed: int) -> tuple[list[int | str], np.ndarray, list[dict], list[str]]:
    rng = np.random.default_rng(seed)
    ids: list[int | str] = [i if i % 3 else f"doc-{i}" for i in range(n)]
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    payloads = [{"g": int(i % 5), "year": int(2000 + i % 25), "tag": WORDS[i % len(WORDS)]} for i in range(n)]
    texts = [" ".join(rng.choice(WORDS, size=4)) for _ in range(n)]
    return ids, vecs, payloads, texts


def _client(cluster: LocalCluster, key: str = "admin") -> lakebed.cluster.ClusterClient:
    return lakebed.connect("lakebed+cluster://" + ",".join(f"127.0.0.1:{p}" for p in cluster.node_ports),
                           api_key=cluster.keys[key])


def test_results_match_a_single_node(cluster: LocalCluster) -> None:
    ids, vecs, payloads, texts = _data(3000, 16, 1)
    c = _client(cluster)
    col = c.collections.create("same", dim=16, metric="l2", index={"type": "flat"}, shards=4, replicas=3,
                               text_field=True)
    for a in range(0, len(ids), 700):
        col.upsert(ids[a:a + 700], vecs[a:a + 700], payloads=payloads[a:a + 700], texts=texts[a:a + 700])
    col.create_payload_index("year", "integer")
    gone = col.delete(ids=ids[:40])
    assert set(gone) <= {"0", "1", "2", "3"}
    col.delete(filter={"g": 4, "year": {"$lt": 2005}})
    with lakebed.connect(":memory:") as lake:
        one = lake.collections.create("same", dim=16, metric="l2", index={"type": "flat"}, text_field=True)
        one.upsert(ids, vecs, payloads=payloads, texts=texts)
        one.delete(ids=ids[:40])
        one.delete(filter={"g": 4, "year": {"$lt": 2005}})
        assert col.count(consistency="strong") == one.count()
        for flt in (None, {"g": 2}, {"year": {"$gte": 2020}}, {"$or": [{"tag": "apple"}, {"g": 0}]}):
            assert col.count(flt, consistency="strong") == one.count(flt)
        rng = np.random.default_rng(2)
        for q in rng.standard_normal((25, 16)).astype(np.float32):
            for flt in (None, {"g": 1}, {"year": {"$gte": 2010, "$lt": 2013}}):
                got = col.search(q, k=10, filter=flt, consistency="session")
                want = one.search(q, k=10, filter=flt)
                assert [h.id for h in got] == [h.id for h in want]
                assert np.allclose([h.score for h in got], [h.score for h in want], rtol=1e-5, atol=1e-4)
                assert [h.payload for h in got] == [h.payload for h in want]
                assert set(got.nodes) == {0, 1, 2, 3}
        pts = col.get([ids[0], ids[100], ids[2999], "nope"], consistency="session")
        assert [p.id for p in pts] == [ids[100], ids[2999]]
        assert np.allclose(pts[0].vector, vecs[100]) and pts[0].payload == payloads[100]
    c.collections.drop("same")
    assert "same" not in c.collections.list()


def test_hybrid_search_on_one_shard_equals_one_node(cluster: LocalCluster) -> None:
    ids, vecs, payloads, texts = _data(500, 8, 3)
    c = _client(cluster)
    col = c.collections.create("hyb", dim=8, index={"type": "flat"}, shards=1, replicas=3, text_field=True)
    col.upsert(ids, vecs, payloads=payloads, texts=texts)
    with lakebed.connect(":memory:") as lake:
        one = lake.collections.create("hyb", dim=8, index={"type": "flat"}, text_field=True)
        one.upsert(ids, vecs, payloads=payloads, texts=texts)
        for q, v in zip(["apple river", "stone", "glass orbit maple"], vecs[:3], strict=True):
            got = col.hybrid_search(q, v, k=10, consistency="session")
            want = one.hybrid_search(q, v, k=10)
            assert [h.id for h in got] == [h.id for h in want]
            assert np.allclose([h.score for h in got], [h.score for h in want])
    c.collections.drop("hyb")


def test_hnsw_sharded_recall_is_that_of_one_node(cluster: LocalCluster) -> None:
    rng = np.random.default_rng(4)
    n, dim = 4000, 32
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    c = _client(cluster)
    col = c.collections.create("ann", dim=dim, metric="cosine", shards=3, replicas=2)
    col.upsert(list(range(n)), vecs)
    qs = rng.standard_normal((50, dim)).astype(np.float32)
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    truth = np.argsort(-(qs / np.linalg.norm(qs, axis=1, keepdims=True)) @ unit.T, axis=1)[:, :10]
    recall = np.mean([len({h.id for h in col.search(q, k=10, consistency="session")} & set(t.tolist())) / 10
                      for q, t in zip(qs, truth, strict=True)])
    assert recall >= 0.97
    c.collections.drop("ann")


def test_bad_input_is_refused_and_stores_nothing(cluster: LocalCluster) -> None:
    c = _client(cluster)
    col = c.collections.create("bad", dim=4, shards=2, replicas=3)
    col.upsert([1, 2], np.eye(4)[:2])
    before = col.count(consistency="strong")
    with pytest.raises(InvalidArgument, match=r"dim|shape"):
        col.upsert([3], [[1.0, 2.0]])
    with pytest.raises(InvalidArgument, match=r"finite|NaN|nan"):
        col.upsert([3], [[np.nan, 0, 0, 1]])
    with pytest.raises(InvalidArgument, match=r"unique|duplicate"):
        col.upsert([5, 5], np.eye(4)[:2])
    with pytest.raises(InvalidArgument):
        col.delete(filter={"g": {"$where": "1"}})
    with pytest.raises(InvalidArgument):
        col.delete(ids=[1], filter={"g": 1})
    with pytest.raises(InvalidArgument):
        col.create_payload_index("$x", "integer")
    with pytest.raises(InvalidArgument, match="consistency"):
        col.search([1, 0, 0, 0], consistency="linearizable")
    assert col.count(consistency="strong") == before
    with pytest.raises(InvalidArgument, match="replicas"):
        c.collections.create("toomany", dim=4, replicas=5)
    with pytest.raises(InvalidArgument):
        c.collections.create("../etc", dim=4)
    with pytest.raises(NotFound):
        c.collections.open("never-made")
    st = c.status()
    assert all(n["apply_errors"] == 0 for n in st["nodes"].values())
    c.collections.drop("bad")


def test_keys_and_scopes_hold_on_every_node(cluster: LocalCluster) -> None:
    admin = _client(cluster)
    admin.collections.create("guarded", dim=2, shards=2, replicas=3)
    reader = _client(cluster, "reader")
    col = reader.collections.open("guarded")
    assert col.count() == 0
    with pytest.raises(PermissionDenied):
        col.upsert([1], [[1.0, 0.0]])
    writer = _client(cluster, "writer")
    writer.collections.open("guarded").upsert([1], [[1.0, 0.0]])
    with pytest.raises(PermissionDenied):
        writer.collections.drop("guarded")
    for i in range(3):  # every node: no key is 401, a wrong one too
        url = cluster.node_url(i)
        assert httpx.get(f"{url}/v1/cluster/status", timeout=60).status_code == 401
        r = httpx.post(f"{url}/v1/cluster/collections/guarded/count", json={}, timeout=60,
                       headers={"authorization": "Bearer lb_nope_nope"})
        assert r.status_code == 401
        # names are validated, oversized and malformed bodies refused before any work
        h = {"authorization": f"Bearer {cluster.keys['admin']}"}
        assert httpx.post(f"{url}/v1/cluster/collections/guarded/search",
                          json={"vector": [1, 0], "k": 10**9}, headers=h, timeout=60).status_code == 422
        assert httpx.post(f"{url}/v1/cluster/collections/guarded/upsert",
                          json={"ids": [9], "vectors": [[1, 0]], "request_id": "a b\n"}, headers=h,
                          timeout=60).status_code == 422
        assert httpx.post(f"{url}/v1/cluster/collections/guarded/count",
                          json={"shards": [999]}, headers=h, timeout=60).status_code == 422
        r = httpx.post(f"{url}/v1/cluster/collections/..%2F..%2Fetc/count", json={}, headers=h, timeout=60)
        assert r.status_code in (404, 422)
        big = {"ids": list(range(100_001)), "vectors": [[0.0, 1.0]] * 100_001}
        assert httpx.post(f"{url}/v1/cluster/collections/guarded/upsert", json=big, headers=h,
                          timeout=60).status_code == 422
    with pytest.raises(AuthError):
        lakebed.connect("lakebed+cluster://" + ",".join(f"127.0.0.1:{p}" for p in cluster.node_ports))
    assert admin.collections.open("guarded").count(consistency="strong") == 1
    admin.collections.drop("guarded")


def test_shard_of_spreads_ids() -> None:
    counts = np.bincount([shard_of(i, 4) for i in range(10_000)], minlength=4)
    assert counts.min() > 2300
    assert shard_of(7, 4) == shard_of(7, 4) and {shard_of(str(i), 3) for i in range(100)} == {0, 1, 2}


def test_status_cli_and_metrics(cluster: LocalCluster) -> None:
    from typer.testing import CliRunner

    from lakebed.cli import app

    c = _client(cluster)
    col = c.collections.create("ops", dim=4, shards=2, replicas=3)
    col.upsert(list(range(50)), np.random.default_rng(0).standard_normal((50, 4)))
    col.count(consistency="strong")
    addrs = ",".join(f"127.0.0.1:{p}" for p in cluster.node_ports)
    runner = CliRunner()
    out = runner.invoke(app, ["cluster", "status", addrs, "--api-key", cluster.keys["reader"], "--json"])
    assert out.exit_code == 0, out.output
    import json

    st = json.loads(out.output)
    assert sorted(st["nodes"]) == ["n0", "n1", "n2"]
    shards = st["collections"]["ops"]["shard_status"]
    assert [s["shard"] for s in shards] == [0, 1] and all(s["leader"] for s in shards)
    assert sum(s["last_seq"] for s in shards) >= 2
    table = runner.invoke(app, ["cluster", "status", addrs, "--api-key", cluster.keys["reader"]])
    assert table.exit_code == 0 and "ops: 2 shards x 3 replicas" in table.output
    denied = runner.invoke(app, ["cluster", "status", addrs])
    assert denied.exit_code != 0
    metrics = httpx.get(f"{cluster.node_url(0)}/metrics", timeout=60,
                        headers={"authorization": f"Bearer {cluster.keys['admin']}"}).text
    assert 'lakebed_cluster_replica_lag{collection="ops",shard="0"}' in metrics
    assert "lakebed_cluster_nodes_alive 3.0" in metrics
    assert "lakebed_cluster_read_seconds_count" in metrics
    c.collections.drop("ops")
