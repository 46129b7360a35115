"""Benchmark: the web UI (``lakebed ui``) in headless Chromium, driven by Playwright.

Parts:

1. page load on the demo lake (``lakebed.demo.run_demo(quick=True)``): every page of the UI,
   loaded ``--repeats`` times, each time in a new tab of one browser context. The first load
   of a page runs in a fresh context (empty HTTP cache: the cold load), the others in the
   same context (assets cached: the warm loads, reported as a median). Measured in the page:
   navigation start -> the ``lakebed:ready`` performance mark the page sets when its main
   data is in; the navigation's domContentLoaded; requests and bytes (Resource Timing,
   counted once the page's fetches have settled); the longest main-thread task.
   Target: under 300 ms to ready per page (warm median).
2. the runs page of a lake with ``--runs`` runs (several experiments, 5 params and 4 metrics
   each, a metric history of ``--history-steps`` steps for ``--history-runs`` of them and of
   ``--long-steps`` steps for ``--long-runs`` more), built through the public API
   (``lake.runs.start(tags=...)``, ``log_params``, ``log_metrics``; the build time is
   reported). Measured: /ui/runs load to ready, the next-page control, a query typed into
   the search box, sorting by a metric (column header), selecting 10 runs and drawing their
   metric chart; from the input event's timestamp to the ready mark (or to the chart's last
   DOM change), with the JSON bytes each moved and the longest main-thread task
   (PerformanceObserver 'longtask', installed before the page's own script). The network
   log is checked: no ``/ui/api/runs`` answer holds more than 500 runs. The API alone
   (httpx, same server) is timed on the same requests so the server/browser split shows.
3. optional peer: MLflow's UI (``mlflow server``, SQLite store) with the same runs logged to
   it, its experiment page measured the same way (``--mlflow-python``, a venv with mlflow).

The server is ``lakebed ui PATH --port P`` in its own process (what a user runs); the
browser is Debian's Chromium (``--chromium``). Writes ``bench/results/ui.md``.

    /work/main/.venv/bin/python bench/ui.py                       # full size, 10,000 runs
    /work/main/.venv/bin/python bench/ui.py --runs 1000 --repeats 3   # smoke run
    /work/main/.venv/bin/python bench/ui.py --mlflow-python /work/venv-uibench/bin/python
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

HERE = Path(__file__).resolve().parent
TARGET_MS = 300.0
MAX_ITEMS = 500  # the API's largest page; the UI must never ask for more
EXPERIMENTS = ("ctr", "churn", "fraud", "ranking", "forecast")
METRICS = ("accuracy", "auc", "f1", "loss")

# Installed before any script of the page: long tasks, input timestamps, in-flight fetches.
INIT_JS = """
(() => {
  const lb = (window.__lb = { longtasks: [], inputs: [], pending: 0, lastFetchEnd: 0, lastMut: 0 });
  try { performance.setResourceTimingBufferSize(100000); } catch (e) {}
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) lb.longtasks.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (e) { lb.noLongtask = String(e); }
  for (const t of ['click', 'keydown']) addEventListener(t, (e) => lb.inputs.push([t, e.timeStamp]), true);
  const f = window.fetch;
  window.fetch = function (...a) {
    lb.pending++;
    return f.apply(this, a).finally(() => { lb.pending--; lb.lastFetchEnd = performance.now(); });
  };
})();
"""

# True once no fetch is in flight and nothing was loaded for 300 ms.
SETTLED_JS = """
() => {
  const lb = window.__lb;
  if (!lb || lb.pending > 0 || document.readyState !== 'complete') return false;
  const res = performance.getEntriesByType('resource');
  const last = Math.max(lb.lastFetchEnd, ...res.map((r) => r.responseEnd), 0);
  return performance.now() - last > 300;
}
"""

# What one page load cost, read in the page once it settled.
LOAD_JS = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const mark = performance.getEntriesByName('lakebed:ready')[0];
  const res = performance.getEntriesByType('resource');
  const api = res.filter((r) => r.name.includes('/ui/api/'));
  const sum = (xs, k) => xs.reduce((a, r) => a + (r[k] || 0), 0);
  const lts = window.__lb.longtasks;
  return {
    ready_ms: mark ? mark.startTime : null,
    dcl_ms: nav.domContentLoadedEventEnd,
    settled_ms: Math.max(0, ...res.map((r) => r.responseEnd)),
    first_fetch_ms: api.length ? Math.min(...api.map((r) => r.startTime)) : null,
    session_ms: Math.max(0, ...api.filter((r) => r.name.includes('/ui/api/session')).map((r) => r.responseEnd)),
    data_ms: (() => {
      const d = api.filter((r) => !r.name.includes('/ui/api/session') && mark && r.responseEnd <= mark.startTime);
      return d.length ? Math.max(...d.map((r) => r.responseEnd)) : null;
    })(),
    requests: 1 + res.length,
    bytes: nav.transferSize + sum(res, 'transferSize'),
    cached: res.filter((r) => r.transferSize === 0 && r.decodedBodySize > 0).length,
    api_requests: api.length,
    api_bytes: sum(api, 'encodedBodySize'),
    longest_task_ms: Math.max(0, ...lts.map((t) => t[1])),
    long_tasks: lts.length,
    no_longtask: window.__lb.noLongtask || null,
    api: api.map((r) => ({ url: r.name, ms: r.responseEnd - r.requestStart, bytes: r.encodedBodySize })),
    testid: (document.querySelector('[data-testid^="page-"]') || {}).getAttribute
      ? document.querySelector('[data-testid^="page-"]').getAttribute('data-testid') : null,
  };
}
"""

# What one interaction cost: from the last input event after index n to the newest ready
# mark (and to the chart's last DOM change when one is watched).
INTERACTION_JS = """
([n, path]) => {
  const lb = window.__lb;
  const inputs = lb.inputs.slice(n);
  const t0 = inputs.length ? inputs[inputs.length - 1][1] : null;
  const marks = performance.getEntriesByName('lakebed:ready');
  const mark = marks[marks.length - 1];
  const api = performance.getEntriesByType('resource')
    .filter((r) => r.name.includes('/ui/api/') && t0 !== null && r.startTime >= t0 - 1);
  const lts = lb.longtasks.filter((t) => t0 !== null && t[0] + t[1] >= t0);
  return {
    t0, inputs: inputs.length,
    ready_ms: mark && t0 !== null ? mark.startTime - t0 : null,
    settled_ms: api.length ? Math.max(...api.map((r) => r.responseEnd)) - t0 : null,
    data_ms: api.some((r) => new URL(r.name).pathname === path)
      ? Math.max(...api.filter((r) => new URL(r.name).pathname === path).map((r) => r.responseEnd)) - t0 : null,
    chart_ms: lb.lastMut && t0 !== null ? lb.lastMut - t0 : null,
    api_requests: api.length,
    api_bytes: api.reduce((a, r) => a + r.encodedBodySize, 0),
    api: api.map((r) => ({ url: r.name, ms: r.responseEnd - r.requestStart, bytes: r.encodedBodySize })),
    longest_task_ms: Math.max(0, ...lts.map((t) => t[1])),
    long_tasks: lts.length,
  };
}
"""

