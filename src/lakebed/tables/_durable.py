"""Durability of table commits: the fsyncs delta-rs does not make.

delta-rs writes a commit's data files and its ``_delta_log/NNNN.json`` entry through
object_store, which never fsyncs. After a commit returns, lakebed finds what it added (the
log entry, the data files of its ``add`` actions, a checkpoint written with it) and fsyncs
those files and their directories (partition directories, the table directory,
``_delta_log``), by the lake's ``fsync`` setting:

* ``"always"``: before the call returns, so an acknowledged commit survives power loss;
* ``"batch"``: the paths are remembered and fsynced by :meth:`Durability.flush`, which
  ``lake.tables.flush()`` and closing the lake call: commits since the last flush may be
  lost to power loss (never half: a lost commit's log entry is gone or names files that
  ``lakebed check`` reports, with the version to restore);
* ``"never"``: left to the operating system.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> d = Durability("batch")
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "f").write_bytes(b"x")
    1
    >>> d.add([root / "f"], [root])
    >>> d.pending
    2
    >>> d.flush()
    >>> d.pending
    0
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

from lakebed.storage import fsync_dir, fsync_file
from lakebed.tables._check import parse_entry


def log_entry(table_dir: Path, version: int) -> Path:
    return table_dir / "_delta_log" / f"{version:020d}.json"


def commit_files(table_dir: Path, version: int) -> tuple[list[Path], list[Path]]:
    """What the commit making ``version`` wrote: (files, directories). Files are the data
    files of its ``add`` actions (percent-decoded paths relative to the table), the
    checkpoint of that version when ``_last_checkpoint`` records one, and the log entry
    last; directories run from each data file's directory up to the table directory, and
    ``_delta_log``."""
    log = log_entry(table_dir, version)
    files: list[Path] = []
    dirs: dict[Path, None] = {}
    for action in parse_entry(log):
        add = action.get("add") or action.get("cdc")
        if not add or "://" in add.get("path", ""):
            continue
        path = table_dir / unquote(add["path"])
        files.append(path)
        parent = path.parent
        while parent != table_dir and table_dir in parent.parents:
            dirs.setdefault(parent, None)
            parent = parent.parent
    logdir = table_dir / "_delta_log"
    last = logdir / "_last_checkpoint"
    try:  # a small read, rather than listing the whole log for every commit
        checkpointed = json.loads(last.read_bytes()).get("version") == version
    except (FileNotFoundError, ValueError, AttributeError):
        checkpointed = False
    if checkpointed:
        files += sorted(logdir.glob(f"{version:020d}.checkpoint*.parquet"))
        files.append(last)
    files.append(log)
    dirs.setdefault(table_dir, None)
    dirs.setdefault(logdir, None)
    return files, list(dirs)


class Durability:
    """Applies one lake's ``fsync`` setting to table commits (see the module docstring)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._files: dict[Path, None] = {}
        self._dirs: dict[Path, None] = {}
        self._guard = threading.Lock()

    @property
    def pending(self) -> int:
        """Paths waiting for :meth:`flush` (under ``"batch"``)."""
        return len(self._files) + len(self._dirs)

    def committed(self, table_dir: Path, first: int, last: int, extra_dirs: Iterable[Path] = ()) -> None:
        """Versions ``first..last`` of the table at ``table_dir`` were just committed."""
        if self.mode == "never" or last < first:
            return
        files: list[Path] = []
        dirs: list[Path] = []
        for version in range(first, last + 1):
            f, d = commit_files(table_dir, version)
            files += f
            dirs += d
        self.add(files, [*dirs, *extra_dirs])

    def add(self, files: Iterable[Path], dirs: Iterable[Path]) -> None:
        """fsync ``files`` then ``dirs`` now (``"always"``) or at the next flush (``"batch"``)."""
        if self.mode == "never":
            return
        if self.mode == "always":
            for f in files:
                fsync_file(f)
            for d in dict.fromkeys(dirs):
                fsync_dir(d)
            return
        with self._guard:
            self._files.update(dict.fromkeys(files))
            self._dirs.update(dict.fromkeys(dirs))

    def flush(self) -> None:
        """fsync every remembered path (files first, then directories). A path gone since
        (a dropped table, a vacuumed file) is skipped."""
        with self._guard:
            files, dirs = list(self._files), list(self._dirs)
            self._files.clear()
            self._dirs.clear()
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                fsync_file(f)
        for d in dirs:
            with contextlib.suppress(FileNotFoundError):
                fsync_dir(d)
