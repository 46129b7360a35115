"""Prometheus metrics of one server (its own registry, so several apps can coexist)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from lakebed.lake import Lake

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _SizeCollector:
    """Table and collection sizes, computed when scraped."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def collect(self) -> Any:
        rows = GaugeMetricFamily("lakebed_table_rows", "Rows in a table (latest version)", labels=["table"])
        try:
            for name in self.lake.tables.list():
                rows.add_metric([name], self.lake.tables.info(name)["num_rows"])
        except Exception:  # a scrape never fails the server
            pass
        yield rows
        points = GaugeMetricFamily("lakebed_collection_points", "Points in a collection", labels=["collection"])
        try:
            cols = self.lake.collections
            for name in cols.list():
                points.add_metric([name], cols.open(name).count())
        except Exception:
            pass
        yield points


class Metrics:
    def __init__(self, lake: Lake, *, sizes: bool = True, merge_dir: Path | None = None) -> None:
        """``sizes``: report table and collection sizes (the primary does, read workers
        don't); ``merge_dir``: add the samples read workers write there (``metrics-*.prom``)."""
        self.merge_dir = merge_dir
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lakebed_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "lakebed_http_request_seconds", "HTTP request latency", ["method", "route"], buckets=_FAST,
            registry=self.registry,
        )
        self.search = Histogram(
            "lakebed_search_seconds", "Vector, text and hybrid search latency inside the server", ["kind"],
            buckets=_FAST, registry=self.registry,
        )
        self.online = Histogram(
            "lakebed_online_read_seconds", "Online feature read latency inside the server", buckets=_FAST,
            registry=self.registry,
        )
        if sizes:
            self.registry.register(_SizeCollector(lake))  # type: ignore[arg-type]

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        body = generate_latest(self.registry)
        if self.merge_dir is not None:
            from lakebed.server._workers import merge_metrics

            others = []
            for f in sorted(self.merge_dir.glob("metrics-*.prom")):
                try:
                    others.append(f.read_text())
                except OSError:  # a worker replacing its file right now: next scrape
                    continue
            if others:
                body = merge_metrics([body.decode(), *others])
        return body, "text/plain; version=0.0.4; charset=utf-8"
