"""Where an explanation's filters look in *this* image: FSAGN masks on demand.

FSAGN generators are amortised (Qian et al. 2018, Sec. 2.2): the sensitive area of filter k in
a new image is one forward pass of the run's trained generator on the image's last-conv feature
maps. ``masks_for_image`` does that for any image (held-out or a file) and any filters that a
trained generator covers (``masks/generators/<layer>_<strategy>.safetensors``); filters no
generator was trained for are reported as missing, never guessed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from kgfilters.errors import DataError

__all__ = ["FilterMask", "ImageMasks", "areas_to_json", "explanation_areas", "masks_for_image", "trained_generators"]

log = logging.getLogger(__name__)

#: Strategies in the order they are tried (FSAGN 2.1: keep the area / remove the area).
STRATEGIES = ("reservation", "occlusion")


@dataclass(frozen=True)
class FilterMask:
    """Filter ``layer:filter``'s sensitive area in the image by ``strategy``: the generator's soft
    mask (H, W) float32 in (0, 1) at the model's input size; ``area`` is its mean (the share of
    the image it keeps or removes, FSAGN's area term); ``generator`` the weights file used."""

    layer: str
    filter: int
    strategy: str
    mask: np.ndarray
    area: float
    generator: str


@dataclass(frozen=True)
class ImageMasks:
    """Masks of the asked filters (in the order asked; per filter, the first strategy found) and
    the asked filters that no trained generator covers."""

    masks: tuple[FilterMask, ...]
    missing: tuple[tuple[str, int], ...]


def trained_generators(root: str | Path) -> dict[tuple[str, str], tuple[Path, tuple[int, ...]]]:
    """The run's trained generators: (layer, strategy) -> (weights file, the filters it covers),
    read from the metadata beside each ``masks/generators/*.safetensors``."""
    out: dict[tuple[str, str], tuple[Path, tuple[int, ...]]] = {}
    for meta_path in sorted((Path(root) / "masks" / "generators").glob("*.json")):
        weights = meta_path.with_suffix(".safetensors")
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
            key = (str(meta["layer"]), str(meta["strategy"]))
            filters = tuple(int(f) for f in meta["filters"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: not a generator's metadata (%s); skipped", meta_path, exc)
            continue
        if weights.is_file():
            out[key] = (weights, filters)
    return out


def masks_for_image(
    run,  # kgfilters.run.Run  # type: ignore[no-untyped-def]
    image: torch.Tensor,
    filters: Sequence[tuple[str, int]],
    *,
    strategies: Sequence[str] = STRATEGIES,
) -> ImageMasks:
    """Sensitive areas of ``filters`` in ``image`` by the run's trained generators.

    Args:
        run: the run (its model, spec and ``masks/generators``).
        image: (C, H, W) in [0, 1], any size; resized bilinearly to the model's input size as
            ``ModelSpec.prepare`` does.
        filters: (layer, filter index) pairs, e.g. an explanation's top separating filters.
        strategies: tried in order per filter; the first with a generator covering it is used.

    Returns:
        ``ImageMasks``: one ``FilterMask`` per covered filter, (H, W) at the input size, and the
        filters no generator covers. One generator pass per (layer, strategy) used.
    """
    from kgfilters.fsagn.backbone import Backbone
    from kgfilters.fsagn.fit import generate_masks
    from kgfilters.fsagn.outputs import load_generator

    if image.ndim != 3 or image.shape[0] != run.spec.in_channels:
        raise DataError(f"image of shape {tuple(image.shape)}: expected ({run.spec.in_channels}, H, W)")
    gens = trained_generators(run.root)
    plan: dict[tuple[str, int], str] = {}
    for layer, f in filters:
        s = next((s for s in strategies if (layer, s) in gens and int(f) in gens[(layer, s)][1]), None)
        if s is not None:
            plan.setdefault((layer, int(f)), s)
    model = run.model
    device = next(model.parameters()).device
    size = run.spec.input_size
    x = image.unsqueeze(0).float().to(device)
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    made: dict[tuple[str, int], FilterMask] = {}
    for layer, strategy in dict.fromkeys((lay, s) for (lay, _), s in plan.items()):
        path, covered = gens[(layer, strategy)]
        gen, meta = load_generator(path)
        bb = Backbone.of(model, run.spec, layer, covered, feature_layer=meta.get("feature_layer"))
        masks = generate_masks(bb, gen.to(device), x)[0].cpu()  # (K, H, W)
        for (lay, f), s in plan.items():
            if lay == layer and s == strategy:
                m = masks[covered.index(f)].numpy().astype(np.float32)
                made[(lay, f)] = FilterMask(lay, f, s, m, float(m.mean(dtype=np.float64)),
                                            str(path.relative_to(run.root)))
    asked = list(dict.fromkeys((lay, int(f)) for lay, f in filters))
    return ImageMasks(tuple(made[k] for k in asked if k in made), tuple(k for k in asked if k not in made))


def explanation_areas(run, e) -> ImageMasks:  # type: ignore[no-untyped-def]
    """``masks_for_image`` for an explanation's separating filters (``explain_text.contrast``),
    most active first, on the image it explains (its held-out image or its file)."""
    from kgfilters.explain import load_image
    from kgfilters.explain_text import contrast

    if e.path is not None:
        image = load_image(e.path, channels=run.spec.in_channels, size=None)[0]
    else:
        image = run.splits.heldout[e.index][0]
    return masks_for_image(run, image, [(f.layer, f.filter) for f, _ in contrast(e).separating])


def areas_to_json(m: ImageMasks) -> dict[str, Any]:
    """A JSON-ready summary (no pixels): each mask's filter, strategy, area and generator file,
    and the filters no trained generator covers."""
    return {
        "sensitive_areas": [{"layer": a.layer, "filter": a.filter, "strategy": a.strategy, "area": a.area,
                             "generator": a.generator} for a in m.masks],
        "no_generator": [[layer, f] for layer, f in m.missing],
    }
