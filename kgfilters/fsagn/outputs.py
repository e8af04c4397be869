"""Writing what ``sensitive_stage`` computed: per-filter npz files, five-panel figures, generator
weights, the summary, and merging with an earlier ``masks/metrics.json``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgfilters.atomic import atomic_path, atomic_write_json
from kgfilters.errors import RunError
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.figures import plot_mask_panels
from kgfilters.fsagn.generators import MaskGenerator
from kgfilters.fsagn.masks_io import mask_key, save_npz
from kgfilters.fsagn.panels import mask_panels
from kgfilters.run import RunPaths, read_json

__all__ = [
    "load_generator",
    "merge_previous",
    "save_generator",
    "summarise",
    "write_filter_outputs",
]

log = logging.getLogger(__name__)


def save_generator(path: Path, gen: MaskGenerator, meta: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in gen.state_dict().items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp))
    atomic_write_json(path.with_suffix(".json"), meta)


def load_generator(path: str | os.PathLike[str]) -> tuple[MaskGenerator, dict[str, Any]]:
    """A saved generator (``masks/generators/*.safetensors``) and its metadata (the ``.json``)."""
    from safetensors.torch import load_file

    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise RunError(f"{path}: generator weights or {meta_path.name} missing")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    d = meta["design"]
    gen = MaskGenerator(meta["in_channels"], d["stem"], tuple(d["widths"]), len(meta["filters"]))
    gen.load_state_dict(load_file(str(path)))
    return gen.eval(), meta


def merge_previous(
    root: Path, areas: list[dict[str, Any]], summary: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Keep earlier records of (layer, filter, strategy) triples this call did not recompute."""
    path = RunPaths(root).masks_metrics
    if not path.is_file():
        return areas, summary
    try:
        old = read_json(path, expect=dict)
        done = {(a["layer"], a["filter"], a["strategy"]) for a in areas}
        kept = [a for a in old["areas"] if (a["layer"], a["filter"], a["strategy"]) not in done]
        for layer, per in old.get("summary", {}).get("filters", {}).items():
            for strategy, per_filter in per.items():
                new = summary["filters"].setdefault(layer, {}).setdefault(strategy, {})
                for f, s in per_filter.items():
                    new.setdefault(f, s)
        for layer, t in old.get("summary", {}).get("timing", {}).items():
            summary["timing"][layer] = {**t, **summary["timing"].get(layer, {})}
    except (RunError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable %s (%s)", path, exc)
        return areas, summary
    return kept + areas, summary


def write_filter_outputs(
    root: Path,
    bb: Backbone,
    layer: str,
    strategy: str,
    x: torch.Tensor,
    masks: dict[str, torch.Tensor],
    metrics: dict[str, dict[str, torch.Tensor]],
    active: torch.Tensor,
    figure_images: int,
) -> list[dict[str, Any]]:
    paths = RunPaths(root)
    records = []
    safe = layer.replace("/", "_")
    for j, f in enumerate(bb.filters):
        npz = paths.masks / f"{safe}_{f}_{strategy}.npz"
        arrays = {}
        for method, m in masks.items():
            mm = m[:, j].detach().cpu().numpy().astype(np.float32)
            for i in range(x.shape[0]):
                if not active[i, j]:
                    continue
                arrays[mask_key(method, i)] = mm[i]
                records.append(
                    {
                        "layer": layer,
                        "filter": f,
                        "strategy": strategy,
                        "method": method,
                        "split": "heldout",
                        "image": i,
                        "area_fraction": float(metrics[method]["area_fraction"][i, j]),
                        "mask_file": str(npz.relative_to(root)),
                        "mask_key": mask_key(method, i),
                        "metrics": {k: float(v[i, j]) for k, v in metrics[method].items()},
                    }
                )
        save_npz(npz, arrays)
        show = [i for i in range(x.shape[0]) if active[i, j]][:figure_images]
        if show:
            _figure(
                bb,
                x,
                masks["fsagn"],
                j,
                f,
                layer,
                strategy,
                show,
                paths.masks / f"{safe}_{f}_{strategy}.png",
            )
    return records


def _figure(
    bb: Backbone,
    x: torch.Tensor,
    masks: torch.Tensor,
    j: int,
    f: int,
    layer: str,
    strategy: str,
    show: list[int],
    path: Path,
) -> None:
    p = mask_panels(bb, j, x[show], masks[show][:, j], strategy)
    plot_mask_panels(
        p.image,
        p.feature_map,
        p.mask,
        p.masked_image,
        p.new_feature_map,
        path,
        title=f"{layer}:{f} {strategy} (FSAGN)",
        indices=show,
    )


def summarise(
    bb: Backbone, metrics: dict[str, dict[str, torch.Tensor]], active: torch.Tensor, fit: Any
) -> dict[str, Any]:
    """Mean of every metric per filter and method over the images where the filter responds."""
    out: dict[str, Any] = {}
    for j, f in enumerate(bb.filters):
        keep = active[:, j]
        out[str(f)] = {
            "images": int(keep.sum()),
            "train_final_loss": fit.final_loss,
            "methods": {
                method: {k: float(v[keep, j].mean()) for k, v in m.items()}
                for method, m in metrics.items()
            },
        }
    return out
