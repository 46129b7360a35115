"""Vector writes honour the lake's ``fsync`` setting, counted with strace: under "always"
each acknowledged upsert or delete is fsynced in the write-ahead log before it returns;
under "batch" the log is fsynced at flush (and close) only; under "never" not at all."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tests._strace import count_fsyncs

WRITER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import lakebed
    lake = lakebed.connect(sys.argv[1], fsync=sys.argv[2], segment_size=100_000)
    col = lake.collections.create("c", dim=4)
    col.create_payload_index("tag", "keyword")
    rng = np.random.default_rng(0)
    os.write(2, b"MARK-BEGIN\\n")
    for i in range(10):
        col.upsert([i], rng.random((1, 4), dtype=np.float32), payloads=[{"tag": "a"}])
    for i in range(10):
        col.delete(ids=[i])
    os.write(2, b"MARK-END\\n")
    lake.close()
    """
)


def wal_fsyncs(tmp_path: Path, fsync: str) -> int:
    """fsyncs of the collection's write-ahead log during 10 upserts and 10 deletes."""
    lake = tmp_path / f"lake-{fsync}"
    return count_fsyncs(tmp_path / f"trace-{fsync}", WRITER, [str(lake), fsync], ".wal")


@pytest.mark.parametrize(("fsync", "low", "high"), [("always", 20, 20), ("batch", 0, 0), ("never", 0, 0)])
def test_wal_fsyncs_follow_the_setting(tmp_path: Path, fsync: str, low: int, high: int) -> None:
    got = wal_fsyncs(tmp_path, fsync)
    assert low <= got <= high, f"20 vector writes under fsync={fsync!r} made {got} fsyncs of the WAL"
