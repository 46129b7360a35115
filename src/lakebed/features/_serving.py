"""Online reads and pushes.

The read path is built for one entity and many features: the requested features are
compiled once per registry generation into a small plan (views, field positions, codecs,
ttl), so a read is one key lookup per view, one ``struct.unpack`` and list building.
"""

from __future__ import annotations

import operator
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakebed.errors import InvalidArgument, SchemaError
from lakebed.features._codec import NULL_TIME, EventsCodec, RowCodec, key_string, key_strings
from lakebed.features._definitions import FeatureService, parse_dtype, utc_us
from lakebed.features._offline import entity_table, run_udf
from lakebed.features._registry import castable, view_feature_types
from lakebed.features._response import EXPIRED, MISSING, PRESENT, OnlineResponse

if TYPE_CHECKING:
    from lakebed.features._store import FeatureStore

_RANK = {PRESENT: 0, EXPIRED: 1, MISSING: 2}


class _ViewStep:
    __slots__ = ("agg", "all_out", "codec", "getter", "keys", "name", "nulls", "outs", "picks", "ttl_us",
                 "version")

    def __init__(self, name: str, version: int, spec: dict[str, Any], feats: list[str], codec: Any) -> None:
        self.name = name
        self.version = version
        self.keys: list[str] = list(spec["join_keys"])
        self.ttl_us: int | None = spec.get("ttl_us")
        self.codec = codec
        if spec["aggregations"]:
            aggs = {a["name"]: a for a in spec["aggregations"]}
            cols = agg_columns(spec)
            self.agg: list[tuple[str, int, str, int]] | None = [
                (f, cols.index(aggs[f]["column"]) + 1, aggs[f]["function"], aggs[f]["window_us"]) for f in feats
            ]
            self.picks: list[tuple[str, int]] = []
        else:
            self.agg = None
            names = [f["name"] for f in spec["fields"]]
            self.picks = [(f, names.index(f)) for f in feats]
        idx = [i for _, i in self.picks]
        self.getter: Any = operator.itemgetter(*idx) if len(idx) > 1 else (
            (lambda v, i=idx[0]: (v[i],)) if idx else (lambda v: ()))
        self.nulls = (None,) * len(self.picks)
        self.outs: list[str | None] = []  # output column per pick, None if only an on-demand input
        self.all_out = False


def agg_columns(spec: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(a["column"] for a in spec["aggregations"]))


def codec_for(store: FeatureStore, view: str, version: int, spec: dict[str, Any] | None = None) -> Any:
    """The codec of a view version (cached); old versions' specs come from the catalog."""
    key = (view, version)
    codec = store._codecs.get(key)
    if codec is None:
        if spec is None:
            spec = store.registry.get("view", view, version)[1]
        if spec["aggregations"]:
            codec = EventsCodec(agg_columns(spec), version)
        else:
            types = view_feature_types(spec)
            names = [f["name"] for f in spec["fields"]]
            codec = RowCodec(names, [types[n] for n in names], version)
        store._codecs[key] = codec
    return codec


def _compile(store: FeatureStore, features: Any, full: bool) -> tuple[Any, ...]:
    resolved = store.resolve(features)
    current = store.registry.current()
    steps: list[_ViewStep] = []
    specs: dict[str, dict[str, Any]] = {}
    out_of = dict(zip(resolved.refs, resolved.output_names(full), strict=True))
    for view, feats in resolved.needed.items():
        version, spec = current[("view", view)]
        specs[view] = spec
        if spec["type"] == "feature_view":
            if not spec.get("online", True):
                raise InvalidArgument(f"view {view!r} is offline only (online=False); use training_set")
            step = _ViewStep(view, version, spec, feats, codec_for(store, view, version, spec))
            step.outs = [out_of.get((view, f)) for f in feats]
            step.all_out = None not in step.outs
            steps.append(step)
    keys = list(dict.fromkeys(k for s in steps for k in s.keys))
    odfvs = [(v, specs[v], store.registry.udf(v, specs[v])) for v in resolved.odfvs]
    types = {(v, f): view_feature_types(specs[v])[f] for v in specs for f in resolved.needed[v]}
    odfv_outs = [(ref, out) for ref, out in out_of.items() if ref[0] in resolved.odfvs]
    order = [out_of[r] for r in resolved.refs]
    return steps, keys, odfvs, types, odfv_outs, order


