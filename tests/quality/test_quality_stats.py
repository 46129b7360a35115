"""Drift statistics (lakebed.quality._stats) against scipy and against Evidently's rules."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import math
import warnings
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from lakebed.errors import InvalidArgument
from lakebed.quality import _stats
from lakebed.quality._stats import METHODS, column_drift, dataset_verdict, default_method

# scipy's own ks_2samp (the reference here) warns when its exact method falls back to asymp
pytestmark = pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful:RuntimeWarning")

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# values with many ties (small integers as floats) mixed with continuous ones
values = st.one_of(st.integers(-3, 3).map(float), st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))
samples = st.lists(values, min_size=1, max_size=80)
letters = st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=60)


def numeric_stats(a: list[float] | np.ndarray, b: list[float] | np.ndarray, **kw: object) -> dict:
    return column_drift(pa.array(np.asarray(a, dtype=float)), pa.array(np.asarray(b, dtype=float)),
                        kind="numeric", **kw)  # type: ignore[arg-type]


def evidently_binned(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's get_binned_data (numerical, feel_zeroes=False), written plainly."""
    if np.unique(a).size > 20:
        bins = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
        return np.histogram(a, bins)[0] / a.size, np.histogram(b, bins)[0] / b.size
    keys = sorted(set(a.tolist()) | set(b.tolist()))
    ca, cb = Counter(a.tolist()), Counter(b.tolist())
    return np.array([ca[k] / a.size for k in keys]), np.array([cb[k] / b.size for k in keys])


def plain_json(x: object) -> None:
    """Only plain Python scalars, lists and dicts; no NaN."""
    if isinstance(x, dict):
        for k, v in x.items():
            assert type(k) is str
            plain_json(v)
    elif isinstance(x, list):
        for v in x:
            plain_json(v)
    else:
        assert x is None or type(x) in (bool, int, float, str), (x, type(x))
        if type(x) is float:
            assert math.isfinite(x)


# ---------------------------------------------------------------------------------------
# numeric statistics against scipy


@SETTINGS
@given(samples, samples)
def test_ks_matches_scipy(a: list[float], b: list[float]) -> None:
    s = numeric_stats(a, b)["stats"]
    ref = stats.ks_2samp(a, b)
    assert s["ks"] == pytest.approx(float(ref.statistic), abs=1e-9)
    assert s["ks_pvalue"] == pytest.approx(float(ref.pvalue), abs=1e-9)


@SETTINGS
@given(samples, samples)
def test_wasserstein_matches_scipy(a: list[float], b: list[float]) -> None:
    s = numeric_stats(a, b)["stats"]
    w = stats.wasserstein_distance(a, b)
    assert s["wasserstein"] == pytest.approx(w, rel=1e-9, abs=1e-12)
    assert s["wasserstein_norm"] == pytest.approx(w / max(float(np.std(a)), 0.001), rel=1e-9, abs=1e-12)


@SETTINGS
@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=120), samples)
def test_jensenshannon_matches_scipy_on_evidently_bins(a: list[float], b: list[float]) -> None:
    p, q = evidently_binned(np.array(a), np.array(b))
    assert numeric_stats(a, b)["stats"]["jensenshannon"] == pytest.approx(
        float(distance.jensenshannon(p, q)), abs=1e-9)


@SETTINGS
@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=200), samples)
def test_psi_on_reference_deciles(a: list[float], b: list[float]) -> None:
    ra, rb = np.array(a), np.array(b)
    cuts = np.unique(np.quantile(ra, np.arange(1, 10) / 10))
    edges = np.concatenate(([-np.inf], cuts, [np.inf]))
    # right-closed bins (c_i, c_i+1]
    p = np.array([np.count_nonzero((ra > lo) & (ra <= hi)) for lo, hi in itertools.pairwise(edges)])
    q = np.array([np.count_nonzero((rb > lo) & (rb <= hi)) for lo, hi in itertools.pairwise(edges)])
    p, q = _stats._fill_zeros(p / ra.size), _stats._fill_zeros(q / rb.size)
    want = float(np.sum((p - q) * np.log(p / q)))
    assert numeric_stats(a, b)["stats"]["psi"] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_fill_zeros_is_evidentlys_epsilon() -> None:
    assert _stats._fill_zeros(np.array([0.0, 0.5, 0.5])).tolist() == [0.0001, 0.5, 0.5]
    assert _stats._fill_zeros(np.array([0.0, 0.00005, 0.99995]))[0] == pytest.approx(0.00005 / 10**6)


