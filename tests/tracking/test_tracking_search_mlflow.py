"""MLflow's run search syntax: MLflow's own documented example queries, a Hypothesis
property test of random MLflow-grammar queries, several-key ``order_by`` and errors.

Every search is checked against a brute-force evaluation written here (MLflow's
semantics: a run without the field never matches, ``LIKE`` is case-sensitive, ``ILIKE``
folds ASCII letters, times in whole milliseconds) over the runs as they were logged.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lakebed
from lakebed.errors import InvalidArgument
from lakebed.tracking import SearchSyntaxError


# -- the runs, and the reference view of them -------------------------------------------
@dataclasses.dataclass
class Ref:
    id: str
    experiment: str
    name: str | None
    status: str
    user: str | None
    start: float  # epoch seconds, as stored
    end: float | None
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]


def _millis(seconds: float | None) -> int | None:
    """MLflow's whole milliseconds: the stored time rounded to the microsecond, then truncated."""
    return None if seconds is None else math.floor(math.floor(seconds * 1e6 + 0.5) / 1000)


# MLflow's system tags that mirror a run field (the stored tag wins)
TAG_FIELDS = {"mlflow.runName": "name", "mlflow.user": "user", "mlflow.source.git.commit": "git_commit"}


def value_of(run: Ref, kind: str, key: str) -> Any:
    if kind == "metrics":
        return run.metrics.get(key)
    if kind == "params":
        return run.params.get(key)
    if kind == "tags":
        if key in run.tags:
            return run.tags[key]
        return getattr(run, TAG_FIELDS[key], None) if key in TAG_FIELDS else None
    return {
        "run_id": run.id,
        "run_name": run.name,
        "status": run.status,
        "user_id": run.user,
        "experiment": run.experiment,
        "start_time": _millis(run.start),
        "end_time": _millis(run.end),
    }[key]


def _ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def like_ref(pattern: str, value: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = _ascii_lower(pattern), _ascii_lower(value)
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, flags=re.S) is not None


def holds(run: Ref, atom: tuple[Any, ...]) -> bool:
    """One condition ``(kind, key, op, value)`` on one run (op in upper case)."""
    kind, key, op, lit = atom
    v = value_of(run, kind, key)
    if op == "IS NULL":
        return v is None
    if op == "IS NOT NULL":
        return v is not None
    if v is None:
        return False
    ops: dict[str, Callable[[], bool]] = {
        "=": lambda: v == lit,
        "!=": lambda: v != lit,
        "<": lambda: v < lit,
        "<=": lambda: v <= lit,
        ">": lambda: v > lit,
        ">=": lambda: v >= lit,
        "LIKE": lambda: like_ref(lit, v, False),
        "ILIKE": lambda: like_ref(lit, v, True),
        "IN": lambda: v in lit,
        "NOT IN": lambda: v not in lit,
    }
    return bool(ops[op]())


def reference(node: Any, run: Ref) -> bool:
    """``node``: a list of atoms (AND, as MLflow writes them), or ("and"|"or", [nodes])."""
    if isinstance(node, list):
        return all(holds(run, a) for a in node)
    if node[0] in ("and", "or"):
        results = [reference(c, run) for c in node[1]]
        return all(results) if node[0] == "and" else any(results)
    return holds(run, node)


# the runs of MLflow's "Search Runs" guide (docs/classic-ml/search/search-runs), as its script logs them
GUIDE = "search-run-guide"
# the runs of MLflow's tests/utils/test_search_utils.py::test_correct_filtering
UTILS = "search-utils"


