"""Feature definitions: plain Python objects that :meth:`FeatureStore.apply` records in the
catalog. Each object turns into a JSON *spec*; a changed spec makes a new version.

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> user = Entity("user", join_keys=["user_id"])
    >>> stats = FeatureView("user_stats", entities=[user], source="silver.transactions",
    ...                     timestamp_field="ts", ttl=timedelta(days=30),
    ...                     fields=[Field("amount", "float64")])
    >>> stats.feature_names
    ['amount']
    >>> Aggregation("amount", "sum", window=timedelta(days=7)).name
    'amount_sum_7d'
"""

from __future__ import annotations

import hashlib
import inspect
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from lakebed._names import validate_name
from lakebed.errors import InvalidArgument, SchemaError

AGG_FUNCTIONS = ("sum", "count", "mean", "min", "max")
ODFV_MODES = ("arrow", "pandas", "python")

_SIMPLE = {
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "double": pa.float64(),
    "float": pa.float32(),
    "string": pa.string(),
    "str": pa.string(),
    "utf8": pa.string(),
    "binary": pa.binary(),
    "bytes": pa.binary(),
    "date32": pa.date32(),
    "date": pa.date32(),
}
_NAMES = {v: k for k, v in reversed(list(_SIMPLE.items()))}
_TS = re.compile(r"^timestamp\[(s|ms|us|ns)(?:,\s*tz=([^\]]+))?\]$")


def check_name(name: Any, what: str) -> str:
    """Names of entities, views, services and features are plain identifiers."""
    return validate_name("feature", name, what)


def parse_dtype(dtype: str | pa.DataType) -> pa.DataType:
    """``"float64"``, ``"timestamp[us, tz=UTC]"``, ``"list<float32>"`` or a pyarrow type.

    Timestamps are stored with microseconds (as lakebed tables store them).
    """
    if isinstance(dtype, pa.DataType):
        t = dtype
    elif isinstance(dtype, str):
        s = dtype.strip()
        if s in _SIMPLE:
            return _SIMPLE[s]
        m = _TS.match(s)
        if m:
            return pa.timestamp("us", tz=m.group(2))
        if s.startswith("list<") and s.endswith(">"):
            return pa.list_(parse_dtype(s[5:-1]))
        raise SchemaError(
            f"unknown feature type {dtype!r}; use bool, int32, int64, float32, float64, string, "
            "binary, date32, timestamp[us], timestamp[us, tz=UTC] or list<float32> (etc.)"
        )
    else:
        raise SchemaError(f"a field type must be a string or a pyarrow type, got {type(dtype).__name__}")
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(parse_dtype(t.value_type))
    if t in _NAMES:
        return t
    raise SchemaError(f"feature type {t} is not supported; use a number, bool, string, binary, "
                      "date, timestamp or list type")


def dtype_name(t: pa.DataType) -> str:
    """The canonical name of a feature type (inverse of :func:`parse_dtype`)."""
    t = parse_dtype(t)
    if pa.types.is_timestamp(t):
        return "timestamp[us]" if t.tz is None else f"timestamp[us, tz={t.tz}]"
    if pa.types.is_list(t):
        return f"list<{dtype_name(t.value_type)}>"
    return _NAMES[t]


def format_window(window: timedelta) -> str:
    """``timedelta(days=7)`` -> ``"7d"``; the largest unit that divides the window."""
    us = _to_us(window)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000),
                       ("s", 1_000_000), ("ms", 1000), ("us", 1)):
        if us % size == 0:
            return f"{us // size}{unit}"
    raise AssertionError("unreachable")


def _to_us(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _check_delta(value: Any, what: str) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, timedelta):
        raise InvalidArgument(f"{what} must be a datetime.timedelta, got {type(value).__name__}")
    if value <= timedelta(0):
        raise InvalidArgument(f"{what} must be positive, got {value}")
    return value


@dataclass(frozen=True)
class Field:
    """A feature column of a view: a name and a type.

    Example:
        >>> Field("amount", "float64").arrow_type
        DataType(double)
    """

    name: str
    dtype: str | pa.DataType = "float64"
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "field")
        object.__setattr__(self, "dtype", dtype_name(parse_dtype(self.dtype)))

    @property
    def arrow_type(self) -> pa.DataType:
        return parse_dtype(self.dtype)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "description": self.description}


