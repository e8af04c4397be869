"""Training FSAGN generators (amortised) and the per-image optimised masks (the quality ceiling).

Both minimise the same loss, Eq. (2) for reservation or Eq. (5) for occlusion, with the backbone
frozen. The generator learns over many images and then produces a mask in one forward pass; the
optimised baseline fits one free mask per image (like TorchRay's extremal perturbation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from kgfilters.errors import ConfigError
from kgfilters.fsagn.backbone import Backbone, peak_positions
from kgfilters.fsagn.generators import GeneratorDesign, MaskGenerator
from kgfilters.fsagn.losses import apply_mask, occlusion_loss, reservation_loss

__all__ = [
    "LOSSES",
    "STRATEGIES",
    "FitConfig",
    "FitResult",
    "fit_generator",
    "generate_masks",
    "heldout_loss",
    "new_generator",
    "optimise_masks",
]

log = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]
LOSSES: dict[str, LossFn] = {"reservation": reservation_loss, "occlusion": occlusion_loss}
STRATEGIES = tuple(LOSSES)

# Masks start where the masked image equals the original (reservation m ~ 0.95, occlusion
# m ~ 0.05): the filter then still responds, so Eq. (3)/(6) has a gradient. Started at m = 0.5 a
# filter with a high threshold can be silenced at once (ReLU: no gradient) and the area term
# alone then drives the mask to zero.
INIT_LOGIT: dict[str, float] = {"reservation": 3.0, "occlusion": 0.0}


def new_generator(
    design: GeneratorDesign, in_channels: int, num_filters: int, strategy: str
) -> MaskGenerator:
    """A fresh generator whose initial masks leave the image unchanged (see ``INIT_LOGIT``)."""
    _loss_fn(strategy)
    gen = design.build(in_channels, num_filters)
    with torch.no_grad():
        gen.head.bias.fill_(INIT_LOGIT[strategy])
    return gen


def _loss_fn(strategy: str) -> LossFn:
    if strategy not in LOSSES:
        raise ConfigError(f"--strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    return LOSSES[strategy]


@dataclass(frozen=True)
class FitConfig:
    """Training options. ``lam`` is Eq. (2)/(5)'s lambda (per strategy default when None)."""

    strategy: str = "reservation"
    lam: float | None = None
    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0

    @property
    def lam_value(self) -> float:
        return DEFAULT_LAMBDA[self.strategy] if self.lam is None else self.lam


DEFAULT_LAMBDA: dict[str, float] = {"reservation": 1.0, "occlusion": 2.0}


@dataclass(frozen=True)
class FitResult:
    """What training measured: seconds, steps, and the mean loss of the first and last 10% steps."""

    strategy: str
    lam: float
    filters: tuple[int, ...]
    steps: int
    seconds: float
    first_loss: float
    final_loss: float


def _batch_loss(
    backbone: Backbone,
    masks_of: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    strategy: str,
    lam: float,
) -> torch.Tensor:
    """Sum over filters of the mean loss over the images on which that filter responds."""
    feats, r = backbone.inputs_and_responses(x)
    masks = masks_of(feats)
    r_new = backbone.responses_masked(apply_mask(x, masks, strategy))
    per = LOSSES[strategy](r, r_new, masks, peak_positions(r), lam)
    active = (r.flatten(-2).amax(-1) > 0).to(per.dtype)
    return ((per * active).sum(0) / active.sum(0).clamp_min(1)).sum()


