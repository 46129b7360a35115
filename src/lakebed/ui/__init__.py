"""The web UI: pages for tables, collections, features, runs, models, lineage and quality,
served by ``lakebed serve`` at ``/ui`` (and by ``lakebed ui PATH`` for an embedded lake).

The front end is built from ``ui/`` in the repository (Vite, Preact, ECharts) into
``lakebed/ui/static``, which ships in the package: serving it needs no Node.js. The page
files are public (they hold no data); every piece of data comes from ``/ui/api`` with the
same API keys, scopes and grants as ``/v1``. Pages are sent with a Content-Security-Policy
that allows only the lake's own origin (no inline script, no fetch elsewhere).

Example:
    >>> import lakebed
    >>> from fastapi.testclient import TestClient
    >>> from lakebed.server import create_app
    >>> with lakebed.connect(":memory:") as lake:
    ...     client = TestClient(create_app(lake))
    ...     client.get("/ui/api/overview").json()["tables"]
    0
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY"}
MISSING = """<!doctype html><meta charset="utf-8"><title>lakebed</title>
<p>The lakebed web UI is not built in this installation: run <code>./scripts/build-ui</code> in the
repository (or install a released package, which ships it).</p>"""


def source_hash(repo: Path) -> str:
    """The SHA-256 of the front end's sources under ``repo/ui`` (package.json, its lock file,
    vite.config.js, index.html and everything under src/), as the build records it in
    ``build-info.json``: for each file in order of its POSIX path from the repository root,
    the path, a NUL, the bytes, a NUL."""
    ui = repo / "ui"
    files = [ui / n for n in ("package.json", "package-lock.json", "vite.config.js", "index.html")]
    files += [p for p in (ui / "src").rglob("*") if p.is_file()]
    h = hashlib.sha256()
    for rel in sorted(p.relative_to(repo).as_posix() for p in files):
        h.update(rel.encode() + b"\0" + (repo / rel).read_bytes() + b"\0")
    return h.hexdigest()


def build_info() -> dict[str, str] | None:
    """What the shipped build records about its sources, or None when there is no build."""
    try:
        return json.loads((STATIC / "build-info.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def mount(app: FastAPI, lake: Lake, auth: Auth) -> None:
    """Add ``/ui`` (pages, assets) and ``/ui/api`` (their data) to ``app``."""
    from lakebed.ui._api import router

    app.include_router(router(lake, auth))
    assets = (STATIC / "assets").resolve()

    def index() -> Response:
        page = STATIC / "index.html"
        if not page.is_file():
            return HTMLResponse(MISSING, status_code=503, headers=HEADERS)
        return HTMLResponse(page.read_bytes(), headers={**HEADERS, "Cache-Control": "no-cache"})

    @app.get("/ui", include_in_schema=False)
    def ui_root() -> Response:
        return index()

    @app.get("/ui/assets/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        target = (assets / name).resolve()
        if target.parent != assets or not target.is_file():  # no traversal, no folders
            return Response(status_code=404)
        return FileResponse(target, headers={**HEADERS, "Cache-Control": "public, max-age=31536000, immutable"})

    @app.get("/ui/{path:path}", include_in_schema=False)
    def ui_page(path: str, request: Request) -> Response:
        if path.startswith("api/") or path == "api":
            return Response(b'{"error":{"type":"NotFound","message":"no such UI API route"}}', status_code=404,
                            media_type="application/json")
        return index()
