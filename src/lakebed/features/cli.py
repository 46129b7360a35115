"""Command line of the feature store: ``lakebed features plan|apply|ls|materialize|status|online|stream``.

Definitions live in a Python file; ``plan`` and ``apply`` import it and take every
Entity, FeatureView, OnDemandFeatureView and FeatureService defined at its top level
(as ``feast apply`` does)::

    $ lakebed features plan defs.py --lake ./lake
    $ lakebed features apply defs.py --lake ./lake
    $ lakebed features materialize --lake ./lake
    $ lakebed features online user_stats:amount --key user_id=42 --lake ./lake
    $ lakebed features stream --lake ./lake          # run stream feature views until Ctrl-C
"""

from __future__ import annotations

import importlib.util
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import lakebed
from lakebed.config import DEFAULT_LAKE
from lakebed.errors import InvalidArgument, LakebedError
from lakebed.features._definitions import Entity, FeatureService, FeatureView, OnDemandFeatureView

app = typer.Typer(help="The feature store: definitions, materialization, online lookups.", no_args_is_help=True)

LakeOpt = Annotated[
    str, typer.Option("--lake", "-l", envvar="LAKEBED_LAKE", help="Path of the lake (or LAKEBED_LAKE).")
]
OnlineOpt = Annotated[
    str | None, typer.Option("--online", envvar="LAKEBED_ONLINE", help="Online store URL (redis://, postgresql://).")
]
CatalogOpt = Annotated[
    str | None, typer.Option("--catalog", envvar="LAKEBED_CATALOG", help="Catalog URL (postgresql://...).")
]
StreamsOpt = Annotated[
    str | None,
    typer.Option("--streams", envvar="LAKEBED_STREAMS",
                 help="Streams backend URL: nats://..., redis://... (or LAKEBED_STREAMS); default: the lake's."),
]


def _console() -> Console:
    return Console()


@contextmanager
def _open(path: str, *, read_only: bool, online: str | None = None, catalog: str | None = None,
          streams: str | None = None) -> Iterator[Any]:
    more = {"streams": streams} if streams else {}
    try:
        lake = lakebed.connect(path, read_only=read_only, online=online, catalog=catalog, create=False, **more)
    except LakebedError as exc:
        _console().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    try:
        yield lake
    except LakebedError as exc:
        _console().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        lake.close()


def load_objects(path: Path, kinds: tuple[type, ...], what: str) -> list[Any]:
    """Import a Python file and collect its top-level objects of ``kinds`` (``what`` names
    them in the error when there are none)."""
    if not path.exists():
        raise InvalidArgument(f"no definitions file {path}")
    name = f"lakebed_defs_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidArgument(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # lets on-demand functions be found again by module name
    spec.loader.exec_module(module)
    found = [v for k, v in vars(module).items() if not k.startswith("_") and isinstance(v, kinds)]
    if not found:
        raise InvalidArgument(f"{path} defines no {what}")
    return found


def load_definitions(path: Path) -> list[Any]:
    """Import a Python file and collect its top-level feature definitions."""
    return load_objects(path, (Entity, FeatureView, OnDemandFeatureView, FeatureService),
                        "Entity, FeatureView, OnDemandFeatureView or FeatureService")


def _print_plan(plan: Any, applied: bool) -> None:
    con = _console()
    table = Table(title="applied" if applied else "plan (nothing changed yet)")
    for col in ("", "kind", "name", "version", "changes"):
        table.add_column(col)
    colors = {"create": "green", "update": "yellow", "delete": "red", "unchanged": "dim"}
    for ch in plan:
        sign = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}[ch.action]
        ver = {"create": f"v{ch.new_version}", "update": f"v{ch.old_version} -> v{ch.new_version}",
               "delete": f"v{ch.old_version}", "unchanged": f"v{ch.old_version}"}[ch.action]
        table.add_row(f"[{colors[ch.action]}]{sign}[/]", ch.kind, ch.name, ver, ", ".join(ch.diff))
    con.print(table)


@app.command("plan")
def plan_command(
    definitions: Annotated[Path, typer.Argument(help="Python file with the definitions.")],
    lake: LakeOpt = DEFAULT_LAKE,
    prune: Annotated[bool, typer.Option(help="Also delete applied definitions missing from the file.")] = False,
    catalog: CatalogOpt = None,
) -> None:
    """Show what `apply` would change, without changing anything."""
    with _open(lake, read_only=True, catalog=catalog) as lk:
        _print_plan(lk.features.plan(load_definitions(definitions), prune=prune), applied=False)


@app.command("apply")
def apply_command(
    definitions: Annotated[Path, typer.Argument(help="Python file with the definitions.")],
    lake: LakeOpt = DEFAULT_LAKE,
    prune: Annotated[bool, typer.Option(help="Also delete applied definitions missing from the file.")] = False,
    catalog: CatalogOpt = None,
    online: OnlineOpt = None,
) -> None:
    """Record the definitions in the catalog (a new version for each changed one)."""
    with _open(lake, read_only=False, catalog=catalog, online=online) as lk:
        try:
            objs = load_definitions(definitions)
        except InvalidArgument as exc:
            _console().print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        _print_plan(lk.features.apply(objs, prune=prune), applied=True)


