"""The hits-vs-accuracy section: does a hit go with a correct prediction?

Per image: the difference in accuracy between images whose true class is a hit and the others
(with the point-biserial / phi coefficient beside it), a bootstrap interval over images and a
permutation p-value (hits shuffled across images). Per class: Pearson r between per-class Hits@n
and per-class accuracy (FILTAG 3.3) with a bootstrap interval over images and a permutation
p-value (per-class hit rates shuffled across classes). Over a grid of cells: how many were tried,
and Holm-adjusted p-values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from kgfilters.errors import ConfigError
from kgfilters.evaluate.figure import Figure
from kgfilters.evaluate.resampling import bootstrap_stat_ci, generator, monte_carlo_p

__all__ = [
    "NULL_CLASS_PERMUTATION",
    "NULL_IMAGE_PERMUTATION",
    "GridCell",
    "PerClass",
    "PerImage",
    "batched_pearson",
    "holm",
    "per_class_r",
    "per_image_effect",
]

NULL_IMAGE_PERMUTATION = "hits permuted across images (no association between hit and correctness)"
NULL_CLASS_PERMUTATION = "per-class Hits@n permuted across classes (no association with accuracy)"


def batched_pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson r along the last dimension of ``a`` and ``b`` (..., M), float64; NaN where either
    has zero variance."""
    a = a.double() - a.double().mean(-1, keepdim=True)
    b = b.double() - b.double().mean(-1, keepdim=True)
    den = a.norm(dim=-1) * b.norm(dim=-1)
    r = (a * b).sum(-1) / den
    return torch.where(den > 0, r, torch.full_like(r, torch.nan))


def _effect(hit: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """Accuracy of hit images minus accuracy of the others, along the last dim (NaN if a group is empty)."""
    h, c = hit.double(), correct.double()
    nh, nm = h.sum(-1), (1 - h).sum(-1)
    acc_h = (h * c).sum(-1) / nh
    acc_m = ((1 - h) * c).sum(-1) / nm
    d = acc_h - acc_m
    return torch.where((nh > 0) & (nm > 0), d, torch.full_like(d, torch.nan))


@dataclass(frozen=True)
class PerImage:
    """Per-image association of a hit with a correct prediction."""

    effect: float
    phi: float
    accuracy_hit: float
    accuracy_miss: float
    ci95: tuple[float, float]
    p_value: float
    permutations: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"effect": self.effect, "measure": "accuracy(hit) - accuracy(miss)", "phi": self.phi,
                "accuracy_hit": self.accuracy_hit, "accuracy_miss": self.accuracy_miss,
                "ci95": list(self.ci95), "p_value": self.p_value, "permutations": self.permutations,
                "null_model": NULL_IMAGE_PERMUTATION, "seed": self.seed}


def per_image_effect(
    hit: torch.Tensor, correct: torch.Tensor, *, boot: int = 2000, permutations: int = 2000, seed: int = 0
) -> PerImage:
    """Accuracy difference between hit and non-hit images, ``hit`` and ``correct`` bool (N,).

    The interval resamples images (seed ``seed``); the p-value is two-sided against ``permutations``
    shuffles of ``hit`` across images (seed ``seed + 1``), add-one corrected.
    """
    if hit.shape != correct.shape or hit.dim() != 1:
        raise ConfigError(f"hit {tuple(hit.shape)} and correct {tuple(correct.shape)}: expected two (N,) tensors")
    obs = float(_effect(hit, correct))
    pair = torch.stack([hit.double(), correct.double()], 1)
    ci = bootstrap_stat_ci(pair, lambda r: _effect(r[..., 0], r[..., 1]), draws=boot, seed=seed)
    idx = torch.rand(permutations, hit.numel(), generator=generator(seed + 1)).argsort(1).to(hit.device)
    null = _effect(hit[idx], correct.expand(permutations, -1))
    h = hit.double()
    return PerImage(
        obs, float(batched_pearson(h, correct.double())),
        float((h * correct).sum() / h.sum()) if h.sum() > 0 else float("nan"),
        float(((1 - h) * correct).sum() / (1 - h).sum()) if (1 - h).sum() > 0 else float("nan"),
        (ci.low, ci.high), monte_carlo_p(obs, null, alternative="two-sided"), permutations, seed,
    )


