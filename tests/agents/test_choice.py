"""The choice-model policy on a world built for the test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simrec.agents.policies.base import PageBatch, build_policy
from simrec.config.schema import ChoiceParams
from simrec.core.rng import child_rng
from simrec.world.build import build_world
from tests.helpers import assert_splits_decide_alike, small_scenario


@pytest.fixture(scope="module")
def world_and_cfg(tmp_path_factory: pytest.TempPathFactory):
    cfg = small_scenario(tmp_path_factory.mktemp("choice"))
    return build_world(cfg), cfg


def make_policy(world, cfg, seed: int = 0, **params):
    cfg = cfg.model_copy(deep=True)
    cfg.policy.choice = ChoiceParams(**{**cfg.policy.choice.model_dump(), **params})
    return build_policy(cfg.policy, world, child_rng(seed, "policy"))


def batch_for(world, users: np.ndarray, items: np.ndarray, fatigue: float = 0.0) -> PageBatch:
    n = len(users)
    return PageBatch(1, 0, users, items, np.zeros(n, np.float32), np.full(n, fatigue, np.float32))


def best_and_worst(world, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    all_items = np.broadcast_to(np.arange(world.catalog.n_items), (len(users), world.catalog.n_items))
    aff = world.taste.affinity(users, all_items)
    order = np.argsort(-aff, axis=1)
    return order[:, :k], order[:, -k:]


def test_decisions_are_consistent(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    policy = make_policy(world, cfg)
    users = np.arange(world.population.n_users)
    items = np.random.default_rng(1).integers(world.catalog.n_items, size=(len(users), 5))
    batch = batch_for(world, users, items)
    dec = policy.decide(batch).validate(batch)
    assert dec.clicks.dtype == bool
    assert set(np.unique(dec.ratings[dec.clicks])) <= {1, 2, 3, 4, 5}
    assert np.all(dec.ratings[~dec.clicks] == 0)


def test_users_watch_what_they_like_more(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    policy = make_policy(world, cfg)
    users = np.repeat(np.arange(world.population.n_users), 5)
    best, worst = best_and_worst(world, users, 5)
    ctr_best = policy.decide(batch_for(world, users, best)).clicks.mean()
    ctr_worst = policy.decide(batch_for(world, users, worst)).clicks.mean()
    assert ctr_best > 3 * ctr_worst, (ctr_best, ctr_worst)


def test_fatigue_and_position_lower_clicks(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    policy = make_policy(world, cfg)
    users = np.repeat(np.arange(world.population.n_users), 10)
    items = np.random.default_rng(2).integers(world.catalog.n_items, size=(len(users), 8))
    rested = policy.decide(batch_for(world, users, items, 0.0)).clicks
    tired = policy.decide(batch_for(world, users, items, 3.0)).clicks
    assert tired.mean() < rested.mean()
    first, last = rested[:, 0].mean(), rested[:, -1].mean()
    assert first > last, (first, last)


def test_ratings_follow_each_users_habits(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    policy = make_policy(world, cfg)
    # Rate every user's own training items many times: the star distribution per
    # user should track their own history (a harsh rater stays harsh).
    train = world.train
    users = np.repeat(train.user, 20).astype(np.int64)
    items = np.repeat(train.item, 20).astype(np.int64)[:, None]
    stars = policy.rate(users, items, np.ones_like(items, dtype=bool))[:, 0].astype(float)
    sim_mean = np.bincount(users, weights=stars) / np.maximum(np.bincount(users), 1)
    real_mean = np.bincount(train.user, weights=train.rating) / np.maximum(np.bincount(train.user), 1)
    has = np.bincount(train.user, minlength=world.population.n_users) >= 5
    corr = np.corrcoef(sim_mean[has], real_mean[has])[0, 1]
    assert corr > 0.6, corr
    # and the overall distribution is close to the real one
    real = np.bincount(train.rating.astype(int), minlength=6)[1:] / len(train)
    sim = np.bincount(stars.astype(int), minlength=6)[1:] / len(stars)
    assert np.abs(real - sim).max() < 0.05, (real, sim)


def test_bad_mood_and_impatience_make_users_leave(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    policy = make_policy(world, cfg)
    users = np.repeat(np.arange(world.population.n_users), 20)
    fat = np.zeros(len(users), np.float32)
    happy = policy.leave(users, np.full(len(users), 1.0, np.float32), fat).mean()
    sad = policy.leave(users, np.full(len(users), -1.0, np.float32), fat).mean()
    assert sad > happy + 0.1, (sad, happy)
    pop = world.population
    patient = users[pop.patience[users] > 0.7]
    impatient = users[pop.patience[users] < 0.3]
    zero = np.zeros(len(patient), np.float32)
    p_leave = policy.leave(patient, zero, zero).mean()
    zero2 = np.zeros(len(impatient), np.float32)
    i_leave = policy.leave(impatient, zero2, zero2).mean()
    assert i_leave > p_leave, (i_leave, p_leave)


def test_empty_page_lowers_mood(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    policy = make_policy(world, cfg)
    users = np.arange(10)
    batch = batch_for(world, users, np.zeros((10, 5), np.int64))
    none = np.zeros((10, 5), bool)
    sat, fat = policy.feel(batch, none, np.zeros((10, 5), np.int8))
    assert np.all(sat < 0) and np.all(fat > 0)


def test_same_seed_same_decisions(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    users = np.arange(world.population.n_users)
    items = np.random.default_rng(3).integers(world.catalog.n_items, size=(len(users), 5))
    a = make_policy(world, cfg, seed=5).decide(batch_for(world, users, items))
    b = make_policy(world, cfg, seed=5).decide(batch_for(world, users, items))
    c = make_policy(world, cfg, seed=6).decide(batch_for(world, users, items))
    assert np.array_equal(a.clicks, b.clicks) and np.array_equal(a.ratings, b.ratings)
    assert not np.array_equal(a.clicks, c.clicks)


def test_friends_pull_adds_beta_social_times_conformity(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    users = np.arange(20)
    items = np.tile(np.arange(5), (20, 1))
    pull = np.zeros((20, 5), np.float32)
    pull[:, 2] = 1.5
    policy = make_policy(world, cfg, beta_social=2.0)
    base = policy.utilities(batch_for(world, users, items))
    with_pull = dataclasses.replace(batch_for(world, users, items), social=pull)
    diff = policy.utilities(with_pull) - base
    expected = 2.0 * world.population.conformity[users][:, None] * pull
    np.testing.assert_allclose(diff, expected, rtol=1e-5, atol=1e-6)
    assert diff[:, 2].min() > 0 and np.all(diff[:, [0, 1, 3, 4]] == 0)


def test_zero_choice_noise_watches_exactly_what_beats_the_outside_option(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    policy = make_policy(world, cfg, choice_noise=0.0)
    users = np.arange(50)
    items = np.random.default_rng(4).integers(0, world.catalog.n_items, (50, 5))
    batch = batch_for(world, users, items)
    dec = policy.decide(batch)
    expected = policy.utilities(batch) > policy.params.outside_utility
    np.testing.assert_array_equal(dec.clicks, expected)
    assert 0 < expected.sum() < expected.size


def test_cuts_mode_cuts_the_predicted_rating(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    cuts = (2.0, 3.0, 3.6, 4.2)
    policy = make_policy(world, cfg, rating_mode="cuts", star_cuts=cuts, rating_noise=0.0)
    users = np.arange(40)
    items = np.random.default_rng(5).integers(0, world.catalog.n_items, (40, 4))
    watched = np.ones(items.shape, bool)
    watched[:, 3] = False
    stars = policy.rate(users, items, watched)
    pred = world.taste.rating.predict(users, items)
    expected = 1 + (pred[..., None] > np.asarray(cuts, np.float32)).sum(axis=-1)
    np.testing.assert_array_equal(stars[:, :3], expected[:, :3])
    assert (stars[:, 3] == 0).all()
    assert len(np.unique(stars[:, :3])) > 1


# -- per-user random streams -----------------------------------------------------------


def _streams_batch(world, step: int = 2, page: int = 1, k: int = 6) -> PageBatch:
    rng = np.random.default_rng(11)
    n = world.population.n_users
    users = rng.permutation(n)
    items = np.stack([rng.choice(world.catalog.n_items, k, replace=False) for _ in range(n)])
    social = rng.random((n, k)).astype(np.float32) * (rng.random((n, k)) < 0.3)
    return PageBatch(step, page, users, items, rng.normal(0, 0.3, n).astype(np.float32),
                     rng.random(n).astype(np.float32), social=social)  # fmt: skip


@pytest.mark.parametrize("params", [
    {},
    {"picks": "page", "rate_probability": 0.6, "beta_social": 1.0},
    {"rating_mode": "cuts", "rate_probability": 0.8, "rating_noise": 0.7},
])  # fmt: skip
def test_with_streams_a_batch_decides_as_any_split_of_its_rows(world_and_cfg, params) -> None:
    from simrec.core.streams import UserStreams

    world, cfg = world_and_cfg
    policy = make_policy(world, cfg, **params)
    policy.streams = UserStreams(77)
    batch = _streams_batch(world)
    whole = policy.decide(batch).validate(batch)
    assert 0 < whole.clicks.mean() < 1 and 0 < whole.exits.mean() < 1
    assert_splits_decide_alike(policy, batch, whole, np.random.default_rng(5), tries=4)


def test_without_streams_a_split_batch_draws_differently(world_and_cfg) -> None:
    world, cfg = world_and_cfg
    batch = _streams_batch(world)
    whole = make_policy(world, cfg, seed=8).decide(batch)
    policy = make_policy(world, cfg, seed=8)
    n = len(batch)
    halves = [policy.decide(batch.take(rows)).clicks for rows in (np.arange(n // 2, n), np.arange(n // 2))]
    assert not np.array_equal(np.concatenate(halves[::-1]), whole.clicks)


def test_streams_leave_the_generator_alone_and_follow_the_key(world_and_cfg) -> None:
    from simrec.core.streams import UserStreams

    world, cfg = world_and_cfg
    policy = make_policy(world, cfg, seed=4, rate_probability=0.7)
    policy.streams = UserStreams(3)
    before = policy.rng.bit_generator.state
    batch = _streams_batch(world)
    a = policy.decide(batch)
    assert policy.rng.bit_generator.state == before
    np.testing.assert_array_equal(policy.decide(batch).clicks, a.clicks)
    for other in (dataclasses.replace(batch, step=3), dataclasses.replace(batch, page=2)):
        assert not np.array_equal(policy.decide(other).clicks, a.clicks)
    policy.streams = UserStreams(4)
    assert not np.array_equal(policy.decide(batch).clicks, a.clicks)


def test_streams_and_the_generator_agree_in_distribution(world_and_cfg) -> None:
    from simrec.core.streams import UserStreams

    world, cfg = world_and_cfg
    keyed = make_policy(world, cfg, rate_probability=0.7)
    keyed.streams = UserStreams(12)
    plain = make_policy(world, cfg, rate_probability=0.7)
    clicks, rated, exits = [], [], []
    for policy in (keyed, plain):
        decs = [policy.decide(_streams_batch(world, step=s)) for s in range(30)]
        clicks.append(np.mean([d.clicks.mean() for d in decs]))
        rated.append(np.mean([(d.ratings > 0).sum() / max(d.clicks.sum(), 1) for d in decs]))
        exits.append(np.mean([d.exits.mean() for d in decs]))
    assert abs(clicks[0] - clicks[1]) < 0.02, clicks
    assert abs(rated[0] - rated[1]) < 0.03, rated
    assert abs(exits[0] - exits[1]) < 0.03, exits


def test_streams_need_the_key(world_and_cfg) -> None:
    from simrec.core.streams import UserStreams

    world, cfg = world_and_cfg
    policy = make_policy(world, cfg)
    policy.streams = UserStreams(1)
    batch = _streams_batch(world)
    util = policy.utilities(batch)
    with pytest.raises(ValueError, match="keyed per user"):
        policy.choose(util)
    with pytest.raises(ValueError, match="keyed per user"):
        policy.leave(batch.users, batch.satisfaction, batch.fatigue)
    keyed = policy.choose(util, batch.users, step=batch.step, page=batch.page)
    np.testing.assert_array_equal(keyed, policy.decide(batch).clicks)


def test_build_policy_hands_streams_to_choice_policies_only(world_and_cfg) -> None:
    from simrec.core.errors import ConfigError
    from simrec.core.streams import UserStreams

    world, cfg = world_and_cfg
    streams = UserStreams(5)
    assert build_policy(cfg.policy, world, child_rng(0, "policy"), streams=streams).streams == streams
    assert build_policy(cfg.policy, world, child_rng(0, "policy")).streams is None
    llm_cfg = cfg.policy.model_copy(update={"name": "llm"})
    with pytest.raises(ConfigError, match="random_streams"):
        build_policy(llm_cfg, world, child_rng(0, "policy"), streams=streams)