WATCH_CHART_JS = """
(sel) => {
  const el = document.querySelector(sel);
  if (!el) return false;
  window.__lb.lastMut = 0;
  new MutationObserver(() => { window.__lb.lastMut = performance.now(); })
    .observe(el, { subtree: true, childList: true, attributes: true, characterData: true });
  return true;
}
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def med(xs: list[float | None]) -> float | None:
    v = [x for x in xs if x is not None]
    return statistics.median(v) if v else None


def fmt_ms(x: float | None) -> str:
    return "n/a" if x is None else (f"{x:.1f}" if x < 100 else f"{x:.0f}")


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def wait_quiet(args: argparse.Namespace, what: str) -> None:
    """With ``--quiet-load L``: wait (at most ``--quiet-wait`` s) for the 1-minute load
    average to fall under L before ``what`` (the machine is shared)."""
    if not args.quiet_load:
        return
    deadline = time.monotonic() + args.quiet_wait
    if os.getloadavg()[0] >= args.quiet_load:
        log(f"waiting for the load average ({os.getloadavg()[0]:.1f}) to fall under {args.quiet_load} before {what}")
    while os.getloadavg()[0] >= args.quiet_load and time.monotonic() < deadline:
        time.sleep(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the runs lake ----------------------------------------------------------------------
def run_spec(i: int) -> tuple[str, str, dict[str, Any], dict[str, float]]:
    """(experiment, name, params, final metrics) of run ``i``, deterministic."""
    rnd = random.Random(i)
    exp = EXPERIMENTS[i % len(EXPERIMENTS)]
    params = {
        "lr": rnd.choice((0.3, 0.1, 0.03, 0.01, 0.003)),
        "depth": rnd.randrange(2, 12),
        "batch_size": rnd.choice((32, 64, 128, 256)),
        "optimizer": rnd.choice(("adam", "adamw", "sgd")),
        "seed": i,
    }
    q = rnd.random()
    auc = 0.6 + 0.38 * q + rnd.gauss(0, 0.01)
    metrics = {
        "accuracy": 0.55 + 0.4 * q + rnd.gauss(0, 0.01),
        "auc": min(auc, 0.999),
        "f1": 0.3 + 0.6 * q + rnd.gauss(0, 0.02),
        "loss": 0.9 - 0.8 * q + abs(rnd.gauss(0, 0.02)),
    }
    return exp, f"{exp}-{i:05d}", params, metrics


def curve(i: int, final: dict[str, float], steps: int) -> Iterator[tuple[int, dict[str, float]]]:
    """A training curve ending at ``final``: loss falls, the others rise, with noise."""
    rnd = random.Random(-1 - i)
    for step in range(steps):
        k = math.exp(-5.0 * (step + 1) / steps)
        noise = rnd.gauss(0, 0.01)
        yield step, {
            "accuracy": final["accuracy"] - 0.4 * k + noise,
            "auc": final["auc"] - 0.35 * k + noise,
            "f1": final["f1"] - 0.3 * k + noise,
            "loss": final["loss"] + 1.5 * k + abs(noise),
        }


def history_plan(n: int, n_hist: int, n_long: int) -> dict[int, str]:
    """Which runs get a history: ``n_hist`` spread evenly (the newest among them), and
    the ``n_long`` newest of those get the long one."""
    every = max(1, n // max(1, n_hist + n_long))
    picked = [n - 1 - k * every for k in range(min(n, n_hist + n_long))]
    return {i: ("long" if k < n_long else "short") for k, i in enumerate(picked)}


def build_runs_lake(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Log the runs through the public API; the fastest honest path found: tags at
    start (no extra transaction), params in one ``log_params`` call, the metrics of a step in
    one ``log_metrics`` call (buffered, written in batches of ``max_buffered`` points, the
    last ones with ``end()`` in the same transaction as the status)."""
    import lakebed

    plan = history_plan(args.runs, args.history_runs, args.long_runs)
    points = 0
    t = time.perf_counter()
    t_hist = 0.0
    with lakebed.connect(path) as lake:
        for i in range(args.runs):
            exp, name, params, final = run_spec(i)
            kind = plan.get(i)
            tags = {"team": "ml", "history": kind or "none"}
            with lake.runs.start(experiment=exp, name=name, tags=tags) as run:
                run.log_params(params)
                if kind is None:
                    run.log_metrics(final)
                    points += len(final)
                else:
                    th = time.perf_counter()
                    steps = args.long_steps if kind == "long" else args.history_steps
                    for step, values in curve(i, final, steps):
                        run.log_metrics(values, step=step)
                    points += steps * len(METRICS)
                    t_hist += time.perf_counter() - th
            if (i + 1) % 2000 == 0:
                log(f"  {i + 1:,} runs logged ({time.perf_counter() - t:.1f} s)")
    total = time.perf_counter() - t
    return {"runs": args.runs, "points": points, "build_s": total, "history_s": t_hist,
            "history_runs": sum(1 for k in plan.values() if k == "short"),
            "long_runs": sum(1 for k in plan.values() if k == "long")}


