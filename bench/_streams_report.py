"""The markdown report of ``bench/streams.py`` (``bench/results/streams.md``)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COMMANDS = """python3 -m venv /work/venv-sbench
/work/venv-sbench/bin/pip install -e /work/main -r bench/requirements-streams.txt
flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py --quick   # smoke
flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py           # this report
flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py --parts density   # section 6 alone"""


PROFILE_NOTES = """\
Profiles taken while developing this benchmark, on lakebed as of commit 95287a1 (2026-12-03 23:33
UTC), i.e. before the Redis append rework (2a99f27) and before `run` moved the offline landing to a
thread of its own (b7fe7bf); py-spy 0.4.1 at 200 Hz, `--threads`, on-CPU samples only, same machine,
same events. The scripts are not part of the benchmark, so these numbers are not re-measured by it:

- **Broker appends** (300k events): lakebed encodes Arrow to one JSON object per record
  (`streams/_backend.py` `encode_records`: `to_pylist` per column, `dict(zip(...))` and `orjson.dumps`
  per row) on the calling thread before anything is published: 28% of the append's on-CPU samples on JetStream,
  41% on Redis. The raw clients publish pre-encoded bytes, so this is most of the gap. On JetStream
  the rest is the event-loop thread: nats-py `publish` with a `Nats-Msg-Id` header dict per record
  (48%) and `_on_ack` parsing each ack's JSON (10%); the header alone takes the raw pipelined client
  from ~137k to ~109k ev/s (row "diagnostic" above). Encoding and publishing do not overlap:
  `append` encodes the whole call, then blocks on the loop thread.
- **Processor, online path** (embedded -> SQLite, 300k events): the per-event Python loop that
  builds `[ts, *values]` lists (`features/_stream.py` `online_step`, ~25%), re-encoding each touched
  user's whole window with the stdlib `json` encoder (`_codec.py` `EventsCodec.encode`, ~20%),
  `OnlineStore.write` into SQLite (~14%), `self.cache.update(merged)` on the 500k-key `OrderedDict`
  (~14%) and the per-key sort of its events (~9%). Because each step rewrites every touched
  user's entire largest window (1 h here), the cost per event grows with the events per user in
  that window: ~100k ev/s at 20k-50k events, 61k ev/s at 300k, ~36k ev/s at 1M (this run: 10
  events per user per hour). It is single-threaded (CPU s ~= wall s above).
- **Freshness**: at 95287a1 the offline (Delta) landing ran inside the processor's loop every
  `offline_interval` (1 s) and stalled the online path for the length of a commit (now it has a
  thread of its own, which still shares the GIL); the `online only` rows isolate it.
  Each online step is one SQLite transaction with `synchronous=FULL` (the lake's default
  `fsync="always"`): `_sql_commit` was 14.6% of all samples of the JetStream 10k ev/s run, the
  largest single item. `_freshness()` runs `np.percentile` over the 65,536-latency reservoir on
  every step to put p50/p99 in the state row: 4.9% of the processor thread in that run.
  On JetStream the producer's appends, the processor's reads and its `wait` (subscribe, `STREAM.INFO`,
  unsubscribe per idle poll) share one nats-py event-loop thread and the GIL with the processor.
  Also on JetStream, the online and offline sinks read the same partition at different offsets
  through the backend's one cached reader per partition (`streams/_nats.py` `_read`: a reader whose
  next sequence differs is closed and a new ephemeral consumer created), so every offline landing
  costs two consumer create/delete round trips: counted in a 6 s run at 10k ev/s, 25 consumers were
  created with `offline_interval=1` against 2 with 3600 (p99 168 ms against 79 ms in that run).
"""


def _med(xs: list[float] | None) -> float | None:
    return statistics.median(xs) if xs else None


