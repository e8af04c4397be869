"""Half-block rendering, sparklines and bars on hand-made arrays."""

from __future__ import annotations

import numpy as np

from kgfilters.fsagn.panels import MaskPanels
from kgfilters.tui.filter_screen import panel_texts
from kgfilters.tui.halfblock import UPPER, bar, half_blocks, sparkline


def test_half_blocks_two_pixels_per_cell() -> None:
    a = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    t = half_blocks(a)
    lines = t.plain.split("\n")
    assert lines == [UPPER * 2, UPPER * 2]  # 3 rows -> 2 cell rows (padded), 2 columns
    first = t.spans[0].style
    assert first.color.triplet == (0, 0, 0) and first.bgcolor.triplet == (255, 255, 255)
    last = t.spans[-1].style  # bottom row: 0.5 over the black padding
    assert last.color.triplet == (128, 128, 128) and last.bgcolor.triplet == (0, 0, 0)


def test_half_blocks_normalise_rgb_and_width() -> None:
    a = np.stack([np.full((4, 8), 2.0), np.zeros((4, 8)), np.zeros((4, 8))])
    a[0, 0, 0] = 0.0
    t = half_blocks(a, normalise=True, width=4)
    assert t.plain.split("\n") == [UPPER * 4]
    assert t.spans[1].style.color.triplet == (255, 0, 0)


def test_sparkline_and_bar() -> None:
    assert sparkline([0, 1, 0.5]) == "\u2581\u2588\u2585"
    assert sparkline([2, 2]) == "\u2581\u2581" and sparkline([]) == ""
    assert bar(1.0, width=4) == "\u2588" * 4
    assert bar(0.5, width=4) == "\u2588\u2588  "
    assert bar(0.125, width=2) == "\u258e "  # a quarter cell
    assert bar(-3, width=3) == "   "


def test_mask_panels_in_order_with_maps_on_one_scale() -> None:
    image = np.full((1, 1, 4, 4), 0.5, dtype=np.float32)
    fmap = np.array([[[0.0, 2.0], [2.0, 2.0]]], dtype=np.float32)  # (1, 2, 2): half the image's size
    p = MaskPanels(image, fmap, np.ones((1, 4, 4), np.float32), image, fmap / 4)
    panels = panel_texts(p, width=4)
    assert [t for t, _ in panels] == ["image", "feature map", "mask", "masked image", "new feature map"]
    for _, text in panels:
        assert text.plain.split("\n") == [UPPER * 4] * 2  # maps are drawn at the image's size
    fm, new = panels[1][1].spans, panels[4][1].spans
    assert fm[0].style.color.triplet == (0, 0, 0) and fm[2].style.color.triplet == (255, 255, 255)
    assert new[2].style.color.triplet == (64, 64, 64)  # a quarter of the original's maximum, not re-stretched
    assert panels[0][1].spans[0].style.color.triplet == (128, 128, 128)  # images are not normalised
