"""The run lock: one writer of a run directory at a time, taken before any file is written.

``run_lock(root)`` takes an exclusive ``fcntl.flock`` on ``RUN/.lock`` (a small file holding the
holder's pid). A second writer waits, polling, up to ``timeout`` seconds (default
``KGFILTERS_LOCK_TIMEOUT``, else 30 s), saying once that it waits, and then fails with a one-line
RunError before touching anything. The lock is re-entrant within a process: a stage function that
takes it can be called by a command that already holds it. Readers (``status``, ``query``, the TUI)
never take it.

The lock file itself stays in the run directory (removing a flock'ed file races with waiters).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kgfilters.errors import RunError

__all__ = ["LOCK_NAME", "held_by", "is_locked", "lock_timeout", "run_lock"]

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"  # RunPaths.lock
_POLL_S = 0.05

#: Locks this process holds: resolved lock path -> (pid that took it, fd, depth).
_held: dict[Path, tuple[int, int, int]] = {}
_guard = threading.Lock()


def lock_timeout() -> float:
    """Seconds a writer waits for the run lock: ``KGFILTERS_LOCK_TIMEOUT`` (default 30)."""
    text = os.environ.get("KGFILTERS_LOCK_TIMEOUT", "30")
    try:
        value = float(text)
    except ValueError:
        raise RunError(f"KGFILTERS_LOCK_TIMEOUT={text!r}: expected seconds, e.g. 30") from None
    if value < 0:
        raise RunError(f"KGFILTERS_LOCK_TIMEOUT={text!r}: expected seconds >= 0")
    return value


def _lock_path(root: str | os.PathLike[str]) -> Path:
    from kgfilters.run import RunPaths

    return RunPaths(Path(root).resolve()).lock


def held_by(root: str | os.PathLike[str]) -> int | None:
    """The pid written in the run's lock file (the last writer to take it), or None."""
    try:
        text = _lock_path(root).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def is_locked(root: str | os.PathLike[str]) -> bool:
    """Whether another process holds the run's lock now (False when this process holds it)."""
    path = _lock_path(root)
    with _guard:
        entry = _held.get(path)
        if entry is not None and entry[0] == os.getpid():
            return False
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock, if taken
    return False


def _acquire(path: Path, root: Path, timeout: float, on_wait: Callable[[str], None]) -> int:
    if not root.is_dir():
        raise RunError(f"{root}: no such run directory; run `kgfilters train --run {root}` first")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    said = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = held_by(root)
                who = f"pid {pid}" if pid is not None else "pid unknown"
                if time.monotonic() >= deadline:
                    raise RunError(
                        f"{root} is being written by another kgfilters command ({who}); gave up "
                        f"after {timeout:g}s (KGFILTERS_LOCK_TIMEOUT sets the wait)"
                    ) from None
                if not said:
                    on_wait(f"{root} is being written by another kgfilters command ({who}); "
                            f"waiting up to {timeout:g}s...")
                    said = True
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def run_lock(
    root: str | os.PathLike[str],
    *,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the run's write lock for the ``with`` block (re-entrant within a process).

    timeout: seconds to wait for another writer (default ``lock_timeout()``); RunError after it.
    on_wait: called once with a line saying who holds the lock (default: a log warning).
    """
    root = Path(root)
    path = _lock_path(root)
    pid = os.getpid()
    with _guard:
        entry = _held.get(path)
        if entry is not None and entry[0] == pid:
            _held[path] = (pid, entry[1], entry[2] + 1)
            nested = True
        else:
            nested = False
    if not nested:
        fd = _acquire(path, root, lock_timeout() if timeout is None else timeout,
                      on_wait or log.warning)
        with _guard:
            _held[path] = (pid, fd, 1)
    try:
        yield
    finally:
        with _guard:
            _, fd, depth = _held[path]
            if depth > 1:
                _held[path] = (pid, fd, depth - 1)
            else:
                del _held[path]
                os.close(fd)  # releases the flock
