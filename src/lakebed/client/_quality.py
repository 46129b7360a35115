"""``lake.quality`` of a served lake: the methods of :class:`lakebed.api.QualityAPI` over
HTTP. Contracts travel as their specs, data in memory as Arrow IPC (base64 inside the JSON
body), answers as the JSON of the same classes the embedded area returns, rebuilt here
with their ``from_dict``. Checks, profiles and drift statistics run on the server: this
module needs neither polars nor scipy.

Example:
    >>> import lakebed
    >>> from lakebed.quality import not_null
    >>> lake = lakebed.connect("http://127.0.0.1:8765", api_key="lb_...")         # doctest: +SKIP
    >>> lake.quality.contract("silver.users", checks=[not_null("id")]).version     # doctest: +SKIP
    1
    >>> lake.quality.validate("silver.users").passed                               # doctest: +SKIP
    True
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from lakebed._wire import table_to_ipc
from lakebed.api._quality import QualityAPI
from lakebed.api._tracking import PredictionLogAPI
from lakebed.client._http import Http
from lakebed.errors import InvalidArgument
from lakebed.quality import Report
from lakebed.quality._checks import Check
from lakebed.quality._contracts import (
    Contract,
    ContractPlan,
    OnViolation,
    ValidationResult,
    _datetime,
    _split_version,
)
from lakebed.quality._drift import DriftReport, MonitorReport
from lakebed.quality._profile import Profile

_BASE = "/v1/quality"
MAX_RESULTS = 10_000  # results per call (the server's limit)


def _seg(value: str) -> str:
    """``value`` as one path segment: a name with a slash or ``..`` cannot reach another route."""
    seg = quote(str(value), safe="@:")
    return seg.replace(".", "%2E") if seg in (".", "..") else seg


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise InvalidArgument(f"start/end/since are datetimes, got {value!r}")
    return value.isoformat()


def _table_of(data: Any) -> pa.Table:
    """Data of any kind lakebed accepts (Arrow, pandas, polars, rows, columns) as a table,
    as the embedded area reads it."""
    from lakebed.tables import to_arrow

    if type(data).__module__.split(".")[0] == "polars" and callable(getattr(data, "collect", None)):
        data = data.collect()  # a LazyFrame
    convert = getattr(data, "to_arrow", None)
    if callable(convert) and not isinstance(data, pa.Table):
        data = convert()
    table = to_arrow(data)
    return table.read_all() if isinstance(table, pa.RecordBatchReader) else table


def _arrow(table: pa.Table) -> str:
    return base64.b64encode(table_to_ipc(table)).decode("ascii")


def _data(data: Any, name: str) -> dict[str, Any]:
    """The wire form of data in memory: ``{"arrow": <base64 Arrow IPC stream>, "name": name}``."""
    return {"arrow": _arrow(_table_of(data)), "name": name}


def _side(side: Any) -> str | dict[str, Any]:
    """A drift side: a ref the server resolves (tables, prediction logs, collections), or
    the data itself, named as the embedded area names it."""
    if isinstance(side, str):
        return side
    if isinstance(side, PredictionLogAPI):
        name, version = getattr(side, "name", None), getattr(side, "version", None)
        return f"predictions:{name}" if version is None else f"predictions:{name}@{version}"
    if isinstance(side, tuple) and len(side) == 2 and isinstance(side[0], str):
        return f"{side[0]}@{int(side[1])}"
    convert = getattr(side, "to_arrow", None)
    if callable(convert) and not isinstance(side, pa.Table):
        ref = getattr(side, "ref", None)
        return _data(side, ref if isinstance(ref, str) else type(side).__name__)
    return _data(side, "data")


def _checks(checks: Iterable[Check] | None) -> list[dict[str, Any]] | None:
    if checks is None:
        return None
    out = []
    for c in checks:
        if not isinstance(c, Check):
            raise InvalidArgument(f"contract checks come from lakebed.quality (not_null, unique, between, ...), "
                                  f"got {c!r}")
        out.append(c.to_spec())
    return out


def _history(row: dict[str, Any]) -> dict[str, Any]:
    return {"version": int(row["version"]), "spec": row["spec"], "deleted": bool(row["deleted"]),
            "created_at": _datetime(row["created_at"])}


class RemoteQuality(QualityAPI):
    """``lake.quality`` of a served lake (see :class:`lakebed.api.QualityAPI`)."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def _post(self, path: str, **kwargs: Any) -> Any:
        return self._http.request("POST", f"{_BASE}{path}", **kwargs)

    def _get(self, path: str, **kwargs: Any) -> Any:
        return self._http.request("GET", f"{_BASE}{path}", **kwargs)

    # -- profiles ---------------------------------------------------------------------------
    def profile(self, target: Any, *, version: int | None = None, store: bool | None = None) -> Profile:
        if isinstance(target, str):
            name, at = _split_version(target)
            params: dict[str, Any] = {}
            if (at if at is not None else version) is not None:
                params["version"] = at if at is not None else version
            if store is not None:
                params["store"] = bool(store)
            return Profile.from_dict(self._post(f"/profile/{_seg(name)}", params=params))
        ref = getattr(target, "ref", None)
        body = {"data": _data(target, ref if isinstance(ref, str) else "data")}
        return Profile.from_dict(self._post("/profile", json=body, idempotent=True))

    def profiles(self, table: str, *, limit: int = 20) -> list[Profile]:
        return [Profile.from_dict(p) for p in self._get(f"/profiles/{_seg(table)}", params={"limit": limit})]

    # -- drift ------------------------------------------------------------------------------
    def drift(
        self,
        reference: Any,
        current: Any,
        columns: Sequence[str] | None = None,
        *,
        method: str | dict[str, str] | None = None,
        threshold: float | dict[str, float] | None = None,
        share: float = 0.5,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> DriftReport:
        body = {
            "reference": _side(reference), "current": _side(current),
            "columns": None if columns is None else [columns] if isinstance(columns, str) else list(columns),
            "method": method, "threshold": threshold, "share": share, "start": _iso(start), "end": _iso(end),
        }
        return DriftReport.from_dict(self._post("/drift", json=body, idempotent=True))

    def monitor(
        self,
        model: str,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        columns: Sequence[str] | None = None,
        labels: Any = None,
        on: str = "request_id",
        label: str | None = None,
        freq: str = "1d",
    ) -> MonitorReport:
        if not isinstance(model, str):
            raise InvalidArgument(f"a model reference is a string like 'fraud@champion', got {model!r}")
        ref = model[len("model:"):] if model.startswith("model:") else model
        name, at, selector = ref.partition("@")
        if at and not selector:
            raise InvalidArgument(f"{model!r} ends with '@'; write name@version or name@alias")
        params: dict[str, Any] = {"on": on, "freq": freq}
        for k, v in (("version", selector or None), ("start", _iso(start)), ("end", _iso(end)), ("label", label)):
            if v is not None:
                params[k] = v
        if columns is not None:
            params["columns"] = [columns] if isinstance(columns, str) else list(columns)
        kwargs: dict[str, Any] = {}
        if isinstance(labels, str):
            params["labels_table"] = labels
        elif labels is not None:
            kwargs["arrow"] = _table_of(labels)
        out = self._post(f"/monitor/{_seg(name)}", params=params, idempotent=True, **kwargs)
        return MonitorReport.from_dict(out)

    # -- reports ----------------------------------------------------------------------------
    def report(
        self,
        *,
        table: str | None = None,
        drift: DriftReport | MonitorReport | None = None,
        profile: Profile | bool | None = None,
        results: int = 50,
        title: str | None = None,
        path: str | Path | None = None,
    ) -> Report:
        body: dict[str, Any] = {"table": table, "results": results, "title": title}
        if isinstance(drift, MonitorReport):
            body["monitor"] = drift.to_dict()
        elif isinstance(drift, DriftReport):
            body["drift"] = drift.to_dict()
        elif drift is not None:
            raise InvalidArgument(f"drift= is a DriftReport or a MonitorReport, got {type(drift).__name__}")
        if isinstance(profile, Profile):
            body["profile"] = profile.to_dict()
        elif profile is not None:
            body["profile"] = bool(profile)
        rep = Report.from_dict(self._post("/report", json=body, idempotent=True))
        if path is not None:
            rep.save(path)
        return rep

    # -- contracts --------------------------------------------------------------------------
    def contract(
        self,
        table: str,
        *,
        checks: Iterable[Check] = (),
        columns: dict[str, Any] | None = None,
        on_violation: OnViolation = "reject",
        description: str | None = None,
    ) -> Contract:
        spec = Contract(table, tuple(checks), columns, on_violation, description).to_spec()
        out = self._http.request("PUT", f"{_BASE}/contracts/{_seg(table)}", json=spec, idempotent=True)
        return Contract.from_dict(out)

    def plan(self, contracts: Iterable[Contract], *, prune: bool = False) -> ContractPlan:
        body = {"contracts": _contracts(contracts), "prune": bool(prune)}
        return ContractPlan.from_dict(self._post("/plan", json=body, idempotent=True))

    def apply(self, contracts: Iterable[Contract] | ContractPlan, *, prune: bool = False) -> ContractPlan:
        if isinstance(contracts, ContractPlan):
            raise InvalidArgument("apply takes the contracts themselves (plan shows what they change)")
        body = {"contracts": _contracts(contracts), "prune": bool(prune)}
        return ContractPlan.from_dict(self._post("/apply", json=body, idempotent=True))

    def get_contract(self, table: str, version: int | None = None) -> Contract:
        params = {} if version is None else {"version": version}
        return Contract.from_dict(self._get(f"/contracts/{_seg(table)}", params=params))

    def contracts(self) -> list[Contract]:
        return [Contract.from_dict(c) for c in self._get("/contracts")]

    def contract_history(self, table: str) -> list[dict[str, Any]]:
        return [_history(h) for h in self._get(f"/contracts/{_seg(table)}/history")]

    def drop_contract(self, table: str) -> None:
        self._http.request("DELETE", f"{_BASE}/contracts/{_seg(table)}")

    # -- validation -------------------------------------------------------------------------
    def validate(
        self,
        target: Any,
        *,
        version: int | None = None,
        checks: Iterable[Check] | None = None,
        samples: int = 5,
        store: bool | None = None,
    ) -> ValidationResult:
        specs = _checks(checks)
        if isinstance(target, str):
            name, at = _split_version(target)
            params: dict[str, Any] = {"samples": samples}
            if (at if at is not None else version) is not None:
                params["version"] = at if at is not None else version
            if store is not None:
                params["store"] = bool(store)
            checks_body = None if specs is None else {"checks": specs}
            out = self._post(f"/validate/{_seg(name)}", params=params, json=checks_body, idempotent=store is False)
            return ValidationResult.from_dict(out)
        if specs is None:
            raise InvalidArgument("validate(data) needs checks=[...] (a contract belongs to a table)")
        body = {"data": _data(target, "data"), "checks": specs, "samples": samples}
        return ValidationResult.from_dict(self._post("/validate", json=body, idempotent=True))

    def results(
        self,
        table: str | None = None,
        *,
        passed: bool | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[ValidationResult]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= 100_000:
            raise InvalidArgument(f"limit is 1..100000, got {limit!r}")
        if limit > MAX_RESULTS:
            raise InvalidArgument(f"a served lake sends at most {MAX_RESULTS:,} results per call, got limit={limit}; "
                                  "ask for fewer, and narrow with table=, passed=, action= or since=")
        params: dict[str, Any] = {"limit": limit}
        for k, v in (("table", table), ("passed", passed), ("action", action), ("since", _iso(since))):
            if v is not None:
                params[k] = v
        return [ValidationResult.from_dict(r) for r in self._get("/results", params=params)]

    def result(self, result_id: int) -> ValidationResult:
        return ValidationResult.from_dict(self._get(f"/results/{int(result_id)}"))


def _contracts(contracts: Iterable[Contract]) -> list[dict[str, Any]]:
    out = []
    for c in contracts:
        if not isinstance(c, Contract):
            raise InvalidArgument(f"plan and apply take Contract objects, got {type(c).__name__}")
        out.append({"table": c.table, **c.to_spec()})
    return out
