"""Benchmark lakebed's REST server against Feast's feature server and Chroma's server.

Cases (issue 7): online feature read (1 entity x 50 float64 features, 10,000 users) vs
``feast serve`` (local provider, SQLite online store), and vector search (k=10, ann-dev
dev set, cosine) vs ``chroma run``. Each server runs alone, pinned to one core; a
closed-loop async load generator (``_server_load.py``) runs in its own process pinned to
the other core, at concurrency 1, 10 and 100, bounded in time and requests. Median of
``--runs`` runs per case; correctness (feature values, recall@10) is checked over HTTP.
Prints a ratio table and writes ``bench/results/server.md``.

Run it (peers in their own venv, see requirements-server.txt) under the machine lock:

    flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/server.py
    /work/venv-sbench/bin/python bench/server.py --quick      # smoke run: 1 run, 2 s per case
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _server_data as data  # noqa: E402
import _server_procs as procs  # noqa: E402
import _server_report as report  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def setup(work: Path, rebuild: bool) -> dict[str, Any]:
    marker = work / "setup.json"
    if marker.exists() and not rebuild:
        log(f"reusing the data in {work} (--rebuild to make it again)")
        return json.loads(marker.read_text())  # type: ignore[no-any-return]
    for sub in ("lake", "feast", "chroma"):
        shutil.rmtree(work / sub, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    log("building the lakebed lake (features + collection)")
    info: dict[str, Any] = {"lakebed": data.build_lakebed(work / "lake", log)}
    log("building the Feast repo")
    info["feast"] = data.build_feast(work / "feast", log)
    log("building the Chroma database")
    info["chroma"] = data.build_chroma(work / "chroma", log)
    info = {k: {kk: round(vv, 1) for kk, vv in v.items()} for k, v in info.items()}
    marker.write_text(json.dumps(info))
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description="lakebed serve vs feast serve and chroma run, on loopback")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lakebed-sbench"), help="data and logs (not the repo)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "server.md")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (<= 60)")
    ap.add_argument("--max-requests", type=int, default=50_000, help="measured requests per run")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--concurrency", default="1,10,100")
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--client-cpus", default="1")
    ap.add_argument("--lakebed-threads", type=int, default=8, help="lakebed serve --threads")
    ap.add_argument("--systems", default="lakebed,feast,chroma")
    ap.add_argument("--profile", type=float, default=10.0, help="py-spy seconds per lakebed case (0: off)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the data even if present")
    ap.add_argument("--cores", default="100",
                    help="concurrencies of the whole-machine runs (unpinned, wrk; '' to skip)")
    ap.add_argument("--cores-duration", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 run, 2 s per case, no profile")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.duration, a.warmup, a.profile = 1, 2.0, 0.5, 0.0
    conc = [int(c) for c in a.concurrency.split(",")]
    systems = a.systems.split(",")
    work: Path = a.work
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    setup_info = setup(work, a.rebuild)
    queries, gt = data.queries()
    bodies = procs.write_bodies(work / "bodies", queries, data.N_USERS)
    truth = data.truth_matrix()

    servers = {
        "lakebed": lambda: procs.lakebed_server(work / "lake", 18765, a.lakebed_threads, logs),
        "feast": lambda: procs.feast_server(work / "feast", 18766, logs),
        "chroma": lambda: procs.chroma_server(work / "chroma", 18767, logs),
    }
    cases = {"lakebed": ["features", "search"], "feast": ["features"], "chroma": ["search"]}
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    checks: dict[str, Any] = {}
    notes: list[str] = []
    profile_md: list[str] = []

    for rnd in range(a.runs):
        for name in systems:
            server = servers[name]()
            log(f"round {rnd + 1}/{a.runs}: starting {name}")
            server.start(a.server_cpus)
            try:
                if name == "chroma":
                    procs.chroma_urls(server)
                if rnd == 0:
                    for case in cases[name]:
                        url = server.urls[case]
                        if case == "features":
                            checks[f"{name} feature values"] = procs.check_features(name, url, truth)
                        else:
                            checks[f"{name} recall@10 (all 1,000 dev queries)"] = procs.check_recall(
                                name, url, queries, gt)
                        log(f"  check {name} {case}: {list(checks.values())[-1]}")
                for case in cases[name]:
                    for c in conc:
                        r = procs.load(server, server.urls[case], bodies[f"{name}-{case}"], c, a.duration,
                                       a.max_requests, a.warmup, a.client_cpus)
                        results.setdefault((name, case, c), []).append(r)
                        log(f"  {name:8s} {case:8s} c={c:<4d} {r['throughput']:8.0f} req/s  p50 "
                            f"{r.get('p50_ms', 0):7.2f} ms  p99 {r.get('p99_ms', 0):7.2f} ms  errors {r['errors']}"
                            f"  server cpu {r['server_cpu'] * 100:.0f}%  client cpu {r['client_cpu'] * 100:.0f}%")
                        if r["errors"]:
                            notes.append(f"{name} {case} c={c}: {r['errors']} errors, first: {r['first_error']}")
                if name == "lakebed" and rnd == a.runs - 1 and a.profile > 0:
                    from _server_profile import profile_case

                    for case, c in (("features", 100), ("search", 10)):
                        log(f"  profiling lakebed {case} c={c} with py-spy ({a.profile:.0f} s)")
                        md = profile_case(server, server.urls[case], bodies[f"lakebed-{case}"], c, a.profile,
                                          work / f"profile-{case}.txt", a.client_cpus)
                        if md:
                            profile_md.append(f"### {case}, concurrency {c}\n\n{md}")
            finally:
                server.stop()

    med = {k: report.medians(v) for k, v in results.items()}
    rows = report.ratio_rows(med, conc)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(report.RATIO_HEAD)] if rows else []
    print()
    if rows:
        print("  ".join(h.ljust(w) for h, w in zip(report.RATIO_HEAD, widths, strict=True)))
        for r in rows:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    params = {"concurrency": conc, "runs": a.runs, "duration": a.duration, "max_requests": a.max_requests,
              "warmup": a.warmup, "server_cpus": a.server_cpus, "client_cpus": a.client_cpus,
              "lakebed_threads": a.lakebed_threads,
              "command": "flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/server.py "
                         + " ".join(sys.argv[1:])}
    report.write(a.out, params=params, med=med, checks=checks, profile="\n\n".join(profile_md) or None,
                 setup=setup_info, notes=notes)
    (work / "results.json").write_text(json.dumps({"|".join(map(str, k)): v for k, v in results.items()}))
    v = report.verdict(med)
    print(f"\ntargets: {v}")
    print(f"wrote {a.out}")
    if a.cores and not a.quick:
        cores(a, work)


def cores(a: argparse.Namespace, work: Path) -> None:
    """Every server on both cores with wrk as the client; appended to the report as its own
    section (the main results are already written)."""
    import _server_cores

    if not _server_cores.have_wrk():
        log("wrk is not installed (apt install wrk): whole-machine section skipped")
        return
    conc = [int(c) for c in a.cores.split(",")]
    try:
        raw = _server_cores.run(work, a.runs, conc, a.cores_duration, _server_cores.MAX_REQUESTS, a.warmup,
                                a.lakebed_threads, log)
    except Exception as exc:  # the main report stands; say what failed
        log(f"whole-machine runs failed: {exc!r}")
        return
    (work / "cores.json").write_text(json.dumps(raw))
    med = {k: report.medians(v) for k, v in raw.items()}
    report.add_cores(a.out, med, _server_cores.WHAT, a.cores_duration, a.runs, _server_cores.MAX_REQUESTS)
    log(f"whole-machine section added to {a.out}")


if __name__ == "__main__":
    main()