def _f(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def _x(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def _runs(xs: list[float] | None) -> str:
    return ", ".join(f"{x:,.0f}" for x in xs) if xs else "-"


def _get(res: dict[str, Any], key: str, field: str) -> list[float] | None:
    e = res.get(key)
    if not isinstance(e, dict) or "error" in e:
        return None
    return e.get(field)


def _err(res: dict[str, Any], key: str) -> str:
    e = res.get(key)
    if e is None:
        return "not run"
    if isinstance(e, dict) and "error" in e:
        return f"error: {e['error']}"
    return "ok"


def write_report(res: dict[str, Any], path: Path) -> None:
    run = res.get("run", {})
    m = run.get("machine", {})
    out: list[str] = ["# Streams benchmark", ""]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    end = res.get("run_end", {}).get("finished")
    status = f"finished {end}" if end else "**partial: the run did not finish; missing rows are marked**"
    out.append(f"Written {now} by `bench/streams.py` (run started {run.get('started', '?')}, {status}). "
               f"Arguments: `{' '.join(run.get('argv', [])) or '(defaults)'}`; {run.get('events', 0):,} events per "
               f"append/consume case, {run.get('processor_events', 0):,} per processor case, "
               f"{run.get('feast_events', 0):,} per Feast push run, {run.get('fresh_seconds')} s per freshness "
               f"case; throughputs are the median of {run.get('repeats')} repeats in one process.")
    out += ["", "## Machine and versions", ""]
    out.append(f"- {m.get('cpu')}, {m.get('cores')} cores (shared with other work), {m.get('memory_gib')} GiB, "
               f"Python {m.get('python')}, {m.get('os')}")
    out.append("- " + ", ".join(f"{k} {m.get(k)}" for k in ("lakebed", "feast", "nats-py", "redis", "hiredis",
                                                             "orjson", "pyarrow", "numpy", "pandas")))
    out.append(f"- lakebed commit under test: {m.get('lakebed_commit', 'not recorded')} (src/ read when each "
               "module was first imported by the run)")
    for v in (m.get("servers") or {}).values():
        out.append(f"- {v}")
    out.append("- one venv for everything (`/work/venv-sbench`): lakebed editable + the peers of "
               "`bench/requirements-streams.txt`; redis-py there uses the hiredis parser, for lakebed's Redis "
               "backend and the raw client alike.")
    out += ["", "Reproduce:", "", "```", COMMANDS, "```", ""]
    out += ["## Data", "",
            "Generated by `bench/_streams_data.py` (numpy, seed 20261203): `user_id` int64 uniform over 100,000 "
            "users, `item_id` int64, `price` float64 (cents), `ts` timestamp[us, UTC] rising over one hour "
            "with up to 2 s of jitter (within the views' 30 s watermark), `page` string padded so that each "
            "record's JSON (what lakebed's broker backends store, and what the raw clients publish) is exactly "
            "200 bytes. Every stream has one partition (key `user_id`, event time `ts`). Raw clients publish "
            "the JSON bytes encoded before the clock starts (their limit); lakebed takes an Arrow table of "
            "10,000 rows per `append` and encodes/decodes it itself.", ""]

    # ---------------------------------------------------------------- numbers
    emb = _med(_get(res, "append.embedded.always", "append"))
    emb_never = _med(_get(res, "append.embedded.never", "append"))
    lb_nats = _med(_get(res, "append.nats.lakebed", "append"))
    raw_nats = _med(_get(res, "append.nats.raw", "append"))
    lb_redis = _med(_get(res, "append.redis.lakebed", "append"))
    raw_redis = _med(_get(res, "append.redis.raw", "append"))
    c_emb = _med(_get(res, "append.embedded.always", "consume"))
    c_lb_nats = _med(_get(res, "append.nats.lakebed", "consume"))
    c_raw_nats = _med(_get(res, "append.nats.raw", "consume"))
    c_lb_redis = _med(_get(res, "append.redis.lakebed", "consume"))
    c_raw_redis = _med(_get(res, "append.redis.raw", "consume"))
    p = {k: _med(_get(res, f"processor.{k}", "online")) for k in
         ("embedded.sqlite", "embedded.redis", "nats.sqlite", "redis.sqlite")}
    feast = _med(_get(res, "feast.push", "push"))

    def fresh(key: str, field: str = "p99_ms") -> float | None:
        e = res.get(key)
        return e.get(field) if isinstance(e, dict) and "error" not in e else None

    top = 10000
    targets: list[tuple[str, str, bool | None]] = []

    def target(what: str, measured: str, ok: bool | None) -> None:
        targets.append((what, measured, ok))

    r = lb_nats / raw_nats if lb_nats and raw_nats else None
    target("append via lakebed >= 0.7x raw client (hand-rolled pipelined publish), JetStream",
           f"{_x(lb_nats, raw_nats)} ({_f(lb_nats)} vs "
           f"{_f(raw_nats)} ev/s)", None if r is None else r >= 0.7)
    # the issue names nats-py's own calls (publish with async acks, a pull consumer) as the raw
    # clients; the rows above hold lakebed to the faster hand-rolled protocol-level client
    pa_nats = _med(_get(res, "append.nats.raw", "append_publish_async"))
    r = lb_nats / pa_nats if lb_nats and pa_nats else None
    target("append via lakebed >= 0.7x nats-py's `js.publish_async` (the client the issue names), JetStream",
           f"{_x(lb_nats, pa_nats)} ({_f(lb_nats)} vs {_f(pa_nats)} ev/s)", None if r is None else r >= 0.7)
    r = lb_redis / raw_redis if lb_redis and raw_redis else None
    target("append via lakebed >= 0.7x raw client, Redis Streams", f"{_x(lb_redis, raw_redis)} ({_f(lb_redis)} vs "
           f"{_f(raw_redis)} ev/s)", None if r is None else r >= 0.7)
    target("embedded log append >= 200k ev/s (batches of 10k, fsync=always)", f"{_f(emb)} ev/s",
           None if emb is None else emb >= 200_000)
    v = p["embedded.sqlite"]
    target("processor, 3 windows, embedded -> SQLite >= 50k ev/s on one core", f"{_f(v)} ev/s",
           None if v is None else v >= 50_000)
    for k, raw_c, name in (("nats.sqlite", c_raw_nats, "JetStream"), ("redis.sqlite", c_raw_redis, "Redis")):
        v = p[k]
        r = v / raw_c if v and raw_c else None
        raw_what = "the faster raw reader" if name == "JetStream" else "XREADGROUP + XACK"
        target(f"processor >= 0.7x raw consume rate ({raw_what}), {name} -> SQLite",
               f"{_x(v, raw_c)} ({_f(v)} vs {_f(raw_c)} ev/s)", None if r is None else r >= 0.7)
    v, fetch_nats = p["nats.sqlite"], _med(_get(res, "append.nats.raw", "consume_fetch"))
    r = v / fetch_nats if v and fetch_nats else None
    target("processor >= 0.7x nats-py's pull consumer `fetch` (the client the issue names), JetStream -> SQLite",
           f"{_x(v, fetch_nats)} ({_f(v)} vs {_f(fetch_nats)} ev/s)", None if r is None else r >= 0.7)
    for b, name in (("embedded", "embedded log"), ("redis", "Redis Streams")):
        v = fresh(f"freshness.{b}.{top}")
        target(f"freshness p99 < 100 ms at 10k ev/s, {name}", f"{_f(v, 1)} ms", None if v is None else v < 100)
    v, rv = fresh(f"freshness.nats.{top}"), fresh(f"freshness.raw_nats.{top}")
    target("freshness p99 <= raw broker p99 + 50 ms at 10k ev/s, JetStream", f"{_f(v, 1)} ms vs raw {_f(rv, 1)} ms",
           None if v is None or rv is None else v <= rv + 50)
    v = p["embedded.sqlite"]
    target(">= 10x Feast push throughput (lakebed: events/s into the SQLite online store = processor, "
           "embedded -> SQLite)", f"{_x(v, feast)} ({_f(v)} vs Feast {_f(feast)} ev/s)",
           None if v is None or feast is None else v >= 10 * feast)
    out += ["## Targets", "", "| target | measured | met? |", "| --- | --- | --- |"]
    for what, measured, ok in targets:
        out.append(f"| {what} | {measured} | {'-' if ok is None else ('yes' if ok else '**no**')} |")
    out.append("")

    # ---------------------------------------------------------------- 1. append
    out += ["## 1. Append throughput", "",
            "Events/s for the whole set, median of the repeats (all runs listed). lakebed: "
            "`Stream.append(table)` with 10,000-row Arrow tables, a fresh stream each repeat.", "",
            "| system | backend | median ev/s | x raw | MB/s (200 B) | runs | status |",
            "| --- | --- | ---: | ---: | ---: | --- | --- |"]

    def row(sys_: str, be: str, med: float | None, base: float | None, runs: list[float] | None, key: str) -> None:
        mb = med * 200 / 1e6 if med else None
        out.append(f"| {sys_} | {be} | {_f(med)} | {_x(med, base)} | {_f(mb, 1)} | {_runs(runs)} | {_err(res, key)} |")

    row("lakebed, fsync=always (default)", "embedded log", emb, None, _get(res, "append.embedded.always", "append"),
        "append.embedded.always")
    row("lakebed, fsync=never", "embedded log", emb_never, None, _get(res, "append.embedded.never", "append"),
        "append.embedded.never")
    row("lakebed", "JetStream", lb_nats, raw_nats, _get(res, "append.nats.lakebed", "append"), "append.nats.lakebed")
    pa_ = _get(res, "append.nats.raw", "append_publish_async")
    pp_ = _get(res, "append.nats.raw", "append_pipelined")
    row("raw nats-py `js.publish_async`", "JetStream", _med(pa_), raw_nats, pa_, "append.nats.raw")
    row("raw nats-py pipelined publish + reply inbox", "JetStream", _med(pp_), raw_nats, pp_, "append.nats.raw")
    pm_ = _get(res, "append.nats.raw", "append_msgid")
    row("raw nats-py pipelined publish + `Nats-Msg-Id` header (diagnostic)", "JetStream", _med(pm_), raw_nats, pm_,
        "append.nats.raw")
    row("lakebed", "Redis Streams", lb_redis, raw_redis, _get(res, "append.redis.lakebed", "append"),
        "append.redis.lakebed")
    row("raw redis-py pipelined XADD", "Redis Streams", raw_redis, raw_redis, _get(res, "append.redis.raw", "append"),
        "append.redis.raw")
    out += ["", "`x raw` is against the faster raw JetStream client (per repeat, the faster of the two) and raw "
            "XADD. lakebed's JetStream append carries a `Nats-Msg-Id` header per record (idempotent appends); "
            "its Redis append runs a Lua script per 1,000 records (offsets, dedup window, append time).", ""]

    # ---------------------------------------------------------------- 2. consume
    out += ["## 2. Consume throughput", "",
            "Reading the whole stream with a new consumer group per repeat, batches of 10,000, committing each "
            "batch. lakebed returns Arrow record batches (decoded from JSON on the brokers); the raw clients "
            "return the messages' bytes. The JetStream baseline (`x raw`) is the faster raw reader per repeat. "
            "nats-py's own `fetch` is the slowest reader here (per-message bookkeeping in the client); lakebed "
            "reads with an ephemeral no-ack pull consumer of its own, like the hand-rolled raw pull. On Redis, "
            "lakebed reads with one Lua `XRANGE` returning a flat reply and keeps group offsets in a hash, while "
            "`XREADGROUP` + `XACK` maintain Redis's per-message pending list, so the raw group read is slower "
            "than lakebed's.", "",
            "| system | backend | median ev/s | x raw | runs |", "| --- | --- | ---: | ---: | --- |"]
    for sys_, be, med, base, key, field in (
            ("lakebed `consume(group)`", "embedded log", c_emb, None, "append.embedded.always", "consume"),
            ("lakebed `consume(group)`", "JetStream", c_lb_nats, c_raw_nats, "append.nats.lakebed", "consume"),
            ("raw nats-py pull `fetch(10000)` + ack", "JetStream", _med(_get(res, "append.nats.raw", "consume_fetch")),
             c_raw_nats, "append.nats.raw", "consume_fetch"),
            ("raw nats-py hand-rolled pull (MSG.NEXT, batch 10000) + ack", "JetStream",
             _med(_get(res, "append.nats.raw", "consume_pull")), c_raw_nats, "append.nats.raw", "consume_pull"),
            ("lakebed `consume(group)`", "Redis Streams", c_lb_redis, c_raw_redis, "append.redis.lakebed", "consume"),
            ("raw redis-py XREADGROUP + XACK", "Redis Streams", c_raw_redis, c_raw_redis, "append.redis.raw",
             "consume")):
        out.append(f"| {sys_} | {be} | {_f(med)} | {_x(med, base)} | {_runs(_get(res, key, field))} |")
    out.append("")

    # ---------------------------------------------------------------- 3. processor
    out += ["## 3. Stream processor (3 windows: count 5m, sum 1h, max 30m; 100k users)", "",
            "Online: `stream_processor(view, max_records=50_000).step(offline=False)` in a loop until every "
            "event was read and applied (one online-store transaction per step, with the view's offsets), a new "
            "view per repeat over the same stream (so each starts from offset 0 with an empty online store "
            "for it). CPU s = process CPU time of the online loop (the processor is one thread). Offline: the "
            "same events landed in the view's Delta table afterwards (`views[0].offline_step()` until 0, up to "
            "1M records per commit). `x raw consume` is the online rate over the raw client's consume rate on "
            "the same broker.", "",
            "| source -> online store | online median ev/s | x raw consume | online runs | CPU s / run | "
            "offline (Delta) median ev/s | check | status |",
            "| --- | ---: | ---: | --- | --- | ---: | --- | --- |"]
    for k, label, base in (("embedded.sqlite", "embedded log -> SQLite", None),
                           ("embedded.redis", "embedded log -> Redis", None),
                           ("nats.sqlite", "JetStream -> SQLite", c_raw_nats),
                           ("redis.sqlite", "Redis Streams -> SQLite", c_raw_redis)):
        key = f"processor.{k}"
        e = res.get(key) if isinstance(res.get(key), dict) else {}
        cpu = ", ".join(f"{c:.1f}" for c in e.get("cpu_s", [])) or "-"
        out.append(f"| {label} | {_f(p[k])} | {_x(p[k], base)} | {_runs(_get(res, key, 'online'))} | {cpu} | "
                   f"{_f(_med(_get(res, key, 'offline')))} | {e.get('check', '-')} | {_err(res, key)} |")
    out += ["", "check: after the last repeat, the three features of the users of the 20 newest events from "
            "`lake.features.online(..., now=newest event + 1 us)` against numpy over the raw events.", ""]

    # ---------------------------------------------------------------- 4. freshness
    out += ["## 4. End-to-end freshness", "",
            "A producer thread appends one batch every 10 ms at the target rate with `ts` = the time of the "
            "append call (a producer's own lingering before it appends is not in these numbers) "
            "(`Stream.append`); the processor runs `StreamProcessor.run(stop=...)` (the loop of `run_stream`, "
            "offline landing every 1 s, in a thread of its own in this lakebed version) in a second thread of "
            "the same process; latency = online-store commit "
            "visible - event time, per event, as the processor records it; the first 2 s are dropped. Raw "
            "rows: publish -> consumer receive with the raw clients (producer and consumer threads in one "
            "process, send time in the message). `online only` rows: the same with `offline_interval=3600`, "
            "i.e. no Delta commit inside the window, to show what the offline landing costs the online path.", "",
            "| path | target ev/s | achieved ev/s | p50 ms | p99 ms | max ms | events measured | status |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    keys = sorted({k.split(".", 2)[2] for k in res if k.startswith("freshness.")},
                  key=lambda s: (int(s.split(".")[0]), s))
    names = {"embedded": "lakebed, embedded log -> SQLite", "redis": "lakebed, Redis Streams -> SQLite",
             "nats": "lakebed, JetStream -> SQLite", "raw_redis": "raw redis-py XADD -> XREADGROUP",
             "raw_nats": "raw nats-py publish_async -> pull consumer"}
    for rate_key in keys:
        for b in ("embedded", "redis", "nats", "raw_redis", "raw_nats"):
            key = f"freshness.{b}.{rate_key}"
            if key not in res:
                continue
            e = res[key]
            label = names[b] + (" (online only)" if rate_key.endswith("online_only") else "")
            if "error" in e:
                out.append(f"| {label} | {rate_key.split('.')[0]} | - | - | - | - | - | error: {e['error']} |")
                continue
            out.append(f"| {label} | {_f(e.get('target_rate'))} | {_f(e.get('achieved_rate'))} | "
                       f"{_f(e.get('p50_ms'), 1)} | {_f(e.get('p99_ms'), 1)} | {_f(e.get('max_ms'), 1)} | "
                       f"{_f(e.get('events'))} | ok |")
    out.append("")

    # ---------------------------------------------------------------- 5. Feast
    out += ["## 5. Feast push API (SQLite online store)", ""]
    fe = res.get("feast.push")
    if fe is None:
        out.append("Not run.")
    elif "error" in fe:
        out.append(f"Feast: {fe['error']}")
    else:
        out += ["`store.push(\"clicks_push\", frame, to=PushMode.ONLINE)` with pandas frames of 10,000 rows "
                "(converted before the clock); Feast keeps each user's latest row (no window aggregation, so "
                "less work per event than lakebed's three windows). Freshness: a frame pushed every ~10 ms with "
                "`ts = now`, then the same thread polls `get_online_features` for one pushed user until the "
                "pushed value shows; latency = readable - event time.", "",
                "| measure | value | runs / detail |", "| --- | ---: | --- |",
                f"| push throughput, ev/s (median) | {_f(feast)} | {_runs(fe.get('push'))}; check: "
                f"{fe.get('check')} |"]
        for k in sorted((k for k in res if k.startswith("feast.freshness.")), key=lambda s: int(s.rsplit(".", 1)[1])):
            e = res[k]
            if "error" in e:
                out.append(f"| freshness at {k.rsplit('.', 1)[1]} ev/s | - | error: {e['error']} |")
                continue
            out.append(f"| freshness at {_f(e['target_rate'])} ev/s: p50 / p99 / max ms | {_f(e['p50_ms'], 1)} / "
                       f"{_f(e['p99_ms'], 1)} / {_f(e['max_ms'], 1)} | achieved {_f(e['achieved_rate'])} ev/s |")
        v = p["embedded.sqlite"]
        out += ["", f"lakebed vs Feast: processor (embedded -> SQLite, 3 windows) {_x(v, feast)}; embedded-log "
                f"append alone {_x(emb, feast)}; processor Redis Streams -> SQLite {_x(p['redis.sqlite'], feast)}."]
    out.append("")
    dens = sorted((v for k, v in res.items() if k.startswith("density.") and isinstance(v, dict)),
                  key=lambda v: v.get("users", 0), reverse=True)
    if dens:
        out += ["## 6. Processor cost vs events per user in the window", "",
                f"Part `density` (last measured {dens[0].get('measured', '?')}): the "
                "processor of section 3 (embedded log -> SQLite, `step(offline=False)` loop, one run each) but "
                "with `max_records=1000` (steps the size a live processor at ~10k ev/s takes), on the same kind "
                "of events, all within the 1 h window, over fewer users, so each user's largest window holds "
                "more events. The online sink keeps each user's raw events of the largest window and rewrites "
                "(JSON-encodes and upserts) that whole list at every step that touches the user: at a steady "
                "10k ev/s over 100k users, a 1 h window holds ~360 events per user.", "",
                "| events | users | events per user in the 1 h window (at the end; half that on average) | "
                "online ev/s | CPU s | check |",
                "| ---: | ---: | ---: | ---: | ---: | --- |"]
        for v in dens:
            if "error" in v:
                out.append(f"| - | - | - | - | - | error: {v['error']} |")
                continue
            out.append(f"| {v['events']:,} | {v['users']:,} | {v['events'] / v['users']:,.0f} | "
                       f"{_f(_med(v.get('online')))} | {', '.join(f'{c:.1f}' for c in v.get('cpu_s', []))} | "
                       f"{v.get('check')} |")
        out.append("")
    out += ["## Where the time goes (profiles)", "", PROFILE_NOTES]
    errors = [(k, v["error"]) for k, v in res.items() if isinstance(v, dict) and "error" in v]
    if errors:
        out += ["## Errors", ""] + [f"- `{k}`: {e}" for k, e in errors] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))
