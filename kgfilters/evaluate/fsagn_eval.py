"""FSAGN fidelity that holds up against chance: every mask compared at exactly the same area.

For the run's selected filters plus ``extra_filters`` more of the layer drawn at random (seeded; their
generators trained here the way the ``sensitive`` stage trains its own), on the first N held-out images,
for each strategy (reservation, occlusion) and two families of masks:

* ``soft``: FSAGN's masks as generated, values in (0, 1); ``hard``: binarised at the same area (the
  ``round(a H W)`` highest pixels of the soft mask set to 1, the rest 0; a = the soft mask's area).

every baseline of a family is the FSAGN mask's own values rearranged (sorted values placed on the
pixels in the order of a baseline's ranking, ties broken at random), so its area, and its whole
distribution of mask values, equal FSAGN's exactly and only *where* the mask puts its weight differs:

* ``random``: pixels in uniformly random order (a pixel-permuted mask);
* ``random_blob``: pixels in order of distance from a uniformly random centre (a contiguous disc,
  clipped at the border);
* ``zeiler``: Zeiler & Fergus sliding-window occlusion sensitivity of the filter (most sensitive first);
* ``optimised``: the per-image optimum at matched area: free per-pixel logits, started at FSAGN's own
  mask, fitted by Adam to FSAGN's loss (Eq. 2 / 5) plus ``100 (mean(M) - a)^2``
  (``fit.optimise_masks(area=..., init=...)``), then rearranged (the stage's optimum starts from an
  almost full mask and is not held to FSAGN's area: 0.48 against 0.16-0.21 on the demo).

Measure (the one ``masks/metrics.json`` and the demo report, ``fsagn.fidelity.mask_fidelity``), per
(filter, image) pair where the filter responds: reservation ``correlation``, the Pearson correlation of
the filter's map on I * M with its map on I (higher keeps more); occlusion ``response_ratio``,
||r'||_F / ||r||_F on I * (1 - M) (lower removes more). Each leaf is the mean over those pairs with a
percentile bootstrap 95% interval over images (pairs of one image resampled together).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from kgfilters.errors import ConfigError, RunError
from kgfilters.evaluate.ablation import resample_weights
from kgfilters.evaluate.resampling import Interval, bootstrap_stat_ci, generator
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.baselines import top_fraction_mask, zeiler_maps
from kgfilters.fsagn.fidelity import mask_fidelity
from kgfilters.fsagn.fit import optimise_masks

if TYPE_CHECKING:
    from kgfilters.run import Run

__all__ = [
    "MEASURE",
    "METHODS",
    "FsagnEvaluation",
    "Leaf",
    "binarise",
    "blob_masks",
    "fsagn_evaluation",
    "fsagn_evaluation_run",
    "permuted_masks",
    "rank_order",
    "rearrange",
]

log = logging.getLogger(__name__)

MEASURE = {"reservation": "correlation", "occlusion": "response_ratio"}
METHODS = ("fsagn", "random", "random_blob", "zeiler", "optimised")
FAMILIES = ("soft", "hard")


def rank_order(scores: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Pixel indices (..., H W) from the highest to the lowest score of each map (..., H, W); ties in
    a uniformly random order (seeded), so all-equal scores give a uniformly random permutation."""
    flat = scores.flatten(-2)
    perm = torch.rand(flat.shape, generator=generator(seed)).argsort(-1).to(flat.device)
    return perm.gather(-1, flat.gather(-1, perm).argsort(dim=-1, descending=True, stable=True))