@pytest.mark.parametrize(("n1", "n2", "shift", "levels"), [
    (1, 1, 0.0, 0), (7, 3, 0.5, 4), (999, 1000, 0.1, 0), (10000, 10000, 0.05, 50),  # scipy's exact branch
    (10001, 10001, 0.0, 0), (12000, 15000, 0.04, 200), (30000, 11000, 0.1, 0),  # asymptotic, with ties
    (60000, 60000, 0.03, 0), (40000, 90000, 0.02, 1000),  # asymptotic, scipy's Smirnov sum
    (250000, 200000, 0.02, 3000),  # merged in two halves on two threads
    (50000, 50000, 0.01, 0), (50000, 50000, 0.05, 30),  # equal sizes: refined KS, W1 = mean |sa - sb|
])
def test_ks_matches_scipy_sizes(n1: int, n2: int, shift: float, levels: int) -> None:
    rng = np.random.default_rng(n1 + n2)
    a, b = rng.normal(size=n1), rng.normal(shift, 1, size=n2)
    if levels:
        a, b = np.round(a * levels / 8), np.round(b * levels / 8)
    s = numeric_stats(a, b)["stats"]
    ref = stats.ks_2samp(a, b)
    assert s["ks"] == pytest.approx(float(ref.statistic), abs=1e-9)
    assert s["ks_pvalue"] == pytest.approx(float(ref.pvalue), abs=1e-9, rel=1e-9)
    assert s["wasserstein"] == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_identical_values_in_another_order() -> None:
    a = np.random.default_rng(9).normal(size=30000)
    b = np.random.default_rng(10).permutation(a)
    s = numeric_stats(a, b)["stats"]
    assert (s["ks"], s["ks_pvalue"], s["wasserstein"]) == (0.0, 1.0, 0.0)


@pytest.mark.parametrize(("n", "x"), [(5001, 0.03), (20000, 0.0123), (50000, 0.01), (100000, 0.0048),
                                      (90000, 0.02), (80000, 0.066)])
def test_smirnov_branch_matches_kstwo(n: int, x: float) -> None:
    ours = _stats._kstwo_sf(x, float(n))
    assert ours == pytest.approx(float(stats.kstwo.sf(x, n)), rel=1e-10, abs=1e-300)


def test_histogram_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=500), rng.normal(1, 2, size=700)
    h = numeric_stats(a, b)["histogram"]
    edges = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 21)
    assert h["edges"] == pytest.approx(edges.tolist())
    assert h["reference"] == np.histogram(a, edges)[0].tolist()
    assert h["current"] == np.histogram(b, edges)[0].tolist()


