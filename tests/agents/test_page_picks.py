"""``policy.choice.picks: page``: the number of watches follows how rich the page is."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from simrec.agents.policies.choice import ChoicePolicy, page_share
from simrec.config.schema import ChoiceParams
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.world.build import build_world
from tests.helpers import small_scenario


def test_page_share_is_the_fixed_point_of_its_em_update() -> None:
    e = np.random.default_rng(1).normal(0, 2, (30, 20))
    share = page_share(e, prior=1.0)
    again = (expit(e + np.log(share / (1 - share))[:, None]).sum(axis=1) + 1.0) / (20 + 2.0)
    np.testing.assert_allclose(share, again, atol=1e-6)
    assert ((share > 0) & (share < 1)).all()


def test_a_rich_page_has_a_larger_share_and_a_strong_prior_pulls_it_to_one_half() -> None:
    rich = np.r_[np.full(10, 4.0), np.full(10, -4.0)]
    poor = np.r_[np.full(2, 4.0), np.full(18, -4.0)]
    weak, strong = page_share(np.stack([rich, poor]), 0.5), page_share(np.stack([rich, poor]), 50.0)
    assert weak[0] == pytest.approx(0.5, abs=0.03) and weak[1] == pytest.approx(0.1, abs=0.03)
    assert abs(strong[1] - 0.5) < abs(weak[1] - 0.5)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return build_world(small_scenario(tmp_path_factory.mktemp("page")))


def _policy(world, **params) -> ChoicePolicy:
    return ChoicePolicy(ChoiceParams(**params), world.catalog, world.population, world.taste, child_rng(0, "t"))


def test_a_middling_item_is_watched_on_a_rich_page_but_not_on_a_poor_one(world) -> None:
    policy = _policy(world, picks="page", page_prior=1.0, choice_noise=0.0, outside_utility=0.0)
    middling = -1.0  # below the outside option on a page where half the items are worth watching
    rich = np.r_[middling, np.full(16, 5.0), np.full(3, -5.0)]
    poor = np.r_[middling, np.full(1, 5.0), np.full(18, -5.0)]
    picks = policy.choose(np.stack([rich, poor]).astype(np.float32))
    assert picks[0, 0] and not picks[1, 0]
    assert picks[0].sum() == 17 and picks[1].sum() == 1
    fixed = _policy(world, picks="fixed", choice_noise=0.0, outside_utility=0.0)
    both = fixed.choose(np.stack([rich, poor]).astype(np.float32))
    assert not both[:, 0].any()  # one outside utility: the middling item is judged alone


def test_watch_probability_uses_the_pages_outside_option(world) -> None:
    policy = _policy(world, picks="page", page_prior=2.0, choice_noise=0.7, outside_utility=0.3)
    u = np.random.default_rng(2).normal(0, 2, (40, 10)).astype(np.float32)
    share = page_share(u - 0.3, 2.0)
    want = expit((u - (0.3 - np.log(share / (1 - share)))[:, None]) / 0.7)
    np.testing.assert_allclose(policy.watch_probability(u), want, rtol=1e-5)
    draws = np.mean([policy.choose(u) for _ in range(300)], axis=0)
    assert np.abs(draws.mean(axis=1) - want.mean(axis=1)).max() < 0.08


def test_beta_ease_without_the_ease_term_is_an_error(world) -> None:
    assert world.taste.ease is None
    with pytest.raises(ConfigError, match="ease_reg"):
        _policy(world, beta_ease=0.5)


def test_contrast_terms_are_taste_and_popularity_against_the_rest_of_the_page(world) -> None:
    from simrec.agents.policies.base import PageBatch

    users = np.arange(6)
    items = np.random.default_rng(5).integers(0, world.catalog.n_items, (6, 8))
    batch = PageBatch(0, 0, users, items, np.zeros(6, np.float32), np.zeros(6, np.float32))
    off = _policy(world)
    on = _policy(world, beta_taste_contrast=1.0, beta_popularity_contrast=0.5)
    terms = off.utility_terms(batch)
    want = terms["taste"] - terms["taste"].mean(1, keepdims=True)
    want += 0.5 * (terms["popularity"] - terms["popularity"].mean(1, keepdims=True))
    np.testing.assert_allclose(on.utilities(batch) - off.utilities(batch), want, atol=1e-5)
    np.testing.assert_allclose(terms["taste_contrast"].sum(axis=1), 0.0, atol=1e-4)


def test_the_prior_for_llm_driven_users_is_the_fitted_logit_whatever_the_noise(world) -> None:
    u = np.random.default_rng(6).normal(0, 2, (5, 10)).astype(np.float32)
    decisive = _policy(world, picks="page", choice_noise=0.0, outside_utility=0.5)
    noisy = _policy(world, picks="page", choice_noise=1.0, outside_utility=0.5)
    np.testing.assert_allclose(decisive.prior_probability(u), noisy.watch_probability(u), rtol=1e-6)
    assert set(np.unique(np.round(decisive.watch_probability(u), 6))) <= {0.0, 1.0}
