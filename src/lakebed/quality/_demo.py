"""The quality part of ``lakebed demo``: monitor the champion model's served inputs
against its training set (found through lineage) and write the drift report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from lakebed.lake import Lake


def demo_section(lake: Lake, console: Console) -> None:
    """Serve a shifted week of traffic to ``fraud@champion``, log it, and compare what the
    model saw in production with what it was trained on."""
    if "fraud" not in {m["name"] for m in lake.models.list()}:
        console.print("[dim]skipped: no fraud model (the tracking tour registers it)[/dim]")
        return
    log = lake.predictions("fraud@champion")
    logged = log.read()
    features = [c[len("input_"):] for c in logged.column_names if c.startswith("input_")]
    name, version = lake.lineage.training_set_of(f"model:{log.name}@{log.version}")
    train = lake.tables.read(name, version=version, columns=features)
    rng = np.random.default_rng(11)
    n = min(1_500, train.num_rows)
    rows = rng.choice(train.num_rows, n, replace=True)
    served = {c: pc.cast(train.column(c), pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)[rows]
              for c in features}
    # production drifted: a promotion doubled what some customers spend per order
    shifted = features[1] if len(features) > 1 else features[0]
    served[shifted] = served[shifted] * np.where(rng.random(n) < 0.5, 2.0, 1.0)
    model = lake.models.load("fraud@champion")
    preds = model.predict(np.column_stack([served[c] for c in features]))
    log.write(served, preds.tolist(), request_ids=[f"prod-{i}" for i in range(n)])
    console.print(f"served {n:,} requests to [green]{escape(f'{log.name}@{log.version}')}[/green]; "
                  f"{escape(shifted)} shifted upward for half of them")

    monitor = lake.quality.monitor("fraud@champion")
    rep = monitor.drift
    verdict = "[red]drift detected[/red]" if rep.drifted else "[green]no drift[/green]"
    t = Table(title=f"lake.quality.monitor('fraud@champion'): {escape(rep.reference)} vs served inputs: {verdict}")
    for col in ("column", "test", "score", "threshold", "verdict"):
        t.add_column(col)
    for c in rep.columns:
        t.add_row(escape(c.column), c.method, f"{c.score:.4g}" if c.score is not None else "",
                  f"{c.threshold:g}", "[red]drifted[/red]" if c.drifted else "[green]ok[/green]")
    console.print(t)
    console.print(f"{rep.drifted_columns} of {len(rep.columns)} columns drifted; the dataset counts as drifted "
                  f"from {rep.threshold:.0%} of its columns")
    path = lake.path / "reports" / "fraud-monitoring.html"
    path.parent.mkdir(exist_ok=True)
    lake.quality.report(drift=monitor, title="fraud@champion: served inputs vs training set", path=path)
    console.print(f"drift report with plots: [bold]{path}[/bold] (one HTML file; open it in a browser)")
