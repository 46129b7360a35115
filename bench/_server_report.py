"""Medians, the ratio table and ``bench/results/server.md`` for ``bench/server.py``."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

P99_TARGET_MS = 5.0
TARGET_CONCURRENCY = 100
PEERS = {"features": "feast", "search": "chroma"}
CASE_TITLES = {"features": "online feature read, 1 entity x 50 float64 features",
               "search": "vector search, k=10, ann-dev (55,013 x 384, cosine), 1,000 queries"}


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Per-metric median over the runs of one (system, case, concurrency)."""
    keys = ["throughput", "p50_ms", "p99_ms", "p90_ms", "mean_ms", "max_ms", "server_cpu", "client_cpu", "retrans"]
    out = {k: float(statistics.median(r[k] for r in runs if k in r)) for k in keys if any(k in r for r in runs)}
    out["runs"] = len(runs)
    out["errors"] = sum(r.get("errors", 0) for r in runs)
    out["count"] = sum(r.get("count", 0) for r in runs)
    return out


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": mem,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def versions(names: Iterable[str]) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def ratio_rows(med: dict[tuple[str, str, int], dict[str, float]], concurrencies: list[int]) -> list[list[str]]:
    """One row per (case, concurrency): lakebed and peer numbers and lakebed/peer ratios."""
    rows = []
    for case, peer in PEERS.items():
        for c in concurrencies:
            lb, pe = med.get(("lakebed", case, c)), med.get((peer, case, c))
            if lb is None:
                continue
            thr_ratio = lb["throughput"] / pe["throughput"] if pe and pe.get("throughput") else None
            p99_ratio = lb["p99_ms"] / pe["p99_ms"] if pe and pe.get("p99_ms") else None
            rows.append([
                case, str(c), peer,
                _fmt(lb.get("throughput"), 0), _fmt(pe.get("throughput") if pe else None, 0),
                _fmt(thr_ratio) + ("x" if thr_ratio else ""),
                _fmt(lb.get("p50_ms")), _fmt(pe.get("p50_ms") if pe else None),
                _fmt(lb.get("p99_ms")), _fmt(pe.get("p99_ms") if pe else None),
                _fmt(p99_ratio) + ("x" if p99_ratio else ""),
            ])
    return rows


RATIO_HEAD = ["case", "conc", "peer", "lakebed req/s", "peer req/s", "thr lakebed/peer", "lakebed p50 ms",
              "peer p50 ms", "lakebed p99 ms", "peer p99 ms", "p99 lakebed/peer"]


def md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def verdict(med: dict[tuple[str, str, int], dict[str, float]]) -> dict[str, Any]:
    """The issue's targets: online-read p99 < 5 ms at 100 concurrent requests, ahead of both peers."""
    lb = med.get(("lakebed", "features", TARGET_CONCURRENCY))
    fe = med.get(("feast", "features", TARGET_CONCURRENCY))
    out: dict[str, Any] = {}
    if lb:
        out["p99_ms"] = lb["p99_ms"]
        out["p99_met"] = lb["p99_ms"] < P99_TARGET_MS
        # Closed loop, 100 requests always in flight: by Little's law mean latency = 100 / throughput,
        # and p99 >= mean, so p99 < 5 ms needs > 100 / 0.005 = 20,000 req/s from one server core.
        out["needed_throughput"] = TARGET_CONCURRENCY / (P99_TARGET_MS / 1000)
        out["throughput"] = lb["throughput"]
        out["littles_law_mean_ms"] = TARGET_CONCURRENCY / lb["throughput"] * 1000
    if lb and fe:
        out["ahead_of_feast"] = lb["throughput"] > fe["throughput"] and lb["p99_ms"] < fe["p99_ms"]
    ls = med.get(("lakebed", "search", TARGET_CONCURRENCY))
    ch = med.get(("chroma", "search", TARGET_CONCURRENCY))
    if ls and ch:
        out["ahead_of_chroma"] = ls["throughput"] > ch["throughput"] and ls["p99_ms"] < ch["p99_ms"]
    return out


def detail_rows(med: dict[tuple[str, str, int], dict[str, float]]) -> list[list[str]]:
    rows = []
    for (system, case, c), m in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
        rows.append([case, system, str(c), _fmt(m.get("throughput"), 0), _fmt(m.get("p50_ms")),
                     _fmt(m.get("p90_ms")), _fmt(m.get("p99_ms")), _fmt(m.get("mean_ms")),
                     f"{m.get('server_cpu', 0) * 100:.0f}%", f"{m.get('client_cpu', 0) * 100:.0f}%",
                     str(int(m["count"])), str(int(m["errors"]))])
    return rows


DETAIL_HEAD = ["case", "system", "conc", "req/s", "p50 ms", "p90 ms", "p99 ms", "mean ms", "server CPU",
               "client CPU", "requests (all runs)", "errors"]


