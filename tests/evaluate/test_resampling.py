from __future__ import annotations

import pytest
import torch

from kgfilters.errors import ConfigError
from kgfilters.evaluate.resampling import bootstrap_mean_ci, monte_carlo_p, null_summary


def test_bootstrap_interval_of_a_constant_is_the_constant() -> None:
    ci = bootstrap_mean_ci(torch.full((50,), 0.3), draws=200)
    assert ci.low == pytest.approx(0.3) and ci.high == pytest.approx(0.3)


def test_bootstrap_interval_covers_the_normal_theory_width() -> None:
    # 400 Bernoulli(0.5) outcomes: the 95% interval of the mean is about +-1.96 * 0.5 / 20 = +-0.049
    x = torch.tensor([0.0, 1.0]).repeat(200)
    ci = bootstrap_mean_ci(x, draws=4000, seed=1)
    assert ci.low == pytest.approx(0.451, abs=0.012) and ci.high == pytest.approx(0.549, abs=0.012)
    assert ci.as_list() == [ci.low, ci.high]


def test_bootstrap_is_seeded() -> None:
    x = torch.rand(30, generator=torch.Generator().manual_seed(0))
    assert bootstrap_mean_ci(x, seed=3) == bootstrap_mean_ci(x, seed=3)
    assert bootstrap_mean_ci(x, seed=3) != bootstrap_mean_ci(x, seed=4)


def test_monte_carlo_p_known_answers() -> None:
    null = torch.arange(99, dtype=torch.float64)  # 0..98
    assert monte_carlo_p(98.0, null) == pytest.approx(2 / 100)
    assert monte_carlo_p(1000.0, null) == pytest.approx(1 / 100)  # never 0
    assert monte_carlo_p(-1.0, null) == pytest.approx(1.0)
    assert monte_carlo_p(0.0, null, alternative="less") == pytest.approx(2 / 100)
    assert monte_carlo_p(-97.5, null - 49, alternative="two-sided") == pytest.approx(1 / 100)
    with pytest.raises(ConfigError, match="alternative"):
        monte_carlo_p(0.0, null, alternative="bigger")


def test_null_summary_and_bad_input() -> None:
    mean, p5, p95 = null_summary(torch.arange(101, dtype=torch.float64))
    assert (mean, p5, p95) == (50.0, 5.0, 95.0)
    with pytest.raises(ConfigError, match="draws"):
        bootstrap_mean_ci(torch.ones(3), draws=0)
    with pytest.raises(ConfigError, match="no units"):
        bootstrap_mean_ci(torch.ones(0))
