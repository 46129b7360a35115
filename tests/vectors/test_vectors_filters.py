"""Filters against a plain-Python evaluation of the same dict, over random payloads,
on growing and sealed segments, with and without payload indexes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakebed

MISSING = object()


# -- the reference ------------------------------------------------------------------------
def _get(p: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(p, dict) or part not in p:
            return MISSING
        p = p[part]
    return p


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _num(a) and _num(b):
        return a == b
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return type(a) is type(b) and a == b


def _eq(v: Any, t: Any) -> bool:
    if v is MISSING:
        return False
    if _same(v, t):
        return True
    return isinstance(v, list) and any(_same(x, t) for x in v if not isinstance(x, list | dict))


def _range(v: Any, op: str, t: Any) -> bool:
    if (_num(v) and _num(t)) or (isinstance(v, str) and isinstance(t, str)):
        return {"$gt": v > t, "$gte": v >= t, "$lt": v < t, "$lte": v <= t}[op]
    return False


def _field(v: Any, spec: Any) -> bool:
    if isinstance(spec, dict) and spec and all(k.startswith("$") for k in spec):
        out = True
        for op, t in spec.items():
            if op == "$eq":
                r = _eq(v, t)
            elif op == "$ne":
                r = not _eq(v, t)
            elif op == "$in":
                r = any(_eq(v, x) for x in t)
            elif op == "$nin":
                r = not any(_eq(v, x) for x in t)
            elif op == "$exists":
                r = (v is not MISSING) == t
            elif op == "$not":
                r = not _field(v, t)
            else:
                r = _range(v, op, t)
            out = out and r
        return out
    return _eq(v, spec)


def ref_match(p: dict, flt: dict) -> bool:
    for key, spec in flt.items():
        if key == "$and":
            ok = all(ref_match(p, f) for f in spec)
        elif key == "$or":
            ok = any(ref_match(p, f) for f in spec)
        elif key == "$not":
            ok = not ref_match(p, spec)
        else:
            ok = _field(_get(p, key), spec)
        if not ok:
            return False
    return True


# -- generators ---------------------------------------------------------------------------
scalars = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 2.0]),
    st.sampled_from(["a", "b", "c", "ab", ""]),
    st.booleans(),
    st.none(),
)
values = st.one_of(scalars, st.lists(st.integers(-3, 3), max_size=3), st.lists(st.sampled_from(["a", "b"]), max_size=2))


@st.composite
def payloads(draw: Any) -> dict:
    p: dict[str, Any] = {}
    for name in ("a", "s"):
        if draw(st.booleans()):
            p[name] = draw(values)
    if draw(st.booleans()):
        p["b"] = draw(st.one_of(st.fixed_dictionaries({"c": scalars}), st.integers(0, 2), st.just({})))
    return p


paths = st.sampled_from(["a", "s", "b.c", "b", "zz"])
range_targets = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.0]), st.sampled_from(["a", "b", "abc"]))


def op_specs() -> st.SearchStrategy[dict]:
    single = st.one_of(
        st.builds(lambda v: {"$eq": v}, values),
        st.builds(lambda v: {"$ne": v}, scalars),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), range_targets),
        st.builds(lambda v: {"$in": v}, st.lists(scalars, max_size=3)),
        st.builds(lambda v: {"$nin": v}, st.lists(scalars, max_size=3)),
        st.builds(lambda v: {"$exists": v}, st.booleans()),
    )
    return st.one_of(single, st.builds(lambda a, b: {**a, **b}, single, single),
                     st.builds(lambda a: {"$not": a}, single))


leaf = st.one_of(
    st.builds(lambda p, s: {p: s}, paths, op_specs()),
    st.builds(lambda p, v: {p: v}, paths, scalars),
)
filters = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda f: {"$not": f}, inner),
        st.builds(lambda a, b: {**a, **b}, inner, inner),
    ),
    max_leaves=6,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads(), min_size=1, max_size=40), st.lists(filters, min_size=1, max_size=6))
def test_filters_match_reference(pls: list[dict], flts: list[dict]) -> None:
    with lakebed.connect(":memory:", segment_size=16) as lake:
        col = lake.collections.create("f", dim=2)
        vecs = np.random.default_rng(0).standard_normal((len(pls), 2)) + 3
        half = len(pls) // 2
        col.upsert(list(range(half)), vecs[:half], payloads=pls[:half])
        col.upsert(list(range(half, len(pls))), vecs[half:], payloads=pls[half:])
        col.delete(ids=[0])
        for stage in ("growing", "sealed"):
            for flt in flts:
                want = {i for i, p in enumerate(pls) if i != 0 and ref_match(p, flt)}
                got = {p.id for p in col.scroll(filter=flt, limit=1000)[0]}
                assert got == want, (stage, flt)
                assert col.count(flt) == len(want)
                hits = col.search(vecs[-1], k=len(pls), filter=flt)
                assert {h.id for h in hits} == want
            col.flush()


def test_dotted_paths_and_lists() -> None:
    with lakebed.connect(":memory:") as lake:
        col = lake.collections.create("f", dim=2)
        pls = [{"m": {"lang": "en", "tags": ["x", "y"]}}, {"m": {"lang": "de", "tags": ["y"]}}, {"m": "flat"}]
        col.upsert([1, 2, 3], [[1, 0], [0, 1], [1, 1]], payloads=pls)
        assert col.count({"m.lang": "en"}) == 1
        assert col.count({"m.tags": "y"}) == 2
        assert col.count({"m.tags": {"$in": ["x"]}}) == 1
        assert col.count({"m.lang": {"$exists": False}}) == 1
        assert col.count({"$or": [{"m.lang": "de"}, {"m": "flat"}]}) == 2
        assert col.count({"m.lang": {"$not": {"$eq": "en"}}}) == 2


def test_keyword_and_numeric_indexes_agree_with_scan() -> None:
    rng = np.random.default_rng(1)
    pls = [{"year": int(rng.integers(1990, 2030)), "src": str(rng.choice(["a", "b", "c"]))} for _ in range(500)]
    flts = [{"year": {"$gte": 2000, "$lt": 2010}}, {"src": {"$in": ["a", "c"]}}, {"src": "b", "year": {"$lte": 1995}}]
    with lakebed.connect(":memory:", segment_size=200) as lake:
        col = lake.collections.create("f", dim=4)
        col.upsert(list(range(500)), rng.standard_normal((500, 4)), payloads=pls)
        col.flush()
        before = [col.count(f) for f in flts]
        col.create_payload_index("year", "integer")
        col.create_payload_index("src", "keyword")
        assert [col.count(f) for f in flts] == before == [sum(ref_match(p, f) for p in pls) for f in flts]


# -- typed columns of payload-indexed fields ------------------------------------------------
_TYPED = {
    "integer": st.integers(-3, 3),
    "float": st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0])),
    "keyword": st.sampled_from(["a", "b", "c", "ab", ""]),
    "bool": st.booleans(),
}


@st.composite
def typed_rows(draw: Any) -> tuple[dict[str, str], list[dict]]:
    kinds = {"a": draw(st.sampled_from(list(_TYPED))), "b.c": draw(st.sampled_from(list(_TYPED)))}
    rows = []
    for _ in range(draw(st.integers(1, 40))):
        p: dict[str, Any] = {}
        if draw(st.booleans()):
            p["a"] = draw(_TYPED[kinds["a"]])
        if draw(st.booleans()):
            p["b"] = {"c": draw(_TYPED[kinds["b.c"]])} if draw(st.booleans()) else {}
        rows.append(p)
    return kinds, rows


def typed_filter(kinds: dict[str, str]) -> st.SearchStrategy[dict]:
    """Filters on the indexed fields with values of each field's kind (others are refused)."""

    def on(path: str) -> st.SearchStrategy[dict]:
        v = st.one_of(_TYPED[kinds[path]], st.none())
        ops = [
            st.builds(lambda x: {"$eq": x}, v),
            st.builds(lambda x: {"$ne": x}, v),
            st.builds(lambda xs: {"$in": xs}, st.lists(v, max_size=3)),
            st.builds(lambda xs: {"$nin": xs}, st.lists(v, max_size=3)),
            st.builds(lambda b: {"$exists": b}, st.booleans()),
        ]
        if kinds[path] != "bool":
            ops.append(st.builds(lambda op, x: {op: x}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
                                 _TYPED[kinds[path]]))
        spec = st.one_of(*ops, st.builds(lambda a: {"$not": a}, st.one_of(*ops)))
        return st.builds(lambda sp: {path: sp}, spec)

    leaf = st.one_of(on("a"), on("b.c"))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda f: {"$not": f}, inner),
        ),
        max_leaves=5,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_rows(), st.data())
