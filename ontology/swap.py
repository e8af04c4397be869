"""Store mode built aside (issue 13): the new store is bulk-loaded into a directory of its own
and moved in place of ``graph/`` by two renames once no writer holds the old one.

``ontology.journal`` builds it (``_build_aside``: one bulk load, the kept graphs dumped by a
``Prefetch`` thread beside the loader) and commits it by renaming it to
``graph.journal/<hash>.store``; ``finish_swaps`` (called by ``open_store`` before it opens the
store) moves it in. See ``ontology.journal`` for the guarantees.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import shutil
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyoxigraph as ox

__all__ = ["Prefetch", "Stream", "finish_swaps", "fsync_dir", "load_aside", "swap_pending"]

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


class Prefetch:
    """Iterate ``chunks`` in a thread of its own, at most one chunk ahead (Oxigraph's dump runs
    without Python's lock, beside the bulk loader); a context manager that stops the thread on
    exit. An exception of the thread is raised where its chunk would have come."""

    _END = object()

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="kgf-dump", daemon=True)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer
            self._put(exc)

    def __enter__(self) -> Iterator[bytes]:
        self._thread.start()
        return self._iter()

    def _iter(self) -> Iterator[bytes]:
        while (item := self._queue.get()) is not self._END:
            if isinstance(item, BaseException):
                try:
                    raise item
                finally:  # no cycle through this frame: the store is freed with its last handle
                    del item
            yield item  # type: ignore[misc]

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def load_aside(path: Path, graphs: Sequence[ox.NamedNode], chunks: Iterable[bytes]) -> None:
    """Bulk-load ``chunks`` (N-Quads) into a new store at ``path``, with ``graphs`` existing even
    when empty, flushed and closed."""
    aside = ox.Store(str(path))
    try:
        aside.bulk_load(Stream(chunks), format=_NQ, lenient=True)
        for g in graphs:
            aside.add_graph(g)
        aside.flush()
    finally:
        del aside


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