def _build(lake: lakebed.Lake) -> list[Ref]:
    made: list[tuple[Any, str]] = []

    def start(experiment: str, name: str | None = None) -> Any:
        time.sleep(0.003)  # distinct start times in milliseconds
        run = lake.runs.start(experiment=experiment, name=name)
        made.append((run, experiment))
        return run

    accuracy = np.arange(0, 1, 0.1)
    loss = np.arange(1, 0, -0.1)
    log_scale_loss = np.log(loss)
    f1_score = np.arange(0, 1, 0.1)
    batch_size = [2] * 5 + [4] * 5
    learning_rate = [0.001, 0.01] * 5
    model = ["GPT-2", "GPT-3", "GPT-3.5", "GPT-4"] + [None] * 6
    mlflow_user = ["Monkey D Luffy"] * 3 + [None] * 7
    task = ["classification", "regression", "causal lm"] + [None] * 7
    environment = ["notebook"] * 5 + [None] * 5
    for i in range(10):
        with start(GUIDE, "my-run" if i == 0 else f"guide-{i}") as run:
            run.log_metrics(
                {
                    "loss": float(loss[i]),
                    "accuracy": float(accuracy[i]),
                    "log-scale-loss": float(log_scale_loss[i]),
                    "f1 score": float(f1_score[i]),
                }
            )
            run.log_params({"batch_size": batch_size[i], "learning rate": learning_rate[i], "model": model[i]})
            run.set_tags({"task": task[i], "environment": environment[i]})
            if mlflow_user[i] is not None:
                run.set_tag("mlflow.user", mlflow_user[i])

    for key1, my_param, tag1, status in [
        (121, "A", None, "FAILED"),
        (123, "A", "C", "FINISHED"),
        (125, "B", "D", "FAILED"),
    ]:
        run = start(UTILS)
        run.log_metric("key1", key1, step=1)
        run.log_params({"my_param": my_param})
        if tag1:
            run.set_tag("tag1", tag1)
        run.end(status)

    # keys with special characters, mixed case, NaN and infinities, a stored mlflow.runName
    extras: list[dict[str, Any]] = [
        {
            "name": "Alpha",
            "m": {"legit name": 0.5, "X-Y-Z": 3, "train-loss": 0.25, "x": float("nan")},
            "p": {"m": "tf", "cat dog": "pets", "learning rate": "0.1", "lr": "0.01", "b": "val"},
            "t": {"t.a.g": "a", "version": "commit-hash", "team": "search-infra", "mlflow.source.name": "train.py"},
        },
        {
            "name": "alpha",
            "m": {"X//Y#$$@&Z": 3, "accuracy.2.0": 6, "spacey name": 7, "x": float("inf")},
            "p": {"m": "L'Hosp", "p.a.r.a.m": "a", "model": "LR", "C": "1.0"},
            "t": {"source_name": "a notebook", "team": "Search", "mlflow.runName": "renamed"},
            "end": "KILLED",
        },
        {
            "name": "ALPHA-2",
            "m": {"a": 0.2, "acc": 0.95, "x": float("-inf"), "auc": 0.9},
            "p": {"m": "LR", "model": "LinearRegression", "C": "0.1"},
            "t": {"team": "SEARCH%", "version": "v2", "mlflow.source.name": "eval.py"},
            "end": "FAILED",
        },
        {
            "name": "é",
            "m": {"x": -1000.0, "auc": 0.9, "a b": 1.5},
            "p": {"m": "É", "C": "0.1"},
            "t": {"team": "é-team"},
        },
        {"name": "É", "m": {"x": 0.0, "auc": 0.7}, "p": {"m": "é", "model": "it's"}, "t": {"team": "it's"}},
        {
            "name": None,
            "m": {"x": 1000.0, "rmse": 0.5},
            "p": {"model_class": "LR"},
            "t": {"production": "true"},
            "end": None,
        },  # still RUNNING
    ]
    for spec in extras:
        run = start("extra", spec["name"])
        run.log_metrics(spec["m"])
        run.log_params(spec["p"])
        run.set_tags(spec["t"])
        if spec.get("end", "FINISHED") is not None:
            run.end(spec.get("end", "FINISHED"))
    run = start("extra", "no-x")  # no metric x: after NaN when ordering
    run.end()

    refs = []
    for run, experiment in made:
        got = lake.runs.get(run.id)
        refs.append(
            Ref(
                got.id,
                experiment,
                got.name,
                got.status,
                got.user,
                got.start_time,
                got.end_time,
                got.metrics,
                got.params,
                got.tags,
            )
        )
    return refs


@pytest.fixture
def populated(tmp_path, catalog_url):
    with lakebed.connect(tmp_path / "lake", catalog=catalog_url) as lk:
        refs = _build(lk)
        yield lk, refs


def _ids(lake: lakebed.Lake, query: str, experiment: str | None = None) -> set[str]:
    return set(lake.runs.search(query, experiment=experiment, limit=None)["run_id"].to_pylist())


def _want(refs: list[Ref], node: Any, experiment: str | None = None) -> set[str]:
    return {r.id for r in refs if (experiment is None or r.experiment == experiment) and reference(node, r)}


