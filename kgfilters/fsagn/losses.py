"""FSAGN's losses, Eqs. (1)-(6), as pure functions on tensors.

Conventions (recorded in docs/methods-fsagn.md):

* Masks are (B, K, H, W) in [0, 1]: K filters' masks for B images at input resolution.
* Feature maps of the target filters are (B, K, h, w), non-negative (after ReLU).
* Coordinates are normalised to [0, 1] through pixel centres, ``u = (x + 0.5) / W``, so that
  ``lambda`` does not depend on the resolution.
* Every loss term is returned per (image, filter), shape (B, K); callers reduce.
"""

from __future__ import annotations

import torch

__all__ = [
    "apply_mask",
    "area_loss",
    "coordinate_grid",
    "dif_loss",
    "minmax_normalise",
    "occlusion_loss",
    "reservation_loss",
    "sim_loss",
]


def apply_mask(images: torch.Tensor, masks: torch.Tensor, strategy: str) -> torch.Tensor:
    """Eq. (1) ``I' = I * M`` (reservation) or the occlusion image ``I' = I * (1 - M)``.

    Args:
        images: (B, C, H, W) in [0, 1], before the model's normalisation (so 0 means black).
        masks: (B, K, H, W) in [0, 1].
        strategy: ``"reservation"`` or ``"occlusion"``.

    Returns:
        (B, K, C, H, W): image b masked by filter k's mask.
    """
    m = masks.unsqueeze(2)
    if strategy == "occlusion":
        m = 1.0 - m
    elif strategy != "reservation":
        raise ValueError(f"strategy {strategy!r}: expected 'reservation' or 'occlusion'")
    return images.unsqueeze(1) * m


def minmax_normalise(r: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Min-max scale each map of (..., h, w) to [0, 1] (Eq. 3's "normalised to [0, 1]").

    A constant map (max == min, e.g. a silenced filter) becomes all zeros.
    """
    flat = r.flatten(-2)
    lo = flat.amin(-1, keepdim=True)
    span = flat.amax(-1, keepdim=True) - lo
    out = torch.where(span > eps, (flat - lo) / span.clamp_min(eps), torch.zeros_like(flat))
    return out.view_as(r)


def dif_loss(r: torch.Tensor, r_new: torch.Tensor) -> torch.Tensor:
    """Eq. (3): ``||norm(r) - norm(r')||_F`` divided by ``sqrt(h * w)`` (an RMS difference).

    Args:
        r, r_new: (B, K, h, w) feature maps of the original and the masked image.

    Returns:
        (B, K) in [0, 1]. The ``1 / sqrt(h w)`` factor is constant, so the minimiser is the paper's;
        it only makes ``lambda`` independent of the feature-map size.
    """
    d = minmax_normalise(r) - minmax_normalise(r_new)
    return d.flatten(-2).norm(dim=-1) / (r.shape[-1] * r.shape[-2]) ** 0.5


def sim_loss(r: torch.Tensor, r_new: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Eq. (6): ``||r'||_F``, divided by ``||r||_F`` (a constant per image and filter).

    Returns (B, K): the fraction of the response's Frobenius norm that is left, ~[0, 1].
    """
    return r_new.flatten(-2).norm(dim=-1) / r.flatten(-2).norm(dim=-1).clamp_min(eps)


def coordinate_grid(
    h: int, w: int, *, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised pixel-centre coordinates ``(x + 0.5) / W`` and ``(y + 0.5) / H``, each (h, w)."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return gx, gy


def area_loss(masks: torch.Tensor, peaks: torch.Tensor) -> torch.Tensor:
    """Eq. (4): ``sum m(x, y) [(x - t_x)^2 + (y - t_y)^2]``, in normalised coordinates, averaged.

    Args:
        masks: (B, K, H, W) in [0, 1].
        peaks: (B, K, 2) peak positions ``(t_x, t_y)`` in normalised input coordinates [0, 1].

    Returns:
        (B, K): the mean over the H x W pixels (Eq. 4's sum divided by H W, so ``lambda`` does not
        depend on the resolution). A full mask with the peak at the centre gives ~1/6.
    """
    h, w = masks.shape[-2:]
    gx, gy = coordinate_grid(h, w, device=masks.device)
    tx = peaks[..., 0, None, None]
    ty = peaks[..., 1, None, None]
    d2 = (gx - tx) ** 2 + (gy - ty) ** 2
    return (masks * d2).flatten(-2).mean(-1)


def reservation_loss(
    r: torch.Tensor, r_new: torch.Tensor, masks: torch.Tensor, peaks: torch.Tensor, lam: float
) -> torch.Tensor:
    """Eq. (2): ``L_dif(r, r') + lambda * L_area(M)``, per (image, filter) (B, K)."""
    return dif_loss(r, r_new) + lam * area_loss(masks, peaks)


def occlusion_loss(
    r: torch.Tensor, r_new: torch.Tensor, masks: torch.Tensor, peaks: torch.Tensor, lam: float
) -> torch.Tensor:
    """Eq. (5): ``L_sim(r, r') + lambda * L_area(M)``, per (image, filter) (B, K)."""
    return sim_loss(r, r_new) + lam * area_loss(masks, peaks)