@dataclass(frozen=True)
class Aggregation:
    """A sliding-window aggregation of a source column, as of each timestamp.

    The feature is named ``<column>_<function>_<window>`` (``amount_sum_7d``) unless
    ``name`` is given. The window is ``(t - window, t]``. ``count`` counts non-null
    values and is 0 for an empty window; the others are null then.

    Example:
        >>> Aggregation("amount", "mean", window=timedelta(hours=12)).name
        'amount_mean_12h'
    """

    column: str
    function: str
    window: timedelta
    name: str = ""

    def __post_init__(self) -> None:
        check_name(self.column, "aggregation column")
        if self.function not in AGG_FUNCTIONS:
            raise InvalidArgument(
                f"unknown aggregation function {self.function!r}; use one of {AGG_FUNCTIONS}"
            )
        _check_delta(self.window, "the aggregation window")
        if not self.name:
            object.__setattr__(self, "name", f"{self.column}_{self.function}_{format_window(self.window)}")
        check_name(self.name, "aggregation")

    @property
    def window_us(self) -> int:
        return _to_us(self.window)

    def spec(self) -> dict[str, Any]:
        return {"column": self.column, "function": self.function, "window_us": self.window_us,
                "name": self.name}


@dataclass
class Entity:
    """The thing features describe, identified by its join key column(s).

    Example:
        >>> Entity("user", join_keys=["user_id"]).join_keys
        ['user_id']
    """

    name: str
    join_keys: list[str] = field(default_factory=list)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    version: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_name(self.name, "entity")
        if isinstance(self.join_keys, str):
            self.join_keys = [self.join_keys]
        self.join_keys = list(self.join_keys) or [self.name]
        for k in self.join_keys:
            check_name(k, "join key")
        if len(set(self.join_keys)) != len(self.join_keys):
            raise InvalidArgument(f"entity {self.name!r} repeats a join key: {self.join_keys}")

    kind = "entity"

    def spec(self) -> dict[str, Any]:
        return {"type": "entity", "name": self.name, "join_keys": list(self.join_keys),
                "description": self.description, "tags": dict(self.tags)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], version: int | None = None) -> Entity:
        return cls(spec["name"], join_keys=spec["join_keys"], description=spec.get("description", ""),
                   tags=spec.get("tags", {}), version=version)


@dataclass(frozen=True)
class Projection:
    """A subset of a view's features, made by ``view[["a", "b"]]``; for services and
    on-demand views."""

    view: str
    features: tuple[str, ...]

    def refs(self) -> list[str]:
        return [f"{self.view}:{f}" for f in self.features]


class _ViewBase:
    name: str
    version: int | None

    @property
    def feature_names(self) -> list[str]:
        raise NotImplementedError

    def __getitem__(self, features: str | Sequence[str]) -> Projection:
        names = [features] if isinstance(features, str) else list(features)
        unknown = [f for f in names if f not in self.feature_names]
        if unknown:
            raise InvalidArgument(
                f"view {self.name!r} has no features {unknown}; it has {self.feature_names}"
            )
        return Projection(self.name, tuple(names))


