"""Measured fidelity of sensitive-area masks (issue 3, item 4).

For every (image, filter) mask: its area; for reservation how well the filter's normalised response
is kept; for occlusion how much of it is lost; and, for occlusion, what it does to the class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.losses import apply_mask, minmax_normalise

__all__ = ["class_effect", "mask_fidelity", "pearson"]


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of maps (..., h, w) pair by pair, float64; 0 if a map is constant."""
    a = a.flatten(-2).double()
    b = b.flatten(-2).double()
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    den = a.norm(dim=-1) * b.norm(dim=-1)
    return torch.where(den > 0, (a * b).sum(-1) / den.clamp_min(1e-300), torch.zeros_like(den))


@torch.no_grad()
def mask_fidelity(
    backbone: Backbone, images: torch.Tensor, masks: torch.Tensor, strategy: str
) -> dict[str, torch.Tensor]:
    """Fidelity figures per (image, filter), each (N, K) float64.

    * ``area_fraction``: mean mask value (the share of the image the mask covers).
    * ``rel_frobenius_error``: ``||norm(r) - norm(r')||_F / ||norm(r)||_F`` (lower keeps more).
    * ``correlation``: Pearson correlation of r and r' (higher keeps more).
    * ``response_ratio``: ``||r'||_F / ||r||_F`` (for occlusion, lower removes more).
    where r' is the response to the reservation image ``I * M`` or occlusion image ``I * (1 - M)``.
    """
    r = backbone.responses(images).double()
    r_new = backbone.responses_masked(apply_mask(images, masks, strategy)).double()
    nr, nn_ = minmax_normalise(r), minmax_normalise(r_new)
    norm_r = r.flatten(-2).norm(dim=-1)
    return {
        "area_fraction": masks.double().flatten(-2).mean(-1),
        "rel_frobenius_error": (nr - nn_).flatten(-2).norm(dim=-1)
        / nr.flatten(-2).norm(dim=-1).clamp_min(1e-12),
        "correlation": pearson(r, r_new),
        "response_ratio": r_new.flatten(-2).norm(dim=-1) / norm_r.clamp_min(1e-12),
    }


@torch.no_grad()
def class_effect(
    backbone: Backbone, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor
) -> dict[str, torch.Tensor]:
    """What occluding each mask's area does to the classifier, per (image, filter), (N, K) float64.

    * ``true_prob_drop``: p(y | I) - p(y | I * (1 - M)), the true class's softmax probability lost.
    * ``correct_before`` / ``correct_after``: 1.0 when the top-1 class is the label, else 0.0.
    """
    model, spec = backbone.model, backbone.spec
    n, k = masks.shape[:2]
    p0 = F.softmax(model(spec.prepare(images)).double(), 1)
    occluded = apply_mask(images, masks, "occlusion").flatten(0, 1)
    p1 = F.softmax(model(spec.prepare(occluded)).double(), 1).view(n, k, -1)
    y = labels.to(images.device)
    before = p0.gather(1, y[:, None]).expand(n, k)
    after = p1.gather(2, y[:, None, None].expand(n, k, 1)).squeeze(-1)
    return {
        "true_prob_drop": before - after,
        "correct_before": (p0.argmax(1) == y).double()[:, None].expand(n, k).clone(),
        "correct_after": (p1.argmax(2) == y[:, None]).double(),
    }
