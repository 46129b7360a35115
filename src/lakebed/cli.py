"""The ``lakebed`` command line: a thin layer over the library.

Example:
    $ lakebed init ./lake
    $ lakebed demo
    $ lakebed tables ls ./lake
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable
from typer.core import TyperCommand, TyperGroup

import lakebed
from lakebed.config import DEFAULT_LAKE
from lakebed.lake import open_local

# Area commands live beside their areas (lakebed/<area>/cli.py) and are imported only when
# invoked, so `lakebed --help` or `lakebed tables ls` do not load FAISS, tantivy or torch.
# name -> (module, attribute, one-line help shown by `lakebed --help`)
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "collections": ("lakebed.vectors.cli", "app",
                    "Vector collections: list, inspect, search, flush, compact, vacuum."),
    "features": ("lakebed.features.cli", "app", "The feature store: definitions, materialization, online lookups."),
    "streams": ("lakebed.streams.cli", "app", "Streams: create, list, tail, lag; replay stream feature views."),
    "quality": ("lakebed.quality.cli", "app",
                "Data quality: contracts, validation results, profiles, drift, reports."),
    "runs": ("lakebed.tracking.cli", "runs_app", "Experiment runs: list, show, compare."),
    "cluster": ("lakebed.cluster.cli", "app", "A lakebed cluster on NATS JetStream: status of nodes and shards."),
    "models": ("lakebed.tracking.cli", "models_app", "The model registry: list models, show versions."),
    "lineage": ("lakebed.tracking.cli", "lineage_command",
                "Show the lineage of REF as a tree: what it was made from (or, with -d, what used it)."),
    "ingest": ("lakebed.rag.cli", "ingest_command",
               "Ingest documents (.txt .md .html .pdf) into a collection: chunk, embed, index."),
    "query": ("lakebed.rag.cli", "query_command",
              "Retrieve the chunks of COLLECTION that best answer QUESTION, with citations."),
    "import": ("lakebed.importers.cli", "app",
               "Import from other tools: MLflow tracking stores, Feast repositories."),
}


def load_command(name: str) -> Any:
    """Import the area command ``name`` of :data:`LAZY_COMMANDS` as a (typer) command."""
    import importlib

    module, attr, _ = LAZY_COMMANDS[name]
    try:
        obj = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        console.print(f"[bold red]error:[/] 'lakebed {name}' needs the optional dependency "
                      f"{exc.name!r}, which is not installed; install it with: pip install 'lakebed[all]'")
        raise typer.Exit(2) from None
    if isinstance(obj, typer.Typer):
        cmd: Any = typer.main.get_group(obj)
    else:
        one = typer.Typer()
        one.command(name)(obj)
        cmd = typer.main.get_command(one)
    cmd.name = name
    return cmd


class _LazyGroup(TyperGroup):
    """The top-level group: area commands are listed from :data:`LAZY_COMMANDS` and
    imported on first use."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return [*names, *(n for n in LAZY_COMMANDS if n not in names)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None or cmd_name not in LAZY_COMMANDS:
            return cmd
        if self._listing:  # `lakebed --help`: the one-line help, without the import
            return TyperCommand(cmd_name, help=LAZY_COMMANDS[cmd_name][2])
        cmd = load_command(cmd_name)
        self.add_command(cmd, cmd_name)
        return cmd

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="lakebed",
    help="lakebed: versioned tables, vector search, a feature store and ML metadata in one lake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)
