"""A writer killed with SIGKILL: flushed metric points survive, the run stays RUNNING,
the catalog stays readable and writable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import lakebed

WRITER = textwrap.dedent(
    """
    import sys, time
    import lakebed
    lake = lakebed.connect(sys.argv[1])
    lake.runs.flush_interval = 3600
    run = lake.runs.start(experiment="crash")
    run.log_params({"lr": 0.1})
    for i in range(500):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
    lake.runs.flush()
    for i in range(500, 600):
        run.log_metric("loss", 0.0, step=i)   # buffered only: lost on SIGKILL
    print(run.id, flush=True)
    time.sleep(60)
    """
)


def test_sigkill_keeps_flushed_points(tmp_path):
    path = tmp_path / "lake"
    lakebed.connect(path).close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert run_id, "the writer died before logging"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with lakebed.connect(path) as lake:  # the kernel released the writer lock
        run = lake.runs.get(run_id)
        assert run.status == "RUNNING"
        hist = run.metric_history("loss")
        assert hist.num_rows == 500
        assert run.metrics["loss"] == 1.0 / 500
        assert run.params == {"lr": "0.1"}
        run.end("KILLED")
        assert lake.runs.list(status="KILLED").num_rows == 1
