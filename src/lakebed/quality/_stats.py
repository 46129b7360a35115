"""Drift statistics for one column: a reference sample against a current sample.

:func:`column_drift` takes two Arrow arrays, removes nulls (and NaN/±inf), infers the
column's kind — ``"numeric"``, ``"categorical"`` or ``"embedding"`` — computes every
statistic that fits the kind, and judges drift with one chosen test (``method``). The
default test per column follows Evidently's ``DataDriftPreset`` (see
:func:`default_method`). :func:`dataset_verdict` turns the per-column verdicts into the
dataset's. Results are plain JSON-ready dicts (floats, ints, strings, lists; NaN and
infinities become ``None``).

Statistics, all computed on the same non-null values:

* numeric — ``psi`` (10 bins cut at the reference deciles), ``ks``/``ks_pvalue``
  (equal to ``scipy.stats.ks_2samp``), ``wasserstein`` (equal to
  ``scipy.stats.wasserstein_distance``), ``wasserstein_norm`` (divided by the
  reference's standard deviation, floored at 0.001, as Evidently's ``wasserstein``
  test), ``jensenshannon`` (binned as Evidently bins numbers); with five distinct
  values or fewer also the categorical ``chisquare`` and ``z`` statistics below.
* categorical — ``chisquare``/``chisquare_pvalue`` (``scipy.stats.chisquare`` of the
  current counts against the reference shares scaled to the current size, as
  Evidently's ``chisquare`` test), ``jensenshannon`` and ``psi`` over the union of the
  categories, and for two categories or fewer the two-proportion ``z``/``z_pvalue``.
* embedding — ``centroid_distance`` (euclidean) and ``centroid_cosine`` between the
  means, ``mmd2`` (unbiased MMD² with an RBF kernel whose bandwidth,
  ``mmd_bandwidth``, is the median pairwise distance of the pooled sample) and
  ``mmd_pvalue`` by permutation (up to 1000 rows per side, 200 permutations, fixed seed).

Kinds follow Evidently's legacy column typing (``_get_column_type`` in
evidently/legacy/utils/data_preprocessing.py): integers with at most 5 distinct
reference values are categorical, floats never are; strings, booleans and dictionaries
are categorical. Numeric PSI deliberately bins at the reference deciles (Evidently's PSI
uses its Jensen-Shannon bins); categorical PSI, Jensen-Shannon, chi-square and z equal
Evidently's.

Every numeric statistic comes from the two sorted samples (each side is sorted once):
the PSI deciles, histograms and distinct counts by searchsorted on them; KS and
Wasserstein from the merged samples (a stable argsort of two sorted runs is a linear
merge), or, for samples of equal size, Wasserstein as the mean of |sorted ref - sorted
cur| and KS by evaluating the ECDFs on a coarse grid and then only where the grid's
bounds leave room for a larger difference. The KS p-value follows scipy's ``ks_2samp``
branch by branch (see :func:`_kstwo_sf`). Above 400,000 rows the two sides are sorted
(or counted) on two threads and a merge is cut in two halves, one per thread.

Example:
    >>> import pyarrow as pa
    >>> from lakebed.quality._stats import column_drift, dataset_verdict
    >>> ref = pa.array([float(i % 100) for i in range(2000)])
    >>> cur = pa.array([float(i % 100) + 30 for i in range(2000)])
    >>> r = column_drift(ref, cur)
    >>> r["kind"], r["method"], r["threshold"], r["drifted"]
    ('numeric', 'wasserstein', 0.1, True)
    >>> round(r["score"], 3), round(r["stats"]["wasserstein"], 1)
    (1.039, 30.0)
    >>> c = column_drift(pa.array(["a", "b", None] * 400), pa.array(["a", "b", "b"] * 400))
    >>> c["kind"], c["method"], c["reference_rows"], c["reference_nulls"], c["drifted"]
    ('categorical', 'z', 800, 400, True)
    >>> c["categories"]["labels"], c["categories"]["current"]
    (['b', 'a'], [800, 400])
    >>> dataset_verdict([r, c])
    {'drifted': True, 'drifted_columns': 2, 'columns': 2, 'share': 1.0, 'threshold': 0.5}
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakebed.errors import InvalidArgument, require

__all__ = ["KINDS", "METHODS", "Method", "column_drift", "dataset_verdict", "default_method"]

KINDS = ("numeric", "categorical", "embedding")
T = TypeVar("T")
R = TypeVar("R")


class Method(NamedTuple):
    """A drift test: the kinds it applies to, its default threshold, the statistic that
    is its score, and when the score means drift (``score <op> threshold``)."""

    kinds: tuple[str, ...]
    threshold: float
    statistic: str
    drift_when: str  # one of "<", "<=", ">", ">="
    description: str


# Thresholds and comparisons mirror Evidently's stattests
# (src/evidently/legacy/calculations/stattests/*.py: psi.py, ks_stattest.py,
# wasserstein_distance_norm.py, jensenshannon.py, chisquare_stattest.py, z_stattest.py):
# distances drift when score >= threshold; KS when p <= threshold; chi-square and z when
# p < threshold. "centroid" follows Evidently's embedding DistanceDriftMethod (score >
# threshold); "mmd" drifts when p < threshold.
METHODS: dict[str, Method] = {
    "psi": Method(("numeric", "categorical"), 0.1, "psi", ">=",
                  "population stability index (numbers: 10 reference-decile bins)"),
    "ks": Method(("numeric",), 0.05, "ks_pvalue", "<=", "two-sample Kolmogorov-Smirnov p-value"),
    "wasserstein": Method(("numeric",), 0.1, "wasserstein_norm", ">=",
                          "Wasserstein-1 distance divided by the reference's std (normed)"),
    "jensenshannon": Method(("numeric", "categorical"), 0.1, "jensenshannon", ">=",
                            "Jensen-Shannon distance (natural log) of the binned shares"),
    "chisquare": Method(("numeric", "categorical"), 0.05, "chisquare_pvalue", "<",
                        "chi-square goodness of fit p-value of current counts vs reference shares"),
    "z": Method(("numeric", "categorical"), 0.05, "z_pvalue", "<",
                "two-proportion z-test p-value (two categories at most)"),
    "mmd": Method(("embedding",), 0.05, "mmd_pvalue", "<",
                  "permutation p-value of the unbiased MMD² (RBF kernel, median bandwidth)"),
    "centroid": Method(("embedding",), 0.1, "centroid_cosine", ">",
                       "cosine distance between the mean embeddings"),
}

# Evidently's defaults (legacy/calculations/stattests/registry.py, _get_default_stattest):
# "n" is the reference's row count after nulls and ±inf are dropped (get_one_column_drift in
# legacy/calculations/data_drift.py drops them first); the distinct count is over both sides.
SMALL_DATA_ROWS = 1000
FEW_VALUES = 5
# Integer columns with at most this many distinct reference values are categorical
# (Evidently: NUMBER_UNIQUE_AS_CATEGORICAL in legacy/utils/data_preprocessing.py, _get_column_type).
CATEGORICAL_INT_DISTINCT = 5
# Evidently bins numbers by value for Jensen-Shannon/PSI up to this many distinct
# reference values, with Sturges bins over both sides above (legacy stattests/utils.py, get_binned_data).
BY_VALUE_MAX_DISTINCT = 20

PSI_BINS = 10
HISTOGRAM_BINS = 20
TOP_CATEGORIES = 20
OTHER_LABEL = "(other)"
MMD_MAX_ROWS = 1000
MMD_PERMUTATIONS = 200
MMD_SEED = 0
_KS_MAX_AUTO_N = 10000  # scipy's ks_2samp 'auto': exact distribution up to this size


# ----------------------------------------------------------------------------------------
# public API


def column_drift(
    ref: pa.ChunkedArray | pa.Array,
    cur: pa.ChunkedArray | pa.Array,
    *,
    method: str | None = None,
    threshold: float | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    """Drift of one column from ``ref`` to ``cur`` (two Arrow arrays of the same kind).

    ``kind`` is inferred unless given: integers with at most 5 distinct reference values,
    strings, booleans and dictionaries are ``"categorical"``; other integers, floats,
    decimals, timestamps, dates and durations (as epoch integers) are ``"numeric"``;
    lists of floats of one length are ``"embedding"``. ``method`` is one of
    :data:`METHODS` (default: :func:`default_method`); ``threshold`` defaults to the
    method's. ``score`` is the method's statistic (a p-value for ``ks``, ``chisquare``,
    ``z`` and ``mmd``, where drift means a small p).

    Raises :class:`~lakebed.errors.InvalidArgument` for an unknown method or kind, a
    method that does not fit the kind, a side with no non-null value, types that differ
    between the sides, and embeddings of different lengths.
    """
    if method is not None and method not in METHODS:
        raise InvalidArgument(f"unknown drift method {method!r}; use one of {sorted(METHODS)}")
    if kind is not None and kind not in KINDS:
        raise InvalidArgument(f"unknown column kind {kind!r}; use one of {list(KINDS)} or leave it None to infer")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)
                                  or not math.isfinite(threshold) or threshold < 0):
        raise InvalidArgument(f"threshold must be a finite number >= 0; got {threshold!r}")
    a = _chunked(ref, "reference")
    b = _chunked(cur, "current")
    fam_a, fam_b = _family(a.type, "reference"), _family(b.type, "current")
    if kind is None and fam_a != "integer":  # integers: decided by their distinct count, below
        kind = _infer_kind(fam_a)
    for fam, t, side in ((fam_a, a.type, "reference"), (fam_b, b.type, "current")):
        _check_kind(kind, fam, t, side)
    _check_method(method, kind)

    if kind == "embedding":
        return _embedding_drift(a, b, method, threshold)
    if (fam_a in _NUMBER_FAMILIES) != (fam_b in _NUMBER_FAMILIES) or (fam_a == "bool") != (fam_b == "bool"):
        raise InvalidArgument(f"the reference is {a.type} but the current is {b.type}; cast both sides to one type")
    if fam_a in _NUMBER_FAMILIES:
        if (fam_a == "temporal") != (fam_b == "temporal"):
            raise InvalidArgument(f"the reference is {a.type} but the current is {b.type}; cast both sides to "
                                  f"the same temporal type (or both to numbers) first")
        if fam_a == "temporal" and a.type != b.type:
            b = _cast(b, a.type)
        (xa, nulls_a), (xb, nulls_b) = _both(_to_float, a, b, len(a) + len(b))
        _require_rows(xa.size, xb.size)
        sa, sb = _both(np.sort, xa, xb, xa.size + xb.size)
        del xa, xb
        ref_distinct = int(np.count_nonzero(sa[1:] != sa[:-1])) + 1
        if kind is None:
            # Evidently: integer columns with <= 5 distinct (reference) values are categorical; floats never
            kind = "categorical" if ref_distinct <= CATEGORICAL_INT_DISTINCT else "numeric"
            _check_method(method, kind)
        integer = fam_a in ("integer", "temporal") and fam_b in ("integer", "temporal")
        if kind == "numeric":
            return _numeric_drift(sa, sb, ref_distinct, nulls_a, nulls_b, integer, method, threshold)
        va, ca = _sorted_counts(sa)
        vb, cb = _sorted_counts(sb)
        labels_u, ref_c, cur_c = _align_sorted(va, ca, vb, cb)
        # the union of sorted values is sorted: the smallest key (Evidently's z-test) is first
        return _categorical_drift(ref_c, cur_c, _number_labels(labels_u, integer), 0, nulls_a, nulls_b,
                                  method, threshold)
    (ua, na, nulls_a), (ub, nb, nulls_b) = _both(_arrow_counts, a, b, len(a) + len(b))
    _require_rows(int(na.sum()), int(nb.sum()))
    union, ref_c, cur_c = _align_arrow(ua, na, ub, nb)

    def labeler(idx: np.ndarray) -> list[str]:
        return [str(v) for v in union.take(pa.array(idx, pa.int64())).to_pylist()]

    return _categorical_drift(ref_c, cur_c, labeler, _arrow_first(union), nulls_a, nulls_b, method, threshold)


def dataset_verdict(columns: list[dict], *, share: float = 0.5) -> dict:
    """The dataset's verdict from :func:`column_drift` results: drifted when the share of
    drifted columns is at least ``share`` (Evidently's ``drift_share``, default 0.5; the
    ``>=`` mirrors get_dataset_drift in evidently/legacy/calculations/data_drift.py).

    >>> dataset_verdict([{"drifted": True}, {"drifted": False}, {"drifted": False}])
    {'drifted': False, 'drifted_columns': 1, 'columns': 3, 'share': 0.3333333333333333, 'threshold': 0.5}
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise InvalidArgument(f"share is the fraction of drifted columns that makes the dataset drift, "
                              f"a number in [0, 1]; got {share!r}")
    if not columns:
        raise InvalidArgument("dataset_verdict needs at least one column result; pass the column_drift(...) dicts")
    k = 0
    for i, c in enumerate(columns):
        if not isinstance(c, dict) or "drifted" not in c:
            raise InvalidArgument(f"columns[{i}] is not a column_drift result (a dict with 'drifted'); "
                                  f"got {type(c).__name__}")
        k += bool(c["drifted"])
    n = len(columns)
    s = k / n
    return {"drifted": bool(s >= share), "drifted_columns": k, "columns": n, "share": s, "threshold": float(share)}


