"""The paper's five panels of a sensitive area: image, feature map, mask, masked image and the
new feature map (Fig. 3, FSAGN), computed with the frozen model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.losses import apply_mask

__all__ = ["MaskPanels", "mask_panels"]


@dataclass(frozen=True)
class MaskPanels:
    """Five panels for B images of one filter, float32 numpy arrays.

    ``image`` and ``masked_image`` (B, C, H, W) in [0, 1]; ``mask`` (B, H, W) in [0, 1];
    ``feature_map`` r and ``new_feature_map`` r' (B, h, w), the filter's ReLU'd responses to the
    image and to the masked image (Eq. (1), FSAGN). Show the two maps on one scale (r's maximum),
    or an occlusion that removes the response looks like one that keeps it.
    """

    image: np.ndarray
    feature_map: np.ndarray
    mask: np.ndarray
    masked_image: np.ndarray
    new_feature_map: np.ndarray


@torch.no_grad()
def mask_panels(bb: Backbone, j: int, images: torch.Tensor, masks: torch.Tensor, strategy: str) -> MaskPanels:
    """Panels of filter ``bb.filters[j]`` for images (B, C, H, W) in [0, 1] and their masks
    (B, H, W) in [0, 1] under ``strategy`` (reservation keeps ``I * M``, occlusion ``I * (1 - M)``)."""
    ms = masks.to(images.device, images.dtype).unsqueeze(1)
    masked = apply_mask(images, ms, strategy)  # (B, 1, C, H, W)
    maps = bb.responses(images)[:, j]
    one = Backbone(bb.model, bb.spec, bb.layer, (bb.filters[j],), bb.feature_layer)
    new = one.responses_masked(masked)[:, 0]

    def np32(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy()

    return MaskPanels(np32(images), np32(maps), np32(ms[:, 0]), np32(masked[:, 0]), np32(new))