@app.command("ls")
def ls_command(lake: LakeOpt = DEFAULT_LAKE, catalog: CatalogOpt = None) -> None:
    """List the applied entities, views and services."""
    with _open(lake, read_only=True, catalog=catalog) as lk:
        table = Table(title=f"feature definitions in {lk.path}")
        for col in ("kind", "name", "version", "details"):
            table.add_column(col)
        for e in lk.features.list_entities():
            table.add_row("entity", e.name, str(e.version), f"join keys {e.join_keys}")
        for (kind, name), (version, spec) in sorted(lk.features.registry.current().items()):
            if kind == "view":
                if spec["type"] == "on_demand":
                    detail = f"on-demand from {spec['sources']} -> {[f['name'] for f in spec['fields']]}"
                else:
                    feats = [a["name"] for a in spec["aggregations"]] or [f["name"] for f in spec["fields"]]
                    detail = f"{spec['source']}: {feats}"
                    if spec.get("stream"):
                        detail = f"stream {spec['stream']} -> {detail}"
                table.add_row("view", name, str(version), detail)
            elif kind == "service":
                table.add_row("service", name, str(version), ", ".join(spec["features"]))
        _console().print(table)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO time like 2024-05-01T00:00:00+00:00") from None


@app.command("materialize")
def materialize_command(
    lake: LakeOpt = DEFAULT_LAKE,
    end: Annotated[str | None, typer.Option(help="Materialize up to this ISO time (default: now).")] = None,
    view: Annotated[list[str] | None, typer.Option("--view", "-v", help="Only these views (repeatable).")] = None,
    incremental: Annotated[bool, typer.Option(help="Only rows after each view's last materialized end.")] = False,
    catalog: CatalogOpt = None,
    online: OnlineOpt = None,
) -> None:
    """Load the latest feature values into the online store, with a progress bar."""
    end_time = _parse_time(end)
    with _open(lake, read_only=False, catalog=catalog, online=online) as lk, Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(), console=_console(),
    ) as progress:
        tasks: dict[str, Any] = {}

        def report(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total if total is not None else None)

        if incremental:
            result = lk.features.materialize_incremental(end=end_time, views=view or None, progress=report)
        else:
            result = lk.features.materialize(end=end_time, views=view or None, progress=report)
        for name, rows in result.items():
            if name in tasks:
                progress.update(tasks[name], total=rows, completed=rows)
    _console().print(f"materialized {sum(result.values()):,} rows into {len(result)} views")


@app.command("status")
def status_command(lake: LakeOpt = DEFAULT_LAKE, catalog: CatalogOpt = None, online: OnlineOpt = None,
                   streams: StreamsOpt = None) -> None:
    """Per view: last materialized, newest event, freshness lag, rows online; stream views add their
    stream lag, counts and event-to-online freshness."""
    with _open(lake, read_only=True, catalog=catalog, online=online, streams=streams) as lk:
        table = Table(title="feature views")
        for col in ("view", "version", "source", "last materialized", "newest event", "lag", "rows online"):
            table.add_column(col)
        rows = lk.features.status()
        for s in rows:
            table.add_row(s["view"], str(s["version"]), s["source"], _fmt(s["last_materialized"]),
                          _fmt(s["newest_event"]), _fmt(s["freshness_lag"]), f"{s['rows_online']:,}")
        con = _console()
        con.print(table)
        stream_rows = [s for s in rows if "stream" in s]
        if stream_rows:
            con.print(_stream_table(stream_rows, "stream feature views"))


