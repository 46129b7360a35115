"""The JSON the web UI's pages read, under ``/ui/api``: one call per page part, shaped for
the page (paged, sampled), checked with the same keys, scopes and grants as ``/v1``.

Every list pages on the server (``offset``, ``limit`` up to 500) and answers
``{"total", "offset", "limit", "items"}``; nothing sends a whole table, a whole run list
or a whole metric history to the browser."""

from __future__ import annotations

import math
import time
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lakebed.errors import InvalidArgument, NotFound
from lakebed.server.routers._common import fast_json, key_allows

if TYPE_CHECKING:
    from lakebed.lake import Lake
    from lakebed.server._app import Auth

MAX_PAGE = 500
MAX_CELL = 2_000  # characters of one cell sent to the browser
MAX_SQL_ROWS = 1_000
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127})?$"
REF = r"^[A-Za-z0-9_.:@-]{1,300}$"
RUN_ID = r"^[A-Za-z0-9_-]{1,64}$"
PAGES = {"table": "/ui/tables/{name}?version={version}", "featureview": "/ui/features/views/{name}?version={version}",
         "run": "/ui/runs/{name}", "model": "/ui/models/{name}", "collection": "/ui/collections/{name}",
         "predictions": "/ui/tables/predictions.{name}", "quality": "/ui/quality/result/{name}"}


