"""Where an explanation's filters look in *this* image: FSAGN masks on demand.

FSAGN generators are amortised (Qian et al. 2018, Sec. 2.2): the sensitive area of filter k in
a new image is one forward pass of the run's trained generator on the image's last-conv feature
maps. ``masks_for_image`` does that for any image (held-out or a file) and any filters that a
trained generator covers (``masks/generators/<layer>_<strategy>.safetensors``); filters no
generator was trained for are reported as missing, never guessed. With ``fidelity``, each mask
also gets the FSAGN stage's fidelity figures for this image (``fsagn.fidelity.mask_fidelity``:
area_fraction, correlation, rel_frobenius_error, response_ratio), so an explanation's saved
areas carry the same measurements as the stage's (``explain --save``, ``kgf:SensitiveArea``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from kgfilters.errors import DataError

__all__ = ["METHOD", "FilterMask", "ImageMasks", "areas_to_json", "explanation_areas", "masks_for_image",
           "trained_generators"]

log = logging.getLogger(__name__)

#: Strategies in the order they are tried (FSAGN 2.1: keep the area / remove the area).
STRATEGIES = ("reservation", "occlusion")
#: The mask method of a trained generator's output, as in masks/metrics.json (``kgf:method``).
METHOD = "fsagn"


@dataclass(frozen=True)
class FilterMask:
    """Filter ``layer:filter``'s sensitive area in the image by ``strategy``: the generator's soft
    mask (H, W) float32 in (0, 1) at the model's input size; ``area`` is its mean (the share of
    the image it keeps or removes, FSAGN's area term); ``generator`` the weights file used;
    ``metrics`` the fidelity figures of the mask on this image (empty unless asked for)."""

    layer: str
    filter: int
    strategy: str
    mask: np.ndarray
    area: float
    generator: str
    metrics: Mapping[str, float] = field(default_factory=dict)


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
    from kgfilters.run import RunPaths

    for meta_path in sorted(RunPaths(Path(root)).generators.glob("*.json")):
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
    fidelity: bool = False,
) -> ImageMasks:
    """Sensitive areas of ``filters`` in ``image`` by the run's trained generators.

    Args:
        run: the run (its model, spec and ``masks/generators``).
        image: (C, H, W) in [0, 1], any size; resized bilinearly to the model's input size as
            ``ModelSpec.prepare`` does.
        filters: (layer, filter index) pairs, e.g. an explanation's top separating filters.
        strategies: tried in order per filter; the first with a generator covering it is used.
        fidelity: also measure each mask on the image (``mask_fidelity``: one more forward pass
            per mask, of the masked image), into ``FilterMask.metrics``.

    Returns:
        ``ImageMasks``: one ``FilterMask`` per covered filter, (H, W) at the input size, and the
        filters no generator covers. One generator pass per (layer, strategy) used.
    """
    from kgfilters.fsagn.backbone import Backbone
    from kgfilters.fsagn.fidelity import mask_fidelity
    from kgfilters.fsagn.fit import generate_masks

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
        gen, meta = _load(path)
        bb = Backbone.of(model, run.spec, layer, covered, feature_layer=meta.get("feature_layer"))
        masks = generate_masks(bb, gen.to(device), x)[0]  # (K, H, W)
        mine = [f for (lay, f), s in plan.items() if lay == layer and s == strategy]
        chosen = masks[[covered.index(f) for f in mine]]  # (J, H, W), the asked filters' masks
        figures: dict[str, list[float]] = {}
        if fidelity:
            one = Backbone(bb.model, bb.spec, layer, tuple(mine), bb.feature_layer)
            figures = {k: v[0].tolist() for k, v in mask_fidelity(one, x, chosen[None], strategy).items()}
        for j, f in enumerate(mine):
            m = chosen[j].cpu().numpy().astype(np.float32)
            made[(layer, f)] = FilterMask(layer, f, strategy, m, float(m.mean(dtype=np.float64)),
                                          str(path.relative_to(run.root)), {k: v[j] for k, v in figures.items()})
    asked = list(dict.fromkeys((lay, int(f)) for lay, f in filters))
    return ImageMasks(tuple(made[k] for k in asked if k in made), tuple(k for k in asked if k not in made))


def _load(path: Path) -> tuple[Any, dict[str, Any]]:
    """``load_generator``, with an unreadable weights file as one RunError line."""
    from safetensors import SafetensorError

    from kgfilters.errors import RunError
    from kgfilters.fsagn.outputs import load_generator

    try:
        return load_generator(path)
    except (SafetensorError, RuntimeError, ValueError, KeyError, TypeError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RunError(f"{path}: not a readable FSAGN generator ({first}); train it again with "
                       "`kgfilters sensitive`") from None


def explanation_areas(run, e, image: torch.Tensor | None = None, *,  # type: ignore[no-untyped-def]
                      fidelity: bool = True) -> ImageMasks:
    """``masks_for_image`` for an explanation's separating filters (``explain_text.contrast``),
    most active first, on the image it explains: ``image`` (C, H, W) when given, else its
    held-out image or its file, read again."""
    from kgfilters.explain import load_image
    from kgfilters.explain_text import contrast

    if image is None and e.path is not None:
        image = load_image(e.path, channels=run.spec.in_channels, size=None)[0]
    elif image is None:
        image = run.splits.heldout[e.index][0]
    return masks_for_image(run, image, [(f.layer, f.filter) for f, _ in contrast(e).separating],
                           fidelity=fidelity)


def areas_to_json(m: ImageMasks) -> dict[str, Any]:
    """A JSON-ready summary (no pixels): each mask's filter, strategy, method (``fsagn``), area,
    generator file and fidelity figures, and the filters no trained generator covers. The schema
    of the ``sensitive_areas`` / ``no_generator`` keys of a saved explanation."""
    return {
        "sensitive_areas": [{"layer": a.layer, "filter": a.filter, "strategy": a.strategy, "method": METHOD,
                             "area": a.area, "generator": a.generator, "metrics": dict(a.metrics)}
                            for a in m.masks],
        "no_generator": [[layer, f] for layer, f in m.missing],
    }
