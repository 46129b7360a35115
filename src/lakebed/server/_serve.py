from __future__ import annotations

from pathlib import Path

from lakebed.errors import InvalidArgument, require
from lakebed.server import _keys
from lakebed.server._app import DEFAULT_MAX_BODY, create_app, is_loopback


def serve(
    path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    workers: int = 8,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    log_level: str = "warning",
) -> None:
    """Serve the lake at ``path`` until interrupted.

    The server process is the lake's single writer; ``workers`` is the number of threads
    serving requests inside it. Without an API key in the catalog the server answers
    anyone, so it refuses to bind to anything but loopback: create a key first
    (``lakebed keys create``).
    """
    uvicorn = require("uvicorn", "server")
    import lakebed

    lake = lakebed.connect(path, create=False)
    try:
        if not is_loopback(host) and not _keys.any_active(lake):
            raise InvalidArgument(
                f"refusing to serve on {host} without API keys; create one with "
                "`lakebed keys create --lake PATH --name NAME --scope admin`, or bind to 127.0.0.1"
            )
        if workers < 1:
            raise InvalidArgument(f"workers must be >= 1, got {workers}")
        app = create_app(lake, max_body_bytes=max_body_bytes)
        import anyio.to_thread

        async def _limit() -> None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = workers

        app.router.on_startup.append(_limit)
        uvicorn.run(app, host=host, port=port, log_level=log_level)  # type: ignore[attr-defined]
    finally:
        lake.close()
