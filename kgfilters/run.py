"""The run directory: the unit a user keeps, copies and shares, and ``load_run`` to read it back.

Layout (see ARCHITECTURE.md)::

    run.json  model.safetensors  stats/  tags.json  masks/  graph/  exports/  figures/

``run.json`` records what was run; each stage adds its own entry under ``stages`` (names from the
stage registry, ``kgfilters.stages``). Every change of run.json goes through ``update_run_json``,
under the run lock (``kgfilters.lock``), and bumps its ``generation`` counter, so readers (the TUI,
``serve``) can tell that the run changed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgfilters.atomic import atomic_write_json
from kgfilters.errors import ModelError, RunError

if TYPE_CHECKING:  # torch is imported when a model or data is first needed, not to read paths
    import torch
    from torch import nn

    from kgfilters.data import Splits
    from kgfilters.filtag import TagSet
    from kgfilters.fsagn.masks_io import MaskSet
    from kgfilters.hits import HitsStudy
    from kgfilters.models import ModelSpec
    from kgfilters.stats import ActivationStats

__all__ = ["Run", "RunPaths", "check_weights", "load_run", "now_iso", "read_json", "read_run_json",
           "record_stage", "sha256_file", "update_run_json", "versions"]

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
    def masks_metrics(self) -> Path:
        """``masks/metrics.json``: every sensitive area and the FSAGN summary."""
        return self.masks / "metrics.json"

    @property
    def generators(self) -> Path:
        """``masks/generators/``: the trained FSAGN generators (``kgfilters sensitive``), one
        ``<layer>_<strategy>.safetensors`` and its ``.json`` metadata each."""
        return self.masks / "generators"

    @property
    def concepts(self) -> Path:
        """``concepts.json``: the class labels' concept links (``kgfilters link``)."""
        return self.root / "concepts.json"

    @property
    def coarse(self) -> Path:
        """``coarse.json``: the filters' coarse concepts (``kgfilters coarsen``)."""
        return self.root / "coarse.json"

    @property
    def evaluation(self) -> Path:
        """``evaluation.json``: the evaluation's figures (``kgfilters evaluate``)."""
        return self.root / "evaluation.json"

    @property
    def lock(self) -> Path:
        """``.lock``: the run's write lock (``kgfilters.lock``)."""
        return self.root / ".lock"

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


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


_KINDS = {dict: "a JSON object", list: "a JSON array"}


def read_json(path: str | os.PathLike[str], *, expect: type | None = None, what: str = "file",
              stage: str | None = None, run: str | os.PathLike[str] | None = None) -> Any:
    """Read a JSON file of the run, or raise RunError naming the file (the one loader).

    expect: ``dict`` or ``list``; another top-level type is a RunError. what / stage / run word
    the message for a missing file: ``PATH: no WHAT yet; run `kgfilters STAGE --run RUN` first``.
    """
    p = Path(path)
    if not p.is_file():
        if stage is not None:
            from kgfilters.stages import hint

            raise RunError(f"{p}: no {what} yet; {hint(stage, run)}")
        raise RunError(f"{p}: no such {what}")
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise RunError(f"{p}: not valid JSON (not UTF-8 text)") from None
    except OSError as exc:
        raise RunError(f"{p}: cannot read ({exc.strerror})") from None
    if expect is not None and not isinstance(obj, expect):
        found = _KINDS.get(type(obj), type(obj).__name__)
        raise RunError(f"{p}: expected {_KINDS.get(expect, expect.__name__)}, found {found}")
    return obj


