"""The Hits@n section: the observed figure with its tie rule named, the same under a random and a
pessimistic tie-break, a random-tags baseline, the constant-top-n baseline, a bootstrap interval
over images, and the figure across activation cut-offs.

Votes and ranks come from ``kgfilters.explain`` (``tag_votes``, ``class_ranks_from_votes``,
``hits_at``): the same code that explains one image. Random tag matrices are batched as one
(draws x classes, filters) matrix through the same ``tag_votes``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from kgfilters.errors import ConfigError
from kgfilters.evaluate.figure import Figure
from kgfilters.evaluate.resampling import bootstrap_mean_ci, generator, monte_carlo_p, null_summary
from kgfilters.explain import activated_count, class_ranks_from_votes, hits_at, tag_votes

__all__ = [
    "CUTOFFS",
    "NULL_RANDOM_TAGS",
    "TIE_RULE",
    "HitsSection",
    "RandomTags",
    "batched_votes",
    "constant_top_n",
    "hits_section",
    "random_tag_matrices",
    "random_tags_hits",
    "tie_policy_hits",
]

log = logging.getLogger(__name__)

#: The tie rule of ``class_ranks_from_votes``: votes, then summed activation, then class index.
TIE_RULE = "activation sum"
CUTOFFS = (0.05, 0.1, 0.2, 0.5)
NULL_RANDOM_TAGS = ("random tags: each class tags as many filters of the layer as in the evaluated "
                    "tags, chosen uniformly at random; same held-out activations and tie rule")
#: Elements (draws x images x classes) of vote tensors held at once; larger batches are chunked.
_CHUNK = 4_000_000


def tie_policy_hits(counts: torch.Tensor, labels: torch.Tensor, n: int) -> dict[str, torch.Tensor]:
    """Per-image Hits@n of the true class under three tie-breaks of the vote counts.

    Args:
        counts: (N, K) votes per class. labels: (N,) true classes. n: the cut.

    Returns:
        {"optimistic", "random", "pessimistic"}: (N,) float64. With g classes above the true class
        and e other classes tied with it, a hit needs g + (its place among the e + 1 tied) <= n:
        optimistic g < n; pessimistic g + e < n; random (exact expectation over uniform orders of
        the tied) clamp(n - g, 0, e + 1) / (e + 1). A class with no vote is never a hit (as in
        ``class_ranks_from_votes``).
    """
    ct = counts.gather(1, labels.view(-1, 1).long())
    g = (counts > ct).sum(1).double()
    e = (counts == ct).sum(1).double() - 1.0
    ranked = ct.squeeze(1) > 0
    zero = torch.zeros_like(g)
    return {
        "optimistic": torch.where(ranked, (g < n).double(), zero),
        "random": torch.where(ranked, (n - g).clamp(0.0).minimum(e + 1.0) / (e + 1.0), zero),
        "pessimistic": torch.where(ranked, (g + e < n).double(), zero),
    }


def random_tag_matrices(matrix: torch.Tensor, draws: int, gen: torch.Generator) -> torch.Tensor:
    """``draws`` random tag matrices, bool (draws, K, C), each class tagging as many filters as in
    ``matrix`` (bool (K, C)), chosen uniformly at random without replacement."""
    k, c = matrix.shape
    per = matrix.sum(1).view(1, k, 1)
    keys = torch.rand(draws, k, c, generator=gen)
    ranks = keys.argsort(-1).argsort(-1)
    return (ranks < per).to(matrix.device)


def batched_votes(
    values: Mapping[str, torch.Tensor], tags: Mapping[str, torch.Tensor], top_fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Votes of several tag matrices at once: ``tags`` {layer: bool (D, K, C)}, ``values``
    {layer: (N, C)}; votes of the layers are summed. Returns counts and activation (D, N, K)."""
    counts = act = None
    for layer, v in values.items():
        t = tags[layer]
        d, k, c = t.shape
        cc, aa = tag_votes(v, t.reshape(d * k, c), activated_count(c, top_fraction))
        cc, aa = cc.view(-1, d, k).transpose(0, 1), aa.view(-1, d, k).transpose(0, 1)
        counts = cc if counts is None else counts + cc
        act = aa if act is None else act + aa
    if counts is None or act is None:
        raise ConfigError("Hits@n needs at least one layer")
    return counts, act


