"""The root handle of a lake and :func:`connect`.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     _ = lake.tables.create("bronze.events", data=[{"id": 1, "kind": "click"}])
    ...     lake.tables.read("bronze.events").num_rows
    1
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakebed.api._lake import LakeAPI
from lakebed.config import TOML_NAME, Settings, read_lake_toml, write_toml
from lakebed.errors import ConflictError, InvalidArgument, NotFound, ReadOnlyError
from lakebed.storage import LakeLock

if TYPE_CHECKING:
    from lakebed.features import FeatureStore
    from lakebed.quality import Quality
    from lakebed.rag import Rag
    from lakebed.streams import Streams
    from lakebed.tables import Tables
    from lakebed.tracking import Lineage, Models, PredictionLog, Runs
    from lakebed.vectors import Collections

MEMORY = ":memory:"


def connect(
    location: str | Path,
    *,
    catalog: str | None = None,
    online: str | None = None,
    read_only: bool = False,
    create: bool = True,
    api_key: str | None = None,
    **settings: Any,
) -> LakeAPI:
    """Open (or create) a lake: embedded (a directory) or served (``http(s)://``); both
    answer the same :class:`lakebed.api.LakeAPI`.

    Args:
        location: a directory path, ``":memory:"`` for a throw-away lake (kept in a
            temporary directory removed on close), ``lakebed+cluster://h1:8765,h2:8765`` for a
            cluster (see docs/cluster.md), or ``http(s)://host:port`` for a
            lakebed server.
        catalog: a ``postgresql://`` URL for the catalog; default: SQLite inside the lake.
        online: the online feature store: ``redis://...``, ``postgresql://...``; default:
            SQLite inside the lake.
        read_only: open without taking the writer lock; writes raise ReadOnlyError.
        create: create the directory and ``lakebed.toml`` when missing.
        api_key: the key for a lakebed server (``http`` locations only).
        **settings: any field of :class:`lakebed.config.Settings` (``fsync``, ...).

    Example:
        >>> import lakebed, tempfile
        >>> lake = lakebed.connect(tempfile.mkdtemp() + "/lake")
        >>> lake.close()
    """
    loc = str(location)
    if loc.startswith("lakebed+cluster://"):
        from lakebed.cluster import ClusterClient

        # the cluster client serves collections (docs/cluster.md), not every area of LakeAPI
        return ClusterClient(loc, api_key=api_key)  # type: ignore[return-value]
    if loc.startswith(("http://", "https://")):
        from lakebed.client import connect_remote

        return connect_remote(loc, api_key=api_key)
    if api_key is not None:
        raise InvalidArgument("api_key applies to http(s) locations only; a local lake needs none")
    return open_local(loc, catalog=catalog, online=online, read_only=read_only, create=create, **settings)


def open_local(
    location: str | Path,
    *,
    catalog: str | None = None,
    online: str | None = None,
    read_only: bool = False,
    create: bool = True,
    **settings: Any,
) -> Lake:
    """:func:`connect` for a directory or ``":memory:"`` only, typed as the embedded
    :class:`Lake` (for code that needs its engine-side members, such as the server).

    Example:
        >>> from lakebed.lake import open_local
        >>> with open_local(":memory:") as lake:
        ...     lake.temporary
        True
    """
    loc = str(location)
    temporary = loc == MEMORY
    if temporary:
        root = Path(tempfile.mkdtemp(prefix="lakebed-mem-"))
    else:
        root = Path(loc).expanduser().resolve()
    toml_path = root / TOML_NAME
    overrides = {"catalog": catalog, "online": online, **settings}
    if not toml_path.exists():
        if read_only or not create:
            raise NotFound(
                f"no lake at {root} (no {TOML_NAME}); create it with lakebed.connect({loc!r}) "
                "or `lakebed init`"
            )
        if root.exists() and any(p for p in root.iterdir() if p.name != ".writer.lock"):
            raise InvalidArgument(
                f"{root} exists, is not empty and is not a lake; choose an empty or new directory"
            )
        # Settings are checked before anything is written, so a mistyped argument leaves
        # no half-made lake behind; the fresh file has no [settings] to read back.
        resolved = Settings.resolve(overrides=overrides)
        root.mkdir(parents=True, exist_ok=True)
        write_toml(toml_path, catalog_backend=_backend(resolved.catalog))
    else:
        data = read_lake_toml(toml_path)
        resolved = Settings.resolve(overrides=overrides, toml=data.get("settings", {}), toml_path=toml_path)
        _check_catalog_backend(root, data.get("catalog_backend"), resolved.catalog)
    return Lake(root, resolved, read_only=read_only, temporary=temporary)


def _backend(catalog: str | None) -> str:
    return "sqlite" if catalog is None or catalog.startswith("sqlite") else "postgresql"


def _check_catalog_backend(root: Path, recorded: str | None, catalog: str | None) -> None:
    """Refuse to open a lake with a catalog of another kind than the one it was created
    with: a lake opened against an empty catalog would look empty and fork its metadata."""
    wanted = _backend(catalog)
    if recorded is None:  # a lake made before the record: catalog.db tells
        if (root / "catalog.db").exists():
            recorded = "sqlite"
        elif wanted == "sqlite" and any((root / d).is_dir() and any((root / d).iterdir())
                                        for d in ("tables", "collections", "artifacts")):
            raise ConflictError(
                f"the lake at {root} holds data but no catalog.db: its catalog is elsewhere "
                "(PostgreSQL?); pass catalog='postgresql://...' to lakebed.connect() "
                f"(or set it under [settings] in {root / TOML_NAME}); if catalog.db was "
                "deleted, restore it from a backup"
            )
        else:
            return
    if recorded == wanted:
        return
    if recorded == "sqlite":
        raise ConflictError(
            f"the lake at {root} keeps its catalog in {root / 'catalog.db'} (SQLite), but a "
            "PostgreSQL catalog was given; open it without catalog= (and without "
            "LAKEBED_CATALOG or a catalog under [settings]). A lake cannot change its catalog "
            "in place: copy its data into a new lake instead"
        )
    raise ConflictError(
        f"the lake at {root} keeps its catalog in PostgreSQL (catalog_backend = \"postgresql\" "
        f"in {root / TOML_NAME}), but none was given; pass catalog='postgresql://...' to "
        "lakebed.connect(), set LAKEBED_CATALOG, or put catalog under [settings] in that file"
    )


class Lake(LakeAPI):
    """An open lake: hands out one object per area (``tables``, ``collections``,
    ``features``, ``streams``, ``quality``, ``runs``, ``models``, ``lineage``, ``rag``).

    One process may write to an embedded lake at a time (an advisory lock; a second
    writer gets LockedError naming the holder); readers open with ``read_only=True``.
    Thread-safe inside a process. Use it as a context manager or call :meth:`close`.
    """

    def __init__(
        self, root: Path, settings: Settings, *, read_only: bool = False, temporary: bool = False
    ) -> None:
        self.path = root
        self.settings = settings
        self.read_only = read_only
        self.temporary = temporary
        self._lock = LakeLock(root)
        self._areas: dict[str, Any] = {}
        self._areas_lock = threading.RLock()
        self._closers: list[Callable[[], None]] = []
        self._closed = False
        self._namespace: str | None = None
        if not read_only:
            self._lock.acquire()
        try:
            url = settings.catalog or f"sqlite:///{root / 'catalog.db'}"
            from lakebed.catalog import Catalog

            self.catalog = Catalog(url, read_only=read_only, fsync="never" if temporary else settings.fsync)
            if not read_only:
                self.catalog.migrate()
        except BaseException:
            self._lock.release()
            raise
        if temporary:
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(root), True)

    # -- areas -------------------------------------------------------------------------
    def _area(self, name: str, module: str, cls: str) -> Any:
        """The area object ``name``, built on first use from ``module.cls(self)``. The
        common case (already built) is one dict lookup: no import, no lock."""
        area = self._areas.get(name)
        if area is not None and not self._closed:
            return area
        self._check_open()
        with self._areas_lock:
            area = self._areas.get(name)
            if area is None:
                import importlib

                area = getattr(importlib.import_module(module), cls)(self)
                self._areas[name] = area
        return area

    def reload(self, area: str) -> None:
        """Drop the area object ``area`` (closing it); the next use builds it again from the
        catalog. What a read-only reader does after a writer in another process changed
        definitions it caches (the server's read workers do, for ``features``).

        Example:
            >>> import lakebed
            >>> with lakebed.connect(":memory:") as lake:
            ...     first = lake.features
            ...     lake.reload("features")
            ...     lake.features is first
            False
        """
        with self._areas_lock:
            area_obj = self._areas.pop(area, None)
        if area_obj is not None and hasattr(area_obj, "close"):
            area_obj.close()

    @property
    def tables(self) -> Tables:
        return self._area("tables", "lakebed.tables", "Tables")  # type: ignore[no-any-return]

    @property
    def collections(self) -> Collections:
        return self._area("collections", "lakebed.vectors", "Collections")  # type: ignore[no-any-return]

    @property
    def features(self) -> FeatureStore:
        return self._area("features", "lakebed.features", "FeatureStore")  # type: ignore[no-any-return]

    @property
    def streams(self) -> Streams:
        return self._area("streams", "lakebed.streams", "Streams")  # type: ignore[no-any-return]

    @property
    def namespace(self) -> str:
        """A per-lake id (stored in the catalog) that keeps lakes apart in a shared Redis,
        PostgreSQL or NATS server."""
        ns = self._namespace
        if ns is None:
            import uuid

            import sqlalchemy as sa

            from lakebed.features._schema import meta as t

            with self.catalog.connect() as conn:
                row = conn.execute(sa.select(t.c.value).where(t.c.key == "online_namespace")).first()
            if row is not None:
                ns = str(row[0])
            else:
                ns = uuid.uuid4().hex[:12]
                if not self.read_only:
                    with self.catalog.begin() as conn:
                        conn.execute(t.insert().values(key="online_namespace", value=ns))
            self._namespace = ns
        return ns

    @property
    def quality(self) -> Quality:
        return self._area("quality", "lakebed.quality", "Quality")  # type: ignore[no-any-return]

    @property
    def runs(self) -> Runs:
        return self._area("runs", "lakebed.tracking", "Runs")  # type: ignore[no-any-return]

    @property
    def models(self) -> Models:
        return self._area("models", "lakebed.tracking", "Models")  # type: ignore[no-any-return]

    @property
    def lineage(self) -> Lineage:
        return self._area("lineage", "lakebed.tracking", "Lineage")  # type: ignore[no-any-return]

    @property
    def rag(self) -> Rag:
        return self._area("rag", "lakebed.rag", "Rag")  # type: ignore[no-any-return]

    def predictions(self, model: str) -> PredictionLog:
        from lakebed.tracking import PredictionLog

        self._check_open()
        return PredictionLog(self, model)

    def sql(self, query: str) -> pa.Table:
        return self.tables.sql(query)

    # -- lifecycle ---------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise ReadOnlyError on a read-only lake; areas call it before every write."""
        self._check_open()
        if self.read_only:
            raise ReadOnlyError(
                f"the lake at {self.path} was opened with read_only=True; "
                "open it without read_only to write"
            )

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidArgument("this lake is closed; open it again with lakebed.connect()")

    def on_close(self, callback: Callable[[], None]) -> None:
        """Register a callback that runs (in reverse order) when the lake closes."""
        self._closers.append(callback)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        errors: list[BaseException] = []
        for callback in reversed(self._closers):
            try:
                callback()
            except BaseException as exc:  # close everything, then report
                errors.append(exc)
        self._closed = True
        self.catalog.close()
        self._lock.release()
        if self.temporary:
            self._finalizer()
        if errors:
            raise errors[0]

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        where = ":memory:" if self.temporary else str(self.path)
        return f"<Lake {where} ({mode})>"
