"""Payload filters: Mongo-style dicts compiled to a small tree and evaluated column-wise.

Semantics (the plain-Python reference in the tests implements the same rules):

- ``{"a.b": v}`` is ``{"a.b": {"$eq": v}}``; several keys in one dict are ANDed. Dotted
  paths walk nested objects; a path through a non-object is *missing*.
- ``$eq v``: the value equals ``v`` (booleans never equal numbers; ``1 == 1.0``), or the
  value is a list with an element equal to ``v``. ``{"f": None}`` matches an explicit null.
- ``$ne``/``$nin`` are the negations of ``$eq``/``$in`` (so they match missing fields).
- ``$gt $gte $lt $lte`` compare numbers with numbers and strings with strings; other
  values (and lists) never match. On a ``datetime`` payload index, ISO-8601 strings,
  ``datetime`` objects and epoch seconds are compared as instants.
- ``$in [..]``: ``$eq`` any of them. ``$exists bool``. ``$not``: a field-level operator
  dict (``{"f": {"$not": {"$gt": 3}}}``) or, at the top level, a whole filter.
  ``$and``/``$or``: non-empty lists of filters.

Example:
    >>> node = compile_filter({"source": "man", "year": {"$gte": 2010}})
    >>> node[0]
    'and'
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from lakebed.errors import FilterError

Node = tuple[Any, ...]

_CMP = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not")
_LOGIC = ("$and", "$or", "$not")
_RANGE = ("$gt", "$gte", "$lt", "$lte")
KINDS = ("keyword", "integer", "float", "bool", "datetime")
MISSING = object()


def _scalar_ok(v: Any) -> bool:
    if v is None or isinstance(v, bool | str):
        return True
    if isinstance(v, int):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    return False


def _json_value_ok(v: Any) -> bool:
    if _scalar_ok(v):
        return True
    if isinstance(v, list | tuple):
        return all(_json_value_ok(x) for x in v)
    if isinstance(v, Mapping):
        return all(isinstance(k, str) and _json_value_ok(x) for k, x in v.items())
    return False


def _norm_value(v: Any) -> Any:
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return [_norm_value(x) for x in v]
    return v


def compile_filter(flt: Any) -> Node:
    """Validate a filter dict and compile it to a tree; raise FilterError if malformed."""
    if not isinstance(flt, Mapping):
        raise FilterError(
            f"a filter must be a dict like {{'field': value}}, got {type(flt).__name__}"
        )
    parts: list[Node] = []
    for key, value in flt.items():
        if not isinstance(key, str) or not key:
            raise FilterError(f"filter keys must be non-empty strings, got {key!r}")
        if key.startswith("$"):
            if key not in _LOGIC:
                raise FilterError(
                    f"unknown filter operator {key!r} at the top level; use one of "
                    f"{', '.join(_LOGIC)} or a field name"
                )
            if key == "$not":
                parts.append(("not", compile_filter(value)))
                continue
            if not isinstance(value, list | tuple) or not value:
                raise FilterError(f"{key} takes a non-empty list of filters, got {value!r}")
            parts.append(("and" if key == "$and" else "or", [compile_filter(v) for v in value]))
        elif (key in ("and", "or") and isinstance(value, list | tuple) and value
              and all(isinstance(v, Mapping) for v in value)):
            # {"or": [{...}, {...}]} would compare a field named "or" with a list of objects
            raise FilterError(
                f"filter key {key!r} holds a list of filters; write '${key}' to combine them. "
                f"To match a payload field named {key!r}, use {{{key!r}: {{'$eq': [...]}}}}"
            )
        else:
            parts.append(_compile_field(key, value))
    if len(parts) == 1:
        return parts[0]
    return ("and", parts)


# operator names as they look when the ``$`` is forgotten
_BARE_OPS = frozenset(op[1:] for op in _CMP)


def _nested_operator(value: Any) -> str | None:
    """The first ``$``-key inside a nested object of ``value`` (an operator put where a
    dotted path was meant: ``{"meta": {"year": {"$gte": 1}}}``), else None."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and k.startswith("$"):
                return k
            found = _nested_operator(v)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for v in value:
            found = _nested_operator(v)
            if found is not None:
                return found
    return None


