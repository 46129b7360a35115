"""The run search language: parse errors, ordering, and a Hypothesis property test of
random filters against a plain-Python evaluation over random runs."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakebed
from lakebed.errors import InvalidArgument
from lakebed.tracking import SearchSyntaxError

NUMS = [-1.5, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 1e-5]
STRS = ["a", "A", "ab", "Ab", "abc", "b_c", "b%c", "it's", "x\\y", "", "0.1", "10", "9"]
M_KEYS = ["auc", "loss", "val.f1"]
P_KEYS = ["lr", "opt"]
T_KEYS = ["team", "stage"]


def _make_runs(lake: lakebed.Lake, seed: int, n: int = 40) -> dict[str, dict[str, Any]]:
    """Random runs; returns the reference view of each run by id."""
    rnd = random.Random(seed)
    ref: dict[str, dict[str, Any]] = {}
    for i in range(n):
        exp = rnd.choice(["fraud", "churn"])
        name = rnd.choice([None, *STRS[:6]])
        run = lake.runs.start(experiment=exp, name=name)
        metrics: dict[str, float] = {}
        for key in M_KEYS:
            if rnd.random() < 0.7:
                best: tuple[int, int, float] | None = None
                for j in range(rnd.randint(1, 3)):
                    v, step = rnd.choice(NUMS), rnd.randint(0, 2)
                    run.log_metric(key, v, step=step)
                    if best is None or (step, j) >= best[:2]:
                        best = (step, j, v)
                assert best is not None
                metrics[key] = best[2]
        params = {k: rnd.choice(STRS) for k in P_KEYS if rnd.random() < 0.7}
        tags = {k: rnd.choice(STRS) for k in T_KEYS if rnd.random() < 0.6}
        run.log_params(params)
        run.set_tags(tags)
        status = "FINISHED" if i % 4 else "FAILED"
        run.end(status)
        ref[run.id] = {
            "metrics": metrics,
            "params": params,
            "tags": tags,
            "attributes": {"experiment": exp, "name": name, "status": status, "id": run.id},
        }
    return ref


# -- the query generator: an AST rendered to text, evaluated by the reference ------------
def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[str, tuple[Any, ...]]:
    kind = draw(st.sampled_from(["metrics", "params", "tags", "attributes"]))
    if kind == "metrics":
        key = draw(st.sampled_from(M_KEYS))
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        value: Any = draw(st.sampled_from(NUMS))
        text = f"metrics.`{key}` {op} {value!r}" if "." in key else f"metrics.{key} {op} {value!r}"
        return text, ("cmp", kind, key, op, value)
    key = draw(
        st.sampled_from({"params": P_KEYS, "tags": T_KEYS, "attributes": ["experiment", "name", "status"]}[kind])
    )
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "like"]))
    if op == "like":
        parts = draw(st.lists(st.sampled_from(["a", "A", "b", "c", "%", "_", "'", "\\", "0"]), max_size=4))
        value = "".join(parts)
    elif kind == "attributes" and key == "status":
        value = draw(st.sampled_from(["FINISHED", "FAILED", "RUNNING"]))
    else:
        value = draw(st.sampled_from(STRS))
    prefix = "" if kind == "attributes" and draw(st.booleans()) else f"{kind}."
    return f"{prefix}{key} {op} {_quote(value)}", ("cmp", kind, key, op, value)


def expressions() -> st.SearchStrategy[tuple[str, tuple[Any, ...]]]:
    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)).map(
            lambda t: ("(" + f" {t[0]} ".join(c[0] for c in t[1]) + ")", (t[0], [c[1] for c in t[1]]))
        )

    return st.recursive(comparisons(), extend, max_leaves=6)


def _like(pattern: str, value: str) -> bool:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, flags=re.S) is not None


def reference(node: tuple[Any, ...], run: dict[str, Any]) -> bool:
    if node[0] in ("and", "or"):
        results = [reference(c, run) for c in node[1]]
        return all(results) if node[0] == "and" else any(results)
    _, kind, key, op, lit = node
    value = run[kind].get(key)
    if value is None:  # a missing key never matches
        return False
    if op == "like":
        return _like(lit, value)
    return {
        "=": value == lit,
        "!=": value != lit,
        "<": value < lit,
        "<=": value <= lit,
        ">": value > lit,
        ">=": value >= lit,
    }[op]


@pytest.fixture
def populated(tmp_path, catalog_url):
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lk:
        ref = _make_runs(lk, seed=7)
        yield lk, ref


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expr=expressions())
def test_search_matches_python_reference(populated, expr):
    lake, ref = populated
    text, node = expr
    got = set(lake.runs.search(text, limit=None)["run_id"].to_pylist())
    want = {rid for rid, run in ref.items() if reference(node, run)}
    assert got == want, text


def test_search_order_by_and_limit(populated):
    lake, ref = populated
    table = lake.runs.search("", order_by=["metrics.auc desc"], limit=None)
    values = table["metrics.auc"].to_pylist()
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=True)
    assert values[: len(present)] == present  # runs without the metric come last
    asc = lake.runs.search("", order_by=["params.lr asc", "metrics.loss desc"], limit=5)
    assert asc.num_rows == 5
    assert lake.runs.search("", experiment="fraud", limit=None).num_rows == sum(
        r["attributes"]["experiment"] == "fraud" for r in ref.values()
    )
    assert lake.runs.list(status="FAILED").num_rows == 10


def test_search_columns(populated):
    lake, _ = populated
    t = lake.runs.search("metrics.auc >= 0", limit=3)
    assert t.column_names[:4] == ["run_id", "experiment", "name", "status"]
    assert any(c.startswith("metrics.") for c in t.column_names)
    assert str(t.schema.field("start_time").type) == "timestamp[us, tz=UTC]"
    empty = lake.runs.search("metrics.auc > 100")
    assert empty.num_rows == 0 and "run_id" in empty.column_names


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("metrics.auc > 'x'", 15),
        ("metrics.auc >", 14),
        ("params.lr = 0.1", 13),
        ("bogus = 'a'", 1),
        ("(metrics.a > 1", 15),
        ("status = 'A' and", 17),
        ("metrics.auc ~ 1", 13),
        ("status = 'unterminated", 10),
        ("metrics.auc like 'a'", 13),
        ("foo.bar = 'x'", 1),
        ("metrics.a > 1 metrics.b > 2", 15),
    ],
)
def test_parse_errors_point_at_the_column(lake, query, column):
    with pytest.raises(SearchSyntaxError) as info:
        lake.runs.search(query)
    msg = str(info.value)
    assert f"column {column}" in msg, msg
    caret_line = msg.splitlines()[-1]
    assert caret_line.index("^") - 2 == column - 1
    assert isinstance(info.value, InvalidArgument)


def test_bad_order_by_and_limit(lake):
    with pytest.raises(SearchSyntaxError):
        lake.runs.search("", order_by=["metrics.auc sideways"])
    with pytest.raises(InvalidArgument):
        lake.runs.search("", limit=-1)


def test_keywords_are_case_insensitive(lake):
    with lake.runs.start() as run:
        run.log_metric("auc", 0.9)
        run.log_params({"lr": "0.1"})
    assert lake.runs.search("METRICS.auc > 0.5 AND (params.lr LIKE '0.%' Or status = 'X')").num_rows == 1


def test_long_pages_carry_every_value(tmp_path, catalog_url):
    """Pages past 500 runs fetch their key-values through a CTE instead of an id list."""
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lake:
        for i in range(520):
            with lake.runs.start() as run:
                run.log_params({"i": i})
                run.log_metric("m", float(i))
        t = lake.runs.search("metrics.m >= 0", order_by=["metrics.m asc"], limit=None)
        assert t["metrics.m"].to_pylist() == [float(i) for i in range(520)]
        assert t["params.i"].to_pylist() == [str(i) for i in range(520)]


@pytest.mark.parametrize("query", ["À", "éé = 1", "metrics.a > ²", "params.x = 'é' and À"])
def test_non_ascii_outside_quotes_is_a_syntax_error(query: str) -> None:
    with lakebed.connect(":memory:") as lake, pytest.raises(lakebed.InvalidArgument, match="column"):
        lake.runs.search(query)
