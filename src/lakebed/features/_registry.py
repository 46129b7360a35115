"""The registry: versions of the definitions in the catalog, plans (diffs) and apply.

The applied definitions are cached in memory (``generation`` counts changes) so that
online reads never query the catalog; an apply or delete in this process invalidates the
cache, and heavy operations check a cheap catalog signature for changes made elsewhere.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from lakebed.errors import ConflictError, InvalidArgument, NotFound, SchemaError
from lakebed.features import _schema
from lakebed.features._definitions import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    dtype_name,
    parse_dtype,
    split_ref,
)
from lakebed.features._plan import Change, Key, Plan

if TYPE_CHECKING:
    from lakebed.lake import Lake

KINDS = ("entity", "view", "service")


def _kind(obj: Any) -> str:
    if isinstance(obj, Entity):
        return "entity"
    if isinstance(obj, FeatureView | OnDemandFeatureView):
        return "view"
    if isinstance(obj, FeatureService):
        return "service"
    raise InvalidArgument(
        f"cannot apply {obj!r}: pass Entity, FeatureView, OnDemandFeatureView or FeatureService objects"
    )


class Registry:
    """Versioned definitions of one lake."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._lock = threading.RLock()
        self._current: dict[Key, tuple[int, dict[str, Any]]] | None = None
        self._signature: tuple[Any, ...] | None = None
        self._udfs: dict[str, Callable[[Any], Any]] = {}
        self.generation = 0

    # -- reading ------------------------------------------------------------------------
    def _sig(self, conn: sa.Connection) -> tuple[Any, ...]:
        t = _schema.registry
        row = conn.execute(sa.select(sa.func.count(), sa.func.max(t.c.created_at))).one()
        return tuple(row)

    def current(self) -> dict[Key, tuple[int, dict[str, Any]]]:
        """``(kind, name) -> (version, spec)`` of the live definitions (cached)."""
        cur = self._current
        if cur is not None:
            return cur
        with self._lock:
            if self._current is None:
                t = _schema.registry
                latest: dict[Key, tuple[int, dict[str, Any], bool]] = {}
                with self._lake.catalog.connect() as conn:
                    sig = self._sig(conn)
                    for row in conn.execute(sa.select(t).order_by(t.c.version)):
                        latest[(row.kind, row.name)] = (row.version, row.spec, row.deleted)
                self._current = {k: (v, s) for k, (v, s, d) in latest.items() if not d}
                self._signature = sig
                self.generation += 1
            return self._current

    def refresh_if_changed(self) -> None:
        """Reload when another process changed the registry (one small catalog query)."""
        with self._lake.catalog.connect() as conn:
            sig = self._sig(conn)
        if sig != self._signature:
            self.invalidate()

    def invalidate(self) -> None:
        with self._lock:
            self._current = None

    def get(self, kind: str, name: str, version: int | None = None) -> tuple[int, dict[str, Any]]:
        """The spec of a definition (the current one, or a given version)."""
        if version is None:
            found = self.current().get((kind, name))
            if found is None:
                names = sorted(n for (k, n) in self.current() if k == kind)
                raise NotFound(f"no {kind} {name!r} is applied; applied {kind}s: {names}")
            return found
        t = _schema.registry
        with self._lake.catalog.connect() as conn:
            row = conn.execute(
                sa.select(t).where(t.c.kind == kind, t.c.name == name, t.c.version == version)
            ).first()
        if row is None or row.deleted:
            raise NotFound(f"{kind} {name!r} has no version {version}")
        return row.version, row.spec

    def history(self, kind: str, name: str) -> list[tuple[int, dict[str, Any] | None, float]]:
        t = _schema.registry
        with self._lake.catalog.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.kind == kind, t.c.name == name).order_by(t.c.version)
            ).all()
        return [(r.version, None if r.deleted else r.spec, r.created_at) for r in rows]

    def names(self, kind: str) -> list[str]:
        return sorted(n for (k, n) in self.current() if k == kind)

    def udf(self, name: str, spec: dict[str, Any]) -> Callable[[Any], Any]:
        """The function of an on-demand view: registered by apply in this process, or
        imported from its module when it is a top-level function."""
        fn = self._udfs.get(name)
        if fn is not None:
            return fn
        where = spec.get("udf", "")
        module, _, qualname = where.partition(":")
        if module and qualname and "<" not in qualname and module != "__main__":
            try:
                obj: Any = importlib.import_module(module)
                for part in qualname.split("."):
                    obj = getattr(obj, part)
                if callable(obj):
                    self._udfs[name] = obj
                    return obj  # type: ignore[no-any-return]
            except (ImportError, AttributeError):
                pass
        raise InvalidArgument(
            f"the function of on-demand view {name!r} ({where}) is not loaded in this process; "
            "apply the view again (lake.features.apply([...])) before using it"
        )

    # -- planning -----------------------------------------------------------------------
    def plan(
        self,
        objects: Iterable[Any],
        *,
        prune: bool = False,
        source_schema: Callable[[str], pa.Schema | None],
    ) -> Plan:
        objs = list(objects)
        given: dict[Key, Any] = {}
        for obj in objs:
            key = (_kind(obj), obj.name)
            if key in given and given[key] is not obj:
                raise InvalidArgument(f"two {key[0]} definitions are named {key[1]!r}")
            given[key] = obj
        current = self.current()
        merged: dict[Key, dict[str, Any]] = {k: s for k, (v, s) in current.items()}
        if prune:
            for key in list(merged):
                if key not in given:
                    del merged[key]
        # entities first: views need their join keys
        for key, obj in given.items():
            if key[0] == "entity":
                merged[key] = obj.spec()
        for key, obj in given.items():
            if key[0] == "view" and isinstance(obj, FeatureView):
                merged[key] = self._view_spec(obj, merged, source_schema)
        for key, obj in given.items():
            if key[0] == "view" and isinstance(obj, OnDemandFeatureView):
                merged[key] = obj.spec()
        for key, obj in given.items():
            if key[0] == "service":
                merged[key] = obj.spec()
        self._check_dependencies(merged, current, given)
        changes: list[Change] = []
        specs: dict[Key, dict[str, Any]] = {}
        versions = self._max_versions()
        for key in sorted(set(merged) | set(current), key=lambda k: (KINDS.index(k[0]), k[1])):
            old = current.get(key)
            new = merged.get(key)
            nextv = versions.get(key, 0) + 1
            if new is None and old is not None:
                changes.append(Change(key[0], key[1], "delete", old[0], None))
            elif old is None and new is not None:
                changes.append(Change(key[0], key[1], "create", None, nextv))
                specs[key] = new
            elif old is not None and new is not None:
                if old[1] == new:
                    if key in given:
                        changes.append(Change(key[0], key[1], "unchanged", old[0], old[0]))
                else:
                    diff = {
                        k: (old[1].get(k), new.get(k))
                        for k in sorted(set(old[1]) | set(new))
                        if old[1].get(k) != new.get(k)
                    }
                    changes.append(Change(key[0], key[1], "update", old[0], nextv, diff))
                    specs[key] = new
        return Plan(changes, specs, given)

    def _max_versions(self) -> dict[Key, int]:
        t = _schema.registry
        with self._lake.catalog.connect() as conn:
            rows = conn.execute(sa.select(t.c.kind, t.c.name, sa.func.max(t.c.version)).group_by(t.c.kind, t.c.name))
            return {(r[0], r[1]): r[2] for r in rows}

    def _view_spec(
        self,
        view: FeatureView,
        merged: dict[Key, dict[str, Any]],
        source_schema: Callable[[str], pa.Schema | None],
    ) -> dict[str, Any]:
        join_keys: list[str] = []
        for ent in view.entities:
            if isinstance(ent, Entity):
                join_keys += ent.join_keys
                if ("entity", ent.name) not in merged:
                    merged[("entity", ent.name)] = ent.spec()
            else:
                espec = merged.get(("entity", ent))
                if espec is None:
                    raise NotFound(
                        f"view {view.name!r} names entity {ent!r}, which is not applied; "
                        "apply the Entity with the view"
                    )
                join_keys += espec["join_keys"]
        view.join_keys = join_keys
        schema = source_schema(view.source)
        if schema is not None:
            _check_source(view, schema)
            if not view.fields and not view.aggregations:
                from lakebed.features._definitions import Field

                skip = {*join_keys, view.timestamp_field, view.created_timestamp_field}
                fields = []
                for f in schema:
                    if f.name in skip:
                        continue
                    try:
                        fields.append(Field(f.name, parse_dtype(f.type)))
                    except SchemaError:
                        continue  # unsupported column types are simply not features
                view.fields = fields
        elif not view.fields and not view.aggregations:
            raise NotFound(
                f"view {view.name!r} lists no fields and its source table {view.source!r} does not "
                "exist to infer them from; create the table or list the fields"
            )
        return view.spec()

    def _check_dependencies(
        self, merged: dict[Key, dict[str, Any]], current: dict[Key, tuple[int, dict[str, Any]]],
        given: dict[Key, Any],
    ) -> None:
        def features_of(view: str) -> list[str] | None:
            spec = merged.get(("view", view))
            return None if spec is None else _features(spec)

        for (kind, name), spec in merged.items():
            if kind == "view" and spec["type"] == "feature_view":
                for ent in spec["entities"]:
                    if ("entity", ent) not in merged:
                        raise ConflictError(
                            f"entity {ent!r} is used by view {name!r}; it cannot be removed"
                        )
            refs: list[str] = []
            if kind == "service":
                refs = spec["features"]
            elif kind == "view" and spec["type"] == "on_demand":
                refs = spec["sources"]
                for ref in refs:
                    src = merged.get(("view", split_ref(ref)[0]))
                    if src is not None and src["type"] == "on_demand":
                        raise InvalidArgument(
                            f"on-demand view {name!r} reads {ref!r} of another on-demand view; "
                            "sources must be feature views"
                        )
            for ref in refs:
                view, feat = split_ref(ref)
                feats = features_of(view)
                if feats is not None and feat in feats:
                    continue
                user = f"{'service' if kind == 'service' else 'on-demand view'} {name!r}"
                was = current.get(("view", view))
                had = was is not None and feat in _features(was[1])
                if had or (kind, name) not in given:
                    raise ConflictError(
                        f"this plan would break {user}: it uses {ref!r}, which the plan removes; "
                        f"change the {user.split()[0]} too (or keep the feature)"
                    )
                raise NotFound(
                    f"{user} uses {ref!r}, but no applied or planned view has that feature"
                )

    # -- writing ------------------------------------------------------------------------
    def apply(self, plan: Plan) -> Plan:
        """Write the plan's new versions in one catalog transaction."""
        t = _schema.registry
        now = time.time()
        with self._lock:
            with self._lake.catalog.begin() as conn:
                for ch in plan.changes:
                    if ch.action in ("create", "update"):
                        conn.execute(t.insert().values(
                            kind=ch.kind, name=ch.name, version=ch.new_version,
                            spec=plan._specs[(ch.kind, ch.name)], deleted=False, created_at=now,
                        ))
                    elif ch.action == "delete":
                        assert ch.old_version is not None
                        conn.execute(t.insert().values(
                            kind=ch.kind, name=ch.name, version=self._next(conn, ch.kind, ch.name),
                            spec=None, deleted=True, created_at=now,
                        ))
            for ch in plan.changes:
                obj = plan._objects.get((ch.kind, ch.name))
                if obj is not None:
                    obj.version = ch.new_version if ch.action != "unchanged" else ch.old_version
                    if isinstance(obj, OnDemandFeatureView):
                        self._udfs[obj.name] = obj.udf
                if ch.action == "delete":
                    self._udfs.pop(ch.name, None)
            self.invalidate()
        return plan

    def _next(self, conn: sa.Connection, kind: str, name: str) -> int:
        t = _schema.registry
        v = conn.execute(sa.select(sa.func.max(t.c.version)).where(t.c.kind == kind, t.c.name == name)).scalar()
        return int(v or 0) + 1

    def delete(self, kind: str, name: str) -> Change:
        current = self.current()
        if (kind, name) not in current:
            raise NotFound(f"no {kind} {name!r} is applied")
        merged = {k: s for k, (v, s) in current.items() if k != (kind, name)}
        self._check_dependencies(merged, current, {})
        change = Change(kind, name, "delete", current[(kind, name)][0], None)
        self.apply(Plan([change]))
        return change


