"""Tables, ratios and target checks of ``bench/vectors.py``; writes ``bench/results/vectors.md``."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from _vectors_common import FILTERS, TARGET_RECALL

LAKEBED = ["lakebed-hnsw", "lakebed-hnsw-int8", "lakebed-ivf_pq"]
PEERS = ["faiss-hnsw", "faiss-hnsw-int8", "faiss-ivf_pq", "hnswlib", "chroma", "lancedb", "qdrant-local"]
PACKAGES = ["lakebed", "faiss-cpu", "numpy", "hnswlib", "chromadb", "lancedb", "qdrant-client", "psutil",
            "pyarrow"]
MiB = 2**20


def machine_info() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        pass
    vers = []
    for p in PACKAGES:
        try:
            vers.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            vers.append(f"{p} (absent)")
    commit = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent.parent), "rev-parse", "--short",
                                 "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": ", ".join(vers),
        "lakebed commit": commit,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
    }


def load_results(cache: Path, quick: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    suffix = ".quick.json" if quick else ".json"
    for name in LAKEBED + PEERS:
        f = cache / f"{name}{suffix}"
        if f.exists():
            out[name] = json.loads(f.read_text())
    return out


def _get(r: dict[str, Any], *path: str) -> Any:
    cur: Any = r
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _f(x: Any, fmt: str = "{:,.0f}") -> str:
    return "—" if x is None else fmt.format(x)


def _mem_in_stats(stats: Any) -> int | None:
    """lakebed's own 'bytes in memory' figure from col.stats(), whatever the key is called."""
    if not isinstance(stats, dict):
        return None
    for k, v in stats.items():
        if "memory" in k.lower() and isinstance(v, int | float):
            return int(v)
    for v in stats.values():
        if isinstance(v, dict):
            m = _mem_in_stats(v)
            if m is not None:
                return m
    return None


def serve_rss(r: dict[str, Any]) -> int | None:
    q = r.get("query")
    if not q:
        return None
    return int(q["rss_end"] - q["rss_before_open"])


def serve_anon(r: dict[str, Any]) -> int | None:
    """Growth of anonymous memory (RSS without file-backed, memory-mapped pages)."""
    q = r.get("query")
    if not q or "anon_end" not in q or not q.get("anon_before_open"):
        return None
    return int(q["anon_end"] - q["anon_before_open"])


def qps_at_target(r: dict[str, Any]) -> float | None:
    """Single-query QPS at the reported point if that point reaches the target recall."""
    rec = _get(r, "query", "single", "recall")
    if rec is None or rec < TARGET_RECALL:
        return None
    return float(r["query"]["single"]["qps"])


SAME_RECALL = 0.005  # recall@10 differences below this (5 hits in 1,000 queries) count as equal


def faiss_at_recall(r: dict[str, Any], recall: float) -> tuple[float, float, Any] | None:
    """(QPS, recall, knob) of raw FAISS at the cheapest point reaching ``recall`` (within
    ``SAME_RECALL``): its reported point when that does, else the smallest swept efSearch
    that does (None if none)."""
    single = _get(r, "query", "single")
    if single and single["recall"] >= recall - SAME_RECALL:
        return float(single["qps"]), float(single["recall"]), r["query"].get("knob_value")
    for s in sorted(_get(r, "query", "sweep") or [], key=lambda s: s["value"]):
        if s["recall"] >= recall - SAME_RECALL:
            return float(s["qps"]), float(s["recall"]), s["value"]
    return None


