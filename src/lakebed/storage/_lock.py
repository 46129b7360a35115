from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from lakebed.errors import LockedError


class LakeLock:
    """An advisory, exclusive writer lock on a lake (``flock`` on ``<lake>/.writer.lock``).

    The kernel drops the lock when the holder dies, so a crashed writer never leaves a
    stale lock behind. The file records the holder's pid and host for the error message.

    Example:
        >>> import tempfile, pathlib
        >>> lock = LakeLock(pathlib.Path(tempfile.mkdtemp()))
        >>> lock.acquire(); lock.release()
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / ".writer.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"the lake at {self.path.parent} is open for writing by another process "
                f"({holder}); close it there, open this one with read_only=True, "
                "or serve the lake with `lakebed serve` for many writers"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
