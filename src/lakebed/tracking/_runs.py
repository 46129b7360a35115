"""Experiment runs: params, metric series, tags, inputs, artifacts and models.

Durability of metrics: ``log_metric`` appends the point to an in-memory buffer of the
lake's ``Runs`` and returns; the buffer is written to the catalog in one transaction
when it holds ``max_buffered`` points, when ``flush_interval`` seconds have passed since
the last flush (checked on every log call), when the run ends, before every read of
runs, when the lake closes and at interpreter exit. A process killed with SIGKILL can
therefore lose at most the last ``flush_interval`` seconds of metric points; set
``lake.runs.flush_interval = 0`` to write each point at once. The points of one
``log_metrics`` call enter the buffer together, so a flush holds all of them or none.
With ``fsync="always"`` a flush returns after the catalog fsynced it (SQLite
``synchronous=FULL``, PostgreSQL ``synchronous_commit=on``). Params,
tags, artifacts and status changes are written synchronously.

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     with lake.runs.start(experiment="fraud") as run:
    ...         run.log_params({"lr": 0.1})
    ...         run.log_metric("auc", 0.91)
    ...     lake.runs.search("metrics.auc > 0.9")["params.lr"].to_pylist()
    ['0.1']
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import dataclasses
import itertools
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from lakebed._names import validate_name
from lakebed.api._tracking import RunAPI, RunsAPI
from lakebed.errors import ConflictError, InvalidArgument, NotFound
from lakebed.tracking import _env
from lakebed.tracking import _schema as s
from lakebed.tracking._artifacts import FLAVORS, ArtifactStore, dump_model, load_model, read_source
from lakebed.tracking._search import compile_joins, order_clauses, parse, parse_order_by

if TYPE_CHECKING:
    from lakebed.lake import Lake

RUNNING, FINISHED, FAILED, KILLED = "RUNNING", "FINISHED", "FAILED", "KILLED"
STATUSES = (RUNNING, FINISHED, FAILED, KILLED)
_ATTR_COLUMNS = (
    "id",
    "experiment",
    "name",
    "status",
    "start_time",
    "end_time",
    "user",
    "host",
    "python_version",
    "git_commit",
    "git_dirty",
)
_live: weakref.WeakSet[Runs] = weakref.WeakSet()
# the fsync setting as PostgreSQL synchronous_commit (None: the server's default)
_SYNCHRONOUS_COMMIT = {"always": "on", "batch": None, "never": "off"}


@atexit.register
def _flush_all() -> None:  # pragma: no cover - runs at interpreter exit
    for runs in list(_live):
        with contextlib.suppress(Exception):
            runs.flush()


def _check_key(key: Any, what: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 250:
        raise InvalidArgument(f"{what} keys must be non-empty strings of at most 250 characters, got {key!r}")
    return key


@dataclasses.dataclass(frozen=True)
class Artifact:
    """An artifact recorded by a run."""

    run_id: str
    name: str
    sha256: str
    size: int
    kind: str
    flavor: str | None = None
    properties: dict[str, Any] | None = None


class Run(RunAPI):
    """One run of an experiment. Use it as a context manager from :meth:`Runs.start`.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     with lake.runs.start(experiment="demo") as run:
        ...         run.log_metric("loss", 0.5, step=1)
        ...     lake.runs.get(run.id).status
        'FINISHED'
    """

    def __init__(self, runs: Runs, row: Mapping[str, Any]) -> None:
        self._runs = runs
        self.id: str = row["id"]
        self.experiment: str = row["experiment"]
        self.name: str | None = row["name"]
        self.status: str = row["status"]
        self.start_time: float = row["start_time"]
        self.end_time: float | None = row["end_time"]
        self.user: str | None = row.get("user")
        self.host: str | None = row.get("host")
        self.python_version: str | None = row.get("python_version")
        self.git_commit: str | None = row.get("git_commit")
        self.git_dirty: bool | None = row.get("git_dirty")
        self.error: str | None = row.get("error")
        self._environment: str | None = row.get("environment")

    def __repr__(self) -> str:
        return f"<Run {self.id} experiment={self.experiment!r} status={self.status}>"

    @property
    def ref(self) -> str:
        return f"run:{self.id}"

    # -- logging -----------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._runs._lake.check_writable()
        if not isinstance(params, Mapping):
            raise InvalidArgument("log_params takes a mapping {name: value}")
        new = {_check_key(k, "param"): str(v) for k, v in params.items()}
        if not new:
            return
        t = s.run_params
        with self._runs._begin() as conn:
            existing = dict(
                conn.execute(sa.select(t.c.key, t.c.value).where(t.c.run_id == self.id, t.c.key.in_(list(new)))).all()
            )
            clashes = {k: (existing[k], v) for k, v in new.items() if k in existing and existing[k] != v}
            if clashes:
                k, (old, v) = next(iter(clashes.items()))
                raise ConflictError(
                    f"param {k!r} of run {self.id} is {old!r} and params are immutable; "
                    f"cannot set it to {v!r}; log it under another key or start a new run"
                )
            rows = [{"run_id": self.id, "key": k, "value": v} for k, v in new.items() if k not in existing]
            if rows:
                try:
                    conn.execute(t.insert(), rows)
                except sa.exc.IntegrityError:
                    raise ConflictError(f"params of run {self.id} were logged concurrently; retry") from None

    def log_metric(self, key: str, value: float, step: int | None = None, timestamp: float | None = None) -> None:
        self._runs._append(self.id, [(key, value)], step, timestamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if not isinstance(metrics, Mapping):
            raise InvalidArgument("log_metrics takes a mapping {name: value}")
        self._runs._append(self.id, list(metrics.items()), step, time.time())

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._runs._lake.check_writable()
        self._runs._set_tags(self.id, tags)

    def log_input(self, source: Any, *, kind: str = "input") -> str:
        from lakebed.tracking._lineage import input_ref

        self._runs._lake.check_writable()
        ref = input_ref(self._runs._lake, source)
        self._runs._catalog.add_lineage(ref, self.ref, kind)
        return ref

    @property
    def inputs(self) -> list[str]:
        t = sa.table("lineage_edges", sa.column("src"), sa.column("dst"), sa.column("kind"))
        with self._runs._catalog.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(t.c.src).where(t.c.dst == self.ref, t.c.kind == "input"))]

    def log_artifact(self, source: str | Path | bytes, name: str | None = None) -> Artifact:
        self._runs._lake.check_writable()
        data = read_source(source)
        if name is None:
            if isinstance(source, bytes | bytearray | memoryview):
                raise InvalidArgument("log_artifact(bytes) needs a name=")
            name = Path(source).name
        return self._runs._add_artifact(self.id, _check_key(name, "artifact"), data, "file", None, None)

    def log_model(self, model: Any, name: str = "model", flavor: str | None = None) -> Artifact:
        self._runs._lake.check_writable()
        data, flavor, props = dump_model(model, flavor)
        return self._runs._add_artifact(self.id, _check_key(name, "model"), data, "model", flavor, props)

    def log_model_bytes(
        self, data: bytes, name: str = "model", flavor: str = "pickle", properties: dict[str, Any] | None = None
    ) -> Artifact:
        self._runs._lake.check_writable()
        if flavor not in FLAVORS:
            raise InvalidArgument(f"unknown model flavor {flavor!r}; use one of {', '.join(FLAVORS)}")
        return self._runs._add_artifact(self.id, _check_key(name, "model"), bytes(data), "model", flavor, properties)

    # -- reading -----------------------------------------------------------------------
    @property
    def params(self) -> dict[str, str]:
        return self._runs._kv(s.run_params, self.id)

    @property
    def tags(self) -> dict[str, str]:
        return self._runs._kv(s.run_tags, self.id)

    @property
    def metrics(self) -> dict[str, float]:
        self._runs.flush()
        t = s.run_latest_metrics
        with self._runs._catalog.connect() as conn:
            rows = conn.execute(sa.select(t.c.key, t.c.value).where(t.c.run_id == self.id)).all()
        return {k: (float("nan") if v is None else v) for k, v in rows}

    def metric_history(self, key: str) -> pa.Table:
        self._runs.flush()
        t = s.run_metrics
        with self._runs._catalog.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.step, t.c.timestamp, t.c.value)
                .where(t.c.run_id == self.id, t.c.key == key)
                .order_by(t.c.step, t.c.timestamp, t.c.seq)
            ).all()
        return pa.table(
            {
                "step": pa.array([r[0] for r in rows], pa.int64()),
                "timestamp": pa.array([r[1] for r in rows], pa.float64()),
                "value": pa.array([float("nan") if r[2] is None else r[2] for r in rows], pa.float64()),
            }
        )

    @property
    def artifacts(self) -> list[Artifact]:
        t = s.run_artifacts
        with self._runs._catalog.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.run_id == self.id).order_by(t.c.name)).all()
        return [Artifact(r.run_id, r.name, r.sha256, r.size, r.kind, r.flavor, r.properties) for r in rows]

    def artifact(self, name: str) -> Artifact:
        for a in self.artifacts:
            if a.name == name:
                return a
        raise NotFound(f"run {self.id} has no artifact {name!r}; see run.artifacts for its artifacts")

    def load_artifact(self, name: str) -> bytes:
        return self._runs.artifacts.get(self.artifact(name).sha256)

    def load_model(self, name: str = "model") -> Any:
        a = self.artifact(name)
        return load_model(self._runs.artifacts.get(a.sha256), a.flavor, a.properties)

    @property
    def environment(self) -> dict[str, str]:
        if self._environment is None:
            return {}
        t = s.environments
        with self._runs._catalog.connect() as conn:
            value = conn.execute(sa.select(t.c.packages).where(t.c.sha256 == self._environment)).scalar()
        return dict(value or {})

    # -- lifecycle ---------------------------------------------------------------------
    def end(self, status: str = FINISHED, error: str | None = None) -> None:
        if status not in STATUSES or status == RUNNING:
            raise InvalidArgument(f"a run ends as FINISHED, FAILED or KILLED, not {status!r}")
        self._runs._lake.check_writable()
        end_time = time.time()

        def finish(conn: sa.Connection) -> None:
            conn.execute(
                s.runs.update().where(s.runs.c.id == self.id),
                {"status": status, "end_time": end_time, "error": error},
            )

        # the last metric points and the status change commit together
        self._runs.flush(also=finish)
        self.end_time, self.status, self.error = end_time, status, error

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.status != RUNNING:  # ended inside the block already
            return
        if exc_type is None:
            self.end(FINISHED)
        else:
            status = KILLED if issubclass(exc_type, KeyboardInterrupt) else FAILED
            text = "".join(traceback.format_exception_only(exc_type, exc)).strip()
            self.end(status, error=text[:4000])


class Runs(RunsAPI):
    """The runs of a lake: ``lake.runs``.

    Example:
        >>> import lakebed
        >>> with lakebed.connect(":memory:") as lake:
        ...     with lake.runs.start(experiment="fraud", tags={"team": "risk"}) as run:
        ...         run.log_metrics({"auc": 0.9, "loss": 0.2}, step=1)
        ...     lake.runs.search("tags.team = 'risk'").num_rows
        1
    """

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._catalog = lake.catalog
        self.artifacts = ArtifactStore(lake.path / "artifacts", durable=lake.settings.fsync != "never")
        self.flush_interval = 1.0
        self.max_buffered = 10_000
        self._buffer: list[tuple[str, str, int, float, float | None, int]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._seq = itertools.count(time.time_ns() // 1000)
        self._env_known: set[str] = set()
        self._insert_sql, self._upsert_sql = self._make_sql()
        self._created = 0  # runs started since the last ANALYZE
        self._analyze_every = 1000
        self._stats_checked = False
        lake.on_close(self.flush)
        _live.add(self)

    # -- writing -----------------------------------------------------------------------
    def start(
        self,
        experiment: str = "default",
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Run:
        self._lake.check_writable()
        validate_name("label", experiment, "experiment")
        if name is not None:
            validate_name("label", name, "run name")
        env_hash, packages = _env.packages()
        commit, dirty = _env.git_state()
        run_id = uuid.uuid4().hex
        row: dict[str, Any] = {
            "id": run_id,
            "experiment": experiment,
            "name": name,
            "status": RUNNING,
            "start_time": time.time(),
            "end_time": None,
            "user": _env.user(),
            "host": _env.host(),
            "python_version": _env.python_version(),
            "git_commit": commit,
            "git_dirty": dirty,
            "environment": env_hash,
            "error": None,
        }
        tag_rows = self._tag_rows(run_id, tags or {})
        with self._begin() as conn:
            if env_hash not in self._env_known:
                # another process may store the same environment at the same moment
                if self._catalog.dialect == "postgresql":
                    from sqlalchemy.dialects.postgresql import insert
                else:
                    from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
                conn.execute(
                    insert(s.environments)
                    .values(sha256=env_hash, packages=packages, created_at=time.time())
                    .on_conflict_do_nothing(index_elements=["sha256"])
                )
            conn.execute(s.runs.insert(), row)
            if tag_rows:
                conn.execute(s.run_tags.insert(), tag_rows)
        self._env_known.add(env_hash)
        self._created += 1
        return Run(self, row)

    def _maybe_analyze(self) -> None:
        """Keep SQLite's planner statistics on the tracking tables fresh.

        Without them SQLite cannot tell that ``params.p = 'x'`` selects 5% of the runs
        and ``metrics.m > 0.5`` half of them, and may start a search from the wrong
        index. They are refreshed when the number of runs has about doubled since the
        last time (so the cost, ~70 ms at 10,000 runs, is amortized), and once per process
        when they are missing. PostgreSQL's autovacuum keeps its own statistics.
        """
        if self._catalog.dialect != "sqlite" or self._lake.read_only:
            return
        due = self._created >= self._analyze_every
        if not due and self._stats_checked:
            return
        with self._catalog.begin() as conn:
            if not due:
                self._stats_checked = True
                has_table = conn.exec_driver_sql(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
                ).first()
                if has_table and conn.exec_driver_sql("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'runs'").first():
                    return
            total = conn.execute(sa.select(sa.func.count()).select_from(s.runs)).scalar() or 0
            if total < 100:  # tiny: any plan is fast, and the statistics would not last
                return
            for table in ("runs", "run_params", "run_tags", "run_latest_metrics"):
                conn.exec_driver_sql(f"ANALYZE {table}")
        self._created = 0
        self._analyze_every = max(1000, int(total))
        self._stats_checked = True

    def _tag_rows(self, run_id: str, tags: Mapping[str, Any]) -> builtins.list[dict[str, Any]]:
        if not isinstance(tags, Mapping):
            raise InvalidArgument("tags must be a mapping {name: value}")
        return [{"run_id": run_id, "key": _check_key(k, "tag"), "value": str(v)} for k, v in tags.items()]

    def _set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        rows = self._tag_rows(run_id, tags)
        if not rows:
            return
        t = s.run_tags
        with self._begin() as conn:
            conn.execute(t.delete().where(t.c.run_id == run_id, t.c.key.in_([r["key"] for r in rows])))
            conn.execute(t.insert(), rows)

    def _append(self, run_id: str, items: Sequence[tuple[str, Any]], step: int | None, ts: float | None) -> None:
        """Buffer the points of one call together (all validated first), so that a flush
        holds the whole call or none of it."""
        self._lake.check_writable()
        if step is None:
            step = 0
        elif isinstance(step, bool) or not isinstance(step, int):
            try:
                step = int(step.__index__())  # numpy integers
            except AttributeError:
                raise InvalidArgument(f"step must be an integer, got {step!r}") from None
        when = time.time() if ts is None else float(ts)
        points = []
        for key, value in items:
            _check_key(key, "metric")
            if isinstance(value, bool) or not isinstance(value, int | float):
                try:
                    import numbers

                    if not isinstance(value, numbers.Real) or isinstance(value, bool):
                        raise TypeError
                    value = float(value)
                except TypeError:
                    raise InvalidArgument(f"metric {key!r} must be a number, got {value!r}") from None
            v = float(value)
            points.append((run_id, key, step, when, None if v != v else v, next(self._seq)))
        with self._lock:
            self._buffer.extend(points)
            due = len(self._buffer) >= self.max_buffered or time.monotonic() - self._last_flush >= self.flush_interval
        if due:
            self.flush()

    @contextlib.contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A catalog transaction whose commit honours the lake's ``fsync`` setting: every
        write of runs (start, params, tags, metric flushes, end, artifacts) goes through it.

        A SQLite catalog sets ``synchronous`` for the setting on each connection itself
        (FULL under ``fsync="always"``, else NORMAL). On PostgreSQL ``SET LOCAL`` scopes
        ``synchronous_commit`` to this transaction.
        """
        with self._catalog.begin() as conn:
            if self._catalog.dialect != "sqlite":
                level = _SYNCHRONOUS_COMMIT.get(self._lake.settings.fsync)
                if level is not None:
                    conn.exec_driver_sql(f"SET LOCAL synchronous_commit = {level}")
            yield conn

    def _make_sql(self) -> tuple[str, str]:
        """The two statements of a metric flush, in the driver's own paramstyle: handing
        tuples straight to ``executemany`` costs a fraction of SQLAlchemy's per-row
        parameter processing, and metric flushes are the hot path of logging."""
        ph = "?" if self._catalog.dialect == "sqlite" else "%s"
        values = ", ".join([ph] * 6)
        cols = 'run_id, key, step, "timestamp", value, seq'
        insert = f"INSERT INTO run_metrics ({cols}) VALUES ({values})"
        t = "run_latest_metrics"
        upsert = (
            f"INSERT INTO {t} ({cols}) VALUES ({values}) ON CONFLICT (run_id, key) DO UPDATE SET "
            'step = excluded.step, "timestamp" = excluded."timestamp", value = excluded.value, '
            f"seq = excluded.seq WHERE excluded.step > {t}.step OR (excluded.step = {t}.step AND "
            f'(excluded."timestamp" > {t}."timestamp" OR (excluded."timestamp" = {t}."timestamp" '
            f"AND excluded.seq > {t}.seq)))"
        )
        return insert, upsert

    def flush(self, also: Callable[[sa.Connection], None] | None = None) -> None:
        """Write buffered metric points to the catalog (one transaction, which also runs
        ``also(conn)`` when given)."""
        with self._flush_lock:
            with self._lock:
                buf, self._buffer = self._buffer, []
                self._last_flush = time.monotonic()
            if not buf:
                if also is not None:
                    with self._begin() as conn:
                        also(conn)
                return
            latest: dict[tuple[str, str], tuple[Any, ...]] = {}
            for p in buf:
                cur = latest.get((p[0], p[1]))
                if cur is None or (p[2], p[3], p[5]) > (cur[2], cur[3], cur[5]):
                    latest[(p[0], p[1])] = p
            try:
                with self._begin() as conn:
                    conn.exec_driver_sql(self._insert_sql, buf)  # type: ignore[arg-type]
                    conn.exec_driver_sql(self._upsert_sql, list(latest.values()))  # type: ignore[arg-type]
                    if also is not None:
                        also(conn)
            except BaseException:
                with self._lock:  # keep the points for the next flush
                    self._buffer[:0] = buf
                raise

    def _add_artifact(
        self, run_id: str, name: str, data: bytes, kind: str, flavor: str | None, props: dict[str, Any] | None
    ) -> Artifact:
        digest = self.artifacts.put(data)
        t = s.run_artifacts
        with self._begin() as conn:
            old = conn.execute(sa.select(t.c.sha256).where(t.c.run_id == run_id, t.c.name == name)).scalar()
            if old is not None and old != digest:
                raise ConflictError(
                    f"run {run_id} already has an artifact {name!r} with other content; "
                    "artifacts are immutable: log it under another name"
                )
            if old is None:
                conn.execute(
                    t.insert().values(
                        run_id=run_id,
                        name=name,
                        sha256=digest,
                        size=len(data),
                        kind=kind,
                        flavor=flavor,
                        created_at=time.time(),
                        properties=props,
                    )
                )
        return Artifact(run_id, name, digest, len(data), kind, flavor, props)

    def delete(self, run_id: str) -> None:
        self._lake.check_writable()
        self.flush()
        with self._begin() as conn:
            if conn.execute(sa.select(s.runs.c.id).where(s.runs.c.id == run_id)).first() is None:
                raise NotFound(f"no run {run_id!r}; list runs with lake.runs.list()")
            mv = conn.execute(
                sa.select(s.model_versions.c.name, s.model_versions.c.version).where(
                    s.model_versions.c.run_id == run_id
                )
            ).first()
            if mv is not None:
                raise ConflictError(
                    f"run {run_id} backs the model version {mv[0]}@{mv[1]}; it cannot be deleted "
                    "while the model registry refers to it"
                )
            for t in (s.run_params, s.run_tags, s.run_metrics, s.run_latest_metrics, s.run_artifacts):
                conn.execute(t.delete().where(t.c.run_id == run_id))
            conn.execute(s.runs.delete().where(s.runs.c.id == run_id))
            le = sa.table("lineage_edges", sa.column("src"), sa.column("dst"))
            ref = f"run:{run_id}"
            conn.execute(le.delete().where(sa.or_(le.c.src == ref, le.c.dst == ref)))

    # -- reading -----------------------------------------------------------------------
    def get(self, run_id: str | RunAPI) -> Run:
        if not isinstance(run_id, str):
            run_id = run_id.id
        with self._catalog.connect() as conn:
            row = conn.execute(sa.select(s.runs).where(s.runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFound(f"no run {run_id!r}; find runs with lake.runs.search(...)")
        return Run(self, dict(row))

    def _kv(self, t: sa.Table, run_id: str) -> dict[str, str]:
        with self._catalog.connect() as conn:
            return dict(conn.execute(sa.select(t.c.key, t.c.value).where(t.c.run_id == run_id)).all())

    def experiments(self) -> builtins.list[str]:
        with self._catalog.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(s.runs.c.experiment).distinct().order_by(s.runs.c.experiment))]

    def search(
        self,
        query: str = "",
        experiment: str | Iterable[str] | None = None,
        order_by: Iterable[str] | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> pa.Table:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidArgument(f"limit must be a non-negative integer or None, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidArgument(f"offset must be a non-negative integer, got {offset!r}")
        if isinstance(order_by, str):
            order_by = [order_by]
        node = parse(query)
        orders = [parse_order_by(o) for o in (order_by or [])]
        self.flush()
        self._maybe_analyze()
        dialect = self._catalog.dialect
        stmt = sa.select(*(s.runs.c[c] for c in _ATTR_COLUMNS))
        src: Any = s.runs
        if node is not None:
            inner, where = compile_joins(node, dialect)
            for t, on in inner:
                src = src.join(t, on)
            if where is not None:
                stmt = stmt.where(where)
        if experiment is not None:
            names = [experiment] if isinstance(experiment, str) else list(experiment)
            stmt = stmt.where(s.runs.c.experiment.in_(names))
        joins: list[Any] = []
        order_cols = []
        for field, desc in orders:
            order_cols.extend(order_clauses(field, desc, joins, dialect))
        for t, on in joins:
            src = src.outerjoin(t, on)
        stmt = stmt.select_from(src).order_by(*order_cols, s.runs.c.start_time.desc(), s.runs.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        with self._catalog.connect() as conn:
            rows = conn.execute(stmt).all()
            # plain DBAPI tuples: these columns need no type processing, and Row objects
            # for a few hundred thousand key-values cost more than the query
            kv = conn.execute(self._kv_query(stmt, rows)).cursor.fetchall() if rows else []
        return _to_arrow(list(rows), kv)

    def count(self, query: str = "", experiment: str | Iterable[str] | None = None) -> int:
        node = parse(query)
        self.flush()
        src: Any = s.runs
        stmt = sa.select(sa.func.count(sa.distinct(s.runs.c.id)))
        if node is not None:
            inner, where = compile_joins(node, self._catalog.dialect)
            for t, on in inner:
                src = src.join(t, on)
            if where is not None:
                stmt = stmt.where(where)
        if experiment is not None:
            names = [experiment] if isinstance(experiment, str) else builtins.list(experiment)
            stmt = stmt.where(s.runs.c.experiment.in_(names))
        with self._catalog.connect() as conn:
            return int(conn.execute(stmt.select_from(src)).scalar_one())

    def list(self, experiment: str | None = None, *, status: str | None = None, limit: int | None = None) -> pa.Table:
        query = ""
        if status is not None:
            if status not in STATUSES:
                raise InvalidArgument(f"status must be one of {STATUSES}, got {status!r}")
            query = f"status = '{status}'"
        return self.search(query, experiment=experiment, limit=limit)

    @staticmethod
    def _kv_query(page: sa.Select[Any], rows: Sequence[Any]) -> Any:
        """Metrics, params and tags of the runs of ``page``, as one UNION ALL statement.

        A short page sends its ids. A long one repeats the page statement as a common
        table expression: thousands of bound parameters cost more to compile than the
        filter costs to run again, and both databases materialize a CTE used three times.
        """
        ids: Any
        if len(rows) <= 500:  # a short list is cheaper than running the filter again
            ids = [r[0] for r in rows]
        else:
            ids = sa.select(page.cte("page").c.id)
        lm, p, t = s.run_latest_metrics, s.run_params, s.run_tags
        return sa.union_all(
            sa.select(lm.c.run_id, sa.literal("m"), lm.c.key, lm.c.value, sa.null()).where(lm.c.run_id.in_(ids)),
            sa.select(p.c.run_id, sa.literal("p"), p.c.key, sa.null(), p.c.value).where(p.c.run_id.in_(ids)),
            sa.select(t.c.run_id, sa.literal("t"), t.c.key, sa.null(), t.c.value).where(t.c.run_id.in_(ids)),
        )


_PREFIX = {"m": "metrics.", "p": "params.", "t": "tags."}


def _to_arrow(rows: Sequence[Any], kv: Sequence[Any]) -> pa.Table:
    n = len(rows)
    index = {r[0]: i for i, r in enumerate(rows)}
    columns: dict[str, Any] = {}
    for i, name in enumerate(_ATTR_COLUMNS):
        columns["run_id" if name == "id" else name] = [r[i] for r in rows]
    extra: dict[str, list[Any]] = {}
    for run_id, kind, key, num, text in kv:
        found = index.get(run_id)
        if found is None:  # a run that entered the page between the two statements
            continue
        i = found
        col = _PREFIX[kind] + key
        values = extra.get(col)
        if values is None:
            values = extra[col] = [None] * n
        if kind == "m":
            values[i] = float("nan") if num is None else num
        else:
            values[i] = text
    ts = pa.timestamp("us", tz="UTC")
    arrays: dict[str, pa.Array] = {}
    for name, values in columns.items():
        if name in ("start_time", "end_time"):
            arrays[name] = pa.array([None if v is None else int(v * 1e6) for v in values], pa.int64()).cast(ts)
        elif name == "git_dirty":
            arrays[name] = pa.array(values, pa.bool_())
        else:
            arrays[name] = pa.array(values, pa.string())
    for col in sorted(extra, key=lambda c: (("metrics.", "params.", "tags.").index(c[: c.index(".") + 1]), c)):
        arrays[col] = pa.array(extra[col], pa.float64() if col.startswith("metrics.") else pa.string())
    return pa.table(arrays)
