"""What the TUI shows of a run, as plain data: layers, filters, tags, responses and masks.

No Textual here: every figure a view displays comes from these functions, so tests can compare
them with ``load_run()`` directly. Parts a run lacks (tags, statistics, masks) read as empty.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgfilters.errors import DataError, KgfError, RunError
from kgfilters.fsagn.masks_io import MaskSet, SensitiveArea
from kgfilters.run import Run, load_run

if TYPE_CHECKING:  # torch (and what needs it) is imported on first use, not before the first screen
    from kgfilters.filtag import Tag, TagSet
    from kgfilters.fsagn.panels import MaskPanels
    from kgfilters.stats import ActivationStats

__all__ = ["SORTS", "FilterRow", "LayerRow", "MaskArea", "RunView"]

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


class RunView:
    """A run opened for the TUI. Missing parts are recorded in ``missing`` instead of raising.

    ``lazy_stats``: the statistics (and torch, which reading them needs) are not read here but by
    ``load_stats``, which the app calls in a worker after its first screen; until then
    ``stats_ready`` is False and filters show no activity. ``response`` reads them on demand.

    ``lazy_tags``: tags.json (65,000 tags on an ImageNet-sized run, about half a second) is not
    read here but by ``load_tags``, which the app calls in the same worker before the statistics;
    until then ``tags_ready`` is False, ``tags`` is None, and there are no layers or filters
    (``layer_sizes`` is empty): views show a loading state, not "no tags".
    """

    def __init__(self, run: Run, *, lazy_stats: bool = False, lazy_tags: bool = False) -> None:
        self.run = run
        #: Held by every worker that runs the model: forward hooks are per module, not per thread,
        #: so two concurrent passes with hooks (explain, mask panels) would fill each other's captures.
        self.model_lock = threading.RLock()
        self._stats_lock = threading.Lock()
        self.missing: dict[str, str] = {}
        self._tags_lock = threading.Lock()
        self._tags: TagSet | None = None
        self._by_filter: dict[tuple[str, int], tuple[Tag, ...]] = {}
        self._layer_sizes: dict[str, int] | None = None
        self.tags_ready = False
        self.stats: ActivationStats | None = None
        self.stats_ready = False
        self._activity: dict[str, np.ndarray] = {}
        self._masks_lock = threading.Lock()
        self._mask_set: MaskSet | None = None
        self._masks: tuple[MaskArea, ...] | None = None
        if not lazy_tags:
            self.load_tags()
        if not lazy_stats:
            self.load_stats()
            self.load_masks()

    @classmethod
    def open(cls, root: str | os.PathLike[str], *, lazy_stats: bool = False, lazy_tags: bool = False) -> RunView:
        """Open a run directory; RunError when it has no run.json."""
        return cls(load_run(root), lazy_stats=lazy_stats, lazy_tags=lazy_tags)

    @property
    def tags(self) -> TagSet | None:
        """The run's tags; None when it has none (the reason in ``missing``) or, with
        ``lazy_tags``, before ``load_tags`` has read them (``tags_ready`` False). Never blocks."""
        return self._tags

    def load_tags(self) -> TagSet | None:
        """Read tags.json once and group its tags by filter (any thread; later calls wait for the
        first); None when the run has none (the reason in ``missing``)."""
        with self._tags_lock:
            if not self.tags_ready:
                tags = self._part("tags")
                out: dict[tuple[str, int], list[Tag]] = {}
                for t in tags.tags if tags is not None else ():
                    out.setdefault((t.layer, t.filter), []).append(t)
                self._by_filter = {k: tuple(sorted(v, key=lambda t: (-t.score, t.class_index)))
                                   for k, v in out.items()}
                self._tags, self.tags_ready = tags, True  # ready last: readers on other threads
            return self._tags

    def load_stats(self) -> ActivationStats | None:
        """Read the statistics and each filter's activity once (any thread; later calls wait for
        the first); None when the run has none (the reason in ``missing``)."""
        with self._stats_lock:
            if not self.stats_ready:
                stats = self._part("stats")
                if stats is not None:
                    import torch

                    self._activity = {n: torch.nanmean(stats.z(n), dim=0).numpy() for n in stats.layers}
                self.stats, self.stats_ready = stats, True
            return self.stats

    def load_masks(self) -> tuple[MaskArea, ...]:
        """Read masks/metrics.json once (any thread; later calls wait for the first): the sensitive
        areas, () when there are none (the reason in ``missing``). With ``lazy_stats`` the app
        reads them in its worker after the first screen, which does not show them."""
        with self._masks_lock:
            if self._masks is None:
                mask_set = self._part("masks")
                masks = mask_set.areas if mask_set is not None else ()
                if mask_set is not None and not masks:
                    self.missing["masks"] = f"{self.run.paths.masks_metrics} lists no sensitive area"
                self._mask_set, self._masks = mask_set, masks
            return self._masks

    @property
    def mask_set(self) -> MaskSet | None:
        """The run's FSAGN masks (``load_masks`` on first use)."""
        self.load_masks()
        return self._mask_set

    @property
    def masks(self) -> tuple[MaskArea, ...]:
        """The sensitive areas of ``masks/metrics.json`` (``load_masks`` on first use)."""
        return self.load_masks()

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

    @property
    def layer_sizes(self) -> dict[str, int]:
        """Filters per layer: from the tags, else the statistics, else the model's conv layers;
        empty (and not remembered) while the tags are not read yet."""
        if self._layer_sizes is None:
            if not self.tags_ready:
                return {}
            self._layer_sizes = self._sizes()
        return self._layer_sizes

    def _sizes(self) -> dict[str, int]:
        if self.tags is not None:
            return dict(self.tags.layer_sizes)
        if (stats := self.load_stats()) is not None:
            return {n: s.num_filters for n, s in stats.layers.items()}
        from kgfilters.models import conv_layers

        try:
            return {n: m.out_channels for n, m in conv_layers(self.run.model).items()}
        except (KgfError, OSError) as exc:
            self.missing["model"] = str(exc)
            return {}

    def layers(self) -> tuple[LayerRow, ...]:
        tagged = {}
        for layer, _ in self._by_filter:
            tagged[layer] = tagged.get(layer, 0) + 1
        return tuple(LayerRow(n, k, tagged.get(n, 0)) for n, k in self.layer_sizes.items())

    def filter_row(self, layer: str, index: int) -> FilterRow:
        if layer not in self.layer_sizes or not 0 <= index < self.layer_sizes[layer]:
            raise RunError(f"filter {layer}:{index}: not in this run (layers: {self._sizes_text()})")
        act = self._activity.get(layer)
        return FilterRow(layer, index, None if act is None else float(act[index]),
                         self._by_filter.get((layer, index), ()))

    def _sizes_text(self) -> str:
        return ", ".join(f"{n} 0..{k - 1}" for n, k in self.layer_sizes.items()) or "none"

    def filters(self, layer: str, *, query: str = "", sort: str = "index",
                concepts: dict[tuple[str, int], tuple[str, ...]] | None = None) -> tuple[FilterRow, ...]:
        """The filters of ``layer`` whose tag labels (or concept names) contain ``query``
        (case-insensitive), sorted by ``SORTS[sort]``; a number matches filter indices only."""
        if sort not in SORTS:
            raise RunError(f"sort {sort!r}: expected one of {', '.join(SORTS)}")
        rows = [self.filter_row(layer, i) for i in range(self.layer_sizes.get(layer, 0))]
        q = query.strip().lower()
        if q.isdigit():
            rows = [r for r in rows if r.index == int(q)]
        elif q:
            def hit(r: FilterRow) -> bool:
                names = [*r.top_tags, *(concepts or {}).get((r.layer, r.index), ())]
                return any(q in n.lower() for n in names)

            rows = [r for r in rows if hit(r)]
        return tuple(sorted(rows, key=SORTS[sort]))

    def response(self, layer: str, index: int) -> tuple[float, ...] | None:
        """z_c(m, i) for every class c (FILTAG 2.1), or None without statistics for the layer."""
        stats = self.load_stats()
        if stats is None or layer not in stats.layers:
            return None
        return tuple(float(v) for v in stats.z(layer)[:, index])

    def masks_of(self, layer: str, index: int) -> tuple[MaskArea, ...]:
        return tuple(a for a in self.masks if a.layer == layer and a.filter == index)

    def mask_panels(self, area: MaskArea) -> MaskPanels:
        """The five panels of a sensitive area (Fig. 3, FSAGN): its held-out image, the filter's
        feature map, the saved mask, the masked image and the new feature map, the maps computed
        with the run's model. KgfError when the mask, the image or the layer cannot be had."""
        import torch

        from kgfilters.fsagn.backbone import Backbone
        from kgfilters.fsagn.panels import mask_panels

        if self.mask_set is None:
            raise RunError(self.missing.get("masks", "no masks in this run"))
        if area.split != "heldout" or not 0 <= area.image < self.heldout_count():
            raise DataError(f"{area.mask_file}: {area.split} image {area.image} is not a held-out image of this run")
        mask = torch.from_numpy(self.mask_set.mask(area))
        image, _ = self.heldout_image(area.image)
        x = torch.from_numpy(image)[None]
        if mask.shape != x.shape[-2:]:
            raise DataError(f"{area.mask_file}: mask {area.mask_key!r} is {tuple(mask.shape)}; "
                            f"the image is {tuple(x.shape[-2:])}")
        with self.model_lock:
            device = next(self.run.model.parameters()).device
            bb = Backbone.of(self.run.model, self.run.spec, area.layer, (area.filter,))
            return mask_panels(bb, 0, x.to(device), mask[None].to(device), area.strategy)

    def heldout_count(self) -> int:
        return len(self.run.splits.heldout)

    def heldout_image(self, index: int) -> tuple[np.ndarray, int]:
        """A held-out image as float (C, H, W) in [0, 1] and its label."""
        img, label = self.run.splits.heldout[index]
        return img.numpy().astype(np.float32), int(label)

    def next_misclassified(self, start: int, *, step: int = 1, batch: int = 256) -> int | None:
        """The first held-out index after ``start`` (before it when step is -1) the model gets
        wrong, or None; runs the model in batches."""
        import torch

        held, model, spec = self.run.splits.heldout, self.run.model, self.run.spec
        device = next(model.parameters()).device
        n = len(held)
        idx = list(range(start + 1, n)) if step > 0 else list(range(start - 1, -1, -1))
        for b in range(0, len(idx), batch):
            chunk = idx[b:b + batch]
            x = torch.stack([held[i][0] for i in chunk]).to(device)
            y = torch.tensor([held[i][1] for i in chunk])
            with torch.no_grad(), self.model_lock:
                pred = model(spec.prepare(x)).argmax(1).cpu()
            wrong = (pred != y).nonzero().flatten()
            if wrong.numel():
                return chunk[int(wrong[0])]
        return None

