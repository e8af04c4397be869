"""Known answers for Eqs. (1)-(6) of FSAGN on small hand-made tensors."""

from __future__ import annotations

import math

import pytest
import torch

from kgfilters.fsagn.losses import (
    apply_mask,
    area_loss,
    coordinate_grid,
    dif_loss,
    minmax_normalise,
    occlusion_loss,
    reservation_loss,
    sim_loss,
)


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_minmax_normalise_known_answer_and_constant_map() -> None:
    assert torch.allclose(minmax_normalise(t([[0, 2], [4, 2]])), t([[0, 0.5], [1, 0.5]]))
    assert torch.equal(minmax_normalise(t([[3, 3], [3, 3]])), torch.zeros(1, 1, 2, 2))


def test_dif_loss_eq3_known_answer() -> None:
    r, r_new = t([[0, 1], [0, 0]]), t([[0, 0], [1, 0]])
    # normalised difference (0, 1, -1, 0): Frobenius sqrt(2), divided by sqrt(h w) = 2
    assert dif_loss(r, r_new).item() == pytest.approx(math.sqrt(2) / 2)
    # normalisation makes it blind to scale and offset: only the distribution counts
    assert dif_loss(r, 3 * r + 1).item() == pytest.approx(0.0, abs=1e-7)


def test_sim_loss_eq6_known_answer() -> None:
    r = t([[3, 0], [0, 4]])
    assert sim_loss(r, r / 2).item() == pytest.approx(0.5)
    assert sim_loss(r, torch.zeros_like(r)).item() == 0.0
    assert sim_loss(r, t([[0, 0], [0, 5]])).item() == pytest.approx(1.0)


def test_coordinate_grid_is_pixel_centres() -> None:
    gx, gy = coordinate_grid(2, 4)
    assert torch.allclose(gx[0], torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert torch.allclose(gy[:, 0], torch.tensor([0.25, 0.75]))


def test_area_loss_eq4_known_answer() -> None:
    peak = torch.tensor([[[0.25, 0.25]]])  # the centre of pixel (0, 0) of a 2x2 grid
    # squared distances: 0, 0.25, 0.25, 0.5 -> sum 1.0, mean 0.25
    assert area_loss(torch.ones(1, 1, 2, 2), peak).item() == pytest.approx(0.25)
    only_peak = t([[1, 0], [0, 0]])
    assert area_loss(only_peak, peak).item() == pytest.approx(0.0)
    far = t([[0, 0], [0, 1]])
    assert area_loss(far, peak).item() == pytest.approx(0.5 / 4)


def test_area_loss_does_not_depend_on_resolution() -> None:
    centre = torch.tensor([[[0.5, 0.5]]])
    small = area_loss(torch.ones(1, 1, 28, 28), centre).item()
    large = area_loss(torch.ones(1, 1, 224, 224), centre).item()
    assert small == pytest.approx(1 / 6, rel=1e-2)  # mean of (x-.5)^2 + (y-.5)^2 on the unit square
    assert large == pytest.approx(1 / 6, rel=1e-3)


def test_total_losses_eq2_eq5() -> None:
    r, r_new = t([[0, 1], [0, 0]]), t([[0, 0], [1, 0]])
    m = torch.ones(1, 1, 2, 2)
    peak = torch.tensor([[[0.25, 0.25]]])
    res = reservation_loss(r, r_new, m, peak, 2.0).item()
    occ = occlusion_loss(r, r_new, m, peak, 2.0).item()
    assert res == pytest.approx(math.sqrt(2) / 2 + 2 * 0.25)
    assert occ == pytest.approx(1.0 + 2 * 0.25)


def test_apply_mask_eq1_and_occlusion() -> None:
    img = torch.full((2, 1, 2, 2), 0.8)
    masks = torch.tensor([[1.0, 0.0], [0.5, 0.25]]).view(1, 1, 2, 2).expand(2, 3, 2, 2)
    kept = apply_mask(img, masks, "reservation")
    cut = apply_mask(img, masks, "occlusion")
    assert kept.shape == cut.shape == (2, 3, 1, 2, 2)
    assert torch.allclose(kept[0, 0, 0], torch.tensor([[0.8, 0.0], [0.4, 0.2]]))
    assert torch.allclose(cut[0, 0, 0], torch.tensor([[0.0, 0.8], [0.4, 0.6]]))
    with pytest.raises(ValueError, match="'keep'"):
        apply_mask(img, masks, "keep")
