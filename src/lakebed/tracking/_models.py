"""The model registry: named models, numbered versions backed by a run's model artifact,
and movable aliases (``fraud@champion``).

Example:
    >>> import lakebed
    >>> with lakebed.connect(":memory:") as lake:
    ...     with lake.runs.start(experiment="fraud") as run:
    ...         _ = run.log_model({"weights": [1, 2]})
    ...     mv = lake.models.register("fraud", run=run)
    ...     lake.models.set_alias("fraud", "champion", mv.version)
    ...     lake.models.load("fraud@champion")
    {'weights': [1, 2]}
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lakebed._names import validate_name
from lakebed.api._tracking import ModelsAPI
from lakebed.errors import ConflictError, InvalidArgument, NotFound
from lakebed.tracking import _schema as s
from lakebed.tracking._artifacts import load_model

if TYPE_CHECKING:
    from lakebed.api._tracking import RunAPI
    from lakebed.lake import Lake

_RESERVED_ALIASES = ("latest",)


def check_model_name(name: Any) -> str:
    # a model names its prediction table, predictions.<name>
    return validate_name("model", name)


def split_model_ref(ref: str) -> tuple[str, str | None]:
    """``"model:fraud@champion"`` / ``"fraud@3"`` / ``"fraud"`` -> (name, selector)."""
    if not isinstance(ref, str):
        raise InvalidArgument(f"a model reference is a string like 'fraud@champion', got {ref!r}")
    if ref.startswith("model:"):
        ref = ref[len("model:") :]
    name, at, selector = ref.partition("@")
    check_model_name(name)
    if at and not selector:
        raise InvalidArgument(f"{ref!r} ends with '@'; write name@version or name@alias")
    return name, (selector or None)


@dataclasses.dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    run_id: str | None
    artifact: str
    sha256: str
    flavor: str | None
    description: str | None
    created_at: float
    aliases: tuple[str, ...] = ()
    properties: dict[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def ref(self) -> str:
        """The lineage reference ``model:<name>@<version>``."""
        return f"model:{self.name}@{self.version}"


class Models(ModelsAPI):
    """The model registry of a lake: ``lake.models``."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._catalog = lake.catalog

    def register(
        self,
        name: str,
        run: RunAPI | str,
        artifact: str = "model",
        description: str | None = None,
    ) -> ModelVersion:
        self._lake.check_writable()
        check_model_name(name)
        run_id = run if isinstance(run, str) else run.id
        a = s.run_artifacts
        for attempt in range(5):
            try:
                with self._catalog.begin() as conn:
                    art = conn.execute(sa.select(a).where(a.c.run_id == run_id, a.c.name == artifact)).first()
                    if art is None:
                        exists = conn.execute(sa.select(s.runs.c.id).where(s.runs.c.id == run_id)).first()
                        if exists is None:
                            raise NotFound(f"no run {run_id!r} to register a model from")
                        raise NotFound(
                            f"run {run_id} has no artifact {artifact!r}; log it with "
                            f"run.log_model(model, name={artifact!r}) first"
                        )
                    now = time.time()
                    m = s.models
                    if conn.execute(sa.select(m.c.name).where(m.c.name == name)).first() is None:
                        conn.execute(m.insert().values(name=name, description=None, created_at=now, updated_at=now))
                    else:
                        conn.execute(m.update().where(m.c.name == name).values(updated_at=now))
                    mv = s.model_versions
                    last = conn.execute(sa.select(sa.func.max(mv.c.version)).where(mv.c.name == name)).scalar()
                    version = int(last or 0) + 1
                    conn.execute(
                        mv.insert().values(
                            name=name,
                            version=version,
                            run_id=run_id,
                            artifact=artifact,
                            sha256=art.sha256,
                            flavor=art.flavor,
                            description=description,
                            created_at=now,
                            properties=art.properties,
                        )
                    )
                    self._catalog.add_lineage(f"run:{run_id}", f"model:{name}@{version}", "registered", conn=conn)
                return ModelVersion(
                    name,
                    version,
                    run_id,
                    artifact,
                    art.sha256,
                    art.flavor,
                    description,
                    now,
                    (),
                    art.properties,
                )
            except sa.exc.IntegrityError:
                if attempt == 4:
                    raise ConflictError(
                        f"could not register a new version of {name!r}: concurrent "
                        "registrations kept taking the number; retry"
                    ) from None
        raise AssertionError("unreachable")

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._lake.check_writable()
        check_model_name(name)
        validate_name("alias", alias)
        if alias in _RESERVED_ALIASES:
            raise InvalidArgument(f"an alias may not be {'/'.join(_RESERVED_ALIASES)}; got {alias!r}")
        self.get(name, version)  # NotFound for a missing version
        t = s.model_aliases
        with self._catalog.begin() as conn:
            conn.execute(t.delete().where(t.c.name == name, t.c.alias == alias))
            conn.execute(t.insert().values(name=name, alias=alias, version=int(version), updated_at=time.time()))

    def delete_alias(self, name: str, alias: str) -> None:
        self._lake.check_writable()
        t = s.model_aliases
        with self._catalog.begin() as conn:
            n = conn.execute(t.delete().where(t.c.name == name, t.c.alias == alias)).rowcount
        if not n:
            raise NotFound(f"model {name!r} has no alias {alias!r}")

    def resolve(self, ref: str, version: int | str | None = None) -> tuple[str, int]:
        name, selector = split_model_ref(ref)
        if version is not None:
            if selector is not None:
                raise InvalidArgument(f"give the version in {ref!r} or as version=, not both")
            selector = str(version)
        with self._catalog.connect() as conn:
            if selector is None or selector == "latest":
                mv = s.model_versions
                v = conn.execute(sa.select(sa.func.max(mv.c.version)).where(mv.c.name == name)).scalar()
                if v is None:
                    raise NotFound(f"no model {name!r}; register one with lake.models.register")
                return name, int(v)
            if selector.isdigit():
                if not 1 <= int(selector) < 2**31:
                    raise NotFound(f"model {name!r} has no version {selector}; see lake.models.versions({name!r})")
                return name, int(selector)
            t = s.model_aliases
            v = conn.execute(sa.select(t.c.version).where(t.c.name == name, t.c.alias == selector)).scalar()
        if v is None:
            raise NotFound(
                f"model {name!r} has no alias {selector!r}; set it with "
                f"lake.models.set_alias({name!r}, {selector!r}, version)"
            )
        return name, int(v)

    def get(self, ref: str, version: int | str | None = None) -> ModelVersion:
        name, v = self.resolve(ref, version)
        mv, al = s.model_versions, s.model_aliases
        with self._catalog.connect() as conn:
            row = conn.execute(sa.select(mv).where(mv.c.name == name, mv.c.version == v)).first()
            aliases = tuple(
                r[0]
                for r in conn.execute(
                    sa.select(al.c.alias).where(al.c.name == name, al.c.version == v).order_by(al.c.alias)
                )
            )
        if row is None:
            raise NotFound(f"model {name!r} has no version {v}; see lake.models.versions({name!r})")
        return _mv(row, aliases)

    def load(self, ref: str, version: int | str | None = None) -> Any:
        mv = self.get(ref, version)
        data = self._lake.runs.artifacts.get(mv.sha256)
        return load_model(data, mv.flavor, mv.properties)

    def versions(self, name: str) -> list[ModelVersion]:
        check_model_name(name)
        mv, al = s.model_versions, s.model_aliases
        with self._catalog.connect() as conn:
            rows = conn.execute(sa.select(mv).where(mv.c.name == name).order_by(mv.c.version)).all()
            aliases: dict[int, list[str]] = {}
            for a, v in conn.execute(sa.select(al.c.alias, al.c.version).where(al.c.name == name).order_by(al.c.alias)):
                aliases.setdefault(v, []).append(a)
        if not rows:
            raise NotFound(f"no model {name!r}; see lake.models.list()")
        return [_mv(r, tuple(aliases.get(r.version, ()))) for r in rows]

    def list(self) -> list[dict[str, Any]]:
        m, mv, al = s.models, s.model_versions, s.model_aliases
        with self._catalog.connect() as conn:
            latest = dict(conn.execute(sa.select(mv.c.name, sa.func.max(mv.c.version)).group_by(mv.c.name)).all())
            aliases: dict[str, dict[str, int]] = {}
            for n, a, v in conn.execute(sa.select(al.c.name, al.c.alias, al.c.version)):
                aliases.setdefault(n, {})[a] = v
            rows = conn.execute(sa.select(m).order_by(m.c.name)).all()
        return [
            {
                "name": r.name,
                "description": r.description,
                "latest_version": latest.get(r.name),
                "aliases": dict(sorted(aliases.get(r.name, {}).items())),
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            }
            for r in rows
        ]


def _mv(row: Any, aliases: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        row.name,
        row.version,
        row.run_id,
        row.artifact,
        row.sha256,
        row.flavor,
        row.description,
        row.created_at,
        aliases,
        row.properties,
    )
