from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lakebed.catalog import schema
from lakebed.errors import BackendUnavailable, CorruptionError, InvalidArgument

_MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Map user-facing catalog URLs to SQLAlchemy URLs (``postgresql://`` uses psycopg 3)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise InvalidArgument(
        f"unsupported catalog URL {url!r}; use a postgresql://... URL or leave catalog unset "
        "for the SQLite catalog inside the lake"
    )


class Catalog:
    """A handle on the catalog database. Thread-safe; use :meth:`begin` for a transaction."""

    def __init__(self, url: str, *, read_only: bool = False, fsync: str = "always") -> None:
        self.url = normalize_url(url)
        self.read_only = read_only
        self.dialect = "postgresql" if self.url.startswith("postgresql") else "sqlite"
        self._migrate_lock = threading.Lock()
        kwargs: dict[str, Any] = {"future": True}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            self._require_psycopg()
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = 5
        self.engine: Engine = sa.create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            # fsync="always": every catalog commit (runs, metrics, models, lineage, keys) is on
            # disk when it returns (FULL); otherwise WAL mode's NORMAL (a power cut may roll
            # back the latest commits, never corrupt the file).
            level = "FULL" if fsync == "always" else "NORMAL"
            sa.event.listen(self.engine, "connect", functools.partial(_sqlite_pragmas, level=level))
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise BackendUnavailable(
                f"cannot reach the catalog at {_redact(self.url)}: {exc.orig}; "
                "check that the database server runs and the URL is right"
            ) from None
        except sa.exc.DatabaseError as exc:
            self.engine.dispose()
            if _is_corruption(exc):
                raise self.corruption(exc) from None
            raise

    @property
    def sqlite_path(self) -> Path | None:
        """The catalog file of a SQLite catalog; ``None`` for PostgreSQL."""
        if self.dialect != "sqlite":
            return None
        database = sa.engine.make_url(self.url).database
        return Path(database) if database and database != ":memory:" else None

    def corruption(self, exc: sa.exc.DatabaseError) -> CorruptionError:
        """The CorruptionError for a catalog that SQLite cannot decode."""
        where = self.sqlite_path or _redact(self.url)
        lake = f" {where.parent}" if isinstance(where, Path) else ""
        return CorruptionError(
            f"the catalog {where} is damaged ({exc.orig}); run `lakebed check{lake}` to see "
            "what else is affected, then restore the catalog from a backup"
        )

    @contextmanager
    def _decoded(self) -> Iterator[None]:
        """A catalog that SQLite cannot decode raises :meth:`corruption`, not a DatabaseError."""
        try:
            yield
        except sa.exc.DatabaseError as exc:
            if _is_corruption(exc):
                raise self.corruption(exc) from None
            raise

    @staticmethod
    def _require_psycopg() -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            from lakebed.errors import raise_missing_extra

            raise_missing_extra("psycopg", "postgres")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside a transaction, committed on success, rolled back on error."""
        with self._decoded():
            try:
                with self.engine.begin() as conn:
                    yield conn
            except sa.exc.OperationalError as exc:
                if "database is locked" in str(exc):
                    raise
                raise BackendUnavailable(f"the catalog at {_redact(self.url)} failed: {exc.orig}") from None

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads (no transaction is committed)."""
        with self._decoded(), self.engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the catalog schema to the newest migration (idempotent)."""
        from alembic import command
        from alembic.config import Config

        with self._migrate_lock, self._decoded(), self.engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def add_lineage(
        self,
        src: str,
        dst: str,
        kind: str,
        properties: dict[str, Any] | None = None,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Record the edge ``src -> dst`` (idempotent). Refs look like ``table:silver.events@3``."""
        if conn is None:
            with self.begin() as c:
                self.add_lineage(src, dst, kind, properties, conn=c)
            return
        t = schema.lineage_edges
        exists = conn.execute(
            sa.select(t.c.id).where(t.c.src == src, t.c.dst == dst, t.c.kind == kind)
        ).first()
        if exists is None:
            conn.execute(
                t.insert().values(
                    src=src, dst=dst, kind=kind, created_at=time.time(), properties=properties
                )
            )

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, level: str = "FULL") -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA synchronous={level}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _is_corruption(exc: sa.exc.DatabaseError) -> bool:
    """SQLite's words for a file it cannot decode (SQLITE_CORRUPT, SQLITE_NOTADB)."""
    text = str(exc.orig).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url
