"""Integrity check of one Delta table: what ``lakebed check`` runs for every table.

:func:`check_table` replays the table's ``_delta_log`` without delta-rs (so that a damaged
entry is reported, not raised), then checks every data file of the latest version: it
exists, has the size its ``add`` action records, and its Parquet footer reads (with
``full=True`` every page is decoded too). Each problem names the file relative to the lake
and says what to do: restore the table to the newest version whose files are intact, put
the file back from a backup, or move a damaged newest log entry aside.

Example:
    >>> import lakebed, tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> with lakebed.connect(root) as lake:
    ...     _ = lake.tables.create("gold.g", data=[{"x": 1}])
    ...     _ = lake.tables.write("gold.g", [{"x": 2}])
    >>> table = root / "tables" / "gold" / "g"
    >>> check_table(root, "gold.g", table)
    []
    >>> newest = sorted(table.glob("part-*.parquet"), key=lambda p: p.stat().st_mtime)[-1]
    >>> _ = newest.write_bytes(newest.read_bytes()[:20])
    >>> problem = check_table(root, "gold.g", table)[0]
    >>> problem.file.startswith("tables/gold/g/part-"), problem.what  # doctest: +ELLIPSIS
    (True, 'data file of version 1 is ... bytes where the log records ...; it is truncated or was overwritten')
    >>> problem.action  # doctest: +ELLIPSIS
    "restore the table to version 0 with `lake.tables.restore('gold.g', 0)` (the changes ... are lost), or ..."
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lakebed._integrity import Problem

_ENTRY = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet$")


@dataclass
class _Replay:
    """The table's log replayed: live data files (path -> size) per version."""

    states: dict[int, dict[str, int]] = field(default_factory=dict)
    added_in: dict[str, int] = field(default_factory=dict)  # path -> version that added it
    latest: int = -1  # the newest version whose state is known
    problems: list[Problem] = field(default_factory=list)


def check_table(lake_root: Path, name: str, table_path: Path, *, full: bool = False) -> list[Problem]:
    """What is wrong with the table ``name`` stored at ``table_path`` (empty when nothing).

    Checks that every ``_delta_log`` entry parses (each JSON line) and that the versions
    have no gaps, then that each data file of the latest version exists, has the size the
    log records, and has a readable Parquet footer; ``full=True`` also reads every file
    through. Problems name the file relative to ``lake_root``.
    """
    lake_root, table_path = Path(lake_root), Path(table_path)

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(lake_root))
        except ValueError:
            return str(p)

    logdir = table_path / "_delta_log"
    if not logdir.is_dir():
        return [Problem("table", name, rel(logdir), "the table has no _delta_log folder",
                        "put the table's folder back from a backup, or drop the table with "
                        f"`lake.tables.drop({name!r})`")]
    replay = _replay(logdir, name, rel)
    problems = list(replay.problems)
    if replay.latest < 0:
        return problems
    bad: dict[str, Problem] = {}
    live = replay.states[replay.latest]
    for path, size in sorted(live.items()):
        what = _file_problem(table_path / path, size, full)
        if what is not None:
            bad[path] = Problem("table", name, rel(table_path / path),
                                f"data file of version {replay.added_in.get(path, '?')} {what}", "")
    if bad:
        action = _restore_action(name, replay, table_path, set(bad), full)
        problems += [Problem(p.area, p.name, p.file, p.what, action) for p in bad.values()]
    return problems