# -- MLflow's documented examples ----------------------------------------------------------
# (query, the same condition as data for the reference, how many runs of the guide match)
GUIDE_EXAMPLES: list[tuple[str, Any, int | None]] = [
    ("metrics.loss > 0.8", [("metrics", "loss", ">", 0.8)], 2),  # "2 rows" in the guide
    ("metrics.accuracy > 0.72", [("metrics", "accuracy", ">", 0.72)], 2),
    ('metrics."accuracy" > 0.72', [("metrics", "accuracy", ">", 0.72)], 2),
    ("metrics.loss <= 0.15", [("metrics", "loss", "<=", 0.15)], 1),
    ("metrics.`log-scale-loss` <= 0", [("metrics", "log-scale-loss", "<=", 0)], 10),
    ("metrics.`f1 score` >= 0.5", [("metrics", "f1 score", ">=", 0.5)], 5),
    (
        "metrics.accuracy > 0.72 AND metrics.loss <= 0.15",
        [("metrics", "accuracy", ">", 0.72), ("metrics", "loss", "<=", 0.15)],
        1,
    ),
    ("metrics.accuracy != 0.15", [("metrics", "accuracy", "!=", 0.15)], 10),
    ('params.model = "GPT-4o"', [("params", "model", "=", "GPT-4o")], 0),
    ('params.batch_size = "2"', [("params", "batch_size", "=", "2")], 5),
    ('params.model LIKE "GPT%"', [("params", "model", "LIKE", "GPT%")], 4),
    ('params.model ILIKE "gpt%"', [("params", "model", "ILIKE", "gpt%")], 4),
    ('params.model ILIKE "gPt%"', [("params", "model", "ILIKE", "gPt%")], 4),
    (
        'params.model LIKE "GPT%" AND params.batch_size = "2"',
        [("params", "model", "LIKE", "GPT%"), ("params", "batch_size", "=", "2")],
        4,
    ),
    ('tags."environment" = "notebook"', [("tags", "environment", "=", "notebook")], 5),
    ('tags.environment = "notebook"', [("tags", "environment", "=", "notebook")], 5),
    ('tags.task = "Classification"', [("tags", "task", "=", "Classification")], 0),
    ('tags.task ILIKE "classif%"', [("tags", "task", "ILIKE", "classif%")], 1),
    ("tags.`mlflow.user` = 'Monkey D Luffy'", [("tags", "mlflow.user", "=", "Monkey D Luffy")], 3),
    ('attributes.status = "ACTIVE"', [("attributes", "status", "=", "ACTIVE")], 0),
    ('attributes.user_id LIKE "user1"', [("attributes", "user_id", "LIKE", "user1")], 0),
    ('attributes.run_name = "my-run"', [("attributes", "run_name", "=", "my-run")], 1),
    ('attributes.run_id = "a1b2c3d4"', [("attributes", "run_id", "=", "a1b2c3d4")], 0),
    ("attributes.run_id IN ('a1b2c3d4', 'e5f6g7h8')", [("attributes", "run_id", "IN", ("a1b2c3d4", "e5f6g7h8"))], 0),
    ("attributes.start_time >= 1664067852747", [("attributes", "start_time", ">=", 1664067852747)], 10),
    ("attributes.end_time < 1664067852747", [("attributes", "end_time", "<", 1664067852747)], 0),
    ("attributes.created > 1664067852747", [("attributes", "start_time", ">", 1664067852747)], 10),
    (
        "metrics.accuracy > 0.72 AND metrics.batch_size != 0",
        [("metrics", "accuracy", ">", 0.72), ("metrics", "batch_size", "!=", 0)],
        0,
    ),
    (
        "metrics.loss <= 0.15 AND metrics.loss >= 0.1",
        [("metrics", "loss", "<=", 0.15), ("metrics", "loss", ">=", 0.1)],
        1,
    ),
    ('params.batch_size != "None"', [("params", "batch_size", "!=", "None")], 10),
    ('params.model != "None"', [("params", "model", "!=", "None")], 4),
    ("params.model = 'GPT-4'", [("params", "model", "=", "GPT-4")], 1),
    (
        "metrics.rmse < 0.9 and tags.production = 'true'",
        [("metrics", "rmse", "<", 0.9), ("tags", "production", "=", "true")],
        0,
    ),
    ("metrics.accuracy_score < 99.90", [("metrics", "accuracy_score", "<", 99.9)], 0),
]

# MLflow's tests/utils/test_search_utils.py: the filters of test_filter (which only
# parses them) and test_correct_quote_trimming, run here over all the runs
PARSE_EXAMPLES: list[tuple[str, Any]] = [
    ("metric.acc >= 0.94", [("metrics", "acc", ">=", 0.94)]),
    ("metric.acc>=100", [("metrics", "acc", ">=", 100)]),
    ("params.m!='tf'", [("params", "m", "!=", "tf")]),
    ('params."m"!="tf"', [("params", "m", "!=", "tf")]),
    ('metric."legit name" >= 0.243', [("metrics", "legit name", ">=", 0.243)]),
    ("metrics.XYZ = 3", [("metrics", "XYZ", "=", 3)]),
    ('params."cat dog" = "pets"', [("params", "cat dog", "=", "pets")]),
    ('metrics."X-Y-Z" = 3', [("metrics", "X-Y-Z", "=", 3)]),
    ('metrics."X//Y#$$@&Z" = 3', [("metrics", "X//Y#$$@&Z", "=", 3)]),
    ("params.model = 'LinearRegression'", [("params", "model", "=", "LinearRegression")]),
    (
        "metrics.rmse < 1 and params.model_class = 'LR'",
        [("metrics", "rmse", "<", 1), ("params", "model_class", "=", "LR")],
    ),
    ("", []),
    ("`metric`.a >= 0.1", [("metrics", "a", ">=", 0.1)]),
    ("`params`.model >= 'LR'", [("params", "model", ">=", "LR")]),
    ("tags.version = 'commit-hash'", [("tags", "version", "=", "commit-hash")]),
    ("`tags`.source_name = 'a notebook'", [("tags", "source_name", "=", "a notebook")]),
    ('metrics."accuracy.2.0" > 5', [("metrics", "accuracy.2.0", ">", 5)]),
    ("metrics.`spacey name` > 5", [("metrics", "spacey name", ">", 5)]),
    ('params."p.a.r.a.m" != "a"', [("params", "p.a.r.a.m", "!=", "a")]),
    ('tags."t.a.g" = "a"', [("tags", "t.a.g", "=", "a")]),
    ("attribute.start_time >= 1234", [("attributes", "start_time", ">=", 1234)]),
    ("run.status = 'RUNNING'", [("attributes", "status", "=", "RUNNING")]),
    ("tags.version IS NULL", [("tags", "version", "IS NULL", None)]),
    ("tags.version IS NOT NULL", [("tags", "version", "IS NOT NULL", None)]),
    ("params.lr IS NULL", [("params", "lr", "IS NULL", None)]),
    ("params.lr IS NOT NULL", [("params", "lr", "IS NOT NULL", None)]),
    ("tags.a IS NULL AND params.b = 'val'", [("tags", "a", "IS NULL", None), ("params", "b", "=", "val")]),
    ("params.m = 'LR'", [("params", "m", "=", "LR")]),
    ('params.m = "LR"', [("params", "m", "=", "LR")]),
    ('params.m = "L\'Hosp"', [("params", "m", "=", "L'Hosp")]),
    # the brief's own examples and MLflow system tags
    ("tags.team ILIKE 'search%'", [("tags", "team", "ILIKE", "search%")]),
    ("params.\"learning rate\" = '0.1'", [("params", "learning rate", "=", "0.1")]),
    ("metrics.`train-loss` < 0.3", [("metrics", "train-loss", "<", 0.3)]),
    ("tags.\"mlflow.source.name\" = 'train.py'", [("tags", "mlflow.source.name", "=", "train.py")]),
    ("tags.mlflow.source.name LIKE '%.py'", [("tags", "mlflow.source.name", "LIKE", "%.py")]),
    ("`metrics`.`a b` > 1", [("metrics", "a b", ">", 1)]),
    ("tags.`mlflow.runName` LIKE 'alpha%'", [("tags", "mlflow.runName", "LIKE", "alpha%")]),
    ("tags.mlflow.runName = 'renamed'", [("tags", "mlflow.runName", "=", "renamed")]),
    ("`Run Name` ILIKE 'ALPHA%'", [("attributes", "run_name", "ILIKE", "ALPHA%")]),
    ("attributes.run_name ILIKE 'é'", [("attributes", "run_name", "ILIKE", "é")]),  # ASCII folding only
    ("metrics.x != 0", [("metrics", "x", "!=", 0)]),  # NaN differs from every number
    ("metrics.x >= -1000", [("metrics", "x", ">=", -1000)]),
    ("end_time IS NULL", [("attributes", "end_time", "IS NULL", None)]),
    ("attributes.status NOT IN ('FINISHED', 'FAILED')", [("attributes", "status", "NOT IN", ("FINISHED", "FAILED"))]),
    ("run_name IN ('Alpha', \"ALPHA-2\",)", [("attributes", "run_name", "IN", ("Alpha", "ALPHA-2"))]),
    (
        "params.model = 'it''s' or tags.team = \"it's\"",
        ("or", [[("params", "model", "=", "it's")], [("tags", "team", "=", "it's")]]),
    ),
]

