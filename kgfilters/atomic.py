"""Atomic file writes: write to a temporary name beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed over ``target``.

    On any exception the temporary file is removed and ``target`` is left as it was, so a killed
    or failed command never leaves a half-written file where a finished one is expected.
    A rewritten file keeps the permission bits of the one it replaces (a 600 file stays 600); a
    new file gets what a plain ``open()`` would give it (0666 less the umask).
    ``suffix`` keeps an extension on the temporary name for writers that look at it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f"{suffix}.tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _mode_for(target))
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _mode_for(target: Path) -> int:
    """Permission bits for a file about to replace ``target``: those of the existing file, else
    the umask default (mkstemp alone would make every file owner-only)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def _write(target: str | os.PathLike[str], mode: str, write: Any) -> Path:
    with atomic_path(target) as tmp:
        f: IO[Any]
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    return Path(target)


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically; return the target path."""
    return _write(target, "wb", lambda f: f.write(data))


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically; return the target path."""
    return _write(target, "w", lambda f: f.write(text))


def atomic_write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``target`` atomically."""
    return atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=True) + "\n")