def _rows(entity_rows: Any) -> list[dict[str, Any]]:
    if isinstance(entity_rows, list):
        return entity_rows
    if isinstance(entity_rows, dict):
        cols = {k: list(v) for k, v in entity_rows.items()}
        n = len(next(iter(cols.values()))) if cols else 0
        return [{k: v[i] for k, v in cols.items()} for i in range(n)]
    return entity_table(entity_rows).to_pylist()  # type: ignore[no-any-return]


def online(
    store: FeatureStore, entity_rows: Any, features: Any, full: bool, now: datetime | None
) -> OnlineResponse:
    registry = store.registry
    if registry._current is None:
        registry.current()  # loads the registry once; later reads hit the cache
    fkey: Any = features if isinstance(features, str) else (
        features.name if isinstance(features, FeatureService) else tuple(features))
    plan: Any = None
    try:
        plan = store._plans.get((registry.generation, fkey, full))
    except TypeError:  # unhashable entries (e.g. projections of unapplied views)
        fkey = None
    if plan is None:
        plan = _compile(store, features, full)
        if fkey is not None:
            if len(store._plans) > 1000:
                store._plans.clear()
            store._plans[(registry.generation, fkey, full)] = plan
    steps, keys, odfvs, types, odfv_outs, order = plan
    rows = entity_rows if type(entity_rows) is list else _rows(entity_rows)
    n = len(rows)
    now_us = time.time_ns() // 1000 if now is None else utc_us(now)
    values: dict[str, list[Any]] = {}
    try:
        for k in keys:
            values[k] = [r[k] for r in rows]
    except KeyError as exc:
        raise InvalidArgument(f"entity rows need the join key {exc.args[0]!r}") from None
    except TypeError:
        raise InvalidArgument("entity_rows must be a list of dicts (join key -> value)") from None
    statuses: dict[str, list[str]] = {}
    got: dict[tuple[str, str], list[Any]] | None = {} if odfvs else None
    stat: dict[tuple[str, str], list[str]] = {}
    backend = store.online_store
    for step in steps:
        if len(step.keys) == 1:
            ekeys = [key_string((v,)) for v in values[step.keys[0]]]
        else:
            kvals = [values[k] for k in step.keys]
            ekeys = [key_string([c[i] for c in kvals]) for i in range(n)]
        present = [k for k in ekeys if k is not None]
        bufs = backend.read(step.name, present) if present else []
        found: dict[str | None, bytes | None] = dict(zip(present, bufs, strict=True))
        if step.agg is not None:
            cols, sts = _read_agg(store, step, ekeys, found, now_us)
        else:
            cols, sts = _read_rows(store, step, ekeys, found, now_us)
        if got is None and step.all_out:
            values.update(zip(step.outs, cols, strict=True))  # type: ignore[arg-type]
            statuses.update(dict.fromkeys(step.outs, sts))  # type: ignore[arg-type]
            continue
        for out, f, col in zip(step.outs, step.picks or step.agg or (), cols, strict=True):
            if out is not None:
                values[out] = col
                statuses[out] = sts
            if got is not None:
                got[(step.name, f[0])] = col
                stat[(step.name, f[0])] = sts
    if got is not None:
        for view, spec, udf in odfvs:
            _run_odfv(view, spec, udf, rows, got, stat, types)
        for ref, out in odfv_outs:
            values[out] = got[ref]
            statuses[out] = stat[ref]
        head = {k: values[k] for k in keys}
        values = {**head, **{o: values[o] for o in order}}
        statuses = {o: statuses[o] for o in order}
    return OnlineResponse(values, statuses)


def _read_rows(
    store: FeatureStore, step: _ViewStep, ekeys: list[str | None], found: dict[str | None, bytes | None],
    now_us: int,
) -> tuple[list[list[Any]], list[str]]:
    picked: list[tuple[Any, ...]] = []
    sts: list[str] = []
    ttl = step.ttl_us
    decode = step.codec.decode
    for k in ekeys:
        buf = found.get(k)
        if buf is None:
            sts.append(MISSING)
            picked.append(step.nulls)
            continue
        ev, _cr, ver, vals = decode(buf)
        if ver != step.version:
            vals = _remap(store, step, ver, buf)
        if ttl is not None and now_us - ev >= ttl:
            sts.append(EXPIRED)
            picked.append(step.nulls)
            continue
        sts.append(PRESENT)
        picked.append(step.getter(vals))
    if len(picked) == 1:
        return [[v] for v in picked[0]], sts
    return [list(c) for c in zip(*picked, strict=True)] if picked else [[] for _ in step.picks], sts