def unfiltered_table(res: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| system | knob | recall@10 | single QPS | p50 ms | p99 ms | batch QPS | build s | disk MiB "
        "| build peak RSS MiB | serving RSS MiB | serving anon MiB | reopen s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in res.items():
        if "error" in r and "query" not in r:
            lines.append(f"| {name} | failed: {r['error'][:120].replace('|', '/')} |" + " |" * 11)
            continue
        q = r.get("query", {})
        b = r.get("build", {})
        s = q.get("single", {})
        knob = f"{q.get('knob')}={q.get('knob_value')}" if q.get("knob") else "—"
        n_note = f" (n={s.get('n')})" if s.get("n") and s.get("n") != q.get("n_queries") else ""
        lines.append(
            f"| {name} | {knob} | {_f(s.get('recall'), '{:.4f}')} | {_f(s.get('qps'))}{n_note} "
            f"| {_f(s.get('p50_ms'), '{:.2f}')} | {_f(s.get('p99_ms'), '{:.2f}')} "
            f"| {_f(_get(q, 'batch', 'qps'))} | {_f(b.get('build_s'), '{:.1f}')} "
            f"| {_f(b.get('disk_bytes', 0) / MiB, '{:.1f}')} | {_f(b.get('build_peak_rss', 0) / MiB)} "
            f"| {_f((serve_rss(r) or 0) / MiB)} | {_f((serve_anon(r) or 0) / MiB)} "
            f"| {_f(q.get('reopen_s'), '{:.2f}')} |"
        )
    return lines


def filtered_table(res: dict[str, dict[str, Any]]) -> list[str]:
    head = "| system |" + "".join(f" {f} recall | {f} QPS | {f} short |" for f in FILTERS)
    lines = [head, "|---|" + "---|---|---|" * len(FILTERS)]
    for name, r in res.items():
        fl = _get(r, "query", "filtered")
        if not fl:
            continue
        cells = []
        for f in FILTERS:
            e = fl.get(f, {})
            if "error" in e:
                cells.append(f" error: {e['error'][:60].replace('|', '/')} | — | — |")
                continue
            n_note = f" (n={e['n']})" if e.get("n") and e["n"] != r["query"]["n_queries"] else ""
            cells.append(f" {_f(e.get('recall'), '{:.4f}')} | {_f(e.get('qps'))}{n_note} | {e.get('short', '—')} |")
        lines.append(f"| {name} |" + "".join(cells))
    return lines


def sweep_tables(res: dict[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for name, r in res.items():
        sw = _get(r, "query", "sweep")
        if not sw:
            continue
        lines += [f"**{name}** ({r['query']['knob']}; chosen: {r['query']['knob_value']})", "",
                  "| value | recall@10 | single QPS | p50 ms |", "|---|---|---|---|"]
        for s in sw:
            lines.append(f"| {s['value']} | {s['recall']:.4f} | {s['qps']:,.0f} | {s['p50_ms']:.3f} |")
        lines.append("")
    return lines


def ratio_table(res: dict[str, dict[str, Any]]) -> list[str]:
    peers = [p for p in PEERS if p in res]
    lines = ["| lakebed config | " + " | ".join(f"÷ {p}" for p in peers) + " |",
             "|---|" + "---|" * len(peers)]
    for lb in LAKEBED:
        if lb not in res:
            continue
        mine = _get(res[lb], "query", "single", "qps")
        cells = []
        for p in peers:
            theirs = _get(res[p], "query", "single", "qps")
            cells.append("—" if not mine or not theirs else f"{mine / theirs:.2f}x")
        lines.append(f"| {lb} (single QPS) | " + " | ".join(cells) + " |")
    return lines


def target_checks(res: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(target, verdict, evidence) rows for the issue's targets."""
    rows: list[tuple[str, str, str]] = []
    lbs = [x for x in LAKEBED if x in res and "query" in res[x]]
    if not lbs:
        return [("all lakebed targets", "not measured", "lakebed's engine was not usable for this run")]
    faiss_qps = _get(res.get("faiss-hnsw", {}), "query", "single", "qps")
    faiss_rec = _get(res.get("faiss-hnsw", {}), "query", "single", "recall")
    for lb in lbs:
        q = res[lb]["query"]
        recs = {"unfiltered": q["single"]["recall"]}
        for f in FILTERS:
            recs[f] = _get(q, "filtered", f, "recall")
        ok = all(v is not None and v >= TARGET_RECALL for v in recs.values())
        ev = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} —" for k, v in recs.items())
        rows.append((f"{lb}: recall@10 >= 0.95 unfiltered and filtered", "met" if ok else "NOT met", ev))
    for lb in lbs:
        mine = res[lb]["query"]["single"]
        if faiss_qps:
            # raw FAISS at the same recall: its cheapest swept efSearch reaching lakebed's recall
            # (its reported point when that one already does)
            same = faiss_at_recall(res["faiss-hnsw"], mine["recall"])
            f_qps, f_rec, f_knob = same if same else (faiss_qps, faiss_rec, None)
            ratio = mine["qps"] / f_qps
            ok = ratio >= 0.8 and mine["recall"] >= TARGET_RECALL and f_rec >= mine["recall"] - SAME_RECALL
            where = f"ef={f_knob}, " if f_knob is not None else ""
            rows.append((f"{lb}: single QPS >= 0.8x raw FAISS at the same recall", "met" if ok else "NOT met",
                         f"{mine['qps']:,.0f} vs {f_qps:,.0f} QPS = {ratio:.2f}x (recall {mine['recall']:.3f}"
                         f" vs FAISS {where}recall {f_rec:.3f})"))
            fl = res[lb]["query"].get("filtered", {})
            parts, ok = [], True
            for f in FILTERS:
                fq = _get(fl, f, "qps")
                if fq is None:
                    ok = False
                    parts.append(f"{f} —")
                    continue
                parts.append(f"{f} {fq:,.0f} ({fq / faiss_qps:.2f}x)")
                ok = ok and fq >= 0.5 * faiss_qps
            rows.append((f"{lb}: filtered single QPS >= 0.5x raw FAISS unfiltered", "met" if ok else "NOT met",
                         ", ".join(parts)))
    kernels = {"lakebed-hnsw": "faiss-hnsw", "lakebed-hnsw-int8": "faiss-hnsw-int8", "lakebed-ivf_pq": "faiss-ivf_pq"}
    for lb in lbs:
        kern = kernels.get(lb)
        if kern not in res or "query" not in res[kern]:
            continue
        mine = res[lb]["query"]["single"]
        same = faiss_at_recall(res[kern], mine["recall"])
        if same is None:
            continue
        k_qps, k_rec, k_knob = same
        ratio = mine["qps"] / k_qps
        rows.append((f"{lb}: single QPS >= 0.8x its own raw FAISS kernel ({kern}) at the same recall",
                     "met" if ratio >= 0.8 else "NOT met",
                     f"{mine['qps']:,.0f} vs {k_qps:,.0f} QPS = {ratio:.2f}x (recall {mine['recall']:.3f} vs "
                     f"{kern} {res[kern]['query'].get('knob')}={k_knob}, recall {k_rec:.3f})"))
        own = res[kern]["query"]["single"]["qps"]
        fl = res[lb]["query"].get("filtered", {})
        fqs = {f: _get(fl, f, "qps") for f in FILTERS}
        ok = all(v is not None and v >= 0.5 * own for v in fqs.values())
        rows.append((f"{lb}: filtered single QPS >= 0.5x its own raw FAISS kernel ({kern}) unfiltered",
                     "met" if ok else "NOT met",
                     ", ".join(f"{f} {v:,.0f} ({v / own:.2f}x)" if v is not None else f"{f} —"
                               for f, v in fqs.items()) + f" vs {kern} {own:,.0f} QPS"))
    for lb in lbs:
        mine = qps_at_target(res[lb])
        for p in ("chroma", "lancedb", "qdrant-local"):
            if p not in res or "query" not in res[p]:
                rows.append((f"{lb}: ahead of {p} at recall >= 0.95", "not measured", f"{p} did not run"))
                continue
            theirs = qps_at_target(res[p])
            if mine is None:
                verdict, ev = "NOT met", "lakebed below 0.95 recall"
            elif theirs is None:
                verdict = "met"
                prec = res[p]["query"]["single"]["recall"]
                ev = f"{p} does not reach 0.95 (recall {prec:.3f}); lakebed {mine:,.0f} QPS"
            else:
                verdict = "met" if mine > theirs else "NOT met"
                ev = f"{mine:,.0f} vs {theirs:,.0f} QPS ({mine / theirs:.1f}x)"
            rows.append((f"{lb}: ahead of {p} at recall >= 0.95", verdict, ev))
    if "lakebed-hnsw-int8" in res and "lakebed-hnsw" in res and "query" in res["lakebed-hnsw-int8"] \
            and "query" in res["lakebed-hnsw"]:
        i8, f32 = res["lakebed-hnsw-int8"], res["lakebed-hnsw"]
        m_i8, m_f32 = _mem_in_stats(i8["query"].get("stats")), _mem_in_stats(f32["query"].get("stats"))
        r_i8, r_f32 = serve_rss(i8), serve_rss(f32)
        rec = i8["query"]["single"]["recall"]
        parts = []
        verdict = "not measured"
        if m_i8 and m_f32:
            ratio = m_i8 / m_f32
            verdict = "met" if ratio <= 0.35 and rec >= TARGET_RECALL else "NOT met"
            parts.append(f"stats() bytes in memory {m_i8 / MiB:.1f} vs {m_f32 / MiB:.1f} MiB = {ratio:.2f}x")
        if r_i8 and r_f32:
            parts.append(f"serving RSS growth {r_i8 / MiB:.1f} vs {r_f32 / MiB:.1f} MiB = {r_i8 / r_f32:.2f}x")
            if verdict == "not measured":
                verdict = "met" if r_i8 / r_f32 <= 0.35 and rec >= TARGET_RECALL else "NOT met"
        a_i8, a_f32 = serve_anon(i8), serve_anon(f32)
        if a_i8 is not None and a_f32 is not None:
            parts.append(f"serving anon growth {a_i8 / MiB:.1f} vs {a_f32 / MiB:.1f} MiB")
        parts.append(f"int8 recall {rec:.3f}")
        rows.append(("int8 memory <= 0.35x float32 with recall >= 0.95", verdict, "; ".join(parts)))
    return rows


def scale_section(cache: Path) -> list[str]:
    f = cache / "scale.json"
    if not f.exists():
        return ["Not run yet (`python bench/vectors.py --scale`)."]
    r = json.loads(f.read_text())
    if "error" in r:
        return [f"The scale run failed: {r['error']}"]
    b, q = r.get("build", {}), r.get("query", {})
    return [
        f"{r['n']:,} synthetic {r['dim']}-d vectors ({r['generator']}), lakebed index {r['index']} "
        f"quantization {r.get('quantization')}; date {r.get('date')}.",
        "",
        "| build s | upsert s | flush s | disk MiB | build peak RSS MiB | reopen s | serving peak RSS MiB "
        "| serving RSS growth MiB | serving anon growth MiB "
        "| single QPS | p50 ms | p99 ms | recall@10 vs brute force (100 queries) | knob |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {_f(b.get('build_s'), '{:.0f}')} | {_f(b.get('upsert_s'), '{:.0f}')} | {_f(b.get('flush_s'), '{:.0f}')} "
        f"| {_f(b.get('disk_bytes', 0) / MiB)} | {_f(b.get('peak_rss', 0) / MiB)} "
        f"| {_f(q.get('reopen_s'), '{:.2f}')} | {_f(q.get('peak_rss', 0) / MiB)} "
        f"| {_f((q.get('rss_end', 0) - q.get('rss_before_open', 0)) / MiB)} "
        f"| {_growth(q, 'anon')} | {_f(q.get('qps'))} "
        f"| {_f(q.get('p50_ms'), '{:.2f}')} | {_f(q.get('p99_ms'), '{:.2f}')} | {_f(q.get('recall'), '{:.4f}')} "
        f"| {q.get('knob')} |",
        "",
        f"First (cold) pass after reopen: {_f(q.get('cold_qps'))} QPS (the mapped segment files are read "
        "from disk as the searches touch them); QPS above is the warm pass. "
        f"Filtered search (`bucket < 5`, 5% of rows): the first, after the warm pass, "
        f"{_f(q.get('filtered_5pct_ms'), '{:.1f}')} ms (builds the filter bitmap from the stored payload-index "
        "column and pages in the matching rows' vectors)"
        + (f"; the next 50 queries with the same filter: median {q['filtered_repeat_ms']:.2f} ms "
           f"(plan `{q.get('filtered_plan')}`). " if q.get("filtered_repeat_ms") is not None else ". ")
        + "Peak RSS includes the benchmark's own copy of one generation chunk and the brute-force ground "
        "truth; the growth columns are measured from just before the open to the end. "
        + (f"The build ends with `col.vacuum()`: {_f(b['disk_before_vacuum'] / MiB)} MiB on disk before it "
           "(older versions' segments kept for time travel). " if b.get("disk_before_vacuum") else "")
        + "The machine has 24 GiB.",
    ]


def _growth(q: dict[str, Any], what: str) -> str:
    end, start = q.get(f"{what}_end"), q.get(f"{what}_before_open")
    return _f((end - start) / MiB) if end is not None and start else "—"


def write_report(cache: Path, out: Path, quick: bool = False) -> str:
    res = load_results(cache, quick)
    info = machine_info()
    status = cache / "lakebed-status.json"
    lines = ["# Vector search benchmark (`bench/vectors.py`)", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             + (" — QUICK smoke run (subset)" if quick else ""), ""]
    lines += ["## Machine", ""] + [f"- {k}: {v}" for k, v in info.items()] + [""]
    any_r = next(iter(res.values()), {})
    nb = _get(any_r, "query", "n_base")
    nq = _get(any_r, "query", "n_queries")
    lines += [
        "## Dataset and method", "",
        f"- `../shared/datasets/ann-dev`: {nb} base vectors (MiniLM, 384-d, float16 upcast to float32), "
        f"{nq} queries; ground truth exact top-10 by inner product (= cosine).",
        "- Filters: " + "; ".join(f"{k}: `{v['text']}`" for k, v in FILTERS.items())
        + " (selectivity 1.2%, 10%, 50%). Recall for a filtered set is against that set's exact filtered top-10.",
        "- Each system runs in two fresh subprocesses: *build* (insert + index + persist; build time, peak RSS "
        "of the process, disk size) and *query* (reopen, then every measurement). *Serving RSS* = RSS after "
        "all queries minus RSS before opening (dataset and imports excluded); *serving anon* = the same for "
        "anonymous memory only (Linux `RssAnon`: without the pages of memory-mapped files, which lakebed uses "
        "for sealed segments and the kernel can evict). lakebed's build ends with `col.vacuum()` (the seals "
        "and merges of the build leave older versions' segments for time travel until then).",
        "- Single QPS ratios to raw FAISS *at the same recall* compare with FAISS's cheapest swept efSearch "
        f"that reaches lakebed's recall (within {SAME_RECALL}).",
        "- Single-query QPS: one query at a time over all queries, median of up to 5 repeats; p50/p99 from "
        "the median repeat. Batch QPS: all queries in one call (median of 3). Slow systems are measured on the "
        "first queries that fit a 60–90 s budget (`n=` says how many).",
        "- Rounds: lakebed and its kernels (the FAISS configurations, hnswlib) run in interleaved rounds "
        "(`--rounds`, each round a fresh build and query process per system, in the same order), so that a "
        "slow stretch of the shared machine hits lakebed and the kernels alike; their single, batch, filtered "
        "and sweep QPS are the medians over the rounds (per-round single QPS in the notes), latencies come "
        "from the median round. Chroma, LanceDB and Qdrant run once.",
        "- Threads: FAISS `omp_set_num_threads(1)` for single-query timing and 2 for batch, in raw FAISS and in "
        "lakebed (whose kernel is FAISS); hnswlib num_threads 1/2; Chroma, LanceDB, Qdrant: their defaults.",
        f"- Knobs (ef / nprobe / ef_search / nprobes+refine) are swept and the smallest value reaching recall "
        f"{TARGET_RECALL} is reported (sweep tables below); filtered searches use the same value.",
        "- Build parameters: HNSW M=16, efConstruction=200 everywhere it applies (FAISS, hnswlib, Chroma, "
        "lakebed); lakebed ivf_pq nlist=1024 m=48 nbits=8; LanceDB IVF_PQ defaults, metric cosine.",
        "- The machine (2 cores) is shared: benchmarks are serialized by `/tmp/lakebed-bench.lock`, but other "
        "engineers' tests may run concurrently, so single-query QPS can move by tens of percent between runs.",
        "- raw FAISS filtered = `SearchParametersHNSW(sel=IDSelectorBitmap)` at the same efSearch (the kernel "
        "alone, no planner): the 1% row shows its collapse. hnswlib filtered = its Python filter callback.",
        "",
    ]
    if status.exists() and not any(n in res for n in LAKEBED):
        lines += [f"**lakebed was not measured**: {json.loads(status.read_text()).get('why')}", ""]
    lines += ["## Unfiltered", "", *unfiltered_table(res), ""]
    lines += ["## Filtered (single query, recall@10 against the filtered ground truth)", "",
              "`short` = queries that returned fewer than 10 results.", "", *filtered_table(res), ""]
    lines += ["## Ratios (single-query QPS, lakebed ÷ peer, each at its reported point)", "", *ratio_table(res)]
    lines += ["", "## Targets of issue 3", "", "| target | verdict | evidence |", "|---|---|---|"]
    lines += [f"| {t} | {v} | {e} |" for t, v, e in target_checks(res)] + [""]
    lines += ["## Knob sweeps (single query)", "", *sweep_tables(res)]
    lines += ["## Scale run (1M synthetic vectors into lakebed)", "", *scale_section(cache), ""]
    notes = []
    for name, r in res.items():
        notes.append(f"- {name}: measured {r.get('date', '?')}")
        rq = _get(r, "query", "single", "round_qps")
        if rq:
            fl = _get(r, "query", "filtered") or {}
            per_f = "; ".join(f"{f} " + ", ".join(f"{v:,.0f}" for v in fl[f]["round_qps"])
                              for f in fl if fl[f].get("round_qps"))
            notes.append(f"- {name}: {len(rq)} rounds, single QPS " + ", ".join(f"{v:,.0f}" for v in rq)
                         + (f"; filtered QPS {per_f}" if per_f else ""))
        for n in _get(r, "query", "notes") or []:
            notes.append(f"- {name}: {n}")
        if "error" in r:
            notes.append(f"- {name}: error: {r['error'][:400]}")
        binfo = _get(r, "build", "build_info")
        if isinstance(binfo, dict):
            notes.append(f"- {name} build: " + ", ".join(f"{k}={v}" for k, v in binfo.items()
                                                          if k != "stats_after_build"))
        st = _get(r, "query", "stats")
        if name.startswith("lakebed") and st:
            notes.append(f"- {name} stats(): `{json.dumps(st)[:600]}`")
        for f in FILTERS:
            plan = _get(r, "query", "filtered", f, "plan")
            if plan:
                notes.append(f"- {name} plan for {f}: `{json.dumps(plan)[:300]}`")
    lines += ["## Notes", ""] + (notes or ["- none"]) + [""]
    text = "\n".join(lines)
    if quick:
        out = cache / "vectors-quick.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text
