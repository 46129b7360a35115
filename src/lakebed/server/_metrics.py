"""Prometheus metrics of one server (its own registry, so several apps can coexist)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

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


class _StreamViewCollector:
    """Stream feature views, from the state each keeps in the online store (so any
    process reads the same numbers, whoever runs the processor): lag, applied, too late,
    out of order and expired counts, and event-to-online freshness as a histogram (every
    event applied) and p50/p99 of the latest events."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def collect(self) -> Any:
        labels = ["view", "stream"]
        lag = GaugeMetricFamily("lakebed_stream_view_lag", "Records of the stream not yet applied online (records)",
                                labels=labels)
        counters = {
            "applied": CounterMetricFamily("lakebed_stream_view_applied", "Events applied to the online store",
                                           labels=labels),
            "too_late": CounterMetricFamily("lakebed_stream_view_too_late",
                                            "Events beyond the watermark (not applied; in the late table)",
                                            labels=labels),
            "out_of_order": CounterMetricFamily("lakebed_stream_view_out_of_order",
                                                "Events applied out of order (within the watermark)", labels=labels),
            "expired": CounterMetricFamily("lakebed_stream_view_expired",
                                           "Records dropped by the stream's retention before they were applied",
                                           labels=labels),
        }
        hist = HistogramMetricFamily("lakebed_stream_view_freshness_seconds",
                                     "Event time to online-visible latency of the applied events", labels=labels)
        quantiles = GaugeMetricFamily("lakebed_stream_view_freshness_quantile_seconds",
                                      "Event time to online-visible latency of the latest events (p50, p99)",
                                      labels=[*labels, "quantile"])
        breached = GaugeMetricFamily("lakebed_stream_view_slo_breached",
                                     "1 when the freshness p99 is over the view's freshness SLO", labels=labels)
        try:
            from lakebed.features._stream import stream_status

            store = self.lake.features
            views = [(n, s) for (k, n), (_, s) in sorted(store.registry.current().items())
                     if k == "view" and s.get("stream")]
            for name, spec in views:
                try:
                    st = stream_status(store, name, spec)
                except Exception:  # a stream gone, a backend down: the other views still report
                    continue
                values = [name, st["stream"]]
                lag.add_metric(values, st["lag"])
                for key, family in counters.items():
                    family.add_metric(values, st[key])
                edges, counts = st.get("freshness_buckets_ms"), st.get("freshness_counts")
                if edges and counts and len(edges) == len(counts):
                    buckets, total = [], 0
                    for edge, n in zip(edges, counts, strict=True):
                        total += n
                        le = "+Inf" if edge == float("inf") else repr(edge / 1000.0)
                        buckets.append((le, float(total)))
                    if buckets[-1][0] != "+Inf":
                        buckets.append(("+Inf", float(total)))
                    hist.add_metric(values, buckets, None)
                for q, key in (("0.5", "freshness_p50_ms"), ("0.99", "freshness_p99_ms")):
                    if st.get(key) is not None:
                        quantiles.add_metric([*values, q], st[key] / 1000.0)
                breached.add_metric(values, 1.0 if st["slo_breached"] else 0.0)
        except Exception:  # a scrape never fails the server
            pass
        yield lag
        yield from counters.values()
        yield hist
        yield quantiles
        yield breached


class Metrics:
    def __init__(self, lake: Lake, *, sizes: bool = True, merge_dir: Path | None = None) -> None:
        """``sizes``: report table and collection sizes and the stream feature views (the
        primary does, read workers don't: the merge would add their samples up);
        ``merge_dir``: add the samples read workers write there (``metrics-*.prom``)."""
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
            self.registry.register(_StreamViewCollector(lake))  # type: ignore[arg-type]

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