def _remap(store: FeatureStore, step: _ViewStep, version: int, buf: bytes) -> list[Any]:
    """A row written by an older view version: map its fields by name."""
    old = codec_for(store, step.name, version)
    _, _, _, vals = old.decode(buf)
    by_name = dict(zip(old.names, vals, strict=True))
    cur = step.codec.names
    return [by_name.get(n) for n in cur]


def aggregate(function: str, values: list[Any]) -> Any:
    """The online side of an aggregation (offline: SQL sum/count/avg/min/max).

    ``values`` come in (time, value) order, the order the offline sum adds them in, and
    are added one by one (not pairwise, not compensated) as DuckDB does.
    """
    vals = [v for v in values if v is not None]
    if function == "count":
        return len(vals)
    if not vals:
        return None
    if function in ("sum", "mean"):
        total = vals[0]
        for v in vals[1:]:
            total += v
        return total if function == "sum" else total / len(vals)
    return min(vals) if function == "min" else max(vals)


def _remap_events(store: FeatureStore, step: _ViewStep, version: int, events: list[list[Any]]) -> list[list[Any]]:
    """Events written by an older view version: reorder their columns by name."""
    old = codec_for(store, step.name, version).columns
    cur = step.codec.columns
    pos = [old.index(c) + 1 if c in old else None for c in cur]
    return [[e[0], *(None if p is None else e[p] for p in pos)] for e in events]


def _read_agg(
    store: FeatureStore,
    step: _ViewStep, ekeys: list[str | None], found: dict[str | None, bytes | None], now_us: int,
) -> tuple[list[list[Any]], list[str]]:
    assert step.agg is not None
    cols: list[list[Any]] = [[] for _ in step.agg]
    sts: list[str] = []
    for k in ekeys:
        buf = found.get(k)
        if buf is None:
            sts.append(MISSING)
            for c, (_, _, fn, _) in zip(cols, step.agg, strict=True):
                c.append(0 if fn == "count" else None)
            continue
        version, events = EventsCodec.decode(buf)
        if version != step.version:
            events = _remap_events(store, step, version, events)
        lo_max = now_us - max(w for *_, w in step.agg)
        sts.append(PRESENT if any(lo_max < e[0] <= now_us for e in events) else EXPIRED)
        for c, (_, col, fn, window) in zip(cols, step.agg, strict=True):
            lo = now_us - window
            inside = [v for _, v in sorted(
                (e[0], e[col]) for e in events if lo < e[0] <= now_us and e[col] is not None)]
            c.append(aggregate(fn, inside))
    return cols, sts


def _run_odfv(
    view: str, spec: dict[str, Any], udf: Any, rows: list[dict[str, Any]],
    got: dict[tuple[str, str], list[Any]], stat: dict[tuple[str, str], list[str]],
    types: dict[tuple[str, str], pa.DataType],
) -> None:
    n = len(rows)
    arrays: dict[str, pa.Array] = {}
    worst = [PRESENT] * n
    for ref in spec["sources"]:
        sv, sf = ref.split(":")
        arrays[sf] = pa.array(got[(sv, sf)], type=types[(sv, sf)])
        for i, s in enumerate(stat[(sv, sf)]):
            if _RANK[s] > _RANK[worst[i]]:
                worst[i] = s
    for rf in spec["request_fields"]:
        name = rf["name"]
        try:
            arrays[name] = pa.array([r[name] for r in rows], type=parse_dtype(rf["dtype"]))
        except KeyError:
            raise InvalidArgument(f"on-demand view {view!r} needs request field {name!r} in every entity row") from None
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise SchemaError(f"request field {name!r} is not {rf['dtype']}: {exc}") from None
    table = pa.table(arrays) if arrays else pa.table({"__n": pa.nulls(n)})
    for f, col in run_udf(spec, udf, table).items():
        got[(view, f)] = col.to_pylist()
        stat[(view, f)] = worst


