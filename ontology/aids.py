"""Query aids: whole-graph figures computed once at emission time, so catalog queries look them up.

A catalog question such as "which filters carry no tag", "how many tags per layer" or "which
classes share the most filters" is a scan, a grouping or a self-join over every tag when it is
asked of the tags alone (minutes at ImageNet scale). The figures it needs are computed here with
tensor operations, from the same data the stage's graph is emitted from, and emitted INTO THAT
STAGE'S NAMED GRAPH (tag aids in ``tags``, coarsening aids in ``coarsening``): re-emitting the
stage replaces its aids with it, so they can never be stale.

Tag aids (``tag_aids``, from tags.json):

- every filter of a tagged layer: ``kgf:numTags`` (the classes it is tagged with, 0 for none) and
  ``kgf:isGeneric`` (tagged by at least ``DEFAULT_GENERIC`` = 80% of the classes,
  ``kgfilters.filtag.generic_filters``);
- every tagged layer: ``kgf:numTags`` (its tags) and ``kgf:meanTagScore`` (their mean score z_c);
- ``kgf:CoTagPair`` nodes: for each class, the classes it shares the most filters with (its
  ``top`` largest co-tag counts, ties at the last count included), each pair once with
  ``kgf:firstClass``/``kgf:secondClass`` (ordered by IRI), ``kgf:sharedFilters`` (filters of
  every layer tagged with both) and ``kgf:pairRank`` (1 = most shared; ties by the two labels), so
  the first n pairs are a range of ranks, not a sort of every pair. Pairs sharing at least
  ``max over classes of the top-th count`` filters are therefore all present; a class with at
  most ``top`` partners has every pair.

Coarsening aids (``coarsening_aids``, from coarse.json): ``kgf:unrelatedPairs`` on every multi-tag
filter, the number of pairs of its tag classes that share no informative concept (computed by
``kgfilters coarsen``, ``FilterCoarsening.unrelated_pairs``), and ``kgf:unrelatedRank`` (1 = most
such pairs; ties by layer order, then channel index); and ``kgf:coarseRank`` on every
``kgf:CoarseConcept`` node, its place in the coarse-concepts listing (layer name, channel, most
support first, concept IRI), so a page of that listing is a range of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rdflib import RDF, XSD, Literal, URIRef

from kgfilters.ontology.emit import KGF, dbl, integer
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.store import Triple

if TYPE_CHECKING:
    import torch

    from kgfilters.filtag import TagSet

__all__ = ["COTAG_TOP", "TagFigures", "coarsening_aids", "cotag_pairs", "tag_aids", "tag_figures"]

#: Partners listed per class in the co-tag pairs (ties at the last count included).
COTAG_TOP = 10

_TRUE, _FALSE = Literal(True, datatype=XSD.boolean), Literal(False, datatype=XSD.boolean)


@dataclass(frozen=True)
class TagFigures:
    """The figures of ``tag_aids`` as tensors (for tests and other consumers).

    Attributes:
        layers: the tagged layers, in the tag set's order (L,).
        filter_tags: {layer: int64 (filters,)}: classes each filter is tagged with.
        generic: {layer: bool (filters,)}: ``generic_filters`` of the layer's tag matrix.
        layer_tags: int64 (L,): tags per layer.
        layer_mean: float64 (L,): mean tag score per layer (NaN for a layer without tags).
        cotag: int64 (K, K): filters (all layers) tagged with both classes; diagonal 0.
    """

    layers: tuple[str, ...]
    filter_tags: dict[str, torch.Tensor]
    generic: dict[str, torch.Tensor]
    layer_tags: torch.Tensor
    layer_mean: torch.Tensor
    cotag: torch.Tensor


def tag_figures(tags: TagSet) -> TagFigures:
    """Per-filter and per-layer tag counts, generic flags, mean scores and the class co-tag counts.

    One pass over the tags builds index tensors; the tag matrix T is bool (K classes, F filters of
    every layer); co-tag counts C = T T^T (K, K) as a float32 matrix product (exact: counts are
    integers below 2^24), mean scores accumulate in float64.
    """
    import torch

    from kgfilters.filtag import DEFAULT_GENERIC, generic_filters

    layers = tuple(tags.layer_sizes)
    offset, total = {}, 0
    for layer in layers:
        offset[layer], total = total, total + int(tags.layer_sizes[layer])
    k = len(tags.class_names)
    lidx = {layer: n for n, layer in enumerate(layers)}
    cols = torch.tensor([offset[t.layer] + t.filter for t in tags.tags], dtype=torch.int64)
    rows = torch.tensor([t.class_index for t in tags.tags], dtype=torch.int64)
    which = torch.tensor([lidx[t.layer] for t in tags.tags], dtype=torch.int64)
    scores = torch.tensor([t.score for t in tags.tags], dtype=torch.float64)
    matrix = torch.zeros(k, total, dtype=torch.bool)
    matrix[rows, cols] = True
    per_filter = matrix.sum(dim=0, dtype=torch.int64)
    filter_tags, generic = {}, {}
    for layer in layers:
        lo, hi = offset[layer], offset[layer] + int(tags.layer_sizes[layer])
        filter_tags[layer] = per_filter[lo:hi]
        generic[layer] = generic_filters(matrix[:, lo:hi], DEFAULT_GENERIC)
    n_layers = len(layers)
    layer_tags = torch.bincount(which, minlength=n_layers)
    sums = torch.zeros(n_layers, dtype=torch.float64).index_add_(0, which, scores)
    layer_mean = sums / layer_tags.to(torch.float64)  # 0/0 = NaN for an empty layer
    m = matrix.to(torch.float32)
    cotag = (m @ m.T).round().to(torch.int64)
    cotag.fill_diagonal_(0)
    return TagFigures(layers, filter_tags, generic, layer_tags, layer_mean, cotag)


def cotag_pairs(cotag: torch.Tensor, top: int = COTAG_TOP) -> torch.Tensor:
    """The class pairs to list: int64 (P, 2) with a < b, each pair once, most shared first.

    A pair (a, b) with c = cotag[a, b] >= 1 is listed when c reaches the ``top``-th largest count
    of a's row or of b's row (ties at that count included).
    """
    import torch

    k = cotag.shape[0]
    if k < 2:
        return torch.zeros(0, 2, dtype=torch.int64)
    t = min(max(int(top), 1), k - 1)
    kth = torch.topk(cotag, t, dim=1).values[:, -1].clamp(min=1)  # (K,)
    keep = cotag >= kth[:, None]
    keep = (keep | keep.T) & (cotag >= 1)
    pairs = torch.triu(keep, diagonal=1).nonzero()
    order = torch.argsort(-cotag[pairs[:, 0], pairs[:, 1]], stable=True)
    return pairs[order]


def tag_aids(iris: Iris, tags: TagSet, *, top: int = COTAG_TOP) -> Iterator[Triple]:
    """The tag aids (module docstring) of ``tags``, for the ``tags`` named graph."""
    fig = tag_figures(tags)
    for n, layer in enumerate(fig.layers):
        ly = iris.layer(layer)
        yield ly, KGF.numTags, integer(int(fig.layer_tags[n]))
        if (mean := dbl(float(fig.layer_mean[n]))) is not None:
            yield ly, KGF.meanTagScore, mean
        counts = fig.filter_tags[layer].tolist()
        flags = fig.generic[layer].tolist()
        for i, (count, flag) in enumerate(zip(counts, flags, strict=True)):
            f = iris.filter(layer, i)
            yield f, KGF.numTags, integer(count)
            yield f, KGF.isGeneric, _TRUE if flag else _FALSE
    pairs = cotag_pairs(fig.cotag, top)
    shared = fig.cotag[pairs[:, 0], pairs[:, 1]].tolist() if len(pairs) else []
    listed = []
    for (a, b), count in zip(pairs.tolist(), shared, strict=True):
        if str(iris.class_label(b)) < str(iris.class_label(a)):
            a, b = b, a
        listed.append((-count, tags.class_names[a], tags.class_names[b], a, b))
    listed.sort()  # most shared first, then by the two labels: the rank order
    for rank, (neg, _, _, a, b) in enumerate(listed, start=1):
        node = URIRef(f"{iris.base}cotag/{min(a, b)}/{max(a, b)}")
        yield node, RDF.type, KGF.CoTagPair
        yield node, KGF.firstClass, iris.class_label(a)
        yield node, KGF.secondClass, iris.class_label(b)
        yield node, KGF.sharedFilters, integer(-neg)
        yield node, KGF.pairRank, integer(rank)


def coarsening_aids(iris: Iris, coarse: Mapping[str, Any]) -> Iterator[Triple]:
    """The coarsening aids of one coarse.json object, for the ``coarsening`` named graph:
    ``kgf:coarseRank`` of each coarse-concept node, ``kgf:unrelatedPairs`` and
    ``kgf:unrelatedRank`` of each filter with at least two tag classes (a file written before
    the figure existed has none: re-run ``kgfilters coarsen``)."""
    listed = sorted(
        (str(f["layer"]), int(f["filter"]), -int(c["support"]), str(c["concept"]))
         for f in coarse.get("filters") or () for c in f.get("concepts") or ())
    for rank, (layer, i, _, concept) in enumerate(listed, start=1):
        yield iris.coarse_concept(layer, i, concept), KGF.coarseRank, integer(rank)
    multi = [f for f in coarse.get("filters") or ()
             if len(f.get("classes") or ()) >= 2 and f.get("unrelated_pairs") is not None]
    # coarse.json lists filters by layer order and channel: a stable sort keeps that for ties
    ranked = sorted(multi, key=lambda f: -int(f["unrelated_pairs"]))
    for rank, f in enumerate(ranked, start=1):
        node = iris.filter(str(f["layer"]), int(f["filter"]))
        yield node, KGF.unrelatedPairs, integer(int(f["unrelated_pairs"]))
        yield node, KGF.unrelatedRank, integer(rank)
