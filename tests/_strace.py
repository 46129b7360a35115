"""Counting fsyncs with ``strace``: run a Python script in a child under ``strace -f -y``
and count the fsync/fdatasync calls on one file between two marks the script writes to
stderr (``os.write(2, b"MARK-BEGIN\\n")`` ... ``os.write(2, b"MARK-END\\n")``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def fsyncs_between_marks(trace: Path, path_part: str) -> int:
    """fsync/fdatasync calls on files whose path contains ``path_part``, between the marks."""
    n, inside = 0, False
    for line in trace.read_text().splitlines():
        if "MARK-BEGIN" in line:
            inside = True
        elif "MARK-END" in line:
            inside = False
        elif inside and re.search(r"\b(fsync|fdatasync)\(\d+<[^>]*" + re.escape(path_part), line):
            n += 1
    return n


def count_fsyncs(trace: Path, script: str, args: list[str], path_part: str) -> int:
    """Run ``python -c script *args`` under strace (writing ``trace``) and count its fsyncs
    of ``path_part`` between the marks; skips the test when strace is not installed."""
    if shutil.which("strace") is None:
        msg = "strace is not installed (apt-get install strace)"
        if os.environ.get("LAKEBED_REQUIRE_SERVICES") == "1":
            pytest.fail(f"LAKEBED_REQUIRE_SERVICES=1 but {msg}")
        pytest.skip(msg)
    subprocess.run(
        ["strace", "-f", "-y", "-e", "trace=fsync,fdatasync,write", "-o", str(trace),
         sys.executable, "-c", script, *args],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
    )
    return fsyncs_between_marks(trace, path_part)
