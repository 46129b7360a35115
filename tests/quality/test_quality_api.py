"""Profiles against numpy, drift between lake objects (table versions, prediction logs,
collections), model monitoring through lineage, a real report in chromium, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import lakebed
from lakebed.errors import InvalidArgument, NotFound
from lakebed.quality import between, not_null, unique

RNG = np.random.default_rng(5)


def frame(n: int, shift: float = 0.0, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(10 + shift, 2, n)
    x[rng.random(n) < 0.05] = np.nan
    plan = rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1] if not shift else [0.2, 0.4, 0.4])
    return pa.table({
        "id": np.arange(n, dtype=np.int64),
        "x": pa.array(x, mask=rng.random(n) < 0.1),
        "plan": pa.array(plan),
        "ts": pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=int(m))
                        for m in rng.integers(0, 10_000, n)], pa.timestamp("us", tz="UTC")),
    })


def test_profile_matches_numpy(lake: lakebed.Lake) -> None:
    t = frame(3000)
    lake.tables.create("silver.events", data=t)
    p = lake.quality.profile("silver.events")
    assert (p.version, p.rows, p.id is not None) == (0, 3000, True)
    x = t.column("x").to_numpy(zero_copy_only=False)
    present = x[~np.isnan(x)] if t.column("x").null_count == 0 else \
        np.array([v for v in t.column("x").to_pylist() if v is not None])
    finite = present[np.isfinite(present)]
    cx = p.column("x")
    assert cx["nulls"] == t.column("x").null_count and cx["nan"] == int(np.isnan(present).sum())
    assert cx["mean"] == pytest.approx(finite.mean(), rel=1e-12)
    assert cx["std"] == pytest.approx(finite.std(ddof=1), rel=1e-12)
    assert cx["quantiles"]["0.5"] == pytest.approx(np.quantile(finite, 0.5), rel=1e-12)
    assert cx["min"] == pytest.approx(finite.min()) and cx["max"] == pytest.approx(finite.max())
    assert sum(cx["histogram"]["counts"]) == finite.size
    cp = p.column("plan")
    values, counts = np.unique(t.column("plan").to_numpy(zero_copy_only=False), return_counts=True)
    assert cp["distinct"] == len(values)
    assert {d["value"]: d["count"] for d in cp["top"]} == dict(zip(values.tolist(), counts.tolist(), strict=True))
    assert p.column("id")["distinct"] == 3000 and not p.column("id")["distinct_approx"]
    assert lake.quality.profiles("silver.events")[0].column("x")["mean"] == cx["mean"]
    assert p.to_arrow().num_rows == 4
    with pytest.raises(NotFound):
        p.column("nope")


def test_drift_between_table_versions_and_data(lake: lakebed.Lake) -> None:
    lake.tables.create("gold.train", data=frame(4000, seed=1))
    lake.tables.write("gold.train", frame(4000, shift=3.0, seed=2), mode="overwrite")
    same = lake.quality.drift("gold.train@0", frame(4000, seed=3), columns=["x", "plan"])
    assert not same.drifted and [c.drifted for c in same.columns] == [False, False]
    moved = lake.quality.drift("gold.train@0", "gold.train", columns=["x", "plan"])
    assert moved.drifted and moved.reference == "table:gold.train@0" and moved.current == "table:gold.train@1"
    assert {c.column: c.method for c in moved.columns} == {"x": "wasserstein", "plan": "jensenshannon"}
    x0 = lake.tables.read("gold.train", version=0).column("x")
    nan = int(np.isnan(np.array([v for v in x0.to_pylist() if v is not None])).sum())
    assert moved.column("x").reference_nulls == x0.null_count + nan  # NaN counts as missing
    per = lake.quality.drift(("gold.train", 0), "gold.train", columns=["x"], method={"x": "ks"})
    assert per.columns[0].method == "ks" and per.columns[0].score < 0.05
    d = moved.to_dict()
    assert json.loads(json.dumps(d))["dataset"]["drifted"] is True
    with pytest.raises(InvalidArgument, match="no column 'zz'"):
        lake.quality.drift("gold.train@0", "gold.train", columns=["zz"])
    with pytest.raises(InvalidArgument, match="share"):
        lake.quality.drift("gold.train@0", "gold.train", share=0)
    with pytest.raises(InvalidArgument, match="unsupported data of type object"):
        lake.quality.drift("gold.train@0", object())


def test_embedding_drift_of_a_collection(lake: lakebed.Lake) -> None:
    col = lake.collections.create("docs", dim=8, metric="l2")  # l2 keeps vectors as they are
    base = RNG.normal(0, 1, (600, 8)).astype(np.float32)
    col.upsert(list(range(600)), base)
    same = pa.table({"vector": pa.FixedSizeListArray.from_arrays(
        pa.array(RNG.normal(0, 1, (400, 8)).astype(np.float32).ravel()), 8)})
    moved = pa.table({"vector": pa.FixedSizeListArray.from_arrays(
        pa.array((RNG.normal(0, 1, (400, 8)) + 0.8).astype(np.float32).ravel()), 8)})
    assert not lake.quality.drift("collection:docs", same).drifted
    rep = lake.quality.drift("collection:docs", moved)
    assert rep.drifted and rep.columns[0].kind == "embedding" and rep.columns[0].method == "mmd"


def test_monitor_finds_the_training_set_through_lineage(lake: lakebed.Lake) -> None:
    train = frame(2000, seed=4).select(["id", "x", "plan"])
    lake.tables.create("gold.train", data=train)
    with lake.runs.start() as run:
        run.log_input("gold.train@0")
        run.log_model({"w": 1})
    lake.models.register("m", run=run)
    log = lake.predictions("m@1")
    served = frame(1500, shift=4.0, seed=6)
    xs = [0.0 if v is None else v for v in served.column("x").to_pylist()]
    preds = [int(v > 12) for v in xs]
    log.write({"x": xs, "plan": served.column("plan").to_pylist()}, preds,
              request_ids=[f"r{i}" for i in range(1500)])
    labels = pa.table({"request_id": [f"r{i}" for i in range(1500)], "label": [int(v > 13) for v in xs]})
    mon = lake.quality.monitor("m@1", labels=labels, label="label")
    assert mon.training_set == "table:gold.train@0" and mon.model == "m@1"
    assert {c.column for c in mon.drift.columns} == {"x", "plan"} and mon.drift.drifted
    (period,) = mon.performance
    expected = sum(p == y for p, y in zip(preds, labels.column("label").to_pylist(), strict=True)) / 1500
    assert period["rows"] == 1500 and period["accuracy"] == pytest.approx(expected)
    rep = lake.quality.report(drift=mon)
    assert rep.to_dict()["performance"] == mon.performance and "<svg" in rep.html


def test_a_real_report_renders_in_chromium(lake: lakebed.Lake, tmp_path: Path) -> None:
    from tests.quality.test_quality_report_browser import chromium, chromium_cmd, parse

    exe = chromium()
    lake.tables.create("silver.orders", data=frame(2000, seed=7))
    lake.quality.contract("silver.orders", checks=[not_null("x"), between("x", 0, 15), unique("id")],
                          on_violation="warn")
    for i in range(3):
        lake.tables.write("silver.orders", frame(500, shift=float(i), seed=10 + i).set_column(
            0, "id", pa.array(np.arange(500, dtype=np.int64) + 10_000 * (i + 1))))
        lake.quality.validate("silver.orders")
    drift = lake.quality.drift("silver.orders@0", "silver.orders", columns=["x", "plan", "ts"])
    path = tmp_path / "report.html"
    lake.quality.report(table="silver.orders", drift=drift, profile=True, path=path)
    out = subprocess.run(chromium_cmd(exe, tmp_path / "profile", "--dump-dom", path.as_uri()),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    dom = parse(out)
    assert len(dom.find_all("svg", "plot-hist")) == 3
    assert dom.find_all("svg", "plot-drift-scores") and dom.find_all("svg", "plot-results")
    assert len(dom.find_all("svg", "plot-profile")) >= 3
    assert not dom.find_all("script")
    assert (tmp_path / "report.json") == lake.quality.report(table="silver.orders").save(tmp_path / "report.json")
    assert len(json.loads((tmp_path / "report.json").read_text())["results"]) == 6  # 3 writes, 3 validations


def test_cli(tmp_path: Path) -> None:
    from lakebed.cli import app

    root = tmp_path / "lake"
    with lakebed.connect(root) as lake:
        lake.tables.create("silver.users", data=frame(300, seed=8))
        lake.tables.write("silver.users", frame(300, shift=5.0, seed=9), mode="overwrite")
    defs = tmp_path / "contracts.py"
    defs.write_text(
        "from lakebed.quality import Contract, not_null, between\n"
        "users = Contract('silver.users', checks=[not_null('id'), between('x', 0, 12)], on_violation='warn')\n"
    )
    run = CliRunner().invoke
    r = run(app, ["quality", "plan", str(defs), "--lake", str(root)])
    assert r.exit_code == 0 and "silver.users" in r.output and "between(x, 0, 12)" in r.output
    assert run(app, ["quality", "apply", str(defs), "--lake", str(root)]).exit_code == 0
    r = run(app, ["quality", "contracts", "--lake", str(root), "--json"])
    assert json.loads(r.output)[0]["on_violation"] == "warn"
    r = run(app, ["quality", "validate", "silver.users", "--lake", str(root)])
    assert r.exit_code == 1 and "between(x, 0, 12)" in r.output  # shifted data fails the range
    r = run(app, ["quality", "validate", "silver.users@0", "--lake", str(root), "--json"])
    body = json.loads(r.output)
    assert body["table_version"] == 0 and body["checks"][1]["name"] == "between(x, 0, 12)"
    r = run(app, ["quality", "results", "silver.users", "--failed", "--lake", str(root), "--json"])
    assert all(not x["passed"] for x in json.loads(r.output)) and json.loads(r.output)
    r = run(app, ["quality", "profile", "silver.users", "--lake", str(root)])
    assert r.exit_code == 0 and "plan" in r.output and "300 rows" in r.output
    r = run(app, ["quality", "drift", "silver.users@0", "silver.users", "--columns", "x,plan", "--lake", str(root)])
    assert r.exit_code == 1 and "DRIFTED" in r.output
    out = tmp_path / "r.html"
    r = run(app, ["quality", "report", "-o", str(out), "--table", "silver.users", "--reference", "silver.users@0",
                  "--current", "silver.users", "--profile", "--lake", str(root)])
    assert r.exit_code == 0 and "<svg" in out.read_text()
    r = run(app, ["quality", "validate", "silver.nope", "--lake", str(root)])
    assert r.exit_code == 1 and "no table" in r.output
