"""``lakebed import ...``: the importers' commands. Each importer lives in its own module
and is imported only when its command runs."""

from __future__ import annotations

import typer

from lakebed.config import DEFAULT_LAKE

app = typer.Typer(help="Import from other tools: MLflow tracking stores, Feast repositories.",
                  no_args_is_help=True)

# MLFLOW-COMMAND (lakebed/importers/mlflow.py registers nothing here; the command is below)
@app.command("mlflow")
def mlflow_command(
    tracking_uri: str = typer.Option(
        ..., "--tracking-uri", "-t",
        help="The MLflow store: sqlite:///path/mlflow.db, an mlruns folder, or any URI MLflow reads.",
    ),
    lake: str = typer.Option(DEFAULT_LAKE, "--lake", "-l", envvar="LAKEBED_LAKE",
                             help="Path of the lake (or LAKEBED_LAKE)."),
    experiment: list[str] = typer.Option(
        None, "--experiment", "-e", help="Import only this experiment (repeat for more); default: all."
    ),
    registry_uri: str = typer.Option(None, "--registry-uri", help="The model registry, when not the store."),
    mlflow_python: str = typer.Option(
        None, "--mlflow-python", help="A Python with mlflow installed, when this one has none."
    ),
) -> None:
    """Import an MLflow tracking store: experiments, runs with params, metric histories,
    tags and artifacts, and registered models with versions and aliases. Runs imported
    before are skipped.

    Example: lakebed import mlflow --tracking-uri sqlite:///mlflow.db --lake ./lake -e fraud
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from lakebed.errors import LakebedError
    from lakebed.importers.mlflow import import_mlflow
    from lakebed.lake import open_local

    console = Console()
    try:
        with (
            open_local(lake) as lk,
            Progress(TextColumn("[bold]mlflow[/] runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=console, transient=True) as bar,
        ):
            task = bar.add_task("runs", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = import_mlflow(lk, tracking_uri, experiments=experiment or None, progress=progress,
                                   registry_uri=registry_uri, python=mlflow_python)
    except LakebedError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    table = Table(title=f"MLflow {report.mlflow_version} -> lakebed ({report.seconds:.1f} s)",
                  header_style="bold cyan")
    table.add_column("imported")
    table.add_column("count", justify="right")
    for what, count in report.rows():
        table.add_row(what, count)
    console.print(table)
    for old, new in sorted(report.renamed.items()):
        console.print(f"model [bold]{escape(old)}[/] stored as [bold]{escape(new)}[/]")
    for s in report.skipped:
        console.print(f"[yellow]skipped[/] {s.kind} {escape(s.name)}: {escape(s.reason)}")


# FEAST-COMMAND
@app.command("feast")
def feast_command(
    repo_path: str = typer.Argument(..., help="The Feast repository: the directory with feature_store.yaml."),
    lake: str = typer.Option(DEFAULT_LAKE, "--lake", "-l", envvar="LAKEBED_LAKE",
                             help="Path of the lake (or LAKEBED_LAKE)."),
    apply: bool = typer.Option(False, "--apply", help="Import without asking; without it, only the plan is shown "
                               "(and, in a terminal, you are asked whether to apply it)."),
    namespace: str = typer.Option("feast", "--namespace", "-n",
                                  help="Namespace of the tables made from file sources (<namespace>.feast_<source>)."),
    feast_python: str = typer.Option(
        None, "--feast-python", envvar="LAKEBED_FEAST_PYTHON",
        help="A Python with Feast installed, when this one has none (e.g. a separate venv's bin/python).",
    ),
    from_registry: bool = typer.Option(False, "--from-registry",
                                       help="Read what `feast apply` recorded instead of the repository's files."),
) -> None:
    """Import a Feast repository: entities, feature views, on-demand views and feature
    services become lakebed definitions; file sources become tables. Shows the plan: every
    Feast object with its fate (imported, changed, not imported and why).

    Example: lakebed import feast ./feature_repo --lake ./lake --apply
    """
    import sys
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    import lakebed
    from lakebed.errors import LakebedError
    from lakebed.importers.feast import CHANGED, NOT_IMPORTED, apply_feast_plan, plan_feast, read_feast_repo

    console = Console()
    lake_path = lake
    exists = (Path(lake_path) / "lakebed.toml").exists()

    def show(plan: object, title: str) -> None:
        table = Table(title=title, header_style="bold cyan")
        for col in ("", "Feast object", "name", "lakebed", "fate", "notes"):
            table.add_column(col)
        signs = {"create": "[green]+[/]", "update": "[yellow]~[/]", "unchanged": "[dim]=[/]"}
        fates = {NOT_IMPORTED: "red", CHANGED: "yellow"}
        for o in plan.objects:  # type: ignore[attr-defined]
            color = fates.get(o.fate, "green")
            table.add_row(signs.get(o.action, "[red]x[/]" if o.fate == NOT_IMPORTED else ""), o.kind, o.name,
                          o.target or "-", f"[{color}]{o.fate}[/]", "\n".join(o.notes))
        console.print(table)

    try:
        with console.status("reading the Feast repository with Feast"):
            repo = read_feast_repo(repo_path, feast_python=feast_python, from_registry=from_registry)
        with lakebed.connect(lake_path if exists else ":memory:", read_only=exists) as lk:
            plan = plan_feast(lk, repo, namespace=namespace)
        title = f"Feast project {repo.project} (Feast {repo.feast_version}) -> lakebed {lake_path}"
        show(plan, title + ("" if exists else " (a new lake)"))
        counts = {f: sum(o.fate == f for o in plan.objects) for f in ("imported", CHANGED, NOT_IMPORTED)}
        console.print(", ".join(f"{n} {f}" for f, n in counts.items()))
        if not plan.has_changes:
            console.print("nothing to change: the lake already holds this import")
            return
        if not apply and not (sys.stdin.isatty() and typer.confirm("Apply this plan?", default=False)):
            console.print("nothing changed (run with --apply to import)")
            return
        with (
            lakebed.connect(lake_path) as lk,
            Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows"),
                     TimeElapsedColumn(), console=console, transient=True) as bar,
        ):
            tasks: dict[str, object] = {}

            def progress(step: str, done: int, total: int | None) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(step, total=total)
                bar.update(tasks[step], completed=done, total=total)  # type: ignore[arg-type]

            plan = apply_feast_plan(lk, plan_feast(lk, repo, namespace=namespace), progress=progress)
        changed = [c for c in plan.features_plan if c.action != "unchanged"]
        tables = [t for t in plan.tables if t.action != "unchanged"]
        console.print(f"[green]applied[/]: {len(tables)} tables written, {len(changed)} definitions created or "
                      "updated")
    except LakebedError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
