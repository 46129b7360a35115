"""API key administration (admin scope)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lakebed.server import _keys

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics


class CreateKey(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default_factory=lambda: ["read"])
    grants: list[str] | None = None


def _public(key: _keys.ApiKey) -> dict[str, Any]:
    return {"key_id": key.key_id, "name": key.name, "scopes": list(key.scopes), "grants": list(key.grants),
            "created_at": key.created_at, "revoked_at": key.revoked_at}


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1/keys", tags=["keys"])

    @r.get("", summary="List active keys", dependencies=[auth.need("admin")])
    def list_keys() -> list[dict[str, Any]]:
        return [_public(k) for k in _keys.list_keys(lake)]

    @r.post("", summary="Create a key (the secret is returned once)", dependencies=[auth.need("admin")])
    def create(body: CreateKey) -> dict[str, Any]:
        key = _keys.create(lake, body.name, body.scopes, body.grants)
        auth.refresh()
        return _public(key) | {"secret": key.secret}

    @r.delete("/{key_id}", summary="Revoke a key", dependencies=[auth.need("admin")])
    def revoke(key_id: str) -> dict[str, str]:
        _keys.revoke(lake, key_id)
        auth.refresh()
        return {"revoked": key_id}

    return r
