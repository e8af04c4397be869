"""Zeiler occlusion on a hand-built network, equal-area masks, random masks."""

from __future__ import annotations

import pytest
import torch

from kgfilters.errors import ConfigError
from kgfilters.fsagn.backbone import Backbone
from kgfilters.fsagn.baselines import random_masks, sliding_windows, top_fraction_mask, zeiler_maps


def test_sliding_windows_cover_every_pixel() -> None:
    w = sliding_windows(28, 7, 3)
    starts = [0, 3, 6, 9, 12, 15, 18, 21]  # 21 = 28 - 7 is added to reach the edge
    assert w.shape == (len(starts) ** 2, 28, 28)
    assert torch.all(w.sum(0) >= 1) and torch.all(w.sum((1, 2)) == 49)
    with pytest.raises(ConfigError, match="--window 30"):
        sliding_windows(28, 30, 1)


def test_zeiler_finds_the_known_patch(patchnet) -> None:  # type: ignore[no-untyped-def]
    model, spec = patchnet
    bb = Backbone.of(model, spec, "conv2", [0, 1])
    img = torch.rand(2, 1, 28, 28) * 0.4  # dim clutter the filter ignores
    img[0, 0, 10:13, 15:18] = 1.0  # the one patch the filter sees
    img[1, 0, 20:23, 4:7] = 1.0
    img[1, 0, 2:4, 2:4] = 1.0  # a bright 2x2 blob it does not see
    heat = zeiler_maps(bb, img, window=3, stride=1, chunk=256)
    assert heat.shape == (2, 2, 28, 28)
    for b, (y, x) in enumerate([(11, 16), (21, 5)]):
        # every window touching the patch kills the response: the maximal pixels are the patch
        top = heat[b, 0] >= heat[b, 0].max() - 1e-6
        expected = torch.zeros(28, 28, dtype=torch.bool)
        expected[y - 1 : y + 2, x - 1 : x + 2] = True
        assert torch.equal(top, expected)
        assert heat[b, 0].max().item() == pytest.approx(1.0)
    assert heat[1, 0, 2:4, 2:4].abs().max() == 0  # occluding the blob changes nothing
    # batching over images or positions does not change the answer
    assert torch.allclose(heat, zeiler_maps(bb, img, window=3, stride=1, chunk=50), atol=1e-6)


def test_top_fraction_mask_has_the_requested_area() -> None:
    scores = torch.arange(16.0).view(1, 1, 4, 4).expand(2, 1, 4, 4)
    m = top_fraction_mask(scores, torch.tensor([[0.25], [0.5]]))
    assert m.sum((2, 3)).flatten().tolist() == [4.0, 8.0]
    assert m[0, 0, 3].tolist() == [1.0, 1.0, 1.0, 1.0]  # the four highest scores


def test_random_masks_keep_area_and_values_but_move() -> None:
    m = torch.zeros(8, 2, 28, 28)
    m[:, :, 10:14, 10:14] = torch.rand(8, 2, 4, 4)
    r = random_masks(m, seed=1)
    assert torch.allclose(r.sum((2, 3)), m.sum((2, 3)))
    assert torch.allclose(r.flatten(2).sort(-1).values, m.flatten(2).sort(-1).values)
    assert not torch.equal(r, m)
    assert torch.equal(r, random_masks(m, seed=1))
