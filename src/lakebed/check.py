"""``lakebed check`` and ``lakebed repair``: find what is damaged in a lake, and fix what can
be fixed without guessing.

:func:`check_lake` reads every file kind a lake holds and returns one
:class:`~lakebed._integrity.Problem` per thing wrong: ``lakebed.toml`` (text, TOML, known
keys), the catalog (SQLite ``PRAGMA integrity_check``, a schema version this lakebed knows),
every table and collection (their areas' own checks), the embedded online store and the
content-addressed artifacts. It changes nothing.

:func:`repair_lake` is explicit, never automatic: it takes the writer lock, acts only on
problems marked repairable, moves damaged files aside instead of deleting them, and returns
one line per action saying exactly what was lost.

Example:
    >>> import lakebed, tempfile
    >>> root = tempfile.mkdtemp() + "/lake"
    >>> with lakebed.connect(root) as lake:
    ...     _ = lake.tables.create("bronze.t", data=[{"x": 1}])
    >>> check_lake(root)
    []
    >>> repair_lake(root)
    []
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from lakebed._integrity import Problem, rel_path
from lakebed.config import TOML_NAME, Settings, read_lake_toml, write_toml
from lakebed.errors import CorruptionError, LakebedError, NotFound

__all__ = ["Problem", "check_lake", "repair_lake"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEX = frozenset("0123456789abcdef")
DAMAGED_DIR = ".damaged"
"""Where ``repair`` moves damaged files (inside the directory they were found in)."""


def check_lake(path: str | os.PathLike[str], *, catalog: str | None = None) -> list[Problem]:
    """Every problem found in the lake at ``path``; ``[]`` when it is intact.

    Args:
        path: the lake directory.
        catalog: the catalog URL of a lake whose catalog is in PostgreSQL (default: the
            ``catalog`` setting of ``lakebed.toml`` or ``LAKEBED_CATALOG``).
    """
    root = _root(path)
    problems: list[Problem] = []
    settings, backend = _check_toml(root, problems)
    url = catalog or os.environ.get("LAKEBED_CATALOG") or settings.get("catalog")
    if backend == "postgresql" and (url is None or url.startswith("sqlite")):
        problems.append(Problem("catalog", "", TOML_NAME, "this lake's catalog is in PostgreSQL and "
                                "no catalog URL was given", "pass --catalog postgresql://... "
                                "(or set LAKEBED_CATALOG) to check it"))
        rows = None
    else:
        rows = _check_catalog(root, url, problems)
    if rows is not None:
        _check_tables(root, rows.get("tables", []), problems)
        _check_collections(root, rows.get("collections", []), problems)
        _check_artifacts(root, rows.get("artifacts", {}), problems)
    else:
        _check_artifacts(root, {}, problems)
    _check_online(root, problems)
    from lakebed.streams._check import check_streams

    problems += check_streams(root)
    _check_sqlite_file(root, root / "streams" / "groups.db", "stream", problems,
                       "run `lakebed repair` to set it aside: consumer groups then start again from "
                       "their `start` position (stream views keep their own offsets)")
    return problems


def repair_lake(path: str | os.PathLike[str], *, catalog: str | None = None) -> list[str]:
    """Repair the repairable problems of the lake at ``path``; one line per action, each
    saying what was done and what was lost. Unrepairable problems are left as they are
    (:func:`check_lake` still reports them). Takes the writer lock: close writers first.

    Example:
        >>> import lakebed, tempfile
        >>> root = tempfile.mkdtemp() + "/lake"
        >>> lakebed.connect(root).close()
        >>> repair_lake(root)
        []
    """
    from lakebed.storage import LakeLock

    root = _root(path)
    lock = LakeLock(root)
    lock.acquire()
    try:
        done: list[str] = []
        problems = check_lake(root, catalog=catalog)
        collections: dict[str, Path] = {}
        for p in problems:
            if not p.repairable:
                continue
            if p.area == "collection":
                collections.setdefault(p.name, _collection_path_from_problem(root, p))
            elif p.area == "config":
                done.append(_repair_toml(root))
            elif p.area == "artifact":
                done.append(_move_aside(root, p.file, "its content (it failed its checksum); "
                                        "log the artifact again or restore it from a backup"))
            elif p.area == "stream" and p.repairable:
                done.append(_move_aside(root, p.file, "the consumer groups' committed offsets; groups start "
                                        "again from their `start` position"))
            elif p.area == "table":
                done.append(_move_aside(root, p.file, "files of a table the catalog never recorded "
                                        "(no version of it was ever readable)"))
            elif p.area == "online":
                done.append(_move_aside(root, p.file, "the online feature values in it; "
                                        "`lakebed features materialize` rebuilds them from the tables "
                                        "(values pushed to the online store only are gone)"))
        from lakebed.vectors._check import repair_collection

        for name, col_path in collections.items():
            for line in repair_collection(root, name, col_path):
                done.append(f"collection {name}: {line}")
        return done
    finally:
        lock.release()


# -- lakebed.toml ---------------------------------------------------------------------------
def _check_toml(root: Path, problems: list[Problem]) -> tuple[dict[str, Any], str | None]:
    """The [settings] of lakebed.toml and its catalog_backend, as far as they read."""
    path = root / TOML_NAME
    if not path.exists():
        if (root / "catalog.db").exists():
            problems.append(Problem("config", "", TOML_NAME, "the file is missing",
                                    "run `lakebed repair` to write a fresh one (settings default)",
                                    repairable=True))
            return {}, None
        raise NotFound(f"no lake at {root} (no {TOML_NAME}, no catalog.db); check the path")
    try:
        data = read_lake_toml(path)
    except CorruptionError as exc:
        problems.append(Problem("config", "", TOML_NAME, _after(exc, path),
                                _toml_action(root), repairable=_toml_repairable(root)))
        return {}, None
    except LakebedError as exc:
        text = str(exc)
        syntax = "not valid TOML" in text or "no integer format_version" in text  # typed, or cut short
        problems.append(Problem("config", "", TOML_NAME, _after(exc, path),
                                _toml_action(root) if syntax else "edit the file as the message says",
                                repairable=syntax and _toml_repairable(root)))
        return {}, None
    settings: dict[str, Any] = data.get("settings", {})
    try:
        Settings.resolve(toml=settings, environ={}, toml_path=path)
    except LakebedError as exc:
        problems.append(Problem("config", "", TOML_NAME, str(exc), "edit [settings] in the file"))
    return settings, data.get("catalog_backend")


def _toml_repairable(root: Path) -> bool:
    return (root / "catalog.db").exists()  # the one setting that cannot default: where the catalog is


def _toml_action(root: Path) -> str:
    if _toml_repairable(root):
        return ("fix it by hand, or run `lakebed repair` to set it aside and write a fresh one "
                "(its [settings] are then back to their defaults)")
    return "fix it by hand or restore it from a backup (it names this lake's PostgreSQL catalog)"


def _repair_toml(root: Path) -> str:
    path = root / TOML_NAME
    saved = ""
    if path.exists():
        target = _aside(root, TOML_NAME)
        os.replace(path, target)
        saved = f"; the old file is at {target.relative_to(root)}"
    write_toml(path, catalog_backend="sqlite")
    return (f"{TOML_NAME}: wrote a fresh file (catalog_backend = \"sqlite\"); lost: every "
            f"[settings] value it held (fsync, segment_size, ...) is back to its default{saved}")


# -- catalog --------------------------------------------------------------------------------
def _check_catalog(root: Path, url: str | None, problems: list[Problem]) -> dict[str, Any] | None:
    """Check the catalog; return what the other checks need from it (None if unreadable)."""
    if url is None or url.startswith("sqlite"):
        db = root / "catalog.db"
        if not db.exists():
            problems.append(Problem("catalog", "", "catalog.db", "the catalog file is missing",
                                    "restore catalog.db from a backup (it holds every name in the lake)"))
            return None
        bad = _sqlite_integrity(db)
        if bad:
            problems.append(Problem("catalog", "", "catalog.db", bad,
                                    "restore catalog.db from a backup; `lakebed repair` cannot rebuild "
                                    "it (it holds every name, version and run of the lake)"))
            return None
        url = f"sqlite:///{db}"
        file = "catalog.db"
    else:
        file = "(PostgreSQL catalog)"
    try:
        return _catalog_rows(url, file, problems)
    except LakebedError as exc:
        problems.append(Problem("catalog", "", file, str(exc), "see the message"))
        return None


def _catalog_rows(url: str, file: str, problems: list[Problem]) -> dict[str, Any] | None:
    import sqlalchemy as sa

    from lakebed.catalog import Catalog

    cat = Catalog(url, read_only=True)
    try:
        with cat.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            revision = None
            if "alembic_version" in names:
                revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            known = _known_revisions()
            if revision is None:
                problems.append(Problem("catalog", "", file, "the catalog has no schema version "
                                        "(it was never set up, or is not this lake's)",
                                        "open the lake once with lakebed.connect() to set it up"))
                return None
            if revision not in known:
                problems.append(Problem("catalog", "", file, f"schema version {revision!r} is unknown "
                                        f"to this lakebed (it knows {', '.join(sorted(known))})",
                                        "upgrade lakebed to the version that wrote this lake"))
                return None
            out: dict[str, Any] = {}

            def rows(table: str, cols: str) -> list[Any]:
                if table not in names:
                    return []
                return list(conn.execute(sa.text(f"SELECT {cols} FROM {table}")))

            out["tables"] = [(f"{ns}.{n}", loc) for ns, n, loc in rows("tables", "namespace, name, location")]
            out["collections"] = list(rows("vector_collections", "name, location"))
            users: dict[str, list[str]] = {}
            for run_id, name, sha in rows("run_artifacts", "run_id, name, sha256"):
                users.setdefault(sha, []).append(f"run {run_id} artifact {name!r}")
            for name, version, sha in rows("model_versions", "name, version, sha256"):
                users.setdefault(sha, []).append(f"model {name} version {version}")
            out["artifacts"] = users
            return out
    finally:
        cat.close()


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from lakebed.catalog._catalog import _MIGRATIONS

    return {s.revision for s in ScriptDirectory(str(_MIGRATIONS)).walk_revisions()}


def _sqlite_integrity(db: Path) -> str:
    """``""`` when the SQLite file ``db`` is intact, else what is wrong with it."""
    try:
        with open(db, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        return "not a SQLite database any more (its header is damaged or the file is truncated)"
    try:
        # immutable=1 reads without creating -wal/-shm files (check never writes); a
        # committed transaction still in the -wal file is then not seen, which is safe.
        con = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
        try:
            result = [r[0] for r in con.execute("PRAGMA integrity_check(20)")]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return f"SQLite cannot read it ({exc})"
    if result == ["ok"]:
        return ""
    return "fails PRAGMA integrity_check: " + "; ".join(result[:5])


# -- tables and collections -----------------------------------------------------------------
def _check_each(
    root: Path,
    area: str,
    items: list[tuple[str, str]],
    locate: Callable[[str], Path],
    needed: str,
    check: Callable[[Path, str, Path], list[Problem]],
    missing: str,
    fix: str,
    problems: list[Problem],
) -> None:
    """The area's ``check(root, name, path)`` on each (name, location) of ``items`` whose
    directory ``locate(location)`` has ``needed`` (a subdirectory, or "" for itself); a
    Problem ``missing`` for each that has not."""
    for name, location in items:
        path = locate(location)
        probe = path / needed if needed else path
        if not probe.is_dir():
            problems.append(Problem(area, name, rel_path(root, probe), missing, fix))
            continue
        problems.extend(check(root, name, path))


def _check_tables(root: Path, tables: list[tuple[str, str]], problems: list[Problem]) -> None:
    from lakebed.tables._check import check_table

    _check_each(root, "table", tables, lambda location: root / location, "_delta_log",
                check_table, "the table's log directory is missing",
                "restore the table directory from a backup, or drop the table", problems)
    # a directory of tables/<namespace>/<name> that the catalog does not name: written by a
    # create that stopped before its catalog commit (a create of that name replaces it)
    known = {PurePosixPath(location).as_posix() for _, location in tables}
    folder = root / "tables"
    for ns in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not ns.is_dir() or ns.name.startswith((".", "_")):
            continue
        for entry in sorted(ns.iterdir()):
            rel = f"tables/{ns.name}/{entry.name}"
            if entry.is_dir() and not entry.name.startswith((".", "_")) and rel not in known:
                problems.append(Problem(
                    "table", f"{ns.name}.{entry.name}", rel,
                    "a table directory that no table of the catalog names (left by a create that stopped "
                    "before its catalog commit)",
                    "run `lakebed repair` to move it aside; creating the table again also replaces it",
                    repairable=True))


def _check_collections(root: Path, collections: list[tuple[str, str]], problems: list[Problem]) -> None:
    from lakebed.vectors._check import check_collection
    from lakebed.vectors._collections import collection_dir

    _check_each(root, "collection", collections, lambda location: collection_dir(root, location), "",
                check_collection,
                "the collection's directory is missing", "restore it from a backup, or drop the collection", problems)


def _collection_path_from_problem(root: Path, p: Problem) -> Path:
    parts = PurePosixPath(p.file).parts
    if len(parts) >= 2 and parts[0] == "collections":
        return root / "collections" / parts[1]
    return root / "collections" / p.name


# -- artifacts and the online store ----------------------------------------------------------
def _check_artifacts(root: Path, users: dict[str, list[str]], problems: list[Problem]) -> None:
    folder = root / "artifacts"
    present: set[str] = set()
    if folder.is_dir():
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if name.startswith(".") or not entry.is_file():
                continue  # temporary files of an interrupted write, the .damaged folder
            if len(name) != 64 or not set(name) <= _HEX:
                continue
            present.add(name)
            digest = hashlib.sha256()
            with open(entry, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != name:
                used = users.get(name, [])
                who = f" (used by {', '.join(used[:3])}{' ...' if len(used) > 3 else ''})" if used else ""
                problems.append(Problem("artifact", name[:12], f"artifacts/{name}",
                                        f"the content fails its sha256 checksum{who}",
                                        "restore the file from a backup, or run `lakebed repair` to set it "
                                        "aside so that logging the artifact again stores it anew",
                                        repairable=True))
    for sha, used in sorted(users.items()):
        if sha not in present and not (folder / sha).exists():
            problems.append(Problem("artifact", sha[:12], f"artifacts/{sha}",
                                    f"the file is missing (used by {', '.join(used[:3])})",
                                    "restore it from a backup, or log the artifact again"))


def _check_online(root: Path, problems: list[Problem]) -> None:
    folder = root / "online"
    if not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        if not entry.is_file() or entry.name.startswith(".") or entry.suffix not in (".db", ".sqlite"):
            continue
        _check_sqlite_file(root, entry, "online", problems,
                           "run `lakebed repair` to set it aside, then `lakebed features "
                           "materialize` to rebuild the online store from the tables")


def _check_sqlite_file(root: Path, path: Path, area: str, problems: list[Problem], action: str) -> None:
    """A SQLite file that `lakebed repair` may set aside (its content can be rebuilt)."""
    if not path.is_file():
        return
    bad = _sqlite_integrity(path)
    if bad:
        problems.append(Problem(area, "", rel_path(root, path), bad, action, repairable=True))


# -- helpers --------------------------------------------------------------------------------
def _root(path: str | os.PathLike[str]) -> Path:
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise NotFound(f"no lake at {root}: not a directory; check the path")
    return root


def _after(exc: BaseException, path: Path) -> str:
    """The message of ``exc`` without the leading file name (the Problem names the file)."""
    text = str(exc)
    for prefix in (f"{path} is ", f"{path} "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _aside(root: Path, rel: str) -> Path:
    src = root / rel
    folder = src.parent / DAMAGED_DIR
    folder.mkdir(exist_ok=True)
    return folder / f"{src.name}.{time.strftime('%Y%m%dT%H%M%S')}"


def _move_aside(root: Path, rel: str, lost: str) -> str:
    src = root / rel
    target = _aside(root, rel)
    shutil.move(str(src), target)
    for suffix in ("-wal", "-shm"):  # a SQLite file's companions belong with it
        side = src.with_name(src.name + suffix)
        if side.exists():
            shutil.move(str(side), target.with_name(target.name + suffix))
    return f"{rel}: moved to {rel_path(root, target)}; lost: {lost}"