def _ms(value: float | None) -> str:
    return "-" if value is None else (f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms")


def _stream_table(rows: list[dict[str, Any]], title: str, rates: dict[str, float] | None = None) -> Table:
    """Stream views as a table: from ``features.status()`` rows or the processor's status."""
    from lakebed.streams.cli import format_duration

    table = Table(title=title)
    cols = ["view", "stream", "applied", "lag", "too late", "out of order", "expired", "fresh p50", "fresh p99"]
    if rates is not None:
        cols.insert(3, "events/s")
    else:
        cols += ["SLO", "last applied"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("view", "stream", "SLO", "last applied") else "right")
    for s in rows:
        fresh = s.get("freshness") or {}
        p50 = s.get("freshness_p50_ms", fresh.get("p50_ms"))
        p99 = s.get("freshness_p99_ms", fresh.get("p99_ms"))
        lag = f"{s['lag']:,}"
        if "offline_lag" in s and s["offline_lag"] != s["lag"]:
            lag += f" (offline {s['offline_lag']:,})"
        cells = [s["view"], s["stream"], f"{s['applied']:,}", lag, f"{s['too_late']:,}", f"{s['out_of_order']:,}",
                 f"{s['expired']:,}", _ms(p50), _ms(p99)]
        if rates is not None:
            cells.insert(3, f"{rates.get(s['view'], 0.0):,.0f}")
        else:
            slo = s.get("freshness_slo")
            breached = "[red]breached[/]" if s.get("slo_breached") else "ok"
            cells += [f"{format_duration(slo)} {breached}" if slo is not None else "-", _fmt(s.get("last_applied"))]
        table.add_row(*cells)
    return table


@app.command("stream")
def stream_command(
    views: Annotated[list[str] | None, typer.Argument(help="Stream feature views to run (default: all).")] = None,
    lake: LakeOpt = DEFAULT_LAKE,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
    until_caught_up: Annotated[bool, typer.Option(
        "--until-caught-up", help="Stop once every view applied all its stream holds.")] = False,
    offline_interval: Annotated[float, typer.Option(
        help="Seconds between landings of events in the offline tables.", min=0)] = 1.0,
    catalog: CatalogOpt = None,
    online: OnlineOpt = None,
    streams: StreamsOpt = None,
) -> None:
    """Run stream feature views: apply their streams' events to the online store (exactly once) and land
    them in the offline tables, with a live status line, until Ctrl-C (or --duration, --until-caught-up)."""
    from rich.live import Live

    con = _console()
    stop = threading.Event()
    with _open(lake, read_only=False, catalog=catalog, online=online, streams=streams) as lk:
        names = views or None
        if names is None and not any(k == "view" and s.get("stream")
                                     for (k, _), (_, s) in lk.features.registry.current().items()):
            con.print("[red]error:[/red] no stream feature views are applied; define a StreamFeatureView "
                      "and `lakebed features apply` it")
            raise typer.Exit(1)
        last: dict[str, tuple[float, int]] = {}
        rates: dict[str, float] = {}
        t0 = time.monotonic()

        def render(status: list[dict[str, Any]]) -> Table:
            now = time.monotonic()
            for s in status:
                before = last.get(s["view"])
                if before is not None and now > before[0]:
                    rates[s["view"]] = (s["applied"] - before[1]) / (now - before[0])
                last[s["view"]] = (now, s["applied"])
            note = "stopping" if stop.is_set() else "Ctrl-C stops"
            return _stream_table(status, f"stream views, {now - t0:,.0f} s ({note})", rates)

        with Live(console=con, auto_refresh=False, transient=False) as live, _stop_on_signals(stop):
            def on_status(status: list[dict[str, Any]]) -> None:
                live.update(render(status), refresh=True)

            result = lk.features.run_stream(names, until_caught_up=until_caught_up, duration=duration, stop=stop,
                                            on_status=on_status, offline_interval=offline_interval)
            live.update(_stream_table(list(result.values()), f"stream views, {time.monotonic() - t0:,.1f} s",
                                      rates), refresh=True)
        if not con.is_terminal:
            con.print()
        total = sum(r["applied"] for r in result.values())
        why = "stopped" if stop.is_set() else ("caught up" if until_caught_up else "done")
        con.print(f"{why}: {len(result)} view{'s' if len(result) != 1 else ''}, {total:,} events applied in all")


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Within the block, SIGINT (Ctrl-C) and SIGTERM set ``stop`` (the processor finishes its
    step, lands the offline tail and returns); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise typer.BadParameter(f"--key takes name=value, got {text!r}")
    name, raw = text.split("=", 1)
    return name, raw


def _typed_key(name: str, raw: str, dtype: Any = None) -> Any:
    """A ``--key`` value parsed as its entity key's declared type (not guessed from the
    text: ``user_id=abc`` on an integer key is an error, ``sku=0042`` on a string key
    stays ``"0042"``); with no type (``dtype`` None) or another type, JSON if the text
    parses as JSON, else the text."""
    import pyarrow as pa

    if dtype is not None and pa.types.is_integer(dtype):
        try:
            return int(raw)
        except ValueError:
            raise InvalidArgument(
                f"--key {name}={raw}: {name} is an integer key ({dtype}); {raw!r} is not an integer"
            ) from None
    if dtype is not None and pa.types.is_floating(dtype):
        try:
            return float(raw)
        except ValueError:
            raise InvalidArgument(f"--key {name}={raw}: {name} is a {dtype} key; {raw!r} is not a number") from None
    if dtype is not None and (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@app.command("online")
def online_command(
    features: Annotated[list[str], typer.Argument(help="Feature refs view:feature, or one service name.")],
    key: Annotated[list[str], typer.Option(
        "--key", "-k", help="Entity key or request field, name=value (repeatable).")],
    lake: LakeOpt = DEFAULT_LAKE,
    catalog: CatalogOpt = None,
    online: OnlineOpt = None,
) -> None:
    """Look up the online feature values of one entity."""
    pairs = [_key_value(k) for k in key]
    with _open(lake, read_only=True, catalog=catalog, online=online) as lk:
        request: Any = features[0] if len(features) == 1 and ":" not in features[0] else features
        types = lk.features.key_types(request)
        row = {name: _typed_key(name, raw, types.get(name)) for name, raw in pairs}
        resp = lk.features.online([row], request)
        table = Table(title=f"online features of {row}")
        for col in ("feature", "value", "status"):
            table.add_column(col)
        for name, status in resp.statuses.items():
            color = {"present": "green", "expired": "yellow", "missing": "red"}[status[0]]
            table.add_row(name, repr(resp.values[name][0]), f"[{color}]{status[0]}[/]")
        _console().print(table)