def default_method(kind: str, reference_rows: int, distinct_values: int) -> str:
    """The test Evidently's ``DataDriftPreset`` picks for a column (mirrors
    ``_get_default_stattest`` in evidently/legacy/calculations/stattests/registry.py).

    ``reference_rows`` counts the reference's non-null values and ``distinct_values``
    the distinct non-null values of both sides together. Up to 1000 reference rows:
    numbers get KS (chi-square with 3-5 distinct values, z with 2 or fewer), categories
    chi-square (z with 2 categories or fewer). Above: numbers get the normed
    Wasserstein distance (Jensen-Shannon with 5 distinct values or fewer), categories
    Jensen-Shannon. Embeddings get MMD.

    >>> default_method("numeric", 1000, 50), default_method("numeric", 1001, 50)
    ('ks', 'wasserstein')
    >>> default_method("categorical", 1000, 2), default_method("categorical", 1001, 2)
    ('z', 'jensenshannon')
    """
    if kind == "embedding":
        return "mmd"
    if kind not in ("numeric", "categorical"):
        raise InvalidArgument(f"unknown column kind {kind!r}; use one of {list(KINDS)}")
    few = distinct_values <= FEW_VALUES
    if reference_rows <= SMALL_DATA_ROWS:
        if kind == "numeric" and not few:
            return "ks"
        return "chisquare" if distinct_values > 2 else "z"
    if kind == "numeric" and not few:
        return "wasserstein"
    return "jensenshannon"


