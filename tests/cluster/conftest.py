"""A real cluster per test module: 3 nats-server processes (clustered JetStream) and 3
lakebed nodes, started by :class:`lakebed.cluster._local.LocalCluster` on free loopback
ports and stopped afterwards. Every node's lake holds the same keys."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakebed.cluster._local import LocalCluster

KEYS = {"admin": ["admin"], "writer": ["write"], "reader": ["read"]}


def make_cluster(root: Path, nodes: int = 3, servers: int = 3) -> LocalCluster:
    if shutil.which("nats-server") is None and not Path("/usr/sbin/nats-server").exists():
        if os.environ.get("LAKEBED_REQUIRE_SERVICES") == "1":
            pytest.fail("LAKEBED_REQUIRE_SERVICES=1 but nats-server is not installed")
        pytest.skip("nats-server is not installed")
    return LocalCluster(root, servers=servers, nodes=nodes, keys=KEYS)


def running(root: Path) -> Iterator[LocalCluster]:
    lc = make_cluster(root)
    try:
        lc.start()
        yield lc
    finally:
        lc.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from running(tmp_path_factory.mktemp("cluster"))