def test_sealed_typed_columns_match_reference(data: tuple[dict[str, str], list[dict]], draw: Any) -> None:
    """Indexed fields of one type are stored as typed columns at seal time; filters read
    them (without decoding payloads) and still agree with the reference."""
    kinds, pls = data
    flts = draw.draw(st.lists(typed_filter(kinds), min_size=1, max_size=6))
    with lakebed.connect(":memory:") as lake:
        col = lake.collections.create("f", dim=2)
        for field, kind in kinds.items():
            col.create_payload_index(field, kind)
        vecs = np.random.default_rng(0).standard_normal((len(pls), 2)) + 3
        col.upsert(list(range(len(pls))), vecs, payloads=pls)
        col.delete(ids=[0])
        col.flush()
        seg = col._sealed[0].data
        assert {"v:a", "v:b.c"} <= set(seg.stored)
        for flt in flts:
            want = {i for i, p in enumerate(pls) if i != 0 and ref_match(p, flt)}
            assert col.count(flt) == len(want), flt
        assert not seg._decoded, "a filter on indexed fields decoded the payloads"
        for flt in flts:
            want = {i for i, p in enumerate(pls) if i != 0 and ref_match(p, flt)}
            assert {p.id for p in col.scroll(filter=flt, limit=1000)[0]} == want, flt


