"""The ceiling for ``bench/server.py --cores``: how fast can any Python server answer over
uvicorn on this machine? A bare ASGI app (uvicorn + httptools + uvloop, no FastAPI, no
pydantic) that answers ``POST /v1/features/online`` with a fixed 50-feature response,
read once from the lake at start-up: no store read, no JSON work per request. Not
lakebed's server; a measuring stick for it. ``PROCESSES`` > 1 forks that many processes
accepting on one socket, as ``lakebed serve --workers`` does.

    python bench/_server_fastpath.py LAKE PORT PROCESSES
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any


def make_app(lake_path: str) -> Any:
    import lakebed

    with lakebed.connect(lake_path, read_only=True) as lake:
        r = lake.features.online([{"user_id": 1}], [f"user_feats:f{i:02d}" for i in range(50)])
    fixed = json.dumps({"values": r.values, "statuses": r.statuses}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":  # health
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"status":"ok"}'})
            return
        more = True
        while more:
            msg = await receive()
            more = msg.get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*headers, (b"content-length", str(len(fixed)).encode())]})
        await send({"type": "http.response.body", "body": fixed})

    return app


def main() -> None:
    import uvicorn

    lake_path, port, processes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    for _ in range(processes - 1):
        if os.fork() == 0:
            break
    config = uvicorn.Config(make_app(lake_path), log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