def _yes(v: bool | None) -> str:
    return "-" if v is None else ("**met**" if v else "**not met**")


def write(path: Path, *, params: dict[str, Any], med: dict[tuple[str, str, int], dict[str, float]],
          checks: dict[str, Any], profile: str | None, setup: dict[str, Any], notes: list[str]) -> str:
    v = verdict(med)
    m = machine()
    vers = versions(["lakebed", "feast", "chromadb", "fastapi", "uvicorn", "uvloop", "httptools", "gunicorn",
                     "aiohttp", "httpx", "pydantic", "numpy", "pyarrow"])
    conc = params["concurrency"]
    lines = [
        "# Server benchmark: lakebed serve vs Feast feature server and Chroma server",
        "",
        f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. Generated by `bench/server.py` "
        "(re-run: see the command below).",
        "",
        "## Machine",
        f"- CPU: {m['cpu']} ({m['cores']} cores), memory {m['memory']}, {m['os']}, Python {m['python']}",
        f"- Pinning (taskset): every server on CPU {params['server_cpus']}, the load generator on CPU "
        f"{params['client_cpus']}; one server at a time, each started fresh per round. The machine is shared"
        " with other engineers; runs held `flock /tmp/lakebed-bench.lock` (no other benchmark at the same time).",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in vers.items()),
        "",
        "## What was measured",
        f"- Cases: {CASE_TITLES['features']}; {CASE_TITLES['search']}.",
        "- lakebed: `lakebed serve LAKE --threads "
        f"{params['lakebed_threads']}` (FastAPI + uvicorn, one process; uvicorn's httptools parser on the"
        " asyncio event loop, lakebed's default). Online store: the lake's default SQLite online store."
        " Collection: HNSW M=16, ef_construction=200, ef_search=64. Routes `POST /v1/features/online`,"
        " `POST /v1/collections/docs/search` (vector as a JSON list of floats).",
        "- Feast: `feast serve -w 1 --no-access-log --max-requests 0` (gunicorn + one uvicorn worker process;"
        " `--max-requests 0` turns off gunicorn's restart every 1000 requests), local provider, SQLite online"
        " store, same 10,000 users x 50 features materialized. Route `POST /get-online-features` with"
        " `{\"features\": [...50 refs], \"entities\": {\"user_id\": [id]}}`.",
        "- Chroma: `chroma run --path DIR` (Chroma's Rust server), collection with the same vectors and payload"
        " metadata, `hnsw: space=cosine, max_neighbors=16, ef_construction=200, ef_search=64`. Raw HTTP"
        " `POST /api/v2/.../collections/{id}/query` with `{\"query_embeddings\": [[...]], \"n_results\": 10,"
        " \"include\": [\"metadatas\", \"distances\"]}` (lakebed's search also returns payloads and scores).",
        f"- Load generator (`bench/_server_load.py`): its own process, aiohttp + uvloop, closed loop, concurrency"
        f" {', '.join(map(str, conc))} (one keep-alive connection per in-flight request), pre-encoded bodies"
        f" (5,000 random users / the 1,000 dev queries, same order for every system), {params['warmup']} s"
        f" warm-up not recorded, then at most {params['duration']} s and {params['max_requests']:,} requests"
        f" per run; median of {params['runs']} runs per case (rounds interleave the systems).",
        f"- Setup (not timed in the results): {setup}",
        "",
        "## Correctness (through each server's HTTP API)",
    ]
    for k, val in checks.items():
        lines.append(f"- {k}: {val}")
    lines += [
        "",
        "## Ratios (medians; thr ratio > 1 and p99 ratio < 1 favour lakebed)",
        "",
        md_table(RATIO_HEAD, ratio_rows(med, conc)),
        "",
        "## All medians",
        "",
        "Server CPU = CPU seconds of the server process tree / wall time of the load process (warm-up"
        " included); 100% = the pinned core is saturated. Client CPU near 100% would mean the load"
        " generator was the limit.",
        "",
        md_table(DETAIL_HEAD, detail_rows(med)),
        "",
        "## Targets of issue 7",
    ]
    if "p99_ms" in v:
        lines += [
            f"- Online-read p99 under 5 ms at {TARGET_CONCURRENCY} concurrent requests: measured"
            f" {v['p99_ms']:.2f} ms -> {_yes(v['p99_met'])}.",
            f"  With a closed loop of {TARGET_CONCURRENCY} requests always in flight, Little's law gives mean"
            f" latency = {TARGET_CONCURRENCY} / throughput, and p99 >= mean: p99 < 5 ms needs more than"
            f" {v['needed_throughput']:,.0f} req/s from the one server core. Measured {v['throughput']:,.0f} req/s"
            f" (so mean >= {v['littles_law_mean_ms']:.1f} ms at {TARGET_CONCURRENCY} in flight).",
        ]
        for c in conc:
            lb = med.get(("lakebed", "features", c))
            if lb and c != TARGET_CONCURRENCY:
                lines.append(f"  At concurrency {c}: p99 {lb['p99_ms']:.2f} ms, {lb['throughput']:,.0f} req/s"
                             f" -> p99 < 5 ms {'yes' if lb['p99_ms'] < P99_TARGET_MS else 'no'}.")
    lines.append(f"- Online reads ahead of Feast (throughput and p99 at {TARGET_CONCURRENCY}):"
                 f" {_yes(v.get('ahead_of_feast'))}.")
    lines.append(f"- Vector search ahead of Chroma (throughput and p99 at {TARGET_CONCURRENCY}):"
                 f" {_yes(v.get('ahead_of_chroma'))}.")
    if notes:
        lines += ["", "## Notes", *[f"- {n}" for n in notes]]
    if profile:
        lines += ["", "## Where lakebed's server spends its time (py-spy)", "", profile]
    lines += ["", "## Re-run", "", "```", params["command"], "```", ""]
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def add_cores(path: Path, med: dict[str, dict[str, float]], what: dict[str, str], duration: float, runs: int,
              max_requests: int) -> None:
    """Insert (or replace) the whole-machine section before the profile/re-run sections."""
    rows = []
    order = {n: i for i, n in enumerate(what)}
    for key, m in sorted(med.items(), key=lambda kv: (kv[0].split("|")[1], int(kv[0].split("|")[2]),
                                                      order.get(kv[0].split("|")[0], 99))):
        name, case, c = key.split("|")
        rows.append([case, c, name, what.get(name, name), _fmt(m.get("throughput"), 0), _fmt(m.get("p50_ms")),
                     _fmt(m.get("p99_ms")), _fmt(m.get("max_ms")), f"{m.get('server_cpu', 0) * 100:.0f}%",
                     str(int(m.get("retrans", 0))), str(int(m["errors"]))])
    feat = {k.split("|")[0]: v for k, v in med.items() if k.split("|")[1:] == ["features", "100"]}
    lines = []
    if "lakebed-w2" in feat and "asgi-empty-p2" in feat:
        lb, ceil = feat["lakebed-w2"], feat["asgi-empty-p2"]
        lines = [
            f"- Online reads at 100 concurrent, both cores: `lakebed serve --workers 2` p99 {lb['p99_ms']:.2f} ms at"
            f" {lb['throughput']:,.0f} req/s; the bare ASGI app that reads nothing: p99 {ceil['p99_ms']:.2f} ms at"
            f" {ceil['throughput']:,.0f} req/s. The 5 ms target "
            + ("is met." if lb["p99_ms"] < 5 else
               "is not met" + (", and not even the empty Python app meets it here." if ceil["p99_ms"] >= 5 else
                               f" (the empty Python app is {ceil['p99_ms'] / lb['p99_ms']:.2f}x lakebed's p99).")),
        ]
        if "lakebed-w1" in feat:
            one = feat["lakebed-w1"]
            lines.append(f"- Read workers: `--workers 2` serves {lb['throughput'] / one['throughput']:.2f}x the online"
                         f" reads of one process ({one['throughput']:,.0f} req/s, p99 {one['p99_ms']:.2f} ms).")
    section = "\n".join([
        "## The whole machine: both cores shared, wrk as the load generator",
        "",
        "Servers and the load generator unpinned on both cores, as on a small production host;"
        " the load generator is wrk (C, one thread, keep-alive connections), so the client is not the limit."
        f" {duration:g} s (at most {max_requests:,} requests) per run after a warm-up, median of {runs} runs;"
        " rounds interleave the systems. `retrans` counts TCP segments the kernel retransmitted on loopback"
        " during the run (mostly spurious tail-loss probes, acknowledged by D-SACK). lakebed runs uvicorn on"
        " the asyncio event loop (its default since 2026-11-30): under uvloop, single-process searches here had"
        " 1-2 s outliers in 3 runs of 4 while the server's own timing of the same requests, from request parsed"
        " to answer sent, stayed under 125 ms.",
        "",
        md_table(["case", "conc", "server", "what", "req/s", "p50 ms", "p99 ms", "max ms", "server CPU", "retrans",
                  "errors"], rows),
        "",
        *lines,
        "",
    ])
    text = path.read_text()
    start = text.find("## The whole machine")
    if start >= 0:
        end = text.find("\n## ", start + 3)
        text = text[:start] + text[end + 1:] if end >= 0 else text[:start]
    anchor = text.find("## Where lakebed's server")
    if anchor < 0:
        anchor = text.find("## Re-run")
    text = text[:anchor] + section + "\n" + text[anchor:] if anchor >= 0 else text + "\n" + section
    path.write_text(text)
