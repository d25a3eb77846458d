"""Who is using a data directory: a running server holds it, a restore needs it to itself.

An advisory lock (flock) on ``<data_dir>/ringfort.lock``: every ``ringfort serve``
holds it shared, so several may run (the CLI never takes it), and a restore takes it
exclusively before it replaces the directory under them. The operating system drops
the lock when the process ends, however it ends, so a crash never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from ringfort.errors import RingfortError

__all__ = ["LOCK_FILE", "DataDirectoryInUseError", "DataDirectoryLock"]

LOCK_FILE = "ringfort.lock"
"""The lock's file name in the data directory; it holds nothing."""


class DataDirectoryInUseError(RingfortError):
    """The lock is held the other way: a server runs during a restore, or a restore at start."""


class DataDirectoryLock:
    """The lock of one data directory; release it (or leave the ``with``) when done."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def hold_shared(self) -> None:
        """Hold the lock as a running server does; :class:`DataDirectoryInUseError` during a
        restore."""
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        self._take(fd, fcntl.LOCK_SH, f"a restore is replacing {self._path.parent}; start later")

    def hold_exclusive(self) -> None:
        """Take the lock to replace the directory; :class:`DataDirectoryInUseError` while a
        server runs.

        A directory without the lock file has never had a server: nothing to take, and
        nothing is created in it.
        """
        try:
            fd = os.open(self._path, os.O_RDWR)
        except FileNotFoundError:
            return
        self._take(
            fd,
            fcntl.LOCK_EX,
            f"a Ringfort server is running on {self._path.parent}; stop it first",
        )

    def _take(self, fd: int, kind: int, busy: str) -> None:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirectoryInUseError(busy) from None
        except BaseException:
            os.close(fd)
            raise
        self.release()
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing the file does it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> DataDirectoryLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
