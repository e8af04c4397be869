"""Half-block rendering, sparklines and bars on hand-made arrays."""

from __future__ import annotations

import numpy as np

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