# -- servers ----------------------------------------------------------------------------
@contextlib.contextmanager
def lakebed_ui(lake: Path, logs: Path) -> Iterator[str]:
    """``lakebed ui LAKE --port P`` as a child process; yields its base URL."""
    import httpx

    port = free_port()
    exe = Path(sys.executable).with_name("lakebed")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from lakebed.cli import main; main()"]
    out = open(logs / f"lakebed-ui-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([*cmd, "ui", str(lake), "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"lakebed ui exited: {(logs / f'lakebed-ui-{port}.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/ui/api/session", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("lakebed ui did not start in 60 s")
            time.sleep(0.2)
        page = httpx.get(base + "/ui/", timeout=10)
        if page.status_code != 200:
            raise RuntimeError(f"/ui/ answers {page.status_code}: is the front end built (src/lakebed/ui/static)?")
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


# -- browser helpers ----------------------------------------------------------------------
class Watch:
    """Console errors, page errors, failed requests and /ui/api/runs answers of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.rebuilt = False  # the page met a rebuild of the front end (503, then old assets 404)
        self.runs_responses: list[Any] = []
        self.api_calls: list[tuple[str, str, str | None]] = []  # (method, url, body) for the replay
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {str(e)[:300]}"))
        page.on("requestfailed", lambda r: self._failed(r))
        page.on("response", self._response)

    def _console(self, m: Any) -> None:
        # Playwright injects INIT_JS into every frame, also the quality report's sandboxed
        # srcdoc iframe, where Chromium blocks it and says so: the benchmark's doing, not the UI's
        if m.type == "error" and "Blocked script execution in 'about:srcdoc'" not in m.text:
            self.errors.append(f"console: {m.text[:300]}")

    def errors_seen(self) -> list[str]:
        if not self.rebuilt:
            return self.errors
        return [e for e in self.errors if not any(x in e for x in ("503", "404", "/ui/assets/"))]

    def _failed(self, r: Any) -> None:
        if "net::ERR_ABORTED" not in (r.failure or ""):  # aborted on purpose (a newer request)
            self.errors.append(f"request failed: {r.url} {r.failure}")

    def _request(self, r: Any) -> None:
        if "/ui/api/" in r.url or "/mlflow/runs/search" in r.url:
            self.api_calls.append((r.method, r.url, r.post_data))

    def _response(self, r: Any) -> None:
        if r.status >= 400:
            self.errors.append(f"HTTP {r.status}: {r.request.method} {r.url}")
        if urlsplit(r.url).path.rstrip("/") == "/ui/api/runs":
            self.runs_responses.append(r)

    def runs_items(self) -> list[tuple[str, int | None]]:
        """(url, number of runs) of every /ui/api/runs answer seen (None: body gone)."""
        out = []
        for r in self.runs_responses:
            try:
                n: int | None = len(r.json()["items"])
            except Exception:
                n = None
            out.append((r.url, n))
        self.runs_responses = []
        return out


def wait_settled(page: Any, timeout: float = 30_000) -> None:
    page.wait_for_function(SETTLED_JS, timeout=timeout, polling=50)


REBUILDS: list[str] = []  # when the front end was being rebuilt (index.html gone) during a load


def goto(page: Any, url: str, watch: Watch | None = None) -> None:
    """Navigate; while the page answers 503 (the front end is being rebuilt: no index.html),
    wait for the build to come back, up to 10 minutes, and navigate again."""
    deadline = time.monotonic() + 600
    while True:
        resp = page.goto(url, wait_until="commit")
        if resp is None or resp.status != 503:
            return
        REBUILDS.append(time.strftime("%H:%M:%S"))
        if watch is not None:
            watch.rebuilt = True
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} answers 503 for 10 minutes: the front end is not built")
        time.sleep(5)


def open_page(ctx: Any, url: str, shot: Path | None = None) -> tuple[Any, Watch, dict[str, Any]]:
    """Load ``url`` in a new tab; returns (page, watch, load metrics)."""
    page = ctx.new_page()
    watch = Watch(page)
    goto(page, url, watch)
    ok = True
    try:
        page.wait_for_function("() => performance.getEntriesByName('lakebed:ready').length > 0", timeout=30_000)
    except Exception as e:
        ok = False
        watch.errors.append(f"never ready: {str(e).splitlines()[0][:200]}")
    with contextlib.suppress(Exception):
        wait_settled(page, 15_000)
    m = page.evaluate(LOAD_JS)
    m["ok"] = ok
    if shot is not None:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
    return page, watch, m


def interact(page: Any, action: Callable[[], None], *, chart: str | None = None,
             chart_response: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """Do ``action`` (real input through Playwright); wait for the new ready mark (or, with
    ``chart``, for the chart's data and then 300 ms without a DOM change in the chart)."""
    n_inputs = page.evaluate("window.__lb.inputs.length")
    n_marks = page.evaluate("performance.getEntriesByName('lakebed:ready').length")
    if chart is not None:
        if not page.evaluate(WATCH_CHART_JS, chart):
            raise RuntimeError(f"no chart {chart} on the page")
        assert chart_response is not None
        with page.expect_response(chart_response, timeout=60_000):
            action()
        page.wait_for_function(
            "() => window.__lb.lastMut > 0 && performance.now() - window.__lb.lastMut > 300", timeout=30_000,
            polling=50)
    else:
        action()
        page.wait_for_function("n => performance.getEntriesByName('lakebed:ready').length > n", arg=n_marks,
                               timeout=60_000, polling=10)
    wait_settled(page)
    path = "/ui/api/runs/metrics" if chart is not None else "/ui/api/runs"
    return page.evaluate(INTERACTION_JS, [n_inputs, path])  # type: ignore[no-any-return]


ACTIONS = {"metrics", "search", "history", "rows", "diff", "aliases"}


def route_of(url: str) -> str:
    """/ui/api/runs/abc?q=... -> /ui/api/runs/{x}: names and ids replaced by a placeholder."""
    segs = urlsplit(url).path.split("/")
    out = []
    for k, seg in enumerate(segs):
        prev = segs[k - 1] if k > 3 else ""
        named = prev in ("tables", "collections", "views", "models", "runs", "validate", "results")
        out.append("{x}" if named and seg not in ACTIONS else seg)
    return "/".join(out)


# -- part 1: the demo lake's pages ----------------------------------------------------------
def replay(base: str, calls: list[tuple[str, str, str | None]], n: int = 10) -> list[dict[str, Any]]:
    """The page's /ui/api calls again, one at a time with httpx: the server's share."""
    import httpx

    out = []
    with httpx.Client(timeout=60, headers={"content-type": "application/json"}) as c:
        for method, url, body in dict.fromkeys(calls):
            times = []
            for _ in range(n):
                t = time.perf_counter()
                r = c.request(method, url, content=body)
                times.append((time.perf_counter() - t) * 1e3)
            out.append({"route": f"{method} {route_of(url)}", "url": url, "status": r.status_code,
                        "ms": statistics.median(times), "bytes": len(r.content)})
    return out


def demo_pages(base: str) -> list[tuple[str, str, str]]:
    """(label, path, expected page test id) of every page, names filled from the lake."""
    import httpx

    c = httpx.Client(base_url=base, timeout=30)

    def items(path: str) -> list[dict[str, Any]]:
        return c.get(path).raise_for_status().json()["items"]  # type: ignore[no-any-return]

    tables = [t["name"] for t in items("/ui/api/tables?limit=500")]
    table = "silver.transactions" if "silver.transactions" in tables else tables[0]
    colls = sorted(items("/ui/api/collections"), key=lambda x: -(x.get("points") or 0))
    feats = c.get("/ui/api/features").raise_for_status().json()
    views = feats["views"]
    view = next((v["name"] for v in views if v.get("kind") == "batch"), views[0]["name"])
    runs = items("/ui/api/runs?limit=10")
    model = items("/ui/api/models")[0]
    mver = model.get("latest_version") or 1
    contracts = items("/ui/api/quality/contracts")
    qtable = contracts[0]["table"] if contracts else table
    sql = f"SELECT * FROM {table} LIMIT 200"
    return [
        ("overview", "/ui/", "page-overview"),
        ("tables", "/ui/tables", "page-tables"),
        (f"table {table}", f"/ui/tables/{quote(table)}", "page-table"),
        ("sql (empty)", "/ui/sql", "page-sql"),
        ("sql (a query)", f"/ui/sql?q={quote(sql)}", "page-sql"),
        ("collections", "/ui/collections", "page-collections"),
        (f"collection {colls[0]['name']}", f"/ui/collections/{quote(colls[0]['name'])}", "page-collection"),
        ("features", "/ui/features", "page-features"),
        (f"feature view {view}", f"/ui/features/views/{quote(view)}", "page-view"),
        ("runs", "/ui/runs", "page-runs"),
        ("run", f"/ui/runs/{runs[0]['id']}", "page-run"),
        ("compare (2 runs)", f"/ui/compare?ids={runs[0]['id']},{runs[1]['id']}", "page-compare"),
        ("models", "/ui/models", "page-models"),
        (f"model {model['name']}", f"/ui/models/{quote(model['name'])}", "page-model"),
        (f"lineage model:{model['name']}@{mver}", f"/ui/lineage?ref=model:{quote(model['name'])}@{mver}",
         "page-lineage"),
        ("quality", "/ui/quality", "page-quality"),
        (f"quality {qtable}", f"/ui/quality/{quote(qtable)}", "page-quality-table"),
    ]


def bench_pages(browser: Any, base: str, pages: list[tuple[str, str, str]], repeats: int,
                shots: Path | None) -> list[dict[str, Any]]:
    def new_ctx() -> Any:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        ctx.add_init_script(INIT_JS)
        return ctx

    out = []
    for label, path, testid in pages:
        loads: list[dict[str, Any]] = []
        errors: list[str] = []
        calls: list[tuple[str, str, str | None]] = []
        load_avg = os.getloadavg()[0]
        ctx = None
        for k in range(repeats + 1):
            if k <= 1:  # k=0: a fresh context (empty cache), the cold load; k=1: a new one, warmed, not counted
                if ctx is not None:
                    ctx.close()
                ctx = new_ctx()
            shot = shots / f"{len(out):02d}-{label.split()[0]}.png" if shots and k == repeats else None
            page, watch, m = open_page(ctx, base + path, shot)
            page.close()
            if k == 1:
                continue
            if m["testid"] != testid:
                watch.errors.append(f"rendered {m['testid']}, expected {testid}")
            errors += watch.errors_seen()
            calls = watch.api_calls
            loads.append(m)
        ctx.close()
        cold, warm = loads[0], loads[1:] or loads
        row = {
            "page": label, "path": path,
            "cold_ready_ms": cold["ready_ms"], "cold_requests": cold["requests"], "cold_bytes": cold["bytes"],
            "ready_ms": med([m["ready_ms"] for m in warm]),
            "dcl_ms": med([m["dcl_ms"] for m in warm]),
            "settled_ms": med([m["settled_ms"] for m in warm]),
            "session_ms": med([m["session_ms"] for m in warm]),
            "first_fetch_ms": med([m["first_fetch_ms"] for m in warm]),
            "data_ms": med([m["data_ms"] for m in warm]),
            "requests": med([m["requests"] for m in warm]),
            "bytes": med([m["bytes"] for m in warm]),
            "api_requests": med([m["api_requests"] for m in warm]),
            "api_bytes": med([m["api_bytes"] for m in warm]),
            "longest_task_ms": max(m["longest_task_ms"] for m in loads),
            "no_longtask": cold["no_longtask"],
            "all_ready": [m["ready_ms"] for m in loads],
            "api": [a for m in warm for a in m["api"]],
            "errors": sorted(set(errors)),
            "server": replay(base, calls),
            "load_avg": load_avg,
        }
        row["meets"] = row["ready_ms"] is not None and row["ready_ms"] < TARGET_MS and all(m["ok"] for m in loads)
        log(f"  {label:40s} warm {fmt_ms(row['ready_ms']):>6} ms  cold {fmt_ms(row['cold_ready_ms']):>6} ms  "
            f"{row['requests']:.0f} req  {fmt_bytes(row['bytes'])}  longest task {row['longest_task_ms']:.0f} ms"
            + (f"  ERRORS {row['errors']}" if row["errors"] else ""))
        out.append(row)
    return out


# -- part 2: 10,000 runs --------------------------------------------------------------------
def bench_runs_page(browser: Any, base: str, args: argparse.Namespace, shots: Path | None) -> dict[str, Any]:
    import httpx

    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_init_script(INIT_JS)
    res: dict[str, Any] = {"errors": [], "runs_answers": []}
    watches: list[Watch] = []

    def opened(url: str, shot: str | None = None) -> tuple[Any, dict[str, Any]]:
        page, watch, m = open_page(ctx, base + url, shots / shot if shots and shot else None)
        watches.append(watch)
        if not m["ok"] or m["testid"] != "page-runs":
            raise RuntimeError(f"{url}: the runs page did not get ready ({watch.errors})")
        return page, m

    def close(page: Any) -> None:
        w = watches[-1]
        res["runs_answers"] += w.runs_items()
        res["errors"] += w.errors_seen()
        page.close()

    # load: one untimed load warms the cache (the cold one is reported on its own)
    page, cold = opened("/ui/runs")
    close(page)
    loads = []
    for _ in range(args.repeats):
        page, m = opened("/ui/runs")
        loads.append(m)
        close(page)
    res["load"] = {"cold_ready_ms": cold["ready_ms"], "ready_ms": med([m["ready_ms"] for m in loads]),
                   "dcl_ms": med([m["dcl_ms"] for m in loads]), "settled_ms": med([m["settled_ms"] for m in loads]),
                   "session_ms": med([m["session_ms"] for m in loads]), "data_ms": med([m["data_ms"] for m in loads]),
                   "first_fetch_ms": med([m["first_fetch_ms"] for m in loads]),
                   "api_bytes": med([m["api_bytes"] for m in loads]), "requests": med([m["requests"] for m in loads]),
                   "bytes": med([m["bytes"] for m in loads]),
                   "longest_task_ms": max(m["longest_task_ms"] for m in loads),
                   "api": [a for m in loads for a in m["api"]]}
    log(f"  /ui/runs load: {fmt_ms(res['load']['ready_ms'])} ms (cold {fmt_ms(cold['ready_ms'])} ms)")

    deep = "/ui/runs?offset=9000&order_by=" + quote("metrics.auc DESC")
    if args.runs <= 9000:
        deep = f"/ui/runs?offset={max(0, args.runs - 100)}&order_by=" + quote("metrics.auc DESC")
    deep_loads = []
    for _ in range(args.repeats):
        page, m = opened(deep)
        deep_loads.append(m)
        close(page)
    res["deep"] = {"url": deep, "ready_ms": med([m["ready_ms"] for m in deep_loads]),
                   "api_bytes": med([m["api_bytes"] for m in deep_loads]),
                   "longest_task_ms": max(m["longest_task_ms"] for m in deep_loads)}
    log(f"  {deep} load: {fmt_ms(res['deep']['ready_ms'])} ms")

    # next page: the pager's "Next" button, repeatedly on one page
    page, _ = opened("/ui/runs", "runs-10k.png")
    nxt = []
    for _ in range(args.repeats):
        nxt.append(interact(page, lambda: page.click('[data-testid="pager-next"]')))
    res["next"] = nxt
    log(f"  next page: {fmt_ms(med([m['ready_ms'] for m in nxt]))} ms")
    close(page)

    # search: a query typed into the box, Enter; a different threshold each time
    page, _ = opened("/ui/runs")
    srch = []
    for k in range(args.repeats):
        q = f"metrics.auc > {0.90 + 0.005 * k:.3f}"
        box = page.locator('[data-testid="runs-query"]')
        box.fill("")
        box.press_sequentially(q)  # typed key by key (not timed: the clock starts at Enter)
        srch.append(interact(page, lambda: page.press('[data-testid="runs-query"]', "Enter")))
        srch[-1]["query"] = q
    res["search"] = srch
    res["search_total"] = httpx.get(base + "/ui/api/runs", params={"q": srch[0]["query"], "limit": 1}).json()["total"]
    log(f"  search: {fmt_ms(med([m['ready_ms'] for m in srch]))} ms ({res['search_total']} matches for "
        f"{srch[0]['query']})")
    close(page)

    # sort: click the "loss" column header (DESC, then ASC, ...)
    page, _ = opened("/ui/runs")
    srt = []
    header = page.locator("th.metric-col", has_text="loss")
    if header.count() == 0:
        header = page.locator("th", has_text="loss")
    for _ in range(args.repeats):
        srt.append(interact(page, lambda: header.first.click()))
    res["sort"] = srt
    log(f"  sort by loss: {fmt_ms(med([m['ready_ms'] for m in srt]))} ms")
    close(page)

    # select 10 runs (with a metric history) and draw their loss chart
    sel = []
    q = "tags.history != 'none'"
    for k in range(args.repeats):
        page, _ = opened("/ui/runs?q=" + quote(q), "runs-select.png" if k == 0 else None)
        boxes = page.locator('[data-testid="run-select"]')
        n = min(10, boxes.count())
        page.select_option('[data-testid="metric-select"]', "loss")
        wait_settled(page)
        for j in range(n - 1):
            boxes.nth(j).click()
        wait_settled(page)

        def is_all(r: Any, n: int = n) -> bool:
            u = urlsplit(r.url)
            return u.path == "/ui/api/runs/metrics" and len(parse_qs(u.query).get("ids", [""])[0].split(",")) == n

        last = boxes.nth(n - 1)
        m = interact(page, last.click, chart='[data-testid="metric-chart"]', chart_response=is_all)
        m["selected"] = n
        sel.append(m)
        if k == 0 and shots:
            page.screenshot(path=str(shots / "runs-selected.png"), full_page=True)
        close(page)
    res["select"] = sel
    log(f"  10th run selected -> chart drawn: {fmt_ms(med([m['chart_ms'] for m in sel]))} ms")
    ctx.close()

    # the API alone, same server
    ids = [it["id"] for it in httpx.get(base + "/ui/api/runs", params={"q": q, "limit": 10}).json()["items"]]
    calls = {
        "GET /ui/api/runs?limit=50 (first page)": ("/ui/api/runs", {"limit": 50}),
        "GET /ui/api/runs?limit=50&offset=50": ("/ui/api/runs", {"limit": 50, "offset": 50}),
        "GET /ui/api/runs?limit=50&offset=9000&order_by=metrics.auc DESC": (
            "/ui/api/runs",
            {"limit": 50, "offset": min(9000, max(0, args.runs - 100)), "order_by": "metrics.auc DESC"}),
        f"GET /ui/api/runs?q={srch[0]['query']}": ("/ui/api/runs", {"limit": 50, "q": srch[0]["query"]}),
        "GET /ui/api/runs?order_by=metrics.loss DESC": ("/ui/api/runs", {"limit": 50, "order_by": "metrics.loss DESC"}),
        "GET /ui/api/runs?limit=500": ("/ui/api/runs", {"limit": 500}),
        "GET /ui/api/runs/metrics (10 runs, loss, 500 points)": (
            "/ui/api/runs/metrics", {"ids": ",".join(ids), "key": "loss", "points": 500}),
        "GET /ui/api/experiments": ("/ui/api/experiments", {"limit": 500}),
        "GET /ui/api/overview": ("/ui/api/overview", {}),
    }
    api = {}
    with httpx.Client(base_url=base, timeout=60) as c:
        for label, (path, params) in calls.items():
            times, size = [], 0
            for _ in range(max(args.repeats, 15)):
                t = time.perf_counter()
                r = c.get(path, params=params)
                times.append((time.perf_counter() - t) * 1e3)
                r.raise_for_status()
                size = len(r.content)
            api[label] = {"ms": statistics.median(times), "bytes": size}
            log(f"  API {label}: {api[label]['ms']:.1f} ms, {fmt_bytes(size)}")
    res["api_alone"] = api

    counted = [n for _, n in res["runs_answers"] if n is not None]
    res["max_items"] = max(counted) if counted else None
    res["runs_answers_checked"] = len(counted)
    res["runs_answers_unreadable"] = sum(1 for _, n in res["runs_answers"] if n is None)
    res["too_big"] = [(u, n) for u, n in res["runs_answers"] if n is not None and n > MAX_ITEMS]
    res["too_big"] += [(u, None) for u, n in res["runs_answers"]
                       if n is None and int(parse_qs(urlsplit(u).query).get("limit", ["50"])[0]) > MAX_ITEMS]
    res["errors"] = sorted(set(res["errors"]))
    return res


# -- part 3 (optional): MLflow's UI as a peer ---------------------------------------------
def mlflow_build(store: Path, args: argparse.Namespace) -> dict[str, Any]:
    """(Runs inside the MLflow venv.) The same runs through MlflowClient.log_batch, its
    cheapest path (create_run + one log_batch per run, or per 1,000 points + set_terminated)."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}/mlflow.db")
    exps = {e: client.create_experiment(e, artifact_location=f"file://{store}/artifacts") for e in EXPERIMENTS}
    plan = history_plan(args.runs, args.history_runs, args.long_runs)
    t = time.perf_counter()
    for i in range(args.runs):
        exp, name, params, final = run_spec(i)
        kind = plan.get(i)
        run = client.create_run(exps[exp], run_name=name, tags={"team": "ml", "history": kind or "none"})
        now = int(time.time() * 1000)
        ps = [Param(k, str(v)) for k, v in params.items()]
        if kind is None:
            client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in final.items()], params=ps)
        else:
            steps = args.long_steps if kind == "long" else args.history_steps
            batch: list[Any] = []
            for step, values in curve(i, final, steps):
                batch += [Metric(k, v, now, step) for k, v in values.items()]
                if len(batch) >= 1000:
                    client.log_batch(run.info.run_id, metrics=batch, params=ps)
                    batch, ps = [], []
            client.log_batch(run.info.run_id, metrics=batch, params=ps)
        client.set_terminated(run.info.run_id)
        if (i + 1) % 2000 == 0:
            print(f"  mlflow: {i + 1:,} runs logged ({time.perf_counter() - t:.1f} s)", flush=True)
    return {"version": mlflow.__version__, "build_s": time.perf_counter() - t, "experiments": exps}


@contextlib.contextmanager
def mlflow_server(python: str, store: Path, logs: Path) -> Iterator[str]:
    import httpx

    port = free_port()
    exe = Path(python).with_name("mlflow")
    out = open(logs / f"mlflow-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(exe), "server", "--backend-store-uri", f"sqlite:///{store}/mlflow.db", "--default-artifact-root",
         f"file://{store}/artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(logs / f'mlflow-{port}.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start in 120 s")
            time.sleep(0.3)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its workers
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


# the first run row of a runs table (MLflow: its runs table rows; lakebed: data-testid=run-row)
ROW_JS = """
(sels) => {
  for (const s of sels) {
    const el = document.querySelector(s);
    if (el && el.getBoundingClientRect().height > 0 && /\\S/.test(el.textContent)) return performance.now();
  }
  return false;
}
"""
MLFLOW_ROWS = ['[role="grid"] [role="row"] a[href*="/runs/"]', '.ag-row a[href*="/runs/"]']
LAKEBED_ROWS = ['[data-testid="run-row"]']


def first_row_loads(browser: Any, url: str, sels: list[str], repeats: int, shot: Path | None) -> dict[str, Any]:
    """Navigation start -> the first run row with text shown, polled each frame."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_init_script(INIT_JS)
    times, bytes_, reqs, lts = [], [], [], []
    errors: list[str] = []
    calls: list[tuple[str, str, str | None]] = []
    for k in range(repeats + 1):  # the first one warms the cache and is not counted
        page = ctx.new_page()
        watch = Watch(page)
        goto(page, url, watch)
        try:
            t = page.wait_for_function(ROW_JS, arg=sels, polling="raf", timeout=60_000).json_value()
        except Exception as e:
            errors.append(f"no run row: {str(e).splitlines()[0][:200]}")
            t = None
        with contextlib.suppress(Exception):
            wait_settled(page, 20_000)
        m = page.evaluate(LOAD_JS)
        if k:
            times.append(t)
            bytes_.append(m["bytes"])
            reqs.append(m["requests"])
            lts.append(m["longest_task_ms"])
        if k == repeats and shot is not None:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(shot), full_page=False)
        errors += watch.errors_seen()
        calls = watch.api_calls
        page.close()
    ctx.close()
    return {"url": url, "first_row_ms": med(times), "requests": med(reqs), "bytes": med(bytes_),
            "longest_task_ms": max(lts) if lts else None, "errors": sorted(set(errors))[:10], "calls": calls}


def bench_mlflow(browser: Any, args: argparse.Namespace, work: Path, lake_base: str,
                 shots: Path | None) -> dict[str, Any]:
    store = work / "mlflow"
    store.mkdir(parents=True, exist_ok=True)
    log(f"MLflow: logging {args.runs:,} runs with {args.mlflow_python}")
    proc = subprocess.run([args.mlflow_python, __file__, "--worker", "mlflow-build", "--store", str(store),
                           "--runs", str(args.runs), "--history-runs", str(args.history_runs),
                           "--history-steps", str(args.history_steps), "--long-runs", str(args.long_runs),
                           "--long-steps", str(args.long_steps)],
                          capture_output=True, text=True, cwd=HERE.parent)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"the MLflow build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    built = json.loads(line[len("RESULT "):])
    log(f"  MLflow {built['version']}: built in {built['build_s']:.1f} s")
    exp = EXPERIMENTS[0]
    out: dict[str, Any] = {"version": built["version"], "build_s": built["build_s"], "experiment": exp}
    with mlflow_server(args.mlflow_python, store, work) as base:
        wait_quiet(args, "the MLflow page loads")
        out["load_avg"] = os.getloadavg()[0]
        eid = built["experiments"][exp]
        out["mlflow"] = first_row_loads(browser, f"{base}/#/experiments/{eid}/runs", MLFLOW_ROWS, args.repeats,
                                        shots / "mlflow-runs.png" if shots else None)
        # the runs/search calls its runs page made, replayed alone
        searches = [c for c in out["mlflow"].pop("calls") if c[0] == "POST"]
        alone = replay(base, searches[:1], max(args.repeats, 15)) if searches else []
        out["mlflow_api"] = [{**a, "body": (searches[0][2] or "")[:300]} for a in alone]
    log(f"  MLflow experiment page, first run row: {fmt_ms(out['mlflow']['first_row_ms'])} ms")
    out["lakebed"] = first_row_loads(browser, f"{lake_base}/ui/runs?experiment={exp}", LAKEBED_ROWS, args.repeats,
                                     None)
    out["lakebed"].pop("calls")
    log(f"  lakebed /ui/runs?experiment={exp}, first run row: {fmt_ms(out['lakebed']['first_row_ms'])} ms")
    return out


# -- the report ----------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def api_routes(rows: list[dict[str, Any]]) -> list[tuple[str, float, float, int]]:
    """(route, median ms, max ms, calls) of every /ui/api route the pages called."""
    by: dict[str, list[float]] = {}
    for a in rows:
        by.setdefault(route_of(a["url"]), []).append(a["ms"])
    return sorted(((r, statistics.median(v), max(v), len(v)) for r, v in by.items()), key=lambda x: -x[1])


def interaction_row(name: str, ms: list[dict[str, Any]], key: str = "ready_ms") -> str:
    return (f"| {name} | {fmt_ms(med([m[key] for m in ms]))} | {fmt_ms(med([m['data_ms'] for m in ms]))} | "
            f"{fmt_ms(med([m['settled_ms'] for m in ms]))} | "
            f"{fmt_bytes(med([m['api_bytes'] for m in ms]))} | {med([m['api_requests'] for m in ms]):.0f} | "
            f"{max(m['longest_task_ms'] for m in ms):.0f} |")


SLOW_API_MS = 50.0


def summary(args: argparse.Namespace, r: dict[str, Any]) -> list[str]:
    md = ["## Summary", ""]
    if "pages" in r:
        pages = r["pages"]
        ok = [p for p in pages if p["meets"]]
        by = sorted(pages, key=lambda p: p["ready_ms"] or 1e9)
        md.append(f"- page load (demo lake, warm median to ready): **{len(ok)} of {len(pages)} pages under "
                  f"{TARGET_MS:.0f} ms**; fastest {by[0]['page']} {fmt_ms(by[0]['ready_ms'])} ms, slowest "
                  f"{by[-1]['page']} {fmt_ms(by[-1]['ready_ms'])} ms, median "
                  f"{fmt_ms(med([p['ready_ms'] for p in pages]))} ms; cold loads median "
                  f"{fmt_ms(med([p['cold_ready_ms'] for p in pages]))} ms")
    if "runs" in r:
        x, b = r["runs"], r["runs_build"]

        def m(k: str, key: str = "ready_ms") -> str:
            return fmt_ms(med([e[key] for e in x[k]]))

        worst_i = max(e["longest_task_ms"] for k in ("next", "search", "sort", "select") for e in x[k])
        md.append(f"- runs page at {b['runs']:,} runs (built in {b['build_s']:.0f} s): load "
                  f"{fmt_ms(x['load']['ready_ms'])} ms, next page {m('next')} ms, search {m('search')} ms, "
                  f"sort by a metric {m('sort')} ms, "
                  f"10 runs charted {m('select', 'chart_ms')} ms (medians); longest task "
                  f"{x['load']['longest_task_ms']:.0f} ms while loading, {worst_i:.0f} ms during the interactions; "
                  f"largest `/ui/api/runs` answer {x['max_items']} runs"
                  + (" (**over the limit**)" if x["too_big"] else ""))
    slow = []
    for p in r.get("pages", []):
        slow += [(c["route"], c["ms"]) for c in p["server"] if c["ms"] > SLOW_API_MS]
    slow += [(k, v["ms"]) for k, v in r.get("runs", {}).get("api_alone", {}).items()
             if v["ms"] > SLOW_API_MS and "limit=500" not in k]
    if slow:
        best: dict[str, float] = {}
        for k, v in slow:
            best[k] = max(best.get(k, 0.0), v)
        md.append(f"- API calls over {SLOW_API_MS:.0f} ms alone on the server: "
                  + "; ".join(f"`{k}` {fmt_ms(v)} ms" for k, v in sorted(best.items(), key=lambda kv: -kv[1])))
    errs = [e for p in r.get("pages", []) for e in p["errors"]] + r.get("runs", {}).get("errors", [])
    md.append(f"- errors in the pages: {len(errs) if errs else 'none'}" + (" (listed below)" if errs else ""))
    if "mlflow" in r and "error" not in r["mlflow"]:
        mm = r["mlflow"]
        md.append(f"- peer: MLflow {mm['version']}'s runs page shows its first run row in "
                  f"{fmt_ms(mm['mlflow']['first_row_ms'])} ms, lakebed's in {fmt_ms(mm['lakebed']['first_row_ms'])} ms "
                  f"(same {args.runs:,} runs, same browser)")
    else:
        md.append("- peer: none in this run (see section 3)")
    md.append("")
    return md


def report(args: argparse.Namespace, r: dict[str, Any]) -> str:
    md = [f"# Web UI benchmark: page load and the runs page at {args.runs:,} runs", ""]
    md += [f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
           f"- machine: {machine()}; a shared 2-core VM, noisy: the browser (several processes), the server and "
           "this script share the two cores, so single numbers move by tens of percent between runs",
           f"- 1-minute load average: {r['load_before']:.1f} at the start, "
           + ", ".join(f"{k} {v:.1f}" for k, v in r.get("load_avg", {}).items())
           + f", {os.getloadavg()[0]:.1f} at the end (other sessions' work on the machine shows here)",
           f"- browser: {r.get('browser', '?')} (Debian's Chromium, headless, Playwright {r.get('playwright', '?')}), "
           "1400x900 viewport, loopback HTTP, no throttling",
           f"- server: `lakebed ui LAKE --port P` (one process, uvicorn), lakebed {r.get('lakebed', '?')}; "
           f"lakes on {args.workdir or 'the default temp dir'}",
           f"- front end build: {r.get('build_info')}"
           + ("" if r.get("build_info_end") == r.get("build_info") else
              f" at the start, {r.get('build_info_end')} at the end: **the front end was rebuilt during the run**, "
              "the numbers mix two builds")
           + (f"; pages answered 503 (build in progress) at {', '.join(sorted(set(r['rebuilds'])))} and were "
              "loaded again once it was back" if r.get("rebuilds") else ""),
           f"- parameters: {args.repeats} loads per page (the first cold, median of the rest), "
           f"{args.runs:,} runs; medians of {args.repeats} per interaction; API medians of {max(args.repeats, 15)}",
           ""]
    md += summary(args, r)
    if "pages" in r:
        pages = r["pages"]
        ok = sum(1 for p in pages if p["meets"])
        md += ["## 1. Page load on the demo lake", "",
               f"Demo lake (`run_demo(quick=True)`) built in {r['demo_build_s']:.0f} s. "
               f"**{ok} of {len(pages)} pages meet the {TARGET_MS:.0f} ms target** (warm median, navigation start to "
               "the `lakebed:ready` mark).", "",
               "| page | ready, warm median ms | meets <300 ms | ready, cold ms | DOMContentLoaded | /session answered "
               "| page data answered | slowest API call alone | requests (cold) | bytes warm (cold) | JSON bytes "
               "| longest task ms |",
               "| --- | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for p in pages:
            md.append(f"| {p['page']} | {fmt_ms(p['ready_ms'])} | {'yes' if p['meets'] else '**no**'} | "
                      f"{fmt_ms(p['cold_ready_ms'])} | {fmt_ms(p['dcl_ms'])} | {fmt_ms(p['session_ms'])} | "
                      f"{fmt_ms(p['data_ms'])} | "
                      f"{fmt_ms(max((c['ms'] for c in p['server']), default=None))} | "
                      f"{p['requests']:.0f} ({p['cold_requests']}) | {fmt_bytes(p['bytes'])} "
                      f"({fmt_bytes(p['cold_bytes'])}) | {fmt_bytes(p['api_bytes'])} | {p['longest_task_ms']:.0f} |")
        seen = {rt: (m, n) for rt, m, _, n in api_routes([a for p in pages for a in p["api"]])}
        alone: dict[str, list[dict[str, Any]]] = {}
        for p in pages:
            for c in p["server"]:
                alone.setdefault(c["route"], []).append(c)
        slow = sorted(alone.items(), key=lambda kv: -max(c["ms"] for c in kv[1]))
        def mid(k: str) -> float | None:
            return med([p[k] for p in pages])

        render = med([p["ready_ms"] - p["data_ms"] for p in pages if p["ready_ms"] and p["data_ms"]])
        md += ["", f"Where the time goes (medians over the pages, from navigation start): DOMContentLoaded (the app's "
               f"script loaded and run) {fmt_ms(mid('dcl_ms'))} ms, first /ui/api request sent "
               f"{fmt_ms(mid('first_fetch_ms'))} ms, `/session` answered "
               f"{fmt_ms(mid('session_ms'))} ms, "
               f"the page's data answered {fmt_ms(mid('data_ms'))} ms, then {fmt_ms(render)} ms to render and mark "
               f"ready ({fmt_ms(mid('ready_ms'))} ms). The same calls alone on the server take "
               f"{fmt_ms(med([max((c['ms'] for c in p['server']), default=None) for p in pages]))} ms (median of "
               "each page's slowest): most of a load is the browser and the shared CPU, not the API.", ""]
        md += ["", "The /ui/api calls these pages made, slowest first: alone = replayed one at a time with httpx "
               "(median of 10; the server's share), in the browser = Resource Timing request start to response end "
               "during the warm loads:", "",
               "| call | alone, ms | in the browser, median ms | bytes |", "| --- | ---: | ---: | ---: |"]
        for rt, cs in slow[:15]:
            worst = max(cs, key=lambda c: c["ms"])
            b_ms = seen.get(route_of(worst["url"]), (None, 0))[0]
            md.append(f"| `{rt}` | {fmt_ms(worst['ms'])} | {fmt_ms(b_ms)} | {fmt_bytes(worst['bytes'])} |")
        broke = [(p["page"], e) for p in pages for e in p["errors"]]
        md += ["", "Errors seen while loading (console errors, page errors, HTTP >= 400, wrong page): "
               + ("none." if not broke else "")]
        md += [f"- {pg}: {e}" for pg, e in broke]
        md.append("")
    if "runs" in r:
        x, b = r["runs"], r["runs_build"]
        md += [f"## 2. The runs page with {b['runs']:,} runs", "",
               f"Lake: {b['runs']:,} runs in {len(EXPERIMENTS)} experiments, 5 params, 4 metrics and 2 tags each; "
               f"a {args.history_steps}-step history of the 4 metrics for {b['history_runs']} runs and a "
               f"{args.long_steps:,}-step one for {b['long_runs']}; {b['points']:,} metric points in all. "
               f"**Built in {b['build_s']:.1f} s** through the public API ({b['history_s']:.1f} s of it in the "
               "`log_metrics` calls of the histories, before their flush): "
               "`lake.runs.start(experiment, name, tags)` (tags ride on the start, no extra transaction), "
               "one `log_params` call, one `log_metrics` call per step (buffered and written in batches, the last ones "
               "in `end()`'s transaction), `end()` by the context manager; the lake's default `fsync=\"always\"`. "
               "The API has no call that writes several runs at once, so three catalog transactions per run is the "
               "floor.", "",
               "| interaction | to ready, median ms | its data answered, ms | last API answer in, ms | JSON bytes | "
               "API calls | longest task ms |",
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        ld = x["load"]
        md.append(f"| load /ui/runs (navigation start; cold {fmt_ms(ld['cold_ready_ms'])} ms, "
                  f"DOMContentLoaded {fmt_ms(ld['dcl_ms'])} ms, first API request sent {fmt_ms(ld['first_fetch_ms'])} "
                  f"ms, /session answered {fmt_ms(ld['session_ms'])} ms) | "
                  f"{fmt_ms(ld['ready_ms'])} | {fmt_ms(ld['data_ms'])} | {fmt_ms(ld['settled_ms'])} | "
                  f"{fmt_bytes(ld['api_bytes'])} | | {ld['longest_task_ms']:.0f} |")
        md.append(f"| load `{x['deep']['url']}` (URL) | {fmt_ms(x['deep']['ready_ms'])} | | | "
                  f"{fmt_bytes(x['deep']['api_bytes'])} | | {x['deep']['longest_task_ms']:.0f} |")
        md.append(interaction_row("next page (click Next ›)", x["next"]))
        md.append(interaction_row(f"search typed in the box (`{x['search'][0]['query']}`, {x['search_total']:,} "
                                  "matches; thresholds vary per repeat), Enter", x["search"]))
        md.append(interaction_row("sort by a metric (click the `loss` header; DESC/ASC alternate)", x["sort"]))
        sel = x["select"]
        md.append(interaction_row(f"select {sel[0]['selected']} runs with a history ({b['long_runs']} of "
                                  f"{args.long_steps:,} steps, sampled to 500 points by the server): last checkbox "
                                  "click -> loss chart redrawn", sel, "chart_ms"))
        steps = ("next", "search", "sort", "select")
        worst = max([ld["longest_task_ms"], x["deep"]["longest_task_ms"]]
                    + [m["longest_task_ms"] for k in steps for m in x[k]])
        worst_i = max(m["longest_task_ms"] for k in steps for m in x[k])
        md += ["", f"Longest main-thread task: **{worst:.0f} ms** over the loads and interactions, "
               f"**{worst_i:.0f} ms** during the interactions alone "
               "(PerformanceObserver 'longtask': tasks of 50 ms or more; 0 means none reached 50 ms).", ""]
        md += [f"Network check: {x['runs_answers_checked']} `/ui/api/runs` answers read from the network log, the "
               f"largest held **{x['max_items']} runs** (limit {MAX_ITEMS}): "
               + ("**FAILED**: " + ", ".join(f"{u} ({n})" for u, n in x["too_big"]) if x["too_big"] else
                  "the page never loads all the runs.")
               + (f" ({x['runs_answers_unreadable']} answers whose body the browser no longer kept were checked by "
                  "their `limit`.)" if x["runs_answers_unreadable"] else ""), ""]
        md += ["The API alone (httpx on the same server, keep-alive, median):", "",
               "| request | ms | bytes |", "| --- | ---: | ---: |"]
        md += [f"| `{k}` | {fmt_ms(v['ms'])} | {fmt_bytes(v['bytes'])} |" for k, v in x["api_alone"].items()]
        routes = api_routes(ld["api"] + [a for k in steps for m in x[k] for a in m["api"]])
        md += ["", "The same calls seen from the browser (Resource Timing, all runs-page measurements):", "",
               "| route | median ms | max ms | calls |", "| --- | ---: | ---: | ---: |"]
        md += [f"| `{rt}` | {fmt_ms(m)} | {fmt_ms(mx)} | {n} |" for rt, m, mx, n in routes]
        md += ["", "Errors seen on the runs pages: " + ("none." if not x["errors"] else "")]
        md += [f"- {e}" for e in x["errors"][:20]]
        md.append("")
    md += ["## 3. Peer", ""]
    if "mlflow" in r and "error" not in r["mlflow"]:
        m = r["mlflow"]
        md += [f"MLflow {m['version']} UI (`mlflow server`, SQLite store, one worker) with the same {args.runs:,} runs "
               f"logged to it (MlflowClient `create_run` + `log_batch` + `set_terminated`: {m['build_s']:.0f} s; "
               f"lakebed {r['runs_build']['build_s']:.0f} s). Both measured the same way: navigation start to the "
               "first "
               f"run row with text on screen (polled each animation frame), experiment `{m['experiment']}` "
               f"({args.runs // len(EXPERIMENTS):,} runs), warm cache, median of {args.repeats}.", "",
               "| UI | first run row, median ms | requests | bytes | longest task ms |",
               "| --- | ---: | ---: | ---: | ---: |",
               f"| lakebed `/ui/runs?experiment={m['experiment']}` (50 runs a page) | "
               f"{fmt_ms(m['lakebed']['first_row_ms'])} | {m['lakebed']['requests']:.0f} | "
               f"{fmt_bytes(m['lakebed']['bytes'])} | {m['lakebed']['longest_task_ms']:.0f} |",
               f"| MLflow `#/experiments/<id>/runs` (its default page of runs) | "
               f"{fmt_ms(m['mlflow']['first_row_ms'])} | {m['mlflow']['requests']:.0f} | "
               f"{fmt_bytes(m['mlflow']['bytes'])} | {m['mlflow']['longest_task_ms']:.0f} |",
               ""]
        for a in m["mlflow_api"]:
            md += [f"MLflow's runs search alone (`{a['route']}` with the body its page sent, `{a['body']}`): "
                   f"{fmt_ms(a['ms'])} ms, {fmt_bytes(a['bytes'])} (lakebed's `GET /ui/api/runs?limit=50`: "
                   f"{fmt_ms(r['runs']['api_alone']['GET /ui/api/runs?limit=50 (first page)']['ms'])} ms).", ""]
        if m["mlflow"]["errors"]:
            md += ["MLflow page errors: " + "; ".join(m["mlflow"]["errors"][:5]), ""]
    else:
        why = r.get("mlflow", {}).get("error") if "mlflow" in r else "not run (no `--mlflow-python`)"
        md += [f"There is no peer UI in this run: {why}. MLflow's UI would be the natural one.", ""]
    md += ["## Method", "",
           "- Each page load is a new tab (`context.new_page()`, `goto(wait_until='commit')`). The cold load is the "
           "first one in a fresh browser context (empty HTTP cache, the server's first request for that page's data); "
           "then a new context is warmed with one uncounted load and the remaining loads are timed in it. index.html "
           "is "
           "`no-cache` (revalidated each time), the hashed assets `immutable` (served from the cache when warm).",
           "- ready = `performance.getEntriesByName('lakebed:ready')[0].startTime` (relative to navigation start); "
           "DOMContentLoaded = the navigation entry's `domContentLoadedEventEnd` (the app's module script has run); "
           "/session answered and page data answered = the `responseEnd` of the app's session call and of the last "
           "other /ui/api answer in before the ready mark (all times from navigation start, so ready - page data "
           "answered is the render); the page settles when no fetch has been in flight for 300 ms (what loads "
           "after ready, e.g. a chart's series, is counted in requests and bytes but not in ready); requests/bytes = "
           "the navigation plus every Resource Timing entry until then (bytes = "
           "`transferSize`, 0 for a cache hit); JSON bytes = `encodedBodySize` of the /ui/api answers.",
           "- Interactions use real input through Playwright (click, Enter). Their clock starts at the input event's "
           "`timeStamp` (a capturing listener installed before the app) and stops at the newest `lakebed:ready` mark "
           "(every change of the runs page's query re-fetches the list and marks ready again). The chart interaction "
           "stops at the last DOM change inside the chart element (ECharts, SVG renderer) after the 10-run series "
           "answer arrived, once the chart has been quiet for 300 ms. The 9 checkbox clicks before it are not timed.",
           "- Long tasks: a `PerformanceObserver({type: 'longtask', buffered: true})` set up by `add_init_script`; "
           "a task counts for an interaction when it ends after the input event.",
           "- The network check reads every `/ui/api/runs` answer the pages received (Playwright's response log) "
           "and counts its items.",
           "- The API-alone numbers are httpx requests to the same `lakebed ui` process, one at a time.", "",
           "## Caveats", "",
           "- A 2-core shared VM: the browser's renderer, GPU and network processes, the uvicorn server and the "
           "Playwright driver compete for the cores; no pinning. Treat differences under ~20% as noise.",
           "- Headless Chromium on loopback: no network latency, no throttling; a real laptop on a LAN adds the "
           "round trips (the pages make 2-5 API calls, sent together with `/session`).",
           f"- The lakes are on {args.workdir or 'the default temp dir'}"
           + (" (tmpfs), where the catalog's fsync costs nothing: on a disk the runs build takes longer (three "
              "fsynced transactions per run)." if str(args.workdir).startswith("/dev/shm") else "."),
           "- The demo lake is small; part 2 is the scale test, for the runs page only. Tables with many versions, "
           "collections with millions of points, or a lineage graph of hundreds of nodes are not measured here.",
           "- Long tasks shorter than 50 ms are invisible to the 'longtask' API.",
           "- Medians of a handful of repeats; the cold column is a single load.", ""]
    md += ["Raw results:", "", "```json", json.dumps(r["raw"], indent=1, default=str)[:60_000], "```", ""]
    return "\n".join(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10_000, help="runs in the part-2 lake")
    ap.add_argument("--history-runs", type=int, default=200)
    ap.add_argument("--history-steps", type=int, default=200)
    ap.add_argument("--long-runs", type=int, default=3)
    ap.add_argument("--long-steps", type=int, default=5_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--parts", default="pages,runs", help="comma list of pages, runs (mlflow comes with "
                    "--mlflow-python)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--mlflow-python", default="", help="a Python with mlflow installed: adds MLflow's UI as a peer")
    ap.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    ap.add_argument("--demo-lake", type=Path, help="reuse this demo lake instead of building one")
    ap.add_argument("--runs-lake", type=Path, help="reuse this runs lake instead of building one")
    ap.add_argument("--shots", type=Path, help="save screenshots of the pages here")
    ap.add_argument("--quiet-load", type=float, default=0.0, help="before each part, wait for the 1-minute load "
                    "average to fall under this (0: don't wait)")
    ap.add_argument("--quiet-wait", type=float, default=600.0, help="wait at most this long (s) for --quiet-load")
    ap.add_argument("--keep", action="store_true", help="keep the lakes (their paths are printed)")
    ap.add_argument("--out", default=str(HERE / "results" / "ui.md"))
    ap.add_argument("--worker", choices=["mlflow-build"], help=argparse.SUPPRESS)
    ap.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print("RESULT " + json.dumps(mlflow_build(args.store, args)), flush=True)
        return

    from playwright.sync_api import sync_playwright

    import lakebed
    from lakebed.ui import build_info

    if build_info() is None or not (Path(lakebed.__file__).parent / "ui" / "static" / "index.html").is_file():
        sys.exit("the front end is not built (src/lakebed/ui/static/index.html is missing): run ./scripts/build-ui")
    parts = set(args.parts.split(","))
    work = Path(tempfile.mkdtemp(prefix="lakebed-uibench-", dir=args.workdir))
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {"load_before": os.getloadavg()[0], "lakebed": lakebed.__version__,
                         "build_info": build_info(), "raw": {}, "load_avg": {}}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium)
            r["browser"] = f"Chromium {browser.version}"
            with contextlib.suppress(Exception):
                from importlib.metadata import version

                r["playwright"] = version("playwright")
            if "pages" in parts:
                demo = args.demo_lake
                r["demo_build_s"] = 0.0
                if demo is None:
                    from rich.console import Console

                    from lakebed.demo import run_demo

                    demo = work / "demo"
                    log(f"building the demo lake in {demo}")
                    t = time.perf_counter()
                    run_demo(demo, Console(file=io.StringIO()), quick=True)
                    r["demo_build_s"] = time.perf_counter() - t
                wait_quiet(args, "part 1")
                log("part 1: page loads on the demo lake")
                r["load_avg"]["pages"] = os.getloadavg()[0]
                with lakebed_ui(demo, work) as base:
                    r["pages"] = bench_pages(browser, base, demo_pages(base), args.repeats, args.shots)
                r["raw"]["pages"] = [{k: v for k, v in p.items() if k != "api"} for p in r["pages"]]
            if "runs" in parts or args.mlflow_python:
                lake = args.runs_lake
                if lake is None:
                    lake = work / "runs"
                    log(f"building the runs lake ({args.runs:,} runs) in {lake}")
                    r["load_avg"]["runs build"] = os.getloadavg()[0]
                    r["runs_build"] = build_runs_lake(lake, args)
                    log(f"  built in {r['runs_build']['build_s']:.1f} s")
                else:
                    r["runs_build"] = json.loads((lake / "uibench-build.json").read_text())
                with contextlib.suppress(OSError):
                    (lake / "uibench-build.json").write_text(json.dumps(r["runs_build"]))
                r["raw"]["runs_build"] = r["runs_build"]
                with lakebed_ui(lake, work) as base:
                    if "runs" in parts:
                        wait_quiet(args, "part 2")
                        log("part 2: the runs page")
                        r["load_avg"]["runs page"] = os.getloadavg()[0]
                        r["runs"] = bench_runs_page(browser, base, args, args.shots)
                        r["raw"]["runs"] = {k: ([{kk: vv for kk, vv in m.items() if kk != "api"} for m in v]
                                                if isinstance(v, list) and v and isinstance(v[0], dict) else v)
                                            for k, v in r["runs"].items() if k not in ("runs_answers", "load")}
                        r["raw"]["runs"]["load"] = {k: v for k, v in r["runs"]["load"].items() if k != "api"}
                    if args.mlflow_python:
                        r["load_avg"]["MLflow"] = os.getloadavg()[0]
                        try:
                            r["mlflow"] = bench_mlflow(browser, args, work, base, args.shots)
                        except Exception as e:
                            log(f"MLflow failed: {e}")
                            r["mlflow"] = {"error": f"MLflow's UI could not be measured ({str(e)[:300]})"}
                        r["raw"]["mlflow"] = r["mlflow"]
            browser.close()
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    r["build_info_end"] = build_info()
    r["rebuilds"] = REBUILDS
    md = report(args, r)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(md)
    log(f"wrote {args.out}")
    too_big = r.get("runs", {}).get("too_big")
    if too_big:
        sys.exit(f"the runs page asked for more than {MAX_ITEMS} runs: {too_big}")


if __name__ == "__main__":
    main()
