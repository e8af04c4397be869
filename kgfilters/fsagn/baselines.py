"""Baselines beside FSAGN on the same filters and images.

* Zeiler & Fergus (2014) sliding-window occlusion of one filter's response (batched): a grey (or
  ``fill``) square slides over the image; the drop of the filter's summed response at each position
  is spread over the window's pixels and averaged into a sensitivity map at input resolution.
* ``top_fraction_mask``: a sensitivity map made a binary mask of a given area (equal-area masks).
* ``random_masks``: the floor: each mask moved by a random circular shift, so area and shape stay
  exactly equal and only the location is random.
The per-image optimised mask (the ceiling) is ``kgfilters.fsagn.fit.optimise_masks``.
"""

from __future__ import annotations

import torch

from kgfilters.errors import ConfigError
from kgfilters.fsagn.backbone import Backbone

__all__ = ["random_masks", "sliding_windows", "top_fraction_mask", "zeiler_maps"]


def sliding_windows(
    size: int, window: int, stride: int, *, device: torch.device | None = None
) -> torch.Tensor:
    """Binary window masks (P, size, size): every ``window`` x ``window`` square at ``stride``.

    The last row and column of windows are aligned with the image edge, so every pixel is covered.
    """
    if not 1 <= window <= size or stride < 1:
        raise ConfigError(
            f"--window {window} / --stride {stride}: expected 1 <= window <= {size} and stride >= 1"
        )
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    wins = torch.zeros(len(starts) ** 2, size, size, device=device)
    p = 0
    for y in starts:
        for x in starts:
            wins[p, y : y + window, x : x + window] = 1.0
            p += 1
    return wins


@torch.no_grad()
def zeiler_maps(
    backbone: Backbone,
    images: torch.Tensor,
    *,
    window: int | None = None,
    stride: int = 1,
    fill: float = 0.0,
    chunk: int = 4096,
) -> torch.Tensor:
    """Occlusion sensitivity of each explained filter, (N, K, H, W), float32.

    For every window position p: ``drop_k(p) = (S_k(I) - S_k(I_p)) / S_k(I)``, with ``S_k`` the sum
    of filter k's map and ``I_p`` the image with the window filled with ``fill`` (in [0, 1], before
    normalisation: 0 is black). A pixel's value is the mean drop over the windows covering it.
    ``window`` defaults to a quarter of the image side. Positions run in batches of ``chunk``.
    """
    backbone.check_images(images)
    n, _c, h, w = images.shape
    window = window if window is not None else max(h // 4, 1)
    wins = sliding_windows(h, window, stride, device=images.device)  # (P, H, W)
    p = wins.shape[0]
    cover = wins.sum(0).clamp_min(1)
    k = backbone.num_filters
    out = torch.empty(n, k, h, w, device=images.device)
    per_chunk = max(chunk // p, 1)
    for lo in range(0, n, per_chunk):
        x = images[lo : lo + per_chunk]
        b = x.shape[0]
        base = backbone.responses(x).flatten(-2).sum(-1)  # (b, K)
        occluded = x.unsqueeze(1) * (1 - wins[None, :, None]) + fill * wins[None, :, None]
        drops = []
        for q in range(0, p, max(chunk // b, 1)):
            part = occluded[:, q : q + max(chunk // b, 1)]
            s = backbone.responses(part.flatten(0, 1)).flatten(-2).sum(-1).view(b, part.shape[1], k)
            drops.append(s)
        s_all = torch.cat(drops, 1)  # (b, P, K)
        drop = (base.unsqueeze(1) - s_all) / base.unsqueeze(1).clamp_min(1e-12)
        out[lo : lo + b] = torch.einsum("bpk,phw->bkhw", drop, wins) / cover
    return out


def top_fraction_mask(scores: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """Binary masks (N, K, H, W) keeping the ``round(area * H * W)`` highest-scoring pixels.

    Args:
        scores: (N, K, H, W) sensitivity maps.
        area: (N, K) target area fractions in [0, 1].
    """
    flat = scores.flatten(-2)
    hw = flat.shape[-1]
    count = (area.clamp(0, 1) * hw).round().long()  # (N, K)
    rank = flat.argsort(-1, descending=True).argsort(-1)
    return (rank < count.unsqueeze(-1)).to(scores.dtype).view_as(scores)


def random_masks(masks: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Each (H, W) mask moved by a random circular shift (seeded): equal area, random place."""
    n, k, h, w = masks.shape
    gen = torch.Generator().manual_seed(seed)
    dy = torch.randint(h, (n, k), generator=gen).to(masks.device)
    dx = torch.randint(w, (n, k), generator=gen).to(masks.device)
    ys = (torch.arange(h, device=masks.device).view(1, 1, h, 1) - dy.view(n, k, 1, 1)) % h
    xs = (torch.arange(w, device=masks.device).view(1, 1, 1, w) - dx.view(n, k, 1, 1)) % w
    idx = (ys * w + xs).flatten(-2)
    return masks.flatten(-2).gather(-1, idx).view_as(masks)