def cell(value: Any) -> Any:
    """One value as the browser shows it: JSON scalars, ISO times, long text cut.

    Example:
        >>> cell(float("nan")), cell(b"\\x00\\xff"), cell("x" * 3000)[-12:], cell([1, {"a": 2}])
        (None, '00ff', '… (3000 ch.)', '[1, {"a": 2}]')
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        text = value.hex()
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list | dict | tuple):
        import json

        text = json.dumps(value, default=str)
    else:
        text = str(value)
    if len(text) > MAX_CELL:
        return text[:MAX_CELL] + f"… ({len(text)} ch.)"
    return text


def grid(table: pa.Table) -> dict[str, Any]:
    """An Arrow table as ``{"columns", "rows"}`` of browser cells."""
    cols = table.column_names
    data = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return {"columns": cols, "rows": [[cell(c[i]) for c in data] for i in range(table.num_rows)]}


def page(items: list[Any], total: int | None, offset: int, limit: int, **extra: Any) -> Response:
    return fast_json({"total": total, "offset": offset, "limit": limit, "items": items, **extra})


def node_link(ref: str) -> str | None:
    """The UI page of a lineage ref.

    Example:
        >>> node_link("table:gold.train@3"), node_link("model:fraud@2"), node_link("x")
        ('/ui/tables/gold.train?version=3', '/ui/models/fraud', None)
    """
    from urllib.parse import quote

    from lakebed.tracking._lineage import parse_ref

    try:
        kind, name, version = parse_ref(ref)
    except InvalidArgument:
        return None
    if kind not in PAGES:
        return None
    version = version or ""
    url = PAGES[kind].format(name=quote(name, safe="."), version=quote(version))
    return url.removesuffix("?version=")


def sample(steps: list[int], values: list[float], points: int) -> tuple[list[int], list[float]]:
    """At most ``points`` of a series, evenly strided, the first and last kept.

    Example:
        >>> sample(list(range(10)), [float(i) for i in range(10)], 4)
        ([0, 3, 6, 9], [0.0, 3.0, 6.0, 9.0])
    """
    n = len(steps)
    if n <= points:
        return steps, values
    idx = sorted({round(i * (n - 1) / (points - 1)) for i in range(points)})
    return [steps[i] for i in idx], [values[i] for i in idx]


class SqlBody(BaseModel):
    sql: str = Field(min_length=1, max_length=100_000)
    limit: int = Field(200, ge=1, le=MAX_SQL_ROWS)


class SearchBody(BaseModel):
    mode: Literal["text", "id", "keyword", "hybrid"] = "text"
    q: str = Field(min_length=1, max_length=10_000)
    k: int = Field(10, ge=1, le=100)
    filter: dict[str, Any] | None = None


class OnlineBody(BaseModel):
    features: list[str] | str
    entity_rows: list[dict[str, Any]] = Field(min_length=1, max_length=100)


class AliasBody(BaseModel):
    alias: str = Field(min_length=1, max_length=128)
    version: int = Field(ge=1, lt=2**31)


def router(lake: Lake, auth: Auth) -> APIRouter:
    r = APIRouter(prefix="/ui/api", tags=["ui"], include_in_schema=False)
    Offset = Query(0, ge=0, lt=2**31)
    Limit = Query(50, ge=1, le=MAX_PAGE)

    # ---- session -------------------------------------------------------------------
    @r.get("/session")
    def session(key: Any = auth.need("read")) -> Response:
        from lakebed import __version__

        return fast_json({
            "auth_required": auth.required,
            "key": None if key is None else {"id": key.key_id, "name": key.name, "scopes": list(key.scopes),
                                              "grants": list(key.grants)},
            "can_write": key is None or "write" in _scopes(key),
            "lake": lake.path.name if lake.path is not None else ":memory:",
            "version": __version__,
        })

    @r.get("/overview")
    def overview(key: Any = auth.need("read")) -> Response:
        def count(area: str, fn: Any) -> int | None:
            if area not in ("tables", "collections", "streams") and not key_allows(key, "read", area, None):
                return None  # lists of tables, collections and streams are filtered name by name
            try:
                return int(fn())
            except (NotFound, InvalidArgument):
                return None

        fs = lake.features
        return fast_json({
            "tables": count("tables", lambda: sum(
                1 for t in lake.tables.list() if key_allows(key, "read", "tables", t))),
            "collections": count("collections", lambda: sum(
                1 for c in lake.collections.list() if key_allows(key, "read", "collections", c))),
            "views": count("features", lambda: len(fs.list_views())),
            "entities": count("features", lambda: len(fs.list_entities())),
            "experiments": count("runs", lambda: len(lake.runs.experiments())),
            "runs": count("runs", lambda: lake.runs.count()),
            "models": count("models", lambda: len(lake.models.list())),
            "streams": count("streams", lambda: len(lake.streams.list())),
            "contracts": count("tables", lambda: sum(
                1 for c in lake.quality.contracts() if key_allows(key, "read", "tables", c.table))),
        })

    # ---- tables --------------------------------------------------------------------
    @r.get("/tables")
    def tables(namespace: str | None = Query(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
               offset: int = Offset, limit: int = Limit, key: Any = auth.need("read")) -> Response:
        names = [t for t in lake.tables.list() if key_allows(key, "read", "tables", t)]
        spaces = sorted({t.split(".", 1)[0] for t in names})
        if namespace is not None:
            names = [t for t in names if t.split(".", 1)[0] == namespace]
        items = []
        for name in names[offset:offset + limit]:
            items.append({"name": name, "namespace": name.split(".", 1)[0], "version": lake.tables.version(name)})
        return page(items, len(names), offset, limit, namespaces=spaces)

    @r.get("/tables/{name}", dependencies=[auth.need("read", "tables", "name")])
    def table(name: str = Path(pattern=NAME), version: int | None = Query(None, ge=0, lt=2**31)) -> Response:
        info = lake.tables.info(name)
        schema = lake.tables.schema(name, version) if version is not None else info["schema"]
        num_rows = info["num_rows"] if version is None else lake.tables.dataset(name, version).count_rows()
        contract = None
        try:
            from lakebed.quality._contracts import current_contract

            c = current_contract(lake, name)
        except ImportError:  # the quality extra is not installed
            c = None
        if c is not None:
            contract = {"version": c.version, "on_violation": c.on_violation, "checks": len(c.checks)}
        return fast_json({
            "name": name, "namespace": name.split(".", 1)[0],
            "version": info["version"] if version is None else version, "latest_version": info["version"],
            "num_rows": num_rows, "description": info["description"], "created_at": info["created_at"].isoformat(),
            "partition_by": info["partition_by"], "properties": {k: cell(v) for k, v in info["properties"].items()},
            "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
            "contract": contract,
        })

    @r.get("/tables/{name}/history", dependencies=[auth.need("read", "tables", "name")])
    def history(name: str = Path(pattern=NAME), offset: int = Offset, limit: int = Limit) -> Response:
        entries = lake.tables.history(name, limit=offset + limit)
        total = lake.tables.version(name) + 1
        items = []
        for h in entries[offset:offset + limit]:
            m = h["metrics"] or {}
            added = m.get("num_added_rows", m.get("num_inserted_rows", m.get("num_output_rows")))
            removed = m.get("num_deleted_rows", m.get("num_removed_rows"))
            items.append({"version": h["version"], "timestamp": h["timestamp"].isoformat(),
                          "operation": h["operation"], "rows_added": _int(added), "rows_removed": _int(removed),
                          "parameters": {k: cell(v) for k, v in (h["parameters"] or {}).items()},
                          "metadata": {k: cell(v) for k, v in h["metadata"].items()}})
        return page(items, total, offset, limit)

    @r.get("/tables/{name}/rows", dependencies=[auth.need("read", "tables", "name")])
    def rows(name: str = Path(pattern=NAME), version: int | None = Query(None, ge=0, lt=2**31),
             offset: int = Offset, limit: int = Limit) -> Response:
        ds = lake.tables.dataset(name, version)
        total = ds.count_rows()
        v = lake.tables.version(name) if version is None else version
        window = _slice(ds, offset, limit)
        return fast_json({"total": total, "offset": offset, "limit": limit, "version": v, **grid(window)})

    @r.post("/sql")
    def sql(body: SqlBody, request: Request, key: Any = auth.need("read")) -> Response:
        from lakebed.server.routers.tables import SQL_TIMEOUT, granted_tables

        t0 = time.perf_counter()
        result = lake.tables.sql(body.sql, tables=granted_tables(lake, key),
                                 timeout=getattr(request.app.state, "sql_timeout", SQL_TIMEOUT),
                                 max_rows=100_000)
        out = grid(result.slice(0, body.limit))
        return fast_json({**out, "truncated": result.num_rows > body.limit, "num_rows": result.num_rows,
                          "elapsed_ms": round((time.perf_counter() - t0) * 1000, 2)})

    # ---- collections ---------------------------------------------------------------
    @r.get("/collections")
    def collections(offset: int = Offset, limit: int = Limit, key: Any = auth.need("read")) -> Response:
        names = [c for c in lake.collections.list() if key_allows(key, "read", "collections", c)]
        items = []
        for name in names[offset:offset + limit]:
            info = lake.collections.info(name)
            col = lake.collections.open(name)
            st = col.stats()
            items.append({"name": name, "dim": col.dim, "metric": col.metric, "points": st["points"],
                          "segments": st["segments"], "index": _index_name(info),
                          "embedder": cell(info.get("embedder"))})
        return page(items, len(names), offset, limit)

    @r.get("/collections/{name}", dependencies=[auth.need("read", "collections", "name")])
    def collection(name: str = Path(pattern=NAME)) -> Response:
        info = lake.collections.info(name)
        col = lake.collections.open(name)
        st = col.stats()
        return fast_json({
            "name": name, "dim": col.dim, "metric": col.metric,
            "info": {k: cell(v) for k, v in info.items() if k not in ("location",)},
            "stats": {**{k: cell(v) if not isinstance(v, list | dict) else v for k, v in st.items()},
                      "segments": col.segments()},
            "payload_indexes": dict(col._kinds),
            "versions": [{k: cell(v) for k, v in x.items()} for x in col.versions()[-50:]][::-1],
            "has_embedder": col._embedder is not None,
            "has_text": col._text is not None,
        })

    @r.post("/collections/{name}/search", dependencies=[auth.need("read", "collections", "name")])
    def search(body: SearchBody, name: str = Path(pattern=NAME)) -> Response:
        col = lake.collections.open(name)
        t0 = time.perf_counter()
        plan = None
        if body.mode == "keyword":
            hits = col.search_text(body.q, k=body.k, filter=body.filter)
        elif body.mode == "hybrid":
            hits = col.hybrid_search(body.q, k=body.k, filter=body.filter)
        else:
            if body.mode == "id":
                point_id: Any = int(body.q) if body.q.lstrip("-").isdigit() else body.q
                got = col.get([point_id], include_vectors=True)
                if not got:
                    raise NotFound(f"collection {name!r} has no point {body.q!r}")
                vector = got[0].vector
            else:
                vector = col._embed([body.q])[0]
            hits = col.search(vector, k=body.k, filter=body.filter)
            plan = col.explain(vector, k=body.k, filter=body.filter)
        elapsed = round((time.perf_counter() - t0) * 1000, 2)
        return fast_json({"hits": [{"id": cell(h.id), "score": cell(float(h.score)),
                                    "payload": {k: cell(v) for k, v in (h.payload or {}).items()}} for h in hits],
                          "plan": plan, "elapsed_ms": elapsed})

    # ---- features ------------------------------------------------------------------
    @r.get("/features", dependencies=[auth.need("read", "features")])
    def features() -> Response:
        fs = lake.features
        status = {s.get("view"): s for s in fs.status()}
        return fast_json({
            "entities": [_spec(e) for e in fs.list_entities()],
            "views": [_view(v) for v in fs.list_views()],
            "services": [_spec(s) for s in fs.list_services()],
            "status": [{k: cell(v) for k, v in s.items()} for s in status.values()],
        })

    @r.get("/features/views/{name}", dependencies=[auth.need("read", "features")])
    def view(name: str = Path(pattern=NAME), version: int | None = Query(None, ge=1, lt=2**31)) -> Response:
        fs = lake.features
        v = fs.get_view(name, version)
        return fast_json({"view": {**_view(v), "definition": _jsonable(v.spec())},
                          "versions": [{"version": h["version"], "created_at": cell(h["created_at"]),
                                        "deleted": h["deleted"]} for h in fs.history(name)]})

    @r.get("/features/views/{name}/diff", dependencies=[auth.need("read", "features")])
    def view_diff(name: str = Path(pattern=NAME), a: int = Query(ge=1, lt=2**31),
                  b: int = Query(ge=1, lt=2**31)) -> Response:
        fs = lake.features
        before, after = _flat(fs.get_view(name, a).spec()), _flat(fs.get_view(name, b).spec())
        changes = [{"field": k, "before": cell(before.get(k)), "after": cell(after.get(k))}
                   for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)]
        return fast_json({"a": a, "b": b, "changes": changes})

    @r.post("/features/online", dependencies=[auth.need("read", "features")])
    def online(body: OnlineBody) -> Response:
        res = lake.features.online(body.entity_rows, body.features)
        cols = list(res.values)
        n = len(body.entity_rows)
        return fast_json({"columns": cols, "rows": [[cell(res.values[c][i]) for c in cols] for i in range(n)],
                          "statuses": [[cell(res.statuses[c][i]) if c in res.statuses else None for c in cols]
                                       for i in range(n)]})

    @r.get("/streams")
    def streams(offset: int = Offset, limit: int = Limit, key: Any = auth.need("read")) -> Response:
        described = [d for d in lake.streams.describe() if key_allows(key, "read", "streams", d["name"])]
        items = []
        for d in described[offset:offset + limit]:
            groups = d.get("groups") or {}
            items.append({"name": d["name"], "partitions": d.get("partitions"), "records": d.get("records"),
                          "backend": d.get("backend"), "key": d.get("key"), "event_time": d.get("event_time"),
                          "groups": [{"group": g, "lag": _total_lag(info)} for g, info in groups.items()]})
        return page(_jsonable(items), len(described), offset, limit)

    # ---- runs and models -----------------------------------------------------------
    @r.get("/experiments", dependencies=[auth.need("read", "runs")])
    def experiments(offset: int = Offset, limit: int = Limit) -> Response:
        names = lake.runs.experiments()
        items = [{"name": e, "runs": lake.runs.count(experiment=e)} for e in names[offset:offset + limit]]
        return page(items, len(names), offset, limit)

    @r.get("/runs", dependencies=[auth.need("read", "runs")])
    def runs(q: str = Query("", max_length=10_000), experiment: str | None = Query(None, max_length=256),
             order_by: list[str] | None = Query(None, max_length=8), offset: int = Offset,
             limit: int = Limit) -> Response:
        table = lake.runs.search(q, experiment=experiment, order_by=[o[:256] for o in order_by or []],
                                 limit=limit, offset=offset)
        total = lake.runs.count(q, experiment=experiment)
        items = _run_rows(table)
        mkeys = sorted({k for it in items for k in it["metrics"]})
        pkeys = sorted({k for it in items for k in it["params"]})
        return page(items, total, offset, limit, metric_keys=mkeys, param_keys=pkeys)

    @r.get("/runs/metrics", dependencies=[auth.need("read", "runs")])
    def run_metrics(ids: str = Query(min_length=1, max_length=64 * 21), key: str = Query(min_length=1, max_length=256),
                    points: int = Query(500, ge=2, le=5_000)) -> Response:
        series = []
        for run_id in ids.split(",")[:20]:
            run = lake.runs.get(run_id)
            hist = run.metric_history(key)
            steps = [int(s) if s is not None else i for i, s in enumerate(hist.column("step").to_pylist())]
            values = [cell(v) for v in hist.column("value").to_pylist()]
            s, v = sample(steps, values, points)
            series.append({"run_id": run.id, "name": run.name, "steps": s, "values": v,
                           "total": len(steps), "sampled": len(s) < len(steps)})
        return fast_json({"key": key, "series": series})

    @r.get("/runs/{run_id}", dependencies=[auth.need("read", "runs")])
    def run(run_id: str = Path(pattern=RUN_ID)) -> Response:
        from lakebed.server.routers.tracking import run_json

        x = lake.runs.get(run_id)
        head = run_json(x)
        return fast_json({
            **{k: head[k] for k in ("id", "name", "experiment", "status")},
            "start_time": _when(head["start_time"]), "end_time": _when(head["end_time"]),
            "params": {k: cell(v) for k, v in x.params.items()}, "metrics": {k: cell(v) for k, v in x.metrics.items()},
            "tags": {k: cell(v) for k, v in x.tags.items()}, "inputs": list(x.inputs),
            "artifacts": [{"name": a.name, "size": a.size, "sha256": a.sha256, "kind": a.kind, "flavor": a.flavor}
                          for a in x.artifacts],
            "metric_keys": sorted(x.metrics),
        })

    @r.get("/models", dependencies=[auth.need("read", "models")])
    def models(offset: int = Offset, limit: int = Limit) -> Response:
        listed = lake.models.list()
        items = [{**{k: cell(v) for k, v in m.items() if k != "aliases"}, "aliases": m["aliases"],
                  "created_at": _when(m["created_at"]), "updated_at": _when(m["updated_at"]),
                  "versions": m["latest_version"]} for m in listed[offset:offset + limit]]
        return page(items, len(listed), offset, limit)

    @r.get("/models/{name}", dependencies=[auth.need("read", "models", "name")])
    def model(name: str = Path(pattern=NAME)) -> Response:
        versions = lake.models.versions(name)
        aliases: dict[str, int] = {}
        for mv in versions:
            for a in mv.aliases:
                aliases[a] = mv.version
        return fast_json({"name": name, "aliases": aliases, "versions": [
            {"version": mv.version, "run_id": mv.run_id, "artifact": mv.artifact, "aliases": list(mv.aliases),
             "created_at": _when(mv.created_at), "flavor": mv.flavor, "ref": mv.ref}
            for mv in sorted(versions, key=lambda m: -m.version)]})

    @r.post("/models/{name}/aliases", dependencies=[auth.need("write", "models", "name")])
    def set_alias(body: AliasBody, name: str = Path(pattern=NAME)) -> Response:
        lake.models.set_alias(name, body.alias, body.version)
        return fast_json({"ok": True, "name": name, "alias": body.alias, "version": body.version})

    # ---- lineage -------------------------------------------------------------------
    @r.get("/lineage", dependencies=[auth.need("read", "lineage")])
    def lineage(ref: str = Query(pattern=REF), depth: int = Query(3, ge=1, le=10)) -> Response:
        from lakebed.tracking._lineage import parse_ref

        root = lake.lineage.resolve(ref)
        up = lake.lineage.upstream(root, depth)
        down = lake.lineage.downstream(root, depth)
        nodes: dict[str, dict[str, Any]] = {}
        for n in [*up.nodes, *down.nodes]:
            if n in nodes:
                continue
            kind, name, version = parse_ref(n)
            nodes[n] = {"id": n, "kind": kind, "label": name, "version": version or None, "link": node_link(n)}
        seen = set()
        edges = []
        for e in [*up.edges, *down.edges]:
            if (e.src, e.dst) in seen:
                continue
            seen.add((e.src, e.dst))
            src_version = nodes[e.src]["version"] if e.src in nodes else None
            edges.append({"source": e.src, "target": e.dst, "kind": e.kind,
                          "label": f"{e.kind} @{src_version}" if src_version else e.kind})
        if len(nodes) > 400:
            raise InvalidArgument(f"the lineage of {ref!r} at depth {depth} has {len(nodes)} nodes; ask for less depth")
        return fast_json({"root": root, "nodes": list(nodes.values()), "edges": edges})

    # ---- quality -------------------------------------------------------------------
    @r.get("/quality/contracts")
    def contracts(offset: int = Offset, limit: int = Limit, key: Any = auth.need("read")) -> Response:
        found = [c for c in lake.quality.contracts() if key_allows(key, "read", "tables", c.table)]
        items = [{"table": c.table, "version": c.version, "on_violation": c.on_violation, "checks": len(c.checks),
                  "description": c.description} for c in found[offset:offset + limit]]
        return page(items, len(found), offset, limit)

    @r.get("/quality/results")
    def results(table: str | None = Query(None, pattern=NAME), offset: int = Offset, limit: int = Limit,
                key: Any = auth.need("read")) -> Response:
        if table is not None and key is not None:
            key.allows("read", "tables", table)
        got = [x for x in lake.quality.results(table, limit=offset + limit)
               if x.table is None or key_allows(key, "read", "tables", x.table)]
        return page([_jsonable(x.to_dict()) for x in got[offset:offset + limit]], None, offset, limit)

    @r.get("/quality/result/{result_id}")
    def result(result_id: int = Path(ge=1, lt=2**63), key: Any = auth.need("read")) -> Response:
        res = lake.quality.result(result_id)
        if key is not None and res.table is not None:
            key.allows("read", "tables", res.table)
        return fast_json(_jsonable(res.to_dict()))

    @r.get("/quality/tables/{name}", dependencies=[auth.need("read", "tables", "name")])
    def quality_table(name: str = Path(pattern=NAME), results: int = Query(200, ge=1, le=1_000)) -> Response:
        got = lake.quality.results(name, limit=results)
        versions = sorted({x.table_version for x in got if x.table_version is not None})
        checks: list[str] = []
        failing: dict[tuple[str, int], int] = {}
        for x in sorted(got, key=lambda x: x.id or 0):  # newest result per (check, version) wins
            for c in x.checks:
                if c.name not in checks:
                    checks.append(c.name)
                if x.table_version is not None:
                    failing[(c.name, x.table_version)] = int(c.failing or 0)
        return fast_json({"table": name, "versions": versions, "checks": checks,
                          "failing": [[failing.get((c, v)) for v in versions] for c in checks]})

    @r.post("/quality/validate/{name}", dependencies=[auth.need("write", "tables", "name")])
    def validate(name: str = Path(pattern=NAME)) -> Response:
        return fast_json(_jsonable(lake.quality.validate(name).to_dict()))

    @r.get("/quality/report")
    def report(table: str | None = Query(None, pattern=NAME), reference: str | None = Query(None, pattern=REF),
               current: str | None = Query(None, pattern=REF), key: Any = auth.need("read")) -> Response:
        from lakebed.server.routers.quality import build_report

        rep = build_report(lake, key, table, reference, current, 50)
        return fast_json({"html": rep.html})

    return r


def _scopes(key: Any) -> tuple[str, ...]:
    from lakebed.server._keys import SCOPES

    have = max((SCOPES.index(s) for s in key.scopes if s in SCOPES), default=-1)
    return SCOPES[:have + 1]


def _when(ts: Any) -> str | None:
    """A catalog timestamp (epoch seconds) as ISO-8601 UTC."""
    from datetime import UTC

    return None if ts is None else datetime.fromtimestamp(float(ts), tz=UTC).isoformat()


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _slice(ds: Any, offset: int, limit: int) -> pa.Table:
    """Rows ``offset .. offset+limit`` of a dataset, reading only the fragments that hold them."""
    pieces: list[pa.Table] = []
    seen = 0
    for frag in ds.get_fragments():
        n = frag.count_rows()
        if seen + n <= offset:
            seen += n
            continue
        start = max(0, offset - seen)
        t = frag.to_table(schema=ds.schema).slice(start, limit - sum(p.num_rows for p in pieces))
        pieces.append(t)
        seen += n
        if sum(p.num_rows for p in pieces) >= limit:
            break
    if not pieces:
        return ds.schema.empty_table()
    return pa.concat_tables(pieces)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return cell(value)


def _flat(spec: Any, prefix: str = "") -> dict[str, Any]:
    """A nested spec as ``{"a.b": value}``, lists kept whole (a view diff compares leaves)."""
    out: dict[str, Any] = {}
    if isinstance(spec, dict):
        for k, v in spec.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    out[prefix.rstrip(".")] = _jsonable(spec)
    return out


def _spec(obj: Any) -> dict[str, Any]:
    return {"name": obj.name, "version": getattr(obj, "version", None), **_jsonable(obj.spec())}


def _view(v: Any) -> dict[str, Any]:
    spec = _jsonable(v.spec())
    if spec.get("stream"):
        kind = "stream"
    elif spec.get("type") == "on_demand" or type(v).__name__ == "OnDemandFeatureView":
        kind = "on_demand"
    else:
        kind = "batch"
    feats = [{"name": f.get("name"), "type": f.get("dtype") or f.get("type") or
              (f"{f.get('function')}({f.get('column')})" if f.get("function") else None)}
             for f in (spec.get("fields") or spec.get("aggregations") or spec.get("schema") or [])
             if isinstance(f, dict)]
    ttl = spec.get("ttl_us")
    return {
        "name": v.name, "version": getattr(v, "version", None), "kind": kind,
        "entities": spec.get("entities", []), "join_keys": spec.get("join_keys", []), "features": feats,
        "ttl_seconds": None if ttl is None else ttl / 1e6, "source": spec.get("source") or spec.get("sources"),
        "stream": spec.get("stream"), "online": spec.get("online", True), "description": spec.get("description"),
    }


def _total_lag(info: Any) -> int | None:
    lag = info.get("lag") if isinstance(info, dict) else None
    if isinstance(lag, dict):
        return sum(int(x) for x in lag.values())
    return _int(lag)


def _index_name(info: dict[str, Any]) -> str | None:
    cfg = info.get("index_config") or {}
    name = cfg.get("type") if isinstance(cfg, dict) else None
    q = info.get("quantization")
    if q:
        name = f"{name} + {q if isinstance(q, str) else (q.get('type') if isinstance(q, dict) else q)}"
    return name


def _run_rows(table: pa.Table) -> list[dict[str, Any]]:
    cols = table.column_names
    data = {c: table.column(c).to_pylist() for c in cols}
    out = []
    for i in range(table.num_rows):
        item: dict[str, Any] = {"metrics": {}, "params": {}, "tags": {}}
        for c in cols:
            v = data[c][i]
            head, _, rest = c.partition(".")
            if rest and head in ("metrics", "params", "tags"):
                if v is not None:
                    item[head][rest] = cell(v)
            else:
                item["id" if c in ("run_id", "id") else c] = cell(v)
        out.append(item)
    return out
