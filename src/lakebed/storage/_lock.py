from __future__ import annotations

import fcntl
import os
import socket
import threading
from pathlib import Path

from lakebed.errors import LockedError

# Lock files this process holds. flock() conflicts between two descriptors of one process
# too, so a second writer handle in the same process is refused like another process's;
# this set lets the message say so instead of naming our own pid as "another process".
_HELD: dict[Path, int] = {}  # lock file -> pid (a forked child holds nothing)
_HELD_GUARD = threading.Lock()


class LakeLock:
    """An advisory, exclusive writer lock on a lake (``flock`` on ``<lake>/.writer.lock``).

    The kernel drops the lock when the holder dies, so a crashed writer never leaves a
    stale lock behind. The file records the holder's pid and host for the error message.
    A second writer in the same process is refused as well, with a message that says so.

    Example:
        >>> import tempfile, pathlib
        >>> lock = LakeLock(pathlib.Path(tempfile.mkdtemp()))
        >>> lock.acquire(); lock.release()
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / ".writer.lock"
        self._fd: int | None = None
        self._key: Path | None = None

    def acquire(self) -> None:
        key = self.path.resolve()
        with _HELD_GUARD:
            if _HELD.get(key) == os.getpid():
                raise LockedError(
                    f"this process already has the lake at {self.path.parent} open for writing: "
                    "close the other Lake handle first (lake.close()), or open lakes with "
                    "`with lakebed.connect(...) as lake:` so that each is closed when done; "
                    "a reader beside it opens with read_only=True"
                )
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
            _HELD[key] = os.getpid()
            self._key = key

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
                with _HELD_GUARD:
                    if self._key is not None:
                        _HELD.pop(self._key, None)
                        self._key = None

    @property
    def held(self) -> bool:
        return self._fd is not None
