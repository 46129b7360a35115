"""Shared fixtures. Service-backed tests talk to real servers (never mocks):

- ``pg_url``: a PostgreSQL URL whose ``search_path`` is a fresh schema, dropped afterwards
  (server from ``LAKEBED_TEST_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``);
- ``redis_url``: a Redis URL on a database flushed before and after the test
  (``LAKEBED_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``; tests use db 13).

When a service is unreachable those tests skip with a message, unless
``LAKEBED_REQUIRE_SERVICES=1`` (set by CI), where they fail.

- ``nats_url``: a NATS server with JetStream (``LAKEBED_TEST_NATS_URL``, default
  ``nats://127.0.0.1:4222``) and a namespace of the test's own, purged afterwards.

- ``demo_lake``: one quick demo lake for the session (built once by ``run_demo``): its
  path and the tour's text. Tests that write take a copy (``copy_demo_lake``).

- ``dataset``: ``dataset("hybrid-dev")`` is the folder of a shared dataset, found in
  ``$LAKEBED_DATASETS`` or else at ``../shared/datasets`` from the project root (where CI
  puts it, next to the clone); the test skips, naming both, when it is not there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import lakebed

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
NATS_DEFAULT = "nats://127.0.0.1:4222"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"


def _service_missing(what: str, exc: BaseException) -> None:
    msg = f"{what} is unreachable ({exc}); start it or set the LAKEBED_TEST_* URL"
    if os.environ.get("LAKEBED_REQUIRE_SERVICES") == "1":
        pytest.fail(f"LAKEBED_REQUIRE_SERVICES=1 but {msg}")
    pytest.skip(msg)


def datasets_root() -> Path:
    """``$LAKEBED_DATASETS``, or ``../shared/datasets`` from the project root."""
    env = os.environ.get("LAKEBED_DATASETS")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture
def dataset() -> Callable[[str], Path]:
    """``dataset(name)``: the folder of a shared dataset; skips the test when it is missing."""

    def find(name: str) -> Path:
        path = datasets_root() / name
        if not path.is_dir():
            pytest.skip(
                f"dataset {name!r} not found at {path}: put it at ../shared/datasets/{name} "
                "next to the project, or set LAKEBED_DATASETS to the folder holding it"
            )
        return path

    return find


@pytest.fixture
def lake() -> Iterator[lakebed.Lake]:
    """A throw-away embedded lake."""
    with lakebed.connect(":memory:") as lk:
        yield lk


@pytest.fixture
def lake_path(tmp_path: Path) -> Path:
    """A path for a lake on disk (not created yet)."""
    return tmp_path / "lake"


@pytest.fixture
def pg_server_url() -> str:
    return os.environ.get("LAKEBED_TEST_POSTGRES_URL", PG_DEFAULT)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A PostgreSQL URL pointing at a fresh, empty schema."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - the postgres extra is in CI
        _service_missing("psycopg", exc)
        raise
    schema = f"lbtest_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(pg_server_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        _service_missing("PostgreSQL", exc)
    sep = "&" if "?" in pg_server_url else "?"
    yield f"{pg_server_url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL on a test database, flushed before and after."""
    try:
        import redis
    except ImportError as exc:  # pragma: no cover
        _service_missing("redis-py", exc)
        raise
    base = os.environ.get("LAKEBED_TEST_REDIS_URL", REDIS_DEFAULT)
    url = base.rsplit("/", 1)[0] + "/13" if base.count("/") >= 3 else base + "/13"
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as exc:
        _service_missing("Redis", exc)
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", "postgres"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """Run a test on both catalogs: None (SQLite in the lake) and a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def nats_url() -> Iterator[str]:
    """A NATS (JetStream) URL with a namespace of its own (``?namespace=``); the
    namespace's JetStream streams and KV buckets are deleted afterwards."""
    import socket
    from urllib.parse import urlparse

    base = os.environ.get("LAKEBED_TEST_NATS_URL", NATS_DEFAULT)
    u = urlparse(base)
    try:
        socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=3).close()
    except OSError as exc:
        _service_missing("NATS", exc)
    ns = f"t{uuid.uuid4().hex[:10]}"
    yield f"{base}?namespace={ns}"
    from lakebed.streams._nats import purge_namespace

    purge_namespace(base, ns)


@pytest.fixture(params=["embedded", "nats", "redis"])
def streams_url(request: pytest.FixtureRequest) -> str | None:
    """Each streams backend: None (the embedded log), a NATS JetStream URL, a Redis URL."""
    if request.param == "embedded":
        return None
    if request.param == "nats":
        return str(request.getfixturevalue("nats_url"))
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo lake (quick size), built once per session, and the text its tour printed.
    Read it only; a test that writes works on ``copy_demo_lake``."""
    from rich.console import Console

    from lakebed.demo import run_demo

    console = Console(record=True, width=120)
    root = run_demo(tmp_path_factory.mktemp("demo") / "lake", console, quick=True)
    return root, console.export_text()


@pytest.fixture
def copy_demo_lake(demo_lake: tuple[Path, str], tmp_path: Path) -> Path:
    """A private copy of the session's demo lake, free to write to."""
    import shutil

    target = tmp_path / "lake"
    shutil.copytree(demo_lake[0], target)
    return target
