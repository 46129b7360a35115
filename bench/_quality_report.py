"""The markdown report of ``bench/quality.py`` (``bench/results/quality.md``)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _quality_data import CHECKS, DATASET_CHECKS

COMMANDS = """python3 -m venv /work/venv-qbench
/work/venv-qbench/bin/pip install -e '/work/main[all]' -r bench/requirements-quality.txt
flock /tmp/lakebed-bench.lock /work/venv-qbench/bin/python bench/quality.py --quick   # smoke: 1M / 100k rows
flock /tmp/lakebed-bench.lock /work/venv-qbench/bin/python bench/quality.py           # defaults: 3 repeats
# this report: the drift section from the first, the validation section from the second
flock /tmp/lakebed-bench.lock /work/venv-qbench/bin/python bench/quality.py --repeats 5 --gx-repeats 3
flock /tmp/lakebed-bench.lock /work/venv-qbench/bin/python bench/quality.py --parts validate --repeats 5 --gx-repeats 3
/work/venv-qbench/bin/python bench/quality.py --report-only                           # rewrite from results.json"""

RAW = ["polars", "polars_streaming", "duckdb_parquet", "duckdb_arrow"]
LABELS = {
    "lakebed": "lakebed `lake.quality.validate`",
    "polars": "raw polars (scan_parquet, one select)",
    "polars_streaming": "raw polars, streaming engine",
    "duckdb_parquet": "raw DuckDB over read_parquet",
    "duckdb_arrow": "raw DuckDB over Arrow (read included)",
    "polars_lakefiles": "diagnostic: raw polars over lakebed's table files",
    "pandera_polars": "Pandera, polars backend",
    "pandera_pandas": "Pandera, pandas backend",
    "soda": "Soda Core (SodaCL) on DuckDB",
    "gx": "Great Expectations GX Core",
    "numpy": "raw numpy (lakebed's statistic per column)",
    "scipy": "scipy (ks_2samp + wasserstein / jensenshannon)",
    "evidently": "Evidently DataDriftPreset",
}
SHORT = {"lakebed": "lakebed", "polars": "polars", "polars_streaming": "polars stream",
         "duckdb_parquet": "DuckDB parquet", "duckdb_arrow": "DuckDB arrow", "polars_lakefiles": "polars lake files",
         "pandera_polars": "Pandera pl",
         "pandera_pandas": "Pandera pd", "soda": "Soda", "gx": "GX"}


def _med(xs: list[float] | None) -> float | None:
    xs = [x for x in (xs or []) if x is not None]
    return statistics.median(xs) if xs else None


def _max(xs: list[float] | None) -> float | None:
    xs = [x for x in (xs or []) if x is not None]
    return max(xs) if xs else None


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _work(e: dict[str, Any]) -> float | None:
    """The largest (peak - RSS before the clock) of the repeats: the memory of the work itself."""
    pairs = [(p, b) for p, b in zip(e.get("peak_rss_mb") or [], e.get("rss_before_mb") or [], strict=False)
             if p is not None and b is not None]
    return max(p - b for p, b in pairs) if pairs else None


