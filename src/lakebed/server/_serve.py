from __future__ import annotations

import ipaddress
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakebed.errors import InvalidArgument, require
from lakebed.lake import open_local
from lakebed.server import _keys
from lakebed.server._app import DEFAULT_MAX_BODY, create_app, is_loopback

if TYPE_CHECKING:  # _workers is imported when needed: it is also the read workers' __main__
    from lakebed.lake import Lake
    from lakebed.server._workers import ChangeLog


def settle_heap() -> None:
    """Move the objects alive at start-up (modules, the app, the open lake: ~140k of
    them) out of the cyclic garbage collector's reach. A full collection walks every
    tracked object; left alone it stalled the event loop ~70 ms now and then, every
    request in flight with it (online reads at 100 concurrent: p99 209 ms, 24 ms frozen).
    """
    import gc

    gc.collect()
    gc.freeze()


def serve(
    path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    workers: int = 1,
    threads: int = 8,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    log_level: str = "warning",
    loop: str = "asyncio",
    public_metrics: bool = False,
    sql_timeout: float = 10.0,
    sql_max_rows: int = 100_000,
    stream_processors: bool = False,
    on_ready: Callable[[], None] | None = None,
    cluster: str | None = None,
    node_id: str | None = None,
    cluster_name: str = "lakebed",
    advertise: str | None = None,
) -> None:
    """Serve the lake at ``path`` until interrupted.

    ``on_ready`` is called once the lake is open and the bind address is allowed, just
    before the server starts listening (the CLI prints its banner there).

    The server process is the lake's single writer; ``threads`` is the number of threads
    serving requests inside it. ``workers`` > 1 adds read worker processes on the same
    socket: they answer online feature reads and vector searches from a read-only open of
    the lake and forward everything else to the writer (see ``lakebed.server._workers``).
    A lake that never had an API key is served to anyone, so it is bound to loopback
    only (:func:`check_bind`): create a key first (``lakebed keys create``). Once the lake
    had a key, every request needs one, even when all are revoked. ``/metrics`` needs a
    key with the ``metrics`` scope (or ``read``) unless ``public_metrics``. ``loop`` is
    uvicorn's event loop: ``asyncio`` by default (with uvloop, searches at 100 concurrent
    saw 1-2 s outliers in 3 runs of 4, asyncio none); ``uvloop`` serves ~15% more online
    reads per core, for a server that answers few searches. ``POST /v1/sql`` stops a query
    after ``sql_timeout`` seconds and refuses answers over ``sql_max_rows`` rows.
    ``stream_processors``: the writer also runs the stream processor of every stream
    feature view, in a thread started once the app is ready and stopped (the offline tail
    landed) on shutdown (see ``lakebed.server._streams``).
    ``cluster``: the NATS servers (``nats://h1:4222,nats://h2:4222,...``) of a lakebed
    cluster this server joins as node ``node_id`` (see docs/cluster.md); it adds the
    ``/v1/cluster`` routes and is reached by the others at ``advertise`` (by default
    ``http://host:port``).

    Example:
        >>> from lakebed.server import serve
        >>> serve("./lake", port=8765, workers=2)  # doctest: +SKIP
    """
    uvicorn = require("uvicorn", "server")

    if workers < 1:
        raise InvalidArgument(f"workers must be >= 1, got {workers}")
    if threads < 1:
        raise InvalidArgument(f"threads must be >= 1, got {threads}")
    if loop not in ("asyncio", "uvloop", "auto"):
        raise InvalidArgument(f"loop must be asyncio, uvloop or auto, got {loop!r}")
    lake = open_local(path, create=False)
    changes: ChangeLog | None = None
    pool: Any = None
    runner: Any = None
    node: Any = None
    if cluster is not None:
        if not node_id:
            lake.close()
            raise InvalidArgument("--cluster needs --node-id (a name unique in the cluster, e.g. n1)")
        if workers != 1:
            lake.close()
            raise InvalidArgument("a cluster node serves with --workers 1")
    try:
        check_bind(lake, host)
        if on_ready is not None:
            on_ready()
        if workers > 1:
            from lakebed.server._workers import ChangeLog

            if not hasattr(socket, "AF_UNIX") or not hasattr(socket, "SO_REUSEPORT"):
                raise InvalidArgument("--workers > 1 needs a POSIX system (Unix sockets); use --workers 1")
            # a Unix socket path has ~100 bytes at most: a long TMPDIR falls back to /tmp
            base = None if len(tempfile.gettempdir()) < 60 else "/tmp"
            changes = ChangeLog(Path(tempfile.mkdtemp(prefix="lakebed-serve-", dir=base)), create=True)
        app = create_app(lake, max_body_bytes=max_body_bytes, changes=changes, public_metrics=public_metrics)
        app.state.sql_timeout, app.state.sql_max_rows = sql_timeout, sql_max_rows
        import anyio.to_thread

        async def _startup() -> None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads
            settle_heap()

        app.router.on_startup.append(_startup)
        if cluster is not None:
            from lakebed.cluster._node import Node
            from lakebed.cluster._routes import router as cluster_router

            node = Node(lake, cluster, str(node_id), advertise or f"http://{host}:{port}", cluster=cluster_name)
            app.state.cluster_node = node
            app.include_router(cluster_router(node, app.state.auth))
            from lakebed.cluster._metrics import attach_metrics

            attach_metrics(node, app.state.metrics)
            app.router.on_startup.append(node.start)
        if stream_processors:
            from lakebed.server._streams import attach_stream_runner

            runner = attach_stream_runner(app, lake)
        if changes is None:
            uvicorn.run(app, host=host, port=port, log_level=log_level, loop=loop)  # type: ignore[attr-defined]
            return
        from lakebed.server._workers import WorkerPool

        public = listen(host, port, first=True)
        primary = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        primary.bind(str(changes.dir / "primary.sock"))
        primary.listen(1024)
        bound = public.getsockname()[1]  # the port itself when asked for port 0
        pool = WorkerPool(lake.path, host, bound, changes.dir, workers - 1, max_body_bytes, log_level, loop)
        config = uvicorn.Config(app, log_level=log_level, loop=loop)  # type: ignore[attr-defined]
        uvicorn.Server(config).run(sockets=[public, primary])  # type: ignore[attr-defined]
    finally:
        if node is not None:
            node.close()
        if runner is not None:
            runner.stop()
        if pool is not None:
            pool.stop()
        lake.close()
        if changes is not None:
            changes.close()
            shutil.rmtree(changes.dir, ignore_errors=True)