def read_run_json(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``run.json`` of a run; RunError when it is missing, not JSON or of the wrong
    shape (an object with ``dataset`` and ``model`` objects)."""
    path = RunPaths(Path(root)).run_json
    if not path.is_file():
        raise RunError(f"{path}: no run here yet; run `kgfilters train --run {root}` first")
    data = read_json(path, expect=dict)
    for key in ("dataset", "model"):
        if not isinstance(data.get(key), dict):
            raise RunError(f"{path}: expected a run record with a {key!r} object; "
                           f"this is not a kgfilters run.json")
    if not isinstance(data.get("stages", {}), dict):
        raise RunError(f"{path}: 'stages' must be an object, found {type(data['stages']).__name__}")
    return data


def update_run_json(root: str | os.PathLike[str], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Apply ``change`` to run.json in place under the run lock and write it atomically.

    ``generation`` goes up by one on every update. Returns the data written.
    """
    from kgfilters.lock import run_lock

    with run_lock(root):
        data = read_run_json(root)
        change(data)
        gen = data.get("generation", 0)
        data["generation"] = (gen if isinstance(gen, int) else 0) + 1
        atomic_write_json(RunPaths(Path(root)).run_json, data)
    return data


def record_stage(root: str | os.PathLike[str], stage: str, info: dict[str, Any]) -> None:
    """Add or replace ``stages[stage]`` in run.json, under the run lock.

    ``stage`` is a name of the stage registry (``kgfilters.stages.STAGES``). The record gets the
    fingerprints of the stage's inputs as they are now (the lock keeps other writers out since the
    stage read them) and ``finished`` unless given; a ``stale`` mark is cleared.
    """
    from kgfilters.stages import LEGACY_NAMES, fingerprints, get_stage

    name = get_stage(stage).name

    def change(data: dict[str, Any]) -> None:
        stages = data.setdefault("stages", {})
        for old, new in LEGACY_NAMES.items():
            if new == name:
                stages.pop(old, None)
        stages[name] = {"finished": now_iso(), **info,
                        "fingerprints": fingerprints(root, name, data)}

    update_run_json(root, change)


def check_weights(path: Path, sha256: str | None) -> None:
    """ModelError when the weights file's sha256 differs from the one run.json records."""
    if not sha256:
        return
    found = sha256_file(path)
    if found != sha256:
        raise ModelError(
            f"{path}: sha256 {found[:12]}... differs from run.json's {sha256[:12]}... (the weights "
            "changed since they were recorded); restore the file or retrain with `kgfilters train "
            "--force`"
        )


class Run:
    """A run directory opened for reading; parts load lazily on first access.

    Attributes: ``paths``, ``config`` (run.json), ``spec``, ``model`` (eval mode), ``splits``,
    ``stats``, ``tags``, ``hits``, ``explanations``, ``masks``, ``graph`` (rdflib Dataset) and ``store``
    (pyoxigraph). A part not computed yet raises RunError saying which command makes it.
    """

    def __init__(self, root: str | os.PathLike[str], *, device: torch.device | None = None) -> None:
        self.paths = RunPaths(Path(root))
        self.config = read_run_json(root)
        self._device = device

    @property
    def device(self) -> torch.device:
        """Where the model runs (default CPU; torch is imported on first use, not to open the run)."""
        if self._device is None:
            self._device = _cpu()
        return self._device

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
            from kgfilters.stages import hint

            raise RunError(f"{self.paths.model}: weights missing; {hint('train', self.root)}")
        if weights is not None and Path(weights).is_file():
            check_weights(Path(weights), m.get("sha256"))
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
    def stats(self) -> ActivationStats:
        """FILTAG activation statistics (stats/stats.safetensors)."""
        from kgfilters.stats import load_stats

        return load_stats(self.paths.stats)

    @cached_property
    def tags(self) -> TagSet:
        """FILTAG tags (tags.json)."""
        from kgfilters.filtag import load_tags

        return load_tags(self.paths.tags)

    @cached_property
    def masks(self) -> MaskSet:
        """FSAGN sensitive areas from masks/metrics.json."""
        from kgfilters.fsagn.masks_io import load_masks

        return load_masks(self.root)

    @cached_property
    def hits(self) -> HitsStudy:
        """The Hits@n study (hits.json)."""
        from kgfilters.hits import load_hits

        return load_hits(self.paths.hits_json)

    @cached_property
    def explanations(self) -> dict[str, dict[str, Any]]:
        """Saved explanations by file stem (``heldout-7``), as the JSON dicts written."""
        d = self.paths.explanations
        files = sorted(d.glob("*.json")) if d.is_dir() else []
        return {f.stem: read_json(f, expect=dict) for f in files}

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