def _replay(logdir: Path, name: str, rel: Any) -> _Replay:
    out = _Replay()
    entries: dict[int, Path] = {}
    checkpoints: dict[int, list[Path]] = {}
    for f in os.listdir(logdir):
        if m := _ENTRY.match(f):
            entries[int(m.group(1))] = logdir / f
        elif m := _CHECKPOINT.match(f):
            checkpoints.setdefault(int(m.group(1)), []).append(logdir / f)
    if not entries and not checkpoints:
        out.problems.append(Problem("table", name, rel(logdir), "the _delta_log folder holds no commits",
                                    "put the table's folder back from a backup, or drop the table"))
        return out
    state: dict[str, int] = {}
    start = 0
    if 0 not in entries:  # older entries were cleaned up after a checkpoint
        last = max(entries, default=-1)
        usable = [v for v in sorted(checkpoints, reverse=True) if all(u in entries for u in range(v + 1, last + 1))]
        if not usable:
            out.problems.append(Problem("table", name, rel(logdir), "the log's first entries are missing and no "
                                        "checkpoint covers them", "put the _delta_log folder back from a backup"))
            return out
        start = usable[0]
        try:
            state = _read_checkpoint(checkpoints[start])
        except Exception as exc:  # any damage to the checkpoint's Parquet
            out.problems.append(Problem("table", name, rel(checkpoints[start][0]),
                                        f"the checkpoint of version {start} does not read ({exc})",
                                        "put the file back from a backup"))
            return out
        for p in state:
            out.added_in[p] = start
        out.states[start] = dict(state)
        out.latest = start
        start += 1
    newest = max(entries, default=start - 1)
    for version in range(start, newest + 1):
        entry = entries.get(version)
        if entry is None:
            out.problems.append(Problem(
                "table", name, rel(logdir / f"{version:020d}.json"),
                f"the log entry of version {version} is missing (versions up to {newest} exist)",
                "put the file back from a backup; versions before it stay readable "
                f"with `lake.tables.read({name!r}, version={version - 1})`",
            ))
            return out
        try:
            actions = parse_entry(entry)
        except ValueError as exc:
            if version == newest:
                action = (f"move {rel(entry)} aside (the table then reads as version {version - 1} and the "
                          "last commit is lost), or put it back from a backup")
            else:
                action = ("put the file back from a backup; versions before it stay readable with "
                          f"`lake.tables.read({name!r}, version={version - 1})`")
            out.problems.append(
                Problem("table", name, rel(entry), f"the log entry of version {version} {exc}", action)
            )
            return out
        for action_ in actions:
            if "add" in action_ and "://" not in action_["add"].get("path", ""):
                path = unquote(action_["add"]["path"])
                state[path] = int(action_["add"].get("size", -1))
                out.added_in[path] = version
            elif "remove" in action_:
                state.pop(unquote(action_["remove"]["path"]), None)
        out.states[version] = dict(state)
        out.latest = version
    return out


def parse_entry(entry: Path) -> list[dict[str, Any]]:
    """The actions of one log entry; ValueError saying what is wrong. Lines end with "\\n"
    only (str.splitlines would also split inside a value holding U+2028 or U+0085)."""
    raw = entry.read_bytes()
    if not raw.strip():
        raise ValueError("is empty")
    actions = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f"has a damaged line {n} (not valid JSON: truncated or overwritten)") from None
        if not isinstance(action, dict):
            raise ValueError(f"has a damaged line {n} (not an action)")
        actions.append(action)
    return actions


def _read_checkpoint(files: list[Path]) -> dict[str, int]:
    import pyarrow.parquet as pq

    state: dict[str, int] = {}
    for f in sorted(files):
        for row in pq.read_table(f, columns=["add"]).column("add").to_pylist():
            if row and row.get("path") and "://" not in row["path"]:
                state[unquote(row["path"])] = int(row.get("size") or -1)
    return state


def _file_problem(path: Path, size: int, full: bool) -> str | None:
    """What is wrong with one data file, or None."""
    import pyarrow.parquet as pq

    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if size >= 0 and actual != size:
        return f"is {actual:,} bytes where the log records {size:,}; it is truncated or was overwritten"
    try:
        pf = pq.ParquetFile(path)
        if full:
            for i in range(pf.num_row_groups):
                pf.read_row_group(i)
    except Exception as exc:  # every decode failure of a damaged file (ArrowInvalid, OSError, ...)
        return f"does not read as Parquet ({str(exc).splitlines()[0][:200]})"
    return None


def _restore_action(name: str, replay: _Replay, table_path: Path, bad: set[str], full: bool) -> str:
    """Restore to the newest older version whose files are all intact, if there is one."""
    checked: dict[str, bool] = {}
    for version in sorted(replay.states, reverse=True):
        if version == replay.latest:
            continue
        files = replay.states[version]
        ok = True
        for path, size in files.items():
            if path in bad:
                ok = False
                break
            if path not in checked:
                checked[path] = _file_problem(table_path / path, size, full) is None
            if not checked[path]:
                ok = False
                break
        if ok:
            return (f"restore the table to version {version} with `lake.tables.restore({name!r}, {version})` "
                    "(the changes of later versions are lost), or put the file back from a backup")
    return "put the file back from a backup, or drop the table and write its data again"
