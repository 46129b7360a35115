"""What-if servers for ``bench/server.py --what-if``: how fast could an online-read server
in Python go on one core? Not lakebed's server; a measuring stick for it.

- ``fastpath``: a bare ASGI app (uvicorn + httptools + uvloop, no FastAPI) answering
  ``POST /v1/features/online`` with the same JSON body and response as lakebed's route,
  calling ``lake.features.online`` directly on the event loop (no pydantic, no thread hop).
- ``empty``: the same bare ASGI app returning a fixed 50-feature response without reading
  the store: the ceiling of any Python ASGI server on this core.

    python bench/_server_fastpath.py LAKE PORT fastpath|empty
"""

from __future__ import annotations

import json
import sys
from typing import Any


def make_app(lake_path: str, mode: str) -> Any:
    import lakebed

    lake = lakebed.connect(lake_path, read_only=True)
    fixed: bytes | None = None
    if mode == "empty":
        r = lake.features.online([{"user_id": 1}], [f"user_feats:f{i:02d}" for i in range(50)])
        fixed = json.dumps({"values": r.values, "statuses": r.statuses}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["method"] == "GET":  # health
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"status":"ok"}'})
            return
        chunks = []
        more = True
        while more:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        if fixed is not None:
            out = fixed
        else:
            req = json.loads(b"".join(chunks))
            r = lake.features.online(req["entity_rows"], req["features"])
            out = json.dumps({"values": r.values, "statuses": r.statuses}, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*headers, (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    return app


def main() -> None:
    import uvicorn

    lake_path, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    uvicorn.run(make_app(lake_path, mode), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="on")


if __name__ == "__main__":
    main()