class FeatureView(_ViewBase):
    """Features of an entity read from a lakebed table (the offline source), point-in-time.

    A view has either ``fields`` (columns of the source; the latest row per entity
    within ``ttl`` counts) or ``aggregations`` (sliding windows over the source). With
    neither, the fields are inferred from the source table at apply time.

    Example:
        >>> user = Entity("user", join_keys=["user_id"])
        >>> spend = FeatureView("user_spend", entities=[user], source="silver.transactions",
        ...                     timestamp_field="ts",
        ...                     aggregations=[Aggregation("amount", "sum", window=timedelta(days=7))])
        >>> spend.feature_names
        ['amount_sum_7d']
    """

    kind = "view"

    def __init__(
        self,
        name: str,
        *,
        entities: Sequence[Entity | str],
        source: str,
        timestamp_field: str = "event_timestamp",
        created_timestamp_field: str | None = None,
        ttl: timedelta | None = None,
        fields: Sequence[Field] = (),
        aggregations: Sequence[Aggregation] = (),
        online: bool = True,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        self.name = check_name(name, "feature view")
        if not entities:
            raise InvalidArgument(f"feature view {name!r} needs at least one entity")
        self.entities: list[Entity | str] = list(entities)
        for e in self.entities:
            if not isinstance(e, Entity | str):
                raise InvalidArgument(f"entities of {name!r} must be Entity objects or names, got {e!r}")
        if not isinstance(source, str) or source.count(".") != 1:
            raise InvalidArgument(
                f"the source of {name!r} must be a table name 'namespace.name', got {source!r}"
            )
        self.source = source
        self.timestamp_field = check_name(timestamp_field, "timestamp field")
        self.created_timestamp_field = (
            check_name(created_timestamp_field, "created timestamp field")
            if created_timestamp_field else None
        )
        self.ttl = _check_delta(ttl, f"the ttl of {name!r}")
        self.fields = list(fields)
        self.aggregations = list(aggregations)
        for f in self.fields:
            if not isinstance(f, Field):
                raise InvalidArgument(f"fields of {name!r} must be Field objects, got {f!r}")
        for a in self.aggregations:
            if not isinstance(a, Aggregation):
                raise InvalidArgument(f"aggregations of {name!r} must be Aggregation objects, got {a!r}")
        if self.fields and self.aggregations:
            raise InvalidArgument(
                f"feature view {name!r} has both fields and aggregations; define two views"
            )
        names = self.feature_names
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidArgument(f"feature view {name!r} repeats feature names {dupes}")
        self.online = bool(online)
        self.description = description
        self.tags = dict(tags or {})
        self.version: int | None = None
        self.join_keys: list[str] = [k for e in self.entities if isinstance(e, Entity) for k in e.join_keys]

    @property
    def feature_names(self) -> list[str]:
        if self.aggregations:
            return [a.name for a in self.aggregations]
        return [f.name for f in self.fields]

    @property
    def is_aggregation(self) -> bool:
        return bool(self.aggregations)

    @property
    def entity_names(self) -> list[str]:
        return [e.name if isinstance(e, Entity) else e for e in self.entities]

    def spec(self) -> dict[str, Any]:
        return {
            "type": "feature_view",
            "name": self.name,
            "entities": self.entity_names,
            "join_keys": list(self.join_keys),
            "source": self.source,
            "timestamp_field": self.timestamp_field,
            "created_timestamp_field": self.created_timestamp_field,
            "ttl_us": _to_us(self.ttl) if self.ttl is not None else None,
            "fields": [f.spec() for f in self.fields],
            "aggregations": [a.spec() for a in self.aggregations],
            "online": self.online,
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any], version: int | None = None) -> FeatureView:
        view = cls(
            spec["name"],
            entities=spec["entities"],
            source=spec["source"],
            timestamp_field=spec["timestamp_field"],
            created_timestamp_field=spec.get("created_timestamp_field"),
            ttl=timedelta(microseconds=spec["ttl_us"]) if spec.get("ttl_us") else None,
            fields=[Field(f["name"], f["dtype"], f.get("description", "")) for f in spec["fields"]],
            aggregations=_aggregations(spec),
            online=spec.get("online", True),
            description=spec.get("description", ""),
            tags=spec.get("tags", {}),
        )
        view.join_keys = list(spec.get("join_keys", []))
        view.version = version
        return view

    def __repr__(self) -> str:
        v = f"@{self.version}" if self.version else ""
        return f"<FeatureView {self.name}{v} source={self.source} features={self.feature_names}>"


def _aggregations(spec: dict[str, Any]) -> list[Aggregation]:
    return [Aggregation(a["column"], a["function"], timedelta(microseconds=a["window_us"]), a["name"])
            for a in spec["aggregations"]]


