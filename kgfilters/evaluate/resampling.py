"""Resampling statistics shared by the evaluation sections: bootstrap intervals over units (images,
classes) and Monte-Carlo p-values against a null distribution. Pure functions on tensors, float64,
seeded through an explicit ``torch.Generator`` so every figure can be reproduced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from kgfilters.errors import ConfigError

__all__ = ["Interval", "bootstrap_mean_ci", "bootstrap_stat_ci", "generator", "monte_carlo_p", "null_summary"]


@dataclass(frozen=True)
class Interval:
    """A two-sided interval ``(low, high)`` at ``level`` (0.95 = 95%)."""

    low: float
    high: float
    level: float = 0.95

    def as_list(self) -> list[float]:
        return [self.low, self.high]


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (draws stay reproducible on any device)."""
    return torch.Generator().manual_seed(int(seed))


def _check(draws: int, level: float) -> None:
    if draws < 1:
        raise ConfigError(f"draws={draws}: expected at least 1 resampling draw")
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level={level}: expected 0 < level < 1")


def bootstrap_stat_ci(
    values: torch.Tensor,
    stat: Callable[[torch.Tensor], torch.Tensor],
    *,
    draws: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``stat`` over the rows of ``values``.

    Args:
        values: (N, ...) units to resample with replacement (rows), any dtype.
        stat: maps a (draws, N, ...) tensor of resampled rows to (draws,) statistics.
        draws: bootstrap replicates. level: coverage of the interval. seed: resampling seed.

    Rows are resampled in one batched index tensor (draws, N), so the cost is one gather.
    """
    _check(draws, level)
    n = values.shape[0]
    if n == 0:
        raise ConfigError("bootstrap over no units: expected at least one")
    idx = torch.randint(0, n, (draws, n), generator=generator(seed)).to(values.device)
    reps = stat(values[idx]).double()
    a = (1.0 - level) / 2.0
    lo, hi = torch.quantile(reps, torch.tensor([a, 1.0 - a], dtype=torch.float64, device=reps.device))
    return Interval(float(lo), float(hi), level)


def bootstrap_mean_ci(values: torch.Tensor, *, draws: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (N,) (e.g. per-image hits as 0/1)."""
    return bootstrap_stat_ci(values.double(), lambda r: r.mean(dim=1), draws=draws, level=level, seed=seed)


def monte_carlo_p(observed: float, null: torch.Tensor, *, alternative: str = "greater") -> float:
    """Monte-Carlo p-value of ``observed`` against ``null`` (draws,) with the add-one correction,
    (1 + #{null >= observed}) / (1 + draws) for ``greater`` (``less``: <=; ``two-sided``: |.| >=),
    so a p-value is never 0 (Phipson & Smyth, 2010)."""
    null = null.double().flatten()
    if null.numel() == 0:
        raise ConfigError("a Monte-Carlo p-value needs at least one null draw")
    eps = 1e-12
    if alternative == "greater":
        hits = (null >= observed - eps).sum()
    elif alternative == "less":
        hits = (null <= observed + eps).sum()
    elif alternative == "two-sided":
        hits = (null.abs() >= abs(observed) - eps).sum()
    else:
        raise ConfigError(f"alternative {alternative!r}: expected greater, less or two-sided")
    return (1 + int(hits)) / (1 + null.numel())


def null_summary(null: torch.Tensor) -> tuple[float, float, float]:
    """Mean, 5th and 95th percentile of a null distribution (draws,), float64."""
    d = null.double().flatten()
    q = torch.quantile(d, torch.tensor([0.05, 0.95], dtype=torch.float64, device=d.device))
    return float(d.mean()), float(q[0]), float(q[1])
