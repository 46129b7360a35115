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
flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py --parts density   # section 6 alone
flock /tmp/lakebed-bench.lock /work/venv-sbench/bin/python bench/streams.py --parts split     # rows of section 4"""


PROFILE_NOTES = """\
Profiles taken while developing (py-spy 0.4.1, `--threads`, with `--gil` where it says so: samples
of the thread holding the GIL only; cProfile for single-threaded paths), same machine, same events.
The scripts are not part of the benchmark, so these numbers are not re-measured by it.

What the profiles of 2026-12-03 (commit 95287a1) found, and what changed on 2026-12-04 (d4368af):

- **Broker appends**: encoding Arrow to one JSON object per record was 28% (JetStream) and 41%
  (Redis) of the append's CPU. One `orjson.dumps` call per record costs ~2.5 us on this machine
  when the results are kept (0.1-0.2 us in a `timeit` loop that drops them), so the records are
  now written a column at a time (one `orjson.dumps` of a whole numeric column, split at the
  commas; strings through the json module's C escaper) and joined through a `%`-template:
  ~1.2 us per record instead of 3.6-8.9. On Redis the script per 1,000 records was the limit
  (measured with `INFO commandstats`: ~8 us of server time per record, of which `XADD` 0.8):
  each record's message id went into the dedup hash and sorted set. Ids lakebed makes are
  unique, so only a resent script call can repeat them: such a call is now remembered as one
  entry. On JetStream the event-loop thread is the limit: nats-py's `publish` with a
  `Nats-Msg-Id` header per record and the parsing of each acknowledgement (the header alone takes
  the raw pipelined client from ~137k to ~109k ev/s, the "diagnostic" row).
- **Processor, online path**: each step rewrote every touched user's whole window (the JSON list
  of its events, re-encoded with the json module), so the cost per event grew with the events
  per user in the window (~36k ev/s at 10 per user, 15k at 200). Now each event becomes its JSON
  text once, when it is read, and a window's row is its events' texts joined; the window is
  trimmed by a bisect on its times. Left: the per-event Python work (keys, grouping), the SQLite
  upsert per touched key (~2.4 us per row) and the commit.
- **Freshness**: in the 2026-12-03 runs the producer thread appended one or two events per call
  (it slept to the exact due time of the next event), so the embedded log held one tiny frame
  per call and the offline sink decoded thousands of frames a second with a file `open` each;
  the producer now appends one batch per 10 ms tick, as the section says. The embedded wait had
  a missed-wakeup race (a record appended between the check and the wait slept the full 50 ms
  poll); reads now `pread` runs of adjacent frames through descriptors kept open. On JetStream
  the online and offline sinks moved one cached reader back and forth (two consumer creates per
  landing); readers are now kept per offset, and the offline sink takes the records the online
  sink read instead of reading the broker again (it reads the log only for what was not handed
  over). The state row's freshness percentiles are computed at most every 0.5 s instead of
  every step.
- **Left on JetStream** (py-spy `--gil`, 10k ev/s with the offline landing, 2026-12-04): the
  nats-py event-loop thread holds the GIL ~60% of the run: parsing delivered messages and their
  `Nats-Msg-Id` headers (`_process_headers` / `_parse_header_lines` ~25% of the loop thread), the
  producer's publishes and their acknowledgements, and the processor's idle `wait` (subscribe,
  `STREAM.INFO` per partition, unsubscribe). A Delta commit in the offline thread then delays
  the loop, and with it every read and acknowledgement, by tens to hundreds of ms.

What the profiles of 2026-12-05 (cProfile of the online loop, 1M events, 100k users; an Intel
Xeon machine of the same size, so absolute numbers differ from the runs above) found, and what
changed (ca71145): embedded -> SQLite went from 116k to ~185k ev/s in the profiling script
(164k in the benchmark, which runs three views over one stream).

- **Grouping by key**: a Python loop over the events built a dict of each key's events (2.6 s
  of 11 s). A step now groups with Arrow and numpy: keys dictionary-encoded, ranked in sorted
  order, the events stably sorted by (rank, log position); each event's JSON text is made in
  that order (Arrow `take` of the columns), and a key's new events go onto the end of its
  window with two `list.extend` calls when they are in time order and not older than its
  newest (checked with numpy for the whole step). Keys come out sorted, so the SQLite upsert no
  longer sorts its rows (0.45 s).
- **Store reads for uncached keys**: a view whose rows were dropped at start (a new view or
  version) has no stored row that the cache lacks, so a key not cached is known empty until
  the cache first forgets a key (0.8 s of store reads on a fresh view).
- **The cyclic garbage collector**: its passes over the growing cache of windows (two lists
  and a tuple per key, long-lived and acyclic) were ~10% of the loop; it is paused for each
  step and runs between steps. Storing a window as arrays and one joined text (objects the
  collector does not track) was tried and was slower (array appends and slicing cost more
  than the passes saved).
- **Reads from the brokers**: on Redis ~3 s of 10.5 s were spent waiting for the script's
  reply; the next batch is now read in a thread while a batch is applied (Redis -> SQLite 95k ->
  134k ev/s, 0.94x the raw `XREADGROUP` rate). On JetStream the same read-ahead gains little:
  both threads need the GIL, and nats-py's parsing of each delivered message (~8 us) is the
  limit (JetStream -> SQLite 0.61x the hand-rolled pull).
- **Tried and dropped**: decoding the brokers' JSON records with Arrow's JSON reader (one
  parse of the payloads joined by newlines) took 2.2 us per record against 1.5 us for orjson
  plus `Table.from_pylist`; checkpointing the SQLite WAL in a background thread changed
  nothing measurable (the upsert itself, ~2.4 us per row, is the SQLite share: ~2 s of 5.5).

What the profiles of 2026-12-05, later (cProfile of the backend's event-loop thread and of the
processor; py-spy `--gil --threads` of the freshness run; the AMD EPYC machine of this report)
found, and what changed (73ce8d3):

- **JetStream appends**: in the event-loop thread, nats-py's `publish` (header encoding,
  checks, a coroutine per record) was ~30% and the acknowledgements' path (the parser, a `Msg`
  per ack, the subscription's queue and task, a coroutine per ack) most of the rest. Appends now
  write the records' `HPUB` frames into the client's command buffer 512 at a time, and the
  acknowledgement inbox takes its messages from the client's parser as byte tuples (nats-py's
  `_process_msg` is wrapped for lakebed's own subscriptions; nats-py's public calls remain the
  fallback, and a test fails if the installed nats-py lacks the hooks): 50k -> 100k records/s
  in the profiling script, 0.82x the raw pipelined publisher here (which uses nats-py's public
  `publish`; with the same tricks a raw client would be faster still).
- **JetStream reads**: the pull consumers' messages take the same path (no `Msg`, no header
  parsing: `_parse_header_lines` alone was ~25% of the loop thread), and the reply subjects'
  sequences and times are parsed in one split per batch. The read-ahead thread of the
  processor now hurts on JetStream: taking messages is Python work in the event-loop thread,
  which contends for the GIL with the step (57-62k ev/s with it, 72k without, before the
  parser change); it stays on for Redis, whose reads wait on the server. JetStream -> SQLite
  57k -> 78k ev/s in the profiling script.
- **Freshness tails**: at 10k ev/s the p99 moved between ~20 and ~80 ms from run to run on this
  machine (82 ms for JetStream in the full run at 73ce8d3). Full passes of Python's cyclic
  collector during the run took 75-135 ms each, stalling every thread (5 in a 20 s run, while
  the processor's cache of windows grew to ~86k keys: two lists and a tuple per key, ~2/3 of
  ~360k tracked objects; with the third generation's passes off, a probe gave p99 25 ms twice
  against 38-48 ms). A window is now kept as bytes (its times, its online row as last written,
  its texts' lengths) plus its oldest and newest times, none of which the collector tracks
  (03f08c4): a step appends the new texts to the last row and cuts trimmed ones from its
  front. Tracked objects during the run 357k -> 134k, full passes 5 -> 3 (two of them at
  start-up), p99 at 10k ev/s 82 -> 25 ms (JetStream), 48 -> 16 ms (Redis), 24 -> 17 ms
  (embedded) in this report. The cost: ~8% of the processor's throughput (embedded -> SQLite
  162k -> 149k ev/s; Redis -> SQLite 113k -> 102k). `array.array` for the times was tried
  first and did not help (arrays are tracked); a `bytearray` per window, grown in place, was
  no faster than new bytes per step.

What the profiles of 2026-12-05, third (py-spy `--threads` of the Redis -> SQLite processor,
1M events; probes of the read script alone; an Intel Xeon machine of the same size) found,
and what changed (f7903f6, e665b44):

- **The Redis read set the pace**: reading 50k records took ~8 us per record end to end,
  as long as the step that applied them, so the step waited on its read-ahead (1.6 s of a
  9.4 s run; 104-108k ev/s, 0.64x the raw read here). Most of it was Redis's own time in
  the read script: `XRANGE` into Lua alone costs ~1.8-2.5 us per entry (a Lua table per
  entry and per field list), and the reply of three bulk strings per record another ~1 us
  plus the client's parsing of 150k objects. Joining the reply in Lua (`table.concat`) cost
  more than it saved at 50k records (4.3-4.6 us per record: Lua 5.1's concatenation gets
  slower per byte as the string grows; in runs of 256 entries 2.4-2.9 us).
- **One entry per append chunk** (e665b44): a stream entry now holds the new records of one
  append script call (up to 1,000, their JSON objects joined by line breaks, their count
  and append time), so a read touches ~50 entries for 50k records, and the script cuts the
  first and last entry to the offsets asked for. Read waits 1.6 s -> 0.2 s per run;
  Redis -> SQLite 104-108k -> 128-132k ev/s in the probe. Retention by size now drops whole
  entries (up to one chunk more than the excess); entries of one record, as lakebed 0.1
  wrote them, read alike (a test mixes both).
- **Decoding with Arrow's JSON reader** (f7903f6): the records of a read are parsed in one
  `pyarrow.json` call over the lines (one block, no threads), outside the GIL, with the
  lines and each field's key counted first so that a foreign record is still reported as
  corruption (Arrow's reader would take a missing field as null). Isolated: 0.77 us per
  record against 1.37 us for orjson per record plus `Table.from_pylist`. The note above
  (same date, earlier) found the reader slower (2.2 us against 1.5 us); that measurement
  is not reproduced with pyarrow 26 and one block; under the processor's load py-spy
  still puts it at ~2 us per record in the read-ahead thread, but the thread no longer
  holds the GIL for it. JetStream reads use it too.
- **Smaller things**: redis-py reads its socket 64 KiB at a time, each read taking the GIL
  back from the busy step (4 MiB now); with nothing read ahead, the online sink's read asks
  for 4,096 records and the reads ahead after it for twice as many each, up to
  `max_records`, so the first step no longer waits ~0.4 s for a whole batch with nothing to
  overlap it. Two reads in flight instead of one was tried and was slower (100.7k against
  103.4k ev/s: the extra read competes with the step for the two cores).
- **The SQLite upserts** (ccd4872): in the embedded -> SQLite processor the online store's
  `executemany` and commit were ~50% of a step (py-spy), rows being a window's events
  (hundreds of bytes to KBs). A new store now has 16 KiB pages (4 KiB before; in a probe of
  20 steps of ~40k upserts of growing rows, 3.1-3.3 s -> 2.7-2.8 s with the WAL checkpointed
  at the same ~40 MiB) and unconditional writes are `INSERT OR REPLACE` (the table is a key
  and a value; ~7% faster than `ON CONFLICT DO UPDATE`): 152k -> 164k ev/s. On this Intel
  machine Feast's push does 15.8-16.5k ev/s, so the 10x target needs ~160k: it was 9.65x at
  e665b44 (9.96x in the Intel run of ca71145, 10.99x on the AMD machine, where Feast is
  slower). A WAL checkpointed every ~160 MiB instead gave ~2% more and was not taken.
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
    for key in sorted(k for k in res if k.startswith("run.") and not k.endswith("_end")):
        part = res[key]
        out.append(f"- part(s) `{key[4:]}` measured {part.get('started', '?')} at lakebed "
                   f"{(part.get('machine') or {}).get('lakebed_commit', 'not recorded')}")
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
            "its Redis append runs a Lua script per 1,000 records (offsets, dedup window, append time) "
            "that stores them as one stream entry (raw `XADD`: an entry per message).", ""]

    # ---------------------------------------------------------------- 2. consume
    out += ["## 2. Consume throughput", "",
            "Reading the whole stream with a new consumer group per repeat, batches of 10,000, committing each "
            "batch. lakebed returns Arrow record batches (decoded from JSON on the brokers); the raw clients "
            "return the messages' bytes. The JetStream baseline (`x raw`) is the faster raw reader per repeat. "
            "nats-py's own `fetch` is the slowest reader here (per-message bookkeeping in the client); lakebed "
            "reads with an ephemeral no-ack pull consumer of its own, like the hand-rolled raw pull. On Redis, "
            "lakebed reads with one Lua script over its entries (one per append chunk, cut to the offsets "
            "asked for) and keeps group offsets in a hash, while `XREADGROUP` + `XACK` read an entry per "
            "message and maintain Redis's per-message pending list, so the raw group read is slower than "
            "lakebed's.", "",
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
            "i.e. no Delta commit inside the window, to show what the offline landing costs the online path. "
            "`producer in its own process` rows (part `split`, brokers only): the producer is another process "
            "with a lake of its own on the processor lake's broker namespace, as an application appending "
            "events would be; the processor's process then holds only the processor (and its offline sink).",
            "",
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
            label = names[b] + (" (online only)" if rate_key.endswith("online_only") else
                                " (producer in its own process)" if rate_key.endswith("producer_process") else "")
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
                "more events. The online sink keeps each user's raw events of the largest window as one row "
                "and upserts that whole row at every step that touches the user (each event's JSON text is "
                "made once; the row is the texts joined), so the bytes written per step grow with the window: "
                "at a steady 10k ev/s over 100k users, a 1 h window holds ~360 events per user.", "",
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
