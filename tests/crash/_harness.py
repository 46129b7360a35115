"""The crash harness: a child process writes to a lake and acknowledges each call in an
operations log; the parent SIGKILLs it at a random instant, then checks the lake from a
fresh open against what was acknowledged.

The child's script is a workload body run after a prelude that defines::

    PATH, SEED        the lake's path and this round's seed
    begin(spec)       log the operation about to run (a JSON-able dict)
    ack()             log that the call returned (the write is acknowledged)

A workload loops forever (``while True: begin(spec); <the call>; ack()``); the harness kills it.

After each kill the harness calls ``check(path, acked, pending)``: ``acked`` lists the
acknowledged operations of every round so far (in order), ``pending`` is the one that was in
flight when the kill came (or None). ``check`` asserts that every acknowledged write is there
and returns True if the in-flight operation turned out wholly applied, False if not at all
(a half-applied batch must fail the check). The answer is logged, so the next round's model
includes the settled operation.

Kills per area: ``LAKEBED_CRASH_KILLS`` (10 by default; the slow run uses 100::

    LAKEBED_CRASH_KILLS=100 ./scripts/test tests/crash

Writers are forked from a fork server (a "zygote"): one helper process per :func:`crash_loop`
that imports lakebed, its heavy dependencies and the workload's own imports once (it starts
no Python thread, opens no lake, runs no computation), then forks one writer per round. The writer
runs the script as ``python script.py PATH LOG SEED`` would (``sys.argv``, ``__main__``,
stdout to /dev/null, stderr to ``writer.<round>.stderr`` in the test's directory) and is
SIGKILLed by the harness itself, exactly as a writer started with ``subprocess`` was; a round
no longer pays the ~1.3 s of a fresh interpreter's imports. ``LAKEBED_CRASH_FORK=0`` starts
a fresh interpreter (``subprocess``) for every round instead, as the harness used to.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Protocol

import numpy as np

PRELUDE = r"""
import json, os, sys
PATH, _LOG, SEED = sys.argv[1], sys.argv[2], int(sys.argv[3])
_out = open(_LOG, "a", buffering=1)
def begin(spec):
    _out.write("BEGIN " + json.dumps(spec) + "\n")
def ack():
    _out.write("ACK\n")
"""

# What the zygote imports before it forks, besides the workload's own top-level imports:
# lakebed's areas and backends (a lake imports them on first use) and the libraries they
# import lazily (measured: what writers of the tests here import). Import only: none starts a
# Python thread or computes anything (numpy's OpenBLAS and pyarrow's jemalloc start native
# threads, as they do in any writer, and have fork handlers). polars is left out: it starts
# a thread of its own on import and warns against fork; a writer imports it itself. A name
# that is not installed is skipped (a writer that needs it fails as it would have).
PRELOAD = (
    "numpy",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.dataset",
    "pyarrow.acero",
    "pandas",
    "sqlite3",
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite",
    "alembic",
    "alembic.command",
    "alembic.config",
    "deltalake",
    "deltalake.fs",
    "duckdb",
    "faiss",
    "pyroaring",
    "orjson",
    "redis",
    "psycopg",
    "nats",
    "lakebed",
    "lakebed.tables",
    "lakebed.vectors",
    "lakebed.features",
    "lakebed.features._stream",
    "lakebed.features._materialize",
    "lakebed.features.online.sqlite",
    "lakebed.features.online.redis",
    "lakebed.features.online.postgres",
    "lakebed.streams",
    "lakebed.streams._embedded",
    "lakebed.streams._redis",
    "lakebed.streams._nats",
    "lakebed.quality",
    "lakebed.tracking",
)

Check = Callable[[Path, list[dict[str, Any]], "dict[str, Any] | None"], bool]


def kills() -> int:
    """How many kills a crash test makes (``LAKEBED_CRASH_KILLS``, default 10)."""
    return int(os.environ.get("LAKEBED_CRASH_KILLS", "10"))


def _fork_enabled() -> bool:
    """Writers are forked from a zygote unless ``LAKEBED_CRASH_FORK=0``."""
    return os.environ.get("LAKEBED_CRASH_FORK", "1") != "0" and hasattr(os, "fork")


def read_ops(log: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The acknowledged operations, in order, and the one in flight (or None)."""
    acked: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    if not log.exists():
        return acked, None
    for line in log.read_text().splitlines():
        if line.startswith("BEGIN "):
            pending = json.loads(line[6:])
        elif line in ("ACK", "SETTLED") and pending is not None:
            acked.append(pending)
            pending = None
        elif line == "DROPPED":
            pending = None
    return acked, pending


