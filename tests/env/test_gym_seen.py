"""The once-per-user rule: seen items from the training log, and a choice model that skips them."""

from __future__ import annotations

import numpy as np

from simrec.agents.policies.base import PageBatch
from simrec.agents.policies.choice import ChoicePolicy
from simrec.data.types import Interactions
from simrec.env.gym import resolve_scenario
from simrec.env.gym_seen import OnceChoicePolicy, SeenPageBatch, set_rows, train_seen
from simrec.world.build import build_world


def test_train_seen_and_set_rows() -> None:
    train = Interactions(
        user=np.array([0, 0, 2, 0], np.int32),
        item=np.array([3, 1, 4, 3], np.int32),  # a repeat of (0, 3)
        rating=np.array([4, 5, 3, 2], np.float32),
        timestamp=np.arange(4, dtype=np.int64),
    )
    m = train_seen(train, 3, 5)
    assert m.shape == (3, 5) and m.toarray().tolist() == [
        [False, True, False, True, False],
        [False] * 5,
        [False, False, False, False, True],
    ]
    seen = np.ones((4, 5), bool)
    set_rows(seen, np.array([3, 0]), m, np.array([2, 1]))
    assert np.flatnonzero(seen[3]).tolist() == [4] and not seen[0].any() and seen[1:3].all()


def test_a_seen_slot_is_never_watched_and_unseen_draws_match_the_choice_model() -> None:
    cfg = resolve_scenario(None)
    world = build_world(cfg)
    n, k = 400, 5
    users = np.arange(n) % world.population.n_users
    # each user's five best items by hidden taste: watched often
    best = np.argsort(-world.taste.affinity(users, np.arange(300)[None, :].repeat(n, 0)), axis=1)
    items = np.ascontiguousarray(best[:, :k])
    zeros = np.zeros(n, np.float32)
    plain = PageBatch(0, 0, users, items, zeros, zeros)
    seen = np.zeros((n, k), bool)
    seen[:, 0] = seen[::2, 3] = True

    def decide(cls: type[ChoicePolicy], batch: PageBatch):  # the same draws for every policy
        return cls.from_world(cfg.policy, world, np.random.default_rng(7)).decide(batch)

    base = decide(ChoicePolicy, plain)
    assert base.clicks[:, 0].mean() > 0.3  # the slot to be skipped is one users like
    for batch in (plain, SeenPageBatch(0, 0, users, items, zeros, zeros, seen=None)):
        same = decide(OnceChoicePolicy, batch)
        assert np.array_equal(same.clicks, base.clicks)
        assert np.array_equal(same.ratings, base.ratings)
    once = decide(OnceChoicePolicy, SeenPageBatch(0, 0, users, items, zeros, zeros, seen=seen))
    assert not once.clicks[seen].any() and not once.ratings[seen].any()
    # picks: fixed judges each item against one outside draw: the unseen slots as before
    assert np.array_equal(once.clicks[~seen], base.clicks[~seen])
    assert once.clicks.sum() < base.clicks.sum()