# ----------------------------------------------------------------------------------------
# input handling

_NUMBER_FAMILIES = ("integer", "float", "temporal")


def _chunked(x: Any, side: str) -> pa.ChunkedArray:
    if isinstance(x, pa.ChunkedArray):
        return x
    if isinstance(x, pa.Array):
        return pa.chunked_array([x], type=x.type)
    raise InvalidArgument(f"the {side} must be a pyarrow Array or ChunkedArray (e.g. table.column('x')); "
                          f"got {type(x).__name__}; convert it with pyarrow.array(...)")


def _family(t: pa.DataType, side: str) -> str:
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_duration(t) or pa.types.is_time(t):
        return "temporal"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_dictionary(t):
        return "dictionary"
    if _is_list(t):
        return "list"
    raise InvalidArgument(f"the {side} has type {t}, which drift does not handle; numbers, dates, strings, "
                          f"booleans, dictionaries and lists of floats (embeddings) are supported; "
                          f"cast the column or leave it out")


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t)
                or pa.types.is_list_view(t) or pa.types.is_large_list_view(t))


def _infer_kind(fam: str) -> str:
    if fam == "list":
        return "embedding"
    if fam in _NUMBER_FAMILIES:
        return "numeric"
    return "categorical"


def _check_method(method: str | None, kind: str | None) -> None:
    if method is not None and kind is not None and kind not in METHODS[method].kinds:
        fits = [m for m, spec in METHODS.items() if kind in spec.kinds]
        raise InvalidArgument(f"method {method!r} does not apply to a {kind} column; use one of {fits} "
                              f"(or pass kind=... if the column's kind was inferred wrongly)")


def _check_kind(kind: str | None, fam: str, t: pa.DataType, side: str) -> None:
    if kind == "embedding":
        if fam != "list":
            raise InvalidArgument(f"an embedding column holds lists of floats, but the {side} is {t}; "
                                  f"leave kind=None or pass kind='numeric'/'categorical'")
        value = t.value_type
        if not (pa.types.is_floating(value) or pa.types.is_integer(value)):
            raise InvalidArgument(f"the {side}'s lists hold {value}, not numbers; embeddings are lists of floats")
    elif fam == "list":
        raise InvalidArgument(f"the {side} holds lists ({t}); a list column can only be an embedding "
                              f"(kind='embedding')")
    elif kind == "numeric" and fam not in _NUMBER_FAMILIES:
        raise InvalidArgument(f"a numeric column needs numbers or dates, but the {side} is {t}; "
                              f"pass kind='categorical' or cast the column")


def _cast(x: pa.ChunkedArray, t: pa.DataType) -> pa.ChunkedArray:
    try:
        return pc.cast(x, t)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidArgument(f"cannot compare {x.type} with {t}: {exc}; cast both sides to one type") from None


def _require_rows(n_ref: int, n_cur: int) -> None:
    if n_ref == 0:
        raise InvalidArgument("the reference has no non-null values (after removing nulls, NaN and ±inf); "
                              "drift needs data on both sides: pick another reference or leave the column out")
    if n_cur == 0:
        raise InvalidArgument("the current data has no non-null values (after removing nulls, NaN and ±inf); "
                              "drift needs data on both sides: pick another window or leave the column out")


