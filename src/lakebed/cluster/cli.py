"""``lakebed cluster status``: nodes, shards, replicas, applied sequences and lag."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="A lakebed cluster on NATS JetStream: status of nodes and shards.", no_args_is_help=True)
console = Console()


@app.command("status")
def status(
    nodes: Annotated[str, typer.Argument(help="Node addresses: host:port,host:port (any live one answers).")],
    api_key: Annotated[str | None, typer.Option(envvar="LAKEBED_API_KEY", help="A key with read scope.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show the cluster's nodes, and per shard its JetStream leader, last sequence and the
    applied sequence and lag of each replica."""
    from lakebed.cluster._client import ClusterClient

    with ClusterClient(nodes, api_key=api_key) as client:
        st = client.status()
    if as_json:
        typer.echo(json.dumps(st, indent=2))
        return
    t = Table(title=f"cluster {escape(st['cluster'])} (answered by {escape(st['answered_by'])})",
              header_style="bold cyan")
    for c in ("node", "url", "heartbeat age", "apply errors"):
        t.add_column(c)
    import time

    for nid, n in st["nodes"].items():
        t.add_row(escape(nid), escape(n["url"]), f"{time.time() - n['heartbeat']:.1f} s", str(n["apply_errors"]))
    console.print(t)
    for name, col in st["collections"].items():
        t = Table(title=f"{escape(name)}: {col['shards']} shards x {col['replicas']} replicas, dim {col['dim']}",
                  header_style="bold cyan")
        for c in ("shard", "leader", "last seq", "replica", "alive", "applied", "lag"):
            t.add_column(c)
        for sh in col["shard_status"]:
            for j, r in enumerate(sh["replicas"]):
                lag = r["lag"]
                style = "green" if lag == 0 else ("yellow" if lag is not None and lag < 1000 else "red")
                t.add_row(str(sh["shard"]) if j == 0 else "", escape(str(sh["leader"])) if j == 0 else "",
                          str(sh["last_seq"]) if j == 0 else "", escape(r["node"]),
                          "yes" if r["alive"] else "[red]no[/]", str(r["applied"]),
                          f"[{style}]{lag}[/]")
        console.print(t)


@app.command("local")
def local(
    path: Annotated[str, typer.Argument(help="A directory for the servers' and nodes' data.")] = "./cluster",
    nodes: Annotated[int, typer.Option(help="lakebed nodes (and as many NATS servers).", min=1, max=9)] = 3,
    port: Annotated[int, typer.Option(help="The first node's port; the others follow.")] = 8771,
) -> None:
    """Run a whole cluster on this machine until Ctrl-C: NODES nats-server processes with
    clustered JetStream and NODES lakebed nodes on 127.0.0.1 (for trying a cluster and for
    tests; production runs one node per machine with `lakebed serve --cluster`)."""
    import time

    from lakebed.cluster._local import LocalCluster

    lc = LocalCluster(path, servers=nodes, nodes=nodes, node_ports=[port + i for i in range(nodes)])
    with console.status("starting NATS servers and lakebed nodes..."):
        lc.start()
    try:
        addrs = ",".join(f"127.0.0.1:{p}" for p in lc.node_ports)
        console.print(f"cluster up: NATS {lc.nats_urls}\n"
                      f'connect with lakebed.connect("lakebed+cluster://{addrs}"); Ctrl-C stops it')
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        lc.stop()