def _batched_ranks(counts: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    d, n, k = counts.shape
    return class_ranks_from_votes(counts.reshape(d * n, k), act.reshape(d * n, k)).view(d, n, k)


@dataclass(frozen=True)
class RandomTags:
    """Hits@n of random tag matrices: rates (draws, len(ns)) float64 for each n of ``ns``."""

    ns: tuple[int, ...]
    rates: torch.Tensor
    seed: int


def random_tags_hits(
    values: Mapping[str, torch.Tensor],
    matrices: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    ns: tuple[int, ...],
    *,
    draws: int = 200,
    top_fraction: float = 0.2,
    seed: int = 0,
) -> RandomTags:
    """Hits@n (true class, activation-sum tie rule) of ``draws`` random tag matrices per layer with
    the per-class tag counts of ``matrices``; chunked so at most ~4e6 votes are held at once."""
    if draws < 1:
        raise ConfigError(f"draws={draws}: expected at least 1 random-tags draw")
    gen = generator(seed)
    n_img, k = labels.numel(), next(iter(matrices.values())).shape[0]
    chunk = max(1, _CHUNK // max(1, n_img * k))
    out = []
    for start in range(0, draws, chunk):
        m = min(chunk, draws - start)
        tags = {layer: random_tag_matrices(matrices[layer], m, gen) for layer in values}
        ranks = _batched_ranks(*batched_votes(values, tags, top_fraction))
        true = ranks.gather(2, labels.view(1, -1, 1).expand(m, -1, 1).long()).squeeze(2)
        out.append(torch.stack([(true <= n).double().mean(1) for n in ns], 1))
    return RandomTags(tuple(ns), torch.cat(out), seed)


def constant_top_n(labels: torch.Tensor, num_classes: int, n: int) -> tuple[float, tuple[int, ...]]:
    """The best constant prediction: the same n classes for every image, chosen as the n most
    frequent classes of ``labels`` (the evaluated images themselves, so an upper bound for any
    constant set). Returns (its Hits@n, the classes)."""
    freq = torch.bincount(labels.long(), minlength=num_classes).double()
    top = freq.topk(min(n, num_classes)).indices
    return float(freq[top].sum() / max(1, labels.numel())), tuple(int(c) for c in top)


@dataclass(frozen=True)
class HitsSection:
    """Hits@n of one tagging on held-out images, with every baseline (see ``to_dict`` keys)."""

    layer: str
    method: str
    param: float
    n: int
    top_fraction: float
    images: int
    observed: float
    ci95: tuple[float, float]
    tie_policies: Mapping[str, float]
    tied_share: float
    random_tags: Mapping[str, float]
    constant_top_n: float
    constant_classes: tuple[int, ...]
    cutoffs: tuple[Mapping[str, float], ...]
    seed: int
    per_image_hit: torch.Tensor  # (N,) bool, the observed hits (for hits vs accuracy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "method": self.method, "param": self.param, "n": self.n,
            "top_fraction": self.top_fraction, "images": self.images, "observed": self.observed,
            "ci95": list(self.ci95), "tie_rule": TIE_RULE, "tie_policies": dict(self.tie_policies),
            "tied_share": self.tied_share,
            "random_tags": {**self.random_tags, "null_model": NULL_RANDOM_TAGS},
            "constant_top_n": self.constant_top_n, "constant_classes": list(self.constant_classes),
            "cutoffs": [dict(c) for c in self.cutoffs], "seed": self.seed,
        }

    def figures(self, label: str = "") -> tuple[Figure, ...]:
        tag = label or f"{self.method} {self.param:g}"
        rt = self.random_tags
        return (
            Figure(f"Hits@{self.n} ({tag}; tie rule: {TIE_RULE})", self.observed, self.ci95,
                   {"random tags": rt["mean"], "random tags p95": rt["p95"],
                    "constant top-n": self.constant_top_n,
                    "random tie-break": self.tie_policies["random"],
                    "pessimistic tie-break": self.tie_policies["pessimistic"]},
                   rt["p_value"], NULL_RANDOM_TAGS, self.seed, f"layer:{self.layer}", "hits"),
        )


def hits_section(
    values: torch.Tensor,
    matrix: torch.Tensor,
    labels: torch.Tensor,
    *,
    layer: str,
    method: str,
    param: float,
    n: int = 3,
    top_fraction: float = 0.2,
    draws: int = 200,
    boot: int = 2000,
    seed: int = 0,
    cutoffs: tuple[float, ...] = CUTOFFS,
) -> HitsSection:
    """Hits@n of the tag matrix ``matrix`` (bool (K, C)) on held-out ``values`` (N, C) of ``layer``.

    Seeds: the random tags draw from ``seed``, the bootstrap over images from ``seed + 1``; each
    cut-off's random tags from ``seed + 2 + its index``.
    """
    k = matrix.shape[0]
    if not 1 <= n <= k:
        raise ConfigError(f"n={n}: expected 1 <= n <= {k} (the number of classes)")
    if labels.numel() == 0:
        raise ConfigError("Hits@n over no held-out images")
    vals = {layer: values}
    counts, act = tag_votes(values, matrix, activated_count(values.shape[1], top_fraction))
    hit = hits_at(class_ranks_from_votes(counts, act), labels, n)
    pol = tie_policy_hits(counts, labels, n)
    ct = counts.gather(1, labels.view(-1, 1).long())
    tied = ((counts == ct).sum(1) > 1) & (ct.squeeze(1) > 0)
    rt = random_tags_hits(vals, {layer: matrix}, labels, (n,), draws=draws, top_fraction=top_fraction, seed=seed)
    null = rt.rates[:, 0]
    mean, p5, p95 = null_summary(null)
    observed = float(hit.double().mean())
    ci = bootstrap_mean_ci(hit.double(), draws=boot, seed=seed + 1)
    const, classes = constant_top_n(labels, k, n)
    rows = []
    for i, tf in enumerate(cutoffs):
        c2, a2 = tag_votes(values, matrix, activated_count(values.shape[1], tf))
        pol2 = tie_policy_hits(c2, labels, n)
        r2 = random_tags_hits(vals, {layer: matrix}, labels, (n,), draws=draws, top_fraction=tf,
                              seed=seed + 2 + i).rates[:, 0]
        m2, _, q95 = null_summary(r2)
        rows.append({"top_fraction": tf,
                     "activation": float(hits_at(class_ranks_from_votes(c2, a2), labels, n).double().mean()),
                     "random": float(pol2["random"].mean()), "pessimistic": float(pol2["pessimistic"].mean()),
                     "random_tags_mean": m2, "random_tags_p95": q95})
    return HitsSection(
        layer, method, float(param), n, top_fraction, int(labels.numel()), observed, (ci.low, ci.high),
        {"activation": observed, **{key: float(v.mean()) for key, v in pol.items()}},
        float(tied.double().mean()),
        {"mean": mean, "p5": p5, "p95": p95, "draws": draws, "seed": seed,
         "p_value": monte_carlo_p(observed, null)},
        const, classes, tuple(rows), seed, hit,
    )
