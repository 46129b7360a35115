"""Data quality over HTTP: contracts, plans, validation, results, profiles, drift, model
monitoring and reports (the routes behind :class:`lakebed.client._quality.RemoteQuality`).

Every route names the tables it touches, and a key needs the ``tables`` grant on each
(``read`` to look, ``write`` to change a contract or store a result or a profile): a key
granted ``silver.*`` sees the results of silver tables only. The contract of a stream
(``stream:clicks``) needs the ``streams`` grant on it instead. Drift sides are refs, never
code or paths: ``silver.users@3``, ``predictions:<model>@<v>`` (the table
``predictions.<model>``) or ``collection:<name>`` (the ``collections`` grant), or data the
client sends (base64 Arrow IPC in the JSON body, within the server's body limit). Model
monitoring needs the ``predictions`` grant on the model and ``read`` on its training set.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from lakebed._names import validate_name
from lakebed._wire import ipc_to_table
from lakebed.errors import InvalidArgument
from lakebed.server.routers._common import ARROW_BODY, arrow_body, fast_json, key_allows

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth
    from lakebed.server._metrics import Metrics

_IDENT = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
NAME = rf"^{_IDENT}\.{_IDENT}$"
TARGET = rf"^(?:{_IDENT}\.{_IDENT}|stream:{_IDENT})$"  # a table, or a stream's contract
REF = r"^[A-Za-z0-9_.:@-]{1,300}$"
MAX_CHECKS = 200
MAX_CONTRACTS = 1000

Ref = Annotated[str, StringConstraints(pattern=REF)]
Column = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Method = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Threshold = Annotated[float, Field(ge=0, allow_inf_nan=False)]
TargetPath = Annotated[str, Path(pattern=TARGET)]
TablePath = Annotated[str, Path(pattern=NAME)]


class ContractBody(BaseModel):
    checks: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_CHECKS)
    columns: dict[str, str] | None = Field(None, max_length=1000)
    on_violation: Literal["reject", "warn", "quarantine"] = "reject"
    description: str | None = Field(None, max_length=10_000)


class NamedContract(ContractBody):
    table: str = Field(pattern=TARGET)


class ContractsBody(BaseModel):
    contracts: list[NamedContract] = Field(max_length=MAX_CONTRACTS)
    prune: bool = False


class Data(BaseModel):
    """Data sent by the client: a base64 Arrow IPC stream (``arrow``) or JSON rows
    (``rows``), and the name the answer gives it."""

    model_config = ConfigDict(extra="forbid")
    arrow: str | None = None
    rows: list[dict[str, Any]] | None = None
    name: str = Field("data", min_length=1, max_length=300)

    def table(self) -> pa.Table:
        if (self.arrow is None) == (self.rows is None):
            raise InvalidArgument('data is {"arrow": <base64 Arrow IPC stream>} or {"rows": [{...}, ...]}')
        if self.rows is not None:
            from lakebed.tables import to_arrow

            out = to_arrow(self.rows)
            return out.read_all() if isinstance(out, pa.RecordBatchReader) else out
        try:
            raw = base64.b64decode(self.arrow or "", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument("data.arrow is not valid base64") from None
        return ipc_to_table(raw)


class _Named:
    """Data with the name the client gave it (a drift side's ref)."""

    def __init__(self, table: pa.Table, ref: str) -> None:
        self._table, self.ref = table, ref

    def to_arrow(self) -> pa.Table:
        return self._table


def _data_side(data: Data) -> Any:
    table = data.table()
    return table if data.name == "data" else _Named(table, data.name)


class DriftBody(BaseModel):
    reference: Ref | Data
    current: Ref | Data
    columns: list[Column] | None = Field(None, max_length=1000)
    method: Method | Annotated[dict[Column, Method], Field(max_length=1000)] | None = None
    threshold: Threshold | Annotated[dict[Column, Threshold], Field(max_length=1000)] | None = None
    share: float = Field(0.5, gt=0, le=1)
    start: datetime | None = None
    end: datetime | None = None


class ValidateBody(BaseModel):
    checks: list[dict[str, Any]] | None = Field(None, max_length=MAX_CHECKS)


class ValidateDataBody(BaseModel):
    data: Data
    checks: list[dict[str, Any]] = Field(max_length=MAX_CHECKS)
    samples: int = Field(5, ge=0, le=1000)


class ProfileDataBody(BaseModel):
    data: Data


class ReportBody(BaseModel):
    table: str | None = Field(None, pattern=TARGET)
    drift: dict[str, Any] | None = None
    monitor: dict[str, Any] | None = None
    profile: bool | dict[str, Any] | None = None
    results: int = Field(50, ge=1, le=10_000)
    title: str | None = Field(None, max_length=500)


def target_area(target: str) -> tuple[str, str]:
    """The grant area and name of a contract target: ``("streams", "clicks")`` for
    ``stream:clicks``, ``("tables", name)`` otherwise."""
    if target.startswith("stream:"):
        return "streams", target[len("stream:"):]
    return "tables", target


def allow(key: Any, scope: str, target: str) -> None:
    """PermissionDenied unless ``key`` may ``scope`` the table (or stream) ``target``."""
    if key is not None:
        area, name = target_area(target)
        key.allows(scope, area, name)


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


def _checks(specs: list[dict[str, Any]]) -> list[Any]:
    from lakebed.quality._checks import check_from_spec

    return [check_from_spec(s) for s in specs]


def _contract(item: NamedContract) -> Any:
    from lakebed.quality import Contract

    return Contract.from_spec(item.table, item.model_dump(exclude={"table"}))


def router(lake: Lake, auth: Auth, metrics: Metrics) -> APIRouter:
    r = APIRouter(prefix="/v1/quality", tags=["quality"])

    def quality() -> Any:
        return lake.quality

    def visible(key: Any, target: str | None) -> bool:
        if target is None:
            return True
        return key_allows(key, "read", *target_area(target))

    def need_target(scope: str) -> Any:
        """The request's key, with ``scope`` and a grant on the path's table (or stream)."""

        async def dependency(request: Request) -> Any:
            if not auth.required:
                return None
            area, name = target_area(str(request.path_params.get("name", "")))
            h = request.headers
            return auth.check(auth.secret(h.get("authorization"), h.get("x-api-key")), scope, area, name,
                              request.scope.get("client"), request.method, request.url.path)

        return Depends(dependency)

    # -- contracts --------------------------------------------------------------------------
    @r.get("/contracts", summary="Contracts in force (of the tables the key may read)")
    def contracts(key: Any = auth.need("read")) -> Response:
        return fast_json([c.to_dict() for c in quality().contracts() if visible(key, c.table)])

    @r.get("/contracts/{name}", summary="The contract of a table (or a version of it)",
           dependencies=[need_target("read")])
    def get_contract(name: TargetPath, version: int | None = Query(None, ge=1, lt=2**31)) -> Response:
        return fast_json(quality().get_contract(name, version).to_dict())

    @r.get("/contracts/{name}/history", summary="Every version of the contract of a table, newest first",
           dependencies=[need_target("read")])
    def contract_history(name: TargetPath) -> Response:
        return fast_json([{**h, "created_at": h["created_at"].isoformat()}
                          for h in quality().contract_history(name)])

    @r.put("/contracts/{name}", summary="Define or change the contract of a table",
           dependencies=[need_target("write")])
    def put_contract(name: TargetPath, body: ContractBody) -> Response:
        c = quality().contract(name, checks=_checks(body.checks), columns=body.columns,
                               on_violation=body.on_violation, description=body.description)
        return fast_json(c.to_dict())

    @r.delete("/contracts/{name}", summary="Stop enforcing the contract of a table",
              dependencies=[need_target("write")])
    def drop_contract(name: TargetPath) -> dict[str, str]:
        quality().drop_contract(name)
        return {"dropped": name}

    @r.post("/plan", summary="What applying contracts would change (nothing is stored)")
    def plan(body: ContractsBody, key: Any = auth.need("read")) -> Response:
        for item in body.contracts:  # before the plan reads anything of the table
            allow(key, "read", item.table)
        p = quality().plan([_contract(c) for c in body.contracts], prune=body.prune)
        for ch in p.changes:  # prune names every contracted table
            allow(key, "read", ch.table)
        return fast_json(p.to_dict())

    @r.post("/apply", summary="Store the contracts that changed (each as a new version)")
    def apply(body: ContractsBody, key: Any = auth.need("write")) -> Response:
        for item in body.contracts:
            allow(key, "write", item.table)
        wanted = [_contract(c) for c in body.contracts]
        if key is not None and body.prune:  # dropping a contract is a write on its table
            for ch in quality().plan(wanted, prune=True).changes:
                allow(key, "write", ch.table)
        return fast_json(quality().apply(wanted, prune=body.prune).to_dict())

    # -- validation -------------------------------------------------------------------------
    @r.post("/validate/{name}", summary="Run a table's contract (or checks) over a stored version")
    def validate(
        name: TargetPath, body: ValidateBody | None = None, version: int | None = Query(None, ge=0, lt=2**31),
        samples: int = Query(5, ge=0, le=1000), store: bool | None = None, key: Any = need_target("read"),
    ) -> Response:
        if store is not False:  # the result is stored: a write on the table
            allow(key, "write", name)
        checks = None if body is None or body.checks is None else _checks(body.checks)
        res = quality().validate(name, version=version, checks=checks, samples=samples, store=store)
        return fast_json(res.to_dict())

    @r.post("/validate", summary="Run checks over data sent in the body (nothing is stored)")
    def validate_data(body: ValidateDataBody, key: Any = auth.need("read")) -> Response:
        res = quality().validate(body.data.table(), checks=_checks(body.checks), samples=body.samples)
        return fast_json(res.to_dict())

    @r.get("/results", summary="Stored validation results, newest first")
    def results(
        table: str | None = Query(None, pattern=TARGET), passed: bool | None = None,
        action: Literal["validate", "accept", "reject", "quarantine", "warn"] | None = None,
        since: datetime | None = None, limit: int = Query(100, ge=1, le=10_000), key: Any = auth.need("read"),
    ) -> Response:
        if table is not None:
            allow(key, "read", table)
        rows = quality().results(table, passed=passed, action=action, since=since, limit=limit)
        return fast_json([x.to_dict() for x in rows if visible(key, x.table)])

    @r.get("/results/{result_id}", summary="One stored result")
    def result(result_id: int = Path(ge=1, lt=2**63), key: Any = auth.need("read")) -> Response:
        res = quality().result(result_id)
        if res.table is not None:
            allow(key, "read", res.table)
        return fast_json(res.to_dict())

    # -- profiles ---------------------------------------------------------------------------
    @r.post("/profile/{name}", summary="Profile a table version (stored with it unless store=false)")
    def profile(name: TablePath, version: int | None = Query(None, ge=0, lt=2**31), store: bool | None = None,
                key: Any = need_target("read")) -> Response:
        if store is not False:
            allow(key, "write", name)
        return fast_json(quality().profile(name, version=version, store=store).to_dict())

    @r.post("/profile", summary="Profile data sent in the body (nothing is stored)")
    def profile_data(body: ProfileDataBody, key: Any = auth.need("read")) -> Response:
        return fast_json(quality().profile(_data_side(body.data)).to_dict())

    @r.get("/profiles/{name}", summary="Stored profiles of a table, newest first",
           dependencies=[need_target("read")])
    def profiles(name: TablePath, limit: int = Query(20, ge=1, le=1000)) -> Response:
        return fast_json([p.to_dict() for p in quality().profiles(name, limit=limit)])

    # -- drift and monitoring ---------------------------------------------------------------
    @r.post("/drift", summary="Drift between two refs (tables, prediction logs, collections) or data")
    def drift(body: DriftBody, key: Any = auth.need("read")) -> Response:
        sides = []
        for side in (body.reference, body.current):
            if isinstance(side, str):
                _side_grant(key, side)
                sides.append(side)
            else:
                sides.append(_data_side(side))
        rep = quality().drift(sides[0], sides[1], body.columns, method=body.method, threshold=body.threshold,
                              share=body.share, start=body.start, end=body.end)
        return fast_json(rep.to_dict())

    @r.post("/monitor/{name}", summary="Monitor a model version: input drift and (with labels) performance",
            openapi_extra={**ARROW_BODY, "requestBody": {**ARROW_BODY["requestBody"], "required": False}})
    async def monitor(
        name: str, request: Request, version: str | None = Query(None, max_length=200),
        start: datetime | None = None, end: datetime | None = None,
        columns: list[str] | None = Query(None, max_length=1000), labels_table: str | None = Query(None, pattern=NAME),
        on: str = Query("request_id", min_length=1, max_length=200), label: str | None = Query(None, max_length=200),
        freq: str = Query("1d", min_length=1, max_length=20), key: Any = auth.need("read", "predictions", "name"),
    ) -> Response:
        validate_name("model", name)
        labels: Any = None
        if await request.body():
            if labels_table is not None:
                raise InvalidArgument("give the labels as a table name (labels_table=) or in the body, not both")
            labels = await arrow_body(request)
        elif labels_table is not None:
            allow(key, "read", labels_table)
            labels = labels_table
        ref = name if version is None else f"{name}@{version}"

        def work() -> Any:
            if key is not None:  # the training set is a table the key must be allowed to read
                log = lake.predictions(ref)
                v = log.version if log.version is not None else lake.models.resolve(name, "latest")[1]
                table, _ = lake.lineage.training_set_of(f"model:{name}@{v}")
                allow(key, "read", table)
            return quality().monitor(ref, start=start, end=end, columns=columns, labels=labels, on=on,
                                     label=label, freq=freq)

        return fast_json((await run_in_threadpool(work)).to_dict())

    # -- reports ----------------------------------------------------------------------------
    @r.post("/report", summary="A report (JSON) of a table's results, a drift or monitor report, a profile")
    def report_json(body: ReportBody, key: Any = auth.need("read")) -> Response:
        from lakebed.quality import DriftReport, MonitorReport, Profile

        if body.drift is not None and body.monitor is not None:
            raise InvalidArgument("give drift= or monitor=, not both")
        if body.table is not None:
            allow(key, "write" if body.profile is True else "read", body.table)  # profile=True stores one
        drift: Any = None
        if body.monitor is not None:
            drift = MonitorReport.from_dict(body.monitor)
        elif body.drift is not None:
            drift = DriftReport.from_dict(body.drift)
        profile: Any = Profile.from_dict(body.profile) if isinstance(body.profile, dict) else body.profile
        rep = quality().report(table=body.table, drift=drift, profile=profile, results=body.results,
                               title=body.title)
        return fast_json(rep.to_dict())

    @r.get("/report", summary="A report (HTML with plots, or JSON) of a table's results and/or a drift",
           response_class=Response)
    def report(
        table: str | None = Query(None, pattern=NAME), reference: str | None = Query(None, pattern=REF),
        current: str | None = Query(None, pattern=REF), results: int = Query(50, ge=1, le=1000),
        format: Literal["html", "json"] = "html", key: Any = auth.need("read"),
    ) -> Response:
        rep = build_report(lake, key, table, reference, current, results)
        if format == "json":
            return fast_json(rep.to_dict())
        return HTMLResponse(rep.html, headers={"Content-Security-Policy": "default-src 'none'; "
                                               "style-src 'unsafe-inline'; img-src data:"})

    return r