def _compile_field(path: str, spec: Any) -> Node:
    if isinstance(spec, Mapping) and spec and all(isinstance(k, str) and k.startswith("$") for k in spec):
        return _compile_ops(path, spec)
    if isinstance(spec, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in spec):
        raise FilterError(
            f"the filter of field {path!r} mixes operators and plain keys: {dict(spec)!r}; "
            "use only operators like {'$gte': 1}"
        )
    if isinstance(spec, Mapping) and spec and all(isinstance(k, str) and k in _BARE_OPS for k in spec):
        # {"year": {"gte": 2010}} would compare the field with the object {"gte": 2010}
        # and silently match nothing: almost always a forgotten "$"
        fixed = {f"${k}": v for k, v in spec.items()}
        raise FilterError(
            f"the filter of field {path!r} is {dict(spec)!r}, whose keys are operator names "
            f"without '$'; write {fixed!r}. To match a payload object with these keys, "
            f"say so with $eq: {{{path!r}: {{'$eq': {dict(spec)!r}}}}}"
        )
    op = _nested_operator(spec)
    if op is not None:
        raise FilterError(
            f"the filter of field {path!r} has the operator {op!r} inside a nested object "
            f"({spec!r}), where it would be compared literally; use a dotted path for nested "
            "fields, like {'meta.year': {'$gte': 2010}}"
        )
    return _cmp(path, "$eq", spec)


def _compile_ops(path: str, spec: Mapping[str, Any]) -> Node:
    parts: list[Node] = []
    for op, value in spec.items():
        if op not in _CMP:
            raise FilterError(
                f"unknown filter operator {op!r} on field {path!r}; use one of {', '.join(_CMP)}"
            )
        if op == "$not":
            if not isinstance(value, Mapping) or not value:
                raise FilterError(f"$not on field {path!r} takes an operator dict like {{'$gt': 1}}")
            parts.append(("not", _compile_field(path, value)))
        else:
            parts.append(_cmp(path, op, value))
    return parts[0] if len(parts) == 1 else ("and", parts)


