"""Command line of streams: ``lakebed streams ls|create|tail|lag|replay``.

Every command takes ``--lake/-l`` (or ``LAKEBED_LAKE``) and ``--streams URL`` (or
``LAKEBED_STREAMS``) for a broker backend; without it the lake's own setting (the
embedded log by default) is used::

    $ lakebed streams create clicks --schema 'user_id:int64,item:string,ts:timestamp[us, tz=UTC]' \\
          --key user_id --event-time ts --partitions 4 --retention 7d --lake ./lake
    $ lakebed streams ls --lake ./lake
    $ lakebed streams tail clicks --follow --lake ./lake
    $ lakebed streams lag clicks --group billing --lake ./lake
    $ lakebed streams replay user_clicks --since 2026-01-01T00:00:00+00:00 --lake ./lake
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import lakebed
from lakebed.config import DEFAULT_LAKE
from lakebed.errors import LakebedError

app = typer.Typer(help="Streams: create, list, tail, lag; replay stream feature views.", no_args_is_help=True)

LakeOpt = Annotated[
    str, typer.Option("--lake", "-l", envvar="LAKEBED_LAKE", help="Path of the lake (or LAKEBED_LAKE).")
]
StreamsOpt = Annotated[
    str | None,
    typer.Option("--streams", envvar="LAKEBED_STREAMS",
                 help="Streams backend URL: nats://host:4222 or redis://host:6379/0 (or LAKEBED_STREAMS); "
                      "default: the lake's setting, the embedded log."),
]
CatalogOpt = Annotated[
    str | None, typer.Option("--catalog", envvar="LAKEBED_CATALOG", help="Catalog URL (postgresql://...).")
]
OnlineOpt = Annotated[
    str | None, typer.Option("--online", envvar="LAKEBED_ONLINE", help="Online store URL (redis://, postgresql://).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _console() -> Console:
    return Console()


@contextmanager
def open_lake(path: str, *, read_only: bool, streams: str | None = None, catalog: str | None = None,
              online: str | None = None) -> Iterator[Any]:
    """The lake at ``path``; a LakebedError (opening it or inside the block) becomes a
    one-line message and exit code 1."""
    settings: dict[str, Any] = {}
    for name, value in (("streams", streams), ("catalog", catalog), ("online", online)):
        if value:
            settings[name] = value
    try:
        lake = lakebed.connect(path, read_only=read_only, create=False, **settings)
    except LakebedError as exc:
        _console().print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    try:
        yield lake
    except LakebedError as exc:
        _console().print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    finally:
        lake.close()


# -- parsing ------------------------------------------------------------------------------
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_SIZES = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "t": 1000**4, "tb": 1000**4, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_duration(text: str) -> timedelta:
    """``30s``, ``5m``, ``7d``, ``1h30m``, ``250ms``, ``2w`` as a timedelta.

    Example:
        >>> parse_duration("7d"), parse_duration("1h30m")
        (datetime.timedelta(days=7), datetime.timedelta(seconds=5400))
        >>> parse_duration("7x")
        Traceback (most recent call last):
        ...
        lakebed.errors.InvalidArgument: '7x' is not a duration; write a number and a unit ...
    """
    from lakebed.errors import InvalidArgument

    s = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise InvalidArgument(f"{text!r} is not a duration; write a number and a unit (ms, s, m, h, d, w), "
                              "e.g. 30s, 5m, 7d or 1h30m")
    if total <= 0:
        raise InvalidArgument(f"{text!r}: a duration must be more than 0, e.g. 30s, 5m or 7d")
    return timedelta(seconds=total)


def format_duration(value: timedelta | None) -> str:
    """The short form :func:`parse_duration` reads (``7d``, ``1h30m``), ``-`` for None.

    Example:
        >>> format_duration(timedelta(days=7)), format_duration(timedelta(seconds=5400.5))
        ('7d', '1h30m0.5s')
    """
    if value is None:
        return "-"
    us = round(value.total_seconds() * 1_000_000)
    out = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        n, us = divmod(us, size)
        if n:
            out.append(f"{n}{unit}")
    if us:
        out.append(f"{us // 1_000_000}s" if us % 1_000_000 == 0 else f"{us / 1_000_000:g}s")
    return "".join(out) or "0s"


def parse_size(text: str) -> int:
    """``1048576``, ``512MiB``, ``2GB``, ``1gib`` as bytes.

    Example:
        >>> parse_size("512MiB"), parse_size("2GB"), parse_size("1048576")
        (536870912, 2000000000, 1048576)
    """
    from lakebed.errors import InvalidArgument

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _SIZES:
        raise InvalidArgument(f"{text!r} is not a size; write bytes or a number and a unit, e.g. 1048576, "
                              "512MiB or 2GB")
    return int(float(m.group(1)) * _SIZES[unit])


def format_size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside ``[...]`` and ``<...>``."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "[<":
            depth += 1
        elif ch in "]>":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_schema(text: str) -> dict[str, str]:
    """``'user_id:int64,ts:timestamp[us, tz=UTC],emb:list<float32>'`` as ``{column: type}``;
    types are checked.

    Example:
        >>> parse_schema("user_id:int64, ts:timestamp[us, tz=UTC]")
        {'user_id': 'int64', 'ts': 'timestamp[us, tz=UTC]'}
    """
    from lakebed.errors import InvalidArgument, SchemaError
    from lakebed.features._definitions import parse_dtype

    out: dict[str, str] = {}
    example = "e.g. --schema 'user_id:int64,item:string,ts:timestamp[us, tz=UTC]'"
    for part in _split_top(text):
        if not part.strip():
            continue
        name, sep, dtype = part.partition(":")
        name, dtype = name.strip(), dtype.strip()
        if not sep or not name or not dtype:
            raise InvalidArgument(f"schema entry {part.strip()!r} is not name:type; {example}")
        if name in out:
            raise InvalidArgument(f"schema names column {name!r} twice")
        try:
            parse_dtype(dtype)
        except SchemaError:
            raise InvalidArgument(
                f"column {name!r}: unknown type {dtype!r}; use bool, int32, int64, float32, float64, string, binary, "
                "date32, timestamp[us], timestamp[us, tz=UTC] or list<float32>") from None
        out[name] = dtype
    if not out:
        raise InvalidArgument(f"the schema has no columns; {example}")
    return out


def _param(parse: Any, text: str | None, option: str) -> Any:
    """``parse(text)`` with its InvalidArgument as typer's BadParameter for ``option``
    (exit code 2)."""
    if text is None:
        return None
    try:
        return parse(text)
    except LakebedError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO time like 2026-05-01T00:00:00+00:00",
                                 param_hint="'--since'") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


# -- commands -----------------------------------------------------------------------------
@app.command("ls")
def ls_command(lake: LakeOpt = DEFAULT_LAKE, streams: StreamsOpt = None, catalog: CatalogOpt = None,
               as_json: JsonOpt = False) -> None:
    """List the streams: backend, partitions, key, event time, retention, records, groups and their lag."""
    with open_lake(lake, read_only=True, streams=streams, catalog=catalog) as lk:
        rows = lk.streams.describe()
        if as_json:
            typer.echo(json.dumps(rows, default=_json_default, indent=2))
            return
        table = Table(title=f"streams of {lk.path}", header_style="bold cyan")
        for col in ("stream", "backend", "partitions", "key", "event time", "retention", "records", "appended",
                    "groups (lag)"):
            table.add_column(col, justify="right" if col in ("partitions", "records", "appended") else "left")
        for r in rows:
            retention = format_duration(r["retention"])
            if r["retention_bytes"]:
                retention = f"{retention}, {format_size(r['retention_bytes'])}/partition"
            groups = ", ".join(f"{g} ({lag:,})" for g, lag in r["groups"].items()) or "-"
            table.add_row(escape(r["name"]), r["backend"], str(r["partitions"]), escape(r["key"] or "-"),
                          escape(r["event_time"] or "-"), retention, f"{r['records']:,}", f"{r['appended']:,}",
                          escape(groups))
        _console().print(table)
        if not rows:
            _console().print("no streams yet; create one with `lakebed streams create NAME --schema ...`")


@app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="Stream name (an identifier).")],
    schema: Annotated[str, typer.Option(
        help="Columns as name:type,... e.g. 'user_id:int64,item:string,ts:timestamp[us, tz=UTC]'.")],
    key: Annotated[str | None, typer.Option(help="Column picking a record's partition (one key stays in order).")
                   ] = None,
    event_time: Annotated[str | None, typer.Option(
        "--event-time", help="Timestamp column stream feature views window on.")] = None,
    partitions: Annotated[int, typer.Option(help="Partitions (more than 1 needs --key).")] = 1,
    retention: Annotated[str | None, typer.Option(help="Drop records older than this: 30s, 5m, 7d, 1h30m ...")
                         ] = None,
    retention_bytes: Annotated[str | None, typer.Option(
        "--retention-bytes", help="Per partition, drop the oldest records beyond this size: 512MiB, 2GB ...")] = None,
    id_field: Annotated[str | None, typer.Option(
        "--id-field", help="String column of message ids (idempotent appends).")] = None,
    dedup_window: Annotated[str, typer.Option(
        "--dedup-window", help="How long a message id is remembered: 2m, 1h ...")] = "2m",
    description: Annotated[str, typer.Option(help="A description.")] = "",
    lake: LakeOpt = DEFAULT_LAKE,
    streams: StreamsOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Create a stream."""
    columns = _param(parse_schema, schema, "--schema")
    ret = _param(parse_duration, retention, "--retention")
    ret_bytes = _param(parse_size, retention_bytes, "--retention-bytes")
    dedup = _param(parse_duration, dedup_window, "--dedup-window")
    with open_lake(lake, read_only=False, streams=streams, catalog=catalog) as lk:
        s = lk.streams.create(name, schema=columns, key=key, event_time=event_time, partitions=partitions,
                              retention=ret, retention_bytes=ret_bytes, id_field=id_field, dedup_window=dedup,
                              description=description)
        cols = ", ".join(f"{f.name}: {f.type}" for f in s.schema)
        _console().print(f"created stream [bold]{escape(s.name)}[/] ({s.partitions} partition"
                         f"{'s' if s.partitions != 1 else ''}, backend {s.backend.name}): {escape(cols)}")