class StreamFeatureView(FeatureView):
    """Window aggregations over a stream, kept fresh by a stream processor
    (:meth:`FeatureStore.run_stream`) as events arrive.

    The processor applies each event to the online store in the same transaction as the
    stream offset it reached (exactly once), and lands the events in the ``offline``
    table (default ``streams.<view>``), which the view reads for training sets, so a
    training set gives the values the online store served. Events older than the newest
    of their partition by more than ``watermark`` are too late: they are not applied,
    they land in ``<offline>__late`` and are counted in :meth:`FeatureStore.status`.
    ``freshness_slo`` is the event-to-online latency the status reports a breach of.

    Example:
        >>> from datetime import timedelta
        >>> user = Entity("user", join_keys=["user_id"])
        >>> clicks = StreamFeatureView(
        ...     "user_clicks", entities=[user], source="stream:clicks", timestamp_field="ts",
        ...     aggregations=[Aggregation("item_id", "count", window=timedelta(minutes=5))],
        ...     watermark=timedelta(seconds=30), offline="bronze.clicks")
        >>> clicks.stream, clicks.source, clicks.feature_names
        ('clicks', 'bronze.clicks', ['item_id_count_5m'])
    """

    def __init__(
        self,
        name: str,
        *,
        entities: Sequence[Entity | str],
        source: str,
        timestamp_field: str,
        aggregations: Sequence[Aggregation],
        watermark: timedelta = timedelta(seconds=30),
        offline: str | None = None,
        freshness_slo: timedelta | None = None,
        online: bool = True,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(source, str) or not source.startswith("stream:"):
            raise InvalidArgument(f"the source of stream view {name!r} must be 'stream:<name>', got {source!r}")
        from lakebed.streams._spec import check_stream_name

        self.stream = check_stream_name(source[len("stream:"):])
        if not aggregations:
            raise InvalidArgument(
                f"stream view {name!r} needs aggregations=[Aggregation(...)]; for the latest value of a column "
                "use Aggregation(column, 'max' or 'min', window=...) or a batch FeatureView over the offline table"
            )
        offline = offline if offline is not None else f"streams.{check_name(name, 'stream view')}"
        super().__init__(name, entities=entities, source=offline, timestamp_field=timestamp_field,
                         aggregations=aggregations, online=online, description=description, tags=tags)
        wm = _check_delta(watermark, f"the watermark of {name!r}")
        if wm is None:
            raise InvalidArgument(f"the watermark of {name!r} must be a positive timedelta")
        self.watermark = wm
        self.freshness_slo = _check_delta(freshness_slo, f"the freshness_slo of {name!r}")

    @property
    def offline(self) -> str:
        return self.source

    def spec(self) -> dict[str, Any]:
        return {
            **super().spec(),
            "stream": self.stream,
            "watermark_us": _to_us(self.watermark),
            "freshness_slo_us": _to_us(self.freshness_slo) if self.freshness_slo is not None else None,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any], version: int | None = None) -> StreamFeatureView:
        view = cls(
            spec["name"],
            entities=spec["entities"],
            source=f"stream:{spec['stream']}",
            timestamp_field=spec["timestamp_field"],
            aggregations=_aggregations(spec),
            watermark=timedelta(microseconds=spec["watermark_us"]),
            offline=spec["source"],
            freshness_slo=timedelta(microseconds=spec["freshness_slo_us"]) if spec.get("freshness_slo_us") else None,
            online=spec.get("online", True),
            description=spec.get("description", ""),
            tags=spec.get("tags", {}),
        )
        view.join_keys = list(spec.get("join_keys", []))
        view.version = version
        return view

    def __repr__(self) -> str:
        v = f"@{self.version}" if self.version else ""
        return f"<StreamFeatureView {self.name}{v} stream={self.stream} features={self.feature_names}>"


def _fn_fingerprint(fn: Callable[..., Any]) -> tuple[str, str]:
    """Where the function lives and a hash of its source: a changed function is a new version."""
    where = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        src = repr(code.co_code) if code is not None else where
    return where, hashlib.sha256(src.encode()).hexdigest()[:16]


class OnDemandFeatureView(_ViewBase):
    """Features computed by a Python function from other views' features and request data,
    run the same way for training sets and online reads.

    ``udf`` receives the inputs as a ``pyarrow.Table`` (``mode="arrow"``), a pandas
    DataFrame (``"pandas"``) or a dict of lists (``"python"``), one row per entity row,
    with a column per source feature (short names) and per request field, and returns
    the same kind of object (or a dict of columns) holding the ``fields``.

    Example:
        >>> import pyarrow.compute as pc
        >>> stats = FeatureView("user_stats", entities=["user"], source="silver.tx",
        ...                     timestamp_field="ts", fields=[Field("amount", "float64")])
        >>> def ratio(t):
        ...     return {"amount_ratio": pc.divide(t["amount_now"], t["amount"])}
        >>> odfv = OnDemandFeatureView("tx_ratio", sources=[stats], udf=ratio,
        ...                            request_fields=[Field("amount_now", "float64")],
        ...                            fields=[Field("amount_ratio", "float64")])
        >>> odfv.feature_names
        ['amount_ratio']
    """

    kind = "view"

    def __init__(
        self,
        name: str,
        *,
        sources: Sequence[FeatureView | Projection | str],
        fields: Sequence[Field],
        udf: Callable[[Any], Any],
        request_fields: Sequence[Field] = (),
        mode: str = "arrow",
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        self.name = check_name(name, "on-demand feature view")
        if not callable(udf):
            raise InvalidArgument(f"udf of {name!r} must be callable")
        if mode not in ODFV_MODES:
            raise InvalidArgument(f"mode of {name!r} must be one of {ODFV_MODES}, got {mode!r}")
        if not fields:
            raise InvalidArgument(f"on-demand view {name!r} needs fields=[Field(...)] for its outputs")
        self.udf = udf
        self.mode = mode
        self.fields = list(fields)
        self.request_fields = list(request_fields)
        self.sources: list[str] = []  # feature refs "view:feature"
        for s in sources:
            if isinstance(s, FeatureView):
                if not s.feature_names:
                    raise InvalidArgument(
                        f"source view {s.name!r} of {name!r} declares no features; list its fields"
                    )
                self.sources += [f"{s.name}:{f}" for f in s.feature_names]
            elif isinstance(s, Projection):
                self.sources += s.refs()
            elif isinstance(s, str) and ":" in s:
                self.sources.append(s)
            elif isinstance(s, str):
                raise InvalidArgument(
                    f"source {s!r} of {name!r}: name a view object, view[['feature']] or 'view:feature'"
                )
            else:
                raise InvalidArgument(f"unsupported source {s!r} of on-demand view {name!r}")
        inputs = [r.split(":", 1)[1] for r in self.sources] + [f.name for f in self.request_fields]
        dupes = sorted({n for n in inputs if inputs.count(n) > 1})
        if dupes:
            raise InvalidArgument(f"inputs of on-demand view {name!r} collide on names {dupes}")
        self.description = description
        self.tags = dict(tags or {})
        self.version: int | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def spec(self) -> dict[str, Any]:
        where, digest = _fn_fingerprint(self.udf)
        return {
            "type": "on_demand",
            "name": self.name,
            "sources": list(self.sources),
            "fields": [f.spec() for f in self.fields],
            "request_fields": [f.spec() for f in self.request_fields],
            "mode": self.mode,
            "udf": where,
            "udf_hash": digest,
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any], udf: Callable[[Any], Any], version: int | None = None
    ) -> OnDemandFeatureView:
        view = cls(
            spec["name"],
            sources=spec["sources"],
            fields=[Field(f["name"], f["dtype"]) for f in spec["fields"]],
            udf=udf,
            request_fields=[Field(f["name"], f["dtype"]) for f in spec["request_fields"]],
            mode=spec["mode"],
            description=spec.get("description", ""),
            tags=spec.get("tags", {}),
        )
        view.version = version
        return view

    def __repr__(self) -> str:
        v = f"@{self.version}" if self.version else ""
        return f"<OnDemandFeatureView {self.name}{v} features={self.feature_names}>"


