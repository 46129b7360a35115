"""The tracking part of ``lakebed demo``: train, track, register, serve, trace back."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from lakebed.lake import Lake

_LABELS = ("label", "is_fraud", "fraud", "churned", "churn", "target")


def _training_table(lake: Lake) -> tuple[str, pa.Table, list[str], str, str]:
    """(table name, table, feature columns, label column, how the label was chosen)."""
    if lake.tables.exists("gold.user_features"):
        t = lake.tables.read("gold.user_features")
        numeric = [
            f.name
            for f in t.schema
            if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type))
            and not f.name.endswith("_id")
            and f.name not in ("user_id", "id")
        ]
        label = next((c for c in _LABELS if c in t.column_names), None)
        if t.num_rows >= 20 and numeric and (label is not None or len(numeric) >= 2):
            if label is not None:
                return "gold.user_features", t, [c for c in numeric if c != label], label, label
            target = numeric[0]
            col = pc.cast(t.column(target), pa.float64())
            median = float(np.nanmedian(col.to_numpy(zero_copy_only=False)))
            t = t.append_column("label", pc.greater(col, median))
            return "gold.user_features", t, numeric[1:], "label", f"{target} above its median"
    # a self-contained, deterministic data set: fraud gets likelier with amount and night time
    rng = np.random.default_rng(7)
    n = 2_000
    amount = rng.lognormal(3.5, 1.0, n)
    night = rng.random(n) < 0.3
    n_tx = rng.poisson(5, n)
    logit = 0.02 * amount + 1.5 * night - 0.2 * n_tx - 2.0
    fraud = rng.random(n) < 1 / (1 + np.exp(-logit))
    t = pa.table(
        {
            "user_id": np.arange(n),
            "amount": amount,
            "night": night.astype(np.int64),
            "n_tx": n_tx,
            "label": fraud.astype(np.int64),
        }
    )
    name = "gold.fraud_train"
    if not lake.tables.exists(name):
        lake.tables.create(name, data=t, description="demo training set of the tracking tour")
    return name, lake.tables.read(name), ["amount", "night", "n_tx"], "label", "label"


def _log_curve(run: Any, c: float, x: Any, y: Any, split: int) -> None:
    """A training curve for the run's charts: validation log loss after 1, 2, ... solver
    iterations (each a fresh fit stopped early; the warnings say so and are expected)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(set(y[:split])) < 2:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for step, iters in enumerate((1, 2, 3, 4, 6, 8, 11, 15, 20, 30)):
            m = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=iters)).fit(x[:split], y[:split])
            run.log_metric("val_log_loss", float(log_loss(y[split:], m.predict_proba(x[split:])[:, 1],
                                                          labels=[0, 1])), step=step)


def demo_section(lake: Lake, console: Console) -> None:
    """Train a scikit-learn model tracked as a run, register it, log predictions and print
    the lineage from the training data to the predictions."""
    console.rule("[bold]ML metadata: runs, model registry, lineage, prediction logs")
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, roc_auc_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        console.print("[dim]skipped: this tour trains a scikit-learn model; pip install scikit-learn[/dim]")
        return
    name, table, features, label, label_note = _training_table(lake)
    version = lake.tables.version(name)
    x = np.column_stack(
        [pc.cast(table.column(c), pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False) for c in features]
    )
    y = pc.cast(table.column(label), pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    split = int(len(y) * 0.8)
    console.print(
        f"training set [cyan]{name}@{version}[/cyan]: {table.num_rows:,} rows, "
        f"features {', '.join(features)}; target: {label_note}"
    )

    best: Any = None
    for c in (0.01, 0.1, 1.0):
        with lake.runs.start(experiment="fraud", name=f"logreg-C{c}", tags={"demo": "yes"}) as run:
            run.log_input(f"{name}@{version}")
            run.log_params({"model": "LogisticRegression", "C": c, "features": ",".join(features)})
            _log_curve(run, c, x, y, split)
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500))
            model.fit(x[:split], y[:split])
            proba = model.predict_proba(x[split:])[:, 1]
            auc = float(roc_auc_score(y[split:], proba)) if len(set(y[split:])) > 1 else 0.5
            run.log_metrics({"auc": auc, "accuracy": float(accuracy_score(y[split:], proba > 0.5))})
            run.log_model(model)
        if best is None or auc > best[1]:
            best = (run, auc)

    runs = lake.runs.search("tags.demo = 'yes' and experiment = 'fraud'", order_by=["metrics.auc desc"], limit=5)
    t = Table(title="lake.runs.search(\"tags.demo = 'yes'\", order_by=['metrics.auc desc'])")
    for col in ("run", "name", "status", "params.C", "metrics.auc", "metrics.accuracy"):
        t.add_column(col)
    for r in runs.to_pylist():
        t.add_row(
            r["run_id"][:12],
            r["name"],
            r["status"],
            r["params.C"],
            f"{r['metrics.auc']:.3f}",
            f"{r['metrics.accuracy']:.3f}",
        )
    console.print(t)

    mv = lake.models.register("fraud", run=best[0], description="demo logistic regression")
    lake.models.set_alias("fraud", "champion", mv.version)
    console.print(f"registered [green]{mv.ref}[/green] and set alias [bold]fraud@champion[/bold]")

    champion = lake.models.load("fraud@champion")  # checksum verified
    sample = x[:5]
    t0 = time.perf_counter()
    preds = champion.predict(sample)
    latency = (time.perf_counter() - t0) * 1000 / len(sample)
    log = lake.predictions("fraud@champion")
    log.write(
        {c: sample[:, i] for i, c in enumerate(features)},
        preds.tolist(),
        request_ids=[f"demo-{i}" for i in range(len(sample))],
        latency_ms=latency,
    )
    console.print(f"logged {len(sample)} predictions to [cyan]predictions.fraud[/cyan] (partitioned by day)")
    console.print(lake.lineage.upstream(f"predictions:fraud@{mv.version}").to_tree())
