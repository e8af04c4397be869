"""What the TUI shows of a run, as plain data: layers, filters, tags, responses and masks.

No Textual here: every figure a view displays comes from these functions, so tests can compare
them with ``load_run()`` directly. Parts a run lacks (tags, statistics, masks) read as empty.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgfilters.errors import DataError, KgfError, RunError
from kgfilters.filtag import Tag
from kgfilters.fsagn.masks_io import SensitiveArea
from kgfilters.fsagn.masks_io import load_masks as load_mask_set
from kgfilters.run import Run, load_run

__all__ = ["SORTS", "FilterRow", "LayerRow", "MaskArea", "RunView", "load_masks"]

log = logging.getLogger(__name__)

#: Sort keys of the model browser: name -> key function over FilterRow (ascending).
SORTS: dict[str, Any] = {
    "index": lambda r: r.index,
    "activity": lambda r: -(r.activity if r.activity is not None else -1.0),
    "tags": lambda r: (-len(r.tags), r.index),
}


@dataclass(frozen=True)
class LayerRow:
    """A layer in the browser: its filter count and how many filters carry at least one tag."""

    name: str
    filters: int
    tagged: int

    @property
    def share_tagged(self) -> float:
        return self.tagged / self.filters if self.filters else 0.0


@dataclass(frozen=True)
class FilterRow:
    """A filter in the browser. ``activity`` is the mean over classes of z_c(m, i) (FILTAG 2.1),
    None without statistics; ``tags`` are its FILTAG tags, best score first."""

    layer: str
    index: int
    activity: float | None
    tags: tuple[Tag, ...]

    @property
    def top_tags(self) -> tuple[str, ...]:
        return tuple(t.label for t in self.tags)


#: An FSAGN sensitive area as the FSAGN part reads it from ``masks/metrics.json``.
MaskArea = SensitiveArea


def load_masks(path: Path) -> tuple[MaskArea, ...]:
    """The areas listed in ``masks/metrics.json`` at ``path``; () when the file is absent (the
    views' empty state). Reading is the FSAGN part's (``kgfilters.fsagn.masks_io``)."""
    if not path.is_file():
        return ()
    return load_mask_set(path.parent.parent).areas


class RunView:
    """A run opened for the TUI. Missing parts are recorded in ``missing`` instead of raising."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.missing: dict[str, str] = {}
        self.tags = self._part("tags")
        self.stats = self._part("stats")
        try:
            self.masks = load_masks(run.paths.masks / "metrics.json")
        except KgfError as exc:
            self.missing["masks"] = str(exc)
            self.masks = ()
        if not self.masks and "masks" not in self.missing:
            self.missing["masks"] = "no FSAGN masks yet (masks/metrics.json); run the FSAGN stage first"

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> RunView:
        """Open a run directory; RunError when it has no run.json."""
        return cls(load_run(root))

    def _part(self, name: str) -> Any:
        try:
            return getattr(self.run, name)
        except (KgfError, OSError) as exc:
            self.missing[name] = str(exc)
            return None

    @property
    def root(self) -> Path:
        return self.run.root

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.run.class_names

    @cached_property
    def layer_sizes(self) -> dict[str, int]:
        """Filters per layer: from the tags, else the statistics, else the model's conv layers."""
        if self.tags is not None:
            return dict(self.tags.layer_sizes)
        if self.stats is not None:
            return {n: s.num_filters for n, s in self.stats.layers.items()}
        from kgfilters.models import conv_layers

        try:
            return {n: m.out_channels for n, m in conv_layers(self.run.model).items()}
        except (KgfError, OSError) as exc:
            self.missing["model"] = str(exc)
            return {}

    @cached_property
    def _tags_by_filter(self) -> dict[tuple[str, int], tuple[Tag, ...]]:
        out: dict[tuple[str, int], list[Tag]] = {}
        for t in self.tags.tags if self.tags is not None else ():
            out.setdefault((t.layer, t.filter), []).append(t)
        return {k: tuple(sorted(v, key=lambda t: (-t.score, t.class_index))) for k, v in out.items()}

    @cached_property
    def _activity(self) -> dict[str, np.ndarray]:
        if self.stats is None:
            return {}
        return {n: torch.nanmean(self.stats.z(n), dim=0).numpy() for n in self.stats.layers}

    def layers(self) -> tuple[LayerRow, ...]:
        tagged = {}
        for layer, _ in self._tags_by_filter:
            tagged[layer] = tagged.get(layer, 0) + 1
        return tuple(LayerRow(n, k, tagged.get(n, 0)) for n, k in self.layer_sizes.items())

    def filter_row(self, layer: str, index: int) -> FilterRow:
        if layer not in self.layer_sizes or not 0 <= index < self.layer_sizes[layer]:
            raise RunError(f"filter {layer}:{index}: not in this run (layers: {self._sizes_text()})")
        act = self._activity.get(layer)
        return FilterRow(layer, index, None if act is None else float(act[index]),
                         self._tags_by_filter.get((layer, index), ()))

    def _sizes_text(self) -> str:
        return ", ".join(f"{n} 0..{k - 1}" for n, k in self.layer_sizes.items()) or "none"

    def filters(self, layer: str, *, query: str = "", sort: str = "index",
                concepts: dict[tuple[str, int], tuple[str, ...]] | None = None) -> tuple[FilterRow, ...]:
        """The filters of ``layer`` whose tag labels (or concept names) contain ``query``
        (case-insensitive; a number matches the index), sorted by ``SORTS[sort]``."""
        if sort not in SORTS:
            raise RunError(f"sort {sort!r}: expected one of {', '.join(SORTS)}")
        rows = [self.filter_row(layer, i) for i in range(self.layer_sizes.get(layer, 0))]
        q = query.strip().lower()
        if q:
            def hit(r: FilterRow) -> bool:
                names = [*r.top_tags, *(concepts or {}).get((r.layer, r.index), ())]
                return str(r.index) == q or any(q in n.lower() for n in names)

            rows = [r for r in rows if hit(r)]
        return tuple(sorted(rows, key=SORTS[sort]))

    def response(self, layer: str, index: int) -> tuple[float, ...] | None:
        """z_c(m, i) for every class c (FILTAG 2.1), or None without statistics for the layer."""
        if self.stats is None or layer not in self.stats.layers:
            return None
        return tuple(float(v) for v in self.stats.z(layer)[:, index])

    def masks_of(self, layer: str, index: int) -> tuple[MaskArea, ...]:
        return tuple(a for a in self.masks if a.layer == layer and a.filter == index)

    def mask_panels(self, area: MaskArea) -> dict[str, np.ndarray]:
        """The arrays of an area's npz (``mask_key`` first as "mask"), each squeezed to 2-D or
        (3, H, W); DataError when the file or key is missing."""
        path = self.root / area.mask_file
        try:
            with np.load(path) as npz:
                arrays = {k: np.asarray(npz[k]) for k in npz.files}
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable npz ({exc})") from None
        if area.mask_key not in arrays:
            raise DataError(f"{path}: no array {area.mask_key!r}; has {', '.join(arrays) or 'none'}")
        out = {"mask": arrays.pop(area.mask_key)}
        out.update(arrays)
        return {k: _squeeze(v) for k, v in out.items() if _squeeze(v).ndim in (2, 3)}

    def heldout_count(self) -> int:
        return len(self.run.splits.heldout)

    def heldout_image(self, index: int) -> tuple[np.ndarray, int]:
        """A held-out image as float (C, H, W) in [0, 1] and its label."""
        img, label = self.run.splits.heldout[index]
        return img.numpy().astype(np.float32), int(label)

    def next_misclassified(self, start: int, *, step: int = 1, batch: int = 256) -> int | None:
        """The first held-out index after ``start`` (before it when step is -1) the model gets
        wrong, or None; runs the model in batches."""
        held, model, spec = self.run.splits.heldout, self.run.model, self.run.spec
        device = next(model.parameters()).device
        n = len(held)
        idx = list(range(start + 1, n)) if step > 0 else list(range(start - 1, -1, -1))
        for b in range(0, len(idx), batch):
            chunk = idx[b:b + batch]
            x = torch.stack([held[i][0] for i in chunk]).to(device)
            y = torch.tensor([held[i][1] for i in chunk])
            with torch.no_grad():
                pred = model(spec.prepare(x)).argmax(1).cpu()
            wrong = (pred != y).nonzero().flatten()
            if wrong.numel():
                return chunk[int(wrong[0])]
        return None


def _squeeze(a: np.ndarray) -> np.ndarray:
    a = np.squeeze(a)
    if a.ndim == 3 and a.shape[0] not in (1, 3) and a.shape[-1] in (1, 3):
        a = np.moveaxis(a, -1, 0)
    return a