def _features(spec: dict[str, Any]) -> list[str]:
    if spec["type"] == "on_demand":
        return [f["name"] for f in spec["fields"]]
    return [a["name"] for a in spec["aggregations"]] or [f["name"] for f in spec["fields"]]


def _check_source(view: FeatureView, schema: pa.Schema) -> None:
    """The view's columns must exist in its source table with fitting types."""
    names = set(schema.names)
    src = view.source
    for col in [*view.join_keys, view.timestamp_field]:
        if col not in names:
            raise SchemaError(f"view {view.name!r}: column {col!r} is not in {src!r} (columns: {schema.names})")
    for tcol in (view.timestamp_field, view.created_timestamp_field):
        if tcol is None:
            continue
        col = tcol
        if col not in names:
            raise SchemaError(f"view {view.name!r}: column {col!r} is not in {src!r}")
        if not pa.types.is_timestamp(schema.field(col).type):
            raise SchemaError(
                f"view {view.name!r}: {col!r} in {src!r} is {schema.field(col).type}, not a timestamp"
            )
    for f in view.fields:
        if f.name not in names:
            raise SchemaError(f"view {view.name!r}: field {f.name!r} is not a column of {src!r}")
        have = schema.field(f.name).type
        if not castable(have, f.arrow_type):
            raise SchemaError(
                f"view {view.name!r}: field {f.name!r} is {f.dtype} but {src!r} stores {have}; "
                "declare the stored type"
            )
    for a in view.aggregations:
        if a.column not in names:
            raise SchemaError(f"view {view.name!r}: aggregation column {a.column!r} is not in {src!r}")
        t = schema.field(a.column).type
        if a.function != "count" and not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            raise SchemaError(
                f"view {view.name!r}: {a.function} needs a numeric column, {a.column!r} is {t}"
            )


