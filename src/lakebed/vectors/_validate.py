"""Validation of user input to collections; every check runs before anything is stored."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lakebed._names import validate_name
from lakebed.errors import InvalidArgument

_INT64 = (-(2**63), 2**63 - 1)


def check_name(name: Any) -> str:
    return validate_name("collection", name)


def check_id(i: Any) -> int | str:
    if isinstance(i, np.integer):
        i = int(i)
    if isinstance(i, bool) or not isinstance(i, int | str):
        raise InvalidArgument(
            f"point ids must be int or str, got {i!r} ({type(i).__name__}); convert it, "
            "e.g. str(uuid) for UUIDs"
        )
    if isinstance(i, int) and not _INT64[0] <= i <= _INT64[1]:
        raise InvalidArgument(f"integer point id {i} does not fit in 64 bits; use a str id")
    if isinstance(i, str) and not i:
        raise InvalidArgument("point ids must not be the empty string")
    return i


def check_ids(ids: Any, *, unique: bool = True) -> list[int | str]:
    if isinstance(ids, str | bytes | int | np.integer) or ids is None:
        raise InvalidArgument(f"ids must be a list of int or str ids, got {ids!r}")
    if isinstance(ids, np.ndarray):
        ids = ids.tolist()
    out = [check_id(i) for i in ids]
    if unique and len(set(out)) != len(out):
        seen: set[Any] = set()
        dup = next(i for i in out if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise InvalidArgument(f"duplicate id {dup!r} in one batch; pass each id once")
    return out


def check_vectors(vectors: Any, n: int, dim: int, metric: str) -> np.ndarray:
    try:
        arr = np.array(vectors, dtype=np.float32, copy=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"vectors must be a numeric (n, {dim}) array: {exc}") from None
    if arr.ndim == 1 and n == 1 and arr.shape[0] == dim:
        arr = arr.reshape(1, dim)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidArgument(
            f"vectors must have shape (n, {dim}) for this {dim}-dimensional collection, "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise InvalidArgument(f"got {n} ids but {arr.shape[0]} vectors; pass one vector per id")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InvalidArgument(f"vector {bad} contains NaN or infinite values; clean the input")
    if metric == "cosine":
        norms = np.linalg.norm(arr, axis=1)
        if (norms == 0).any():
            bad = int(np.flatnonzero(norms == 0)[0])
            raise InvalidArgument(f"vector {bad} is all zeros, which has no cosine similarity")
        arr /= norms[:, None]
    return np.ascontiguousarray(arr)


def check_query(vector: Any, dim: int, metric: str, *, batch: bool) -> np.ndarray:
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"the query vector must be numeric: {exc}") from None
    if not batch and arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim or (not batch and arr.shape[0] != 1):
        want = f"(n, {dim})" if batch else f"({dim},)"
        raise InvalidArgument(f"query must have shape {want}, got {np.shape(vector)}")
    if not np.isfinite(arr).all():
        raise InvalidArgument("the query vector contains NaN or infinite values")
    if metric == "cosine":
        norms = np.sqrt(np.einsum("ij,ij->i", arr, arr))
        if (norms == 0).any():
            raise InvalidArgument("a zero query vector has no cosine similarity")
        arr = arr / norms[:, None]
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    return arr


def fast_query(vector: Any, dim: int, metric: str) -> np.ndarray:
    """A single query as a contiguous float32 ``(dim,)`` array (normalized for cosine);
    the cheap path of :func:`check_query` for the common numpy input."""
    if vector.__class__ is np.ndarray and vector.dtype == np.float32 and vector.shape == (dim,):
        nn = float(np.dot(vector, vector))
        if 0.0 < nn < math.inf:  # also false for NaN: any NaN/inf element makes nn NaN/inf
            if metric == "cosine":
                return vector / math.sqrt(nn)  # type: ignore[no-any-return]
            return vector if vector.flags.c_contiguous else np.ascontiguousarray(vector)
    return check_query(vector, dim, metric, batch=False)[0]


def _json_ok(v: Any, depth: int = 0) -> bool:
    if depth > 64:
        return False
    if v is None or isinstance(v, bool | str | int):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, list | tuple):
        return all(_json_ok(x, depth + 1) for x in v)
    if isinstance(v, Mapping):
        return all(isinstance(k, str) and _json_ok(x, depth + 1) for k, x in v.items())
    return False


def check_payloads(payloads: Any, n: int) -> list[dict[str, Any]]:
    """Validate payloads and return independent copies (JSON round trip)."""
    if payloads is None:
        return [{} for _ in range(n)]
    if isinstance(payloads, Mapping) or not isinstance(payloads, Sequence):
        raise InvalidArgument("payloads must be a list of dicts, one per id")
    if len(payloads) != n:
        raise InvalidArgument(f"got {n} ids but {len(payloads)} payloads; pass one per id")
    out: list[dict[str, Any]] = []
    for i, p in enumerate(payloads):
        if p is None:
            out.append({})
            continue
        if not isinstance(p, Mapping) or not _json_ok(p):
            raise InvalidArgument(
                f"payload {i} is not a JSON object (a dict with str keys and JSON values: "
                f"str, int, finite float, bool, None, list, dict): {p!r:.200}"
            )
        out.append(json.loads(json.dumps(p)))
    return out


def check_texts(texts: Any, n: int) -> list[str | None] | None:
    if texts is None:
        return None
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidArgument("texts must be a list of str (or None), one per id")
    if len(texts) != n:
        raise InvalidArgument(f"got {n} ids but {len(texts)} texts; pass one per id")
    for i, t in enumerate(texts):
        if t is not None and not isinstance(t, str):
            raise InvalidArgument(f"text {i} must be a str or None, got {type(t).__name__}")
    return list(texts)


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidArgument(f"k must be a positive integer, got {k!r}")
    return int(k)