def _x(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def _runs(xs: list[float] | None) -> str:
    return ", ".join(f"{x:.2f}" for x in xs) if xs else "-"


def _err(entry: dict[str, Any] | None) -> str | None:
    if not entry:
        return "not run"
    if entry.get("seconds"):
        return None
    errs = entry.get("errors") or [{"status": entry.get("status", "no result")}]
    return str(errs[0].get("status"))[:300]


# -- validation --------------------------------------------------------------------------------
def _compare(key: str, got: dict[str, Any] | None, truth: dict[str, Any]) -> tuple[str, bool | None]:
    """The cell of a check for one system, and whether it agrees with the truth (None: not comparable)."""
    if got is None:
        return "missing", False
    if "na" in got:
        return "n/c", None
    if "error" in got:
        return "error", False
    if key in DATASET_CHECKS:
        want = truth[key]["passed"]
        ok = got.get("passed") == want
        return ("pass" if got.get("passed") else "FAIL") + ("" if ok else " ✗"), ok
    ok = got.get("failing") == truth[key]
    return f"{got.get('failing'):,}" + ("" if ok else " ✗"), ok


def validation_section(data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    d = data.get("validate.data")
    if not d:
        return [], {}
    truth = d["truth"]
    lines = [f"## Validation: {d['rows']:,} rows x 10 columns, 11 checks",
             "",
             f"One Parquet file of {d['bytes'] / 1e6:,.0f} MB (zstd). Time from the data on disk to the per-check "
             "failing counts, median of the repeats (each a fresh process); peak RSS = the process's VmHWM "
             "(the largest of the repeats); \"RSS before\" = resident set after the imports, before the clock; "
             "\"CPU s\" = user + system seconds of the process over the measured work (median; less sensitive than "
             "the wall time to other work on the machine).",
             ""]
    systems = [s for s in ["lakebed", *RAW, "polars_lakefiles", "pandera_polars", "pandera_pandas", "soda", "gx"]
               if f"validate.{s}" in data]
    meds = {s: _med(data[f"validate.{s}"].get("seconds")) for s in systems}
    raw_meds = {s: meds[s] for s in RAW if meds.get(s)}
    limit = min(raw_meds, key=lambda s: raw_meds[s]) if raw_meds else None
    lim_t = raw_meds.get(limit) if limit else None
    lim_peak = _max(data[f"validate.{limit}"].get("peak_rss_mb")) if limit else None
    lb_t = meds.get("lakebed")
    lines += ["| system | median s | runs (s) | x raw limit | x lakebed | CPU s | peak RSS MB | x limit's peak | "
              "RSS before MB | peak - before | counts agree |",
              "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    agree: dict[str, str] = {}
    for s in systems:
        e = data[f"validate.{s}"]
        err = _err(e)
        checks = e.get("checks") or {}
        cells = [_compare(k, checks.get(k), truth) for k, *_ in CHECKS]
        bad = [k for (k, *_), (_, ok) in zip(CHECKS, cells, strict=True) if ok is False]
        nc = [k for (k, *_), (_, ok) in zip(CHECKS, cells, strict=True) if ok is None]
        if err:
            agree[s] = "-"
        else:
            agree[s] = ("yes" if not bad else "**no: " + ", ".join(bad) + "**") + (
                f" ({len(CHECKS) - len(nc)} of {len(CHECKS)} comparable)" if nc else "")
        if err:
            lines.append(f"| {LABELS[s]} | error | {err.replace('|', '/')} | | | | | | | | |")
            continue
        peak = _max(e.get("peak_rss_mb"))
        mark = " (limit)" if s == limit else ""
        lines.append(f"| {LABELS[s]}{mark} | {_f(meds[s])} | {_runs(e.get('seconds'))} | {_x(meds[s], lim_t)} | "
                     f"{_x(meds[s], lb_t)} | {_f(_med(e.get('cpu_s')))} | {_f(peak, 0)} | {_x(peak, lim_peak)} | "
                     f"{_f(_max(e.get('rss_before_mb')), 0)} | {_f(_work(e), 0)} | {agree[s]} |")
    lines.append("")
    notes = []
    setup = data.get("validate.lakebed.setup") or {}
    if setup.get("status") == "ok":
        notes.append(f"lakebed setup (not timed above): table made from the Parquet file in "
                     f"{setup['create_s']:.1f} s (create + writes of 1M rows), contract in "
                     f"{setup['contract_s']:.2f} s; peak RSS of the setup process {setup['peak_rss_mb']:,.0f} MB.")
    elif setup:
        notes.append(f"lakebed setup: {setup.get('status')}")
    gx = data.get("validate.gx") or {}
    if gx.get("notes"):
        notes.append(f"GX: context, data source and suite built in {gx['notes'].get('setup_s', 0):.2f} s before the "
                     f"clock; {len(gx.get('seconds') or [])} repeat(s).")
    lf = data.get("validate.polars_lakefiles") or {}
    if lf.get("seconds"):
        notes.append("The diagnostic row is not a raw limit: it is the raw polars query over the files lakebed "
                     f"wrote ({(lf.get('notes') or {}).get('files')} snappy files; the shared file is one zstd "
                     "file), so lakebed's ratio to it is its own overhead over the same bytes: "
                     f"{_x(meds.get('lakebed'), meds.get('polars_lakefiles'))}.")
    da = data.get("validate.duckdb_arrow") or {}
    if da.get("notes"):
        notes.append(f"DuckDB over Arrow, first repeat: Parquet -> Arrow {da['notes'].get('read_s', 0):.2f} s, "
                     f"the query {da['notes'].get('query_s', 0):.2f} s.")
    loads = [x for s in systems for pair in (data[f"validate.{s}"].get("load_1min") or []) if pair for x in pair]
    if loads:
        notes.append(f"1-minute load average around the runs: {min(loads):.1f} to {max(loads):.1f} "
                     "(other sessions' work shares the machine; the repeats are interleaved across systems).")
    srcs = (data.get("validate.lakebed") or {}).get("lakebed_src_sha1") or []
    if len(set(srcs)) > 1:
        notes.append(f"**lakebed's source changed between its repeats** (sha1 of src/lakebed/**/*.py per repeat: "
                     f"{', '.join(srcs)}): others were editing it during the run.")
    for s in systems:
        if data[f"validate.{s}"].get("differs_between_repeats"):
            notes.append(f"**{s}: the repeats gave different results** (see results.json).")
    lines += [f"- {n}" for n in notes]
    lines += ["", "### Failing counts per check", "",
              "Row checks: failing rows; dataset checks: the verdict. `✗` marks a count that differs from the "
              "truth (counted with numpy and Python's `re` while the data was made); `n/c`: not comparable (the "
              "system's check means something else, see below).", ""]
    shown = [s for s in systems if not _err(data[f"validate.{s}"])]
    lines.append("| check | truth | " + " | ".join(SHORT[s] for s in shown) + " |")
    lines.append("|---|---:|" + "---:|" * len(shown))
    for key, _kind, _col, desc in CHECKS:
        t = truth[key]
        tcell = ("pass" if t["passed"] else "FAIL") if key in DATASET_CHECKS else f"{t:,}"
        cells = [_compare(key, (data[f"validate.{s}"].get("checks") or {}).get(key), truth)[0] for s in shown]
        lines.append(f"| {desc} | {tcell} | " + " | ".join(cells) + " |")
    if "soda" in shown:
        got = (data["validate.soda"].get("checks") or {}).get("unique_event_id_groups", {}).get("failing")
        want = truth.get("unique_event_id_groups")
        lines += ["", f"Soda's `duplicate_count(event_id)` counts the distinct values that repeat: {got} "
                  f"(truth: {want} values, {truth['unique_event_id']} rows): "
                  + ("agrees." if got == want else "**differs**.")]
    lines.append("")
    summary = {"limit": limit, "limit_s": lim_t, "limit_peak": lim_peak, "meds": meds,
               "peaks": {s: _max(data[f"validate.{s}"].get("peak_rss_mb")) for s in systems}, "agree": agree}
    return lines, summary


# -- drift -------------------------------------------------------------------------------------
def drift_section(data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    d = data.get("drift.data")
    if not d:
        return [], {}
    lines = [f"## Drift: {d['rows']:,} reference vs {d['rows']:,} current rows x {d['columns']} columns", "",
             "Both sets in memory before the clock (Arrow; pandas DataFrames for Evidently). Median of the "
             "repeats, each a fresh process.", "",
             "| system | median s | runs (s) | x numpy | x lakebed | CPU s | peak RSS MB | RSS before MB | "
             "peak - before |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    systems = [s for s in ["lakebed", "numpy", "scipy", "evidently"] if f"drift.{s}" in data]
    meds = {s: _med(data[f"drift.{s}"].get("seconds")) for s in systems}
    for s in systems:
        e = data[f"drift.{s}"]
        err = _err(e)
        if err:
            lines.append(f"| {LABELS[s] if s != 'lakebed' else 'lakebed `lake.quality.drift`'} | error | "
                         f"{err.replace('|', '/')} | | | | | | |")
            continue
        label = LABELS[s] if s != "lakebed" else "lakebed `lake.quality.drift`"
        lines.append(f"| {label} | {_f(meds[s])} | {_runs(e.get('seconds'))} | {_x(meds[s], meds.get('numpy'))} | "
                     f"{_x(meds[s], meds.get('lakebed'))} | {_f(_med(e.get('cpu_s')))} | "
                     f"{_f(_max(e.get('peak_rss_mb')), 0)} | {_f(_max(e.get('rss_before_mb')), 0)} | "
                     f"{_f(_work(e), 0)} |")
    lines.append("")
    srcs = (data.get("drift.lakebed") or {}).get("lakebed_src_sha1") or []
    if len(set(srcs)) > 1:
        lines.append(f"- **lakebed's source changed between its repeats**: {', '.join(srcs)}.")
    lbc = (data.get("drift.lakebed") or {}).get("columns") or {}
    kinds: dict[str, list[str]] = {}
    for v in lbc.values():
        kinds.setdefault(v.get("kind", "?"), v.get("stats") or [])
    if kinds:
        lines.append("- lakebed computes every statistic of a column's kind, not only the one that decides: "
                     + "; ".join(f"{k}: {', '.join(st)}" for k, st in kinds.items())
                     + " (numpy computes only the deciding one; scipy KS + W1 or JS).")
    npy = data.get("drift.numpy") or {}
    if npy.get("methods_from"):
        lines.append(f"- numpy's statistic per column came from {npy['methods_from']}.")
    ev = data.get("drift.evidently") or {}
    if (ev.get("notes") or {}).get("warning"):
        lines.append(f"- Evidently: {ev['notes']['warning']}")
    lines.append("")
    cols: dict[str, dict[str, Any]] = {s: (data[f"drift.{s}"].get("columns") or {}) for s in systems}
    expected = set(d.get("expected_drifted", []))
    names = list(cols.get("lakebed") or cols.get("evidently") or cols.get("scipy") or {})
    lines += ["### Per-column verdicts", "",
              "Scores: lakebed's and Evidently's own; numpy's is the same statistic as lakebed's; scipy's is "
              "W1/std (numbers, with the KS p-value) or the JS distance (categories). `drifted` = score >= "
              "threshold for distances (both tools' defaults here).", "",
              "| column | made to drift | lakebed method | lakebed score | lakebed | Evidently method | "
              "Evidently score | Evidently | numpy score | scipy score (KS p) | agree |",
              "|---|---|---|---:|---|---|---:|---|---:|---:|---|"]
    disagree = []
    for c in names:
        lb, evc = cols.get("lakebed", {}).get(c, {}), cols.get("evidently", {}).get(c, {})
        npc, scc = cols.get("numpy", {}).get(c, {}), cols.get("scipy", {}).get(c, {})
        verdicts = [v.get("drifted") for v in (lb, evc) if "drifted" in v]
        same = len(verdicts) == 2 and verdicts[0] == verdicts[1]
        if len(verdicts) == 2 and not same:
            disagree.append(c)

        def yn(v: dict[str, Any]) -> str:
            return "-" if "drifted" not in v else ("**drift**" if v["drifted"] else "no")

        ks = f" ({scc['ks_pvalue']:.2g})" if "ks_pvalue" in scc else ""
        lines.append(f"| {c} | {'yes' if c in expected else 'no'} | {lb.get('method', '-')} | "
                     f"{_f(lb.get('score'), 4)} | {yn(lb)} | {evc.get('method', '-')} | {_f(evc.get('score'), 4)} | "
                     f"{yn(evc)} | {_f(npc.get('score'), 4)} | {_f(scc.get('score'), 4)}{ks} | "
                     f"{'yes' if same else ('**no**' if len(verdicts) == 2 else '-')} |")
    lines.append("")
    wrong_lb = [c for c in names if "drifted" in cols.get("lakebed", {}).get(c, {})
                and cols["lakebed"][c]["drifted"] != (c in expected)]
    if cols.get("lakebed"):
        vs_ev = "all verdicts agree" if not disagree else "disagree on " + ", ".join(disagree)
        vs_made = "all as made" if not wrong_lb else ", ".join(wrong_lb)
        lines.append(f"- lakebed vs Evidently: {vs_ev}; lakebed vs the columns made to drift: {vs_made}.")
    if cols.get("lakebed") and cols.get("numpy"):
        diffs = [abs(cols["lakebed"][c]["score"] - cols["numpy"][c]["score"]) for c in names
                 if cols["lakebed"].get(c, {}).get("score") is not None and "score" in cols["numpy"].get(c, {})]
        if diffs:
            lines.append(f"- lakebed's scores vs numpy's same statistic: largest difference {max(diffs):.2e}.")
    lines.append("")
    return lines, {"meds": meds, "disagree": disagree, "peaks": {s: _max(data[f"drift.{s}"].get("peak_rss_mb"))
                                                                 for s in systems}}


# -- targets -----------------------------------------------------------------------------------
def _target(ok: bool | None, text: str) -> str:
    return f"- **{'met' if ok else ('not met' if ok is False else 'not measured')}**: {text}"


def targets_section(v: dict[str, Any], dr: dict[str, Any]) -> list[str]:
    lines = ["## Targets", ""]
    meds = v.get("meds", {})
    lb = meds.get("lakebed")
    lim, lim_t = v.get("limit"), v.get("limit_s")
    if lb and lim_t:
        r = lb / lim_t
        lines.append(_target(r <= 1.5, f"validation within 1.5x of the faster raw limit: lakebed {lb:.2f} s vs "
                                       f"{SHORT[lim]} {lim_t:.2f} s = {r:.2f}x"))
    else:
        lines.append(_target(None, "validation within 1.5x of the raw limit (lakebed or the raw systems missing)"))
    for peer in ("pandera_polars", "pandera_pandas", "soda"):
        pt = meds.get(peer)
        if lb and pt:
            lines.append(_target(lb < pt, f"ahead of {LABELS[peer]}: lakebed {lb:.2f} s vs {pt:.2f} s "
                                          f"({pt / lb:.2f}x lakebed's time)"))
        else:
            lines.append(_target(None, f"ahead of {LABELS[peer]}"))
    gx = meds.get("gx")
    if lb and gx:
        lines.append(_target(gx / lb >= 5, f">= 5x faster than GX: GX {gx:.2f} s / lakebed {lb:.2f} s = "
                                           f"{gx / lb:.1f}x"))
    else:
        lines.append(_target(None, ">= 5x faster than GX"))
    lp, limp = v.get("peaks", {}).get("lakebed"), v.get("limit_peak")
    if lp and limp:
        lines.append(_target(lp < 1.5 * limp, f"peak memory under 1.5x the raw limit's: lakebed {lp:,.0f} MB vs "
                                              f"{SHORT[lim]} {limp:,.0f} MB = {lp / limp:.2f}x"))
    else:
        lines.append(_target(None, "peak memory under 1.5x the raw limit's"))
    agree = v.get("agree", {})
    if agree:
        bad = {s: a for s, a in agree.items() if a.startswith("**no")}
        lines.append(_target(not bad, "failing counts agree with the truth in every system"
                                      + ("" if not bad else ": " + "; ".join(f"{s} {a}" for s, a in bad.items()))))
    dm = dr.get("meds", {})
    dl, dn, de = dm.get("lakebed"), dm.get("numpy"), dm.get("evidently")
    if dl and dn:
        lines.append(_target(dl <= 2 * dn, f"drift within 2x of raw numpy: lakebed {dl:.2f} s vs numpy {dn:.2f} s = "
                                           f"{dl / dn:.2f}x"))
    else:
        lines.append(_target(None, "drift within 2x of raw numpy"))
    if dl and de:
        lines.append(_target(de / dl >= 10, f"drift >= 10x faster than Evidently: Evidently {de:.2f} s / lakebed "
                                            f"{dl:.2f} s = {de / dl:.1f}x"))
    else:
        lines.append(_target(None, "drift >= 10x faster than Evidently"))
    if dr:
        lines.append(_target(not dr.get("disagree") and bool(dl),
                             "drift verdicts of lakebed and Evidently agree on every column"
                             + (": not on " + ", ".join(dr["disagree"]) if dr.get("disagree") else "")))
    lines.append("")
    return lines


def machine_section(data: dict[str, Any]) -> list[str]:
    run = data.get("run") or next((v for k, v in data.items() if k.startswith("run.") and not k.endswith("_end")),
                                  {})
    m = run.get("machine", {})
    if not m:
        return []
    pk = ", ".join(f"{k} {m[k]}" for k in ("lakebed", "polars", "duckdb", "pyarrow", "numpy", "pandas", "scipy",
                                           "pandera", "great_expectations", "soda-core", "soda-core-duckdb",
                                           "evidently", "deltalake") if k in m)
    end = next((v for k, v in data.items() if k.endswith("_end")), {})
    lines = ["## Machine", "",
             f"- {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib', '?')} GiB; {m.get('os')}",
             f"- Python {m.get('python')} ({m.get('executable')})",
             f"- {pk}",
             f"- lakebed revision at the start: {m.get('lakebed_commit')}, sha1 of src/lakebed/**/*.py "
             f"{m.get('lakebed_src_sha1', '?')}"
             + (f"; at the end: {end.get('lakebed_commit_at_end')}, {end.get('lakebed_src_sha1_at_end', '?')}"
                if end.get("lakebed_commit_at_end") else ""),
             f"- environment: {m.get('env') or 'no OPENBLAS/OMP/POLARS/RAYON variables'}",
             *[f"- run `{k}`: started {r.get('started')}, "
               f"finished {(data.get(k + '_end') or {}).get('finished', '?')}; argv {r.get('argv')}; "
               f"repeats {r.get('repeats')} (GX {r.get('gx_repeats')}); lakebed "
               f"{(r.get('machine') or {}).get('lakebed_commit')}, src sha1 "
               f"{(r.get('machine') or {}).get('lakebed_src_sha1')}"
               for k, r in data.items() if (k == "run" or k.startswith("run.")) and not k.endswith("_end")],
             "- The machine is shared and noisy (2 cores): compare numbers of one run only.", ""]
    return lines


NOTES = """## How each system expresses the checks

- **lakebed**: the eleven checks of `lakebed.quality` in one contract (`on_violation="warn"`), named after the keys
  of this report; `validate` reads the table (Delta, written by `lake.tables`) and runs every row check in one
  polars pass, as its module docstring says.
- **raw polars / DuckDB**: one aggregate query each; the duplicate count is `is_duplicated()` in polars and a
  `GROUP BY ... HAVING count(*) > 1` sub-query in DuckDB (so DuckDB scans the source twice); NULL handling is the
  engines' own (Kleene logic, `count_if` of NULL is 0), which is the contract's.
- **Pandera**: `Column(nullable=False)`, `unique=True`, `Check.in_range`, `Check.isin`, `Check.str_contains`
  (search); freshness and row count are custom checks returning one boolean; the SQL check is a dataframe-level
  custom check (`((amount >= 0) | refunded).fill_null(True)` in polars; `... | amount.isna()` in pandas, where a
  null amount reads as NaN). Pandera reports a dataframe-level check's failing row once per column: the counts
  here are distinct rows. Dtypes are not checked (no system here checks them).
- **GX**: `expect_column_values_to_not_be_null`, `..._to_be_unique`, `..._to_be_between`, `..._to_be_in_set`,
  `..._to_match_regex` (pandas `str.contains`: a search), `expect_table_row_count_to_be_between`,
  `expect_column_max_to_be_between` (freshness), and for the SQL check `expect_column_values_to_be_in_set
  (refunded, [True])` with `row_condition="amount < 0"` (pandas parser): the pandas data source cannot run SQL.
- **Soda**: see case 1f; `duplicate_count` is Soda's notion (distinct values), shown as `n/c` in the row counts.
- **numpy (drift)**: W1 of equal-size samples as the mean absolute difference of the sorted samples (the CDF form
  otherwise), divided by max(std(reference), 0.001); the Jensen-Shannon distance (natural log) of the category
  shares, the categories counted with `pyarrow.compute.value_counts` (numpy has no fast string counting). The
  statistic per column is the one lakebed's report names (`column.method`).
- **Evidently**: `DataDriftPreset()` with its defaults; it also builds the report's widgets (plots), which is part
  of what the preset does and is in its time.
"""


def write_report(data: dict[str, Any], path: Path) -> None:
    v_lines, v = validation_section(data)
    d_lines, dr = drift_section(data)
    lines = ["# Data-quality benchmark: lakebed quality vs raw engines, Pandera, GX, Soda, Evidently", "",
             f"Written {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `bench/quality.py` (results: "
             "`<data-dir>/results.json`). The brief of each case is the module docstring of `bench/quality.py`.", "",
             "```", COMMANDS, "```", ""]
    lines += targets_section(v, dr)
    if data.get("notes"):
        lines += ["## Remarks", "", *[f"- {n}" for n in data["notes"]], ""]
    lines += v_lines + d_lines
    lines += machine_section(data)
    lines += [NOTES]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
