"""One apply at a time per state directory: an exclusive lock on .reconciler/apply.lock.

The lock is taken on a descriptor this module opens itself, with filelock's native primitive
(flock on Unix, LockFileEx on Windows), so the file is opened without following a symlink: a
lock path planted as a link could otherwise make the holder line overwrite any file. Windows
locks byte 0 only, and a locked byte cannot be read there, so the holder line starts at byte 1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

from filelock import lock_descriptor, unlock_descriptor

from reconciler.errors import ReconcilerError

HOLDER_OFFSET = 1
_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


class ApplyLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> ApplyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open()
        try:
            acquired = lock_descriptor(fd, blocking=False)
        except OSError as error:
            os.close(fd)
            raise ReconcilerError(f"cannot lock {self.path}: {error.strerror or error}") from None
        if not acquired:
            holder = _read_holder(fd) or "another process"
            os.close(fd)
            raise ReconcilerError(f"another apply is running against this account from this directory "
                                  f"({holder}); wait for it to finish (lock: {self.path})")
        _write_holder(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        self._fd = fd
        return self

    def _open(self) -> int:
        if self.path.is_symlink():
            raise ReconcilerError(f"the apply lock {self.path} is a symbolic link; refusing to follow it (remove it: "
                                  "the lock file is an ordinary file the tool creates)")
        try:
            return os.open(self.path, _FLAGS, 0o644)
        except OSError as error:  # ELOOP: it became a link after the check
            raise ReconcilerError(f"cannot open the apply lock {self.path}: {error.strerror or error}") from None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            unlock_descriptor(self._fd)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, HOLDER_OFFSET, os.SEEK_SET)
        return os.read(fd, 200).decode(errors="replace").strip()
    except OSError:
        return ""


def _write_holder(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"\n" + text.encode())