# -- push -------------------------------------------------------------------------------
def _push_schema(store: FeatureStore, spec: dict[str, Any]) -> tuple[pa.Schema, list[str]]:
    """The schema pushed rows are checked against, and the required columns."""
    source = store._source_schema(spec["source"])
    fields: list[pa.Field] = []
    required = [*spec["join_keys"], spec["timestamp_field"]]
    if spec["aggregations"]:
        st = spec.get("agg_source_types") or {}
        feats = [(c, parse_dtype(st.get(c, "float64"))) for c in agg_columns(spec)]
    else:
        feats = [(f["name"], parse_dtype(f["dtype"])) for f in spec["fields"]]
    if not spec["aggregations"]:  # events may lack a value (aggregates skip nulls); rows may not
        required += [c for c, _ in feats]
    for k in spec["join_keys"]:
        fields.append(source.field(k) if source is not None else pa.field(k, pa.null()))
    for c in (spec["timestamp_field"], spec.get("created_timestamp_field")):
        if c:
            fields.append(source.field(c) if source is not None else pa.field(c, pa.timestamp("us", tz="UTC")))
    for c, t in feats:
        fields.append(pa.field(c, source.field(c).type if source is not None else t))
    if source is not None:  # other source columns may come along (for offline pushes)
        have = {f.name for f in fields}
        fields += [f for f in source if f.name not in have]
    return pa.schema(fields), required


