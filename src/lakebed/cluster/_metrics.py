"""Prometheus metrics of a cluster node, on the server's ``/metrics``:

- ``lakebed_cluster_replica_applied{collection,shard}``: the last log sequence applied here;
- ``lakebed_cluster_replica_lag{collection,shard}``: messages of the shard's stream not yet
  applied here (the stream's last sequence, asked of JetStream at scrape time, minus applied);
- ``lakebed_cluster_apply_errors{collection,shard}``: messages refused as bad input (each
  replica refuses them alike);
- ``lakebed_cluster_nodes_alive``: nodes with a heartbeat in the last few seconds;
- ``lakebed_cluster_read_seconds``: the time this node took to answer its part of a fanned-out
  read (waiting for ``session``/``strong`` included).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily

from lakebed.errors import LakebedError

if TYPE_CHECKING:
    from lakebed.cluster._node import Node
    from lakebed.server._metrics import Metrics


class _ClusterCollector:
    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Any:
        labels = ["collection", "shard"]
        applied = GaugeMetricFamily("lakebed_cluster_replica_applied", "Last log sequence applied by this replica",
                                    labels=labels)
        lag = GaugeMetricFamily("lakebed_cluster_replica_lag", "Messages of the shard's log not applied here",
                                labels=labels)
        errors = GaugeMetricFamily("lakebed_cluster_apply_errors", "Log messages refused as bad input", labels=labels)
        alive = GaugeMetricFamily("lakebed_cluster_nodes_alive", "Nodes with a recent heartbeat")
        node = self.node
        with node._lock:
            replicas = list(node.replicas.items())
        for (name, shard), r in replicas:
            key = [name, str(shard)]
            applied.add_metric(key, r.applied)
            errors.add_metric(key, r.errors)
            # JetStream unreachable: no lag sample rather than a wrong one
            with contextlib.suppress(LakebedError):
                lag.add_metric(key, max(node.log.last_seq(r.spec["gen"], shard) - r.applied, 0))
        with contextlib.suppress(LakebedError):
            alive.add_metric([], len(node.log.members()))
        yield from (applied, lag, errors, alive)


def attach_metrics(node: Node, metrics: Metrics) -> None:
    """Register the node's gauges and its read-latency histogram with the server's metrics."""
    metrics.registry.register(_ClusterCollector(node))  # type: ignore[arg-type]
    hist = Histogram("lakebed_cluster_read_seconds", "Time to answer a node's part of a fanned-out read",
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                     registry=metrics.registry)
    node.on_read = hist.observe
