"""Query aids (ontology/aids.py) on a small constructed tag set, against a direct computation."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest
import torch
from rdflib import RDF, XSD, Literal

from kgfilters.filtag import Tag, TagSet
from kgfilters.ontology.aids import coarsening_aids, cotag_pairs, tag_aids, tag_figures
from kgfilters.ontology.iris import Iris
from kgfilters.ontology.namespace import KGF

NAMES = ("a", "b", "c", "d", "e")
SIZES = {"l1": 4, "l2": 3}
# layer -> filter -> [(class, score)]; l1:3 and l2:2 carry no tag; l1:0 is tagged by 4 of 5 classes
TAGGED = {
    "l1": {0: [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6)], 1: [(0, 0.5), (1, 0.4)], 2: [(4, 0.3)]},
    "l2": {0: [(0, 0.2), (1, 0.1), (4, 1.0)], 1: [(2, 0.25), (3, 0.75)]},
}
IRIS = Iris("https://example.org/run/aids/")


def tagset() -> TagSet:
    tags = [Tag(layer, f, c, NAMES[c], s, r, "k-best", 2.0)
            for layer, fs in TAGGED.items() for f, cs in fs.items()
            for r, (c, s) in enumerate(cs, 1)]
    return TagSet("k-best", 2.0, NAMES, dict(SIZES), tuple(tags))


def direct_cotag() -> Counter:
    out: Counter = Counter()
    for fs in TAGGED.values():
        for cs in fs.values():
            for a, b in combinations(sorted(c for c, _ in cs), 2):
                out[(a, b)] += 1
    return out


def test_tag_figures_known_answer() -> None:
    fig = tag_figures(tagset())
    assert fig.layers == ("l1", "l2")
    for layer, width in SIZES.items():
        want = [len(TAGGED[layer].get(i, [])) for i in range(width)]
        assert fig.filter_tags[layer].tolist() == want
    # generic: tagged by >= 80% of 5 classes = 4: only l1:0
    assert fig.generic["l1"].tolist() == [True, False, False, False]
    assert fig.generic["l2"].tolist() == [False, False, False]
    assert fig.layer_tags.tolist() == [7, 5]
    for n, layer in enumerate(SIZES):
        scores = [s for cs in TAGGED[layer].values() for _, s in cs]
        assert fig.layer_mean[n].item() == pytest.approx(sum(scores) / len(scores), abs=1e-15)
        assert fig.layer_mean.dtype == torch.float64
    want = torch.zeros(5, 5, dtype=torch.int64)
    for (a, b), n in direct_cotag().items():
        want[a, b] = want[b, a] = n
    assert torch.equal(fig.cotag, want)


def test_cotag_pairs_top_with_ties() -> None:
    c = torch.tensor([[0, 5, 2, 2, 0],
                      [5, 0, 1, 0, 0],
                      [2, 1, 0, 3, 1],
                      [2, 0, 3, 0, 0],
                      [0, 0, 1, 0, 0]])
    pairs = [tuple(p) for p in cotag_pairs(c, top=1).tolist()]
    # each class's best partner: 0-1 (5), 1-0, 2-3 (3), 3-2, 4-2 (1); sorted most shared first
    assert pairs == [(0, 1), (2, 3), (2, 4)]
    two = {tuple(p) for p in cotag_pairs(c, top=2).tolist()}
    # class 0's second count is 2, shared by 2 and 3 (ties included); class 1's is 1 (class 2)
    assert two == {(0, 1), (0, 2), (0, 3), (2, 3), (1, 2), (2, 4)}
    everything = {tuple(p) for p in cotag_pairs(c, top=10).tolist()}
    assert everything == {(a, b) for a in range(5) for b in range(a + 1, 5) if c[a, b] > 0}


def test_tag_aids_triples() -> None:
    triples = set(tag_aids(IRIS, tagset()))
    for layer, width in SIZES.items():
        for i in range(width):
            f = IRIS.filter(layer, i)
            n = len(TAGGED[layer].get(i, []))
            assert (f, KGF.numTags, Literal(n, datatype=XSD.integer)) in triples
            assert (f, KGF.isGeneric, Literal(layer == "l1" and i == 0, datatype=XSD.boolean)) in triples
    assert (IRIS.layer("l2"), KGF.numTags, Literal(5, datatype=XSD.integer)) in triples
    mean = next(o for s, p, o in triples if s == IRIS.layer("l2") and p == KGF.meanTagScore)
    assert float(mean) == pytest.approx((0.2 + 0.1 + 1.0 + 0.25 + 0.75) / 5)
    nodes = {s for s, p, o in triples if p == RDF.type and o == KGF.CoTagPair}
    got = {}
    for node in nodes:
        props = {p: o for s, p, o in triples if s == node}
        a, b = (int(str(props[k]).rsplit("/", 1)[1]) for k in (KGF.firstClass, KGF.secondClass))
        assert str(props[KGF.firstClass]) < str(props[KGF.secondClass])
        got[(min(a, b), max(a, b))] = (int(props[KGF.sharedFilters]), int(props[KGF.pairRank]))
    direct = direct_cotag()
    assert {k: v[0] for k, v in got.items()} == dict(direct)  # 5 classes, top 10: every pair
    ranked = sorted(got.values(), key=lambda v: v[1])
    assert [r for _, r in ranked] == list(range(1, len(got) + 1))
    assert [n for n, _ in ranked] == sorted(direct.values(), reverse=True)


def test_coarsening_aids_counts_and_ranks() -> None:
    coarse = {"filters": [
        {"layer": "l1", "filter": 0, "classes": [0, 1, 2], "unrelated_pairs": 1},
        {"layer": "l1", "filter": 1, "classes": [3], "unrelated_pairs": 0},  # one tag: no figure
        {"layer": "l1", "filter": 2, "classes": [0, 4], "unrelated_pairs": 1},
        {"layer": "l2", "filter": 0, "classes": [0, 1, 2, 3], "unrelated_pairs": 4},
        {"layer": "l2", "filter": 1, "classes": [1, 2]},  # an old coarse.json: nothing emitted
    ]}
    triples = list(coarsening_aids(IRIS, coarse))
    count = {s: int(o) for s, p, o in triples if p == KGF.unrelatedPairs}
    rank = {s: int(o) for s, p, o in triples if p == KGF.unrelatedRank}
    f = IRIS.filter
    assert count == {f("l1", 0): 1, f("l1", 2): 1, f("l2", 0): 4}
    assert rank == {f("l2", 0): 1, f("l1", 0): 2, f("l1", 2): 3}  # ties: layer order, channel
