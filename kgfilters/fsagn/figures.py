"""FSAGN figures: the response diagram (Figs. 1, 7) and five-panel mask grids (Figs. 5-6, 8-11)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from kgfilters.atomic import atomic_path

__all__ = ["plot_mask_panels", "plot_response_diagram"]


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_response_diagram(
    responses: np.ndarray, targets: list[int], path: Path, *, layer: str
) -> Path:
    """The response matrix as an image: channels vertical, samples horizontal (paper Fig. 1).

    Each sample's column is scaled by its largest entry; chosen targets are marked on the right.
    """
    r = np.clip(np.asarray(responses, dtype=np.float64), 0, None)
    peak = r.max(1, keepdims=True)
    scaled = np.divide(r, peak, out=np.zeros_like(r), where=peak > 0)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.imshow(scaled.T, aspect="auto", cmap="gray", interpolation="nearest")
    ax.set_xlabel("sample")
    ax.set_ylabel("channel")
    ax.set_title(f"response of each filter of {layer} over {r.shape[0]} samples")
    for t in targets:
        ax.annotate(
            f"{t}",
            xy=(r.shape[0] - 1, t),
            xytext=(r.shape[0] * 1.02, t),
            color="red",
            fontsize=8,
            va="center",
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": "red"},
        )
    return _save(fig, path)


def plot_mask_panels(
    images: np.ndarray,
    maps: np.ndarray,
    masks: np.ndarray,
    masked: np.ndarray,
    new_maps: np.ndarray,
    path: Path,
    *,
    title: str,
    indices: list[int],
) -> Path:
    """One row per image: original, original feature map, mask, masked image, new feature map.

    Args: images/masked (N, C, H, W) in [0, 1]; maps/new_maps (N, h, w); masks (N, H, W).
    The two feature maps of a row share one colour scale (the original's maximum).
    """
    n = images.shape[0]
    cols = ("image", "feature map", "mask", "masked image", "new feature map")
    fig, axes = plt.subplots(n, 5, figsize=(7.5, 1.6 * n + 0.4), squeeze=False)

    def show(ax: plt.Axes, im: np.ndarray, **kw: object) -> None:
        if im.ndim == 3:
            im = im[0] if im.shape[0] == 1 else np.transpose(im, (1, 2, 0))
        ax.imshow(im, interpolation="nearest", **kw)
        ax.set_xticks([])
        ax.set_yticks([])

    for i in range(n):
        vmax = float(maps[i].max()) or 1.0
        show(axes[i, 0], images[i], cmap="gray", vmin=0, vmax=1)
        show(axes[i, 1], maps[i], cmap="viridis", vmin=0, vmax=vmax)
        show(axes[i, 2], masks[i], cmap="magma", vmin=0, vmax=1)
        show(axes[i, 3], masked[i], cmap="gray", vmin=0, vmax=1)
        show(axes[i, 4], new_maps[i], cmap="viridis", vmin=0, vmax=vmax)
        axes[i, 0].set_ylabel(f"#{indices[i]}", fontsize=8)
    for j, c in enumerate(cols):
        axes[0, j].set_title(c, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