# MLflow's test_correct_filtering, on its three runs: (filter, the indices MLflow expects)
UTILS_EXAMPLES: list[tuple[str, Any, list[int]]] = [
    ("attributes.status = 'FAILED'", [("attributes", "status", "=", "FAILED")], [0, 2]),
    ("metrics.key1 = 123", [("metrics", "key1", "=", 123)], [1]),
    ("metrics.key1 != 123", [("metrics", "key1", "!=", 123)], [0, 2]),
    ("metrics.key1 >= 123", [("metrics", "key1", ">=", 123)], [1, 2]),
    ("params.my_param = 'A'", [("params", "my_param", "=", "A")], [0, 1]),
    ("tags.tag1 = 'D'", [("tags", "tag1", "=", "D")], [2]),
    ("tags.tag1 != 'D'", [("tags", "tag1", "!=", "D")], [1]),
    (
        "params.my_param = 'A' AND attributes.status = 'FAILED'",
        [("params", "my_param", "=", "A"), ("attributes", "status", "=", "FAILED")],
        [0],
    ),
]

# MLflow's dataset filters: lakebed records inputs as lineage refs instead
DATASET_EXAMPLES = [
    'datasets.name LIKE "custom"',
    "datasets.digest IN ('s8ds293b', 'jks834s2')",
    'datasets.context = "train"',
    "datasets.name IN ('custom', 'also custom')",
    "dataset.name = 'my_dataset'",
]


def test_mlflow_documented_examples(populated):
    lake, refs = populated
    guide = [r for r in refs if r.experiment == GUIDE]
    for query, node, count in GUIDE_EXAMPLES:
        want = _want(refs, node, GUIDE)
        assert _ids(lake, query, GUIDE) == want, query
        assert count is None or len(want) == count, query
    # the guide's complex filter, with the ids of two of its runs
    ids = [guide[1].id, guide[3].id]
    complex_filter = f"""
attributes.run_id IN ({"'" + "','".join(ids) + "'"})
  AND metrics.loss > 0.3
  AND metrics."f1 score" < 0.5
  AND params.model LIKE "GPT%"
"""
    assert _ids(lake, complex_filter) == set(ids)
    assert _ids(lake, f"attributes.run_id = '{ids[0]}'") == {ids[0]}
    start = _millis(guide[4].start)
    for query, node in [
        (f"attributes.start_time > {start}", [("attributes", "start_time", ">", start)]),
        (f"attributes.start_time = {start}", [("attributes", "start_time", "=", start)]),
        (f"attribute.end_time >= {_millis(guide[6].end)}", [("attributes", "end_time", ">=", _millis(guide[6].end))]),
    ]:
        want = _want(refs, node)
        assert _ids(lake, query) == want and want, query
    for query, node in PARSE_EXAMPLES:
        assert _ids(lake, query) == _want(refs, node), query
    assert sum(bool(_want(refs, node)) for _, node in PARSE_EXAMPLES) >= 35  # most examples match some runs
    utils = [r for r in refs if r.experiment == UTILS]
    for query, node, indices in UTILS_EXAMPLES:
        want = _want(refs, node, UTILS)
        assert want == {utils[i].id for i in indices}, query  # the reference agrees with MLflow
        assert _ids(lake, query, UTILS) == want, query
    for query in DATASET_EXAMPLES:
        with pytest.raises(SearchSyntaxError, match=r"dataset filters .* are not supported"):
            lake.runs.search(query)


