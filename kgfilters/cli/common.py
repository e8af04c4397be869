"""Options shared by several subcommands, and helpers to open the run they name."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the commands that compute, not by every --help or query
    import torch

__all__ = ["DEFAULT_RUN", "add_device", "add_run", "device_of", "parse_filter_ref"]

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


def refresh_graph(args: argparse.Namespace, stage: str, *, quiet: bool = False) -> None:
    """Bring the run's knowledge graph up to date after ``stage`` (the store fills as stages finish)."""
    from kgfilters.ontology.build import refresh_graph as _refresh

    report = _refresh(args.run, after=stage)
    if not quiet:
        print(f"graph: {', '.join(report.triples)} updated in {report.store}")