tables_app = typer.Typer(help="Versioned tables: list, inspect, history, SQL.", no_args_is_help=True)
app.add_typer(tables_app, name="tables")
keys_app = typer.Typer(help="API keys of the REST server: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

console = Console()
LakePath = Annotated[Path, typer.Argument(help="Path of the lake directory.")]
LakeOption = Annotated[
    Path, typer.Option("--lake", "-l", envvar="LAKEBED_LAKE", help="Path of the lake (or LAKEBED_LAKE).")
]


def _open(path: Path, read_only: bool = True) -> lakebed.Lake:
    return open_local(path, read_only=read_only, create=False)


def _print_rows(rows: list[dict[str, Any]], title: str | None = None) -> None:
    table = RichTable(title=title, header_style="bold cyan")
    if rows:
        for key in rows[0]:
            table.add_column(str(key))
        for row in rows:
            table.add_row(*[str(v) for v in row.values()])
    console.print(table)


@app.command()
def version() -> None:
    """Print the lakebed version."""
    console.print(f"lakebed {lakebed.__version__}")


@app.command()
def init(path: LakePath = Path(DEFAULT_LAKE)) -> None:
    """Create a new, empty lake at PATH."""
    with lakebed.connect(path) as lake:
        console.print(f"created lake at [bold]{lake.path}[/]")


@app.command()
def demo(
    path: Annotated[
        Path | None, typer.Argument(help="Directory for the demo lake (new); default: a temporary one.")
    ] = None,
    quick: Annotated[bool, typer.Option(help="Smaller data, for a faster run.")] = False,
) -> None:
    """Run the end-to-end tour: bronze -> silver -> gold, time travel, vectors, features, tracking."""
    from lakebed.demo import run_demo

    target = path or Path(tempfile.mkdtemp(prefix="lakebed-demo-")) / "lake"
    run_demo(target, console, quick=quick)


@tables_app.command("ls")
def tables_ls(
    path: LakeOption = Path(DEFAULT_LAKE),
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
) -> None:
    """List the tables of a lake with their versions and row counts."""
    with _open(path) as lake:
        rows = []
        for name in lake.tables.list(namespace):
            info = lake.tables.info(name)
            rows.append({"table": name, "version": info["version"], "rows": f"{info['num_rows']:,}"})
        _print_rows(rows, f"tables in {lake.path}")


@tables_app.command("show")
def tables_show(
    name: Annotated[str, typer.Argument(help="Table name, namespace.name.")],
    path: LakeOption = Path(DEFAULT_LAKE),
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 10,
    version: Annotated[int | None, typer.Option(help="Read this version.")] = None,
) -> None:
    """Show a table's schema and first rows."""
    with _open(path) as lake:
        info = lake.tables.info(name)
        console.print(f"[bold]{name}[/] version {info['version']}, {info['num_rows']:,} rows")
        if info["description"]:
            console.print(info["description"])
        for field in lake.tables.schema(name, version):
            console.print(f"  {field.name}: {field.type}")
        data = lake.tables.read(name, version=version).slice(0, limit)
        _print_rows(data.to_pylist())


@tables_app.command("history")
def tables_history(
    name: Annotated[str, typer.Argument(help="Table name, namespace.name.")], path: LakeOption = Path(DEFAULT_LAKE)
) -> None:
    """Show a table's versions (newest first)."""
    with _open(path) as lake:
        rows = [
            {
                "version": h["version"],
                "timestamp": h["timestamp"].isoformat(timespec="seconds"),
                "operation": h["operation"],
                "metrics": json.dumps({k: v for k, v in h["metrics"].items() if "num" in k})[:80],
            }
            for h in lake.tables.history(name)
        ]
        _print_rows(rows, f"history of {name}")


@tables_app.command("import")
def tables_import(
    file: Annotated[Path, typer.Argument(
        help="The file: .csv .tsv .jsonl .ndjson .avro .parquet (CSV and JSON Lines may end in .gz .bz2 .zst).")],
    name: Annotated[str, typer.Argument(help="Table name, namespace.name.")],
    lake_at: Annotated[str, typer.Option(
        "--lake", "-l", envvar="LAKEBED_LAKE",
        help="Path of the lake, or the http(s) URL of a lakebed server (or LAKEBED_LAKE).")] = DEFAULT_LAKE,
    file_format: Annotated[str | None, typer.Option(
        "--format", "-f", help="csv, jsonl, avro or parquet (default: from the file's extension).")] = None,
    mode: Annotated[str, typer.Option(
        help="create: a new table; append or overwrite: an existing one.")] = "create",
    types: Annotated[list[str] | None, typer.Option(
        "--type", "-t", help="NAME=TYPE: read the column NAME as TYPE, e.g. zip=string (repeatable).")] = None,
    delimiter: Annotated[str | None, typer.Option(help="The CSV field separator (default , and tab for .tsv).")
                         ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="LAKEBED_API_KEY",
                                                help="API key, for a server (or LAKEBED_API_KEY).")] = None,
) -> None:
    """Import a CSV, JSON Lines, Avro or Parquet FILE into the table NAME, in one commit.

    A line that does not read stops the import with its number, and nothing is written.
    """
    import pyarrow as pa
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from lakebed.tables._arrow import parse_schema
    from lakebed.tables._files import open_file

    if mode not in ("create", "append", "overwrite"):
        raise typer.BadParameter(f"{mode!r} is not one of create, append, overwrite", param_hint="--mode")
    column_types: dict[str, str] = {}
    for spec in types or []:
        column, sep, kind = spec.partition("=")
        if not sep or not column.strip() or not kind.strip():
            raise typer.BadParameter(f"{spec!r} is not NAME=TYPE (e.g. zip=string)", param_hint="--type")
        column_types[column.strip()] = kind.strip()
    remote = lake_at.startswith(("http://", "https://"))
    with lakebed.connect(lake_at, api_key=api_key) if remote else _open(Path(lake_at), read_only=False) as lake:
        schema = parse_schema(column_types)
        if mode != "create":  # read the file's columns as the table's types
            if remote:
                table_schema = lake.tables.read(name, where="FALSE").schema
            else:
                table_schema = lake.tables.schema(name)
            overrides = schema
            schema = pa.schema([overrides.field(f.name) if f.name in overrides.names else f for f in table_schema]
                               + [f for f in overrides if f.name not in table_schema.names])
        elif lake.tables.exists(name):
            raise lakebed.AlreadyExists(f"table {name!r} exists; import into it with --mode append or overwrite")
        big = file.is_file() and file.stat().st_size >= 16 * 1024 * 1024
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                            TimeRemainingColumn(), console=console, transient=True, disable=not big)
        with progress:
            task = progress.add_task(f"reading {file.name}", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total,
                                description=f"reading {file.name}" if done < total else f"writing {name}")

            reader = open_file(file, file_format, schema, delimiter=delimiter, on_progress=advance)
            if mode == "create":
                version = lake.tables.create(name, data=reader)
            else:
                version = lake.tables.write(name, reader, mode="append" if mode == "append" else "overwrite")
    console.print(f"imported {reader.rows_read:,} rows, {len(reader.schema)} columns from {escape(str(file))} "
                  f"into [bold]{name}[/] (version {version})")


