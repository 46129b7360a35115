"""Training sets: point-in-time correct feature tables, saved with lineage and reproducible."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from lakebed.errors import InvalidArgument, NotFound, SchemaError
from lakebed.features import _schema
from lakebed.features._definitions import parse_dtype
from lakebed.features._offline import ROW, core_table, entity_table, join_view, parquet_files, run_udf
from lakebed.features._registry import view_feature_types
from lakebed.features._table_view import TrainingSetTable
from lakebed.tables import parse_name
from lakebed.tables._sandbox import connect as sandboxed_duckdb

if TYPE_CHECKING:
    from lakebed.features._store import FeatureStore, Resolved

ENTITY_ROW = "__lakebed_row"


class TrainingSet(TrainingSetTable):
    """The result of :meth:`FeatureStore.training_set`: the entity rows (in their order,
    with all their columns) plus one column per requested feature.

    It wraps a ``pyarrow.Table`` (``.table``) and behaves like one for the common calls
    (``len``, ``[column]``, ``.schema``, ``.column_names``, ``.num_rows``, the Arrow
    PyCapsule stream protocol). ``.save("gold.train_x")`` stores it as a lakebed table
    with lineage to the feature view and source table versions it came from.

    Example:
        >>> ts = lake.features.training_set(entity_df, ["user_stats:amount"])  # doctest: +SKIP
        >>> ts.to_pandas().head()  # doctest: +SKIP
        >>> ts.save("gold.train_fraud")  # doctest: +SKIP
    """

    def __init__(self, store: FeatureStore, table: pa.Table, entities: pa.Table, spec: dict[str, Any]) -> None:
        super().__init__(table, spec)
        self._store = store
        self._entities = entities

    # -- saving -------------------------------------------------------------------------
    def save(self, name: str, description: str | None = None) -> int:
        """Store as the lakebed table ``name`` (created, or overwritten as a new version);
        the entity rows are stored beside it as ``<name>__entities``. Records lineage
        edges and what is needed to reproduce it; returns the table version.

        Example:
            >>> v = ts.save("gold.train_fraud")  # doctest: +SKIP
            >>> lake.features.reproduce_training_set("gold.train_fraud", v)  # doctest: +SKIP
        """
        lake = self._store.lake
        lake.check_writable()
        ns, tname = parse_name(name)
        ent_name = f"{ns}.{tname}__entities"
        parse_name(ent_name)
        ents = self._entities.append_column(
            ENTITY_ROW, pa.array(np.arange(self._entities.num_rows, dtype=np.int64))
        )
        ent_version = _write_table(lake, ent_name, ents, f"entity rows of training set {name}")
        version = _write_table(lake, name, self.table, description or f"training set {self.feature_refs}")
        spec = {**self.spec, "entity_table": ent_name, "entity_version": ent_version}
        target = f"table:{name}@{version}"
        with lake.catalog.begin() as conn:
            t = _schema.training_sets
            conn.execute(t.delete().where(t.c.table_name == name, t.c.table_version == version))
            conn.execute(t.insert().values(table_name=name, table_version=version, spec=spec, created_at=time.time()))
            add = lake.catalog.add_lineage
            add(f"table:{ent_name}@{ent_version}", target, "entity_df", conn=conn)
            for src, sv in spec["source_versions"].items():
                add(f"table:{src}@{sv}", target, "training_set", conn=conn)
            for view, vv in spec["view_versions"].items():
                add(f"featureview:{view}@{vv}", target, "training_set", conn=conn)
                vsrc = spec["view_sources"].get(view)
                if vsrc is not None:
                    add(f"table:{vsrc}@{spec['source_versions'][vsrc]}", f"featureview:{view}@{vv}",
                        "feature_source", conn=conn)
        lake.tables.set_properties(name, {"training_set": {**spec, "version": version}})
        self.ref = f"table:{name}@{version}"  # so that run.log_input(ts) finds the saved table
        return version


def _write_table(lake: Any, name: str, table: pa.Table, description: str) -> int:
    if lake.tables.exists(name):
        return int(lake.tables.write(name, table, mode="overwrite"))
    return int(lake.tables.create(name, schema=table.schema, data=table, description=description))


def compute(
    store: FeatureStore,
    entities: pa.Table,
    timestamp_column: str,
    resolved: Resolved,
    specs: dict[str, tuple[int, dict[str, Any]]],
    source_versions: dict[str, int],
    full_feature_names: bool,
) -> pa.Table:
    """The training-set table: entity columns + requested features, in entity order."""
    lake = store.lake
    needed: dict[str, list[str]] = {}
    for view, feats in resolved.needed.items():
        if specs[view][1]["type"] == "feature_view":
            needed[view] = list(feats)
    keys = list(dict.fromkeys(k for v in needed for k in specs[v][1]["join_keys"]))
    core = core_table(entities, timestamp_column, keys)
    values: dict[tuple[str, str], pa.ChunkedArray | pa.Array] = {}
    con = sandboxed_duckdb(read_dirs=[lake.path / "tables"], timezone=None)
    try:
        for i, (view, feats) in enumerate(needed.items()):
            spec = specs[view][1]
            ds = lake.tables.dataset(spec["source"], version=source_versions[spec["source"]])
            files = parquet_files(lake, spec["source"], ds)
            cols = join_view(con, core, spec, feats, ds, f"__lakebed_src{i}", files)
            for f, col in cols.items():
                values[(view, f)] = col
    finally:
        con.close()
    for view in resolved.odfvs:
        spec = specs[view][1]
        inputs: dict[str, Any] = {}
        for ref in spec["sources"]:
            sv, sf = ref.split(":")
            inputs[sf] = values[(sv, sf)]
        for rf in spec["request_fields"]:
            if rf["name"] not in entities.column_names:
                raise SchemaError(
                    f"on-demand view {view!r} needs request column {rf['name']!r}; add it to entity_df"
                )
            col = entities.column(rf["name"])
            t = parse_dtype(rf["dtype"])
            try:
                inputs[rf["name"]] = col.cast(t) if col.type != t else col
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(f"request column {rf['name']!r} is not {rf['dtype']}: {exc}") from None
        outputs = run_udf(spec, store.registry.udf(view, spec), pa.table(inputs) if inputs else
                          pa.table({"__n": pa.nulls(entities.num_rows)}))
        for f, col in outputs.items():
            values[(view, f)] = col
    table = entities
    for (view, feat), out in zip(resolved.refs, resolved.output_names(full_feature_names), strict=True):
        table = table.append_column(pa.field(out, view_feature_types(specs[view][1])[feat]), values[(view, feat)])
    return table


def training_set(
    store: FeatureStore,
    entity_df: Any,
    features: Any,
    full_feature_names: bool,
    timestamp_column: str,
) -> TrainingSet:
    store.registry.refresh_if_changed()
    resolved = store.resolve(features)
    entities = entity_table(entity_df)
    if ROW in entities.column_names or ENTITY_ROW in entities.column_names:
        raise InvalidArgument(f"entity_df may not have a column named {ROW!r} or {ENTITY_ROW!r}")
    outs = resolved.output_names(full_feature_names)
    clash = sorted(set(outs) & set(entities.column_names))
    if clash:
        raise InvalidArgument(
            f"feature columns {clash} would overwrite entity_df columns; rename those columns "
            "or pass full_feature_names=True"
        )
    specs = {v: store.registry.get("view", v) for v in resolved.needed}
    sources = sorted({s["source"] for _, s in specs.values() if s["type"] == "feature_view"})
    source_versions = {s: store.lake.tables.version(s) for s in sources}
    table = compute(store, entities, timestamp_column, resolved, specs, source_versions, full_feature_names)
    spec = {
        "features": [f"{v}:{f}" for v, f in resolved.refs],
        "service": resolved.service,
        "full_feature_names": bool(full_feature_names),
        "timestamp_column": timestamp_column,
        "view_versions": {v: ver for v, (ver, _) in specs.items()},
        "view_sources": {v: s["source"] for v, (_, s) in specs.items() if s["type"] == "feature_view"},
        "source_versions": source_versions,
    }
    return TrainingSet(store, table, entities, spec)


def reproduce(store: FeatureStore, name: str, version: int | None = None) -> pa.Table:
    """Recompute a saved training set from its recorded inputs."""
    t = _schema.training_sets
    with store.lake.catalog.connect() as conn:
        q = sa.select(t).where(t.c.table_name == name)
        q = q.where(t.c.table_version == version) if version is not None else q
        row = conn.execute(q.order_by(t.c.table_version.desc())).first()
    if row is None:
        at = f" version {version}" if version is not None else ""
        raise NotFound(f"{name!r}{at} was not saved from a training set (TrainingSet.save)")
    spec = row.spec
    ents = store.lake.tables.read(spec["entity_table"], version=spec["entity_version"])
    order = np.argsort(ents.column(ENTITY_ROW).to_numpy(), kind="stable")
    ents = ents.take(order).drop_columns([ENTITY_ROW])
    specs = {v: store.registry.get("view", v, ver) for v, ver in spec["view_versions"].items()}
    resolved = store.resolve(spec["features"], specs={v: s for v, (_, s) in specs.items()})
    table = compute(store, ents, spec["timestamp_column"], resolved, specs, spec["source_versions"],
                    spec["full_feature_names"])
    saved = store.lake.tables.schema(name, version=row.table_version)
    if table.schema.names == saved.names and not table.schema.equals(saved):
        table = table.cast(saved)
    return table
