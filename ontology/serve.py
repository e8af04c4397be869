"""A read-only SPARQL endpoint over a run's graph: the ``oxigraph`` package's server.

The server runs on a snapshot of the store (an Oxigraph backup, made of hard links where the file
system allows) so stages may keep writing the run's graph while it serves; restart it to see
their new triples. It binds to 127.0.0.1 unless told otherwise (another address is logged as a
warning). Endpoints: ``/query`` (SPARQL 1.1 Protocol) and ``/store`` (Graph Store Protocol, GET
only).

The address the user asked for is bound by ``kgfilters.ontology.proxy.GuardProxy`` first (a busy
port fails at once, with its own message), which refuses federated queries (``SERVICE``) and
forwards the rest to the oxigraph child on a free 127.0.0.1 port. The child dies with its parent
(Linux ``PR_SET_PDEATHSIG``), also when the parent is killed with SIGKILL; a snapshot left behind
by a killed server is removed by the next ``serve`` (each snapshot records its owner's pid).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from kgfilters.errors import GraphError
from kgfilters.ontology.store import has_store, open_store, store_path

__all__ = ["Server", "find_oxigraph", "free_port", "is_loopback", "serve", "sweep_snapshots", "wait_ready"]

if TYPE_CHECKING:
    from kgfilters.ontology.proxy import GuardProxy

log = logging.getLogger(__name__)


def find_oxigraph() -> Path:
    """The ``oxigraph`` server binary: $KGFILTERS_OXIGRAPH, the ``oxigraph`` distribution's script,
    the one beside this Python, or the PATH; GraphError saying how to install it."""
    candidates: list[Path] = []
    if env := os.environ.get("KGFILTERS_OXIGRAPH"):
        candidates.append(Path(env))
    try:
        for f in metadata.distribution("oxigraph").files or ():
            if f.name in ("oxigraph", "oxigraph.exe"):
                candidates.append(Path(str(f.locate())))
    except metadata.PackageNotFoundError:
        pass
    candidates.append(Path(sys.executable).parent / "oxigraph")
    if which := shutil.which("oxigraph"):
        candidates.append(Path(which))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c.resolve()
    raise GraphError("the `oxigraph` server binary is not installed; `pip install oxigraph` "
                     "(or set KGFILTERS_OXIGRAPH to its path)")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_ready(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0,
               log_file: Path | None = None) -> None:
    """Block until ``host:port`` accepts connections; GraphError if ``proc`` dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            has_log = log_file is not None and log_file.is_file()
            err = log_file.read_text("utf-8", "replace").strip() if has_log else ""  # type: ignore[union-attr]
            last = err.splitlines()[-1] if err else f"exit status {proc.returncode}"
            raise GraphError(f"oxigraph server on {host}:{port} stopped at once: {last}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise GraphError(f"oxigraph server on {host}:{port}: not ready after {timeout:.0f} s")


@dataclass
class Server:
    """A running read-only SPARQL endpoint on a snapshot of a run's store; a context manager.

    ``host:port`` is the guard users connect to; ``process`` the oxigraph child behind it on
    127.0.0.1:``backend_port``.
    """

    host: str
    port: int
    process: subprocess.Popen[bytes]
    snapshot: Path
    guard: GuardProxy | None = field(default=None, repr=False)
    backend_port: int | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def query_url(self) -> str:
        return f"{self.url}/query"

    def wait(self) -> int:
        """Block until the server exits (Ctrl-C stops it); return its exit status."""
        try:
            return self.process.wait()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the server and remove its snapshot."""
        if self._closed:
            return
        self._closed = True
        if self.guard is not None:
            self.guard.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.snapshot, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_SNAPSHOT_PREFIX = "kgfilters-serve-"
_OWNER = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_snapshots(tmp: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove snapshots of servers that were killed (SIGKILL leaves no chance to clean up): the
    ``kgfilters-serve-*`` folders of the temporary directory whose owner process is gone."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(f"{_SNAPSHOT_PREFIX}*"):
        try:
            pid = int((folder / _OWNER).read_text("ascii").strip())
        except (OSError, ValueError):
            continue  # not ours, or still being made
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            log.info("removed %s, left by a server that was killed", folder)
    return removed


def _snapshot(run_root: str | os.PathLike[str]) -> Path:
    """Back the store up into a fresh temporary directory (fails if a writer holds the store)."""
    if not has_store(run_root):
        raise GraphError(f"{store_path(run_root)}: no graph yet; run `kgfilters graph --run "
                         f"{run_root}` first")
    folder = Path(tempfile.mkdtemp(prefix=_SNAPSHOT_PREFIX))
    (folder / _OWNER).write_text(f"{os.getpid()}\n", "ascii")
    target = folder / "store"
    try:
        store = open_store(run_root)
    except GraphError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        if len(store) == 0 and not list(store.named_graphs()):
            raise GraphError(f"{run_root}: the graph is empty; run `kgfilters graph` first")
        store.flush()
        store.backup(str(target))
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise GraphError(f"{run_root}: cannot snapshot the graph store ({first})") from None
    except GraphError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        del store
    return folder


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """preexec_fn: ask Linux to send the child SIGTERM when the thread that started it dies (even
    by SIGKILL), and give up if that parent is already gone."""
    import ctypes
    import signal

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    run_root: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    cors: bool = False,
    union_default_graph: bool = True,
    timeout_s: int | None = None,
    ready_timeout: float = 30.0,
) -> Server:
    """Start a read-only SPARQL server over the run's graph and return once it accepts connections.

    port: default a free one. union_default_graph: queries without ``GRAPH`` see every named graph.
    timeout_s: per-query time limit of the server. GraphError (one line) when ``host:port`` is
    taken or cannot be bound, before anything is started. Call from the main thread: the oxigraph
    child is tied to the life of the thread that starts it.
    """
    from kgfilters.ontology.proxy import GuardProxy

    binary = find_oxigraph()
    if port is not None and not 0 <= int(port) <= 65535:
        raise GraphError(f"port {port}: expected a TCP port in 1-65535")
    if not is_loopback(host):
        log.warning("serving on %s, not a loopback address: anyone who can reach this machine can "
                    "read the graph%s", host, " (and, with --cors, any web page they open)" if cors else "")
    try:
        guard = GuardProxy(host, 0 if port is None else int(port))
    except OSError as exc:
        import errno

        why = ("the port is in use (another server?); choose another --port"
               if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc))
        raise GraphError(f"cannot listen on {host}:{port}: {why}") from None
    folder: Path | None = None
    try:
        sweep_snapshots()
        folder = _snapshot(run_root)
        backend = free_port("127.0.0.1")
        cmd = [str(binary), "serve-read-only", "--location", str(folder / "store"),
               "--bind", f"127.0.0.1:{backend}"]
        if cors:
            cmd.append("--cors")
        if union_default_graph:
            cmd.append("--union-default-graph")
        if timeout_s is not None:
            cmd += ["--timeout-s", str(int(timeout_s))]
        log.info("starting %s", " ".join(cmd))
        log_file = folder / "server.log"
        with open(log_file, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                                    preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    except BaseException:
        guard.close()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    server = Server(host, guard.port, proc, folder, guard, backend)
    try:
        wait_ready("127.0.0.1", backend, proc, timeout=ready_timeout, log_file=log_file)
        if proc.poll() is not None:  # another program took the backend port first
            raise GraphError(f"oxigraph server on 127.0.0.1:{backend} stopped at once "
                             f"(exit status {proc.returncode})")
        guard.start(backend)
    except BaseException:
        server.close()
        raise
    return server
