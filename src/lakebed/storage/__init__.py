"""File access for the lake: atomic writes and the writer lock.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> atomic_write_bytes(p, b"{}")
    >>> p.read_bytes()
    b'{}'
"""

from lakebed.storage._atomic import atomic_write_bytes, fsync_dir, fsync_file
from lakebed.storage._lock import LakeLock

__all__ = ["LakeLock", "atomic_write_bytes", "fsync_dir", "fsync_file"]
