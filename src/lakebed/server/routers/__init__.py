"""One router per area; each module offers ``router(lake, auth, metrics) -> APIRouter``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics

AREAS = ["tables", "keys", "collections", "features", "tracking", "quality", "rag"]


def include_all(app: FastAPI, lake: Lake, auth: Auth, metrics: Metrics) -> None:
    for area in AREAS:
        name = f"lakebed.server.routers.{area}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # the area has no router (yet)
                continue
            raise
        app.include_router(module.router(lake, auth, metrics))