def test_sturges_edges_match_numpy_for_integers() -> None:
    rng = np.random.default_rng(4)
    for lo, hi, n in [(0, 21, 3000), (0, 1000, 5000), (5, 5, 10), (-3, 40, 200000)]:
        a, b = rng.integers(lo, hi + 1, n), rng.integers(lo, hi + 1, n // 2)
        want = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
        got = _stats._sturges_edges(np.sort(a).astype(float), np.sort(b).astype(float), True)
        np.testing.assert_allclose(got, want, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------
# categorical statistics


@SETTINGS
@given(letters, letters)
def test_categorical_stats_match_scipy(a: list[str], b: list[str]) -> None:
    r = column_drift(pa.array(a), pa.array(b))
    s = r["stats"]
    keys = sorted(set(a) | set(b))
    ca, cb = Counter(a), Counter(b)
    ref_counts = np.array([ca[k] for k in keys], float)
    cur_counts = np.array([cb[k] for k in keys], float)
    # Evidently's chisquare stattest: current counts vs reference counts scaled to the current size
    f_exp = ref_counts * (len(b) / len(a))
    if len(keys) == 1:
        assert (s["chisquare"], s["chisquare_pvalue"]) == (0.0, 1.0)  # scipy: p = nan for 0 dof
    elif (f_exp == 0).any():
        assert s["chisquare"] is None and s["chisquare_pvalue"] == 0.0  # inf statistic
    else:
        want = stats.chisquare(cur_counts, f_exp)
        assert s["chisquare"] == pytest.approx(float(want.statistic), rel=1e-9, abs=1e-9)
        assert s["chisquare_pvalue"] == pytest.approx(float(want.pvalue), abs=1e-9)
    p, q = ref_counts / len(a), cur_counts / len(b)
    assert s["jensenshannon"] == pytest.approx(float(distance.jensenshannon(p, q)), abs=1e-9)
    pp, qq = _stats._fill_zeros(p), _stats._fill_zeros(q)
    assert s["psi"] == pytest.approx(float(np.sum((pp - qq) * np.log(pp / qq))), rel=1e-9, abs=1e-12)
    assert ("z" in s) == (len(keys) <= 2)
    cats = r["categories"]
    assert dict(zip(cats["labels"], cats["reference"], strict=True)) == {k: ca[k] for k in keys}
    assert dict(zip(cats["labels"], cats["current"], strict=True)) == {k: cb[k] for k in keys}
    totals = [x + y for x, y in zip(cats["reference"], cats["current"], strict=True)]
    assert totals == sorted(totals, reverse=True)


@SETTINGS
@given(st.lists(st.booleans(), min_size=1, max_size=80), st.lists(st.booleans(), min_size=1, max_size=80))
def test_z_test_mirrors_evidently(a: list[bool], b: list[bool]) -> None:
    s = column_drift(pa.array(a), pa.array(b))["stats"]
    if len(set(a)) == 1 and len(set(b)) == 1 and a[0] == b[0]:
        assert s["z_pvalue"] == 1.0
        return
    first = sorted(set(a) | set(b))[0]  # Evidently: rows equal to the smallest key are 0, others 1
    x = np.array([0 if v == first else 1 for v in a])
    y = np.array([0 if v == first else 1 for v in b])
    p1, p2 = x.mean(), y.mean()
    pp = (p1 * len(x) + p2 * len(y)) / (len(x) + len(y))
    z = (p1 - p2) / np.sqrt(pp * (1 - pp) * (1 / len(x) + 1 / len(y)))
    assert s["z"] == pytest.approx(float(z), abs=1e-9)
    assert s["z_pvalue"] == pytest.approx(float(2 * (1 - stats.norm.cdf(abs(z)))), abs=1e-9)


def test_categories_top_20_and_other() -> None:
    ref = [f"c{i:02d}" for i in range(30) for _ in range(30 - i)]
    cur = [f"c{i:02d}" for i in range(25)] + ["new"] * 40
    r = column_drift(pa.array(ref), pa.array(cur))
    cats = r["categories"]
    assert len(cats["labels"]) == 21 and cats["labels"][-1] == "(other)"
    assert cats["labels"][0] == "new" or cats["labels"][0] == "c00"
    assert sum(cats["reference"]) == len(ref) and sum(cats["current"]) == len(cur)
    assert r["stats"]["chisquare"] is None and r["stats"]["chisquare_pvalue"] == 0.0  # "new" is unseen


def test_dictionary_and_string_types_compare() -> None:
    ref = pa.chunked_array([pa.array(["x", "y", "x"]).dictionary_encode(), pa.array(["z", "x"]).dictionary_encode()])
    cur = pa.array(["x", "y", "y", "z"], pa.large_string())
    r = column_drift(ref, cur)
    assert r["kind"] == "categorical" and r["reference_rows"] == 5
    assert dict(zip(r["categories"]["labels"], r["categories"]["current"], strict=True)) == {"x": 1, "y": 2, "z": 1}


# ---------------------------------------------------------------------------------------
# kinds, defaults and verdicts


@pytest.mark.parametrize(("arr", "kind"), [
    (pa.array([1.5, 2.5, 1.5]), "numeric"),
    (pa.array([1.0, 2.0, 1.0]), "numeric"),  # floats stay numeric (Evidently)
    (pa.array([1, 2, 3, 4, 5] * 3), "categorical"),  # <= 5 distinct integers
    (pa.array([1, 2, 3, 4, 5, 6] * 3), "numeric"),
    (pa.array(["a", "b"]), "categorical"),
    (pa.array(["a", "b"], pa.large_string()), "categorical"),
    (pa.array(["a", "b"], pa.string_view()), "categorical"),
    (pa.array([True, False]), "categorical"),
    (pa.array(["a", "b"]).dictionary_encode(), "categorical"),
    (pa.array([dt.datetime(2024, 1, d) for d in range(1, 10)]), "numeric"),
    (pa.array([dt.date(2024, 1, d) for d in range(1, 10)]), "numeric"),
    (pa.array([dt.timedelta(seconds=s) for s in range(9)]), "numeric"),
    (pa.array([decimal.Decimal("1.25"), decimal.Decimal("2.5")]), "numeric"),
    (pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float32(), 2)), "embedding"),
    (pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float64())), "embedding"),
])
def test_kind_inference(arr: pa.Array, kind: str) -> None:
    assert column_drift(arr, arr)["kind"] == kind


