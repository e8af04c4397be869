"""Options shared by several subcommands, and helpers to open the run they name."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the commands that compute, not by every --help or query
    import torch

__all__ = ["DEFAULT_RUN", "add_device", "add_run", "device_of", "parse_filter_ref", "refresh_graph",
           "writing"]

DEFAULT_RUN = "runs/fashion-mnist"


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
    when the run has a graph store, it must be writable now (not held by another process), so a
    stage never writes its files and then fails at the graph. ``create``: make the run directory
    first (``train`` of a new run).
    """
    from kgfilters.lock import run_lock
    from kgfilters.run import read_run_json
    from kgfilters.stages import get_stage

    get_stage(stage)
    if create:
        Path(args.run).mkdir(parents=True, exist_ok=True)
    else:
        read_run_json(args.run)  # no run, or a run.json of the wrong shape: one line, no lock file
    with run_lock(args.run, on_wait=_say):
        check_store_free(args.run)
        yield


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
