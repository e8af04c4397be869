"""A read-only SPARQL endpoint over a run's graph: the ``oxigraph`` package's server.

The server runs on a snapshot of the store (an Oxigraph backup, made of hard links where the file
system allows) so stages may keep writing the run's graph while it serves; restart it to see
their new triples. It binds to 127.0.0.1 unless told otherwise. Endpoints: ``/query`` (SPARQL
1.1 Protocol) and ``/store`` (Graph Store Protocol, GET only).
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

from kgfilters.errors import GraphError
from kgfilters.ontology.store import has_store, open_store, store_path

__all__ = ["Server", "find_oxigraph", "free_port", "serve", "wait_ready"]

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
    """A running read-only oxigraph server on a snapshot of a run's store; a context manager."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    snapshot: Path
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


def _snapshot(run_root: str | os.PathLike[str]) -> Path:
    """Back the store up into a fresh temporary directory (fails if a writer holds the store)."""
    if not has_store(run_root):
        raise GraphError(f"{store_path(run_root)}: no graph yet; run `kgfilters graph --run "
                         f"{run_root}` first")
    folder = Path(tempfile.mkdtemp(prefix="kgfilters-serve-"))
    target = folder / "store"
    store = open_store(run_root)
    try:
        if len(store) == 0 and not list(store.named_graphs()):
            raise GraphError(f"{run_root}: the graph is empty; run `kgfilters graph` first")
        store.flush()
        store.backup(str(target))
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise GraphError(f"{run_root}: cannot snapshot the graph store ({exc})") from None
    except GraphError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        del store
    return folder


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
    timeout_s: per-query time limit of the server.
    """
    binary = find_oxigraph()
    port = free_port(host) if port is None else int(port)
    folder = _snapshot(run_root)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    cmd = [str(binary), "serve-read-only", "--location", str(folder / "store"), "--bind", bind]
    if cors:
        cmd.append("--cors")
    if union_default_graph:
        cmd.append("--union-default-graph")
    if timeout_s is not None:
        cmd += ["--timeout-s", str(int(timeout_s))]
    log.info("starting %s", " ".join(cmd))
    log_file = folder / "server.log"
    with open(log_file, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT)
    server = Server(host, port, proc, folder)
    try:
        wait_ready(host, port, proc, timeout=ready_timeout, log_file=log_file)
    except BaseException:
        server.close()
        raise
    return server