def check_bind(lake: Lake, host: str) -> None:
    """Refuse to serve a lake that never had an API key (and so answers anyone) on
    anything but loopback: the empty host, wildcards, other addresses and names with a
    non-loopback address (or none) are refused. A lake that had a key is closed for good
    (:func:`lakebed.server.keys.auth_required`) and may bind anywhere.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     check_bind(lake, "127.0.0.1")
        ...     check_bind(lake, "0.0.0.0")
        Traceback (most recent call last):
        ...
        lakebed.errors.InvalidArgument: refusing to serve on '0.0.0.0' without API keys...
    """
    if is_loopback(host) or _keys.auth_required(lake):
        return
    raise InvalidArgument(
        f"refusing to serve on {host!r} without API keys: this lake has none, so the server would answer "
        "anyone who reaches it. Create one with `lakebed keys create --lake PATH --name NAME --scope admin` "
        "and serve again, or bind to 127.0.0.1"
    )


def listen(host: str, port: int, *, first: bool = False) -> socket.socket:
    """A listening socket on ``host:port`` that other processes of this user can listen
    on too (SO_REUSEPORT): every server process has its own, the kernel balances.
    ``first``: the port must be free (so another server of the same user cannot be joined
    by mistake)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host.strip("[]")).version == 6 else socket.AF_INET
    except ValueError:  # a host name
        family = socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP (with proto 0, Nagle + delayed ACKs held answers ~40 ms)
    if first and port:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host.strip("[]"), port))
            except OSError as exc:
                raise InvalidArgument(
                    f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port") from None
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    return sock
