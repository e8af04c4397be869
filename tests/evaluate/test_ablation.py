"""Ablation study: known answers on a hand-built network where one filter alone carries each class."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kgfilters.errors import ConfigError, DataError, LayerError
from kgfilters.evaluate.ablation import (
    ablation_outcomes,
    ablation_study,
    class_drops,
    random_filter_sets,
    resample_weights,
)
from kgfilters.evaluate.masking import ChannelMasker

K, FILTERS, SIDE = 4, 32, 4


class Planted(nn.Module):
    """Input (N, 2K, 4, 4): channel c < K is bright for class c, channels K..2K-1 are iid noise.

    ``feat`` filter c < K fires only on channel c above 0.5 (it alone carries class c); filter K + c
    copies noise channel K + c; the other filters read noise but nothing reads them. Class c's logit
    is 2 x filter c + 0.1 x filter K + c, so with filter c zeroed class c's images are classified by
    iid noise alone: uniformly at random (chance, 1/K), and the other classes are untouched.
    """

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.feat = nn.Conv2d(2 * K, FILTERS, 1)
        self.fc = nn.Linear(FILTERS, K)
        with torch.no_grad():
            self.feat.weight.zero_()
            self.feat.bias.zero_()
            self.feat.weight[2 * K :, K:, 0, 0] = torch.randn(FILTERS - 2 * K, K, generator=g)
            self.fc.weight.zero_()
            self.fc.bias.zero_()
            for c in range(K):
                self.feat.weight[c, c, 0, 0] = 1.0
                self.feat.bias[c] = -0.5
                self.feat.weight[K + c, K + c, 0, 0] = 1.0
                self.fc.weight[c, c] = 2.0
                self.fc.weight[c, K + c] = 0.1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.feat(x)).mean((2, 3)))


class Residual(Planted):
    """The same, with a skip connection that reads the input again after ``feat`` (no widening)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.feat(x)).mean((2, 3))
        return self.fc(h) + 0.01 * x.mean((1, 2, 3), keepdim=False).unsqueeze(1)