def test_time_attributes_are_milliseconds_or_iso_dates(populated):
    lake, refs = populated
    first = min(refs, key=lambda r: r.start)
    ms = _millis(first.start)
    assert _ids(lake, f"start_time = {ms}") == {r.id for r in refs if _millis(r.start) == ms}
    assert _ids(lake, f"start_time < {ms}") == set()
    day = time.strftime("%Y-%m-%d", time.gmtime(first.start))
    assert _ids(lake, f"start_time >= '{day}'") == {r.id for r in refs}
    assert _ids(lake, f"created < '{day}'") == set()
    assert _ids(lake, "end_time IS NULL") == {r.id for r in refs if r.end is None} != set()


def test_times_stored_from_milliseconds_compare_exactly(lake):
    """A run imported from MLflow stores ``ms / 1000`` seconds; the search gives the same
    milliseconds back, also for values where ``floor(ms / 1000 * 1000)`` is ``ms - 1``."""
    from lakebed.tracking import _schema as s

    stamps = [1081118188465, 1096468462419, 2188618234108, 1664067852747]
    assert any(math.floor(ms / 1000 * 1000) != ms for ms in stamps)
    ids = []
    for ms in stamps:
        with lake.runs.start(experiment="imported") as run:
            pass
        with lake.catalog.begin() as conn:
            conn.execute(s.runs.update().where(s.runs.c.id == run.id).values(start_time=ms / 1000, end_time=ms / 1000))
        ids.append(run.id)
    for ms, run_id in zip(stamps, ids, strict=True):
        assert _ids(lake, f"attributes.start_time = {ms} and end_time = {ms}") == {run_id}
        assert _ids(lake, f"start_time >= {ms} and start_time < {ms + 1}") == {run_id}
    assert _ids(lake, "start_time < 1664067852747") == set(ids[:2])


# -- a property test: random queries in the MLflow grammar (with OR and parentheses) -------
KEYS = {
    "metrics": ["loss", "accuracy", "f1 score", "log-scale-loss", "x", "auc", "key1"],
    "params": ["model", "batch_size", "learning rate", "m", "C"],
    "tags": ["task", "team", "mlflow.user", "mlflow.runName", "mlflow.source.name", "environment"],
}
PREFIXES = {
    "metrics": ["metrics", "metric", "`metrics`", "METRICS"],
    "params": ["params", "param", "parameter", "parameters", "`params`"],
    "tags": ["tags", "tag", "`tags`"],
    "attributes": ["attributes", "attribute", "attr", "run", ""],
}
ATTRS = {
    "run_name": ["run_name", "name", "`Run Name`", '"run name"'],
    "status": ["status"],
    "experiment": ["experiment"],
    "run_id": ["run_id", "id"],
    "user_id": ["user_id", "user"],
    "start_time": ["start_time", "created"],
    "end_time": ["end_time"],
}
WORDS = [
    "GPT-4",
    "GPT-3.5",
    "gpt-2",
    "None",
    "2",
    "4",
    "A",
    "a",
    "LR",
    "é",
    "É",
    "it's",
    "notebook",
    "classification",
    "Search",
    "Monkey D Luffy",
    "FAILED",
    "FINISHED",
    "KILLED",
    "Alpha",
    "ALPHA-2",
    "renamed",
    "train.py",
    "search-utils",
    "extra",
    "0.1",
    "0.01",
]
PATTERN_BITS = ["%", "_", "G", "p", "T", "a", "A", "-", "é", "É", "'", "s", "e", ".", "1"]
NUMBERS = [-1000.0, -1.5, 0.0, 0.1, 0.3, 0.5, 0.72, 0.9, 1.0, 123.0, 1000.0]


def _quote(text: str, quote: str) -> str:
    return quote + text.replace(quote, quote + quote) + quote