class _AckCounter:
    """The number of ``ACK`` lines in the log, reading only what was appended since the last
    call (the log only grows; a line still being written is counted once it is whole)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = 0
        self.count = 0

    def __call__(self) -> int:
        try:
            with open(self.log, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return self.count
        end = data.rfind(b"\n") + 1  # whole lines only
        self.count += sum(1 for line in data[:end].split(b"\n") if line == b"ACK")
        self.offset += end
        return self.count


class _Writer(Protocol):
    """A running writer: ``poll`` (exit status or None), ``kill`` (SIGKILL, then reap)."""

    pid: int

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...


# -- the plain path: a fresh interpreter per round (LAKEBED_CRASH_FORK=0) -------------------
class _SubprocessWriter:
    def __init__(self, argv: list[str], stderr: Path) -> None:
        with open(stderr, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=err)
        self.pid = self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> None:
        if self.proc.poll() is None:  # not reaped yet: the pid is still this writer's
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()


class _Spawner(Protocol):
    def spawn(self, argv: list[str], stderr: Path) -> _Writer: ...

    def close(self) -> None: ...


class _Subprocesses:
    def spawn(self, argv: list[str], stderr: Path) -> _Writer:
        return _SubprocessWriter(argv, stderr)

    def close(self) -> None:
        pass


# -- the fork server -------------------------------------------------------------------------
# Protocol: one JSON line per request on the zygote's stdin, one JSON line per reply on its
# stdout. {"run": [script, args...], "stderr": file} -> {"pid": n}; {"poll": pid} ->
# {"status": raw wait status or null} (reaps the child if it has exited); {"wait": pid} ->
# {"status": n} (blocks until it has). A child stays unreaped (a zombie) until the harness
# polls or waits for it, so its pid cannot be reused while the harness may still kill it.
# End of stdin: the zygote SIGKILLs and reaps every child it still has, then exits.

_ZYGOTE_REPLY_TIMEOUT = 60.0


class _ZygoteWriter:
    def __init__(self, zygote: _Zygote, pid: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.status: int | None = None

    def poll(self) -> int | None:
        if self.status is None:
            self.status = self.zygote.request({"poll": self.pid})["status"]
        return None if self.status is None else _exit_code(self.status)

    def kill(self) -> None:
        # unreaped until the zygote is asked to wait for it: until then the pid is still this
        # writer's (a zombie at worst)
        if self.status is not None:
            return
        if self.zygote.proc.poll() is not None:  # the zygote died: no one to reap it, stop it anyway
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            return
        os.kill(self.pid, signal.SIGKILL)  # the writer itself, not the zygote
        self.status = self.zygote.request({"wait": self.pid})["status"]


def _exit_code(status: int) -> int:
    """A wait status as ``Popen.returncode`` gives it (-N: killed by signal N)."""
    return os.waitstatus_to_exitcode(status)


class _Zygote:
    """The fork server of one :func:`crash_loop` (see the module docstring)."""

    def __init__(self, script: Path, workdir: Path) -> None:
        self.log = workdir / "zygote.stderr"
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--zygote", str(script)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
            )
        self.buf = b""
        try:
            self._reply()  # {"ready": true}: its imports are done
        except BaseException:
            self.close()
            raise

    def spawn(self, argv: list[str], stderr: Path) -> _Writer:
        return _ZygoteWriter(self, int(self.request({"run": argv, "stderr": str(stderr)})["pid"]))

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._died()
        return self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + _ZYGOTE_REPLY_TIMEOUT
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"the fork server did not answer in {_ZYGOTE_REPLY_TIMEOUT} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                self._died()
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"the fork server failed: {reply['error']}")
        return reply

    def _died(self) -> NoReturn:
        self.proc.wait()
        raise AssertionError(f"the fork server exited ({self.proc.returncode}):\n{self.log.read_text()}")

    def close(self) -> None:
        """End the zygote: it SIGKILLs and reaps the children it still has, then exits."""
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _top_imports(source: str) -> list[str]:
    """The modules a script imports at its top level (not inside functions or loops)."""
    names: list[str] = []
    try:
        body = ast.parse(source).body
    except SyntaxError:  # the writer reports it (as "exited by itself", with its traceback)
        return []
    for node in body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def _zygote_main(script: str) -> None:
    """The fork server's loop (run as ``python _harness.py --zygote SCRIPT``)."""
    import importlib
    import runpy
    import threading
    import traceback

    cmd_in, reply_out = os.dup(0), os.dup(1)  # the protocol; 0 and 1 become /dev/null
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness ends it (EOF on its stdin)

    def reply(msg: dict[str, Any]) -> None:
        data = json.dumps(msg).encode() + b"\n"
        while data:
            data = data[os.write(reply_out, data):]

    for name in (*PRELOAD, *_top_imports(Path(script).read_text())):
        # a module that fails to import fails again in the writer, which reports it
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    if threading.active_count() != 1:
        reply({"error": f"importing the workload's modules started threads, so forking is unsafe: "
                        f"{threading.enumerate()} (LAKEBED_CRASH_FORK=0 runs without the fork server)"})
        return
    reply({"ready": True})

    children: set[int] = set()
    reader = os.fdopen(cmd_in, "rb")
    try:
        for line in reader:
            msg = json.loads(line)
            if "run" in msg:
                argv, err_path = [str(a) for a in msg["run"]], str(msg["stderr"])
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:  # the writer: never returns to this loop
                    code = 1
                    try:
                        os.close(cmd_in)
                        os.close(reply_out)
                        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                        os.dup2(err, 2)
                        os.close(err)
                        signal.signal(signal.SIGINT, signal.default_int_handler)
                        if "numpy" in sys.modules:  # a fresh interpreter seeds it from the OS
                            sys.modules["numpy"].random.seed()
                        sys.argv = argv
                        if not sys.flags.safe_path:  # as `python script.py` puts it there
                            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
                        runpy.run_path(argv[0], run_name="__main__")
                        code = 0
                    except SystemExit as exc:
                        if exc.code is None:
                            code = 0
                        elif isinstance(exc.code, int):
                            code = exc.code
                        else:
                            print(exc.code, file=sys.stderr)
                            code = 1
                    except BaseException:
                        traceback.print_exc()
                    finally:
                        try:
                            sys.stdout.flush()
                            sys.stderr.flush()
                        finally:
                            os._exit(code)
                children.add(pid)
                reply({"pid": pid})
            elif "poll" in msg:
                pid = int(msg["poll"])
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.discard(pid)
                reply({"status": status if done else None})
            elif "wait" in msg:
                pid = int(msg["wait"])
                _, status = os.waitpid(pid, 0)
                children.discard(pid)
                reply({"status": status})
            else:
                reply({"error": f"unknown request {msg!r}"})
    except BaseException as exc:
        with contextlib.suppress(OSError):
            reply({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def crash_loop(
    tmp_path: Path,
    workload: str,
    check: Check,
    *,
    n_kills: int | None = None,
    seed: int = 0,
    acks_per_round: tuple[int, int] = (1, 40),
    max_delay: float = 0.05,
    timeout: float = 120.0,
) -> dict[str, int]:
    """Run ``workload`` in a child, kill it ``n_kills`` times at random instants, check after
    each kill. Returns counts: kills, acknowledged operations, in-flight ones found applied
    and found not applied."""
    path = tmp_path / "lake"
    log = tmp_path / "ops.log"
    script = tmp_path / "workload.py"
    script.write_text(PRELUDE + "\n" + workload)
    rng = np.random.default_rng(seed)
    n = kills() if n_kills is None else n_kills
    stats = {"kills": 0, "acked": 0, "inflight_applied": 0, "inflight_absent": 0}
    acks = _AckCounter(log)
    spawner: _Spawner = _Zygote(script, tmp_path) if _fork_enabled() else _Subprocesses()
    try:
        for round_ in range(n):
            start = acks()
            want = start + int(rng.integers(acks_per_round[0], acks_per_round[1] + 1))
            stderr = tmp_path / f"writer.{round_}.stderr"
            writer = spawner.spawn([str(script), str(path), str(log), str(seed * 100_003 + round_)], stderr)
            try:
                deadline = time.monotonic() + timeout
                while acks() < want:
                    if writer.poll() is not None:
                        raise AssertionError(
                            f"the writer exited by itself in round {round_}:\n{stderr.read_text(errors='replace')}")
                    if time.monotonic() > deadline:
                        raise AssertionError(f"the writer made no progress in {timeout} s (round {round_})")
                    time.sleep(0.005)
                time.sleep(float(rng.uniform(0.0, max_delay)))
            finally:
                writer.kill()  # SIGKILL (a no-op if it is gone already), then reap: it is dead from here on
            stats["kills"] += 1
            acked, pending = read_ops(log)
            applied = check(path, acked, pending)
            if pending is not None:
                stats["inflight_applied" if applied else "inflight_absent"] += 1
                with open(log, "a") as fh:
                    fh.write("SETTLED\n" if applied else "DROPPED\n")
            elif applied:
                raise AssertionError("check said an operation was in flight, but none was")
    finally:
        spawner.close()
    stats["acked"] = len(read_ops(log)[0])
    return stats


def run_crash_test(label: str, tmp_path: Path, workload: str, check: Check, **options: Any) -> dict[str, int]:
    """:func:`crash_loop` with the kill count of this run (:func:`kills`) asserted, its
    duration in ``stats["seconds"]``, and the stats printed under ``label``."""
    start = time.monotonic()
    stats = crash_loop(tmp_path, workload, check, **options)
    stats["seconds"] = int(time.monotonic() - start)
    print(f"{label}: {stats}")
    assert stats["kills"] == kills()
    return stats


if __name__ == "__main__" and sys.argv[1:2] == ["--zygote"]:
    _zygote_main(sys.argv[2])