def test_mixed_type_indexed_field_falls_back_to_payloads() -> None:
    pls = [{"y": 1}, {"y": "one"}, {"y": [1, 2]}, {"y": None}, {}]
    with lakebed.connect(":memory:") as lake:
        col = lake.collections.create("f", dim=2)
        col.create_payload_index("y", "integer")
        col.upsert(list(range(5)), np.ones((5, 2)), payloads=pls)
        col.flush()
        assert "v:y" not in col._sealed[0].data.stored
        for flt in [{"y": 1}, {"y": None}, {"y": {"$gte": 1}}, {"y": {"$exists": False}}, {"y": {"$in": [2, None]}}]:
            assert col.count(flt) == sum(ref_match(p, flt) for p in pls), flt


def test_datetime_index_stored_as_epoch_seconds() -> None:
    stamps = ["2024-01-01T00:00:00", "2024-06-01T12:00:00+02:00", "2025-01-01", "not a date"]
    pls = [{"t": s} for s in stamps] + [{}]
    with lakebed.connect(":memory:") as lake:
        col = lake.collections.create("f", dim=2)
        col.create_payload_index("t", "datetime")
        col.upsert(list(range(5)), np.ones((5, 2)), payloads=pls)
        col.flush()
        seg = col._sealed[0].data
        assert {"v:t", "n:t"} <= set(seg.stored)
        assert col.count({"t": {"$gte": "2024-06-01T10:00:00Z"}}) == 2
        assert col.count({"t": {"$lt": 1717236000}}) == 1  # epoch seconds of 2024-06-01T10:00Z
        assert col.count({"t": {"$exists": True}}) == 4
        assert not seg._decoded


def test_an_empty_filter_matches_every_point() -> None:
    import lakebed

    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(40, 4)).astype(np.float32)
    with lakebed.connect(":memory:") as lake:
        col = lake.collections.create("e", dim=4)
        col.upsert(list(range(40)), vecs, payloads=[{"n": i} for i in range(40)])
        for exact in (True, False):
            assert [h.id for h in col.search(vecs[0], k=7, filter={}, exact=exact)] == \
                [h.id for h in col.search(vecs[0], k=7, exact=exact)]
        assert col.count({}) == 40
        assert col.delete(filter={"$and": [{}, {"n": {"$lt": 5}}]}) == 5