def _rates(hit: torch.Tensor, correct: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class hit rate and accuracy, (..., K) for inputs (..., N)."""
    shape = (*labels.shape[:-1], k)
    total = torch.zeros(shape, dtype=torch.float64, device=labels.device).scatter_add_(
        -1, labels.long(), torch.ones_like(hit, dtype=torch.float64))
    h = torch.zeros(shape, dtype=torch.float64, device=labels.device).scatter_add_(-1, labels.long(), hit.double())
    c = torch.zeros(shape, dtype=torch.float64, device=labels.device).scatter_add_(-1, labels.long(), correct.double())
    return h / total, c / total


@dataclass(frozen=True)
class PerClass:
    """Pearson r between per-class Hits@n and per-class accuracy, over the K classes."""

    r: float
    ci95: tuple[float, float]
    p_value: float
    permutations: int
    seed: int
    hits: tuple[float, ...]
    accuracy: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"r": self.r, "ci95": list(self.ci95), "p_value": self.p_value,
                "permutations": self.permutations, "null_model": NULL_CLASS_PERMUTATION,
                "seed": self.seed, "hits": list(self.hits), "accuracy": list(self.accuracy)}


def per_class_r(
    hit: torch.Tensor, correct: torch.Tensor, labels: torch.Tensor, num_classes: int, *,
    boot: int = 2000, permutations: int = 10000, seed: int = 0,
) -> PerClass:
    """Per-class r with a bootstrap interval over classes (the K (hit rate, accuracy) pairs
    resampled, seed ``seed``; replicates with a constant column are dropped) and a two-sided
    permutation p-value over classes (seed ``seed + 1``). Classes, not images, are the units of r,
    so both the interval and the p-value resample classes."""
    hr, acc = _rates(hit, correct, labels, num_classes)
    ok = ~torch.isnan(hr)
    r = float(batched_pearson(hr[ok], acc[ok]))
    kk = int(ok.sum())
    idx = torch.randint(0, kk, (boot, kk), generator=generator(seed)).to(hr.device)
    reps = batched_pearson(hr[ok][idx], acc[ok][idx])
    reps = reps[~torch.isnan(reps)]
    if reps.numel() == 0:
        ci = (float("nan"), float("nan"))
    else:
        q = torch.quantile(reps, torch.tensor([0.025, 0.975], dtype=torch.float64, device=reps.device))
        ci = (float(q[0]), float(q[1]))
    perm = torch.rand(permutations, kk, generator=generator(seed + 1)).argsort(1).to(hr.device)
    null = batched_pearson(hr[ok][perm], acc[ok].expand(permutations, -1))
    p = float("nan") if r != r else monte_carlo_p(r, null.nan_to_num(0.0), alternative="two-sided")
    return PerClass(r, ci, p, permutations, seed, tuple(float(x) for x in hr), tuple(float(x) for x in acc))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the order given; NaN stays NaN
    and does not count as a test."""
    idx = [i for i, p in enumerate(p_values) if p == p]
    m = len(idx)
    order = sorted(idx, key=lambda i: p_values[i])
    adj = [float("nan")] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adj[i] = running
    return adj


@dataclass(frozen=True)
class GridCell:
    """Per-class r of one grid cell (method, param, n) with its raw and Holm-adjusted p-values."""

    method: str
    param: float
    n: int
    hits: float
    r: float
    p_value: float
    p_holm: float

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "param": self.param, "n": self.n, "hits": self.hits,
                "r": self.r, "p_value": self.p_value, "p_holm": self.p_holm}


def per_image_figure(pi: PerImage, evaluates: str) -> Figure:
    return Figure("hit vs correct: accuracy(hit) - accuracy(miss)", pi.effect, pi.ci95,
                  {"no association": 0.0}, pi.p_value, NULL_IMAGE_PERMUTATION, pi.seed, evaluates,
                  "hits_vs_accuracy")


def per_class_figure(pc: PerClass, evaluates: str) -> Figure:
    return Figure("per-class Pearson r (Hits@n, accuracy)", pc.r, pc.ci95, {"no association": 0.0},
                  pc.p_value, NULL_CLASS_PERMUTATION, pc.seed, evaluates, "hits_vs_accuracy")
