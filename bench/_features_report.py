"""Markdown report of ``bench/features.py`` (tables of medians and ratios, targets)."""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _features_data import CASES, TTL

TRAIN_LABELS = {
    "raw": "raw DuckDB: dedupe ties, then ASOF join",
    "raw_key": "raw DuckDB: one ASOF on a (ts, created_at) key",
    "lakebed": "lakebed training_set",
    "feast_duckdb": "Feast, duckdb offline store",
    "feast_file": "Feast, file (dask) offline store",
}


def _median(res: dict[str, Any], key: str = "times") -> float | None:
    if res.get("status") != "ok" or not res.get(key):
        return None
    return float(statistics.median(res[key]))


def _reference(results: dict[str, Any], case: str) -> dict[str, Any]:
    """The faster (median wall time) of the two raw DuckDB formulations: the kernel's limit."""
    cands = [results.get(f"train/{case}/{s}", {}) for s in ("raw", "raw_key")]
    timed = [(t, c) for c in cands if (t := _median(c)) is not None]
    return min(timed, key=lambda x: x[0])[1] if timed else {}


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def _correct(res: dict[str, Any]) -> bool | None:
    chk = res.get("check")
    if res.get("status") != "ok" or not chk or "error" in chk:
        return None
    return (chk["rows"] == chk["ref_rows"] and chk["missing_rows"] == 0 and chk["duplicate_rows"] == 0
            and chk["mismatched_rows"] == 0 and chk["mismatched_keys"] == 0)


