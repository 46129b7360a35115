"""Run client code in a subprocess where the server stack and the engine cannot be
imported, as on a machine with ``pip install lakebed`` and no extras: what the stand-alone
client tests share."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

# What a client machine without `lakebed[server]` (and, for the engine, without the
# embedded lake's libraries) does not need.
BLOCKED = ["fastapi", "starlette", "uvicorn", "prometheus_client", "faiss", "duckdb", "deltalake",
           "tantivy", "torch", "sentence_transformers", "lakebed.server", "lakebed.vectors._collection",
           "lakebed.tables._tables", "lakebed.features._store", "lakebed.streams._streams"]

# Any import of a blocked module (or of a submodule) fails, as it would were it not installed.
PRELUDE = textwrap.dedent(
    """
    import importlib.abc, json, sys

    BLOCKED = set(json.loads(sys.argv[1])["blocked"])
    WATCH = json.loads(sys.argv[1])["watch"]

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in BLOCKED or name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    ARGS = sys.argv[2:]
    """
)


def run_blocked(code: str, *args: str, blocked: list[str] | None = None, timeout: float = 120) -> Any:
    """Run ``code`` (which prints one JSON line last; ``ARGS`` holds ``args``) with the
    ``blocked`` modules (default :data:`BLOCKED`) unimportable; answer that JSON, with
    ``"loaded"``: the modules of :data:`BLOCKED` and ``blocked`` that ended up in
    ``sys.modules`` all the same (none, when all is well)."""
    names = blocked if blocked is not None else BLOCKED
    setup = json.dumps({"blocked": names, "watch": sorted({*BLOCKED, *names})})
    tail = "\nprint(json.dumps(sorted(m for m in WATCH if m in sys.modules)))\n"
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code) + tail, setup, *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    out = json.loads(lines[-2])
    out["loaded"] = json.loads(lines[-1])
    return out
