"""Writing tracking records as another tool recorded them: the import path of the tracking
area, used by importers (``lakebed import mlflow``) and by nothing else.

``lake.runs.start`` and ``lake.models.register`` stamp what they create with the current
time, user and host, a fresh run id and the next version number. An import must keep what
the source recorded instead: the run's id, status, start and end time and user, every
metric point with its own step and timestamp, and the model's own version numbers. The two
functions here write such records, each in one catalog transaction, so a failed import
leaves a run (or a model version) wholly stored or not at all; the names and values go
through the same checks as the public API.

Example:
    >>> import lakebed
    >>> from lakebed.tracking._import import insert_run
    >>> with lakebed.connect(":memory:") as lake:
    ...     run = insert_run(lake.runs, experiment="old", name="r1", status="FINISHED",
    ...                      start_time=1.7e9, end_time=1.7e9 + 60, user="alice",
    ...                      params={"lr": "0.1"}, tags={"source": "x"},
    ...                      metrics=[("loss", 0, 1.7e9 + 1, 0.5), ("loss", 1, 1.7e9 + 2, 0.25)])
    ...     got = lake.runs.get(run.id)
    ...     got.status, got.start_time, got.metrics, got.metric_history("loss")["step"].to_pylist()
    ('FINISHED', 1700000000.0, {'loss': 0.25}, [0, 1])
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lakebed._names import validate_name
from lakebed.errors import ConflictError, InvalidArgument
from lakebed.tracking import _schema as s
from lakebed.tracking._runs import STATUSES, Run, _check_key

if TYPE_CHECKING:
    from lakebed.tracking._models import Models, ModelVersion
    from lakebed.tracking._runs import Runs

_RUN_ID = re.compile(r"[0-9a-f]{32}")


def runs_with_tag(runs: Runs, key: str) -> dict[str, str]:
    """``{tag value: run id}`` of the runs that carry the tag ``key`` (e.g. the source ids
    of runs imported before)."""
    runs.flush()
    t = s.run_tags
    with runs._catalog.connect() as conn:
        return {v: r for r, v in conn.execute(sa.select(t.c.run_id, t.c.value).where(t.c.key == key))}


def insert_run(
    runs: Runs,
    *,
    experiment: str,
    status: str,
    start_time: float,
    end_time: float | None = None,
    run_id: str | None = None,
    name: str | None = None,
    user: str | None = None,
    git_commit: str | None = None,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    metrics: Iterable[tuple[str, int, float, float]] = (),
    artifacts: Sequence[tuple[str, str, int]] = (),
) -> Run:
    """Write a complete run in one transaction, as recorded elsewhere.

    ``metrics`` are points ``(key, step, timestamp, value)`` in the order they were logged;
    ``artifacts`` are ``(name, sha256, size)`` of blobs already put in ``runs.artifacts``.
    ``run_id`` keeps the source's id when it is 32 lower-case hex digits (a lakebed run
    id) and not taken; otherwise the run gets a new id. Host, Python version and
    environment stay empty: the source did not record them.
    """
    lake = runs._lake
    lake.check_writable()
    validate_name("label", experiment, "experiment")
    if name is not None:
        validate_name("label", name, "run name")
    if status not in STATUSES:
        raise InvalidArgument(f"a run's status is one of {', '.join(STATUSES)}, not {status!r}")
    param_rows = {_check_key(k, "param"): str(v) for k, v in (params or {}).items()}
    tag_rows = runs._tag_rows("", tags or {})
    art_rows = {_check_key(n, "artifact"): (sha, int(size)) for n, sha, size in artifacts}
    points: list[tuple[str, str, int, float, float | None, int]] = []
    latest: dict[str, tuple[str, str, int, float, float | None, int]] = {}
    for key, step, ts, value in metrics:
        _check_key(key, "metric")
        if isinstance(step, bool) or not isinstance(step, int):
            raise InvalidArgument(f"metric {key!r}: step must be an integer, got {step!r}")
        v = float(value)
        p = ("", key, step, float(ts), None if v != v else v, next(runs._seq))
        points.append(p)
        cur = latest.get(key)
        if cur is None or (p[2], p[3], p[5]) > (cur[2], cur[3], cur[5]):
            latest[key] = p
    with runs._begin() as conn:
        if run_id is None or not _RUN_ID.fullmatch(run_id) or conn.execute(
            sa.select(s.runs.c.id).where(s.runs.c.id == run_id)
        ).first() is not None:
            run_id = uuid.uuid4().hex
        row: dict[str, Any] = {
            "id": run_id,
            "experiment": experiment,
            "name": name,
            "status": status,
            "start_time": float(start_time),
            "end_time": None if end_time is None else float(end_time),
            "user": user[:200] if user else None,
            "host": None,
            "python_version": None,
            "git_commit": git_commit if git_commit and len(git_commit) <= 64 else None,
            "git_dirty": None,
            "environment": None,
            "error": None,
        }
        conn.execute(s.runs.insert(), row)
        if param_rows:
            conn.execute(s.run_params.insert(), [{"run_id": run_id, "key": k, "value": v}
                                                 for k, v in param_rows.items()])
        if tag_rows:
            conn.execute(s.run_tags.insert(), [{**r, "run_id": run_id} for r in tag_rows])
        if points:
            conn.exec_driver_sql(runs._insert_sql, [(run_id, *p[1:]) for p in points])  # type: ignore[arg-type]
            conn.exec_driver_sql(runs._upsert_sql, [(run_id, *p[1:]) for p in latest.values()])  # type: ignore[arg-type]
        if art_rows:
            now = time.time()
            conn.execute(
                s.run_artifacts.insert(),
                [
                    {"run_id": run_id, "name": n, "sha256": sha, "size": size, "kind": "file", "flavor": None,
                     "created_at": now, "properties": None}
                    for n, (sha, size) in art_rows.items()
                ],
            )
    runs._created += 1  # bulk loads refresh the planner statistics like runs.start does
    return Run(runs, row)


def artifact_shas(runs: Runs, run_id: str, prefix: str = "") -> dict[str, tuple[str, int]]:
    """``{name: (sha256, size)}`` of the artifacts of ``run_id`` whose names start with
    ``prefix``."""
    t = s.run_artifacts
    with runs._catalog.connect() as conn:
        rows = conn.execute(sa.select(t.c.name, t.c.sha256, t.c.size).where(t.c.run_id == run_id)).all()
    return {n: (h, int(z)) for n, h, z in rows if n.startswith(prefix)}


def insert_model_version(
    models: Models,
    *,
    name: str,
    version: int,
    sha256: str,
    artifact: str,
    run_id: str | None = None,
    flavor: str | None = None,
    description: str | None = None,
    created_at: float | None = None,
    properties: dict[str, Any] | None = None,
    model_description: str | None = None,
    model_created_at: float | None = None,
    run_artifact_size: int | None = None,
) -> ModelVersion:
    """Write version ``version`` of model ``name`` with the source's number, time and
    description, creating the model when missing (with ``model_description``). The blob
    ``sha256`` must be in the artifact store already. With ``run_id``, the lineage edge
    ``run -> model`` is recorded and, when ``run_artifact_size`` is given, the run gets
    the artifact ``artifact`` (kind ``model``) unless it has one of that name already.
    ConflictError when the version exists."""
    from lakebed.tracking._models import check_model_name

    lake = models._lake
    lake.check_writable()
    check_model_name(name)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**31:
        raise InvalidArgument(f"a model version is a positive integer, got {version!r}")
    _check_key(artifact, "artifact")
    now = time.time()
    created = now if created_at is None else float(created_at)
    m, mv = s.models, s.model_versions
    with models._catalog.begin() as conn:
        if conn.execute(sa.select(mv.c.version).where(mv.c.name == name, mv.c.version == version)).first():
            raise ConflictError(f"model {name!r} has a version {version} already")
        if conn.execute(sa.select(m.c.name).where(m.c.name == name)).first() is None:
            first = created if model_created_at is None else float(model_created_at)
            conn.execute(m.insert().values(name=name, description=model_description, created_at=first,
                                           updated_at=max(first, created)))
        else:
            conn.execute(m.update().where(m.c.name == name, m.c.updated_at < created).values(updated_at=created))
        conn.execute(
            mv.insert().values(name=name, version=version, run_id=run_id, artifact=artifact, sha256=sha256,
                               flavor=flavor, description=description, created_at=created, properties=properties)
        )
        if run_id is not None:
            if run_artifact_size is not None:
                a = s.run_artifacts
                has = conn.execute(sa.select(a.c.name).where(a.c.run_id == run_id, a.c.name == artifact)).first()
                if has is None:
                    conn.execute(a.insert().values(run_id=run_id, name=artifact, sha256=sha256,
                                                   size=run_artifact_size, kind="model", flavor=flavor,
                                                   created_at=now, properties=properties))
            models._catalog.add_lineage(f"run:{run_id}", f"model:{name}@{version}", "registered", conn=conn)
    return models.get(name, version)
