"""Executors whose threads never hold up quitting: every thread is a daemon, and shutdown does not wait.

Textual runs thread workers on the event loop's default executor, and ``asyncio.run`` waits for
that executor's threads when the app exits; the interpreter also joins every non-daemon thread
(``ThreadPoolExecutor`` threads included) before the process ends. A worker still reading the
statistics, explaining an image or running a SPARQL query would keep a quitting TUI on screen
until it finished. What these threads do is reading (the run's files, a read-only store), so
nothing is lost when the process ends under them; the one writer, the CSV export, is waited for by
``KgfApp.action_quit`` itself.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["DaemonExecutor", "SerialDaemonExecutor"]


def _run(fut: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if not fut.set_running_or_notify_cancel():
        return
    try:
        fut.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # handed to whoever waits on the future, as ThreadPoolExecutor does
        fut.set_exception(exc)


class DaemonExecutor(ThreadPoolExecutor):
    """Each task on a daemon thread of its own; ``shutdown`` returns at once. A ThreadPoolExecutor
    subclass because ``loop.set_default_executor`` accepts only those; none of its pool is used."""

    def __init__(self, name: str = "kgf-worker") -> None:
        super().__init__(1, thread_name_prefix=name)
        self._name = name
        self._count = itertools.count(1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        threading.Thread(target=_run, args=(fut, fn, args, kwargs), daemon=True,
                         name=f"{self._name}-{next(self._count)}").start()
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


class SerialDaemonExecutor:
    """Tasks one after another on a single daemon thread (started on first use), in order:
    for objects that belong to one thread, such as pyoxigraph's result iterators."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Queue ``fn(*args)``; RuntimeError after ``shutdown``."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name}: shut down")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True, name=self._name)
                self._thread.start()
            fut: Future[Any] = Future()
            self._tasks.put((fut, fn, args))
            return fut

    def _loop(self) -> None:
        while (task := self._tasks.get()) is not None:
            fut, fn, args = task
            _run(fut, fn, args, {})

    def shutdown(self, wait: bool = False) -> None:
        """No more tasks; the thread ends after those queued (``wait``: wait for that)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._tasks.put(None)
            thread = self._thread
        if wait and thread is not None:
            thread.join()
