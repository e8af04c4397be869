"""Options shared by several subcommands, and helpers to open the run they name."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # torch is imported by the commands that compute, not by every --help or query
    import torch

__all__ = ["DEFAULT_RUN", "add_device", "add_run", "device_of", "parse_filter_ref", "refresh_graph",
           "writing"]

DEFAULT_RUN = "runs/fashion-mnist"
T = TypeVar("T")


def add_run(p: argparse.ArgumentParser) -> None:
    # --run-dir is an alias for torchrun, whose own parser takes --run as a prefix of --run-path.
    p.add_argument("--run", "--run-dir", dest="run", type=Path, default=Path(DEFAULT_RUN),
                   metavar="DIR", help=f"run directory (default: {DEFAULT_RUN})")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto (default: auto)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")


def device_of(args: argparse.Namespace) -> torch.device:
    from kgfilters.device import pick_device

    return pick_device(getattr(args, "device", "auto"))


def parse_filter_ref(text: str) -> tuple[str, int]:
    """``LAYER:INDEX`` -> (layer, index); ConfigError on anything else."""
    from kgfilters.errors import ConfigError

    layer, sep, idx = text.rpartition(":")
    if not sep or not layer or not idx.isdigit():
        raise ConfigError(f"--filter {text!r}: expected LAYER:INDEX, e.g. conv2:13")
    return layer, int(idx)


def _say(line: str) -> None:
    print(f"kgfilters: {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def writing(args: argparse.Namespace, stage: str, *, create: bool = False) -> Iterator[None]:
    """Hold the run's write lock for a writing stage's whole command: files, graph and record.

    Taken before anything is written: a second writer waits (saying so on stderr) or fails. Then,
    when the run has a graph store, it must be writable now (not held by another process) and
    readable (``check_store``), so a stage never writes its files and then fails at the graph.
    ``create``: make the run directory first (``train`` of a new run).
    """
    from kgfilters.lock import run_lock
    from kgfilters.run import read_run_json
    from kgfilters.stages import get_stage

    get_stage(stage)
    root = Path(args.run)
    made = create and not root.exists()
    if create:
        root.mkdir(parents=True, exist_ok=True)
    else:
        read_run_json(args.run)  # no run, or a run.json of the wrong shape: one line, no lock file
    try:
        with run_lock(args.run, on_wait=_say):
            check_store_free(args.run)
            check_store(args.run)
            yield
    except BaseException:
        if made:  # a failed first command leaves no directory behind (only its lock file is in it)
            _remove_if_only_lock(root)
        raise


def _remove_if_only_lock(root: Path) -> None:
    from kgfilters.run import RunPaths

    lock = RunPaths(root).lock
    if all(p == lock for p in root.iterdir()):
        lock.unlink(missing_ok=True)
        root.rmdir()


def check_store_free(run: Path) -> None:
    """GraphError when another process holds the run's graph store open for writing.

    Probes the store's ``LOCK`` file (RocksDB's POSIX lock) without opening the store, so nothing
    in ``graph/`` is written.
    """
    import fcntl
    import os

    from kgfilters.errors import GraphError
    from kgfilters.ontology.store import store_path

    lock = store_path(run) / "LOCK"
    if not lock.is_file():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise GraphError(
            f"{store_path(run)}: the graph store is locked by another process; nothing was written "
            "(wait for it to finish and try again)"
        ) from None
    finally:
        os.close(fd)  # drops the probe's lock


def refresh_graph(args: argparse.Namespace, stage: str, *, quiet: bool = False) -> None:
    """Bring the run's knowledge graph up to date after ``stage`` (the store fills as stages finish)."""
    from kgfilters.ontology.build import refresh_graph as _refresh

    report = _refresh(args.run, after=stage)
    if not quiet:
        print(f"graph: {', '.join(report.triples)} updated in {report.store}")


# --- Option types and pre-flight checks (run-guard) ------------------------------------------
# argparse calls a ``type=`` function on the option's text; ArgumentTypeError becomes argparse's
# one-line "argument --x: ..." usage error (exit 2) before any command touches the run.

__all__ += ["check_store", "comma_list", "nonnegative_int", "port", "positive_float", "positive_int",
            "probability", "unit_interval"]


def _number(text: str, kind: type, what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if kind is float and value != value:  # NaN compares false with every bound
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (batch sizes, counts, n of Hits@n)."""
    value = int(_number(text, int, "an integer"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: expected an integer >= 1")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (retries, depths)."""
    value = int(_number(text, int, "an integer"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: expected an integer >= 0")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, seconds, rates)."""
    value = _number(text, float, "a number")
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: expected a number > 0")
    return value


def probability(text: str) -> float:
    """A share in (0, 1] (q of q-quantile, --top, --share)."""
    value = _number(text, float, "a number")
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: expected a number in (0, 1]")
    return value


def unit_interval(text: str) -> float:
    """A value in [0, 1] (a pixel value of images scaled to [0, 1])."""
    value = _number(text, float, "a number")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: expected a number in [0, 1]")
    return value


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    value = int(_number(text, int, "a port number"))
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value}: expected a TCP port in 1-65535")
    return value


def comma_list(item: Callable[[str], T]) -> Callable[[str], tuple[T, ...]]:
    """A type for comma-separated values, each checked by ``item`` (``1,3,5``); at least one."""

    def parse(text: str) -> tuple[T, ...]:
        parts = [s.strip() for s in text.split(",") if s.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated values, e.g. 1,3,5")
        try:
            return tuple(item(s) for s in parts)
        except argparse.ArgumentTypeError as exc:
            if len(parts) == 1:
                raise
            raise argparse.ArgumentTypeError(f"{exc} (in {text!r})") from None

    parse.__name__ = f"comma-separated {item.__name__.replace('_', ' ')}s"
    return parse


def check_store(run: Path) -> None:
    """Fail before a stage writes anything when the run's graph store exists but cannot be read.

    Opens the store read-only and counts its quads (which reads the data files, so a damaged or
    truncated ``.sst`` shows here, not after ``tags.json`` was rewritten). GraphError naming
    ``graph/`` and the way out. A run without a store passes: the stage will create one.
    """
    import pyoxigraph as ox

    from kgfilters.errors import GraphError
    from kgfilters.ontology.store import has_store, store_path

    graph = store_path(run)
    if not graph.exists():
        return
    if not has_store(run):
        if any(graph.iterdir()):
            raise GraphError(f"{graph}: not a graph store (no CURRENT file); move it away and run "
                             f"`kgfilters graph --run {run}` to rebuild it")
        return
    try:
        store = ox.Store.read_only(str(graph))  # a reader: never blocked by, nor blocking, a writer
        len(store)
        del store
    except (OSError, RuntimeError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GraphError(f"{graph}: the graph store is damaged ({reason[:200]}); nothing was written. "
                         f"Move {graph} away and run `kgfilters graph --run {run}` to rebuild it "
                         "from the run's files") from None