def castable(src: pa.DataType, dst: pa.DataType) -> bool:
    """May values of ``src`` be read as feature type ``dst`` without surprises?"""
    try:
        if parse_dtype(src) == dst:
            return True
    except SchemaError:
        return False
    if pa.types.is_floating(dst):
        return pa.types.is_floating(src) or pa.types.is_integer(src)
    if pa.types.is_integer(dst):
        return pa.types.is_integer(src)
    if pa.types.is_timestamp(dst) and pa.types.is_timestamp(src):
        return (dst.tz is None) == (src.tz is None)
    return False


def agg_output_type(function: str, source: pa.DataType) -> pa.DataType:
    """The type of an aggregation feature: count -> int64, mean -> float64, sum -> int64
    or float64, min/max -> the column's type."""
    if function == "count":
        return pa.int64()
    if function == "mean":
        return pa.float64()
    if function == "sum":
        return pa.int64() if pa.types.is_integer(source) else pa.float64()
    return parse_dtype(source)


def view_feature_types(spec: dict[str, Any], source_types: dict[str, str] | None = None) -> dict[str, pa.DataType]:
    """Feature name -> Arrow type of a view spec."""
    if spec["type"] == "on_demand":
        return {f["name"]: parse_dtype(f["dtype"]) for f in spec["fields"]}
    if spec["aggregations"]:
        st = spec.get("agg_source_types") or source_types or {}
        return {
            a["name"]: agg_output_type(a["function"], parse_dtype(st.get(a["column"], "float64")))
            for a in spec["aggregations"]
        }
    return {f["name"]: parse_dtype(f["dtype"]) for f in spec["fields"]}


def dtype_names(types: Sequence[pa.DataType]) -> list[str]:
    return [dtype_name(t) for t in types]