def test_timestamps_are_epoch_numbers() -> None:
    ref = pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(hours=h) for h in range(50)], pa.timestamp("s"))
    cur = pa.array([dt.datetime(2024, 1, 2) + dt.timedelta(hours=h) for h in range(50)], pa.timestamp("ms"))
    s = column_drift(ref, cur)["stats"]
    a = ref.cast(pa.int64()).to_numpy()
    b = cur.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy()
    assert s["wasserstein"] == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_nulls_nan_and_inf_are_removed_and_counted() -> None:
    ref = pa.array([1.0, None, float("nan"), 2.0, float("inf"), 3.0] * 3)
    cur = pa.chunked_array([pa.array([1.0, 2.0, None]), pa.array([4.0, float("-inf")])])
    r = column_drift(ref, cur)
    assert (r["reference_rows"], r["reference_nulls"], r["current_rows"], r["current_nulls"]) == (9, 9, 3, 2)
    assert r["stats"]["wasserstein"] == pytest.approx(stats.wasserstein_distance([1, 2, 3] * 3, [1, 2, 4]))
    c = column_drift(pa.array(["a", None, "b"]), pa.array([None, "a"]))
    assert (c["reference_rows"], c["reference_nulls"], c["current_rows"], c["current_nulls"]) == (2, 1, 1, 1)


def test_default_method_follows_evidently() -> None:
    rng = np.random.default_rng(7)
    assert numeric_stats(rng.normal(size=1000), rng.normal(size=50))["method"] == "ks"
    assert numeric_stats(rng.normal(size=1001), rng.normal(size=50))["method"] == "wasserstein"
    # "n" is the reference's non-null count: 1001 rows with one null are small data
    with_null = pa.array([*rng.normal(size=1001).tolist(), None])
    assert column_drift(with_null, pa.array(rng.normal(size=10)))["method"] == "wasserstein"
    with_null = pa.array([*rng.normal(size=1000).tolist(), None])
    assert column_drift(with_null, pa.array(rng.normal(size=10)))["method"] == "ks"
    # few distinct numbers (both sides together): chi-square / z / Jensen-Shannon
    assert numeric_stats([1.0, 2, 3] * 300, [1.0, 2, 4] * 10)["method"] == "chisquare"
    assert numeric_stats([1.0, 2] * 500, [1.0, 2] * 10)["method"] == "z"
    assert numeric_stats([1.0, 2, 3] * 400, [1.0, 2] * 10)["method"] == "jensenshannon"
    assert numeric_stats([1.0, 2, 3, 4, 5] * 100, [6.0] * 10)["method"] == "ks"  # 6 distinct
    # categories
    assert column_drift(pa.array(["a", "b", "c"] * 333), pa.array(["a"]))["method"] == "chisquare"
    assert column_drift(pa.array(["a", "b"] * 500), pa.array(["a"]))["method"] == "z"
    assert column_drift(pa.array(["a", "b"] * 501), pa.array(["a"]))["method"] == "jensenshannon"
    assert column_drift(pa.array([1, 2, 3] * 100), pa.array([1, 2, 3]))["method"] == "chisquare"
    assert default_method("embedding", 10, 10) == "mmd"


