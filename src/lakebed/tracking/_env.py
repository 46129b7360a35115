"""What a run captures about where it ran: git state, Python, packages, host.

All of it is cached per process: the package list never changes under a running
interpreter in practice, and ``git status`` costs milliseconds, so it is re-checked at
most every few seconds (a run started right after an edit may record the older dirty
flag; the commit is read from ``.git`` on each call and is exact).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import socket
import subprocess
import threading
import time
from pathlib import Path

_lock = threading.Lock()
_packages: tuple[str, dict[str, str]] | None = None
_git_cache: dict[str, tuple[float, bool | None]] = {}
GIT_DIRTY_TTL = 5.0


def packages() -> tuple[str, dict[str, str]]:
    """The installed distributions ``{name: version}`` and the sha256 of that list."""
    global _packages
    with _lock:
        if _packages is None:
            from importlib import metadata

            found: dict[str, str] = {}
            for dist in metadata.distributions():
                name = dist.metadata["Name"]
                if name:
                    found.setdefault(str(name).lower(), str(dist.version))
            ordered = dict(sorted(found.items()))
            digest = hashlib.sha256(json.dumps(ordered).encode()).hexdigest()
            _packages = (digest, ordered)
        return _packages


def _git_dir(start: Path) -> Path | None:
    for d in (start, *start.parents):
        g = d / ".git"
        if g.is_dir():
            return g
        if g.is_file():  # a worktree: "gitdir: <path>"
            text = g.read_text().strip()
            if text.startswith("gitdir:"):
                return (d / text.split(":", 1)[1].strip()).resolve()
    return None


def _read_commit(git_dir: Path) -> str | None:
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if not head.startswith("ref:"):
        return head or None
    ref = head.split(":", 1)[1].strip()
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.exists():
        common = (git_dir / commondir.read_text().strip()).resolve()
    for base in (git_dir, common):
        p = base / ref
        if p.exists():
            return p.read_text().strip() or None
    try:
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return None  # an unborn branch


def git_state(cwd: str | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding ``cwd``; (None, None) outside one."""
    here = Path(cwd or os.getcwd())
    git_dir = _git_dir(here)
    if git_dir is None:
        return None, None
    commit = _read_commit(git_dir)
    key = str(here)
    now = time.monotonic()
    with _lock:
        cached = _git_cache.get(key)
    if cached is not None and now - cached[0] < GIT_DIRTY_TTL:
        return commit, cached[1]
    dirty: bool | None
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            timeout=10,
            check=True,
        ).stdout
        dirty = bool(out.strip())
    except (OSError, subprocess.SubprocessError):
        dirty = None
    with _lock:
        _git_cache[key] = (now, dirty)
    return commit, dirty


def host() -> str:
    return socket.gethostname()


def user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return None


def python_version() -> str:
    return platform.python_version()
