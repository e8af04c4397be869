"""The tags section: per layer, the share of filters tagged, how many classes tag each filter, and
the generic filters (tagged by at least a threshold share of the classes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from kgfilters.evaluate.figure import Figure
from kgfilters.filtag import DEFAULT_GENERIC, generic_filters

__all__ = ["LayerTags", "TagsSection", "layer_tags", "tags_section"]


@dataclass(frozen=True)
class LayerTags:
    """Tag summary of one layer.

    ``tags_per_filter[j]`` is the number of filters tagged by exactly j classes (j = 0..K);
    ``generic_filters`` are the indices of the filters tagged by >= ``threshold`` of the classes.
    """

    layer: str
    filters: int
    tagged: int
    tagged_share: float
    tags_per_filter: tuple[int, ...]
    mean_tags_per_tagged_filter: float
    generic_filters: tuple[int, ...]
    generic_share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "filters": self.filters, "tagged": self.tagged, "tagged_share": self.tagged_share,
            "tags_per_filter": list(self.tags_per_filter),
            "mean_tags_per_tagged_filter": self.mean_tags_per_tagged_filter,
            "generic_filters": list(self.generic_filters), "generic_share": self.generic_share,
        }


@dataclass(frozen=True)
class TagsSection:
    """Tag summaries of every tagged layer, for one tagging (method, param)."""

    method: str
    param: float
    threshold: float
    layers: Mapping[str, LayerTags]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "param": self.param, "generic_threshold": self.threshold,
                "layers": {k: v.to_dict() for k, v in self.layers.items()}}

    def figures(self) -> tuple[Figure, ...]:
        out = []
        for name, lt in self.layers.items():
            ev = f"layer:{name}"
            out.append(Figure(f"{name} tagged share", lt.tagged_share, evaluates=ev, section="tags"))
            out.append(Figure(f"{name} generic share", lt.generic_share, evaluates=ev, section="tags"))
        return tuple(out)


def layer_tags(layer: str, matrix: torch.Tensor, threshold: float = DEFAULT_GENERIC) -> LayerTags:
    """Summary of one layer's tag matrix ``matrix``, bool (classes K, filters C)."""
    k, c = matrix.shape
    per = matrix.sum(0)
    hist = torch.bincount(per, minlength=k + 1)
    tagged = int((per > 0).sum())
    generic = generic_filters(matrix, threshold).nonzero().flatten()
    mean = float(per[per > 0].double().mean()) if tagged else float("nan")
    return LayerTags(layer, c, tagged, tagged / c, tuple(int(x) for x in hist), mean,
                     tuple(int(i) for i in generic), int(generic.numel()) / c)


def tags_section(
    matrices: Mapping[str, torch.Tensor], *, method: str, param: float, threshold: float = DEFAULT_GENERIC
) -> TagsSection:
    """Summaries of every layer of ``matrices`` ({layer: bool (K, C)})."""
    return TagsSection(method, float(param), float(threshold),
                       {name: layer_tags(name, m, threshold) for name, m in matrices.items()})