@tables_app.command("sql")
def tables_sql(
    query: Annotated[str, typer.Argument(help="SQL; refer to tables as namespace.name.")],
    path: LakeOption = Path(DEFAULT_LAKE),
    limit: Annotated[int, typer.Option(help="Rows to print at most.")] = 50,
) -> None:
    """Run a SQL query (DuckDB) over the lake's tables."""
    with _open(path) as lake:
        result = lake.sql(query)
        _print_rows(result.slice(0, limit).to_pylist())
        if result.num_rows > limit:
            console.print(f"[dim]... {result.num_rows - limit:,} more rows[/dim]")


@app.command()
def serve(
    path: LakePath,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs an API key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    workers: Annotated[int, typer.Option(
        help="Processes: the writer plus N-1 read workers answering online reads and searches.")] = 1,
    threads: Annotated[int, typer.Option(help="Request threads in the writer process.")] = 8,
    loop: Annotated[str, typer.Option(help="Event loop: asyncio, uvloop or auto (see docs/server.md).")] = "asyncio",
    public_metrics: Annotated[bool, typer.Option(
        help="Answer /metrics without a key (it names every table and collection).")] = False,
    sql_timeout: Annotated[float, typer.Option(help="Seconds a POST /v1/sql query may run.", min=0.001)] = 10.0,
    sql_max_rows: Annotated[int, typer.Option(help="Rows a POST /v1/sql answer may hold.", min=1)] = 100_000,
    stream_processors: Annotated[bool, typer.Option(
        "--stream-processors", help="Also run the stream processor of every stream feature view in the writer "
                                    "(views applied later are picked up).")] = False,
    cluster: Annotated[str | None, typer.Option(
        help="Join a lakebed cluster on these NATS servers: nats://h1:4222,nats://h2:4222,...")] = None,
    node_id: Annotated[str | None, typer.Option(help="This node's name in the cluster (with --cluster).")] = None,
    cluster_name: Annotated[str, typer.Option(help="The cluster's name (several clusters can share NATS).")
                            ] = "lakebed",
    advertise: Annotated[str | None, typer.Option(
        help="The URL other nodes and clients reach this node at (default http://HOST:PORT).")] = None,
) -> None:
    """Serve the lake over HTTP (the same API for lakebed.connect("http://...")."""
    from lakebed.server import serve as run

    more = f", {workers} processes" if workers > 1 else ""
    more += ", stream processors" if stream_processors else ""
    more += f", cluster node {node_id}" if cluster else ""
    run(path, host=host, port=port, workers=workers, threads=threads, loop=loop, public_metrics=public_metrics,
        sql_timeout=sql_timeout, sql_max_rows=sql_max_rows, stream_processors=stream_processors,
        cluster=cluster, node_id=node_id, cluster_name=cluster_name, advertise=advertise,
        on_ready=lambda: console.print(f"serving [bold]{path}[/] on http://{host}:{port} (OpenAPI at /docs{more})"))


