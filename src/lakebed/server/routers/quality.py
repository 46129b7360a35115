"""Data quality over HTTP: contracts, validation, results, profiles, drift and reports.

Every route names the tables it touches, and a key needs the ``tables`` grant on each
(``read`` to look, ``write`` to change a contract or store a result): a key granted
``silver.*`` sees the results of silver tables only. Drift sides are refs, never code or
paths: ``silver.users@3``, ``predictions:<model>@<v>`` (the table ``predictions.<model>``)
or ``collection:<name>`` (the ``collections`` grant).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from lakebed.errors import InvalidArgument
from lakebed.server.routers._common import key_allows

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics

NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}\.[A-Za-z_][A-Za-z0-9_]{0,127}$"
REF = r"^[A-Za-z0-9_.:@-]{1,300}$"


class ContractBody(BaseModel):
    checks: list[dict[str, Any]] = Field(default_factory=list, max_length=200)
    columns: dict[str, str] | None = Field(None, max_length=1000)
    on_violation: Literal["reject", "warn", "quarantine"] = "reject"
    description: str | None = Field(None, max_length=10_000)


class DriftBody(BaseModel):
    reference: str = Field(pattern=REF)
    current: str = Field(pattern=REF)
    columns: list[str] | None = Field(None, max_length=1000)
    method: str | None = Field(None, max_length=40)
    threshold: float | None = Field(None, ge=0, allow_inf_nan=False)
    share: float = Field(0.5, gt=0, le=1)


def _side_grant(key: Any, side: str) -> None:
    """A drift side's data must be readable by ``key``."""
    if key is None:
        return
    if side.startswith("collection:"):
        key.allows("read", "collections", side.split(":", 1)[1])
        return
    if side.startswith("predictions:"):
        model = side.split(":", 1)[1].split("@", 1)[0]
        key.allows("read", "tables", f"predictions.{model}")
        return
    name = side[len("table:"):] if side.startswith("table:") else side
    key.allows("read", "tables", name.split("@", 1)[0])


def build_report(lake: Lake, key: Any, table: str | None, reference: str | None, current: str | None,
                 results: int) -> Any:
    """The report of ``table``'s results and/or the drift from ``reference`` to ``current``,
    each side checked against ``key``'s grants (also the web UI's)."""
    if (reference is None) != (current is None):
        raise InvalidArgument("give both reference= and current=, or neither")
    if table is not None and key is not None:
        key.allows("read", "tables", table)
    drift = None
    if reference is not None and current is not None:
        _side_grant(key, reference)
        _side_grant(key, current)
        drift = lake.quality.drift(reference, current)
    return lake.quality.report(table=table, drift=drift, results=results)


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1/quality", tags=["quality"])

    def quality() -> Any:
        return lake.quality

    def visible(key: Any, table: str | None) -> bool:
        return table is None or key_allows(key, "read", "tables", table)

    @r.get("/contracts", summary="Contracts in force (of the tables the key may read)")
    def contracts(key: Any = auth.need("read")) -> list[dict[str, Any]]:
        return [{"table": c.table, "version": c.version, **c.to_spec()} for c in quality().contracts()
                if visible(key, c.table)]

    @r.get("/contracts/{name}", summary="The contract of a table (or a version of it)",
           dependencies=[auth.need("read", "tables", "name")])
    def get_contract(name: str, version: int | None = Query(None, ge=1, lt=2**31)) -> dict[str, Any]:
        c = quality().get_contract(name, version)
        return {"table": c.table, "version": c.version, **c.to_spec()}

    @r.put("/contracts/{name}", summary="Define or change the contract of a table",
           dependencies=[auth.need("write", "tables", "name")])
    def put_contract(name: str, body: ContractBody) -> dict[str, Any]:
        from lakebed.quality._checks import check_from_spec

        checks = [check_from_spec(s) for s in body.checks]
        c = quality().contract(name, checks=checks, columns=body.columns, on_violation=body.on_violation,
                               description=body.description)
        return {"table": c.table, "version": c.version, **c.to_spec()}

    @r.delete("/contracts/{name}", summary="Stop enforcing the contract of a table",
              dependencies=[auth.need("write", "tables", "name")])
    def drop_contract(name: str) -> dict[str, str]:
        quality().drop_contract(name)
        return {"dropped": name}

    @r.post("/validate/{name}", summary="Run a table's contract over a stored version (stored result)",
            dependencies=[auth.need("write", "tables", "name")])
    def validate(name: str, version: int | None = Query(None, ge=0, lt=2**31)) -> dict[str, Any]:
        return quality().validate(name, version=version).to_dict()  # type: ignore[no-any-return]

    @r.get("/results", summary="Stored validation results, newest first")
    def results(
        table: str | None = Query(None, pattern=NAME), passed: bool | None = None,
        action: Literal["validate", "accept", "reject", "quarantine", "warn"] | None = None,
        limit: int = Query(100, ge=1, le=10_000), key: Any = auth.need("read"),
    ) -> list[dict[str, Any]]:
        if table is not None and key is not None:
            key.allows("read", "tables", table)
        rows = quality().results(table, passed=passed, action=action, limit=limit)
        return [x.to_dict() for x in rows if visible(key, x.table)]

    @r.get("/results/{result_id}", summary="One stored result")
    def result(result_id: int = Path(ge=1, lt=2**63), key: Any = auth.need("read")) -> dict[str, Any]:
        res = quality().result(result_id)
        if key is not None and res.table is not None:
            key.allows("read", "tables", res.table)
        return res.to_dict()  # type: ignore[no-any-return]

    @r.post("/profile/{name}", summary="Profile a table version (stored with it)",
            dependencies=[auth.need("write", "tables", "name")])
    def profile(name: str, version: int | None = Query(None, ge=0, lt=2**31)) -> dict[str, Any]:
        return quality().profile(name, version=version).to_dict()  # type: ignore[no-any-return]

    @r.get("/profiles/{name}", summary="Stored profiles of a table, newest first",
           dependencies=[auth.need("read", "tables", "name")])
    def profiles(name: str, limit: int = Query(20, ge=1, le=1000)) -> list[dict[str, Any]]:
        return [p.to_dict() for p in quality().profiles(name, limit=limit)]

    @r.post("/drift", summary="Drift between two refs (tables, prediction logs, collections)")
    def drift(body: DriftBody, key: Any = auth.need("read")) -> dict[str, Any]:
        for side in (body.reference, body.current):
            _side_grant(key, side)
        rep = quality().drift(body.reference, body.current, body.columns, method=body.method,
                              threshold=body.threshold, share=body.share)
        return rep.to_dict()  # type: ignore[no-any-return]

    @r.get("/report", summary="A report (HTML with plots, or JSON) of a table's results and/or a drift",
           response_class=Response)
    def report(
        table: str | None = Query(None, pattern=NAME), reference: str | None = Query(None, pattern=REF),
        current: str | None = Query(None, pattern=REF), results: int = Query(50, ge=1, le=1000),
        format: Literal["html", "json"] = "html", key: Any = auth.need("read"),
    ) -> Response:
        rep = build_report(lake, key, table, reference, current, results)
        if format == "json":
            import json

            return Response(json.dumps(rep.to_dict(), default=str), media_type="application/json")
        return HTMLResponse(rep.html, headers={"Content-Security-Policy": "default-src 'none'; "
                                               "style-src 'unsafe-inline'; img-src data:"})

    return r
