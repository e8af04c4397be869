"""Hits vs accuracy and conformance: known answers, Holm, exact hypergeometric tails, and the
enrichment test failing on random tags."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from kgfilters.evaluate.conformance import conformance_section, conforming_filters, hypergeom_sf, tail_table
from kgfilters.evaluate.correlation import holm, per_class_r, per_image_effect
from kgfilters.evaluate.hits import random_tag_matrices
from kgfilters.evaluate.resampling import generator
from kgfilters.filtag import generic_filters


def test_per_image_effect_known_answer() -> None:
    # 10 hit images, 8 correct; 10 missed, 3 correct -> 0.8 - 0.3 = 0.5
    hit = torch.tensor([True] * 10 + [False] * 10)
    correct = torch.tensor([True] * 8 + [False] * 2 + [True] * 3 + [False] * 7)
    pi = per_image_effect(hit, correct, boot=500, permutations=2000, seed=0)
    assert pi.effect == pytest.approx(0.5) and pi.accuracy_hit == 0.8 and pi.accuracy_miss == 0.3
    assert pi.ci95[0] < 0.5 < pi.ci95[1]
    # the permutation null of a 2x2 table with fixed margins is Fisher's: X ~ H(20, 11, 10), |2X - 11| >= 5
    fisher = hypergeom_sf(20, 11, 10, 8) + (1 - hypergeom_sf(20, 11, 10, 4))
    assert pi.p_value == pytest.approx(fisher, abs=0.015)
    assert pi.phi == pytest.approx((8 * 7 - 2 * 3) / math.sqrt(10 * 10 * 11 * 9))


def test_per_image_effect_without_association_is_not_significant() -> None:
    g = generator(1)
    hit, correct = torch.rand(400, generator=g) < 0.5, torch.rand(400, generator=g) < 0.8
    pi = per_image_effect(hit, correct, boot=500, permutations=1000, seed=0)
    assert pi.p_value > 0.05 and pi.ci95[0] < 0 < pi.ci95[1]


def test_per_class_r_known_answer() -> None:
    # per-class hit rate == per-class accuracy: r = 1
    labels = torch.arange(200) % 5
    hit = torch.tensor([(i // 5) % 5 < c + 1 for i, c in enumerate(labels.tolist())])
    pc = per_class_r(hit, hit, labels, 5, boot=500, permutations=5000, seed=0)
    assert pc.r == pytest.approx(1.0)
    assert pc.p_value == pytest.approx(2 * 1 / 120 * 5000 / 5001, abs=0.01)  # 2 of 5! orders reach |r| = 1


def test_holm_known_answer() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, float("nan")])[0] == 0.5 and math.isnan(holm([0.5, float("nan")])[1])


def test_hypergeometric_tail_exact() -> None:
    assert hypergeom_sf(10, 3, 3, 3) == pytest.approx(1 / 120)
    assert hypergeom_sf(10, 6, 2, 2) == pytest.approx(1 / 3)
    assert hypergeom_sf(10, 9, 4, 4) == pytest.approx(126 / 210)  # covering.n.02: 9 of 10 classes
    assert hypergeom_sf(10, 3, 2, 0) == 1.0 and hypergeom_sf(10, 3, 2, 3) == 0.0
    # brute force over every 4-subset of 12 items with 5 successes
    pop = range(12)
    subsets = list(itertools.combinations(pop, 4))
    for a in range(6):
        want = sum(1 for s in subsets if sum(1 for x in s if x < 5) >= a) / len(subsets)
        assert hypergeom_sf(12, 5, 4, a) == pytest.approx(want)
    table = tail_table(10, torch.tensor([3, 9]), 4)
    assert table.shape == (2, 5, 6) and table[0, 3, 3] == pytest.approx(1 / 120)


def _hierarchy() -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST-like concepts: footwear {5,7,9}, clothing {0,1,2,3,4,6}, covering (all but 8),
    and each class's own concept; covering is informative but near-universal."""
    k = 10
    cols = [{5, 7, 9}, {0, 1, 2, 3, 4, 6}, set(range(10)) - {8}] + [{c} for c in range(k)]
    members = torch.tensor([[c in col for col in cols] for c in range(k)])
    return members, torch.ones(len(cols), dtype=torch.bool)


def test_enrichment_and_coverage_on_planted_tags() -> None:
    members, informative = _hierarchy()
    tags = torch.zeros(10, 6, dtype=torch.bool)
    tags[[5, 7, 9], 0] = True  # footwear: enriched (p = 1/120)
    tags[[0, 8], 1] = True  # T-shirt + Bag: only covering... no (Bag is not under covering)
    tags[[1, 5], 2] = True  # Trouser + Sandal: covering covers both, p = P(X>=2 | 9 of 10) = 0.8
    tags[:, 3] = True  # generic: all ten classes
    tags[[0, 2, 4, 6], 4] = True  # four clothing classes: p = C(6,4)/C(10,4) = 15/210 = 0.071
    tags[[0, 2, 4, 6, 3], 5] = True  # five clothing classes: p = 6/252 = 0.024
    generic = generic_filters(tags, 0.8)
    table = tail_table(10, members.sum(0), 10)
    enr = conforming_filters(tags, members, informative, generic, measure="enrichment", table=table)
    cov = conforming_filters(tags, members, informative, generic, measure="coverage", share=0.5)
    assert enr.tolist() == [True, False, False, False, False, True]
    assert cov.tolist() == [True, False, True, True, True, True]
    c = conformance_section({"l": tags}, {"l": generic}, members, informative, permutations=1000, seed=0)
    assert c.enrichment.observed == pytest.approx(2 / 6) and c.enrichment.multi_tag == 6
    assert c.coverage.observed == pytest.approx(5 / 6)
    d = c.to_dict()
    assert {"observed", "baseline_mean", "p_value", "permutations"} <= set(d["enrichment"])
    assert {"observed", "baseline_mean"} <= set(d["coverage"]) and d["enrichment"]["permutations"] == 1000


def test_enrichment_is_not_significant_on_random_tags() -> None:
    """Random tags with the same count per class: the test rejects at about its nominal rate."""
    members, informative = _hierarchy()
    k_best = torch.zeros(10, 32, dtype=torch.bool)
    k_best[:, :3] = True  # 3 tags per class
    significant = 0
    draws = random_tag_matrices(k_best, 20, generator(7))
    for tags in draws:
        generic = generic_filters(tags, 0.8)
        c = conformance_section({"l": tags}, {"l": generic}, members, informative, permutations=300, seed=1)
        significant += c.enrichment.p_value <= 0.05
    assert significant <= 3  # nominal 5% of 20 = 1; a measure that cannot fail would give 20


def test_coverage_cannot_tell_random_tags_from_real_ones() -> None:
    """Why coverage always travels with its baseline: random tags cover as well as the shuffle."""
    members, informative = _hierarchy()
    base = torch.zeros(10, 16, dtype=torch.bool)
    base[:, :4] = True
    tags = random_tag_matrices(base, 1, generator(3))[0]
    c = conformance_section({"l": tags}, {"l": generic_filters(tags)}, members, informative, seed=0)
    assert c.coverage.observed > 0.8 and c.coverage.baseline_mean > 0.8 and c.coverage.p_value > 0.05