def validate_rows(store: FeatureStore, spec: dict[str, Any], rows: Any) -> pa.Table:
    """Pushed rows as an Arrow table of the view's types, or SchemaError."""
    schema, required = _push_schema(store, spec)
    view = spec["name"]
    if isinstance(rows, list):
        if not rows or not all(isinstance(r, dict) for r in rows):
            raise InvalidArgument(f"push to {view!r}: rows must be a non-empty list of dicts")
        names = list(dict.fromkeys(k for r in rows for k in r))
        unknown = [c for c in names if c not in schema.names]
        if unknown:
            raise SchemaError(f"push to {view!r}: columns {unknown} are not in the view or its source")
        arrays = {}
        for c in names:
            t = schema.field(c).type
            try:
                arrays[c] = pa.array([r.get(c) for r in rows], type=None if pa.types.is_null(t) else t)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
                raise SchemaError(f"push to {view!r}: column {c!r} does not fit {t}: {exc}") from None
            if pa.types.is_floating(t) and any(isinstance(r.get(c), bool | str) for r in rows):
                raise SchemaError(f"push to {view!r}: column {c!r} holds non-numbers")
        table = pa.table(arrays)
    else:
        table = entity_table(rows)
        unknown = [c for c in table.column_names if c not in schema.names]
        if unknown:
            raise SchemaError(f"push to {view!r}: columns {unknown} are not in the view or its source")
        cols = {}
        for c in table.column_names:
            t = schema.field(c).type
            have = table.column(c).type
            if pa.types.is_null(t) or have == t:
                cols[c] = table.column(c)
                continue
            if not (castable(have, parse_dtype(t)) if not pa.types.is_timestamp(t) else
                    pa.types.is_timestamp(have) and (have.tz is None) == (t.tz is None)):
                raise SchemaError(f"push to {view!r}: column {c!r} is {have}, the view needs {t}")
            try:
                cols[c] = table.column(c).cast(t)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(f"push to {view!r}: column {c!r} cannot be cast to {t}: {exc}") from None
        table = pa.table(cols)
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise SchemaError(f"push to {view!r}: rows lack the columns {missing}")
    for f in schema:
        if f.name not in table.column_names and spec["aggregations"] and not pa.types.is_null(f.type):
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    ts = table.column(spec["timestamp_field"])
    if not pa.types.is_timestamp(ts.type):
        raise SchemaError(f"push to {view!r}: {spec['timestamp_field']!r} must hold timestamps, not {ts.type}")
    if ts.null_count:
        raise SchemaError(f"push to {view!r}: {spec['timestamp_field']!r} has nulls")
    created = spec.get("created_timestamp_field")
    if created and created not in table.column_names:
        now = pa.scalar(time.time_ns() // 1000, pa.int64()).cast(pa.timestamp("us"))
        t = schema.field(created).type
        table = table.append_column(created, pa.array([now.as_py()] * table.num_rows, pa.timestamp("us")).cast(t))
    return table


def push(store: FeatureStore, view: str, rows: Any, to: str) -> int:
    if to not in ("online", "offline", "both"):
        raise InvalidArgument(f"to must be 'online', 'offline' or 'both', got {to!r}")
    store.lake.check_writable()
    version, spec = store.registry.get("view", view)
    if spec["type"] != "feature_view":
        raise InvalidArgument(f"{view!r} is an on-demand view; push to the views it reads from")
    if spec.get("stream"):
        raise InvalidArgument(f"{view!r} is a stream view: append the events to its stream "
                              f"(lake.streams.get({spec['stream']!r}).append(rows)); its processor applies them")
    table = validate_rows(store, spec, rows)
    if to in ("offline", "both"):
        source = spec["source"]
        if store.lake.tables.exists(source):
            store.lake.tables.write(source, table)
        else:
            store.lake.tables.create(source, data=table)
    if to in ("online", "both"):
        from lakebed.features._materialize import write_latest

        if spec["aggregations"]:
            push_events(store, view, version, spec, table)
        else:
            con = store._push_duckdb()
            try:
                con.register("__lakebed_push", table)
                write_latest(store, con, view, version, spec, "__lakebed_push", None, None, None, None)
            finally:
                con.close()
    return table.num_rows


def push_events(store: FeatureStore, view: str, version: int, spec: dict[str, Any], table: pa.Table) -> None:
    """Append pushed events to the online windows of an aggregation view."""
    cols = agg_columns(spec)
    max_w = max(a["window_us"] for a in spec["aggregations"])
    keys = key_strings([table.column(k) for k in spec["join_keys"]])
    ts = table.column(spec["timestamp_field"]).cast(pa.timestamp("us", tz=None), safe=False)
    ts_us = ts.cast(pa.int64()).to_pylist()
    data = [table.column(c).to_pylist() for c in cols]
    per_key: dict[str, list[list[Any]]] = {}
    for i, k in enumerate(keys):
        if k is None:
            continue
        per_key.setdefault(k, []).append([ts_us[i], *(d[i] for d in data)])
    merge_events(store, view, version, spec, per_key, max_w, keep_after=None)


def merge_events(
    store: FeatureStore, view: str, version: int, spec: dict[str, Any],
    new: dict[str, list[list[Any]]], max_w: int, keep_after: int | None,
) -> None:
    """Combine new events with the stored ones and write back.

    ``keep_after=None``: add to what is stored (push). ``keep_after=end``: replace the
    stored events up to ``end`` (materialization), keep the later (pushed) ones.
    """
    if not new:
        return
    backend = store.online_store
    codec = codec_for(store, view, version, spec)
    keys = list(new)
    old = backend.read(view, keys)
    values = []
    for k, buf in zip(keys, old, strict=True):
        events = list(new[k])
        if buf is not None:
            stored = EventsCodec.decode(buf)[1]
            if keep_after is not None:
                stored = [e for e in stored if e[0] > keep_after]
            events += stored
        events.sort(key=lambda e: e[0])
        newest = events[-1][0]
        events = [e for e in events if e[0] > newest - max_w]
        values.append(codec.encode(events))
    backend.write(view, keys, values)


def encode_latest(
    codec: RowCodec, spec: dict[str, Any], batch: pa.RecordBatch
) -> tuple[list[str], list[bytes]]:
    """A batch of ``keys..., s`` (struct of __fus, __cus and the fields) -> keys, values."""
    keys = key_strings([batch.column(k) for k in spec["join_keys"]])
    s = batch.column("s")
    ev = s.field("__fus").to_numpy(zero_copy_only=False)
    cr_arr = s.field("__cus")
    cr = cr_arr.fill_null(NULL_TIME).to_numpy(zero_copy_only=False) if cr_arr.null_count else cr_arr.to_numpy(
        zero_copy_only=False)
    cols = [s.field(n) for n in codec.names]
    return keys, codec.encode_batch(ev, cr, cols)



