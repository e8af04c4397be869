"""The conformance section: do a filter's tags share a concept more than chance would give?

Two measures over the multi-tag filters (tagged by >= 2 classes), each with a class-shuffle
baseline (class labels permuted across the tag matrix, so tag counts per filter and per class and
the concept hierarchy stay as they are):

- **enrichment** (can fail): a filter conforms when it is not generic and some informative concept
  x (not on the stop list) covers a >= 2 of its t tags with a one-sided hypergeometric
  P(X >= a) <= alpha, X ~ Hypergeometric(K classes, S_x classes under x, t draws), computed exactly
  with ``math.comb``. A concept over most of the label set (covering.n.02 over 9 of 10 classes)
  is then no evidence: P(X >= t) is large.
- **coverage** (the former "conformance" of ``queries.coarsen``, FILTAG 3.2): a filter conforms
  when some informative concept covers at least max(2, ceil(share x t)) of its tags. Kept, renamed,
  and always reported beside its own shuffle baseline (on the demo both are 100%).

Inputs are tensors: ``members`` bool (K, X), True where class c lies under concept x (its denoted
concepts' ancestors-or-self), built by the caller from ``queries.coarsen`` (``class_concepts``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from kgfilters.errors import ConfigError
from kgfilters.evaluate.figure import Figure
from kgfilters.evaluate.resampling import generator, monte_carlo_p, null_summary

__all__ = [
    "NULL_CLASS_SHUFFLE",
    "Conformance",
    "ConformanceMeasure",
    "conformance_section",
    "conforming_filters",
    "hypergeom_sf",
    "tail_table",
]

NULL_CLASS_SHUFFLE = ("class labels permuted across the tag matrix (tags per filter and per class, "
                      "and the concept hierarchy kept)")


def hypergeom_sf(population: int, successes: int, draws: int, observed: int) -> float:
    """P(X >= observed) for X ~ Hypergeometric(population, successes, draws), exact (math.comb)."""
    if not (0 <= successes <= population and 0 <= draws <= population):
        raise ConfigError(f"hypergeometric({population}, {successes}, {draws}): expected "
                          "0 <= successes, draws <= population")
    hi = min(draws, successes)
    if observed > hi:
        return 0.0
    lo = max(0, observed)
    num = sum(math.comb(successes, i) * math.comb(population - successes, draws - i) for i in range(lo, hi + 1))
    return num / math.comb(population, draws)


def tail_table(population: int, sizes: torch.Tensor, max_draws: int) -> torch.Tensor:
    """P(X >= a) for each concept size S (``sizes`` (X,)), draws t = 0..max_draws, a = 0..max_draws + 1:
    float64 (X, max_draws + 1, max_draws + 2), computed once per distinct S."""
    cache: dict[int, list[list[float]]] = {}
    rows = []
    for s in sizes.tolist():
        if s not in cache:
            cache[s] = [[hypergeom_sf(population, s, t, a) for a in range(max_draws + 2)]
                        for t in range(max_draws + 1)]
        rows.append(cache[s])
    return torch.tensor(rows, dtype=torch.float64).view(len(rows), max_draws + 1, max_draws + 2)


def conforming_filters(
    tags: torch.Tensor,
    members: torch.Tensor,
    informative: torch.Tensor,
    generic: torch.Tensor,
    *,
    measure: str,
    alpha: float = 0.05,
    share: float = 0.5,
    table: torch.Tensor | None = None,
) -> torch.Tensor:
    """Which filters conform, for a batch of class orders.

    Args:
        tags: bool (K, F) tag matrix (filters of every layer side by side).
        members: bool (P, K, X) or (K, X): class-under-concept matrix per permutation.
        informative: bool (X,), concepts not on the stop list. generic: bool (F,).
        measure: ``enrichment`` or ``coverage``. table: ``tail_table`` (enrichment only).

    Returns:
        bool (P, F) (or (F,) for 2-D ``members``); filters with < 2 tags never conform.
    """
    squeeze = members.dim() == 2
    mem = members.unsqueeze(0) if squeeze else members
    t = tags.sum(0)  # (F,)
    a = torch.einsum("kf,pkx->pfx", tags.double(), mem.double()).round().long()  # (P, F, X)
    if measure == "enrichment":
        if table is None:
            raise ConfigError("enrichment needs the hypergeometric tail table")
        x_idx = torch.arange(mem.shape[2]).view(1, 1, -1).expand_as(a)
        t_idx = t.view(1, -1, 1).expand_as(a)
        p = table[x_idx, t_idx, a.clamp(max=table.shape[2] - 1)]
        hit = (a >= 2) & (p <= alpha + 1e-12)
        ok = (hit & informative.view(1, 1, -1)).any(-1) & ~generic.view(1, -1)
    elif measure == "coverage":
        need = torch.clamp(torch.ceil(share * t.double() - 1e-6), min=2).long()
        ok = ((a >= need.view(1, -1, 1)) & informative.view(1, 1, -1)).any(-1)
    else:
        raise ConfigError(f"measure {measure!r}: expected enrichment or coverage")
    ok = ok & (t >= 2).view(1, -1)
    return ok[0] if squeeze else ok


@dataclass(frozen=True)
class ConformanceMeasure:
    """One measure: observed share of multi-tag filters that conform, its shuffle null and p."""

    name: str
    observed: float
    conforming: int
    multi_tag: int
    baseline_mean: float
    baseline_p95: float
    p_value: float
    permutations: int
    seed: int
    per_layer: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"observed": self.observed, "conforming": self.conforming, "multi_tag": self.multi_tag,
                "baseline_mean": self.baseline_mean, "baseline_p95": self.baseline_p95,
                "p_value": self.p_value, "permutations": self.permutations, "seed": self.seed,
                "null_model": NULL_CLASS_SHUFFLE, "per_layer": dict(self.per_layer)}

    def figure(self, evaluates: str) -> Figure:
        return Figure(f"conformance: {self.name}", self.observed, None,
                      {"class shuffle": self.baseline_mean, "class shuffle p95": self.baseline_p95},
                      self.p_value, NULL_CLASS_SHUFFLE, self.seed, evaluates, "conformance")


@dataclass(frozen=True)
class Conformance:
    """Enrichment and coverage of one tagging, with their settings."""

    enrichment: ConformanceMeasure
    coverage: ConformanceMeasure
    alpha: float
    share: float
    generic_threshold: float
    concepts: int

    def to_dict(self) -> dict[str, Any]:
        return {"enrichment": {**self.enrichment.to_dict(), "alpha": self.alpha},
                "coverage": {**self.coverage.to_dict(), "share": self.share},
                "generic_threshold": self.generic_threshold, "concepts": self.concepts,
                "generic_filters_conform": False}

    def figures(self, evaluates: str = "tags") -> tuple[Figure, ...]:
        return self.enrichment.figure(evaluates), self.coverage.figure(evaluates)


def conformance_section(
    matrices: Mapping[str, torch.Tensor],
    generic: Mapping[str, torch.Tensor],
    members: torch.Tensor,
    informative: torch.Tensor,
    *,
    alpha: float = 0.05,
    share: float = 0.5,
    generic_threshold: float = 0.8,
    permutations: int = 1000,
    seed: int = 0,
) -> Conformance:
    """Enrichment and coverage of the tags ``matrices`` ({layer: bool (K, C)}), each against
    ``permutations`` class shuffles (seed ``seed``; the same shuffles for both measures)."""
    if permutations < 1:
        raise ConfigError(f"permutations={permutations}: expected at least 1")
    layers = list(matrices)
    tags = torch.cat([matrices[n] for n in layers], 1)
    gen_all = torch.cat([generic[n] for n in layers])
    owner = torch.cat([torch.full((matrices[n].shape[1],), i) for i, n in enumerate(layers)])
    k = tags.shape[0]
    if members.shape[0] != k:
        raise ConfigError(f"concept members cover {members.shape[0]} classes, the tags {k}")
    t = tags.sum(0)
    multi = t >= 2
    table = tail_table(k, members.sum(0), int(t.max()) if t.numel() else 0)
    perm = torch.rand(permutations, k, generator=generator(seed)).argsort(1)
    shuffled = members[perm]  # (P, K, X)
    out = {}
    for measure in ("enrichment", "coverage"):
        kw = {"measure": measure, "alpha": alpha, "share": share, "table": table}
        obs = conforming_filters(tags, members, informative, gen_all, **kw)
        null_ok = conforming_filters(tags, shuffled, informative, gen_all, **kw)
        m = int(multi.sum())
        share_obs = float(obs.sum()) / m if m else float("nan")
        null = null_ok.sum(1).double() / max(m, 1)
        mean, _, p95 = null_summary(null)
        per = {}
        for i, name in enumerate(layers):
            sel = multi & (owner == i)
            per[name] = float(obs[sel].double().mean()) if int(sel.sum()) else float("nan")
        p = monte_carlo_p(share_obs, null) if m else float("nan")
        out[measure] = ConformanceMeasure(measure, share_obs, int(obs.sum()), m, mean, p95, p,
                                          permutations, seed, per)
    return Conformance(out["enrichment"], out["coverage"], alpha, share, generic_threshold, members.shape[1])
