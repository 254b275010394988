"""``agents.taste.ease_reg``: EASE scores of each user's training history as a second interest term."""

from __future__ import annotations

import numpy as np

from simrec.agents.policies.base import PageBatch
from simrec.agents.policies.choice import ChoicePolicy
from simrec.core.ease import ease_weights
from simrec.core.rng import child_rng
from simrec.world.build import build_world
from tests.helpers import small_scenario


def test_ease_affinity_is_the_users_scores_z_scored_over_the_catalog(tmp_path) -> None:
    cfg = small_scenario(tmp_path, **{"agents.taste.ease_reg": 20.0})
    world = build_world(cfg)
    ease = world.taste.ease
    assert ease is not None
    n_users, n_items = world.dataset.n_users, world.dataset.n_items
    x = np.zeros((n_users, n_items))
    x[world.train.user, world.train.item] = 1.0
    scores = x @ ease_weights(ease.history, 20.0)
    z = (scores - scores.mean(axis=1, keepdims=True)) / scores.std(axis=1, keepdims=True)
    users = np.array([3, 0, 3, 7])
    items = np.random.default_rng(1).integers(0, n_items, (4, 6))
    np.testing.assert_allclose(ease.affinity(users, items), z[users[:, None], items], atol=1e-4)
    np.testing.assert_allclose(ease.affinity(users, items[:, 0]), z[users, items[:, 0]], atol=1e-4)
    # it enters the choice utility with beta_ease
    params = cfg.policy.choice.model_copy(update={"beta_ease": 2.0})
    on = ChoicePolicy(params, world.catalog, world.population, world.taste, child_rng(0, "p"))
    off = ChoicePolicy(cfg.policy.choice, world.catalog, world.population, world.taste, child_rng(0, "p"))
    batch = PageBatch(0, 0, users, items, np.zeros(4, np.float32), np.zeros(4, np.float32))
    np.testing.assert_allclose(on.utilities(batch) - off.utilities(batch), 2.0 * z[users[:, None], items], atol=1e-3)


def test_without_ease_reg_the_world_has_no_ease_term(tmp_path) -> None:
    assert build_world(small_scenario(tmp_path)).taste.ease is None