class ConvTail(Planted):
    """The same with a 1x1 convolution after ``feat``: not linear up to ``fc``, but widenable."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv2d(FILTERS, FILTERS, 1)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(FILTERS).view(FILTERS, FILTERS, 1, 1))
            self.mix.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.mix(torch.relu(self.feat(x)))).mean((2, 3)))


def planted_data(per_class: int = 100, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(K).repeat_interleave(per_class)
    x = 0.3 * torch.rand(labels.numel(), 2 * K, SIDE, SIDE, generator=g)
    x[torch.arange(labels.numel()), labels] += 1.0
    x[:, K:] = torch.rand(labels.numel(), K, SIDE, SIDE, generator=g)
    return x, labels


def planted_tags() -> torch.Tensor:
    t = torch.zeros(K, FILTERS, dtype=torch.bool)
    t[torch.arange(K), torch.arange(K)] = True
    return t


def test_planted_tags_drop_their_class_to_chance_and_leave_the_others() -> None:
    x, y = planted_data()
    model = Planted().eval()
    study = ablation_study(model, "feat", x, y, planted_tags(), draws=200, seed=0, boot_draws=500)
    assert study.accuracy == pytest.approx((1.0,) * K)
    # filter c zeroed: class c is predicted by noise only, so its accuracy falls to chance (1/K)
    assert study.own_drop == pytest.approx(1 - 1 / K, abs=0.08)
    assert all(d > 0.5 for d in study.tagged_own)
    assert study.tagged_other == pytest.approx((0.0,) * K)  # other classes untouched, exactly
    assert study.other_drop == 0.0
    # ... and class c's probability to about 1/K (all logits near zero)
    base_p = torch.softmax(model(x), 1).gather(1, y[:, None]).mean().item()
    assert study.own_prob_drop == pytest.approx(base_p - 1 / K, abs=0.03)
    # random single filters hit filter c with probability 1/32
    assert study.random_own_drop < 0.1 and study.random_own_drop_p95 < 0.5
    assert study.p_value == pytest.approx(1 / 201)
    assert max(study.class_p) < 0.15
    assert study.own_drop_ci95.low <= study.own_drop <= study.own_drop_ci95.high
    assert study.own_drop_ci95.high - study.own_drop_ci95.low < 0.2
    assert study.filters == tuple((c,) for c in range(K))
    assert not model.feat._forward_hooks


def test_random_tags_drop_no_more_than_random_filters() -> None:
    x, y = planted_data()
    model = Planted().eval()
    g = torch.Generator().manual_seed(5)
    tags = torch.zeros(K, FILTERS, dtype=torch.bool)
    for c in range(K):  # two random filters per class, as many as a real tag set would have
        tags[c, torch.randperm(FILTERS, generator=g)[:2]] = True
    study = ablation_study(model, "feat", x, y, tags, draws=100, seed=3, boot_draws=200)
    assert study.own_drop <= study.random_own_drop_p95
    assert study.p_value > 0.05


def test_to_dict_keys_and_per_class() -> None:
    x, y = planted_data(per_class=10)
    study = ablation_study(Planted().eval(), "feat", x, y, planted_tags(), draws=20, boot_draws=50,
                           class_names=("a", "b", "c", "d"))
    d = study.to_dict()
    assert {"layer", "images", "seed", "tagged", "random", "p_value", "per_class", "null_model"} <= set(d)
    assert {"own_drop", "own_drop_ci95", "other_drop", "other_drop_ci95", "own_prob_drop"} <= set(d["tagged"])
    assert {"own_drop", "own_drop_p95", "other_drop", "draws"} <= set(d["random"])
    assert d["random"]["draws"] == 20 and d["images"] == 40
    row = d["per_class"][2]
    assert row["class"] == 2 and row["label"] == "c" and row["filters"] == [2]
    assert {"tagged_own_drop", "tagged_other_drop", "random_own_drop", "random_other_drop", "p_value"} <= set(row)


def _one_at_a_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    rows = []
    for k in keep:
        h = model.feat.register_forward_hook(lambda _m, _i, o, k=k: o * k.view(1, -1, 1, 1))
        try:
            rows.append(model(x).argmax(1) == y)
        finally:
            h.remove()
    return torch.stack(rows)


@pytest.mark.parametrize(("cls", "mode"), [(Planted, "linear"), (ConvTail, "widen"), (Residual, "repeat")])
def test_batched_masks_equal_one_mask_at_a_time(cls: type[nn.Module], mode: str) -> None:
    x, y = planted_data(per_class=6)
    model = cls().eval()
    keep = (torch.rand(7, FILTERS, generator=torch.Generator().manual_seed(2)) > 0.2).float()
    assert ChannelMasker.of(model, "feat", x, keep).mode == mode
    _, _, correct, prob = ablation_outcomes(model, "feat", x, y, keep, batch_size=5)
    assert torch.equal(correct, _one_at_a_time(model, x, y, keep))
    assert prob.dtype == torch.float64 and prob.shape == (7, x.shape[0])
    assert not model.feat._forward_hooks


def test_hook_is_removed_after_a_failure() -> None:
    x, y = planted_data(per_class=2)
    model = Planted().eval()
    with pytest.raises(LayerError, match="32 filters"):
        ablation_outcomes(model, "feat", x, y, torch.ones(3, 5))
    assert not model.feat._forward_hooks


def test_random_filter_sets_have_the_tag_counts() -> None:
    sets = random_filter_sets(torch.tensor([0, 3, 7]), 10, 50, seed=1)
    assert sets.shape == (3, 50, 10)
    assert sets.sum(-1).tolist() == [[0] * 50, [3] * 50, [7] * 50]
    assert torch.equal(sets, random_filter_sets(torch.tensor([0, 3, 7]), 10, 50, seed=1))
    # uniform: each filter chosen about 3/10 of the time over many draws
    freq = random_filter_sets(torch.tensor([3]), 10, 4000, seed=2)[0].double().mean(0)
    assert torch.allclose(freq, torch.full((10,), 0.3, dtype=torch.float64), atol=0.03)


def test_class_drops_and_resample_weights_known_answers() -> None:
    base = torch.tensor([1.0, 1.0, 0.0, 1.0])
    ablated = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert class_drops(base, ablated, labels, 3).tolist() == [[0.5, 0.5, 0.0]]
    w = resample_weights(torch.tensor([[0, 0, 3, 1]]), 4)
    assert w.tolist() == [[2.0, 1.0, 0.0, 1.0]]


def test_bad_inputs_are_one_line_errors() -> None:
    x, y = planted_data(per_class=2)
    model = Planted().eval()
    with pytest.raises(ConfigError, match="draws=0"):
        ablation_study(model, "feat", x, y, planted_tags(), draws=0)
    with pytest.raises(LayerError, match="has 32"):
        ablation_study(model, "feat", x, y, planted_tags()[:, :5])
    with pytest.raises(DataError, match="labels outside"):
        ablation_study(model, "feat", x, y + 10, planted_tags())
    with pytest.raises(ConfigError, match="expected bool"):
        ablation_study(model, "feat", x, y, planted_tags().float())


@pytest.mark.slow
def test_ablation_run_on_a_trained_run(trained_run) -> None:  # type: ignore[no-untyped-def]
    from kgfilters.errors import RunError
    from kgfilters.evaluate.ablation import ablation_run
    from kgfilters.pipeline import tag_run

    tag_run(trained_run, method="k-best", param=3, progress=False)
    before = {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}
    study = ablation_run(trained_run, draws=20, progress=False)
    d = study.to_dict()
    assert d["layer"] == "conv2" and d["images"] == 60 and d["random"]["draws"] == 20
    assert all(len(row["filters"]) == 3 for row in d["per_class"])
    assert 1 / 21 <= d["p_value"] <= 1.0
    assert study.to_dict() == ablation_run(trained_run, draws=20, progress=False).to_dict()  # seeded
    with pytest.raises(LayerError, match="unknown layer"):
        ablation_run(trained_run, layer="fc9", progress=False)
    with pytest.raises(RunError, match="no tags for layer 'conv1'"):
        ablation_run(trained_run, layer="conv1", tags=_tags_of(trained_run, "conv2"), progress=False)
    assert {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()} == before


def _tags_of(root, layer: str):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from kgfilters.filtag import load_tags

    ts = load_tags(root / "tags.json")
    return replace(ts, layer_sizes={layer: ts.layer_sizes[layer]}, tags=tuple(t for t in ts.tags if t.layer == layer))
