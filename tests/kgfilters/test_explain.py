from __future__ import annotations

import pytest
import torch

from kgfilters.explain import activated_count, class_ranks_from_votes, hits_at, tag_votes
from kgfilters.hits import hits_study, pearson

# three filters, two classes: class 0 tags filters 0, 1; class 1 tags filter 2
TAGS = torch.tensor([[True, True, False], [False, False, True]])


def test_tag_votes_known_answer() -> None:
    values = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    counts, act = tag_votes(values, TAGS, top=2)
    # image 0 activates filters 0 and 2: one vote each; image 1 activates 1 and 2
    assert counts.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert torch.allclose(act, torch.tensor([[0.9, 0.5], [0.3, 0.8]], dtype=torch.float64))


def test_ranking_orders_by_count_then_activation_and_leaves_unvoted_unranked() -> None:
    counts = torch.tensor([[1.0, 1.0, 0.0], [2.0, 1.0, 1.0]])
    act = torch.tensor([[0.9, 0.5, 0.0], [0.1, 0.7, 0.7]])
    ranks = class_ranks_from_votes(counts, act)
    assert ranks.tolist() == [[1, 2, 4], [1, 2, 3]]  # class 2 of image 0 unranked (K + 1)
    assert hits_at(ranks, torch.tensor([2, 2]), 3).tolist() == [False, True]
    assert hits_at(ranks, torch.tensor([0, 1]), 1).tolist() == [True, False]


def test_activated_count() -> None:
    assert activated_count(64, 0.2) == 13
    assert activated_count(3, 0.01) == 1
    with pytest.raises(Exception, match="top_fraction=0"):
        activated_count(3, 0.0)


def test_pearson_known_answer() -> None:
    # centred x = (-1, 0, 1), y = (-13/6, -1/6, 14/6): r = 4.5 / (sqrt 2 x sqrt(61/6))
    r = pearson(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.5]))
    assert r == pytest.approx(4.5 / (2**0.5 * (61 / 6) ** 0.5))
    assert pearson(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0])) is None


def test_hits_study_known_answer() -> None:
    # class means: class 0 prefers filter 0, class 1 prefers filter 2 (k = 1)
    z = {"l": torch.tensor([[0.9, 0.5, 0.1], [0.1, 0.5, 0.9]], dtype=torch.float64)}
    values = {"l": torch.tensor([[0.9, 0.0, 0.1], [0.1, 0.0, 0.9], [0.8, 0.1, 0.0], [0.0, 0.1, 0.7]])}
    labels = torch.tensor([0, 1, 1, 1])
    predicted = torch.tensor([0, 1, 0, 1])
    study = hits_study(values, z, labels, predicted, ("a", "b"), ks=(1,), qs=(), ns=(1,), top_fraction=0.34)
    (cell,) = study.grid
    # the top activated filter (1 of 3) of images 0, 1, 3 carries the true class; image 2 does not
    assert cell.hits_true == pytest.approx(0.75)
    assert cell.hits_predicted == pytest.approx(1.0)
    assert cell.per_class_hits == pytest.approx((1.0, 2 / 3))
    assert study.per_class_accuracy == pytest.approx((1.0, 2 / 3))
    assert cell.correlation == pytest.approx(1.0)
    assert study.accuracy == pytest.approx(0.75)