@st.composite
def _atoms(draw: st.DrawFn, times: list[int], ids: list[str]) -> tuple[str, tuple[Any, ...]]:
    kind = draw(st.sampled_from(["metrics", "params", "tags", "attributes"]))
    string_quote = draw(st.sampled_from(["'", '"']))
    if kind == "attributes":
        key = draw(st.sampled_from(sorted(ATTRS)))
        prefix = draw(st.sampled_from(PREFIXES["attributes"]))
        spelled = draw(st.sampled_from(ATTRS[key]))
        if prefix and spelled.startswith('"'):  # a quoted name after a prefix: `attr`."run name"
            spelled = spelled.replace('"', "`")
        field = f"{prefix}.{spelled}" if prefix else spelled
    else:
        key = draw(st.sampled_from(KEYS[kind]))
        prefix = draw(st.sampled_from(PREFIXES[kind]))
        plain = re.fullmatch(r"[A-Za-z_][\w.]*", key) is not None
        style = draw(st.sampled_from(["bare", "`", '"'] if plain else ["`", '"']))
        field = f"{prefix}.{key}" if style == "bare" else f"{prefix}.{_quote(key, style)}"
    numeric = kind == "metrics" or key in ("start_time", "end_time")
    if numeric:
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="] + (["IS NULL"] if key == "end_time" else [])))
        if op == "IS NULL":
            return f"{field} IS NULL", (kind, key, op, None)
        if kind == "metrics":
            value: Any = draw(st.sampled_from(NUMBERS))
        else:
            value = draw(st.sampled_from(times)) + draw(st.sampled_from([-1, 0, 1]))
        return f"{field} {op} {value!r}", (kind, key, op, value)
    ops = ["=", "!=", "LIKE", "ILIKE", "like", "ilike"]
    if kind == "attributes":
        ops += ["IN", "NOT IN", "in", "not in"]
    else:
        ops += ["IS NULL", "IS NOT NULL", "is null"]
    op = draw(st.sampled_from(ops))
    if op.upper() in ("IS NULL", "IS NOT NULL"):
        return f"{field} {op}", (kind, key, op.upper(), None)
    if op.upper() in ("IN", "NOT IN"):
        pool = ids if key == "run_id" else WORDS
        values = tuple(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
        items = ", ".join(_quote(v, draw(st.sampled_from(["'", '"']))) for v in values)
        return f"{field} {op} ({items})", (kind, key, op.upper(), values)
    if op.upper() in ("LIKE", "ILIKE"):
        value = "".join(draw(st.lists(st.sampled_from(PATTERN_BITS), max_size=4)))
    elif key == "run_id":
        value = draw(st.sampled_from(ids))
    else:
        value = draw(st.sampled_from(WORDS))
    return f"{field} {op} {_quote(value, string_quote)}", (kind, key, op.upper(), value)


def _queries(times: list[int], ids: list[str]) -> st.SearchStrategy[tuple[str, Any]]:
    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        joiner = st.sampled_from(["and", "or", "AND", "OR"])
        return st.tuples(joiner, st.lists(children, min_size=2, max_size=3)).map(
            lambda t: ("(" + f" {t[0]} ".join(c[0] for c in t[1]) + ")", (t[0].lower(), [c[1] for c in t[1]]))
        )

    return st.recursive(_atoms(times, ids), extend, max_leaves=5)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mlflow_queries_match_the_reference(populated, data):
    lake, refs = populated
    times = sorted({_millis(r.start) for r in refs[::4]} | {_millis(r.end) for r in refs[::5] if r.end})
    query, node = data.draw(_queries(times, [r.id for r in refs[::3]]))
    assert _ids(lake, query) == {r.id for r in refs if reference(node, r)}, query


# -- several-key order_by ------------------------------------------------------------------
def _sort_value(run: Ref, kind: str, key: str) -> Any:
    if kind == "attributes":
        return {"start_time": run.start, "end_time": run.end}.get(key, value_of(run, kind, key))
    return value_of(run, kind, key)


def sort_reference(refs: list[Ref], orders: list[tuple[str, str, bool]]) -> list[str]:
    """MLflow's SearchUtils.sort: newest first then by id, re-sorted stably by each key from
    the last; numbers, then NaN, then runs without the key, in either direction."""
    out = sorted(refs, key=lambda r: (-r.start, r.id))
    for kind, key, desc in reversed(orders):
        values = [(r, _sort_value(r, kind, key)) for r in out]
        present = [p for p in values if p[1] is not None and p[1] == p[1]]
        nan = [p for p in values if p[1] is not None and p[1] != p[1]]
        missing = [p for p in values if p[1] is None]
        present.sort(key=lambda p: p[1], reverse=desc)
        out = [p[0] for p in present + nan + missing]
    return [r.id for r in out]


ORDER_EXAMPLES: list[tuple[list[str], list[tuple[str, str, bool]]]] = [
    # MLflow's test_correct_sorting and test_space_order_by_search_runs
    (["tags.noSuchTag"], [("tags", "noSuchTag", False)]),
    (["attributes.status"], [("attributes", "status", False)]),
    (["attributes.start_time"], [("attributes", "start_time", False)]),
    (["metrics.key1 asc"], [("metrics", "key1", False)]),
    (['metrics."key1"  desc'], [("metrics", "key1", True)]),
    (["params.my_param"], [("params", "my_param", False)]),
    (
        ["params.my_param aSc", "attributes.status  ASC"],
        [("params", "my_param", False), ("attributes", "status", False)],
    ),
    (["params.my_param", "attributes.status DESC"], [("params", "my_param", False), ("attributes", "status", True)]),
    (
        ["params.my_param DESC", "attributes.status   DESC"],
        [("params", "my_param", True), ("attributes", "status", True)],
    ),
    (
        ["params.`my_param` DESC", "attributes.status DESC"],
        [("params", "my_param", True), ("attributes", "status", True)],
    ),
    (["tags.tag1"], [("tags", "tag1", False)]),
    (["tags.tag1    DESC"], [("tags", "tag1", True)]),
    (["metrics.`f1 score` DESC"], [("metrics", "f1 score", True)]),
    # several keys, quoted keys, aliases, NaN and infinities
    (
        ["metrics.auc DESC", "params.C", "attributes.start_time ASC"],
        [("metrics", "auc", True), ("params", "C", False), ("attributes", "start_time", False)],
    ),
    (
        ["params.batch_size DESC", 'metrics."log-scale-loss"', "`Run Name` desc"],
        [("params", "batch_size", True), ("metrics", "log-scale-loss", False), ("attributes", "run_name", True)],
    ),
    (["metrics.x"], [("metrics", "x", False)]),
    (["metrics.x DESC"], [("metrics", "x", True)]),
    (
        ["tags.mlflow.runName", "experiment DESC"],
        [("tags", "mlflow.runName", False), ("attributes", "experiment", True)],
    ),
    (["tags.`mlflow.user` DESC", "params.model"], [("tags", "mlflow.user", True), ("params", "model", False)]),
    (["end_time DESC", "run_id"], [("attributes", "end_time", True), ("attributes", "run_id", False)]),
    (["status", "created DESC"], [("attributes", "status", False), ("attributes", "start_time", True)]),
]


def test_order_by_several_keys_matches_a_python_sort(populated):
    lake, refs = populated
    for order_by, orders in ORDER_EXAMPLES:
        got = lake.runs.search("", order_by=order_by, limit=None)["run_id"].to_pylist()
        assert got == sort_reference(refs, orders), order_by
    # with a filter, a limit and an offset: a window of the same order
    order_by, orders = ORDER_EXAMPLES[13]
    node = ("or", [[("params", "C", "IS NOT NULL", None)], [("metrics", "x", "!=", 1)]])
    by_id = {r.id: r for r in refs}
    want = [i for i in sort_reference(refs, orders) if reference(node, by_id[i])]
    page = lake.runs.search("params.C IS NOT NULL or metrics.x != 1", order_by=order_by, limit=3, offset=1)
    assert page["run_id"].to_pylist() == want[1:4] and len(want) >= 4


def test_order_by_nan_inf_and_missing_as_mlflow():
    """MLflow's test_order_by_metric_with_nans_infs_nones."""
    values = ["nan", "inf", "-inf", "-1000", "0", "1000", "None"]
    with lakebed.connect(":memory:") as lake:
        for v in values:
            with lake.runs.start(experiment="nan", name=v) as run:
                if v != "None":
                    run.log_metric("x", float(v))
        asc = lake.runs.search("", experiment="nan", order_by=["metrics.x asc"])["name"].to_pylist()
        desc = lake.runs.search("", experiment="nan", order_by=["metrics.x desc"])["name"].to_pylist()
    assert asc == ["-inf", "-1000", "0", "1000", "inf", "nan", "None"]
    assert desc == ["inf", "1000", "0", "-1000", "-inf", "nan", "None"]


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "column", "hint"),
    [
        # MLflow's test_error_filter, test_error_comparison_clauses, test_bad_quotes, test_invalid_clauses
        ("metric.acc >= 0.94; metrics.rmse < 1", 19, "unexpected character ';'"),
        ("m.acc >= 0.94", 1, "unknown prefix 'm'"),
        ("acc >= 0.94", 1, "unknown attribute 'acc'"),
        ("p.model >= 'LR'", 1, "unknown prefix"),
        ("attri.x != 1", 1, "unknown prefix"),
        ("model >= 'LR'", 1, "unknown attribute"),
        ("metrics.A > 0.1 NAND params.B = 'LR'", 17, "expected 'and', 'or'"),
        ("`metrics.A > 0.1", 1, "unterminated"),
        ("param`.A > 0.1", 6, "unterminated"),
        ("attribute.start != 1", 1, "unknown attribute 'start'"),
        ("attribute.experiment_id != 1", 1, "experiment = '<name>'"),
        ("attribute.lifecycle_stage = 'ACTIVE'", 1, "not supported"),
        ("attribute.artifact_uri = '1/23/4'", 1, "no artifact_uri"),
        ("attribute._status != 'RUNNING'", 1, "unknown attribute"),
        ("attribute.status = true", 20, "quote strings"),
        ("metric.model = 'LR'", 16, "numeric; compare it with a number"),
        ("metric.model = '5'", 16, "numeric"),
        ("params.acc = 5", 14, "quote the value: '5'"),
        ("tags.acc = 5", 12, "quote the value"),
        ("metrics.acc != metrics.acc", 16, "expected a value"),
        ("1.0 > metrics.acc", 1, "expected a field"),
        ("attribute.status = 1", 20, "is a string"),
        ("params.acc = LR", 14, "quote strings with ' or \""),
        ("params.acc = `LR`", 14, "`backticks` name fields"),
        ("params.'acc = LR", 8, "unterminated"),
        ("params.acc = 'LR", 14, "unterminated"),
        ("params.acc = \"LR'", 14, "unterminated"),
        ("tags.acc = = 'LR'", 12, "expected a 'quoted string'"),
        ("attribute.status IS 'RUNNING'", 21, "IS NULL"),
        ("params.acc LR !=", 12, "expected a comparison"),
        ("metric.acc !=", 14, "expected a 'quoted string'"),
        ("foo is null", 1, "unknown attribute"),
        ("1=1", 1, "expected a field"),
        ("metrics.abc ~ 1", 13, "unexpected character '~'"),
        ("attributes.start_time LIKE 1234", 23, "LIKE needs a string field"),
        ("metrics.a ILIKE 'x'", 11, "ILIKE needs a string field"),
        # IN and NOT IN: lists of quoted strings, on string attributes only
        ("params.model IN ('a', 'b')", 14, "IN / NOT IN take a list only on string attributes"),
        ("tags.t NOT IN ('a')", 8, "attributes.run_id IN ('a', 'b')"),
        ("metrics.a IN ('1')", 11, "join comparisons with OR"),
        ("start_time IN ('1')", 12, "string attributes"),
        ("run_id IN ()", 12, "at least one quoted string"),
        ("run_id IN ('a', 1)", 17, "a quoted string in the IN list"),
        ("run_id IN ('a' 'b')", 16, "expected ',' or ')'"),
        ("run_id IN 'a'", 11, "expected '('"),
        ("run_id NOT 'a'", 12, "expected IN after NOT"),
        ("status IS NOT 'x'", 15, "IS NOT NULL"),
        ("start_time > 'last week'", 14, "milliseconds since the epoch"),
        ("metrics. > 1", 9, "expected a key after the dot"),
        ("`metrics`. > 1", 11, "expected a key after the dot"),
        ("datasets.digest = 'x'", 1, "lake.lineage.downstream"),
        ("(metrics.a > 1 or status = 'X'", 31, "expected ')'"),
    ],
)
def test_errors_name_the_problem_and_point_at_it(lake, query, column, hint):
    with pytest.raises(SearchSyntaxError) as info:
        lake.runs.search(query)
    msg = str(info.value)
    assert hint in msg and f"at column {column}:" in msg, msg
    source_line, caret_line = msg.splitlines()[-2:]
    assert source_line == "  " + query and caret_line.index("^") - 2 == column - 1
    assert isinstance(info.value, InvalidArgument) and isinstance(info.value, lakebed.LakebedError)
    with pytest.raises(SearchSyntaxError):
        lake.runs.count(query)