class Start(StrEnum):
    """Where ``tail`` starts a partition without a committed offset."""

    earliest = "earliest"
    latest = "latest"


class Format(StrEnum):
    """How ``tail`` prints records."""

    auto = "auto"
    json = "json"
    table = "table"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    return str(value)


class RecordPrinter:
    """Prints consumed batches: JSON lines, or a compact table whose header is printed
    once (column widths from the first records)."""

    def __init__(self, fmt: str, columns: list[str], out: Any = None) -> None:
        self.fmt = fmt
        self.columns = columns
        self.out = out if out is not None else sys.stdout
        self.widths: list[int] | None = None

    def emit(self, batch: Any) -> None:
        rows = batch.to_pylist()
        if not rows:
            return
        lines: list[str] = []
        if self.fmt == "json":
            for r in rows:
                lines.append(json.dumps({c: r[c] for c in [*self.columns, "_partition", "_offset", "_time"]},
                                        default=_json_default, ensure_ascii=False))
        else:
            cells = [[f"{r['_partition']}:{r['_offset']}", _cell(r["_time"]), *(_cell(r[c]) for c in self.columns)]
                     for r in rows]
            if self.widths is None:
                head = ["p:offset", "appended", *self.columns]
                self.widths = [min(max(len(h), *(len(c[i]) for c in cells)), 40) for i, h in enumerate(head)]
                lines.append(self._line(head))
            lines.extend(self._line(c) for c in cells)
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def _line(self, cells: list[str]) -> str:
        assert self.widths is not None
        out = []
        for text, w in zip(cells, self.widths, strict=True):
            out.append(text if len(text) <= w else text[: w - 1] + "…")
        return "  ".join(t.ljust(w) for t, w in zip(out, self.widths, strict=True)).rstrip()


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM stops the command as Ctrl-C does (consumers leave their group)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@app.command("tail")
def tail_command(
    name: Annotated[str, typer.Argument(help="Stream name.")],
    group: Annotated[str | None, typer.Option(
        "--group", "-g", help="Read as a member of this consumer group, from its committed offsets.")] = None,
    start: Annotated[Start | None, typer.Option(
        "--from", help="Start at the first retained record or at the end (with --group: where a partition "
                       "without a committed offset starts). Default: the last --max records.")] = None,
    max_records: Annotated[int | None, typer.Option(
        "--max", "-n", min=1, help="Records to print at most (default 10; with --follow: no limit, and the "
                                   "backlog shown first is the last 10).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing records as they arrive, until "
                                                                "Ctrl-C.")] = False,
    fmt: Annotated[Format, typer.Option(
        "--format", help="json (one line per record), table, or auto: a table on a terminal, else JSON.")
                   ] = Format.auto,
    commit: Annotated[bool, typer.Option(help="With --group: commit the offsets of the printed records.")] = True,
    lake: LakeOpt = DEFAULT_LAKE,
    streams: StreamsOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Print a stream's records (the last ones, from the start, from a group's offsets) and, with --follow,
    the records appended after them as they arrive."""
    import pyarrow as pa

    kind = fmt.value if fmt is not Format.auto else ("table" if sys.stdout.isatty() else "json")
    limit = max_records if max_records is not None or follow else 10
    with open_lake(lake, read_only=True, streams=streams, catalog=catalog) as lk, _sigterm_interrupts():
        stream = lk.streams.get(name)
        printer = RecordPrinter(kind, stream.schema.names)
        consumer = stream.consumer(group, start=start.value if start is not None else "earliest")
        printed = 0
        try:
            if group is None and start is None:  # the last N records (by append time)
                n = max_records or 10
                backlog = []
                for k, (first, nxt) in enumerate(stream.bounds()):
                    at = max(first, nxt - n)
                    batch = stream.read(k, at, n) if nxt > at else None
                    if batch is not None and batch.num_rows:
                        backlog.append(batch)
                        at = int(batch.column("_offset")[-1].as_py()) + 1
                    consumer.seek(at, partition=k)
                if backlog:
                    rows = pa.Table.from_batches(backlog).sort_by([("_time", "ascending"), ("_partition", "ascending"),
                                                                   ("_offset", "ascending")])
                    rows = rows.slice(max(rows.num_rows - n, 0))
                    if limit is not None:
                        rows = rows.slice(0, limit)
                    for b in rows.to_batches():
                        printer.emit(b)
                    printed += rows.num_rows
                if not follow:
                    return
            while limit is None or printed < limit:
                batch = consumer.poll(max_records=min(1000, limit - printed) if limit else 1000,
                                      timeout=0.5 if follow else 0)
                if batch is None:
                    if follow:
                        continue
                    break
                printer.emit(batch)
                printed += batch.num_rows
                if group is not None and commit:
                    parts = batch.column("_partition").to_pylist()
                    offs = batch.column("_offset").to_pylist()
                    done: dict[int, int] = {}
                    for p, o in zip(parts, offs, strict=True):
                        done[p] = max(done.get(p, 0), o + 1)
                    consumer.commit(done)
        except KeyboardInterrupt:
            pass
        finally:
            consumer.close()
        if not printed and not follow and kind == "table":
            _console().print(f"[dim]no records in {escape(name)} from there[/dim]", highlight=False)


@app.command("lag")
def lag_command(
    name: Annotated[str, typer.Argument(help="Stream name.")],
    group: Annotated[str | None, typer.Option("--group", "-g", help="Only this consumer group.")] = None,
    lake: LakeOpt = DEFAULT_LAKE,
    streams: StreamsOpt = None,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per partition: first retained offset, next offset, and each group's committed offset and lag."""
    with open_lake(lake, read_only=True, streams=streams, catalog=catalog) as lk:
        stream = lk.streams.get(name)
        bounds = stream.bounds()
        groups = [group] if group is not None else stream.groups()
        data = {g: (stream.committed(g), stream.lag(g)) for g in groups}
        if as_json:
            typer.echo(json.dumps({
                "stream": name,
                "partitions": [{"partition": k, "first": f, "next": n} for k, (f, n) in enumerate(bounds)],
                "groups": {g: {"committed": {str(k): v for k, v in c.items()},
                               "lag": {str(k): v for k, v in lg.items()}, "total": sum(lg.values())}
                           for g, (c, lg) in data.items()},
            }, indent=2))
            return
        table = Table(title=f"lag of stream {escape(name)}", header_style="bold cyan")
        for col in ("group", "partition", "first", "next", "committed", "lag"):
            table.add_column(col, justify="left" if col == "group" else "right")
        if not groups:
            for k, (f, n) in enumerate(bounds):
                table.add_row("-", str(k), f"{f:,}", f"{n:,}", "-", "-")
        for g, (committed, lag) in data.items():
            for k, (f, n) in enumerate(bounds):
                c = committed.get(k)
                table.add_row(escape(g), str(k), f"{f:,}", f"{n:,}", f"{c:,}" if c is not None else "-",
                              f"{lag.get(k, 0):,}")
            if len(bounds) > 1:
                table.add_row(escape(g), "all", "", "", "", f"[bold]{sum(lag.values()):,}[/]")
        con = _console()
        con.print(table)
        if not groups:
            con.print(f"no consumer group has committed offsets on {escape(name)}")
        elif group is not None and not data[group][0]:
            con.print(f"group {escape(group)} has committed nothing on {escape(name)}: its lag is every record")


