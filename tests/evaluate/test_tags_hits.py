"""Tags and Hits@n sections: known answers on constructed cases, and the measure failing on random tags."""

from __future__ import annotations

import pytest
import torch

from kgfilters.errors import ConfigError
from kgfilters.evaluate.hits import (
    constant_top_n,
    hits_section,
    random_tag_matrices,
    tie_policy_hits,
)
from kgfilters.evaluate.resampling import generator
from kgfilters.evaluate.tags import layer_tags, tags_section


def test_layer_tags_known_answer() -> None:
    m = torch.zeros(5, 6, dtype=torch.bool)
    m[:, 0] = True  # all five classes: generic
    m[:4, 1] = True  # four of five = 80%: generic at 0.8, not at 0.9
    m[2, 3] = True
    lt = layer_tags("conv", m, 0.8)
    assert lt.tagged == 3 and lt.tagged_share == pytest.approx(0.5)
    assert lt.tags_per_filter == (3, 1, 0, 0, 1, 1)
    assert lt.generic_filters == (0, 1) and lt.generic_share == pytest.approx(2 / 6)
    assert lt.mean_tags_per_tagged_filter == pytest.approx(10 / 3)
    assert layer_tags("conv", m, 0.9).generic_filters == (0,)
    d = tags_section({"conv": m}, method="k-best", param=1, threshold=0.8).to_dict()
    assert d["layers"]["conv"]["tagged_share"] == 0.5 and d["layers"]["conv"]["generic_filters"] == [0, 1]


def test_tie_policies_known_answer() -> None:
    # image 0: true class 0 has 2 votes, one class above (3), two tied (2, 2) -> g=1, e=2
    # image 1: true class 0 has no vote -> never a hit; image 2: alone on top
    counts = torch.tensor([[2.0, 3.0, 2.0, 2.0], [0.0, 1.0, 0.0, 0.0], [5.0, 1.0, 1.0, 0.0]])
    labels = torch.tensor([0, 0, 0])
    p = tie_policy_hits(counts, labels, 2)
    assert p["optimistic"].tolist() == [1.0, 0.0, 1.0]
    assert p["pessimistic"].tolist() == [0.0, 0.0, 1.0]
    assert p["random"].tolist() == pytest.approx([1 / 3, 0.0, 1.0])  # place 1 of 3 tied
    p3 = tie_policy_hits(counts, labels, 3)
    assert p3["random"][0] == pytest.approx(2 / 3)


def test_random_tie_expectation_matches_draws() -> None:
    g = generator(5)
    counts = torch.randint(0, 3, (400, 6), generator=g).double()
    labels = torch.randint(0, 6, (400,), generator=g)
    exact = tie_policy_hits(counts, labels, 2)["random"].mean()
    # break ties with random activations through the real ranking code, many times
    from kgfilters.explain import class_ranks_from_votes, hits_at

    rates = [hits_at(class_ranks_from_votes(counts, torch.rand(400, 6, generator=g)), labels, 2).double().mean()
             for _ in range(300)]
    assert float(torch.stack(rates).mean()) == pytest.approx(float(exact), abs=0.005)


def test_random_tag_matrices_keep_counts_per_class() -> None:
    m = torch.zeros(3, 10, dtype=torch.bool)
    m[0, :2] = m[1, :5] = m[2, 9] = True
    r = random_tag_matrices(m, 50, generator(0))
    assert r.shape == (50, 3, 10)
    assert (r.sum(2) == m.sum(1)).all()
    assert r[:, 1].double().mean(0).std() < 0.2  # spread over the filters, not fixed


def test_constant_top_n_is_the_most_frequent_classes() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    value, classes = constant_top_n(labels, 4, 2)
    assert classes == (3, 0) and value == pytest.approx(0.7)


def _planted(n: int = 300, k: int = 5, c: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Filter 4c'..4c'+3 fire for class c' alone; the tags say exactly that."""
    g = generator(seed)
    labels = torch.arange(n) % k
    values = torch.rand(n, c, generator=g) * 0.3
    for i, y in enumerate(labels.tolist()):
        values[i, 4 * y: 4 * y + 4] += 0.6
    tags = torch.zeros(k, c, dtype=torch.bool)
    for y in range(k):
        tags[y, 4 * y: 4 * y + 4] = True
    return values, tags, labels


def test_planted_tags_hit_every_image_and_beat_random_tags() -> None:
    values, tags, labels = _planted()
    s = hits_section(values, tags, labels, layer="l", method="k-best", param=4, n=1, top_fraction=0.2, draws=200)
    assert s.observed == 1.0 and s.ci95 == (1.0, 1.0)
    assert s.tie_policies["pessimistic"] == 1.0 and s.tied_share == 0.0
    assert s.random_tags["mean"] < 0.5 and s.random_tags["p_value"] == pytest.approx(1 / 201)
    assert s.constant_top_n == pytest.approx(0.2)
    d = s.to_dict()
    assert set(d["tie_policies"]) == {"activation", "random", "pessimistic", "optimistic"}
    assert {"mean", "p95", "draws"} <= set(d["random_tags"]) and len(d["cutoffs"]) == 4


def test_random_tags_score_near_the_random_baseline() -> None:
    values, _, labels = _planted(seed=1)
    # random tags with the planted count per class (4 filters each)
    noise = random_tag_matrices(torch.zeros(5, 20, dtype=torch.bool).index_fill_(1, torch.arange(4), True),
                                1, generator(11))[0]
    s = hits_section(values, noise, labels, layer="l", method="k-best", param=4, n=2, top_fraction=0.2,
                     draws=200, seed=3)
    lo, hi = s.random_tags["p5"], s.random_tags["p95"]
    assert lo - 0.05 <= s.observed <= hi + 0.05
    assert s.random_tags["p_value"] > 0.01


def test_bad_n_is_an_error() -> None:
    values, tags, labels = _planted()
    with pytest.raises(ConfigError, match="n=9"):
        hits_section(values, tags, labels, layer="l", method="k-best", param=4, n=9)


def test_hits_study_cells_carry_their_baselines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kgfilters.hits import hits_study, load_hits, plot_hits, save_hits

    values, _, labels = _planted()
    z = torch.zeros(5, 20, dtype=torch.float64)
    for y in range(5):
        z[y, 4 * y: 4 * y + 4] = 0.9  # k-best k=4 recovers the planted tags
    study = hits_study({"l": values}, {"l": z}, labels, labels, tuple("abcde"), ks=(4,), qs=(), ns=(1, 2),
                       contrastive_ks=(4,), draws=200, seed=0)
    assert [(c.method, c.n) for c in study.grid] == [("k-best", 1), ("k-best", 2), ("contrastive", 1),
                                                     ("contrastive", 2)]
    assert plot_hits(study, tmp_path / "hits.png").stat().st_size > 1000
    for cell in study.grid:
        assert cell.hits_true == 1.0 and cell.hits_random_tie == 1.0 and cell.hits_pessimistic == 1.0
        assert cell.random_tags_mean is not None and cell.random_tags_mean < cell.random_tags_p95 < 1.0
    save_hits(study, tmp_path / "hits.json", tmp_path / "hits.csv")
    header = (tmp_path / "hits.csv").read_text().splitlines()[0].split(",")
    assert header[6:10] == ["hits_true_random_tie", "hits_true_pessimistic", "random_tags_mean", "random_tags_p95"]
    assert load_hits(tmp_path / "hits.json") == study
    with pytest.raises(ConfigError, match="--draws -1"):
        hits_study({"l": values}, {"l": z}, labels, labels, tuple("abcde"), ks=(4,), qs=(), ns=(1,), draws=-1)
