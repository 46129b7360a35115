"""A whole cluster on one machine: N nats-server processes (clustered JetStream) and N
lakebed nodes, each with its own directory and ports. The tests, the benchmark and
``lakebed cluster local`` use it; it is also the shortest way to try a cluster.

Every process is a child of this one, bound to 127.0.0.1; :meth:`LocalCluster.stop` ends
them all. Faults are real: :meth:`kill_node` and :meth:`kill_nats` send SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lakebed.errors import BackendUnavailable, InvalidArgument

_NODE_MAIN = "import sys; from lakebed.cli import main; sys.argv[0] = 'lakebed'; main()"


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports free on 127.0.0.1 right now."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BackendUnavailable(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise BackendUnavailable(f"{what} did not listen on port {port} within {timeout:g} s: {log.read_text()[-2000:]}")


class LocalCluster:
    """``servers`` NATS servers and ``nodes`` lakebed nodes under ``root``.

    Example:
        >>> with LocalCluster("/tmp/lbc", servers=3, nodes=3) as lc:  # doctest: +SKIP
        ...     client = lc.client()
        ...     col = client.collections.create("docs", dim=4, shards=2, replicas=3)
    """

    def __init__(self, root: str | Path, *, servers: int = 3, nodes: int = 3, name: str = "lakebed",
                 nats_server: str | None = None, node_env: dict[str, str] | None = None,
                 fsync: str = "always", keys: dict[str, list[str]] | None = None,
                 node_ports: list[int] | None = None, hosts: list[str] | None = None,
                 netns: list[str | None] | None = None) -> None:
        if not 1 <= servers <= 9 or not 1 <= nodes <= 9:
            raise InvalidArgument("a local cluster has 1..9 servers and 1..9 nodes")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.fsync = fsync
        self.nats_bin = nats_server or shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(self.nats_bin).exists():
            raise InvalidArgument("nats-server is not installed (Debian: apt install nats-server)")
        if node_ports is not None and len(node_ports) != nodes:
            raise InvalidArgument(f"node_ports names {len(node_ports)} ports for {nodes} nodes")
        ports = free_ports(2 * servers + nodes)
        self.nats_ports = ports[:servers]
        self.route_ports = ports[servers:2 * servers]
        self.node_ports = list(node_ports) if node_ports is not None else ports[2 * servers:]
        self.node_env = dict(node_env or {})
        # NATS server i and node i listen on hosts[i] (127.0.0.1 by default), inside the
        # network namespace netns[i] when one is named (the partition tests)
        count = max(servers, nodes)
        self.hosts = list(hosts) if hosts is not None else ["127.0.0.1"] * count
        self.netns = list(netns) if netns is not None else [None] * count
        if len(self.hosts) < count or len(self.netns) < count:
            raise InvalidArgument(f"hosts and netns need {count} entries each")
        self.nats: list[subprocess.Popen[bytes] | None] = [None] * servers
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self.key_scopes = dict(keys or {})  # name -> scopes: the same keys on every node
        self.keys: dict[str, str] = {}  # name -> secret

    # -- NATS ------------------------------------------------------------------------------
    @property
    def nats_urls(self) -> str:
        return ",".join(f"nats://{h}:{p}" for h, p in zip(self.hosts, self.nats_ports, strict=False))

    def start_nats(self, i: int) -> None:
        d = self.root / f"nats{i}"
        d.mkdir(exist_ok=True)
        host = self.hosts[i]
        args = [self.nats_bin, "-a", host, "-p", str(self.nats_ports[i]), "-js", "-sd", str(d / "js"),
                "--server_name", f"s{i}", "-l", str(d / "log")]
        if len(self.nats_ports) > 1:
            routes = ",".join(f"nats://{self.hosts[j]}:{p}" for j, p in enumerate(self.route_ports) if j != i)
            args += ["--cluster_name", f"{self.name}_nats", "--cluster", f"nats://{host}:{self.route_ports[i]}",
                     "--routes", routes]
        self.nats[i] = subprocess.Popen(self._prefix(i) + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (d / "log").touch()
        _wait_port(host, self.nats_ports[i], 15, self.nats[i], f"nats-server s{i}", d / "log")  # type: ignore[arg-type]

    def _prefix(self, i: int) -> list[str]:
        ns = self.netns[i]
        return ["ip", "netns", "exec", ns] if ns else []

    def kill_nats(self, i: int, sig: int = signal.SIGKILL) -> None:
        p = self.nats[i]
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            p.wait(30)
        self.nats[i] = None

    def wait_jetstream(self, timeout: float = 30.0) -> None:
        """Until the JetStream meta group has a leader (a clustered JetStream answers API
        calls only then)."""
        from lakebed.cluster._log import ClusterLog

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                log = ClusterLog(self.nats_urls, cluster=self.name)
                log.close()
                return
            except Exception as exc:  # no meta leader yet: try again
                last = exc
                time.sleep(0.5)
        raise BackendUnavailable(f"JetStream of the local cluster did not come up in {timeout:g} s: {last}")

    def leader_of(self, stream: str) -> int | None:
        """The index of the NATS server leading JetStream stream ``stream``."""
        from lakebed.cluster._log import ClusterLog

        log = ClusterLog(self.nats_urls, cluster=self.name)
        try:
            info = log._run(log._info(stream))
        finally:
            log.close()
        leader = (info.get("cluster") or {}).get("leader")
        return int(leader[1:]) if leader else None

    # -- nodes -----------------------------------------------------------------------------
    def node_url(self, i: int) -> str:
        return f"http://{self.hosts[i]}:{self.node_ports[i]}"

    def start_node(self, i: int, timeout: float = 60.0) -> None:
        lake = self.root / f"node{i}"
        if not (lake / "lakebed.toml").exists():
            import lakebed

            lakebed.connect(lake, fsync=self.fsync).close()
        logf = self.root / f"node{i}.log"
        # the nodes share this machine's cores: one BLAS thread each (three processes whose
        # BLAS pools spin-wait on each other searched 3x slower than with one thread each)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", **self.node_env}
        with open(logf, "ab") as out:
            self.procs[i] = subprocess.Popen(
                [*self._prefix(i), sys.executable, "-c", _NODE_MAIN, "serve", str(lake), "--host", self.hosts[i],
                 "--port", str(self.node_ports[i]), "--cluster", self.nats_urls, "--node-id", f"n{i}",
                 "--cluster-name", self.name], stdout=out, stderr=subprocess.STDOUT, env=env)
        _wait_port(self.hosts[i], self.node_ports[i], timeout, self.procs[i], f"lakebed node n{i}", logf)  # type: ignore[arg-type]

    def kill_node(self, i: int, sig: int = signal.SIGKILL) -> None:
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            p.wait(60)
        self.procs[i] = None

    def _make_lakes(self) -> None:
        import lakebed
        from lakebed.server import _keys

        rows: list[dict[str, Any]] = []
        for i in range(len(self.node_ports)):
            with lakebed.connect(self.root / f"node{i}", fsync=self.fsync) as lake:
                if i == 0:
                    for name, scopes in self.key_scopes.items():
                        self.keys[name] = str(_keys.create(lake, name, scopes).secret)
                    rows = _keys.export_keys(lake)
                elif rows:
                    _keys.import_keys(lake, rows)

    def start(self) -> LocalCluster:
        self._make_lakes()
        for i in range(len(self.nats_ports)):
            self.start_nats(i)
        self.wait_jetstream()
        for i in range(len(self.node_ports)):
            self.start_node(i)
        self.wait_members(len(self.node_ports))
        return self

    def wait_members(self, n: int, timeout: float = 30.0) -> None:
        """Until ``n`` nodes heartbeat."""
        from lakebed.cluster._log import ClusterLog

        deadline = time.monotonic() + timeout
        log = ClusterLog(self.nats_urls, cluster=self.name)
        try:
            while len(log.members()) < n:
                if time.monotonic() > deadline:
                    raise BackendUnavailable(f"only {sorted(log.members())} of {n} nodes joined in {timeout:g} s")
                time.sleep(0.2)
        finally:
            log.close()

    def client(self, **options: Any) -> Any:
        from lakebed.cluster._client import ClusterClient

        addrs = ",".join(f"{h}:{p}" for h, p in zip(self.hosts, self.node_ports, strict=False))
        return ClusterClient("lakebed+cluster://" + addrs, **options)

    def stop(self) -> None:
        for i in range(len(self.procs)):
            self.kill_node(i, signal.SIGTERM) if self.procs[i] is not None else None
        for i in range(len(self.nats)):
            self.kill_nats(i, signal.SIGTERM) if self.nats[i] is not None else None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
