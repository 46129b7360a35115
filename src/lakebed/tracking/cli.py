"""Command line for the tracking area: ``lakebed runs ...``, ``lakebed models ...`` and
``lakebed lineage REF``. A thin layer over :mod:`lakebed.tracking`; every command opens
the lake read-only, so it works next to a running writer.

``lakebed/cli.py`` mounts ``runs_app`` and ``models_app`` as groups and registers
:func:`lineage_command` as ``lakebed lineage``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import lakebed
from lakebed.config import DEFAULT_LAKE
from lakebed.errors import LakebedError, NotFound
from lakebed.lake import open_local


def _console() -> Console:
    # made per command so that the width follows the terminal (and COLUMNS in tests)
    return Console()


LakeOpt = Annotated[
    str,
    typer.Option("--lake", "-l", envvar="LAKEBED_LAKE", help="Path of the lake (or LAKEBED_LAKE)."),
]

runs_app = typer.Typer(help="Experiment runs: list, show, compare.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: list models, show versions.", no_args_is_help=True)


@contextmanager
def _open(path: str) -> Iterator[lakebed.Lake]:
    try:
        lake = open_local(path, read_only=True)
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


def _when(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return str(value.strftime("%Y-%m-%d %H:%M:%S"))


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


_STATUS = {"FINISHED": "green", "FAILED": "red", "RUNNING": "yellow", "KILLED": "magenta"}


def _status(s: str) -> str:
    color = _STATUS.get(s, "white")
    return f"[{color}]{s}[/{color}]"


def _resolve_run(lake: lakebed.Lake, prefix: str) -> str:
    """A full run id from an id or a unique prefix of one."""
    try:
        return lake.runs.get(prefix).id
    except NotFound:
        pass
    safe = prefix.replace("'", "''")
    found = lake.runs.search(f"run_id like '{safe}%'", limit=2)["run_id"].to_pylist()
    if len(found) == 1:
        return str(found[0])
    if not found:
        raise NotFound(f"no run with id {prefix!r}; list runs with `lakebed runs ls`")
    raise NotFound(f"{prefix!r} matches several runs; give more characters of the id")


@runs_app.command("ls")
def runs_ls(
    lake: LakeOpt = DEFAULT_LAKE,
    experiment: Annotated[str | None, typer.Option("--experiment", "-e", help="Only this experiment.")] = None,
    filter: Annotated[
        str, typer.Option("--filter", "-f", help="Search filter, e.g. \"metrics.auc > 0.9 and params.lr = '0.1'\".")
    ] = "",
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", "-o", help="e.g. 'metrics.auc desc' (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most this many runs.")] = 20,
    metrics: Annotated[int, typer.Option(help="Show at most this many metric columns.")] = 4,
) -> None:
    """List runs, newest first (or as ordered), with their latest metrics."""
    with _open(lake) as lk:
        t = lk.runs.search(filter, experiment=experiment, order_by=order_by, limit=limit)
        table = Table(title=f"{t.num_rows} run(s)")
        for col in ("run", "experiment", "name", "status", "started", "duration"):
            table.add_column(col)
        mcols = [c for c in t.column_names if c.startswith("metrics.")][:metrics]
        for c in mcols:
            table.add_column(c[len("metrics.") :], justify="right")
        for r in t.to_pylist():
            dur = "-"
            if r["end_time"] is not None:
                dur = f"{(r['end_time'] - r['start_time']).total_seconds():.1f}s"
            table.add_row(
                r["run_id"][:12],
                r["experiment"],
                r["name"] or "",
                _status(r["status"]),
                _when(r["start_time"]),
                dur,
                *(_num(r[c]) for c in mcols),
            )
        _console().print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A run id (or a unique prefix of one).")],
    lake: LakeOpt = DEFAULT_LAKE,
) -> None:
    """Show one run: attributes, params, latest metrics, tags, inputs, artifacts."""
    with _open(lake) as lk:
        run = lk.runs.get(_resolve_run(lk, run_id))
        info = Table(show_header=False, title=f"run {run.id}")
        info.add_column(style="bold")
        info.add_column()
        for key, value in (
            ("experiment", run.experiment),
            ("name", run.name or ""),
            ("status", _status(run.status)),
            ("started", _when(run.start_time)),
            ("ended", _when(run.end_time)),
            ("git", f"{run.git_commit or '-'}{' (dirty)' if run.git_dirty else ''}"),
            ("python", run.python_version or "-"),
            ("host", f"{run.user or '?'}@{run.host or '?'}"),
            ("inputs", ", ".join(run.inputs) or "-"),
        ):
            info.add_row(key, str(value))
        if run.error:
            info.add_row("error", f"[red]{run.error}[/red]")
        _console().print(info)
        for title, values in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
            if values:
                t = Table(title=title)
                t.add_column("key")
                t.add_column("value", justify="right" if title == "metrics" else "left")
                for k, v in sorted(values.items()):
                    t.add_row(k, _num(v))
                _console().print(t)
        if run.artifacts:
            t = Table(title="artifacts")
            for c in ("name", "kind", "flavor", "size", "sha256"):
                t.add_column(c)
            for a in run.artifacts:
                t.add_row(a.name, a.kind, a.flavor or "", f"{a.size:,}", a.sha256[:16])
            _console().print(t)


@runs_app.command("compare")
def runs_compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique prefixes).")],
    lake: LakeOpt = DEFAULT_LAKE,
    all_params: Annotated[bool, typer.Option("--all", help="Also show params that are equal.")] = False,
) -> None:
    """Compare runs side by side: params (differing ones by default) and latest metrics."""
    with _open(lake) as lk:
        runs = [lk.runs.get(_resolve_run(lk, r)) for r in run_ids]
        table = Table(title="comparison")
        table.add_column("")
        for r in runs:
            table.add_column(r.id[:12] + (f"\n{r.name}" if r.name else ""), justify="right")
        table.add_row("status", *(_status(r.status) for r in runs))
        params = [r.params for r in runs]
        for key in sorted(set().union(*params)):
            values = [p.get(key) for p in params]
            same = len(set(values)) == 1
            if same and not all_params:
                continue
            style = "" if same else "[bold yellow]"
            table.add_row(f"params.{key}", *(f"{style}{v if v is not None else '-'}" for v in values))
        metrics = [r.metrics for r in runs]
        for key in sorted(set().union(*metrics)):
            vals = [m.get(key) for m in metrics]
            present = [v for v in vals if v is not None and not math.isnan(v)]
            best = max(present) if present else None
            table.add_row(
                f"metrics.{key}",
                *(f"[bold green]{_num(v)}" if v == best and len(present) > 1 else _num(v) for v in vals),
            )
        _console().print(table)


@models_app.command("ls")
def models_ls(lake: LakeOpt = DEFAULT_LAKE) -> None:
    """List registered models with their latest version and aliases."""
    with _open(lake) as lk:
        table = Table(title="models")
        for c in ("name", "latest", "aliases", "updated", "description"):
            table.add_column(c)
        for m in lk.models.list():
            aliases = ", ".join(f"{a}→{v}" for a, v in m["aliases"].items())
            table.add_row(
                m["name"],
                str(m["latest_version"] or "-"),
                aliases,
                _when(m["updated_at"]),
                m["description"] or "",
            )
        _console().print(table)


@models_app.command("show")
def models_show(
    ref: Annotated[str, typer.Argument(help="A model (fraud) or a version (fraud@3, fraud@champion).")],
    lake: LakeOpt = DEFAULT_LAKE,
) -> None:
    """Show the versions of a model, or one version in detail."""
    with _open(lake) as lk:
        if "@" in ref:
            versions = [lk.models.get(ref)]
        else:
            versions = lk.models.versions(ref.removeprefix("model:"))
        table = Table(title=f"model {versions[0].name}")
        for c in ("version", "aliases", "run", "flavor", "created", "sha256", "description"):
            table.add_column(c)
        for v in versions:
            table.add_row(
                str(v.version),
                ", ".join(v.aliases),
                (v.run_id or "-")[:12],
                v.flavor or "",
                _when(v.created_at),
                v.sha256[:16],
                v.description or "",
            )
        _console().print(table)


def lineage_command(
    ref: Annotated[str, typer.Argument(help="A ref: model:fraud@champion, table:gold.train@3, run:<id>, ...")],
    lake: LakeOpt = DEFAULT_LAKE,
    downstream: Annotated[
        bool, typer.Option("--downstream", "-d", help="Show what was made from REF instead.")
    ] = False,
    depth: Annotated[int | None, typer.Option(help="Follow at most this many edges.")] = None,
) -> None:
    """Show the lineage of REF as a tree: what it was made from (or, with -d, what used it)."""
    with _open(lake) as lk:
        graph = lk.lineage.downstream(ref, depth) if downstream else lk.lineage.upstream(ref, depth)
        _console().print(graph.to_tree())