@pytest.mark.parametrize(
    ("order_by", "hint"),
    [
        ("m.acc", "unknown prefix"),
        ("acc", "unknown attribute"),
        ("`metrics.A", "unterminated"),
        ("attribute.start", "unknown attribute"),
        ("attribute.experiment_id", "not supported"),
        ("metrics.A != 1", "expected ASC, DESC"),
        ("attribute.run_id ACS", "expected ASC, DESC"),
        ("attribute.run_id decs", "expected ASC, DESC"),
        ("datasets.name", "dataset filters"),
        ("", "expected a field"),
    ],
)
def test_order_by_errors(lake, order_by, hint):
    with pytest.raises(SearchSyntaxError, match=re.escape(hint)):
        lake.runs.search("", order_by=[order_by])


def test_mlflow_extensions_lakebed_keeps(lake):
    """What MLflow refuses and lakebed accepts: OR, parentheses, IS NULL on any field,
    ordering comparisons on strings, IN on every string attribute."""
    with lake.runs.start(experiment="e", name="b") as run:
        run.log_metric("acc", 0.5)
        run.log_params({"model": "M"})
    for query in [
        "metrics.A > 0.1 OR params.model = 'M'",
        "metrics.acc > 0.1 AND (params.model = 'LR' or status = 'FINISHED')",
        "metrics.missing IS NULL",
        "attribute.status IS NOT NULL",
        "params.model >= 'L'",
        "experiment IN ('e', 'f') and run_name NOT IN ('a')",
        "metrics.acc == 0.5 and params.model <> 'X'",
    ]:
        assert lake.runs.count(query) == 1, query


