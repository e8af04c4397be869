"""The ``masks/`` folder of a run: mask arrays (npz), ``metrics.json``, and ``load_masks``.

``masks/metrics.json`` holds ``{"areas": [...], "summary": {...}}``; each area record is one mask
of one filter on one held-out image (the knowledge graph's ``kgf:SensitiveArea``)::

    {"layer", "filter", "strategy", "method", "split", "image", "area_fraction",
     "mask_file" (relative to the run), "mask_key" (array name in the npz), "metrics": {...}}
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kgfilters.atomic import atomic_write_bytes, atomic_write_json
from kgfilters.errors import RunError
from kgfilters.run import RunPaths, read_json

__all__ = ["MaskSet", "SensitiveArea", "load_masks", "mask_key", "save_npz", "write_metrics"]

METHODS = ("fsagn", "zeiler", "optimised", "random")


def mask_key(method: str, image: int) -> str:
    """The npz array name of ``method``'s mask on held-out image ``image``."""
    return f"{method}_{image:06d}"


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as a compressed npz, atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def write_metrics(root: Path, areas: list[dict[str, Any]], summary: dict[str, Any]) -> Path:
    """Write ``masks/metrics.json`` (atomic) and return its path."""
    path = RunPaths(Path(root)).masks_metrics
    atomic_write_json(path, {"areas": areas, "summary": summary})
    return path


@dataclass(frozen=True)
class SensitiveArea:
    """One mask of one filter on one held-out image (a ``kgf:SensitiveArea``)."""

    layer: str
    filter: int
    strategy: str
    method: str
    split: str
    image: int
    area_fraction: float
    mask_file: str
    mask_key: str
    metrics: dict[str, float] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class MaskSet:
    """Every sensitive area of a run, with the summary; ``mask(area)`` reads one array (H, W)."""

    root: Path
    areas: tuple[SensitiveArea, ...]
    summary: dict[str, Any] = field(hash=False, compare=False)

    def select(
        self,
        *,
        layer: str | None = None,
        filter: int | None = None,
        strategy: str | None = None,
        method: str | None = None,
    ) -> tuple[SensitiveArea, ...]:
        """The areas matching every given field."""
        want = {"layer": layer, "filter": filter, "strategy": strategy, "method": method}
        return tuple(
            a for a in self.areas if all(v is None or getattr(a, k) == v for k, v in want.items())
        )

    def mask(self, area: SensitiveArea) -> np.ndarray:
        """The mask array (H, W) float32 in [0, 1] of ``area``.

        The stage writes one (H, W) array per key; an array stacking several images (N, H, W)
        under one key (as other tools write them) yields its row ``area.image``.
        """
        path = self.root / area.mask_file
        try:
            with np.load(path) as z:
                a = np.asarray(z[area.mask_key], dtype=np.float32)
        except (OSError, KeyError, ValueError) as exc:
            raise RunError(f"{path}: cannot read mask {area.mask_key!r} ({exc})") from None
        while a.ndim > 2 and a.shape[0] == 1:
            a = a[0]
        if a.ndim == 3 and 0 <= area.image < a.shape[0]:
            a = a[area.image]
        if a.ndim != 2:
            raise RunError(
                f"{path}: mask {area.mask_key!r} has shape {a.shape}; expected (H, W), or (N, H, W) "
                f"with image {area.image} < N"
            )
        return a


def load_masks(root: str | os.PathLike[str]) -> MaskSet:
    """Read ``masks/metrics.json`` of a run; RunError when absent or malformed."""
    root = Path(root)
    path = RunPaths(root).masks_metrics
    data = read_json(path, expect=dict, what="masks", stage="sensitive", run=root)
    try:
        areas = tuple(
            SensitiveArea(
                a["layer"],
                int(a["filter"]),
                a["strategy"],
                a["method"],
                a["split"],
                int(a["image"]),
                float(a["area_fraction"]),
                a["mask_file"],
                a["mask_key"],
                {k: float(v) for k, v in a.get("metrics", {}).items()},
            )
            for a in data["areas"]
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{path}: not a valid metrics file ({type(exc).__name__}: {exc})") from None
    return MaskSet(root, areas, data.get("summary", {}))
