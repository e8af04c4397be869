"""Coarsening of FILTAG tags (FILTAG Section 3.2 and 4): the shared concepts of a filter's tags.

The concept hierarchy is a networkx ``DiGraph`` with an edge child -> parent for every
``skos:broader`` edge, so the ancestors of a concept are its networkx descendants. For a filter
tagged with the classes T (n = |T|), a concept x *covers* the tags t whose denoted concepts
have x among their ancestors-or-self; support(x) = |cover(x)|. The filter's coarse concepts are
the concepts that

1. are not on the stop list (uninformative roots: entity, physical entity, object, whole,
   artifact by default),
2. have support >= max(2, ceil(share * n)) (a concept shared by at least two tags and by at
   least ``share`` of them), and
3. are the most specific ones for their cover: no other concept below them covers the same
   tags (so a filter tagged Sandal, Sneaker, Ankle boot, Dress gets footwear (3) and covering
   (4), but not artifact or clothing's other ancestors). The stop list only hides concepts; it
   does not promote the concepts above a hidden one (with the default list, whose concepts are
   roots, this never matters).

Coverage (called "conformance" before; the paper's "88% conformance with common tags" may be
measured differently): the share of multi-tag filters (n >= 2) that have at least one coarse
concept. It cannot fail on a label set under a few broad concepts, so it is always reported beside
its class-shuffle baseline (``kgfilters.evaluate.conformance``, which also has the enrichment test
that can fail). Clusters: filters grouped by coarse concept.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from kgfilters.atomic import atomic_write_json
from kgfilters.errors import ConfigError
from kgfilters.queries.linking import ConceptLinks
from kgfilters.queries.wordnet import SYNSET_PREFIX

if TYPE_CHECKING:
    from kgfilters.filtag import TagSet

__all__ = [
    "DEFAULT_SHARE",
    "DEFAULT_STOP",
    "CoarseConcept",
    "Coarsening",
    "FilterCoarsening",
    "class_ancestors",
    "clusters",
    "coarse_concepts",
    "coarsen_tags",
    "concept_graph",
    "concept_members",
    "coverage_with_baseline",
    "save_coarsening",
    "unrelated_pairs",
]

DEFAULT_SHARE = 0.5
#: entity.n.01, physical_entity.n.01, object.n.01, whole.n.02, artifact.n.01, and ConceptNet's
#: own catch-alls.
DEFAULT_STOP = frozenset(
    {
        f"{SYNSET_PREFIX}00001740-n",
        f"{SYNSET_PREFIX}00001930-n",
        f"{SYNSET_PREFIX}00002684-n",
        f"{SYNSET_PREFIX}00003553-n",
        f"{SYNSET_PREFIX}00021939-n",
        "http://conceptnet.io/c/en/thing",
        "http://conceptnet.io/c/en/object",
        "http://conceptnet.io/c/en/artifact",
        "http://conceptnet.io/c/en/entity",
    }
)


@dataclass(frozen=True)
class CoarseConcept:
    """A shared concept of a filter's tags: IRI, label, support and the covered class indices."""

    concept: str
    label: str
    support: int
    classes: tuple[int, ...]


@dataclass(frozen=True)
class FilterCoarsening:
    """One tagged filter, its tag classes, its coarse concepts (most support first), and the
    number of pairs of its tag classes (both linked) that share no informative concept
    (``unrelated_pairs``: no ancestor-or-self outside the stop list in common)."""

    layer: str
    filter: int
    classes: tuple[int, ...]
    concepts: tuple[CoarseConcept, ...]
    unrelated_pairs: int = 0


@dataclass(frozen=True)
class Coarsening:
    """Coarse concepts of every tagged filter, with the settings and the conformance figure."""

    share: float
    stop: tuple[str, ...]
    filters: tuple[FilterCoarsening, ...]

    @property
    def multi_tag(self) -> int:
        return sum(1 for f in self.filters if len(f.classes) >= 2)

    @property
    def conforming(self) -> int:
        return sum(1 for f in self.filters if len(f.classes) >= 2 and f.concepts)

    @property
    def conformance(self) -> float:
        """Coverage: share of multi-tag filters with at least one coarse concept (NaN if there are
        none). Kept under its old name; compare it with its class-shuffle baseline."""
        return self.conforming / self.multi_tag if self.multi_tag else math.nan


def concept_graph(links: ConceptLinks) -> nx.DiGraph:
    """The concept hierarchy: concept IRIs as nodes (with ``label``), edges child -> parent."""
    g = nx.DiGraph()
    for c in links.concepts:
        g.add_node(c.iri, label=c.label)
    g.add_edges_from(links.broader)
    return g