def test_mlflow_queries_through_the_server(tmp_path):
    """The REST routes hand the string to the same parser: same runs, same errors."""
    import pyarrow as pa
    from fastapi.testclient import TestClient

    from lakebed.server import create_app

    with lakebed.connect(tmp_path / "lake") as lake:
        refs = _build(lake)
        c = TestClient(create_app(lake))
        ids = [refs[0].id, refs[2].id]
        for query, order_by in [
            ("tags.team ILIKE 'search%'", ["metrics.auc DESC", "params.C", "attributes.start_time ASC"]),
            (f"attributes.run_id IN ('{ids[0]}', \"{ids[1]}\")", None),
            ('params."learning rate" = "0.1" or metrics.`f1 score` >= 0.5', ["metrics.`f1 score` desc"]),
        ]:
            resp = c.post("/v1/runs/search", json={"query": query, "order_by": order_by, "limit": None})
            assert resp.status_code == 200, resp.text
            got = pa.ipc.open_stream(resp.content).read_all()["run_id"].to_pylist()
            want = lake.runs.search(query, order_by=order_by, limit=None)["run_id"].to_pylist()
            assert got == want and got, query
            count = c.post("/v1/runs/count", json={"query": query}).json()["count"]
            assert count == len(want)
            ui = c.get("/ui/api/runs", params={"q": query, "order_by": order_by or [], "limit": 500}).json()
            assert [item["id"] for item in ui["items"]] == want
        bad = c.post("/v1/runs/search", json={"query": "params.model IN ('a')"})
        assert bad.status_code == 400 and "string attributes" in bad.text and "column 14" in bad.text