@app.command()
def ui(
    path: LakePath,
    host: Annotated[str, typer.Option(help="Loopback address to bind (the UI of an embedded lake stays on this "
                                           "machine; use `lakebed serve` with API keys to share it).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8766,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the UI in the default browser.")] = False,
) -> None:
    """Browse the lake in a web browser: tables, collections, features, runs, models, lineage, quality."""
    from lakebed.server import serve as run
    from lakebed.server._app import is_loopback

    if not is_loopback(host):
        raise typer.BadParameter(f"{host!r} is not a loopback address; `lakebed ui` serves on this machine only "
                                 "(use `lakebed serve` with an API key to share a lake)", param_hint="--host")
    url = f"http://{host}:{port}/ui/"

    def ready() -> None:
        console.print(f"lakebed UI of [bold]{path}[/] at [bold]{url}[/] (Ctrl-C stops it)")
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    run(path, host=host, port=port, on_ready=ready)


CheckPath = Annotated[
    Path, typer.Argument(envvar="LAKEBED_LAKE", help="Path of the lake (or LAKEBED_LAKE).")
]
CatalogOption = Annotated[
    str | None,
    typer.Option("--catalog", envvar="LAKEBED_CATALOG",
                 help="The catalog URL of a lake whose catalog is in PostgreSQL (or LAKEBED_CATALOG)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def check(path: CheckPath = Path(DEFAULT_LAKE), catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """Check every file of the lake at PATH: lakebed.toml, the catalog, tables, collections,
    the online store and artifacts. Exit code 1 when a problem is found."""
    from lakebed.check import check_lake

    problems = check_lake(path, catalog=catalog)
    if as_json:
        typer.echo(json.dumps({"lake": str(path), "problems": [p.to_dict() for p in problems]}, indent=2))
    elif not problems:
        console.print(f"[green]no problems found[/] in {path}")
    else:
        table = RichTable(title=f"{len(problems)} problem(s) in {path}", header_style="bold cyan")
        for col in ("area", "name", "file", "problem", "action", "repair"):
            table.add_column(col, overflow="fold")
        for p in problems:
            table.add_row(*(escape(v) for v in (p.area, p.name, p.file, p.what, p.action)),
                          "yes" if p.repairable else "no")
        console.print(table)
        if any(p.repairable for p in problems):
            console.print(f"`lakebed repair {path}` fixes the problems marked yes, and says what it loses")
    if problems:
        raise typer.Exit(1)


@app.command()
def repair(path: CheckPath = Path(DEFAULT_LAKE), catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """Repair what `lakebed check` marks repairable (never run by itself): damaged files are
    moved aside, and every action says what was lost. Exit code 1 when problems remain."""
    from lakebed.check import check_lake, repair_lake

    done = repair_lake(path, catalog=catalog)
    left = check_lake(path, catalog=catalog)
    if as_json:
        typer.echo(json.dumps({"lake": str(path), "repaired": done,
                               "remaining": [p.to_dict() for p in left]}, indent=2))
    else:
        for line in done:
            console.print(f"repaired {escape(line)}")
        if not done:
            console.print("nothing to repair")
        for p in left:
            console.print(f"[bold red]remains:[/] {escape(str(p))}")
    if left:
        raise typer.Exit(1)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A name for the key's holder.")],
    path: LakeOption = Path(DEFAULT_LAKE),
    scope: Annotated[list[str], typer.Option(help="read, write, admin or metrics (repeatable).")] = ["read"],  # noqa: B006
    grant: Annotated[list[str] | None, typer.Option(help="Limit to names, e.g. tables:silver.* (repeatable).")] = None,
) -> None:
    """Create an API key; its secret is printed once."""
    from lakebed.server import keys

    with lakebed.connect(path, create=False) as lake:
        key = keys.create(lake, name, scope, grant)
    console.print(f"key id [bold]{key.key_id}[/], scopes {list(key.scopes)}")
    console.print(f"secret (shown once): [bold]{key.secret}[/]")


@keys_app.command("ls")
def keys_ls(path: LakeOption = Path(DEFAULT_LAKE)) -> None:
    """List active API keys (never their secrets)."""
    from lakebed.server import keys

    with _open(path) as lake:
        _print_rows([{"key_id": k.key_id, "name": k.name, "scopes": ",".join(k.scopes),
                      "grants": ",".join(k.grants) or "-"} for k in keys.list_keys(lake)], "API keys")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (or unique name).")], path: LakeOption = Path(DEFAULT_LAKE)
) -> None:
    """Revoke an API key."""
    from lakebed.server import keys

    with lakebed.connect(path, create=False) as lake:
        keys.revoke(lake, key_id)
    console.print(f"revoked {key_id}")


def main() -> None:
    """Entry point: run the CLI, turning LakebedError into a one-line message and exit 1."""
    try:
        app()
    except lakebed.LakebedError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