def _to_float(x: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Non-null finite values as float64 (temporal types as epoch integers), and how many
    values were dropped (nulls, NaN, ±inf)."""
    nulls = x.null_count
    if nulls:
        x = pc.drop_null(x)
    t = x.type
    if pa.types.is_decimal(t):
        x = pc.cast(x, pa.float64())
    elif _family(t, "column") == "temporal":
        x = pc.cast(x, pa.int32() if t.bit_width == 32 else pa.int64())
    arr = np.asarray(x.to_numpy())
    v = arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "f":
        finite = np.isfinite(v)
        bad = v.size - int(np.count_nonzero(finite))
        if bad:
            v = v[finite]
            nulls += bad
    return v, nulls


_PARALLEL_ROWS = 400_000


def _both(fn: Callable[[T], R], a: T, b: T, rows: int) -> tuple[R, R]:
    """``(fn(a), fn(b))``; with many rows ``fn(b)`` runs on a helper thread (numpy's sort
    and Arrow's kernels release the GIL, so the two sides use two cores)."""
    if rows < _PARALLEL_ROWS:
        return fn(a), fn(b)
    box: list[Any] = []

    def run() -> None:
        try:
            box.append((True, fn(b)))
        except BaseException as exc:  # re-raised on the calling thread
            box.append((False, exc))

    helper = threading.Thread(target=run, name="lakebed-drift", daemon=True)
    helper.start()
    try:
        ra = fn(a)
    finally:
        helper.join()
    ok, rb = box[0]
    if not ok:
        raise rb
    return ra, rb


def _json(x: Any) -> float | None:
    """A plain float, or None for NaN/±inf."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _scipy_stats() -> Any:
    require("scipy", "quality")
    import scipy.stats

    return scipy.stats


def _scipy_special() -> Any:
    require("scipy", "quality")
    import scipy.special

    return scipy.special


# ----------------------------------------------------------------------------------------
# verdict


def _verdict(kind: str, method: str, stats: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    spec = METHODS[method]
    th = spec.threshold if threshold is None else float(threshold)
    score = stats.get(spec.statistic)
    if score is None:
        drifted = False
    elif spec.drift_when == "<":
        drifted = score < th
    elif spec.drift_when == "<=":
        drifted = score <= th
    elif spec.drift_when == ">":
        drifted = score > th
    else:
        drifted = score >= th
    return {"kind": kind, "method": method, "score": score, "threshold": th, "drifted": bool(drifted)}


def _result(verdict: dict[str, Any], n_ref: int, n_cur: int, nulls_ref: int, nulls_cur: int,
            stats: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(verdict)
    out.update({"reference_rows": int(n_ref), "current_rows": int(n_cur), "reference_nulls": int(nulls_ref),
                "current_nulls": int(nulls_cur), "stats": stats})
    out.update(extra)
    return out


# ----------------------------------------------------------------------------------------
# numeric


def _numeric_drift(sa: np.ndarray, sb: np.ndarray, ref_distinct: int, nulls_a: int, nulls_b: int, integer: bool,
                   method: str | None, threshold: float | None) -> dict[str, Any]:
    """Numeric statistics from the two sorted samples."""
    n1, n2 = sa.size, sb.size
    ks, wasserstein = _ks_wasserstein(sa, sb)
    counts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    if ref_distinct <= BY_VALUE_MAX_DISTINCT or method in ("chisquare", "z"):
        va, ca = _sorted_counts(sa)
        vb, cb = _sorted_counts(sb)
        counts = _align_sorted(va, ca, vb, cb)
        distinct = counts[0].size
    else:
        distinct = ref_distinct  # > 20: the union has more than 5 values, all Evidently's rule asks
    if method is None:
        method = default_method("numeric", n1, distinct)
    std = float(np.std(sa))
    stats: dict[str, Any] = {
        "psi": _json(_psi_numeric(sa, sb)),
        "ks": _json(ks),
        "ks_pvalue": _json(_ks_pvalue(sa, sb, ks)),
        "wasserstein": _json(wasserstein),
        # Evidently's "wasserstein" test: W1 / max(std(reference), 0.001)
        "wasserstein_norm": _json(wasserstein / max(std, 0.001)),
    }
    if counts is not None:
        p, q = counts[1] / n1, counts[2] / n2
    else:
        edges = _sturges_edges(sa, sb, integer)
        p, q = _hist_counts(sa, edges) / n1, _hist_counts(sb, edges) / n2
    stats["jensenshannon"] = _json(_jensenshannon(p, q))
    if counts is not None and (distinct <= FEW_VALUES or method in ("chisquare", "z")):
        if method == "z" and distinct > 2:
            raise InvalidArgument(f"the z-test compares two categories, but the column has {distinct} distinct "
                                  f"values; use method='chisquare'")
        stats.update(_categorical_tests(counts[1], counts[2], 0))
    lo, hi = min(sa[0], sb[0]), max(sa[-1], sb[-1])
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    histogram = {"edges": edges.tolist(), "reference": _hist_counts(sa, edges).tolist(),
                 "current": _hist_counts(sb, edges).tolist()}
    return _result(_verdict("numeric", method, stats, threshold), n1, n2, nulls_a, nulls_b, stats,
                   {"histogram": histogram})


def _ks_wasserstein(sa: np.ndarray, sb: np.ndarray) -> tuple[float, float]:
    """KS statistic and Wasserstein-1 distance of two sorted samples.

    Equal sizes: W1 is the mean of |sa - sb| (the integral of |F_ref - F_cur| equals that
    of the quantile functions), and KS is found by :func:`_ks_refined` without a merge.
    Otherwise both come from the merged samples (:func:`_ks_wasserstein_merged`)."""
    n1, n2 = sa.size, sb.size
    if n1 == n2 and n1 >= _REFINE_MIN_ROWS:
        ks = _ks_refined(sa, sb)
        if ks is not None:
            d = np.subtract(sa, sb)
            np.abs(d, out=d)
            return ks, float(d.sum()) / n1
    return _ks_wasserstein_merged(sa, sb)


_REFINE_MIN_ROWS = 20_000


def _ks_refined(sa: np.ndarray, sb: np.ndarray) -> float | None:
    """The exact KS statistic max_x |F_ref(x) - F_cur(x)|, evaluated as scipy does
    (counts by searchsorted(..., 'right')) at a grid of every s-th value of each side
    (s ~ sqrt(n)/16, at most 64). Strictly between two grid values the counts lie between
    their values at the two ends, so only the stretches whose bound exceeds the best
    value found can hold a larger one, and only their data values are evaluated. None
    when that is more than an eighth of the data (the merge is as cheap then)."""
    n1, n2 = sa.size, sb.size
    s = int(min(64, max(4, math.isqrt(min(n1, n2)) // 16)))
    grid = np.concatenate((sa[::s], sa[-1:], sb[::s], sb[-1:]))
    grid.sort()
    ca = np.searchsorted(sa, grid, "right")
    cb = np.searchsorted(sb, grid, "right")
    best = int(np.abs(ca * n2 - cb * n1).max())  # n1*n2*(F_ref - F_cur), exact in int64
    # on (grid[k-1], grid[k]) the counts lie in [right count at grid[k-1], left count at grid[k]]
    ca0, cb0 = ca[:-1], cb[:-1]
    ca1, cb1 = np.searchsorted(sa, grid[1:], "left"), np.searchsorted(sb, grid[1:], "left")
    bound = np.maximum(ca1 * n2 - cb0 * n1, cb1 * n1 - ca0 * n2)
    need = np.flatnonzero(bound > best)
    if need.size == 0:
        return best / (float(n1) * float(n2))
    la, lb = ca1[need] - ca0[need], cb1[need] - cb0[need]
    if int(la.sum()) + int(lb.sum()) > (n1 + n2) // 8:
        return None
    vals = np.concatenate((sa[_ranges(ca0[need], la)], sb[_ranges(cb0[need], lb)]))
    if vals.size:
        num = np.searchsorted(sa, vals, "right") * n2 - np.searchsorted(sb, vals, "right") * n1
        best = max(best, int(np.abs(num).max()))
    return best / (float(n1) * float(n2))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated index ranges [start, start + length)."""
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(total)


def _ks_wasserstein_merged(sa: np.ndarray, sb: np.ndarray) -> tuple[float, float]:
    """KS statistic and Wasserstein-1 distance from the merged samples. The runs are
    merged (a stable argsort of two sorted runs is a linear merge) and n1*n2*(F_ref -
    F_cur) at every merged point is a running sum of +n2 (a reference value) and -n1 (a
    current value), exact in int64. scipy evaluates the same ECDFs with
    searchsorted(..., 'right'): they agree at the last point of each tie group (where KS
    is read), and inside a tie group the Wasserstein step is zero.

    With many rows the value range is cut at a pivot into two halves of about equal
    size (ties stay together) that are merged on two threads; the upper half starts its
    running sum where the lower one ends."""
    n1, n2 = sa.size, sb.size
    scale = float(n1) * float(n2)
    ka, kb = _split(sa, sb) if n1 + n2 >= _PARALLEL_ROWS else (0, 0)
    if ka + kb in (0, n1 + n2):
        top, w, _ = _merge_part(sa, sb, n1, n2, 0)
        return top / scale, w / scale
    lower, upper = _both(lambda part: _merge_part(*part), (sa[:ka], sb[:kb], n1, n2, 0),
                         (sa[ka:], sb[kb:], n1, n2, ka * n2 - kb * n1), n1 + n2)
    lo_last = max(sa[ka - 1] if ka else -np.inf, sb[kb - 1] if kb else -np.inf)
    hi_first = min(sa[ka] if ka < n1 else np.inf, sb[kb] if kb < n2 else np.inf)
    bridge = float(hi_first - lo_last) * float(lower[2])  # the step between the halves
    return max(lower[0], upper[0]) / scale, (lower[1] + bridge + upper[1]) / scale


def _split(sa: np.ndarray, sb: np.ndarray) -> tuple[int, int]:
    """(ka, kb): sa[:ka] and sb[:kb] hold the values below a pivot taken from the data,
    about half of all values; values equal to the pivot are all above."""
    half = (sa.size + sb.size) // 2
    for x, y in ((sa, sb), (sb, sa)):
        lo, hi = 0, x.size - 1
        while lo < hi:  # first i with i + #(y < x[i]) >= half
            i = (lo + hi) // 2
            if i + int(np.searchsorted(y, x[i], "left")) >= half:
                hi = i
            else:
                lo = i + 1
        pivot = x[lo]
        kx, ky = int(np.searchsorted(x, pivot, "left")), int(np.searchsorted(y, pivot, "left"))
        if abs(kx + ky - half) <= half // 2:
            return (kx, ky) if x is sa else (ky, kx)
    return 0, 0


def _merge_part(sa: np.ndarray, sb: np.ndarray, n1: int, n2: int, offset: int) -> tuple[int, float, int]:
    """Over the merged sorted values of sa and sb (a contiguous stretch of the value range,
    ties inside it): max |n1*n2*(F_ref - F_cur)| at tie-group ends, the Wasserstein sum
    (step * |n1*n2*(F_ref - F_cur)|) over its inner steps, and |running sum| at its last
    value. ``offset`` is the running sum below the stretch."""
    if sa.size + sb.size == 0:
        return 0, 0.0, abs(offset)
    pooled = np.concatenate((sa, sb))
    order = np.argsort(pooled, kind="stable")
    z = pooled[order]
    del pooled
    is_a = order < sa.size
    num = order  # reused in place: +n2 for a reference value, -n1 for a current one, summed
    np.multiply(is_a, n1 + n2, out=num)
    num -= n1
    del is_a
    num[0] += offset
    np.cumsum(num, out=num)
    np.abs(num, out=num)
    last = int(num[-1])
    steps = np.diff(z)
    del z
    if np.count_nonzero(steps) == steps.size:  # no ties: every point ends its group
        top = int(num.max())
    else:  # read only the last point of each tie group (the final point is one too)
        top = max(int(np.max(num[:-1], where=steps != 0, initial=0)), last)
    np.multiply(steps, num[:-1], out=steps)
    return top, float(steps.sum()), last


def _ks_pvalue(sa: np.ndarray, sb: np.ndarray, d: float) -> float:
    """The two-sided p-value of scipy.stats.ks_2samp(ref, cur) (method 'auto')."""
    n1, n2 = sa.size, sb.size
    if max(n1, n2) <= _KS_MAX_AUTO_N:
        # scipy's 'exact' branch (with its own fallback to 'asymp'); cheap at this size.
        scipy_stats = _scipy_stats()
        with warnings.catch_warnings():  # "Exact calculation unsuccessful. Switching to method=asymp."
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation unsuccessful", RuntimeWarning)
            return float(scipy_stats.ks_2samp(sa, sb).pvalue)
    # scipy's 'asymp' branch: kstwo.sf(d, round(m*n/(m+n))) with m >= n, clipped to [0, 1].
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    return float(np.clip(_kstwo_sf(d, en), 0.0, 1.0))


def _kstwo_sf(x: float, n: float) -> float:
    """scipy.stats.kstwo.sf(x, n). scipy (stats/_ksstats.py, _kolmogn) answers
    2 * special.smirnov(n, x) when 2.2 <= n*x*x < 370 (n > 140, 1 < n*x < n-1, x < 0.5);
    its smirnov sums the ~n*(1-x) terms of the Smirnov-Birnbaum-Tingey series one by one
    (~0.7 s at n = 500000). Here the same series is summed as a vectorized numpy
    expression; everything else is scipy's own call."""
    t = n * x
    nxsq = t * x
    if 5000 < n <= 1_000_000 and 0.0 < x < 0.5 and 1.0 < t < n - 1 and 2.2 <= nxsq < 370.0:
        if nxsq > 354.19:  # smirnov: exp(-2 n x^2) underflows -> 0
            return 0.0
        return min(1.0, max(0.0, 2.0 * _smirnov_sf(int(n), x)))
    return float(_scipy_stats().kstwo.sf(x, n))


_S = (1.0 / 12, 1.0 / 360, 1.0 / 1260, 1.0 / 1680, 1.0 / 1188)


def _stirlerr(k: np.ndarray) -> np.ndarray:
    """log(k!) - log(sqrt(2 pi k) (k/e)^k) (Loader's stirlerr), for k >= 1."""
    out = np.empty_like(k)
    big = k > 15
    kk = k[big] if not big.all() else k
    inv = 1.0 / kk
    inv2 = inv * inv
    series = _S[4] * inv2
    for c in (_S[3], _S[2], _S[1]):
        np.subtract(c, series, out=series)
        series *= inv2
    np.subtract(_S[0], series, out=series)
    series *= inv
    if kk is k:
        return series
    out[big] = series
    small = ~big
    ks = k[small]
    gammaln = _scipy_special().gammaln
    out[small] = gammaln(ks + 1.0) - (ks + 0.5) * np.log(ks) + ks - 0.5 * math.log(2 * math.pi)
    return out


def _smirnov_sf(n: int, x: float) -> float:
    """P(D+_n >= x), the one-sided Smirnov survival function (= scipy.special.smirnov):
    x * sum_{v=0}^{floor(n(1-x))} C(n,v) (x+v/n)^(v-1) (1-x-v/n)^(n-v).

    Each term is binom.pmf(v; n, p_v) / p_v with p_v = x + v/n, evaluated in log space
    with Loader's saddle-point form (stirlerr and bd0), accurate to ~1e-13 relative.
    The log-terms are a smooth unimodal function of v: a coarse pass finds the stretch
    where they are within e^-40 of the largest (the rest adds < 1e-15 relative). The
    function is analytic away from v = 0 and v = n(1-x), so the sum over the integers of
    that stretch equals h times the sum with step h, up to ~exp(-2 pi d / h) with d the
    distance from the stretch to those points, and ~exp(-2 pi^2 w^2 / h^2) with w the
    width of the peak (Poisson summation): h = min(d/20, stretch/64) keeps both below 1e-15."""
    nx = n * x
    last = math.floor(n * (1.0 - x))
    # terms with n * (1 - p_v) = n - v - nx <= 0 are zero
    last = min(last, math.ceil(n - nx) - 1)
    while last >= 1 and (n - last) - nx <= 0:
        last -= 1
    head = math.exp(n * math.log1p(-x)) / x  # v = 0: (1-x)^n / x
    if last < 1:
        return x * head
    stride = max(1, last // 1024)
    coarse = np.arange(1, last + 1, stride, dtype=np.float64)
    lt = _smirnov_log_terms(n, nx, coarse)
    keep = np.flatnonzero(lt > max(float(lt.max()), math.log(head) if head > 0 else -math.inf) - 40.0)
    total = head
    if keep.size:
        lo = max(1, int(coarse[keep[0]]) - stride)
        hi = min(last, int(coarse[keep[-1]]) + stride)
        step = max(1, int(min(min(lo, (n - nx) - hi) / 20, (hi - lo) / 64)))
        v = np.arange(lo, hi + 1, step, dtype=np.float64)
        log_term = _smirnov_log_terms(n, nx, v)
        total += step * float(np.exp(log_term, out=log_term).sum())
    return x * total


def _smirnov_log_terms(n: int, nx: float, v: np.ndarray) -> np.ndarray:
    """log(binom.pmf(v; n, p_v) / p_v), p_v = (v + nx) / n, 1 <= v, n - v - nx > 0."""
    nmv = n - v
    # -(bd0(v, v + nx) + bd0(n - v, n - v - nx)) = v log1p(nx/v) + (n-v) log1p(-nx/(n-v))
    log_term = np.log1p(nx / v)
    log_term *= v
    bd_b = np.log1p(-nx / nmv)
    bd_b *= nmv
    log_term += bd_b
    log_term += _stirlerr(np.array([float(n)]))[0]
    log_term -= _stirlerr(v)
    log_term -= _stirlerr(nmv)
    log_term += 0.5 * math.log(n / (2 * math.pi)) + math.log(n)
    log_term -= 0.5 * (np.log(v) + np.log(nmv))
    log_term -= np.log(v + nx)
    return log_term


def _quantiles_sorted(s: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """np.quantile(s, qs) (method 'linear') of a sorted array, without a partition."""
    idx = qs * (s.size - 1)
    lo = np.floor(idx).astype(np.int64)
    hi = np.minimum(lo + 1, s.size - 1)
    g = idx - lo
    a, b = s[lo], s[hi]
    diff = b - a
    out = a + diff * g
    upper = g >= 0.5
    out[upper] = (b - diff * (1 - g))[upper]
    return out


def _fill_zeros(p: np.ndarray) -> np.ndarray:
    """Evidently's epsilon for empty bins (get_binned_data, feel_zeroes): zeros become 1e-4,
    or a millionth of the smallest non-zero share when that is <= 1e-4."""
    p = p.astype(np.float64, copy=True)
    zero = p == 0
    if zero.any():
        m = float(p[~zero].min())
        p[zero] = m / 10**6 if m <= 0.0001 else 0.0001
    return p


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    p, q = _fill_zeros(p), _fill_zeros(q)
    return float(np.sum((p - q) * np.log(p / q)))


def _psi_numeric(sa: np.ndarray, sb: np.ndarray) -> float:
    """PSI over 10 bins cut at the reference deciles (duplicates merged): bins are
    (-inf, q1], (q1, q2], ..., (q9, inf); empty bins get Evidently's epsilon (_fill_zeros)."""
    cuts = np.unique(_quantiles_sorted(sa, np.arange(1, PSI_BINS) / PSI_BINS))
    ca = np.diff(np.concatenate(([0], np.searchsorted(sa, cuts, "right"), [sa.size])))
    cb = np.diff(np.concatenate(([0], np.searchsorted(sb, cuts, "right"), [sb.size])))
    return _psi(ca / sa.size, cb / sb.size)


def _hist_counts(s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """np.histogram(s, edges)[0] for sorted s: [e_i, e_i+1) with the last bin closed."""
    cum = np.searchsorted(s, edges[:-1], "left")
    last = np.searchsorted(s, edges[-1:], "right")
    return np.diff(np.concatenate((cum, last)))


def _sturges_edges(sa: np.ndarray, sb: np.ndarray, integer: bool) -> np.ndarray:
    """np.histogram_bin_edges(concat(ref, cur), bins='sturges') without the concatenation
    (numpy's _get_outer_edges, _hist_bin_sturges and _get_bin_edges; integer data gets
    bins at least 1 wide, as numpy does for integer arrays)."""
    lo, hi = float(min(sa[0], sb[0])), float(max(sa[-1], sb[-1]))
    size = sa.size + sb.size
    width = (hi - lo) / (np.log2(size) + 1.0)
    first, last = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    if width:
        if integer and width < 1:
            width = 1
        bins = int(np.ceil((last - first) / width))
    else:
        bins = 1
    return np.linspace(first, last, bins + 1, endpoint=True)


def _jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """scipy.spatial.distance.jensenshannon(p, q) (natural log), as Evidently calls it."""
    require("scipy", "quality")
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(p, q))


# ----------------------------------------------------------------------------------------
# categorical


def _sorted_counts(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts of a sorted non-empty array."""
    last = np.flatnonzero(s[1:] != s[:-1])
    last = np.append(last, s.size - 1)
    return s[last], np.diff(np.concatenate(([-1], last)))


def _align_sorted(va: np.ndarray, ca: np.ndarray, vb: np.ndarray,
                  cb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = np.union1d(va, vb)
    ref_c = np.zeros(u.size, np.int64)
    cur_c = np.zeros(u.size, np.int64)
    ref_c[np.searchsorted(u, va)] = ca
    cur_c[np.searchsorted(u, vb)] = cb
    return u, ref_c, cur_c


def _number_labels(u: np.ndarray, integer: bool) -> Any:
    def labeler(idx: np.ndarray) -> list[str]:
        vals = u[idx]
        return [str(int(v)) for v in vals] if integer else [str(float(v)) for v in vals]

    return labeler


def _arrow_counts(x: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray, int]:
    """Distinct non-null values (decoded from dictionaries) and counts (pc.value_counts)."""
    nulls = x.null_count
    vc = pc.value_counts(x)
    values = vc.field("values")
    counts = vc.field("counts")
    if nulls:
        valid = values.is_valid()
        values, counts = values.filter(valid), counts.filter(valid)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_string(values.type) or pa.types.is_string_view(values.type):
        values = values.cast(pa.large_string())
    return values, np.asarray(counts.to_numpy(zero_copy_only=False), dtype=np.int64), nulls


def _align_arrow(ua: pa.Array, na: np.ndarray, ub: pa.Array,
                 nb: np.ndarray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    if ua.type != ub.type:
        raise InvalidArgument(f"the reference holds {ua.type} values but the current holds {ub.type}; "
                              f"cast both sides to one type")
    pos = np.asarray(pc.fill_null(pc.index_in(ub, value_set=ua), -1).to_numpy(zero_copy_only=False))
    new = pos < 0
    k_new = int(np.count_nonzero(new))
    union = pa.concat_arrays([ua, ub.filter(pa.array(new))]) if k_new else ua
    k = len(ua) + k_new
    ref_c = np.zeros(k, np.int64)
    ref_c[: len(ua)] = na
    cur_c = np.zeros(k, np.int64)
    cur_c[pos[~new]] = nb[~new]
    cur_c[len(ua):] = nb[new]
    return union, ref_c, cur_c


def _arrow_first(union: pa.Array) -> int:
    """Index of the smallest key (Evidently's z-test sorts the keys); only used for <= 2 keys."""
    if len(union) > 2:
        return 0
    vals = union.to_pylist()
    return min(range(len(vals)), key=lambda i: vals[i])


def _categorical_tests(ref_c: np.ndarray, cur_c: np.ndarray, first: int) -> dict[str, Any]:
    """chisquare (+ z for <= 2 categories) as Evidently's chisquare and z stattests do."""
    special = _scipy_special()
    n1, n2 = int(ref_c.sum()), int(cur_c.sum())
    k = ref_c.size
    out: dict[str, Any] = {}
    if k == 1:
        # One category on both sides: nothing can differ (scipy answers p = nan for 0 dof).
        out["chisquare"], out["chisquare_pvalue"] = 0.0, 1.0
    else:
        # Evidently: chisquare(f_obs=current counts, f_exp=reference counts * n_cur / n_ref)
        f_exp = ref_c * (n2 / n1)
        f_obs = cur_c.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = float(np.sum((f_obs - f_exp) ** 2 / f_exp))
        out["chisquare"] = _json(stat)
        out["chisquare_pvalue"] = _json(special.chdtrc(k - 1, stat))
    if k <= 2:
        if k == 1:
            out["z"], out["z_pvalue"] = 0.0, 1.0  # Evidently: one shared value -> p = 1
        else:
            # Evidently's proportions_diff_z_stat_ind: share of rows not equal to the smallest key
            other = 1 - first
            p1, p2 = float(ref_c[other]) / n1, float(cur_c[other]) / n2
            pp = (p1 * n1 + p2 * n2) / (n1 + n2)
            z = (p1 - p2) / math.sqrt(pp * (1 - pp) * (1.0 / n1 + 1.0 / n2))
            out["z"] = _json(z)
            out["z_pvalue"] = _json(2 * (1 - special.ndtr(abs(z))))
    return out


def _categorical_drift(ref_c: np.ndarray, cur_c: np.ndarray, labeler: Any, first: int, nulls_a: int,
                       nulls_b: int, method: str | None, threshold: float | None) -> dict[str, Any]:
    n1, n2 = int(ref_c.sum()), int(cur_c.sum())
    k = ref_c.size
    if method is None:
        method = default_method("categorical", n1, k)
    if method == "z" and k > 2:
        raise InvalidArgument(f"the z-test compares two categories, but the column has {k}; use method='chisquare'")
    p, q = ref_c / n1, cur_c / n2
    stats: dict[str, Any] = {}
    stats.update(_categorical_tests(ref_c, cur_c, first))
    stats["jensenshannon"] = _json(_jensenshannon(p, q))
    stats["psi"] = _json(_psi(p, q))
    total = ref_c + cur_c
    order = np.argsort(-total, kind="stable")
    top = order[:TOP_CATEGORIES]
    labels = labeler(top)
    ref_top, cur_top = ref_c[top].tolist(), cur_c[top].tolist()
    if k > TOP_CATEGORIES:
        rest = order[TOP_CATEGORIES:]
        labels.append(OTHER_LABEL)
        ref_top.append(int(ref_c[rest].sum()))
        cur_top.append(int(cur_c[rest].sum()))
    categories = {"labels": labels, "reference": ref_top, "current": cur_top}
    return _result(_verdict("categorical", method, stats, threshold), n1, n2, nulls_a, nulls_b, stats,
                   {"categories": categories})


# ----------------------------------------------------------------------------------------
# embeddings


def _to_matrix(x: pa.ChunkedArray, side: str) -> tuple[np.ndarray, int]:
    """Rows of a list column as a 2-D float32 array; null rows and rows with a null, NaN
    or inf element are dropped and counted."""
    nulls = x.null_count
    if nulls:
        x = pc.drop_null(x)
    arr = x.combine_chunks() if x.num_chunks != 1 else x.chunk(0)
    rows = len(arr)
    if pa.types.is_fixed_size_list(arr.type):
        dim = arr.type.list_size
    else:
        if pa.types.is_list_view(arr.type) or pa.types.is_large_list_view(arr.type):
            arr = arr.cast(pa.large_list(arr.type.value_type))
        lengths = np.asarray(pc.list_value_length(arr).to_numpy(zero_copy_only=False))
        if rows and lengths.min() != lengths.max():
            raise InvalidArgument(f"the {side}'s embeddings have different lengths ({int(lengths.min())} to "
                                  f"{int(lengths.max())}); every row must have the same dimension")
        dim = int(lengths[0]) if rows else 0
    if rows and dim == 0:
        raise InvalidArgument(f"the {side}'s embeddings are empty lists; embeddings need at least one dimension")
    values = np.asarray(arr.flatten().to_numpy(zero_copy_only=False))
    m = values.astype(np.float32, copy=False).reshape(rows, dim)
    ok = np.isfinite(m).all(axis=1)
    bad = rows - int(np.count_nonzero(ok))
    if bad:
        m = m[ok]
    return m, nulls + bad


def _embedding_drift(a: pa.ChunkedArray, b: pa.ChunkedArray, method: str | None,
                     threshold: float | None) -> dict[str, Any]:
    xa, nulls_a = _to_matrix(a, "reference")
    xb, nulls_b = _to_matrix(b, "current")
    _require_rows(xa.shape[0], xb.shape[0])
    if xa.shape[1] != xb.shape[1]:
        raise InvalidArgument(f"the reference's embeddings have {xa.shape[1]} dimensions but the current's have "
                              f"{xb.shape[1]}; compare embeddings of one model")
    method = method or "mmd"
    ma = xa.mean(axis=0, dtype=np.float64)
    mb = xb.mean(axis=0, dtype=np.float64)
    na_, nb_ = float(np.linalg.norm(ma)), float(np.linalg.norm(mb))
    cosine = None if na_ == 0 or nb_ == 0 else float(np.clip(1.0 - float(ma @ mb) / (na_ * nb_), 0.0, 2.0))
    stats: dict[str, Any] = {"centroid_distance": _json(np.linalg.norm(ma - mb)), "centroid_cosine": cosine}
    if xa.shape[0] >= 2 and xb.shape[0] >= 2:
        mmd2, pvalue, bandwidth = _mmd_test(xa, xb)
        stats.update({"mmd2": _json(mmd2), "mmd_pvalue": _json(pvalue), "mmd_bandwidth": _json(bandwidth)})
    elif method == "mmd":
        raise InvalidArgument("the MMD test needs at least 2 non-null embeddings on each side; "
                              "use method='centroid' for a single row")
    else:
        stats.update({"mmd2": None, "mmd_pvalue": None, "mmd_bandwidth": None})
    return _result(_verdict("embedding", method, stats, threshold), xa.shape[0], xb.shape[0], nulls_a, nulls_b,
                   stats, {})


def _mmd_test(xa: np.ndarray, xb: np.ndarray, *, max_rows: int = MMD_MAX_ROWS,
              permutations: int = MMD_PERMUTATIONS, seed: int = MMD_SEED) -> tuple[float, float, float]:
    """Unbiased MMD² with an RBF kernel exp(-|x-y|² / (2 s²)), s = the median pairwise
    distance of the pooled (sub)sample, and its permutation p-value
    (1 + #{permuted >= observed}) / (1 + permutations)."""
    rng = np.random.default_rng(seed)
    if xa.shape[0] > max_rows:
        xa = xa[np.sort(rng.choice(xa.shape[0], max_rows, replace=False))]
    if xb.shape[0] > max_rows:
        xb = xb[np.sort(rng.choice(xb.shape[0], max_rows, replace=False))]
    n, m = xa.shape[0], xb.shape[0]
    z = np.vstack((xa, xb)).astype(np.float64)
    z -= z.mean(axis=0)
    sq = np.einsum("ij,ij->i", z, z)
    d2 = z @ z.T
    d2 *= -2
    d2 += sq[:, None]
    d2 += sq[None, :]
    np.maximum(d2, 0, out=d2)
    np.fill_diagonal(d2, 0)
    big_n = n + m
    pairs = big_n * (big_n - 1) // 2
    # Median over the pairs i < j: the matrix holds each pair twice plus n+m diagonal zeros,
    # so the pair median is the mean of the ranks (n+m+pairs-1) and (n+m+pairs) of its entries.
    part = np.partition(d2.ravel(), (big_n + pairs - 1, big_n + pairs))
    bandwidth = 0.5 * (math.sqrt(part[big_n + pairs - 1]) + math.sqrt(part[big_n + pairs]))
    del part
    if bandwidth == 0:
        bandwidth = 1.0
    kmat = np.exp(d2 * (-0.5 / bandwidth**2), out=d2)
    np.fill_diagonal(kmat, 0)
    row = kmat.sum(axis=1)
    total = float(row.sum())
    labels = np.zeros((permutations + 1, big_n))
    labels[0, :n] = 1.0
    for i in range(1, permutations + 1):
        labels[i, rng.permutation(big_n)[:n]] = 1.0
    s_xx = np.einsum("ij,ij->i", labels @ kmat, labels)
    s_x = labels @ row
    s_xy = s_x - s_xx
    s_yy = total - 2 * s_x + s_xx
    mmd2 = s_xx / (n * (n - 1)) + s_yy / (m * (m - 1)) - 2 * s_xy / (n * m)
    observed = float(mmd2[0])
    pvalue = (1 + int(np.count_nonzero(mmd2[1:] >= observed))) / (permutations + 1)
    return observed, pvalue, bandwidth