def rearrange(masks: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The values of each mask (..., H, W), sorted from the largest, placed on the pixels ``order``
    (..., H W) lists: the same values (so exactly the same area), in the order's arrangement."""
    flat = masks.flatten(-2)
    values = flat.sort(-1, descending=True).values
    return torch.empty_like(flat).scatter_(-1, order, values).view_as(masks)


def permuted_masks(masks: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Each mask's pixels permuted uniformly at random (seeded): same values, same area."""
    return rearrange(masks, rank_order(torch.zeros_like(masks), seed=seed))


def blob_scores(shape: torch.Size, *, seed: int = 0, device: torch.device | None = None) -> torch.Tensor:
    """Minus the distance of every pixel centre from one uniformly random point per map (..., H, W)."""
    h, w = shape[-2:]
    c = torch.rand(*shape[:-2], 2, generator=generator(seed)).to(device)
    ys = torch.arange(h, device=device, dtype=c.dtype).view(h, 1) + 0.5
    xs = torch.arange(w, device=device, dtype=c.dtype).view(1, w) + 0.5
    cy, cx = (c[..., 0] * h)[..., None, None], (c[..., 1] * w)[..., None, None]
    return -((ys - cy) ** 2 + (xs - cx) ** 2)


def blob_masks(masks: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Each mask's values laid out as a disc around a random centre (largest values nearest): a
    contiguous blob of exactly the mask's area (each pixel but the nearest has a nearer 4-neighbour)."""
    return rearrange(masks, rank_order(blob_scores(masks.shape, seed=seed, device=masks.device), seed=seed))


def binarise(masks: torch.Tensor) -> torch.Tensor:
    """Binary masks of each soft mask's area: its ``round(a H W)`` highest pixels set to 1."""
    return top_fraction_mask(masks, masks.double().flatten(-2).mean(-1).to(masks.dtype))


@dataclass(frozen=True)
class Leaf:
    """One method's fidelity: mean over the (filter, image) pairs, its interval, its mean area."""

    mean: float
    ci95: Interval
    area: float
    pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci95": self.ci95.as_list(), "area": self.area, "pairs": self.pairs}


def _leaf(values: torch.Tensor, active: torch.Tensor, area: torch.Tensor, *, draws: int, seed: int) -> Leaf:
    """Mean of values (N, K) over the active pairs; bootstrap interval resampling images (rows)."""
    a = active.double()
    s, c = (values.double() * a).sum(1), a.sum(1)  # per image

    def stat(idx: torch.Tensor) -> torch.Tensor:
        w = resample_weights(idx, s.numel())
        return (w @ s) / (w @ c).clamp_min(1)

    pairs = float(c.sum())
    ci = bootstrap_stat_ci(torch.arange(s.numel(), device=s.device), stat, draws=draws, seed=seed)
    return Leaf(float(s.sum() / max(pairs, 1)), ci, float((area.double() * a).sum() / max(pairs, 1)), int(pairs))


@dataclass(frozen=True)
class FsagnEvaluation:
    """Fidelity of FSAGN and its equal-area baselines: ``results[strategy][family][method]``."""

    layer: str
    filters: tuple[int, ...]
    selected: tuple[int, ...]
    images: int
    seed: int
    results: dict[str, dict[str, dict[str, Leaf]]] = field(hash=False, compare=False)
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``fsagn`` section of evaluation.json (see the module docstring)."""
        out: dict[str, Any] = {
            "layer": self.layer,
            "filters": list(self.filters),
            "selected": list(self.selected),
            "extra": [f for f in self.filters if f not in self.selected],
            "images": self.images,
            "seed": self.seed,
            "measure": {s: MEASURE[s] for s in self.results},
        }
        for strategy, fams in self.results.items():
            out[strategy] = {fam: {m: leaf.to_dict() for m, leaf in leaves.items()} for fam, leaves in fams.items()}
        out["settings"] = dict(self.settings)
        return out


def _chunked(fn, n: int, size: int) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.cat([fn(slice(lo, lo + size)) for lo in range(0, n, size)])


def fsagn_evaluation(
    backbone: Backbone,
    images: torch.Tensor,
    masks: dict[str, torch.Tensor],
    *,
    selected: tuple[int, ...] | None = None,
    zeiler: torch.Tensor | None = None,
    optimise_steps: int = 40,
    lam: float | None = None,
    window: int | None = None,
    stride: int = 1,
    seed: int = 0,
    boot_draws: int = 2000,
    batch_size: int = 16,
) -> FsagnEvaluation:
    """Evaluate FSAGN masks of ``backbone``'s filters against equal-area baselines.

    Args:
        backbone: the model, layer and the K filters evaluated.
        images: (N, C, H, W) in [0, 1] (held-out images).
        masks: {strategy: FSAGN masks (N, K, H, W)} for ``reservation`` and/or ``occlusion``.
        selected: which of the filters the run selected (reported; default all).
        zeiler: Zeiler maps (N, K, H, W) if already computed (else computed with window, stride).
        optimise_steps, lam: the matched-area optimum's Adam steps and Eq. (2)/(5) lambda.
        seed: seeds the random masks, the blobs, the tie-breaks and the bootstrap.
        batch_size: images per pass (fidelity and optimisation are per image, so chunks are exact).
    """
    backbone.check_images(images)
    n, k = images.shape[0], backbone.num_filters
    for s, m in masks.items():
        if s not in MEASURE:
            raise ConfigError(f"strategy {s!r}: expected one of {', '.join(MEASURE)}")
        if m.shape != (n, k, *images.shape[-2:]):
            raise ConfigError(f"{s} masks of shape {tuple(m.shape)}: expected {(n, k, *images.shape[-2:])}")
    with torch.no_grad():
        active = _chunked(lambda sl: backbone.responses(images[sl]).flatten(-2).amax(-1) > 0, n, batch_size)
    if zeiler is None:
        zeiler = zeiler_maps(backbone, images, window=window, stride=stride)
    results: dict[str, dict[str, dict[str, Leaf]]] = {}
    for strategy, soft in masks.items():
        soft = soft.float()
        area = soft.double().flatten(-2).mean(-1)
        raw = _chunked(lambda sl, s=strategy, a=area, m0=soft: optimise_masks(
            backbone, images[sl], s, lam=lam, steps=optimise_steps, area=a[sl].float(), init=m0[sl]), n, batch_size)
        orders = {
            "random": rank_order(torch.zeros_like(soft), seed=seed),
            "random_blob": rank_order(blob_scores(soft.shape, seed=seed + 1, device=soft.device), seed=seed + 1),
            "zeiler": rank_order(zeiler, seed=seed + 2),
            "optimised": rank_order(raw, seed=seed + 3),
        }
        results[strategy] = {}
        for family, base in (("soft", soft), ("hard", binarise(soft))):
            fam = {"fsagn": base, **{name: rearrange(base, o) for name, o in orders.items()}}
            results[strategy][family] = {}
            for method, m in fam.items():
                with torch.no_grad():
                    v = _chunked(lambda sl, m=m, s=strategy: mask_fidelity(
                        backbone, images[sl], m[sl], s)[MEASURE[s]], n, batch_size)
                a = m.double().flatten(-2).mean(-1)
                results[strategy][family][method] = _leaf(v, active, a, draws=boot_draws, seed=seed)
    return FsagnEvaluation(
        backbone.layer, backbone.filters, tuple(selected if selected is not None else backbone.filters), n, seed,
        results, {"optimise_steps": optimise_steps, "lam": lam, "window": window, "stride": stride,
                  "boot_draws": boot_draws, "area_weight": 100.0},
    )


def fsagn_evaluation_run(
    root_or_run: str | os.PathLike[str] | Run,
    *,
    images: int = 64,
    extra_filters: int = 6,
    seed: int = 0,
    device: torch.device | None = None,
    progress: bool = True,
    steps: int | None = None,
    optimise_steps: int | None = None,
    stride: int | None = None,
    boot_draws: int = 2000,
) -> FsagnEvaluation:
    """``fsagn_evaluation`` on a run: the ``sensitive`` stage's filters and generators
    (``masks/metrics.json``, ``masks/generators/``) plus ``extra_filters`` more filters of the layer
    drawn at random (seeded) among those that respond on at least one evaluation image, whose
    generators are trained here like the stage's (its recorded options; ``steps`` overrides the
    training steps, ``optimise_steps`` the optimum's, ``stride`` Zeiler's), on the first ``images``
    held-out images. Reads the run, writes nothing."""
    from kgfilters.run import Run, load_run

    t0 = time.perf_counter()
    run = root_or_run if isinstance(root_or_run, Run) else load_run(root_or_run, device=device)
    if images < 1 or extra_filters < 0:
        raise ConfigError(f"images={images}, extra_filters={extra_filters}: expected images >= 1, extra >= 0")
    opts = dict(run.masks.summary.get("options", {}))
    gens = _saved_generators(run, opts.get("strategies", list(MEASURE)))
    layer, selected, feature_layer = gens["layer"], gens["filters"], gens["feature_layer"]
    from kgfilters.fsagn.stage import _first

    x_eval, _ = _first(run.splits.heldout, images, run.device)
    every = Backbone.of(run.model, run.spec, layer, list(range(_channels(run, layer))), feature_layer=feature_layer)
    with torch.no_grad():
        fires = _chunked(lambda sl: every.responses(x_eval[sl]).flatten(-2).amax(-1) > 0, x_eval.shape[0], 16).any(0)
    pool = [f for f in range(fires.numel()) if bool(fires[f]) and f not in selected]
    extra = sorted(pool[i] for i in torch.randperm(len(pool), generator=generator(seed))[:extra_filters].tolist())
    if len(extra) < extra_filters:
        log.warning("layer %s: only %d more filters respond on the %d images", layer, len(extra), x_eval.shape[0])
    filters = tuple(selected) + tuple(extra)
    bb = Backbone.of(run.model, run.spec, layer, list(filters), feature_layer=feature_layer)
    masks = _masks(run, bb, gens, selected, extra, x_eval, opts, steps=steps, seed=seed, progress=progress)
    t1 = time.perf_counter()
    ev = fsagn_evaluation(
        bb, x_eval, masks, selected=tuple(selected), seed=seed, boot_draws=boot_draws,
        optimise_steps=optimise_steps if optimise_steps is not None else int(opts.get("optimise_steps", 100)),
        lam=opts.get("lam"), window=opts.get("window"), stride=stride or int(opts.get("stride", 1)),
    )
    settings = {**ev.settings, "train_steps": steps if steps is not None else int(opts.get("steps", 300)),
                "train_seconds": round(t1 - t0, 2), "evaluate_seconds": round(time.perf_counter() - t1, 2)}
    return FsagnEvaluation(ev.layer, ev.filters, ev.selected, ev.images, ev.seed, ev.results, settings)


def _channels(run: Run, layer: str) -> int:
    from kgfilters.models import conv_layers

    return int(conv_layers(run.model)[layer].out_channels)


def _saved_generators(run: Run, strategies: list[str]) -> dict[str, Any]:
    """The stage's generators per strategy, with the layer, filters and feature layer they share."""
    from kgfilters.fsagn.outputs import load_generator

    out: dict[str, Any] = {"by_strategy": {}}
    for layer in run.masks.summary.get("filters", {}):
        for s in strategies:
            path = run.paths.generators / f"{layer.replace('/', '_')}_{s}.safetensors"
            if path.is_file():
                gen, meta = load_generator(path)
                out["by_strategy"][s] = (gen.to(run.device), meta)
                out.update(layer=layer, filters=[int(f) for f in meta["filters"]], feature_layer=meta["feature_layer"])
        if out["by_strategy"]:
            return out
    raise RunError(f"{run.paths.masks}: no FSAGN generators; run `kgfilters sensitive --run {run.root}` first")


def _masks(run: Run, bb: Backbone, gens: dict[str, Any], selected: list[int], extra: list[int],
           x_eval: torch.Tensor, opts: dict[str, Any], *, steps: int | None, seed: int,
           progress: bool) -> dict[str, torch.Tensor]:
    """FSAGN masks (N, K, H, W) per strategy: the saved generator's for the selected filters, and a
    generator trained now (the stage's options) for the extra ones."""
    from kgfilters.fsagn.fit import FitConfig, fit_generator, generate_masks, new_generator
    from kgfilters.fsagn.generators import GeneratorDesign
    from kgfilters.fsagn.stage import _first

    x_train = None
    out = {}
    for strategy, (gen, meta) in gens["by_strategy"].items():
        sel_bb = Backbone.of(run.model, run.spec, bb.layer, selected, feature_layer=bb.feature_layer)
        parts = [generate_masks(sel_bb, gen, x_eval)]
        if extra:
            if x_train is None:
                x_train, _ = _first(run.splits.train, int(opts.get("train_images", 4000)), run.device)
            ex_bb = Backbone.of(run.model, run.spec, bb.layer, extra, feature_layer=bb.feature_layer)
            d = meta["design"]
            design = GeneratorDesign(d["name"], d["stem"], tuple(d["widths"]), 0, 0, "the stage's design")
            with torch.random.fork_rng(devices=[]):  # the initial weights depend on the seed only
                torch.manual_seed(seed)
                new = new_generator(design, int(meta["in_channels"]), len(extra), strategy).to(run.device)
            cfg = FitConfig(strategy, meta.get("lam"), steps if steps is not None else int(opts.get("steps", 300)),
                            int(opts.get("batch_size", 32)), float(opts.get("lr", 2e-3)), seed)
            fit_generator(ex_bb, new, x_train, cfg, progress=progress)
            parts.append(generate_masks(ex_bb, new, x_eval))
        out[strategy] = torch.cat(parts, 1)
    return out