def fit_generator(
    backbone: Backbone,
    generator: MaskGenerator,
    images: torch.Tensor,
    config: FitConfig,
    *,
    progress: bool = False,
) -> FitResult:
    """Train ``generator`` (in place) on ``images`` (N, C, H, W) in [0, 1], on their device.

    Each step draws ``batch_size`` images at random (seeded) and takes one Adam step on Eq. (2)
    or (5), summed over the generator's filters. The backbone stays frozen.
    """
    _loss_fn(config.strategy)
    backbone.check_images(images)
    if generator.num_filters != backbone.num_filters:
        raise ConfigError(
            f"generator has {generator.num_filters} outputs for {backbone.num_filters} filters"
        )
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(generator.parameters(), lr=config.lr)
    generator.train()
    losses = torch.zeros(config.steps, dtype=torch.float64, device=images.device)
    t0 = time.perf_counter()
    for step in tqdm(
        range(config.steps),
        desc=f"train {config.strategy} generator",
        disable=not progress,
        unit="step",
    ):
        idx = torch.randint(images.shape[0], (config.batch_size,), generator=gen)
        loss = _batch_loss(
            backbone, generator, images[idx.to(images.device)], config.strategy, config.lam_value
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.detach()
    seconds = time.perf_counter() - t0
    generator.eval()
    tenth = max(config.steps // 10, 1)
    hist = losses.cpu()
    return FitResult(
        config.strategy,
        config.lam_value,
        backbone.filters,
        config.steps,
        seconds,
        float(hist[:tenth].mean()),
        float(hist[-tenth:].mean()),
    )


@torch.no_grad()
def generate_masks(
    backbone: Backbone, generator: MaskGenerator, images: torch.Tensor, *, batch_size: int = 256
) -> torch.Tensor:
    """Amortised masks: (N, K, H, W) in (0, 1) for images (N, C, H, W) in [0, 1], one pass each."""
    backbone.check_images(images)
    generator.eval()
    out = []
    for lo in range(0, images.shape[0], batch_size):
        feats, _ = backbone.inputs_and_responses(images[lo : lo + batch_size])
        out.append(generator(feats))
    return torch.cat(out)


@torch.no_grad()
def heldout_loss(
    backbone: Backbone,
    images: torch.Tensor,
    masks: torch.Tensor,
    strategy: str,
    *,
    lam: float | None = None,
) -> torch.Tensor:
    """Eq. (2) or (5) of given masks (N, K, H, W), averaged per filter over the images on which
    the filter responds: (K,) float64. The objective every method minimises, so comparable."""
    loss_fn = _loss_fn(strategy)
    lam = DEFAULT_LAMBDA[strategy] if lam is None else lam
    r = backbone.responses(images)
    r_new = backbone.responses_masked(apply_mask(images, masks, strategy))
    per = loss_fn(r, r_new, masks, peak_positions(r), lam).double()
    active = (r.flatten(-2).amax(-1) > 0).double()
    return (per * active).sum(0) / active.sum(0).clamp_min(1)


def optimise_masks(
    backbone: Backbone,
    images: torch.Tensor,
    strategy: str,
    *,
    lam: float | None = None,
    steps: int = 100,
    lr: float = 0.1,
    area: torch.Tensor | None = None,
    area_weight: float = 100.0,
    init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-image optimised masks (N, K, H, W): free logits fitted by Adam to the same loss.

    Logits start at ``INIT_LOGIT[strategy]``; each (image, filter) pair is optimised independently
    (their losses are summed, so one batched Adam run fits them all). With ``area`` (N, K), target
    area fractions, the loss gains ``area_weight * (mean(M) - area)^2`` per pair, so the optimum is
    sought among masks of (about) that area: the matched-area ceiling of ``kgfilters evaluate``
    (without it the optimum's area is whatever the loss gives, e.g. 0.48 against FSAGN's 0.2).
    ``init`` (N, K, H, W) masks start the logits instead (clamped to [0.001, 0.999]), e.g. FSAGN's
    own masks, so the optimum refines them at their area.
    """
    loss_fn = _loss_fn(strategy)
    backbone.check_images(images)
    lam = DEFAULT_LAMBDA[strategy] if lam is None else lam
    n, _, h, w = images.shape
    with torch.no_grad():
        _, r = backbone.inputs_and_responses(images)
    peaks = peak_positions(r)
    if init is not None:
        logits = torch.logit(init.detach().float().clamp(1e-3, 1 - 1e-3)).to(images.device).requires_grad_(True)
    else:
        logits = torch.full(
            (n, backbone.num_filters, h, w), INIT_LOGIT[strategy], device=images.device
        ).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)
    for _ in range(steps):
        masks = torch.sigmoid(logits)
        r_new = backbone.responses_masked(apply_mask(images, masks, strategy))
        per = loss_fn(r, r_new, masks, peaks, lam)
        if area is not None:
            per = per + area_weight * (masks.flatten(-2).mean(-1) - area.to(per.dtype)) ** 2
        loss = per.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return torch.sigmoid(logits.detach())
