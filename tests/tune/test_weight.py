"""Choosing llm_weight on validation pages (no model: log-odds and priors are given)."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.tune.weight import GRID, fit_llm_weight


def _pages(signal: float, n: int = 40, k: int = 8, seed: int = 0):  # noqa: ANN202
    rng = np.random.default_rng(seed)
    labels, priors, odds = {}, {}, {}
    for u in range(n):
        y = np.array([1.0, 0.0] * (k // 2))
        labels[u] = y
        priors[u] = np.full(k, 0.5)  # a prior that knows nothing
        odds[u] = signal * (2 * y - 1) + rng.normal(0, 1, k)
    return labels, priors, odds


def test_an_informative_model_gets_weight_and_a_random_one_gets_none() -> None:
    informative = fit_llm_weight(*_pages(2.0))
    assert informative.weight >= 1.0 and informative.examples == 320 and informative.pages == 40
    assert informative.log_loss[informative.weight] < informative.log_loss[0.0]
    noise = fit_llm_weight(*_pages(0.0))
    assert noise.weight <= 0.25  # the LLM only adds noise: (almost) the prior alone


def test_losses_cover_the_grid_and_the_choice_is_their_minimum() -> None:
    fit = fit_llm_weight(*_pages(1.0))
    assert set(fit.log_loss) == set(GRID)
    assert fit.log_loss[fit.weight] == min(fit.log_loss.values())


def test_pages_with_a_fallback_are_left_out_and_none_left_is_an_error() -> None:
    labels, priors, odds = _pages(1.0, n=3)
    odds[0][2] = np.nan
    assert fit_llm_weight(labels, priors, odds).pages == 2
    for u in odds:
        odds[u][0] = np.nan
    with pytest.raises(ValueError, match="no validation page"):
        fit_llm_weight(labels, priors, odds)
