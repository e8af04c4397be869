"""Store mode built aside (issue 13): the new store is bulk-loaded into a directory of its own
and moved in place of ``graph/`` by two renames once no writer holds the old one.

``ontology.journal`` builds it (``_build_aside``: the new graphs bulk-loaded while a thread dumps the
kept graphs from the old store and bulk-loads them beside) and commits it by renaming it to
``graph.journal/<hash>.store``; ``finish_swaps`` (called by ``open_store`` before it opens the
store) moves it in. See ``ontology.journal`` for the guarantees.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyoxigraph as ox

__all__ = ["Stream", "finish_swaps", "fsync_dir", "load_aside", "swap_pending"]

log = logging.getLogger(__name__)

_NQ = ox.RdfFormat.N_QUADS


def swap_pending(journal: Path) -> bool:
    """Whether ``journal`` holds a committed new store (``<hash>.store``) not yet moved in place."""
    return journal.is_dir() and any(journal.glob("*.store"))


class Stream:
    """A read-only binary file over an iterator of byte chunks (what ``bulk_load`` reads from)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buf = memoryview(chunk)
        n = len(self._buf) if size is None or size < 0 else size
        out, self._buf = self._buf[:n], self._buf[n:]
        return out.tobytes()


def load_aside(path: Path, graphs: Sequence[ox.NamedNode], chunks: Iterable[bytes],
               kept: Iterable[bytes] = ()) -> None:
    """Bulk-load ``chunks`` (N-Quads) into a new store at ``path``, with ``graphs`` existing even
    when empty, flushed and closed. ``kept`` (N-Quads texts, e.g. graphs dumped from the old
    store) are bulk-loaded at the same time by a thread of their own: both loaders run without
    Python's lock and only add quads, so on two cores the kept graphs cost little wall time. An
    exception of either load is raised here once both have stopped."""
    aside = ox.Store(str(path))
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="kgf-kept") as pool:
            side = pool.submit(_load_each, aside, kept)
            try:
                aside.bulk_load(Stream(chunks), format=_NQ, lenient=True)
            finally:
                side.exception()  # waits: the thread must stop before the store is freed
        try:
            side.result()  # the kept graphs' error, if any
        finally:  # no cycle through this frame: the old store is freed with its last handle
            del side
        for g in graphs:
            aside.add_graph(g)
        aside.flush()
    finally:
        del aside


def _load_each(store: ox.Store, texts: Iterable[bytes]) -> None:
    for text in texts:
        store.bulk_load(text, format=_NQ, lenient=True)


@contextlib.contextmanager
def _locked(journal: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the journal directory: one process at a time moves stores."""
    fd = os.open(journal, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def finish_swaps(store_dir: Path, journal: Path) -> int:
    """Move each committed new store (``journal/<hash>.store``, oldest first) to ``store_dir``;
    the old directory is moved away first and then deleted. Returns how many were moved.

    Called before the store is opened (``open_store``). An OSError naming the lock when a live
    writer holds ``store_dir`` (it committed the new store and has not dropped its handle yet:
    the directory must not move under it)."""
    if not swap_pending(journal):
        return 0
    done = 0
    with _locked(journal):
        for entry in sorted(journal.glob("*.store"), key=lambda p: p.stat().st_mtime_ns):
            old = journal / f".{entry.stem}.old.tmp"
            if store_dir.exists():  # absent when killed between the two renames
                if (store_dir / "CURRENT").exists():
                    probe = ox.Store(str(store_dir))  # the store's lock: no live writer in it
                    del probe
                mode = stat.S_IMODE(store_dir.stat().st_mode)
                shutil.rmtree(old, ignore_errors=True)
                os.rename(store_dir, old)
                os.chmod(entry, mode)  # graph/ keeps its permissions
            os.rename(entry, store_dir)
            fsync_dir(store_dir.parent)
            shutil.rmtree(old, ignore_errors=True)
            log.info("%s: new store moved in place", store_dir)
            done += 1
    return done


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory
        pass
    finally:
        os.close(fd)