@app.command("replay")
def replay_command(
    view: Annotated[str, typer.Argument(help="A stream feature view.")],
    since: Annotated[str | None, typer.Option(
        help="Rebuild from records appended at or after this ISO time (default: the oldest retained).")] = None,
    lake: LakeOpt = DEFAULT_LAKE,
    streams: StreamsOpt = None,
    catalog: CatalogOpt = None,
    online: OnlineOpt = None,
) -> None:
    """Rebuild a stream feature view's online state and offline table from its stream, then run it until
    caught up."""
    since_t = _parse_time(since)
    con = _console()
    with open_lake(lake, read_only=False, streams=streams, catalog=catalog, online=online) as lk:
        store = lk.features
        _, spec = store.registry.get("view", view)
        if not spec.get("stream"):
            raise typer.BadParameter(f"{view!r} is not a stream feature view; replay rebuilds stream views")
        where = f"since {since_t.isoformat()}" if since_t is not None else "from the oldest retained record"
        t0 = time.monotonic()
        with con.status(f"replaying [bold]{escape(view)}[/] {where}") as status:
            done = threading.Event()
            watcher = threading.Thread(target=_watch_replay, args=(store, view, spec, status, where, done),
                                       name="lakebed-replay-status", daemon=True)
            watcher.start()
            try:
                result = store.replay(view, since_t)
            finally:
                done.set()
                watcher.join()
        fresh = result.get("freshness") or {}
        con.print(f"replayed [bold]{escape(view)}[/] {where} in {time.monotonic() - t0:.1f} s: "
                  f"{result['applied']:,} applied, {result['out_of_order']:,} out of order, "
                  f"{result['too_late']:,} too late, {result['expired']:,} expired; lag {result['lag']:,}, "
                  f"offline lag {result['offline_lag']:,}"
                  + (f"; freshness p50 {fresh['p50_ms']:.0f} ms, p99 {fresh['p99_ms']:.0f} ms"
                     if fresh.get("p50_ms") is not None else ""))


def _watch_replay(store: Any, view: str, spec: dict[str, Any], status: Any, where: str,
                  done: threading.Event) -> None:
    """Update the status line of a replay from the view's stored state."""
    from lakebed.features._stream import stream_status

    while not done.wait(0.5):
        try:
            s = stream_status(store, view, spec)
        except Exception:  # the status line is a courtesy; the replay reports its own errors
            continue
        status.update(f"replaying [bold]{escape(view)}[/] {where}: {s['applied']:,} applied, "
                      f"{s['lag']:,} to go")