def test_thresholds_and_comparisons() -> None:
    assert {m: (s.threshold, s.drift_when) for m, s in METHODS.items()} == {
        "psi": (0.1, ">="), "ks": (0.05, "<="), "wasserstein": (0.1, ">="), "jensenshannon": (0.1, ">="),
        "chisquare": (0.05, "<"), "z": (0.05, "<"), "mmd": (0.05, "<"), "centroid": (0.1, ">"),
    }
    r = numeric_stats([0.0, 1.0] * 600, [0.0, 1.0] * 600, method="wasserstein", threshold=0.0)
    assert r["score"] == 0.0 and r["drifted"]  # >= : a zero distance meets a zero threshold
    r = numeric_stats(np.arange(50.0), np.arange(50.0) + 20, method="ks")
    assert r["score"] == r["stats"]["ks_pvalue"] and r["drifted"] and r["threshold"] == 0.05
    r = numeric_stats(np.arange(50.0), np.arange(50.0) + 20, method="ks", threshold=r["score"])
    assert r["drifted"]  # p <= threshold (Evidently's KS)
    r = column_drift(pa.array(["a", "b", "c"] * 20), pa.array(["c"] * 60), method="psi")
    assert r["method"] == "psi" and r["score"] == r["stats"]["psi"] and r["drifted"]


def test_result_is_json_ready() -> None:
    rng = np.random.default_rng(8)
    results = [
        numeric_stats(rng.normal(size=300), rng.normal(size=200)),
        numeric_stats([1.0, 2, 3] * 10, [1.0, 2, 9] * 10),
        column_drift(pa.array(["a", "b"] * 10), pa.array(["c"] * 5)),
        column_drift(pa.array([1, 2, 3] * 10), pa.array([1, 2, 3] * 10)),
        column_drift(pa.array(rng.normal(size=(30, 4)).tolist()), pa.array(rng.normal(size=(20, 4)).tolist())),
    ]
    for r in results:
        plain_json(r)
        json.dumps(r, allow_nan=False)
        assert set(r) >= {"kind", "method", "score", "threshold", "drifted", "reference_rows", "current_rows",
                          "reference_nulls", "current_nulls", "stats"}
    assert set(results[0]) >= {"histogram"} and set(results[2]) >= {"categories"}
    assert set(results[0]["stats"]) == {"psi", "ks", "ks_pvalue", "wasserstein", "wasserstein_norm", "jensenshannon"}
    assert set(results[1]["stats"]) >= {"chisquare", "chisquare_pvalue"}
    assert set(results[4]["stats"]) >= {"centroid_distance", "centroid_cosine", "mmd2", "mmd_pvalue"}


def test_dataset_verdict() -> None:
    cols = [{"drifted": True}, {"drifted": False}]
    assert dataset_verdict(cols) == {"drifted": True, "drifted_columns": 1, "columns": 2, "share": 0.5,
                                     "threshold": 0.5}
    assert dataset_verdict(cols, share=0.6)["drifted"] is False
    assert dataset_verdict([{"drifted": False}])["drifted"] is False
    for bad in ([], [{"score": 1}], ["x"]):
        with pytest.raises(InvalidArgument):
            dataset_verdict(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="share"):
        dataset_verdict(cols, share=1.5)


# ---------------------------------------------------------------------------------------
# embeddings


def emb(x: np.ndarray, fixed: bool = True) -> pa.Array:
    t = pa.list_(pa.float32(), x.shape[1]) if fixed else pa.list_(pa.float32())
    return pa.array(x.astype(np.float32).tolist(), t)


def test_embedding_same_distribution_not_drifted() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(300, 16))
    same = column_drift(emb(a), emb(a))
    assert same["stats"]["mmd_pvalue"] > 0.5 and not same["drifted"]
    r = column_drift(emb(a), emb(b, fixed=False))
    assert r["kind"] == "embedding" and r["method"] == "mmd" and r["threshold"] == 0.05
    assert r["stats"]["mmd_pvalue"] >= 0.05 and not r["drifted"]
    assert column_drift(emb(a), emb(b, fixed=False)) == r  # fixed seed: reproducible


def test_embedding_shift_drifted() -> None:
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(400, 16)), rng.normal(0.4, 1, size=(300, 16))
    r = column_drift(emb(a), emb(b))
    assert r["drifted"] and r["score"] < 0.01
    c = column_drift(emb(a), emb(b), method="centroid")
    ma, mb = a.astype(np.float32).mean(0, dtype=np.float64), b.astype(np.float32).mean(0, dtype=np.float64)
    assert c["score"] == pytest.approx(distance.cosine(ma, mb), abs=1e-9)
    assert c["stats"]["centroid_distance"] == pytest.approx(float(np.linalg.norm(ma - mb)), rel=1e-9)


def test_mmd_statistic_and_bandwidth() -> None:
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(40, 3)).astype(np.float32), rng.normal(0.3, 1, size=(30, 3)).astype(np.float32)
    mmd2, p, bw = _stats._mmd_test(x, y)
    z = np.vstack([x, y]).astype(np.float64)
    assert bw == pytest.approx(float(np.median(distance.pdist(z))), rel=1e-9)
    k = np.exp(-distance.cdist(z, z, "sqeuclidean") / (2 * bw**2))
    kxx, kyy, kxy = k[:40, :40], k[40:, 40:], k[:40, 40:]
    want = ((kxx.sum() - np.trace(kxx)) / (40 * 39) + (kyy.sum() - np.trace(kyy)) / (30 * 29) - 2 * kxy.mean())
    assert mmd2 == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert 0 < p <= 1


def test_embedding_nulls_and_subsampling() -> None:
    rng = np.random.default_rng(14)
    a = [*rng.normal(size=(1500, 4)).tolist(), None, [float("nan")] * 4]
    r = column_drift(pa.array(a, pa.list_(pa.float64(), 4)), pa.array(rng.normal(size=(20, 4)).tolist()))
    assert (r["reference_rows"], r["reference_nulls"]) == (1500, 2)


# ---------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(("ref", "cur", "kw", "message"), [
    (pa.array([1.0]), pa.array([2.0]), {"method": "nope"}, "unknown drift method"),
    (pa.array(["a"]), pa.array(["b"]), {"method": "ks"}, "does not apply to a categorical"),
    (pa.array(["a"]), pa.array(["b"]), {"method": "wasserstein"}, "does not apply"),
    (pa.array([1.0]), pa.array([2.0]), {"method": "mmd"}, "does not apply to a numeric"),
    (pa.array([[1.0]]), pa.array([[2.0]]), {"method": "ks"}, "does not apply to a embedding"),
    (pa.array([1.0]), pa.array([2.0]), {"kind": "text"}, "unknown column kind"),
    (pa.array(["a"]), pa.array(["b"]), {"kind": "numeric"}, "needs numbers"),
    (pa.array([1.0]), pa.array([2.0]), {"kind": "embedding"}, "lists of floats"),
    (pa.array([1.0]), pa.array([2.0]), {"threshold": -1}, "threshold"),
    (pa.array([1.0]), pa.array([2.0]), {"threshold": float("nan")}, "threshold"),
    (pa.array([None, None], pa.float64()), pa.array([2.0]), {}, "the reference has no non-null values"),
    (pa.array([float("nan")]), pa.array([2.0]), {}, "the reference has no non-null values"),
    (pa.array([1.0]), pa.array([None], pa.float64()), {}, "the current data has no non-null values"),
    (pa.array(["a"]), pa.array([None], pa.string()), {}, "the current data has no non-null values"),
    (pa.array(["a"]), pa.array([1.5]), {}, "cast both sides"),
    (pa.array(["a"]), pa.array([True]), {}, "cast both sides"),
    (pa.array([dt.date(2024, 1, 1)]), pa.array([1.5]), {}, "temporal"),
    (pa.array([[1.0, 2.0]]), pa.array([[1.0, 2.0, 3.0]]), {}, "2 dimensions but the current's have 3"),
    (pa.array([[1.0, 2.0], [1.0]]), pa.array([[1.0]]), {}, "different lengths"),
    (pa.array([[1.0, 2.0]]), pa.array([[1.0, 2.0]]), {}, "at least 2 non-null embeddings"),
    (pa.array([{"a": 1}]), pa.array([{"a": 1}]), {}, "drift does not handle"),
    (pa.array(["a", "b", "c"]), pa.array(["a"]), {"method": "z"}, "two categories"),
    (pa.array([1.0, 2.0, 3.0]), pa.array([1.0]), {"method": "z"}, "two categories"),
    (np.array([1.0]), pa.array([1.0]), {}, "pyarrow Array"),
])
def test_bad_input_raises(ref: object, cur: object, kw: dict, message: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidArgument, match=message):
            column_drift(ref, cur, **kw)  # type: ignore[arg-type]