def write_report(results: dict[str, Any], case_names: list[str], args: argparse.Namespace) -> str:
    m = results.get("machine", {})
    lines = [
        "# Feature store benchmark",
        "",
        f"Written {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `bench/features.py`"
        f"{' --quick' if args.quick else ''}. Each entry below was measured in its own subprocess "
        "(peak RSS = that process's `ru_maxrss`, read right after the measured work).",
        "",
        "## Machine and versions",
        "",
        f"- {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB, "
        f"Python {m.get('python', '?')}, {m.get('os', '?')}",
        "- " + ", ".join(f"{k} {m[k]}" for k in ("lakebed", "feast", "duckdb", "pyarrow", "deltalake",
                                                  "pandas", "dask", "ibis-framework", "redis") if k in m),
        "- Peers installed from `bench/requirements-features.txt` into their own venv; the machine is shared "
        "(2 cores): numbers within ~10% are noise.",
        "",
        "## Data",
        "",
        "Generated deterministically (`bench/_features_data.py`, same seed for every system). Feature table: "
        "`user_id` (about 100 rows per user), `ts` (whole hours over 90 days, UTC), `created_at`, 10 float64 + "
        f"10 int64 features, rows shuffled; ~5% of rows tie on `(user_id, ts)` and are told apart by `created_at`. "
        f"TTL {TTL.days} days. Entity frame: `user_id`, `event_timestamp`, `row_id` with ~2% unknown users, ~3% "
        "rows exactly at a feature row's time (the `<=` edge), ~2% exact duplicate rows, ~4% before any feature "
        "row and ~4% past the TTL after the last one: about 10% of rows have all-null features. Entity times "
        "are never at a whole hour (except the exact hits, chosen so that no row lies exactly one TTL earlier), "
        "so `t - ttl` never equals a feature time and lakebed's `> t - ttl` and Feast's `>= t - ttl` agree. "
        "Wide table for online reads: one row per user, 50 float64. Materialization table: one row per user, "
        "the 20 features.",
        "",
        "Reproduce: `python -m venv /work/venv-fbench && /work/venv-fbench/bin/pip install -e . -r "
        "bench/requirements-features.txt`, then `flock /tmp/lakebed-bench.lock /work/venv-fbench/bin/python "
        "bench/features.py --cases small --rounds 3` and `... --cases large --repeats 2 --rounds 2` "
        "(`--quick` for a smoke run; data in `/tmp/fbench`).",
        "",
    ]
    for name in case_names:
        c = CASES[name]
        lines.append(f"- **{name}**: {c.n_entity_rows:,} entity rows over {c.n_feature_rows:,} feature rows "
                     f"({c.n_users:,} users); wide view for online reads: {c.n_wide_users:,} users x 50 features")
    lines += ["", "## Findings", "", *_findings(results, case_names)]
    lines += ["", "## Training sets (point-in-time join)", ""]
    lines += [
        "Time: from the entity frame in memory (Arrow; pandas for Feast, converted before the clock) to the "
        "joined result as an Arrow table. Median of all repeats. `x raw` columns are relative "
        "to the faster of the two raw DuckDB formulations (the kernel's limit). CPU s = process CPU time "
        "(user + sys, all threads), less sensitive than wall time to other load on the shared machine. "
        "Check: every row compared by `row_id` against the raw dedupe + ASOF join (values as DOUBLE, "
        "NaN = null).",
        "",
        "| case | system | median s | x raw | CPU s | x raw | peak RSS MB | x raw | rows "
        "| missing (all-null in ref) | mismatched | order kept | status |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name in case_names:
        raw = _reference(results, name)
        raw_t, raw_c = _median(raw), _median(raw, "cpu_times")
        raw_m = raw.get("peak_rss_mb") if raw.get("status") == "ok" else None
        for sys_ in TRAIN_LABELS:
            r = results.get(f"train/{name}/{sys_}")
            if r is None:
                continue
            t, cpu = _median(r), _median(r, "cpu_times")
            mem = r.get("peak_rss_mb") if r.get("status") == "ok" else None
            chk = r.get("check") or {}
            miss = f"{chk.get('missing_rows', '-')} ({chk.get('missing_all_null_rows', '-')})" if chk else "-"
            status = r.get("status", "?")
            if status == "ok":
                status = (f"ok ({len(r.get('times', []))} runs in {r.get('rounds', 1)} processes, "
                          f"{r.get('measured_at', '')})")
            lines.append(
                f"| {name} | {TRAIN_LABELS[sys_]} | {_fmt(t)} | {_ratio(t, raw_t)} | {_fmt(cpu)} | "
                f"{_ratio(cpu, raw_c)} | {_fmt(mem, '.0f')} | "
                f"{_ratio(mem, raw_m)} | {chk.get('rows', '-')} | {miss} | {chk.get('mismatched_rows', '-')} | "
                f"{r.get('order_kept', '-')} | {status} |"
            )
    lines += ["", "Reference rows with all-null features (no row within the TTL): " + ", ".join(
        f"{n}: {results.get(f'train/{n}/raw', {}).get('check', {}).get('ref_all_null_rows', '?')}"
        for n in case_names) + " (the raw join's own check is against itself; it was also validated "
        "against a brute-force Python reference on 2,000 sampled rows of the quick case)."]

    lines += ["", "## Online reads (50-feature view)", "",
              "Same random keys for every system, after a warm-up; latencies in microseconds per call "
              "(Python client in the same process). Raw = primary-key lookup of one pre-serialized row "
              "(50 float64 as bytes) in the same store, decoded to Python floats per feature. Values of "
              "350 reads are checked against the source.", "",
              "| case | store | system | 1x50 p50 | 1x50 p99 | 100x50 p50 | 100x50 p99 | p50 x raw (1 / 100) "
              "| checked / mismatched | status |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |"]
    for name in case_names:
        for store in ("sqlite", "redis"):
            raw = results.get(f"online/{name}/raw_{store}", {})
            for who in ("raw", "lakebed", "feast"):
                r = results.get(f"online/{name}/{who}_{store}")
                if r is None:
                    continue
                ok = r.get("status") == "ok"

                def g(k: str, q: str, r: dict[str, Any] = r, ok: bool = ok) -> float | None:
                    return r[k][q] if ok and k in r else None

                def rr(k: str, raw: dict[str, Any] = raw) -> float | None:
                    return raw[k]["p50_us"] if raw.get("status") == "ok" and k in raw else None

                ratio = f"{_ratio(g('1x50', 'p50_us'), rr('1x50'))} / {_ratio(g('100x50', 'p50_us'), rr('100x50'))}"
                lines.append(
                    f"| {name} | {store} | {who} | {_fmt(g('1x50', 'p50_us'), '.0f')} | "
                    f"{_fmt(g('1x50', 'p99_us'), '.0f')} | {_fmt(g('100x50', 'p50_us'), '.0f')} | "
                    f"{_fmt(g('100x50', 'p99_us'), '.0f')} | {ratio} | "
                    f"{r.get('checked_rows', '-')} / {r.get('mismatched_rows', '-')} | {r.get('status')} "
                    f"({str(r.get('measured_at', ''))[11:16]} UTC) |"
                )

    lines += ["", "## Materialization (20 features, one source row per entity)", "",
              "Every source row is a distinct user, so rows = rows written online. Feast materializes "
              "through its duckdb offline store. Peak RSS (`ru_maxrss`) is read right after `materialize` returns; the "
              "next column is the peak before it was called (imports, and in runs before 01:40 UTC on 22 Nov a "
              "read of the `ts` column to find the end time). 500 "
              "random entities are read back and compared with the source.", "",
              "| case | system | rows | s | rows/s | peak RSS MB | peak before materialize MB | "
              "checked / mismatched | status |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for name in case_names:
        for sys_ in ("lakebed_sqlite", "lakebed_redis", "feast_sqlite", "feast_redis"):
            r = results.get(f"materialize/{name}/{sys_}")
            if r is None:
                continue
            ok = r.get("status") == "ok"
            lines.append(
                f"| {name} | {sys_} | {CASES[name].n_mat_rows:,} | {_fmt(r.get('seconds') if ok else None, '.1f')} | "
                f"{_fmt(r.get('rows_per_s') if ok else None, ',.0f')} | "
                f"{_fmt(r.get('materialize_peak_rss_mb') if ok else None, '.0f')} | "
                f"{_fmt(r.get('rss_before_mb') if ok else None, '.0f')} | "
                f"{r.get('checked_entities', '-')} / {r.get('mismatched_entities', '-')} | {r.get('status')} |"
            )

    lines += ["", "## Targets (issue 5)", "", "| target | measured | met |", "| --- | --- | --- |"]
    lines += _targets(results, case_names)
    history = results.get("history") or []
    if history:
        lines += ["", "## Earlier measurements (same data, older lakebed code)", "",
                  "lakebed's feature store changed while this benchmark ran; the tables above hold the newest "
                  "measurement per entry. These are the superseded ones, for comparison:", ""]
        for h in history:
            parts = [f"`{h['key']}` at {h.get('measured_at')}: {h.get('status')}"]
            if h.get("times"):
                parts.append(f"median {statistics.median(h['times']):.2f} s over {len(h['times'])} runs")
            if h.get("seconds"):
                parts.append(f"{h['seconds']:.1f} s, {h.get('rows_per_s', 0):,.0f} rows/s")
            if h.get("materialize_peak_rss_mb"):
                parts.append(f"peak RSS {h['materialize_peak_rss_mb']:,.0f} MB "
                             f"({h.get('rss_before_mb', 0):,.0f} MB before materialize)")
            elif h.get("peak_rss_mb"):
                parts.append(f"peak RSS {h['peak_rss_mb']:,.0f} MB")
            for k in ("1x50", "100x50"):
                if h.get(k):
                    parts.append(f"{k} p50 {h[k]['p50_us']:.0f} us, p99 {h[k]['p99_us']:.0f} us")
            lines.append("- " + ", ".join(parts))
    setups = {k: v for k, v in results.items() if k.startswith("setup/")}
    if setups:
        lines += ["", "## Setup (not part of the timings)", ""]
        for k, v in sorted(setups.items()):
            extra = f", ingest of the feature table {v['ingest_s']:.1f} s" if "ingest_s" in v else ""
            lines.append(f"- {k}: {v.get('status')}, {_fmt(v.get('seconds'), '.1f')} s{extra}")
    errors = {k: v for k, v in results.items() if isinstance(v, dict) and str(v.get("status", "ok")) != "ok"
              and k.split("/")[1:2] and k.split("/")[1] in case_names}
    if errors:
        lines += ["", "## Failures", ""]
        for k, v in sorted(errors.items()):
            lines.append(f"- `{k}`: {str(v.get('status')).splitlines()[0]}")
    lines += ["", "## Raw results", "", "<details><summary>JSON</summary>", "", "```json",
              json.dumps({k: _strip(v) for k, v in results.items()
                          if k == "machine" or (k.split("/")[1:2] and k.split("/")[1] in case_names)},
                         indent=1, default=str),
              "```", "", "</details>", ""]
    return "\n".join(lines)


def _findings(results: dict[str, Any], case_names: list[str]) -> list[str]:
    """Plain-language summary drawn from the measurements."""
    out = []
    for name in case_names:
        lb = results.get(f"train/{name}/lakebed")
        if lb and lb.get("status") == "ok":
            chk = lb.get("check") or {}
            ok = _correct(lb) and lb.get("order_kept")
            verdict = ("every row equal to the raw join, in entity order" if ok
                       else "DIFFERS from the raw join: " + json.dumps(chk))
            out.append(f"- lakebed training_set ({name}): {verdict}.")
        ff = results.get(f"train/{name}/feast_file")
        if ff and ff.get("status") == "ok" and ff.get("check"):
            c = ff["check"]
            out.append(
                f"- Feast file (dask) store ({name}): returns {c['rows']:,} of {c['ref_rows']:,} rows. Of the "
                f"{c['missing_rows']:,} dropped, {c['missing_all_null_rows']:,} are rows whose features are all "
                f"outside the TTL or absent (returned with nulls by the others) and "
                f"{c.get('missing_duplicated_entity_rows', '?'):,} are duplicate entity rows (it de-duplicates "
                f"`entity_df`); {c['mismatched_rows']:,} returned rows have other values than the reference: on "
                "inspection all of them are rows whose matched source row ties with another on `(user_id, ts)`, "
                "i.e. the tie is not broken by the latest `created_at`."
            )
        elif ff:
            out.append(f"- Feast file (dask) store ({name}): {ff.get('status')}.")
        fd = results.get(f"train/{name}/feast_duckdb")
        if fd and fd.get("status") == "ok":
            ok = _correct(fd)
            out.append(f"- Feast duckdb store ({name}): {'values equal to the reference' if ok else 'values differ'}"
                       f"; rows come back in another order than `entity_df` (matched here by `row_id`).")
    mats = sorted((k, v) for k, v in results.items() if k.startswith("materialize/")
                  and k.split("/")[1] in case_names and k.split("/")[2].startswith("lakebed"))
    for k, v in mats:
        if v.get("status") == "ok":
            out.append(f"- lakebed materialize ({k.split('/')[1]}, {k.split('/')[2]}): "
                       f"{v.get('rows_per_s', 0):,.0f} rows/s, peak RSS {v.get('materialize_peak_rss_mb', 0):,.0f} MB "
                       f"(measured {v.get('measured_at')}).")
        else:
            out.append(f"- lakebed materialize ({k.split('/')[1]}, {k.split('/')[2]}) FAILED "
                       f"(measured {v.get('measured_at')}): {str(v.get('status')).splitlines()[0]}")
    return out


def _strip(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: x for k, x in v.items() if k != "traceback"}
    return v


def _targets(results: dict[str, Any], case_names: list[str]) -> list[str]:
    out = []

    def met(flag: bool | None) -> str:
        return "n/a" if flag is None else ("**met**" if flag else "**not met**")

    for name in case_names:
        raw, lb = _reference(results, name), results.get(f"train/{name}/lakebed", {})
        rt, lt = _median(raw), _median(lb)
        ok_t = None if rt is None or lt is None else lt <= 1.5 * rt
        out.append(f"| training_set within 1.5x of raw ({name}) | {_ratio(lt, rt)} | {met(ok_t)} |")
        rm = raw.get("peak_rss_mb") if raw.get("status") == "ok" else None
        lm = lb.get("peak_rss_mb") if lb.get("status") == "ok" else None
        ok_m = None if rm is None or lm is None else lm < 2 * rm
        out.append(f"| training_set peak memory < 2x raw ({name}) | {_ratio(lm, rm)} | {met(ok_m)} |")
        c = _correct(lb)
        chk = lb.get("check") or {}
        ok_c = None if c is None else c and bool(lb.get("order_kept"))
        out.append(f"| every row correct, order kept ({name}) | mismatched {chk.get('mismatched_rows', '-')}, "
                   f"missing {chk.get('missing_rows', '-')}, order kept {lb.get('order_kept', '-')} | {met(ok_c)} |")
    for name in case_names:
        for store in ("sqlite", "redis"):
            raw = results.get(f"online/{name}/raw_{store}", {})
            lb = results.get(f"online/{name}/lakebed_{store}", {})
            fe = results.get(f"online/{name}/feast_{store}", {})
            if not lb:
                continue
            for k in ("1x50", "100x50"):
                ok_all = all(x.get("status") == "ok" and k in x for x in (raw, lb))
                if ok_all:
                    ratio = lb[k]["p50_us"] / raw[k]["p50_us"]
                    out.append(f"| online p50 within 2x of raw lookup ({store}, {k}) | "
                               f"{lb[k]['p50_us']:.0f} vs {raw[k]['p50_us']:.0f} us = {ratio:.2f}x | "
                               f"{met(ratio <= 2)} |")
                else:
                    out.append(f"| online p50 within 2x of raw lookup ({store}, {k}) | - | n/a |")
                if all(x.get("status") == "ok" and k in x for x in (fe, lb)):
                    out.append(f"| online p99 below Feast ({store}, {k}) | {lb[k]['p99_us']:.0f} vs "
                               f"{fe[k]['p99_us']:.0f} us | {met(lb[k]['p99_us'] < fe[k]['p99_us'])} |")
                else:
                    out.append(f"| online p99 below Feast ({store}, {k}) | - | n/a |")
    for name in case_names:
        for store in ("sqlite", "redis"):
            r = results.get(f"materialize/{name}/lakebed_{store}")
            if not r:
                continue
            ok = r.get("status") == "ok"
            mb = r.get("materialize_peak_rss_mb") if ok else None
            target = f"materialization of {CASES[name].n_mat_rows:,} rows under 2 GiB ({store})"
            if ok:
                out.append(f"| {target} | {_fmt(mb, '.0f')} MB peak | {met(None if mb is None else mb < 2048)} |")
            else:
                out.append(f"| {target} | failed: {str(r.get('status')).splitlines()[0][:120]} | {met(False)} |")
    return out


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}