class FeatureService:
    """A named, versioned list of features a model uses.

    Example:
        >>> stats = FeatureView("user_stats", entities=["user"], source="silver.tx",
        ...                     timestamp_field="ts", fields=[Field("amount"), Field("n", "int64")])
        >>> FeatureService("fraud", features=[stats[["amount"]], "user_stats:n"]).feature_refs
        ['user_stats:amount', 'user_stats:n']
    """

    kind = "service"

    def __init__(
        self,
        name: str,
        features: Sequence[FeatureView | OnDemandFeatureView | Projection | str],
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> None:
        self.name = check_name(name, "feature service")
        if not features:
            raise InvalidArgument(f"feature service {name!r} needs at least one feature")
        refs: list[str] = []
        for f in features:
            if isinstance(f, FeatureView | OnDemandFeatureView):
                if not f.feature_names:
                    raise InvalidArgument(
                        f"view {f.name!r} in service {name!r} declares no features; "
                        "list them (or apply the view first and use 'view:feature' refs)"
                    )
                refs += [f"{f.name}:{n}" for n in f.feature_names]
            elif isinstance(f, Projection):
                refs += f.refs()
            elif isinstance(f, str):
                refs.append(f)
            else:
                raise InvalidArgument(f"unsupported feature {f!r} in service {name!r}")
        self.feature_refs = list(dict.fromkeys(refs))
        self.description = description
        self.tags = dict(tags or {})
        self.version: int | None = None

    def spec(self) -> dict[str, Any]:
        return {"type": "service", "name": self.name, "features": list(self.feature_refs),
                "description": self.description, "tags": dict(self.tags)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], version: int | None = None) -> FeatureService:
        svc = cls(spec["name"], spec["features"], spec.get("description", ""), spec.get("tags", {}))
        svc.version = version
        return svc

    def __repr__(self) -> str:
        v = f"@{self.version}" if self.version else ""
        return f"<FeatureService {self.name}{v} features={self.feature_refs}>"


Definition = Entity | FeatureView | StreamFeatureView | OnDemandFeatureView | FeatureService


def split_ref(ref: Any) -> tuple[str, str]:
    """``"view:feature"`` -> ``("view", "feature")`` or InvalidArgument."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise InvalidArgument(f"feature references look like 'view:feature', got {ref!r}")
    view, feat = ref.split(":")
    if not view or not feat:
        raise InvalidArgument(f"feature references look like 'view:feature', got {ref!r}")
    return view, feat


def utc_us(value: datetime | None) -> int:
    """A datetime (naive = UTC) as epoch microseconds; None = now."""
    if value is None:
        return time.time_ns() // 1000
    if not isinstance(value, datetime):
        raise InvalidArgument(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds



