"""Fusion math: reciprocal rank fusion and weighted normalized scores."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakebed.errors import InvalidArgument
from lakebed.vectors.fusion import fuse, minmax, rrf, weighted


def test_rrf_by_hand() -> None:
    scores = rrf([["a", "b", "c"], ["c", "a"]], rrf_k=60)
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)


def test_minmax_edges() -> None:
    assert minmax([]) == []
    assert minmax([2.0, 2.0]) == [1.0, 1.0]
    assert minmax([5.0, 0.0, 2.5]) == [1.0, 0.0, 0.5]
    assert minmax([-1.0, -3.0], higher_is_better=False) == [0.0, 1.0]


def test_weighted_by_hand() -> None:
    vec = [("a", 0.9), ("b", 0.7), ("c", 0.5)]
    txt = [("c", 12.0), ("d", 4.0)]
    s = weighted(vec, txt, alpha=0.25)
    assert s["a"] == pytest.approx(0.25 * 1.0)
    assert s["b"] == pytest.approx(0.25 * 0.5)
    assert s["c"] == pytest.approx(0.25 * 0.0 + 0.75 * 1.0)
    assert s["d"] == pytest.approx(0.0)
    assert weighted(vec, txt, alpha=1.0)["c"] == pytest.approx(0.0)


def test_fuse_reports_sides_and_ranks() -> None:
    out = fuse([(1, 0.9), (2, 0.8)], [(3, 5.0), (2, 4.0)], method="rrf", rrf_k=10)
    assert [f.key for f in out] == [2, 1, 3]
    top = out[0]
    assert (top.found_by, top.vector_rank, top.text_rank) == ("both", 2, 2)
    assert (top.vector_score, top.text_score) == (0.8, 4.0)
    assert top.score == pytest.approx(2 / 12)
    assert (out[1].found_by, out[1].text_rank) == ("vector", None)
    assert (out[2].found_by, out[2].vector_rank) == ("text", None)
    # A tie (1 and 3 both 1/11) goes to the vector side's order: 1 has a vector rank.
    assert out[1].score == out[2].score


def test_rrf_ties_follow_the_vector_ranking() -> None:
    # ranks (vector, text): "parent" (2, 1) and "child" (1, 2) tie exactly under RRF;
    # the tie goes to the better vector rank whatever the keys are
    for parent, child in (("a", "b"), ("b", "a"), (1, 2), (2, 1)):
        out = fuse([(child, 0.9), (parent, 0.8)], [(parent, 9.0), (child, 8.0)], method="rrf")
        assert out[0].score == out[1].score
        assert [f.key for f in out] == [child, parent]
    # text-only ties (no vector rank) go to the better text rank, then the key
    out = fuse([], [("z", 2.0), ("y", 1.0)], method="rrf")
    assert [f.key for f in out] == ["z", "y"]
    out = fuse([("v", 1.0)], [("q", 3.0), ("p", 3.0)], method="rrf", rrf_k=0)
    assert [f.key for f in out] == ["v", "q", "p"]


def test_fuse_weighted_and_k() -> None:
    out = fuse([(1, 1.0), (2, 0.0)], [(2, 3.0), (3, 1.0)], method="weighted", alpha=0.5, k=2)
    assert [(f.key, f.score) for f in out] == [(1, 0.5), (2, 0.5)]


def test_bad_fusion_arguments() -> None:
    with pytest.raises(InvalidArgument):
        fuse([], [], method="max")
    with pytest.raises(InvalidArgument):
        weighted([], [], alpha=1.5)
    with pytest.raises(InvalidArgument):
        rrf([], rrf_k=-1)


rankings = st.lists(st.integers(0, 20), unique=True, max_size=12)


@given(v=rankings, t=rankings, rrf_k=st.integers(0, 100))
def test_rrf_fusion_matches_brute_force(v: list[int], t: list[int], rrf_k: int) -> None:
    out = fuse([(x, 0.0) for x in v], [(x, 0.0) for x in t], method="rrf", rrf_k=rrf_k)
    assert {f.key for f in out} == set(v) | set(t)
    for f in out:
        want = sum(1 / (rrf_k + lst.index(f.key) + 1) for lst in (v, t) if f.key in lst)
        assert f.score == pytest.approx(want)
    assert all(a.score >= b.score for a, b in itertools.pairwise(out))


@given(
    v=st.dictionaries(st.integers(0, 20), st.floats(-1, 1), max_size=10),
    t=st.dictionaries(st.integers(0, 20), st.floats(0, 50), max_size=10),
    alpha=st.floats(0, 1),
)
def test_weighted_fusion_is_bounded_and_monotone(v, t, alpha) -> None:
    vr = sorted(v.items(), key=lambda p: -p[1])
    tr = sorted(t.items(), key=lambda p: -p[1])
    out = fuse(vr, tr, method="weighted", alpha=alpha)
    for f in out:
        assert -1e-9 <= f.score <= 1 + 1e-9
    if vr and not tr and len({s for _, s in vr}) > 1:
        assert out[0].key == vr[0][0]
