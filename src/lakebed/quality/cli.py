"""Command line of data quality: ``lakebed quality contracts|plan|apply|validate|results|
profile|drift|report``.

Every command takes ``--lake/-l`` (or ``LAKEBED_LAKE``) and ``--catalog``::

    $ lakebed quality apply contracts.py --lake ./lake        # Contract objects in a Python file
    $ lakebed quality validate silver.users --lake ./lake     # exit code 1 when a check fails
    $ lakebed quality results silver.users --failed --lake ./lake
    $ lakebed quality profile silver.users --lake ./lake
    $ lakebed quality drift gold.train@3 predictions:fraud@2 --lake ./lake
    $ lakebed quality report --table silver.users --profile -o report.html --lake ./lake
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lakebed.config import DEFAULT_LAKE

app = typer.Typer(help="Data quality: contracts, validation results, profiles, drift, reports.",
                  no_args_is_help=True)

LakeOpt = Annotated[
    str, typer.Option("--lake", "-l", envvar="LAKEBED_LAKE", help="Path of the lake (or LAKEBED_LAKE).")
]
CatalogOpt = Annotated[
    str | None, typer.Option("--catalog", envvar="LAKEBED_CATALOG", help="Catalog URL (postgresql://...).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_BARS = " ▁▂▃▄▅▆▇█"


def _console() -> Console:
    return Console()


def _open(path: str, *, read_only: bool, catalog: str | None = None) -> Any:
    """The lake at ``path``; a LakebedError becomes a one-line message and exit code 1."""
    from lakebed.streams.cli import open_lake

    return open_lake(path, read_only=read_only, catalog=catalog)


def _json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=1, default=str) + "\n")


def spark(counts: list[int] | None) -> str:
    """A histogram as one line of block characters."""
    if not counts:
        return ""
    top = max(counts) or 1
    return "".join(_BARS[min(len(_BARS) - 1, round(c / top * (len(_BARS) - 1)))] for c in counts)


def load_contracts(path: Path) -> list[Any]:
    """The :class:`~lakebed.quality.Contract` objects defined at the top level of a Python file."""
    from lakebed.features.cli import load_objects
    from lakebed.quality import Contract

    return load_objects(path, (Contract,), "Contract (lakebed.quality.Contract(table, checks=[...]))")


def _print_plan(plan: Any, applied: bool) -> None:
    table = Table(title="applied" if applied else "plan (nothing changed yet)")
    for col in ("", "table", "version", "changes"):
        table.add_column(col)
    colors = {"create": "green", "update": "yellow", "delete": "red", "unchanged": "dim"}
    for ch in plan.changes:
        sign = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}[ch.action]
        table.add_row(f"[{colors[ch.action]}]{sign}[/]", escape(ch.table), f"v{ch.version}",
                      escape("; ".join(ch.detail)))
    _console().print(table)


@app.command("plan")
def plan_command(
    contracts: Annotated[Path, typer.Argument(help="Python file defining Contract objects.")],
    lake: LakeOpt = DEFAULT_LAKE,
    prune: Annotated[bool, typer.Option(help="Also drop contracts missing from the file.")] = False,
    catalog: CatalogOpt = None,
) -> None:
    """Show what `apply` would change, without changing anything."""
    with _open(lake, read_only=True, catalog=catalog) as lk:
        _print_plan(lk.quality.plan(load_contracts(contracts), prune=prune), applied=False)


@app.command("apply")
def apply_command(
    contracts: Annotated[Path, typer.Argument(help="Python file defining Contract objects.")],
    lake: LakeOpt = DEFAULT_LAKE,
    prune: Annotated[bool, typer.Option(help="Also drop contracts missing from the file.")] = False,
    catalog: CatalogOpt = None,
) -> None:
    """Store the contracts of a file (a new version for each changed one)."""
    with _open(lake, read_only=False, catalog=catalog) as lk:
        _print_plan(lk.quality.apply(load_contracts(contracts), prune=prune), applied=True)


@app.command("contracts")
def contracts_command(lake: LakeOpt = DEFAULT_LAKE, catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """The contracts in force."""
    with _open(lake, read_only=True, catalog=catalog) as lk:
        cs = lk.quality.contracts()
        if as_json:
            _json([{"table": c.table, "version": c.version, **c.to_spec()} for c in cs])
            return
        table = Table(title="contracts")
        for col in ("table", "version", "on violation", "checks"):
            table.add_column(col)
        for c in cs:
            table.add_row(escape(c.table), str(c.version), c.on_violation,
                          escape(", ".join(ch.label for ch in c.checks)))
        _console().print(table)


def _print_result(res: Any) -> None:
    where = f"{res.table}@{res.table_version}" if res.table else "data"
    verdict = "[green]passed[/]" if res.passed else "[red]FAILED[/]"
    table = Table(title=f"{escape(where)}: {verdict} ({res.action}, {res.rows:,} rows, result {res.ref})")
    for col in ("", "check", "failing", "detail / example"):
        table.add_column(col)
    for o in res.checks:
        mark = "[green]✓[/]" if o.passed else "[red]✗[/]"
        example = o.detail or (json.dumps(o.samples[0], default=str)[:100] if o.samples else "")
        table.add_row(mark, escape(o.name), "" if o.level == "dataset" else f"{o.failing:,}", escape(example))
    _console().print(table)


@app.command("validate")
def validate_command(
    table: Annotated[str, typer.Argument(help="Table name, optionally @version (silver.users@3).")],
    lake: LakeOpt = DEFAULT_LAKE,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the table's contract over a stored version; exit code 1 when a check fails."""
    with _open(lake, read_only=False, catalog=catalog) as lk:
        res = lk.quality.validate(table)
        if as_json:
            _json(res.to_dict())
        else:
            _print_result(res)
    if not res.passed:
        raise typer.Exit(1)