def _cmp(path: str, op: str, value: Any) -> Node:
    value = _norm_value(value)
    if op in ("$eq", "$ne"):
        if not _json_value_ok(value):
            raise FilterError(f"{op} on {path!r} needs a JSON value, got {value!r}")
    elif op in _RANGE:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise FilterError(f"{op} on {path!r} needs a number or a string, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise FilterError(f"{op} on {path!r} needs a finite number, got {value!r}")
    elif op in ("$in", "$nin"):
        if not isinstance(value, list):
            raise FilterError(f"{op} on {path!r} needs a list of values, got {value!r}")
        value = [_norm_value(v) for v in value]
        if not all(_json_value_ok(v) for v in value):
            raise FilterError(f"{op} on {path!r} needs a list of JSON values, got {value!r}")
    elif op == "$exists" and not isinstance(value, bool):
        raise FilterError(f"$exists on {path!r} needs true or false, got {value!r}")
    return ("cmp", path, op, value)


# -- type checks against payload indexes ------------------------------------------------


def check_kinds(node: Node, kinds: Mapping[str, str]) -> None:
    """Raise FilterError when a value does not fit the kind of an indexed field."""
    tag = node[0]
    if tag in ("and", "or"):
        for child in node[1]:
            check_kinds(child, kinds)
        return
    if tag == "not":
        check_kinds(node[1], kinds)
        return
    _, path, op, value = node
    kind = kinds.get(path)
    if kind is None or op == "$exists":
        return
    values = value if op in ("$in", "$nin") else [value]
    for v in values:
        if not _fits(kind, v, op):
            a = "an" if kind[0] in "aeiou" else "a"
            raise FilterError(
                f"field {path!r} has {a} {kind} payload index, but the filter compares it "
                f"with {v!r} ({type(v).__name__}) using {op}; pass {a} {kind} value"
            )


def _fits(kind: str, v: Any, op: str) -> bool:
    if v is None:
        return op in ("$eq", "$ne", "$in", "$nin")
    if kind == "keyword":
        return isinstance(v, str)
    if kind in ("integer", "float"):
        return isinstance(v, int | float) and not isinstance(v, bool)
    if kind == "bool":
        return isinstance(v, bool) and op not in _RANGE
    if kind == "datetime":
        if isinstance(v, bool):
            return False
        if isinstance(v, int | float):
            return True
        return isinstance(v, str) and to_epoch(v) is not None
    return False


def to_epoch(v: Any) -> float | None:
    """Seconds since the epoch of an ISO-8601 string or a number (naive means UTC)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            d = _dt.datetime.fromisoformat(v)
        except ValueError:
            return None
        if d.tzinfo is None:
            d = d.replace(tzinfo=_dt.UTC)
        return d.timestamp()
    return None


def canonical(flt: Any) -> str:
    """A stable cache key of a filter dict."""
    return json.dumps(flt, sort_keys=True, default=str, separators=(",", ":"))


# -- columns ------------------------------------------------------------------------------


def resolve(payload: Any, path: str) -> Any:
    """The value at a dotted path, or MISSING."""
    cur = payload
    for part in path.split("."):
        if not isinstance(cur, dict):
            return MISSING
        cur = cur.get(part, MISSING)
        if cur is MISSING:
            return MISSING
    return cur


def hkey(v: Any) -> Any:
    """A hashable key with the equality rules of filters (bool != number, 1 == 1.0)."""
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int | float):
        return ("n", v)
    if isinstance(v, str):
        return ("s", v)
    if v is None:
        return ("z", None)
    return ("j", json.dumps(v, sort_keys=True, separators=(",", ":")))


class Column:
    """One payload field of one immutable set of rows, with lazily built lookup arrays.

    Built from the resolved values (``MISSING`` where a row lacks the field), or from the
    typed Arrow array that a sealed segment stores for each payload-indexed field
    (:func:`typed_values`; null = missing): then the lookup arrays come from Arrow
    without decoding a single payload.
    """

    def __init__(self, values: list[Any] | None, kind: str | None = None,
                 arrow: Any = None, num: np.ndarray | None = None) -> None:
        self._values = values
        self._arrow = arrow
        self.n = len(values) if values is not None else len(arrow)
        self.kind = kind
        self._present: np.ndarray | None = None
        self._num: np.ndarray | None = num
        self._str: tuple[np.ndarray, np.ndarray] | None = None
        self._eq: dict[Any, Any] | None = None
        if arrow is not None:
            self._present = np.asarray(arrow.is_valid().to_numpy(zero_copy_only=False), bool)
            if self._num is None and kind != "datetime" and _is_number_type(arrow.type):
                self._num = np.asarray(arrow.to_numpy(zero_copy_only=False), np.float64)

    @property
    def values(self) -> list[Any]:
        if self._values is None:
            self._values = [MISSING if v is None else v for v in self._arrow.to_pylist()]
        return self._values

    @property
    def present(self) -> np.ndarray:
        if self._present is None:
            self._present = np.fromiter((v is not MISSING for v in self.values), bool, self.n)
        return self._present

    @property
    def num(self) -> np.ndarray:
        if self._num is None:
            if self.kind == "datetime":
                conv: Callable[[Any], float | None] = to_epoch
            else:
                def conv(v: Any) -> float | None:
                    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

            out = np.full(self.n, np.nan)
            for i, v in enumerate(self.values):
                f = conv(v)
                if f is not None:
                    out[i] = f
            self._num = out
        return self._num

    @property
    def strs(self) -> tuple[np.ndarray, np.ndarray]:
        if self._str is None and self._arrow is not None and self._arrow.type == "string":
            filled = self._arrow.fill_null("").to_numpy(zero_copy_only=False)
            self._str = (np.asarray(filled, dtype=str), self.present)
        if self._str is None:
            is_str = np.fromiter((isinstance(v, str) for v in self.values), bool, self.n)
            arr = np.array([v if isinstance(v, str) else "" for v in self.values], dtype=str)
            self._str = (arr, is_str)
        return self._str

    @property
    def eq(self) -> dict[Any, Any]:
        if self._eq is None and self._arrow is not None:
            self._eq = _arrow_groups(self._arrow)
        if self._eq is None:
            idx: dict[Any, Any] = {}
            for i, v in enumerate(self.values):
                if v is MISSING:
                    continue
                idx.setdefault(hkey(v), []).append(i)
                if isinstance(v, list):
                    for key in {hkey(x) for x in v if not isinstance(x, list | dict)}:
                        if key != hkey(v):
                            idx.setdefault(key, []).append(i)
            self._eq = idx
        return self._eq

    def eq_mask(self, values: Sequence[Any]) -> np.ndarray:
        mask = np.zeros(self.n, bool)
        idx = self.eq
        for v in values:
            rows = idx.get(hkey(v))
            if rows is not None and len(rows):
                mask[rows] = True
        return mask

    def range_mask(self, op: str, v: Any) -> np.ndarray:
        if self.kind == "datetime":
            f = to_epoch(v)
            arr = self.num
            v = f if f is not None else math.nan
        elif isinstance(v, str):
            arr, is_str = self.strs
            return _compare(arr, op, v) & is_str
        else:
            arr = self.num
        with np.errstate(invalid="ignore"):
            return _compare(arr, op, v)


def _is_number_type(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t))


def typed_values(values: list[Any]) -> Any:
    """The resolved values of one field as a typed Arrow array (null = missing), or None.

    Only columns of one scalar type qualify (all strings, all booleans, all integers, or
    numbers): their Arrow form answers every operator exactly like the values. Anything
    else (lists, objects, explicit nulls, mixed types) stays with the payloads.

    Example:
        >>> typed_values([1, MISSING, 3]).to_pylist()
        [1, None, 3]
        >>> typed_values(["a", 1]) is None
        True
    """
    import pyarrow as pa

    seen: set[type] = set()
    for v in values:
        if v is not MISSING:
            seen.add(type(v))
    plain = [None if v is MISSING else v for v in values]
    try:
        if not seen or seen == {str}:
            return pa.array(plain, pa.string())
        if seen == {bool}:
            return pa.array(plain, pa.bool_())
        if seen == {int}:
            return pa.array(plain, pa.int64())
        if seen <= {int, float} and all(
            type(v) is not int or abs(v) <= 2**53 for v in plain  # exact as float64
        ):
            return pa.array(plain, pa.float64())
    except (pa.ArrowInvalid, OverflowError):
        return None  # integers beyond int64
    return None


def _arrow_groups(arr: Any) -> dict[Any, Any]:
    """``hkey(value) -> row positions`` of a typed column, grouped without a Python loop."""
    enc = arr.dictionary_encode()
    codes = np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
    uniques = enc.dictionary.to_pylist()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {hkey(u): order[bounds[i]: bounds[i + 1]] for i, u in enumerate(uniques)}


def _compare(arr: np.ndarray, op: str, v: Any) -> np.ndarray:
    if op == "$gt":
        return arr > v
    if op == "$gte":
        return arr >= v
    if op == "$lt":
        return arr < v
    return arr <= v


def evaluate(node: Node, column: Callable[[str], Column], n: int) -> np.ndarray:
    """A boolean mask of the rows that match ``node``; ``column(path)`` gives columns."""
    tag = node[0]
    if tag == "and":  # an empty filter {} compiles to an empty "and": every row matches
        out = np.ones(n, dtype=bool)
        for child in node[1]:
            out &= evaluate(child, column, n)
        return out
    if tag == "or":
        out = evaluate(node[1][0], column, n)
        for child in node[1][1:]:
            out |= evaluate(child, column, n)
        return out
    if tag == "not":
        return ~evaluate(node[1], column, n)
    _, path, op, value = node
    col = column(path)
    if op == "$eq":
        return col.eq_mask([value])
    if op == "$ne":
        return ~col.eq_mask([value])
    if op == "$in":
        return col.eq_mask(value)
    if op == "$nin":
        return ~col.eq_mask(value)
    if op == "$exists":
        return col.present.copy() if value else ~col.present
    return col.range_mask(op, value)
