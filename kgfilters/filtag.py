"""FILTAG filter tagging (Nguyen et al., Section 2.1): k-best and q-quantile tags per class and layer,
and the specificity-aware ``contrastive`` method of this project.

Given z_c(m, i), the class means of scaled filter activations (``LayerStats.class_means``), each
class c tags, in each layer m, either its k highest-scoring filters (k-best) or the filters whose
score reaches the (1 - q) quantile of that class's scores in the layer (q-quantile). ``contrastive``
tags each class's k highest filters by s_c(m, i) = z_c(m, i) - mean_{c' != c} z_c'(m, i): a filter
that fires for every class scores near 0 for all of them (docs/methods.md, "contrastive tags").
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kgfilters.atomic import atomic_write_json
from kgfilters.errors import ConfigError, RunError

if TYPE_CHECKING:  # torch is imported by the functions that compute: reading tags.json needs none (the TUI)
    import torch

__all__ = [
    "DEFAULT_GENERIC",
    "K_METHODS",
    "METHODS",
    "Tag",
    "TagSet",
    "class_ranks",
    "contrastive",
    "contrastive_scores",
    "generic_filters",
    "k_best",
    "load_tags",
    "method_ranks",
    "q_quantile",
    "save_tags",
    "tag_layers",
    "tag_matrix",
]

METHODS = ("k-best", "q-quantile", "contrastive")
#: Methods whose parameter is k (a whole number of filters per class); the others take q.
K_METHODS = ("k-best", "contrastive")
#: A filter tagged by at least this share of the classes is generic: it fires for everything and
#: explains no single class.
DEFAULT_GENERIC = 0.8


@dataclass(frozen=True)
class Tag:
    """One FILTAG tag: filter ``filter`` of ``layer`` tagged with class ``class_index``.

    ``score`` is z_c(m, i) in [0, 1]; ``rank`` is the filter's rank for that class within its
    layer (1 = highest score by the method's own score: z_c for k-best and q-quantile, the
    contrastive score for ``contrastive``); ``method`` is one of ``METHODS`` with ``param`` k or q.
    """

    layer: str
    filter: int
    class_index: int
    label: str
    score: float
    rank: int
    method: str
    param: float


@dataclass(frozen=True)
class TagSet:
    """All tags of one tagging run, with the layer sizes and class names they refer to."""

    method: str
    param: float
    class_names: tuple[str, ...]
    layer_sizes: dict[str, int]
    tags: tuple[Tag, ...]

    def of_filter(self, layer: str, index: int) -> tuple[Tag, ...]:
        return tuple(t for t in self.tags if t.layer == layer and t.filter == index)

    def of_class(self, class_index: int) -> tuple[Tag, ...]:
        return tuple(t for t in self.tags if t.class_index == class_index)

    def generic(self, layer: str, threshold: float = DEFAULT_GENERIC) -> torch.Tensor:
        """Generic filters of ``layer`` (``generic_filters`` of its tag matrix): bool (filters,)."""
        return generic_filters(self.matrix(layer), threshold)

    def matrix(self, layer: str) -> torch.Tensor:
        """Tag matrix of ``layer``: bool (classes, filters), True where the class tags the filter."""
        import torch

        m = torch.zeros(len(self.class_names), self.layer_sizes[layer], dtype=torch.bool)
        for t in self.tags:
            if t.layer == layer:
                m[t.class_index, t.filter] = True
        return m


def class_ranks(z: torch.Tensor) -> torch.Tensor:
    """Rank (1 = best) of each filter for each class: (classes, filters) int64.

    Ties keep filter order (stable sort), so ranks are a permutation of 1..filters per class.
    """
    import torch

    order = torch.sort(z, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(1, z.shape[1] + 1).expand_as(order).contiguous())
    return ranks


def generic_filters(matrix: torch.Tensor, threshold: float = DEFAULT_GENERIC) -> torch.Tensor:
    """Generic filters: bool (filters,), True where at least ``threshold`` of the classes tag the
    filter (``matrix`` is a tag matrix, bool (classes, filters)).

    A filter with no tag is never generic. ConfigError unless 0 < threshold <= 1.
    """
    import torch

    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"generic threshold {threshold}: expected 0 < threshold <= 1 (share of the classes)")
    counts = matrix.sum(dim=0, dtype=torch.float64)
    return (counts > 0) & (counts >= threshold * matrix.shape[0] - 1e-9)


def k_best(z: torch.Tensor, k: int) -> torch.Tensor:
    """k-best method: bool (classes, filters), each class tags its k highest-scoring filters."""
    if not 1 <= k <= z.shape[1]:
        raise ConfigError(f"k={k}: expected 1 <= k <= {z.shape[1]} (the layer's number of filters)")
    return class_ranks(z) <= k


def contrastive_scores(z: torch.Tensor) -> torch.Tensor:
    """Contrastive score s_c(i) = z_c(i) - mean_{c' != c} z_c'(i): (classes, filters) float64.

    ``z`` is (classes, filters). A filter equally active for every class scores 0 for all; one
    active for class c alone scores z_c(i) - (the others' mean), positive for c only.
    """
    zd = z.double()
    k = zd.shape[0]
    if k < 2:
        raise ConfigError(f"contrastive tags need at least 2 classes, got {k}")
    return zd - (zd.sum(0, keepdim=True) - zd) / (k - 1)


def contrastive(z: torch.Tensor, k: int) -> torch.Tensor:
    """contrastive method: bool (classes, filters), each class tags its k filters of highest
    contrastive score (``contrastive_scores``), ties in filter order."""
    return k_best(contrastive_scores(z), k)


def method_ranks(z: torch.Tensor, method: str) -> torch.Tensor:
    """Rank (1 = best) of each filter for each class by ``method``'s own score, (classes, filters)."""
    return class_ranks(contrastive_scores(z) if method == "contrastive" else z)


def q_quantile(z: torch.Tensor, q: float) -> torch.Tensor:
    """q-quantile method: bool (classes, filters), each class tags the filters whose score is at
    least the (1 - q) quantile (linear interpolation) of its scores in the layer."""
    if not 0.0 < q <= 1.0:
        raise ConfigError(f"q={q}: expected 0 < q <= 1 (share of a layer's filters to tag)")
    import torch

    thr = torch.quantile(z.double(), 1.0 - q, dim=1, keepdim=True, interpolation="linear")
    return z.double() >= thr


def tag_matrix(z: torch.Tensor, method: str, param: float) -> torch.Tensor:
    """Dispatch to ``k_best``, ``q_quantile`` or ``contrastive``; ConfigError naming the valid methods."""
    if method in K_METHODS:
        if float(param) != int(param):
            raise ConfigError(f"k={param}: expected a whole number")
        return contrastive(z, int(param)) if method == "contrastive" else k_best(z, int(param))
    if method == "q-quantile":
        return q_quantile(z, float(param))
    raise ConfigError(f"method {method!r}: expected one of {', '.join(METHODS)}")


def tag_layers(
    z_by_layer: dict[str, torch.Tensor], class_names: Iterable[str], *, method: str, param: float
) -> TagSet:
    """Tag every layer of ``z_by_layer`` ({layer: z (classes, filters)}) with one method."""
    import torch

    names = tuple(class_names)
    tags: list[Tag] = []
    for layer, z in z_by_layer.items():
        if z.shape[0] != len(names):
            raise ConfigError(f"layer {layer}: z has {z.shape[0]} classes, expected {len(names)}")
        if torch.isnan(z).any():
            missing = [names[c] for c in torch.isnan(z).any(1).nonzero().flatten().tolist()]
            raise RunError(f"layer {layer}: no images of class(es) {', '.join(missing)} in the tag split")
        chosen = tag_matrix(z, method, param)
        ranks = method_ranks(z, method)
        for c, i in chosen.nonzero().tolist():
            tags.append(Tag(layer, i, c, names[c], float(z[c, i]), int(ranks[c, i]), method, float(param)))
    tags.sort(key=lambda t: (list(z_by_layer).index(t.layer), t.class_index, t.rank))
    sizes = {layer: int(z.shape[1]) for layer, z in z_by_layer.items()}
    return TagSet(method, float(param), names, sizes, tuple(tags))


def save_tags(tags: TagSet, path: str | os.PathLike[str]) -> Path:
    """Write ``tags.json`` atomically."""
    key = "k" if tags.method in K_METHODS else "q"
    obj = {
        "method": tags.method,
        key: int(tags.param) if key == "k" else tags.param,
        "class_names": list(tags.class_names),
        "layers": tags.layer_sizes,
        "tags": [asdict(t) for t in tags.tags],
    }
    return atomic_write_json(path, obj)


#: The keys of a tag in tags.json: Tag's fields.
_TAG_FIELDS = frozenset(Tag.__dataclass_fields__)


def _tags_of(entries: list[dict[str, object]]) -> tuple[Tag, ...]:
    """``Tag(**entry)`` for each entry, in half the time (65,000 tags on an ImageNet-sized run, read
    by the TUI): each entry's keys are checked to be exactly Tag's fields (TypeError otherwise, as
    ``Tag(**entry)`` raises), then set at once. Tag has no ``__post_init__`` to bypass."""
    new, fields, out = object.__new__, _TAG_FIELDS, []
    for entry in entries:
        if entry.keys() != fields:
            raise TypeError(f"tag {entry!r}: expected the keys {', '.join(sorted(fields))}")
        tag = new(Tag)
        tag.__dict__.update(entry)
        out.append(tag)
    return tuple(out)


def load_tags(path: str | os.PathLike[str]) -> TagSet:
    """Read ``tags.json``; RunError when it is missing or malformed (naming the field)."""
    from kgfilters.run import read_json

    p = Path(path)
    obj = read_json(p, expect=dict, what="tags", stage="tag")
    try:
        method = obj["method"]
        if method not in METHODS:
            raise RunError(f"{p}: method {method!r}: expected one of {', '.join(METHODS)}")
        param = obj["k"] if method in K_METHODS else obj["q"]
        tags = _tags_of(obj["tags"])
        return TagSet(method, float(param), tuple(obj["class_names"]), dict(obj["layers"]), tags)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise RunError(f"{p}: malformed tags file ({type(exc).__name__}: {exc})") from None


def default_k(num_filters: int) -> int:
    """A k for layers of very different widths: 10% of the filters, at least 1."""
    return max(1, math.ceil(0.1 * num_filters))