def _up_sets(g: nx.DiGraph, links: ConceptLinks) -> dict[int, frozenset[str]]:
    """Ancestors-or-self of each class's denoted concepts (works on cyclic ConceptNet IsA too)."""
    memo: dict[str, frozenset[str]] = {}

    def up(x: str) -> frozenset[str]:
        if x not in memo:
            memo[x] = frozenset({x} | (nx.descendants(g, x) if x in g else set()))
        return memo[x]

    out: dict[int, frozenset[str]] = {}
    for i in range(len(links.class_names)):
        s: set[str] = set()
        for concept in links.denoted(i):
            s |= up(concept)
        out[i] = frozenset(s)
    return out


def class_ancestors(links: ConceptLinks) -> dict[int, frozenset[str]]:
    """{class index: the ancestors-or-self of the concepts it denotes} in ``concept_graph(links)``."""
    return _up_sets(concept_graph(links), links)


def concept_members(links: ConceptLinks, stop: Iterable[str] = DEFAULT_STOP):  # type: ignore[no-untyped-def]
    """The class-under-concept matrix for ``kgfilters.evaluate.conformance``.

    Returns (concepts, members, informative): the concept IRIs (X,) in sorted order, bool
    (K, X) True where class c lies under concept x (ancestors-or-self of what it denotes), and
    bool (X,) True for the concepts not on ``stop``.
    """
    import torch

    up = class_ancestors(links)
    concepts = tuple(sorted(set().union(*up.values()))) if up else ()
    col = {x: j for j, x in enumerate(concepts)}
    members = torch.zeros(len(links.class_names), len(concepts), dtype=torch.bool)
    for c, xs in up.items():
        for x in xs:
            members[c, col[x]] = True
    stop = frozenset(stop)
    informative = torch.tensor([x not in stop for x in concepts], dtype=torch.bool)
    return concepts, members, informative


def coverage_with_baseline(
    tags: TagSet, links: ConceptLinks, *, share: float = DEFAULT_SHARE,
    stop: Iterable[str] = DEFAULT_STOP, permutations: int = 1000, seed: int = 0,
):  # type: ignore[no-untyped-def]
    """Coverage and enrichment of ``tags`` with their class-shuffle baselines
    (``kgfilters.evaluate.conformance.Conformance``)."""
    from kgfilters.evaluate.conformance import conformance_section
    from kgfilters.filtag import DEFAULT_GENERIC

    _, members, informative = concept_members(links, stop)
    mats = {layer: tags.matrix(layer) for layer in tags.layer_sizes}
    generic = {layer: tags.generic(layer, DEFAULT_GENERIC) for layer in tags.layer_sizes}
    return conformance_section(mats, generic, members, informative, share=share,
                               generic_threshold=DEFAULT_GENERIC, permutations=permutations, seed=seed)


def coarse_concepts(
    classes: Iterable[int],
    up: dict[int, frozenset[str]],
    g: nx.DiGraph,
    *,
    share: float = DEFAULT_SHARE,
    stop: frozenset[str] = DEFAULT_STOP,
) -> tuple[CoarseConcept, ...]:
    """The coarse concepts of one filter tagged with ``classes`` (rules 1-3 of the module doc).

    Complexity: O(n * a) to count covers (a: ancestors per class) plus O(k^2) for the k
    qualifying concepts.
    """
    if not 0.0 < share <= 1.0:
        raise ConfigError(f"share={share}: expected 0 < share <= 1 (share of a filter's tags)")
    cls = tuple(sorted(set(classes)))
    need = max(2, math.ceil(share * len(cls) - 1e-6))  # the same tolerance as coarse-concepts.rq
    cover: dict[str, list[int]] = defaultdict(list)
    for c in cls:
        for x in up.get(c, ()):
            cover[x].append(c)
    covers = {x: tuple(v) for x, v in cover.items()}
    keep = []
    for x, cov in covers.items():
        if x in stop or len(cov) < need:
            continue
        below = (y for y, cy in covers.items() if y != x and cy == cov)
        if any(x in g and y in g and nx.has_path(g, y, x) for y in below):
            continue
        keep.append(CoarseConcept(x, g.nodes[x].get("label", x) if x in g else x, len(cov), cov))
    keep.sort(key=lambda k: (-k.support, k.concept))
    return tuple(keep)


