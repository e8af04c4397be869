"""Images as terminal text: two pixels per cell with the upper half block (works in every
terminal and in SVG snapshots)."""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text

__all__ = ["bar", "half_blocks", "sparkline"]

UPPER = "\u2580"
SPARKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"


def _rgb(a: np.ndarray, *, normalise: bool) -> np.ndarray:
    """(H, W, 3) uint8 from (H, W) or (C, H, W) values."""
    a = np.nan_to_num(np.asarray(a, dtype=np.float64))
    if a.ndim == 3:
        a = a[:3] if a.shape[0] >= 3 else np.repeat(a[:1], 3, axis=0)
        a = np.moveaxis(a, 0, -1)
    else:
        a = np.repeat(a[..., None], 3, axis=-1)
    if normalise:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return (np.clip(a, 0.0, 1.0) * 255).round().astype(np.uint8)


def _downsample(a: np.ndarray, width: int | None) -> np.ndarray:
    """Nearest-neighbour resize of (H, W, 3) to at most ``width`` columns, aspect kept."""
    h, w = a.shape[:2]
    if width is None or w <= width:
        return a
    cols = np.linspace(0, w - 1, width).round().astype(int)
    rows = np.linspace(0, h - 1, max(1, round(h * width / w))).round().astype(int)
    return a[rows][:, cols]


def half_blocks(a: np.ndarray, *, width: int | None = None, normalise: bool = False) -> Text:
    """Render (H, W) or (C, H, W) values in [0, 1] (or any range with ``normalise``) as rows of
    ``▀`` cells: foreground = upper pixel, background = lower pixel. H/2 rows of W cells."""
    rgb = _downsample(_rgb(a, normalise=normalise), width)
    if rgb.shape[0] % 2:
        rgb = np.concatenate([rgb, np.zeros_like(rgb[:1])], axis=0)
    text = Text(no_wrap=True, overflow="crop")
    for y in range(0, rgb.shape[0], 2):
        for x in range(rgb.shape[1]):
            top, bot = rgb[y, x], rgb[y + 1, x]
            text.append(UPPER, Style(color=Color.from_rgb(*map(int, top)),
                                     bgcolor=Color.from_rgb(*map(int, bot))))
        if y + 2 < rgb.shape[0]:
            text.append("\n")
    return text


def sparkline(values: list[float] | tuple[float, ...]) -> str:
    """One block character per value, scaled between the values' min and max."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        return ""
    lo, hi = float(v.min()), float(v.max())
    idx = np.zeros(v.size, dtype=int) if hi <= lo else ((v - lo) / (hi - lo) * (len(SPARKS) - 1)).round().astype(int)
    return "".join(SPARKS[i] for i in idx)


def bar(value: float, *, width: int = 20) -> str:
    """A horizontal bar for a value in [0, 1], eighth-cell resolution."""
    v = min(max(float(value), 0.0), 1.0) * width
    full, part = int(v), int((v - int(v)) * 8)
    partial = " \u258f\u258e\u258d\u258c\u258b\u258a\u2589"[part] if full < width else ""
    return ("\u2588" * full + partial).ljust(width)
