"""The run directory: the unit a user keeps, copies and shares, and ``load_run`` to read it back.

Layout (see ARCHITECTURE.md)::

    run.json  model.safetensors  stats/  tags.json  masks/  graph/  exports/  figures/

``run.json`` records what was run; each stage adds its own entry under ``stages``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgfilters.atomic import atomic_write_json
from kgfilters.errors import RunError

if TYPE_CHECKING:  # torch is imported when a model or data is first needed, not to read paths
    import torch
    from torch import nn

    from kgfilters.data import Splits
    from kgfilters.models import ModelSpec

__all__ = ["Run", "RunPaths", "load_run", "now_iso", "read_run_json", "record_stage", "versions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPaths:
    """Every well-known path of a run directory."""

    root: Path

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def model(self) -> Path:
        return self.root / "model.safetensors"

    @property
    def stats_dir(self) -> Path:
        return self.root / "stats"

    @property
    def stats(self) -> Path:
        return self.stats_dir / "stats.safetensors"

    @property
    def stats_checkpoint(self) -> Path:
        return self.stats_dir / "checkpoint.safetensors"

    @property
    def tags(self) -> Path:
        return self.root / "tags.json"

    @property
    def hits_json(self) -> Path:
        return self.root / "hits.json"

    @property
    def hits_csv(self) -> Path:
        return self.root / "hits.csv"

    @property
    def explanations(self) -> Path:
        return self.root / "explanations"

    @property
    def masks(self) -> Path:
        return self.root / "masks"

    @property
    def graph(self) -> Path:
        return self.root / "graph"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def figures(self) -> Path:
        return self.root / "figures"


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of kgfilters, Python, torch and torchvision, for provenance."""
    import torch
    import torchvision

    from kgfilters import __version__

    return {
        "kgfilters": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }


def read_run_json(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``run.json`` of a run; RunError when it is missing or not JSON."""
    path = RunPaths(Path(root)).run_json
    if not path.is_file():
        raise RunError(f"{path}: no run here yet; run `kgfilters train --run {root}` first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def record_stage(root: str | os.PathLike[str], stage: str, info: dict[str, Any]) -> None:
    """Add or replace ``stages[stage]`` in run.json (atomic read-modify-write)."""
    data = read_run_json(root)
    data.setdefault("stages", {})[stage] = info
    atomic_write_json(RunPaths(Path(root)).run_json, data)


class Run:
    """A run directory opened for reading; parts load lazily on first access.

    Attributes: ``paths``, ``config`` (run.json), ``spec``, ``model`` (eval mode), ``splits``,
    ``stats``, ``tags``, ``hits``, ``explanations``, ``masks``, ``graph`` (rdflib Dataset) and ``store``
    (pyoxigraph). A part not computed yet raises RunError saying which command makes it.
    """

    def __init__(self, root: str | os.PathLike[str], *, device: torch.device | None = None) -> None:
        self.paths = RunPaths(Path(root))
        self.config = read_run_json(root)
        self.device = device if device is not None else _cpu()

    @property
    def root(self) -> Path:
        return self.paths.root

    @cached_property
    def spec(self) -> ModelSpec:
        from kgfilters.models import spec_of

        return spec_of(self.config["model"])

    @cached_property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.config["dataset"]["class_names"])

    @cached_property
    def model(self) -> nn.Module:
        from kgfilters.models import build_model

        m = self.config["model"]
        weights = m.get("weights")
        if weights == "model.safetensors":
            weights = self.paths.model
        if (weights is None and self.spec.source == "builtin") or (
            isinstance(weights, Path) and not weights.is_file()
        ):  # an untrained network would explain nothing
            raise RunError(f"{self.paths.model}: weights missing; run `kgfilters train` first")
        return build_model(m["name"], num_classes=len(self.class_names), weights=weights, device=self.device)

    @cached_property
    def splits(self) -> Splits:
        from kgfilters.data import load_splits

        d = self.config["dataset"]
        return load_splits(
            d["root"],
            seed=d["split_seed"],
            tag_fraction=d["tag_fraction"],
            image_size=self.spec.input_size,
            channels=self.spec.in_channels,
            class_names_file=d.get("class_names_file"),
            ground_truth=d.get("ground_truth"),
            skip=d.get("skipped"),
        )

    @cached_property
    def stats(self):  # type: ignore[no-untyped-def]
        from kgfilters.stats import load_stats

        return load_stats(self.paths.stats)

    @cached_property
    def tags(self):  # type: ignore[no-untyped-def]
        from kgfilters.filtag import load_tags

        return load_tags(self.paths.tags)

    @cached_property
    def masks(self):  # type: ignore[no-untyped-def]
        """FSAGN sensitive areas (``kgfilters.fsagn.masks_io.MaskSet``) from masks/metrics.json."""
        from kgfilters.fsagn.masks_io import load_masks

        return load_masks(self.root)

    @cached_property
    def hits(self):  # type: ignore[no-untyped-def]
        from kgfilters.hits import load_hits

        return load_hits(self.paths.hits_json)

    @cached_property
    def explanations(self) -> dict[str, dict[str, Any]]:
        """Saved explanations by file stem (``heldout-7``), as the JSON dicts written."""
        d = self.paths.explanations
        files = sorted(d.glob("*.json")) if d.is_dir() else []
        return {f.stem: json.loads(f.read_text(encoding="utf-8")) for f in files}

    @cached_property
    def graph(self):  # type: ignore[no-untyped-def]
        """rdflib ``Dataset`` over the run's Oxigraph store (read-only view; named graph per stage).

        Imported lazily: the graph code lives in ``kgfilters.ontology`` (ARCHITECTURE.md names
        ``load_run(path).graph`` as part of the run API).
        """
        from kgfilters.ontology.store import dataset

        return dataset(self.root)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        """A fresh read-only ``pyoxigraph.Store`` over the run's graph, for fast SPARQL."""
        from kgfilters.ontology.store import open_store

        return open_store(self.root, read_only=True)


def _cpu() -> torch.device:
    import torch

    return torch.device("cpu")


def load_run(path: str | os.PathLike[str], *, device: torch.device | None = None) -> Run:
    """Open a run directory: ``load_run("runs/fashion-mnist").model`` etc. (see ``Run``)."""
    return Run(path, device=device)
