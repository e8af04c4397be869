"""Generator designs: mask shape and range, registry errors."""

from __future__ import annotations

import pytest
import torch

from kgfilters.errors import ConfigError
from kgfilters.fsagn.generators import GENERATORS, default_design, get_design


def test_small_design_masks_shape_and_range() -> None:
    gen = get_design("small-28").build(64, 3).requires_grad_(False)
    m = gen(torch.rand(2, 64, 14, 14) * 50)
    assert m.shape == (2, 3, 28, 28)
    assert float(m.min()) > 0.0 and float(m.max()) < 1.0
    # the input is scaled by its maximum: the mask does not depend on the activation range
    x = torch.rand(1, 64, 14, 14)
    assert torch.allclose(gen(x), gen(x * 1000), atol=1e-5)


def test_vgg_design_maps_conv5_3_to_224() -> None:
    gen = get_design("vgg-224").build(512, 1).requires_grad_(False)
    m = gen(torch.rand(1, 512, 14, 14))
    assert m.shape == (1, 1, 224, 224) and 0 < float(m.min()) and float(m.max()) < 1


def test_shared_trunk_one_head_channel_per_filter() -> None:
    many = get_design("small-28").build(64, 5)
    assert many.head.out_channels == 5
    n_many = sum(p.numel() for p in many.parameters())
    n_one = sum(p.numel() for p in get_design("small-28").build(64, 1).parameters())
    assert n_many < 5 * n_one / 4  # five filters cost far less than five generators


def test_design_registry_and_errors() -> None:
    assert set(GENERATORS) == {"small-28", "vgg-224"}
    assert default_design(14, 28).name == "small-28"
    assert default_design(7, 56).widths == (64, 32, 16)
    with pytest.raises(
        ConfigError, match="unknown generator design 'tiny'; choose one of small-28"
    ):
        get_design("tiny")
    with pytest.raises(ConfigError, match="10 pixels cannot be decoded to 28"):
        default_design(10, 28)
    with pytest.raises(ConfigError, match="'small-28' maps 14->28 px"):
        get_design("small-28").check(7, 28)
