"""What ``lakebed check`` reports: one :class:`Problem` per thing found wrong in a lake.

Each area checks its own files (``lakebed.tables._check``, ``lakebed.vectors._check``, ...)
and returns problems; :mod:`lakebed.check` walks the whole lake and ``lakebed repair`` acts
on the repairable ones. A problem names the file (relative to the lake root), says what is
wrong, and what to do about it.

Example:
    >>> p = Problem("collection", "docs", "collections/docs/wal/000001.wal",
    ...             "record 3 fails its CRC32 check", "run `lakebed repair ./lake`", repairable=True)
    >>> print(p)
    collection docs: collections/docs/wal/000001.wal: record 3 fails its CRC32 check -> run `lakebed repair ./lake`
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def rel_path(root: Path, path: Path) -> str:
    """``path`` as a :class:`Problem` names it: relative to the lake ``root`` (POSIX
    separators), or whole when it lies outside."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Problem:
    """One thing found wrong in a lake."""

    area: str  # "table", "collection", "catalog", "online", "config", "artifact", "features", "runs"
    name: str  # the object's name ("silver.users", "docs"), or "" for the lake itself
    file: str  # the damaged file, relative to the lake root
    what: str  # what is wrong, in plain words
    action: str  # what to do about it
    repairable: bool = False  # ``lakebed repair`` can act on it

    def __str__(self) -> str:
        who = f"{self.area} {self.name}" if self.name else self.area
        return f"{who}: {self.file}: {self.what} -> {self.action}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