@app.command("results")
def results_command(
    table: Annotated[str | None, typer.Argument(help="Only results of this table.")] = None,
    lake: LakeOpt = DEFAULT_LAKE,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed validations.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 20,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stored validation results, newest first."""
    with _open(lake, read_only=True, catalog=catalog) as lk:
        rs = lk.quality.results(table, passed=False if failed else None, limit=limit)
        if as_json:
            _json([r.to_dict() for r in rs])
            return
        out = Table(title="validation results")
        for col in ("id", "table", "version", "contract", "action", "rows", "verdict", "failed checks", "time"):
            out.add_column(col)
        for r in rs:
            verdict = "[green]passed[/]" if r.passed else "[red]failed[/]"
            out.add_row(str(r.id), escape(r.table or ""), "" if r.table_version is None else str(r.table_version),
                        "" if r.contract_version is None else f"v{r.contract_version}", r.action, f"{r.rows:,}",
                        verdict, escape(", ".join(f"{o.name} ({o.failing:,})" if o.level == "row" else o.name
                                                  for o in r.failed)),
                        r.created_at.strftime("%Y-%m-%d %H:%M:%S"))
        _console().print(out)


@app.command("profile")
def profile_command(
    table: Annotated[str, typer.Argument(help="Table name, optionally @version.")],
    lake: LakeOpt = DEFAULT_LAKE,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Profile a table version (stored with it): nulls, distinct, range, quantiles, histogram."""
    with _open(lake, read_only=False, catalog=catalog) as lk:
        p = lk.quality.profile(table)
        if as_json:
            _json(p.to_dict())
            return
        out = Table(title=f"{escape(p.target)}@{p.version}: {p.rows:,} rows")
        for col in ("column", "type", "nulls", "distinct", "min", "max", "mean", "histogram / top"):
            out.add_column(col)
        for c in p.columns:
            hist = spark((c.get("histogram") or {}).get("counts"))
            if not hist and c.get("top"):
                hist = ", ".join(f"{t['value']} ({t['count']:,})" for t in c["top"][:3])
            distinct = "" if c["distinct"] is None else f"{'~' if c['distinct_approx'] else ''}{c['distinct']:,}"
            mean = "" if c["mean"] is None else f"{c['mean']:.4g}"
            out.add_row(escape(c["name"]), escape(c["type"]), f"{c['nulls']:,} ({c['null_fraction']:.1%})", distinct,
                        escape(str(c["min"] if c["min"] is not None else ""))[:24],
                        escape(str(c["max"] if c["max"] is not None else ""))[:24], mean, escape(hist))
        _console().print(out)


@app.command("drift")
def drift_command(
    reference: Annotated[str, typer.Argument(
        help="Reference: table[@version], predictions:<model>, collection:<name>.")],
    current: Annotated[str, typer.Argument(help="Current: as the reference.")],
    lake: LakeOpt = DEFAULT_LAKE,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns (default: those in common).")] = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Drift per column and for the dataset; exit code 1 when the dataset drifted."""
    with _open(lake, read_only=True, catalog=catalog) as lk:
        rep = lk.quality.drift(reference, current, columns.split(",") if columns else None)
    if as_json:
        _json(rep.to_dict())
    else:
        verdict = "[red]DRIFTED[/]" if rep.drifted else "[green]no drift[/]"
        out = Table(title=f"{escape(rep.reference)} → {escape(rep.current)}: {verdict} "
                          f"({rep.drifted_columns}/{len(rep.columns)} columns)")
        for col in ("column", "kind", "method", "score", "threshold", "", "reference vs current"):
            out.add_column(col)
        for c in rep.columns:
            h = c.histogram or {}
            shape = f"{spark(h.get('reference'))} │ {spark(h.get('current'))}" if h else ""
            out.add_row(escape(c.column), c.kind, c.method, "" if c.score is None else f"{c.score:.4g}",
                        f"{c.threshold:g}", "[red]drift[/]" if c.drifted else "[green]ok[/]", shape)
        _console().print(out)
    if rep.drifted:
        raise typer.Exit(1)


@app.command("report")
def report_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write (.html or .json).")],
    lake: LakeOpt = DEFAULT_LAKE,
    table: Annotated[str | None, typer.Option(help="Validation results (and --profile) of this table.")] = None,
    reference: Annotated[str | None, typer.Option(help="Drift: the reference side.")] = None,
    current: Annotated[str | None, typer.Option(help="Drift: the current side.")] = None,
    model: Annotated[str | None, typer.Option(help="Monitor a model: its served inputs vs its training set.")] = None,
    profile: Annotated[bool, typer.Option("--profile", help="Profile --table now and include it.")] = False,
    title: Annotated[str | None, typer.Option(help="The report's title.")] = None,
    catalog: CatalogOpt = None,
) -> None:
    """Write a self-contained HTML (or JSON) report with plots."""
    if (reference is None) != (current is None):
        _console().print("[red]error:[/red] give both --reference and --current, or neither")
        raise typer.Exit(2)
    with _open(lake, read_only=not profile, catalog=catalog) as lk:
        drift: Any = None
        if model is not None:
            drift = lk.quality.monitor(model)
        elif reference is not None:
            drift = lk.quality.drift(reference, current)
        rep = lk.quality.report(table=table, drift=drift, profile=bool(profile and table), title=title)
        path = rep.save(output)
    _console().print(f"wrote {escape(str(path))}")