def coarsen_tags(
    tags: TagSet,
    links: ConceptLinks,
    *,
    share: float = DEFAULT_SHARE,
    stop: Iterable[str] = DEFAULT_STOP,
) -> Coarsening:
    """Coarse concepts of every tagged filter of ``tags`` through the concepts of ``links``."""
    if tuple(tags.class_names) != tuple(links.class_names):
        raise ConfigError("tags and concept links name different classes: re-run `kgfilters link`")
    stop = frozenset(stop)
    g = concept_graph(links)
    up = _up_sets(g, links)
    by_filter: dict[tuple[str, int], set[int]] = defaultdict(set)
    for t in tags.tags:
        by_filter[(t.layer, t.filter)].add(t.class_index)
    order = {layer: n for n, layer in enumerate(tags.layer_sizes)}
    keys = sorted(by_filter, key=lambda key: (order.get(key[0], 0), key[1]))
    unrelated = unrelated_pairs([by_filter[key] for key in keys], up, links, stop)
    out = []
    for (layer, i), n_unrelated in zip(keys, unrelated, strict=True):
        cls = by_filter[(layer, i)]
        out.append(
            FilterCoarsening(
                layer, i, tuple(sorted(cls)), coarse_concepts(cls, up, g, share=share, stop=stop),
                n_unrelated,
            )
        )
    return Coarsening(share, tuple(sorted(stop)), tuple(out))


def unrelated_pairs(
    filters: list[set[int]], up: dict[int, frozenset[str]], links: ConceptLinks,
    stop: frozenset[str],
) -> list[int]:
    """For each filter (its set of tag classes), the pairs of its classes that share no
    informative concept: both classes denote a concept, and their ancestors-or-self outside
    ``stop`` are disjoint (the pairs the SPARQL ``polysemantic`` query used to list one by one).

    Tensor form: M bool (K, X) class-under-informative-concept; R = M M^T > 0 (related pairs);
    U = linked x linked & ~R (K, K), zero diagonal; with the tag matrix T (F, K) of the filters,
    unrelated(f) = (T U T^T)[f, f] / 2, computed as a sparse-dense product (T has F * n entries).
    """
    import torch

    k = len(links.class_names)
    if not filters:
        return []
    concepts = sorted({x for c in range(k) for x in up.get(c, ()) if x not in stop})
    col = {x: j for j, x in enumerate(concepts)}
    pr = [(c, col[x]) for c in range(k) for x in up.get(c, ()) if x not in stop]
    members = torch.zeros(k, len(concepts), dtype=torch.float32)
    if pr:
        idx = torch.tensor(pr, dtype=torch.int64)
        members[idx[:, 0], idx[:, 1]] = 1.0
    has_link = {lk.class_index for lk in links.links}
    linked = torch.tensor([c in has_link for c in range(k)], dtype=torch.bool)
    related = (members @ members.T) > 0
    unrel = (~related) & linked[:, None] & linked[None, :]
    unrel.fill_diagonal_(False)
    rows = torch.tensor([n for n, cls in enumerate(filters) for _ in cls], dtype=torch.int64)
    cols = torch.tensor([c for cls in filters for c in sorted(cls)], dtype=torch.int64)
    t = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.ones(len(rows)), (len(filters), k),
                                check_invariants=True)
    dense = torch.zeros(len(filters), k, dtype=torch.float32)
    dense[rows, cols] = 1.0
    counts = (torch.sparse.mm(t, unrel.to(torch.float32)) * dense).sum(dim=1) / 2
    return [int(v) for v in counts.round().to(torch.int64).tolist()]


def clusters(coarsening: Coarsening) -> dict[str, tuple[tuple[str, int], ...]]:
    """Filters grouped by coarse concept: {concept IRI: ((layer, filter), ...)}."""
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for f in coarsening.filters:
        for c in f.concepts:
            out[c.concept].append((f.layer, f.filter))
    return {k: tuple(v) for k, v in sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0]))}


def save_coarsening(coarsening: Coarsening, path: str | os.PathLike[str]) -> Path:
    """Write ``coarse.json`` (settings, conformance, per-filter concepts, clusters) atomically."""
    return atomic_write_json(
        path,
        {
            "share": coarsening.share,
            "stop": list(coarsening.stop),
            "multi_tag_filters": coarsening.multi_tag,
            "conforming_filters": coarsening.conforming,
            "conformance": None if math.isnan(coarsening.conformance) else coarsening.conformance,
            "filters": [asdict(f) for f in coarsening.filters],
            "clusters": {k: [list(x) for x in v] for k, v in clusters(coarsening).items()},
        },
    )
