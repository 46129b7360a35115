"""``lakebed serve --stream-processors``: the writer runs the stream feature views beside
the server, and ``/metrics`` reports each view's lag, counts and freshness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.server.conftest import _free_port, one_shot, serving

import lakebed
from lakebed.features import Aggregation, Entity, StreamFeatureView
from lakebed.server import create_app
from lakebed.server import keys as key_store
from lakebed.server._streams import attach_stream_runner

USER = Entity("user", join_keys=["user_id"])
SCHEMA = {"user_id": "int64", "price": "float64", "ts": "timestamp[us, tz=UTC]"}


def view(name: str, stream: str = "clicks") -> StreamFeatureView:
    return StreamFeatureView(name, entities=[USER], source=f"stream:{stream}", timestamp_field="ts",
                             aggregations=[Aggregation("price", "sum", window=timedelta(hours=1))])


def events(n: int, start: int = 0) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [{"user_id": i % 2, "price": float(i), "ts": now} for i in range(start, start + n)]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_serve_with_stream_processors_applies_and_reports(tmp_path: Path) -> None:
    """The CLI flag: events appended before the start are applied by the server's writer;
    /metrics (behind its key) reports the view."""
    path = tmp_path / "lake"
    with lakebed.connect(path) as lake:
        lake.streams.create("clicks", schema=SCHEMA, key="user_id", event_time="ts", partitions=2)
        lake.features.apply([USER, view("spend")])
        lake.streams.get("clicks").append(events(10))
        admin = key_store.create(lake, "ops", ["admin"]).secret
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "LAKEBED_STREAMS"}
    proc = subprocess.Popen([sys.executable, "-m", "lakebed.cli", "serve", str(path), "--port", str(port),
                             "--stream-processors"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    auth = {"authorization": f"Bearer {admin}"}
    try:
        def applied() -> bool:
            try:
                r = one_shot("GET", f"{url}/metrics", headers=auth)
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
                return False
            # freshness is stored with the state at most a second after the events it measures
            return (metric(r.text, "lakebed_stream_view_applied_total", view="spend", stream="clicks") == 10.0
                    and metric(r.text, "lakebed_stream_view_freshness_seconds_bucket", view="spend",
                               stream="clicks", le="+Inf") == 10.0)

        wait_for(applied, "the server to apply the events", timeout=30)
        text = one_shot("GET", f"{url}/metrics", headers=auth).text
        assert metric(text, "lakebed_stream_view_lag", view="spend", stream="clicks") == 0.0
        assert metric(text, "lakebed_stream_view_too_late_total", view="spend", stream="clicks") == 0.0
        assert metric(text, "lakebed_stream_view_freshness_seconds_bucket", view="spend", stream="clicks",
                      le="+Inf") == 10.0
        assert metric(text, "lakebed_stream_view_freshness_quantile_seconds", view="spend", stream="clicks",
                      quantile="0.99") is not None
        assert one_shot("GET", f"{url}/metrics").status_code == 401  # /metrics keeps its key
        with lakebed.connect(url, api_key=admin) as remote:
            got = remote.features.online([{"user_id": 0}, {"user_id": 1}], ["spend:price_sum_1h"])
            assert got["price_sum_1h"] == [20.0, 25.0]
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, out
    assert "stream processors" in out
    with lakebed.connect(path, read_only=True) as lake:  # stopped cleanly: the offline tail landed
        assert lake.tables.read("streams.spend").num_rows == 10


def test_stream_runner_applies_appends_while_serving(tmp_path: Path) -> None:
    """Appended while the server runs: applied within seconds; a view applied later is
    picked up; shutdown stops the processor after landing the offline tail."""
    with lakebed.connect(tmp_path / "lake") as lake:
        clicks = lake.streams.create("clicks", schema=SCHEMA, key="user_id", event_time="ts", partitions=2)
        lake.features.apply([USER, view("spend")])
        app = create_app(lake, public_metrics=True)
        runner = attach_stream_runner(app, lake)
        assert not runner.running
        with serving(app) as url:
            wait_for(lambda: runner.running and runner.views == {"spend": 1}, "the processor to start")
            clicks.append(events(6))
            t0 = time.monotonic()

            def online() -> list[Any]:
                return list(lake.features.online([{"user_id": 0}, {"user_id": 1}], ["spend:price_sum_1h"])
                            ["price_sum_1h"])

            wait_for(lambda: online() == [6.0, 9.0], "the appended events online", timeout=5)
            assert time.monotonic() - t0 < 5
            text = httpx.get(f"{url}/metrics").text
            assert metric(text, "lakebed_stream_view_applied_total", view="spend", stream="clicks") == 6.0
            assert metric(text, "lakebed_stream_view_lag", view="spend", stream="clicks") == 0.0

            # a view applied while serving (on a new stream) is run too
            orders = lake.streams.create("orders", schema=SCHEMA, key="user_id", event_time="ts")
            lake.features.apply([view("orders_spend", stream="orders")])
            wait_for(lambda: runner.views == {"spend": 1, "orders_spend": 1}, "the new view to be picked up")
            orders.append(events(4))
            clicks.append(events(2, start=6))
            wait_for(lambda: metric(httpx.get(f"{url}/metrics").text, "lakebed_stream_view_applied_total",
                                    view="orders_spend", stream="orders") == 4.0, "the new view's events")
            wait_for(lambda: online() == [6.0 + 6.0, 9.0 + 7.0], "more events of the first view")
            assert runner.errors == 0, runner.last_error

            # a view whose stream is dropped is left out; the others keep running
            wait_for(lambda: lake.tables.read("streams.orders_spend").num_rows == 4, "the offline landing")
            lake.streams.drop("orders")
            wait_for(lambda: runner.missing == {"orders_spend": "orders"} and runner.views == {"spend": 1},
                     "the view of the dropped stream to be left out")
            clicks.append(events(1, start=8))
            wait_for(lambda: online() == [12.0 + 8.0, 16.0], "events after the drop")
        assert not runner.running  # shutdown joined it
        assert lake.tables.read("streams.spend").num_rows == 9
        assert lake.tables.read("streams.orders_spend").num_rows == 4


@pytest.mark.redis
def test_serve_with_stream_processors_applies_events_appended_while_serving(tmp_path: Path, redis_url: str) -> None:
    """With a broker backend (LAKEBED_STREAMS) producers append while the server is the
    lake's writer; the server's processor applies their events within seconds."""
    redis_url = f"{redis_url}?namespace=t{uuid.uuid4().hex[:10]}"  # shared by every lake naming it
    path = tmp_path / "lake"
    with lakebed.connect(path, streams=redis_url) as lake:
        lake.streams.create("clicks", schema=SCHEMA, key="user_id", event_time="ts", partitions=2)
        lake.features.apply([USER, view("spend")])
        key = key_store.create(lake, "ops", ["read", "metrics"]).secret
    port = _free_port()
    env = {**os.environ, "LAKEBED_STREAMS": redis_url}
    proc = subprocess.Popen([sys.executable, "-m", "lakebed.cli", "serve", str(path), "--port", str(port),
                             "--stream-processors"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    auth = {"authorization": f"Bearer {key}"}

    def scrape() -> str:
        try:
            r = one_shot("GET", f"{url}/metrics", headers=auth)
        except httpx.TransportError:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
            return ""
        return r.text

    try:
        wait_for(lambda: metric(scrape(), "lakebed_stream_view_lag", view="spend", stream="clicks") == 0.0,
                 "the server", timeout=30)
        with lakebed.connect(":memory:", streams=redis_url) as producer:
            producer.streams.get("clicks").append(events(8))
        t0 = time.monotonic()
        wait_for(lambda: metric(scrape(), "lakebed_stream_view_applied_total", view="spend", stream="clicks") == 8.0,
                 "the appended events", timeout=10)
        assert time.monotonic() - t0 < 5
        with lakebed.connect(url, api_key=key) as remote:
            got = remote.features.online([{"user_id": 0}, {"user_id": 1}], ["spend:price_sum_1h"])
            assert got["price_sum_1h"] == [12.0, 16.0]
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, out
