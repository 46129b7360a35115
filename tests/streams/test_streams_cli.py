"""``lakebed streams`` and ``lakebed features stream`` as a user runs them, on an embedded
lake on disk (Typer's runner in this process; ``--follow`` and Ctrl-C in a child process)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import lakebed
from lakebed.cli import app

runner = CliRunner()
ENV: dict[str, str | None] = {"COLUMNS": "220", "LAKEBED_STREAMS": None}  # the embedded log
SCHEMA = "user_id:int64,item:string,price:float64,ts:timestamp[us, tz=UTC]"
DEFS = textwrap.dedent('''
    from datetime import timedelta
    from lakebed.features import Aggregation, Entity, StreamFeatureView
    user = Entity("user", join_keys=["user_id"])
    uc = StreamFeatureView("uc", entities=[user], source="stream:clicks", timestamp_field="ts",
                           aggregations=[Aggregation("price", "sum", window=timedelta(hours=1)),
                                         Aggregation("item", "count", window=timedelta(hours=1))],
                           freshness_slo=timedelta(minutes=5))
''')


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env=ENV)


def rows(n: int, start: int = 0, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    return [{"user_id": i % 3, "item": f"i{i}", "price": float(i), "ts": now - timedelta(seconds=1)}
            for i in range(start, start + n)]


def make_stream(path: Path, *more: str) -> None:
    lakebed.connect(path).close()
    out = cli("streams", "create", "clicks", "--schema", SCHEMA, "--key", "user_id", "--event-time", "ts",
              "--partitions", "2", "--retention", "7d", "--retention-bytes", "64MiB", "-l", str(path), *more)
    assert out.exit_code == 0, out.output
    assert "created stream clicks" in out.output and "2 partitions" in out.output


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_create_ls_tail_lag(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    make_stream(path)
    with lakebed.connect(path) as lake:
        s = lake.streams.get("clicks")
        assert s.spec.retention_us == 7 * 86_400 * 10**6 and s.spec.retention_bytes == 64 << 20
        s.append(rows(25))
        ls = cli("streams", "ls", "-l", str(path))
        assert ls.exit_code == 0, ls.output
        assert "clicks" in ls.output and "embedded" in ls.output and "7d, 64 MiB/partition" in ls.output
        assert "25" in ls.output and "user_id" in ls.output
        desc = json.loads(cli("streams", "ls", "--json", "-l", str(path)).output)
        assert desc[0]["name"] == "clicks" and desc[0]["records"] == 25 and desc[0]["groups"] == {}

        # the last 10 by default, in append order; --from earliest --max from the start
        last = json_lines(cli("streams", "tail", "clicks", "-l", str(path)).output)
        assert len(last) == 10 and {r["item"] for r in last} <= {f"i{i}" for i in range(25)}
        assert all(set(r) == {"user_id", "item", "price", "ts", "_partition", "_offset", "_time"} for r in last)
        first = json_lines(cli("streams", "tail", "clicks", "--from", "earliest", "--max", "30", "-l",
                               str(path)).output)
        assert sorted(r["item"] for r in first) == sorted(f"i{i}" for i in range(25))
        table = cli("streams", "tail", "clicks", "--format", "table", "-n", "3", "-l", str(path))
        assert table.exit_code == 0 and "p:offset" in table.output and len(table.output.strip().splitlines()) == 4

        # a group reads from its committed offsets and commits what it printed
        g1 = json_lines(cli("streams", "tail", "clicks", "--group", "billing", "--max", "7", "-l", str(path)).output)
        assert len(g1) == 7
        lag = cli("streams", "lag", "clicks", "--group", "billing", "-l", str(path))
        assert lag.exit_code == 0, lag.output
        assert "billing" in lag.output and "18" in lag.output  # 25 - 7
        g2 = json_lines(cli("streams", "tail", "clicks", "-g", "billing", "--max", "100", "-l", str(path)).output)
        assert len(g2) == 18 and not {(r["_partition"], r["_offset"]) for r in g1} & {
            (r["_partition"], r["_offset"]) for r in g2}
        assert s.lag("billing") == {0: 0, 1: 0}
        data = json.loads(cli("streams", "lag", "clicks", "--json", "-l", str(path)).output)
        assert data["groups"]["billing"]["total"] == 0
        assert sum(p["next"] for p in data["partitions"]) == 25
        none = cli("streams", "lag", "clicks", "-g", "nobody", "-l", str(path))
        assert none.exit_code == 0 and "committed nothing" in none.output
        assert "billing (0)" in cli("streams", "ls", "-l", str(path)).output


def test_bad_input_exits_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    make_stream(path)
    lk = ["-l", str(path)]
    cases = [
        (["streams", "create", "x", "--schema", "user_id:int65", *lk], 2, "unknown type 'int65'"),
        (["streams", "create", "x", "--schema", "user_id", *lk], 2, "is not name:type"),
        (["streams", "create", "x", "--schema", "a:int64", "--retention", "7x", *lk], 2, "'7x' is not a duration"),
        (["streams", "create", "x", "--schema", "a:int64", "--retention-bytes", "lots", *lk], 2, "is not a size"),
        (["streams", "create", "x", "--schema", "a:int64,b:string", "--partitions", "4", *lk], 1, "need key="),
        (["streams", "create", "clicks", "--schema", "a:int64", *lk], 1, "exists with another definition"),
        (["streams", "tail", "nope", *lk], 1, "unknown stream 'nope'"),
        (["streams", "lag", "nope", *lk], 1, "unknown stream 'nope'"),
        (["streams", "replay", "nope", *lk], 1, "no view 'nope'"),
        (["streams", "replay", "nope", "--since", "yesterday", *lk], 2, "is not an ISO time"),
        (["streams", "ls", "-l", str(tmp_path / "missing")], 1, "error"),
    ]
    for args, code, message in cases:
        out = cli(*args)
        assert out.exit_code == code, (args, out.output)
        assert message in " ".join(out.output.split()), (args, out.output)
    assert not (path / "streams" / "x").exists()


def _reader(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _take(lines: queue.Queue[str], n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"got {len(got)} of {n} records: {got}") from None
        if line.startswith("{"):
            got.append(json.loads(line))
    return got


def _env() -> dict[str, str]:
    return {k: v for k, v in {**os.environ, **ENV}.items() if v is not None}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lakebed.cli", *args]


def test_tail_follow_prints_records_as_they_are_appended(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    make_stream(path)
    with lakebed.connect(path) as lake:
        s = lake.streams.get("clicks")
        s.append(rows(2))
        env = _env()
        proc = subprocess.Popen(_cmd("streams", "tail", "clicks", "--follow", "-l", str(path)), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            lines = _reader(proc)
            assert {r["item"] for r in _take(lines, 2)} == {"i0", "i1"}  # the backlog
            s.append(rows(3, start=2))
            assert {r["item"] for r in _take(lines, 3)} == {"i2", "i3", "i4"}
            s.append(rows(1, start=5))
            assert [r["item"] for r in _take(lines, 1)] == ["i5"]
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=20)
        assert code == 0


def _stream_view_lake(path: Path, n: int) -> datetime:
    make_stream(path)
    defs = path.parent / "defs.py"
    defs.write_text(DEFS)
    out = runner.invoke(app, ["features", "apply", str(defs), "-l", str(path)], env=ENV)
    assert out.exit_code == 0, out.output
    now = datetime.now(UTC)
    with lakebed.connect(path) as lake:
        lake.streams.get("clicks").append(rows(n, now=now))
    return now


def _online(path: Path, now: datetime) -> dict[int, tuple[Any, Any]]:
    with lakebed.connect(path, read_only=True) as lake:
        resp = lake.features.online([{"user_id": u} for u in range(3)], ["uc:price_sum_1h", "uc:item_count_1h"],
                                    now=now + timedelta(seconds=1))
        return {u: (resp["price_sum_1h"][u], resp["item_count_1h"][u]) for u in range(3)}


def test_features_stream_until_caught_up_then_status_and_replay(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    now = _stream_view_lake(path, 12)
    out = cli("features", "stream", "--until-caught-up", "-l", str(path))
    assert out.exit_code == 0, out.output
    assert "caught up: 1 view, 12 events applied" in out.output and "uc" in out.output
    want = {u: (float(sum(i for i in range(12) if i % 3 == u)), 4) for u in range(3)}
    assert _online(path, now) == want

    status = cli("features", "status", "-l", str(path))
    assert status.exit_code == 0, status.output
    assert "stream feature views" in status.output and "clicks" in status.output
    assert "5m ok" in status.output  # the freshness SLO, not breached

    with lakebed.connect(path) as lake:  # 3 more events, then a replay rebuilds all 15
        lake.streams.get("clicks").append(rows(3, start=12, now=now))
    replay = cli("streams", "replay", "uc", "-l", str(path))
    assert replay.exit_code == 0, replay.output
    assert "replayed uc from the oldest retained record" in replay.output and "15 applied" in replay.output
    want = {u: (float(sum(i for i in range(15) if i % 3 == u)), 5) for u in range(3)}
    assert _online(path, now) == want
    since = cli("streams", "replay", "uc", "--since", (datetime.now(UTC) + timedelta(hours=1)).isoformat(), "-l",
                str(path))
    assert since.exit_code == 0 and "0 applied" in since.output, since.output
    with lakebed.connect(path, read_only=True) as lake:
        assert lake.tables.read("streams.uc").num_rows == 15  # the rows before --since are kept


def test_features_stream_runs_until_ctrl_c(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    now = _stream_view_lake(path, 6)
    proc = subprocess.Popen(_cmd("features", "stream", "-l", str(path)), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while _online_or_none(path, now) != {u: (float(sum(i for i in range(6) if i % 3 == u)), 2)
                                             for u in range(3)}:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the events were not applied"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "stopped: 1 view, 6 events applied" in out
    with lakebed.connect(path, read_only=True) as lake:
        assert lake.tables.read("streams.uc").num_rows == 6  # the offline tail landed on the way out


def _online_or_none(path: Path, now: datetime) -> dict[int, tuple[Any, Any]] | None:
    try:
        return _online(path, now)
    except lakebed.LakebedError:  # the online store is not made yet
        return None


@pytest.mark.parametrize("args", [["streams", "tail"], ["streams", "replay"], ["features", "stream"]])
def test_help_names_the_lake_and_streams_options(args: list[str]) -> None:
    out = cli(*args, "--help")
    assert out.exit_code == 0, out.output
    assert "--lake" in out.output and "--streams" in out.output
    assert "streams" in cli("--help").output


@pytest.mark.redis
def test_streams_option_selects_a_broker_backend(tmp_path: Path, redis_url: str) -> None:
    """``--streams URL`` (or LAKEBED_STREAMS) puts the streams on a broker, shared with
    any lake that names the same namespace."""
    redis_url = f"{redis_url}?namespace=t{uuid.uuid4().hex[:10]}"  # shared by every lake naming it
    path = tmp_path / "lake"
    lakebed.connect(path).close()
    out = cli("streams", "create", "ev", "--schema", "k:string,v:float64", "--streams", redis_url, "-l", str(path))
    assert out.exit_code == 0, out.output
    assert "backend redis" in out.output
    with lakebed.connect(":memory:", streams=redis_url) as other:
        other.streams.get("ev").append([{"k": "a", "v": 1.0}, {"k": "b", "v": 2.0}])
    ls = runner.invoke(app, ["streams", "ls", "-l", str(path)], env={**ENV, "LAKEBED_STREAMS": redis_url})
    assert ls.exit_code == 0 and "redis" in ls.output and "ev" in ls.output, ls.output
    got = json_lines(cli("streams", "tail", "ev", "-g", "g", "--streams", redis_url, "-l", str(path)).output)
    assert [r["k"] for r in got] == ["a", "b"]
    lag = json.loads(cli("streams", "lag", "ev", "--json", "--streams", redis_url, "-l", str(path)).output)
    assert lag["groups"]["g"] == {"committed": {"0": 2}, "lag": {"0": 0}, "total": 0}
    assert "no streams yet" in cli("streams", "ls", "-l", str(path)).output  # the embedded log has none
