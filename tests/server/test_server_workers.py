"""`lakebed serve --workers 2`: a writer and a read worker on one socket. Every answer of
either process must be fresh: a read that starts after a write was answered sees it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.server.conftest import fill_for_workers, one_shot, serve_workers

import lakebed
from lakebed.features import Entity, FeatureView, Field
from lakebed.server._workers import merge_metrics, write_scope

NOW = datetime.now(UTC)
DIM = 8


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    admin = fill_for_workers(tmp_path / "lake", NOW, DIM, 50).secret
    assert admin is not None
    with serve_workers(tmp_path / "lake") as (url, proc):
        yield url, admin, proc


def test_reads_on_every_worker_see_each_answered_write(two_workers: tuple[str, str, Any]) -> None:
    url, admin, _ = two_workers
    auth = {"authorization": f"Bearer {admin}"}
    online = {"entity_rows": [{"user_id": 1}], "features": ["stats:amount"]}
    reads = 0
    with lakebed.connect(url, api_key=admin) as remote:
        for i in range(8):  # online pushes, each read back on new connections
            remote.features.push("stats", [{"user_id": 1, "ts": datetime.now(UTC), "amount": 100.0 + i}])
            for _ in range(4):
                r = one_shot("POST", f"{url}/v1/features/online", json=online, headers=auth)
                reads += 1
                assert r.status_code == 200 and r.json()["values"]["amount"] == [100.0 + i]
        # a new definition: the read workers' cached registry must not answer for it
        user = Entity("user", join_keys=["user_id"])
        remote.features.apply([user, FeatureView("stats", entities=[user], source="silver.tx", timestamp_field="ts",
                                                 fields=[Field("amount", "float64")], ttl=timedelta(seconds=1))])
        time.sleep(1.5)
        for _ in range(6):  # the pushed value is now older than the new ttl
            r = one_shot("POST", f"{url}/v1/features/online", json=online, headers=auth)
            reads += 1
            assert r.json()["statuses"]["amount"] == ["expired"]
        docs = remote.collections.open("docs")
        for i in range(5):  # points upserted, then found by searches on new connections
            vec = np.full(DIM, 10.0 + i, dtype="float32")
            docs.upsert([1000 + i], vec[None, :], payloads=[{"i": i}])
            for _ in range(4):
                r = one_shot("POST", f"{url}/v1/collections/docs/search",
                              json={"vector": vec.tolist(), "k": 1}, headers=auth)
                assert r.status_code == 200 and r.json()[0]["id"] == 1000 + i, r.text
        docs.delete([1004])
        for _ in range(4):
            r = one_shot("POST", f"{url}/v1/collections/docs/search",
                          json={"vector": [14.0] * DIM, "k": 1}, headers=auth)
            assert r.json()[0]["id"] != 1004
        remote.collections.drop("docs")
        for _ in range(6):
            r = one_shot("POST", f"{url}/v1/collections/docs/search", json={"vector": [1.0] * DIM, "k": 1},
                          headers=auth)
            assert r.status_code == 404, r.text
    # a key revoked through one process is refused by every process at once
    made = one_shot("POST", f"{url}/v1/keys", json={"name": "app", "scopes": ["read"]}, headers=auth).json()
    app = {"authorization": f"Bearer {made['secret']}"}
    assert all(one_shot("POST", f"{url}/v1/features/online", json=online, headers=app).status_code == 200
               for _ in range(4))
    reads += 4
    assert one_shot("DELETE", f"{url}/v1/keys/{made['key_id']}", headers=auth).status_code == 200
    assert all(one_shot("POST", f"{url}/v1/features/online", json=online, headers=app).status_code == 401
               for _ in range(6))
    # one scrape counts every process's requests (read workers write theirs each second)
    time.sleep(2.5)
    text = one_shot("GET", f"{url}/metrics", headers=auth).text
    line = next(ln for ln in text.splitlines() if ln.startswith("lakebed_http_requests_total")
                and 'route="/v1/features/online"' in ln and 'status="200"' in ln)
    assert float(line.rsplit(" ", 1)[1]) == reads
    assert 'route="/v1/features/online",status="401"} 6.0' in text
    assert "lakebed_collection_points" in text


def test_read_workers_exit_with_the_writer(two_workers: tuple[str, str, Any]) -> None:
    _, _, proc = two_workers
    workers = _children(proc.pid)
    assert workers, "no read worker process found"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in workers):
        assert time.monotonic() < deadline, "read workers outlived the writer"
        time.sleep(0.1)


def test_a_dead_read_worker_is_started_again(two_workers: tuple[str, str, Any]) -> None:
    url, _, proc = two_workers
    first = _children(proc.pid)
    assert len(first) == 1
    os.kill(first[0], signal.SIGKILL)
    # the writer answers meanwhile
    assert all(one_shot("GET", f"{url}/health").status_code == 200 for _ in range(5))
    deadline = time.monotonic() + 60
    seen: set[int] = set()
    while 1 not in seen:  # a new worker 1 answers
        assert time.monotonic() < deadline, "the read worker was not started again"
        seen.add(one_shot("GET", f"{url}/health").json()["worker"])
    assert _children(proc.pid) != first


def test_write_scopes() -> None:
    assert write_scope("POST", "/v1/features/push/stats") == "features"
    assert write_scope("POST", "/v1/features/online") is None
    assert write_scope("POST", "/v1/features/training_set") is None
    assert write_scope("DELETE", "/v1/keys/abc") == "keys"
    assert write_scope("DELETE", "/v1/collections/docs") == "collections/docs"
    assert write_scope("POST", "/v1/collections/docs/upsert") == "collections/docs"
    assert write_scope("POST", "/v1/collections/docs/hybrid") is None
    assert write_scope("POST", "/v1/tables/silver.tx/write") is None
    assert write_scope("POST", "/v1/other/thing") == "*"
    assert write_scope("GET", "/v1/collections/docs/info") is None


def test_merge_metrics_adds_samples_of_each_process() -> None:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    texts = []
    for n in (3, 4):
        reg = CollectorRegistry()
        c = Counter("reqs", "Requests", ["route"], registry=reg)
        h = Histogram("lat", "Latency", buckets=(0.1, 1.0), registry=reg)
        c.labels("/a").inc(n)
        for _ in range(n):
            h.observe(0.5)
        texts.append(generate_latest(reg).decode())
    merged = merge_metrics(texts).decode()
    assert 'reqs_total{route="/a"} 7.0' in merged
    assert 'lat_bucket{le="0.1"} 0.0' in merged and 'lat_bucket{le="1.0"} 7.0' in merged
    assert "lat_count 7.0" in merged and "lat_sum 3.5" in merged
    assert "_created" not in merged and "# TYPE reqs_total counter" in merged


def test_workers_do_not_join_a_port_in_use(tmp_path: Path) -> None:
    from lakebed.server import serve

    lakebed.connect(tmp_path / "lake").close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(lakebed.InvalidArgument, match="cannot listen"):
            serve(tmp_path / "lake", port=taken.getsockname()[1], workers=2)


def test_serve_refuses_bad_process_counts(tmp_path: Path) -> None:
    from lakebed.server import serve

    lakebed.connect(tmp_path / "lake").close()
    with pytest.raises(lakebed.InvalidArgument, match="workers must be >= 1"):
        serve(tmp_path / "lake", workers=0)
    with pytest.raises(lakebed.InvalidArgument, match="threads must be >= 1"):
        serve(tmp_path / "lake", threads=0)
    with pytest.raises(lakebed.InvalidArgument, match="loop must be"):
        serve(tmp_path / "lake", loop="tokio")
