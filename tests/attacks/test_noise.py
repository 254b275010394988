"""Natural noise: clickbait appeal and accidental clicks, alone and in the choice policy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simrec.agents.policies.base import Decisions, PageBatch, build_policy
from simrec.agents.policies.choice import ChoicePolicy
from simrec.attacks.noise import ACCIDENTAL, NoiseModel
from simrec.attacks.plan import attack_world, plan_attacks
from simrec.core.rng import child_rng
from simrec.core.streams import PURPOSES, UserStreams
from simrec.data.scale import RatingScale
from simrec.testing import check_policy
from simrec.testing.worlds import tiny_scenario
from simrec.world.attacks import AttackPlan
from simrec.world.build import build_world
from tests.helpers import DECISION_FIELDS as FIELDS
from tests.helpers import assert_splits_decide_alike, small_scenario

WHOLE = RatingScale(1, 5, 1)
HALF = RatingScale(0.5, 5, 0.5)
def rng_uniform(seed: int, n: int):
    rng = np.random.default_rng(seed)
    return lambda name, slots: rng.random((n, slots))


# -- the model alone ---------------------------------------------------------------------


def test_from_plan_is_none_without_noise() -> None:
    assert NoiseModel.from_plan(None, 10, WHOLE) is None
    assert NoiseModel.from_plan(AttackPlan(), 10, WHOLE) is None
    bait = np.array([1, 4])
    assert NoiseModel.from_plan(AttackPlan(clickbait=bait, clickbait_appeal=0.0), 10, WHOLE) is None
    noise = NoiseModel.from_plan(AttackPlan(clickbait=bait, clickbait_appeal=2.0), 10, WHOLE)
    assert noise is not None and noise.has_appeal and not noise.has_accidents
    assert np.flatnonzero(noise.clickbait).tolist() == [1, 4]
    only = NoiseModel.from_plan(AttackPlan(accidental_rate=0.1), 10, WHOLE)
    assert only is not None and only.has_accidents and not only.has_appeal and only.appeal(np.zeros((2, 3), int)) is None
    with pytest.raises(ValueError, match="item indices"):
        NoiseModel.from_plan(AttackPlan(clickbait=np.array([3, 10]), clickbait_appeal=1.0), 10, WHOLE)


def test_appeal_is_added_to_clickbait_slots_only() -> None:
    noise = NoiseModel.from_plan(AttackPlan(clickbait=np.array([2, 7]), clickbait_appeal=1.5), 10, WHOLE)
    items = np.array([[2, 3, 7], [0, 1, 9]])
    appeal = noise.appeal(items)
    assert appeal.dtype == np.float32
    np.testing.assert_array_equal(appeal, [[1.5, 0, 1.5], [0, 0, 0]])
    assert noise.clickbait_counts(items, np.array([[True, True, False], [True, False, False]])) == (2, 1)


@pytest.mark.parametrize("scale", [WHOLE, HALF])
def test_accidental_clicks_follow_rate_and_rated_share(scale: RatingScale) -> None:
    rate, share = 0.15, 0.3
    noise = NoiseModel.from_plan(AttackPlan(accidental_rate=rate, accidental_rated=share), 50, scale)
    n, k = 40_000, 6
    rng = np.random.default_rng(0)
    items = rng.integers(0, 50, (n, k))
    watched = rng.random((n, k)) < 0.3
    watched[:500] = True  # full pages: no accident possible
    ratings = np.where(watched, np.asarray(scale.max, scale.dtype), np.zeros((), scale.dtype)).astype(scale.dtype)
    w0, r0 = watched.copy(), ratings.copy()
    new_w, new_r, count = noise.accidental(np.arange(n), items, watched, ratings, rng_uniform(1, n))
    np.testing.assert_array_equal(watched, w0)  # inputs untouched
    np.testing.assert_array_equal(ratings, r0)
    assert new_r.dtype == scale.dtype
    added = new_w & ~watched
    assert np.all(new_w[watched]) and np.array_equal(new_r[watched], ratings[watched])  # only adds
    per_row = added.sum(axis=1)
    assert per_row.max() == 1 and per_row[:500].sum() == 0 and count == per_row.sum()
    eligible = n - 500 - int(watched[500:].all(axis=1).sum())
    sd = np.sqrt(eligible * rate * (1 - rate))
    assert abs(count - eligible * rate) < 5 * sd, (count, eligible * rate)
    stars = new_r[added]
    assert set(np.unique(stars).tolist()) <= {0.0, float(scale.min)}
    rated = float((stars > 0).mean())
    assert abs(rated - share) < 5 * np.sqrt(share * (1 - share) / count), rated
    # the slot is uniform among the unwatched ones: with none watched, every column gets about 1/k
    cols = added[500:][~watched[500:].any(axis=1)[:, None].repeat(k, 1)].reshape(-1, k).sum(axis=0)
    assert cols.min() > 0.7 * cols.mean(), cols


def test_accidental_clicks_keep_to_eligible_slots_and_draw_nothing_without_a_rate() -> None:
    noise = NoiseModel.from_plan(AttackPlan(accidental_rate=1.0, accidental_rated=1.0), 10, WHOLE)
    n, k = 200, 4
    watched = np.zeros((n, k), bool)
    eligible = np.zeros((n, k), bool)
    eligible[:, 2] = True
    eligible[:50] = False  # no eligible slot at all
    w, r, count = noise.accidental(np.arange(n), np.zeros((n, k), int), watched, np.zeros((n, k), np.int8),
                                   rng_uniform(0, n), eligible)  # fmt: skip
    assert count == n - 50 and w[:, 2].sum() == n - 50 and w.sum() == n - 50 and np.all(r[w] == 1)
    calls: list[tuple[str, int]] = []

    def spy(name: str, slots: int) -> np.ndarray:
        calls.append((name, slots))
        return np.full((n, slots), 0.5)

    silent = NoiseModel.from_plan(AttackPlan(clickbait=np.array([1]), clickbait_appeal=1.0), 10, WHOLE)
    out = silent.accidental(np.arange(n), np.zeros((n, k), int), watched, np.zeros((n, k), np.int8), spy)
    assert out[2] == 0 and not out[0].any() and calls == []
    noise.accidental(np.arange(n), np.zeros((n, k), int), watched, np.zeros((n, k), np.int8), spy)
    assert calls == [(ACCIDENTAL, 3)]


def test_accidental_draws_have_a_stream_code_of_their_own() -> None:
    codes = list(PURPOSES.values())
    assert ACCIDENTAL in PURPOSES and len(set(codes)) == len(codes)


# -- in the choice policy ------------------------------------------------------------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    over = {"robustness.noise.clickbait.items": 30, "robustness.noise.clickbait.appeal": 1.5}
    cfg = small_scenario(tmp_path_factory.mktemp("noise"), **over)
    world = build_world(cfg)
    plan = plan_attacks(cfg, world)
    assert plan is not None and len(plan.clickbait) == 30
    return world, cfg, plan


def policy_on(world, cfg, plan: AttackPlan | None, seed: int = 0, streams: UserStreams | None = None) -> ChoicePolicy:
    policy = build_policy(cfg.policy, dataclasses.replace(world, attacks=plan), child_rng(seed, "policy"))
    assert isinstance(policy, ChoicePolicy)
    policy.streams = streams
    return policy


def pages(world, plan: AttackPlan, reps: int = 20, k: int = 6, bait: int = 2, seed: int = 3) -> PageBatch:
    """Every user ``reps`` times; each page ``bait`` clickbait items among random others, shuffled."""
    rng = np.random.default_rng(seed)
    n_users, n_items = world.population.n_users, world.catalog.n_items
    users = np.tile(np.arange(n_users), reps)
    others = np.setdiff1d(np.arange(n_items), plan.clickbait)
    n = len(users)
    items = np.concatenate([rng.choice(plan.clickbait, (n, bait)), rng.choice(others, (n, k - bait))], axis=1)
    items = np.take_along_axis(items, rng.random((n, k)).argsort(axis=1), axis=1)
    return PageBatch(1, 0, users, items, rng.normal(0, 0.3, n).astype(np.float32), rng.random(n).astype(np.float32))


def test_appeal_raises_clickbait_watches_and_their_stars_are_low(setup) -> None:
    world, cfg, plan = setup
    batch = pages(world, plan)
    bait = np.isin(batch.items, plan.clickbait)
    clean = policy_on(world, cfg, None).decide(batch)
    policy = policy_on(world, cfg, plan)
    noisy = policy.decide(batch).validate(batch)
    rate_clean, rate_noisy = clean.clicks[bait].mean(), noisy.clicks[bait].mean()
    assert rate_noisy > 1.5 * rate_clean, (rate_clean, rate_noisy)
    assert abs(noisy.clicks[~bait].mean() - clean.clicks[~bait].mean()) < 0.05  # the others barely move
    stars_bait = noisy.ratings[bait & noisy.clicks].astype(float)
    stars_other = noisy.ratings[~bait & noisy.clicks].astype(float)
    assert len(stars_bait) > 200 and stars_bait.mean() < stars_other.mean() - 0.3, (stars_bait.mean(), stars_other.mean())
    counts = policy.counters()
    assert counts == {"accidental_watches": 0, "clickbait_impressions": int(bait.sum()),
                      "clickbait_watches": int((bait & noisy.clicks).sum())}  # fmt: skip
    assert policy_on(world, cfg, None).counters() == {}


@pytest.mark.parametrize("keyed", [False, True])
def test_accidents_come_after_choosing_and_rating_and_before_the_mood(setup, keyed: bool) -> None:
    world, cfg, plan = setup
    rate = 0.2
    accidents = dataclasses.replace(plan, clickbait_appeal=0.0, accidental_rate=rate, accidental_rated=0.5)
    streams = UserStreams(9) if keyed else None
    parts, count = [], 0
    for s in range(30):  # each user once a page; a fresh pair of policies a page (the generator draws in order)
        x = dataclasses.replace(pages(world, plan, reps=1, seed=s), step=s)
        clean = policy_on(world, cfg, None, seed=s, streams=streams)
        noisy = policy_on(world, cfg, accidents, seed=s, streams=streams)
        parts.append((clean.decide(x).validate(x), noisy.decide(x).validate(x)))
        count += noisy.counters()["accidental_watches"]
    a, b = (Decisions.concat(list(side)) for side in zip(*parts, strict=True))
    # the choice model's own watches and stars are drawn as without noise; accidents only add
    assert np.all(b.clicks[a.clicks]) and np.array_equal(b.ratings[a.clicks], a.ratings[a.clicks])
    added = b.clicks & ~a.clicks
    assert count == int(added.sum()) and added.sum(axis=1).max() == 1
    n = len(a.exits) - int(a.clicks.all(axis=1).sum())
    assert abs(count - n * rate) < 5 * np.sqrt(n * rate * (1 - rate)), (count, n * rate)
    assert set(np.unique(b.ratings[added]).tolist()) <= {0, int(world.population.scale.min)}
    rated = float((b.ratings[added] > 0).mean())
    assert abs(rated - 0.5) < 5 * np.sqrt(0.25 / count), rated
    low = (b.ratings * added).sum(axis=1) > 0  # a page with a rated accident: a worse mood
    assert low.sum() > 100
    assert np.all(b.satisfaction[low] <= a.satisfaction[low] + 1e-6)
    assert (b.satisfaction[low] < a.satisfaction[low] - 1e-6).mean() > 0.9


@pytest.mark.parametrize("keyed", [False, True])
def test_without_noise_nothing_changes(setup, keyed: bool) -> None:
    world, cfg, plan = setup
    batch = pages(world, plan)
    silent_plan = dataclasses.replace(plan, clickbait_appeal=0.0, accidental_rate=0.0)
    assert not silent_plan.noisy
    streams = UserStreams(5) if keyed else None
    base = policy_on(world, cfg, None, streams=streams)
    silent = policy_on(world, cfg, silent_plan, streams=streams)
    assert silent.noise is None and silent.counters() == {}
    # a noise model that is there but does nothing (appeal 0, rate 0) changes nothing either
    idle = NoiseModel(np.zeros(world.catalog.n_items, bool), 0.0, 0.0, 0.5, world.population.scale)
    direct = ChoicePolicy(base.params, world.catalog, world.population, world.taste, child_rng(0, "policy"),
                          streams=streams, noise=idle)  # fmt: skip
    reference = base.decide(batch)
    for policy in (silent, direct):
        dec = policy.decide(batch)
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(dec, name), getattr(reference, name), err_msg=name)
        assert policy.rng.bit_generator.state == base.rng.bit_generator.state
    np.testing.assert_array_equal(direct.utilities(batch), base.utilities(batch))


def test_with_streams_a_noisy_batch_decides_as_any_split_of_its_rows(setup) -> None:
    world, cfg, plan = setup
    noisy_plan = dataclasses.replace(plan, accidental_rate=0.3, accidental_rated=0.5)
    policy = policy_on(world, cfg, noisy_plan, streams=UserStreams(21))
    rng = np.random.default_rng(4)
    batch = pages(world, plan, reps=1, seed=7)
    batch = dataclasses.replace(batch, users=rng.permutation(batch.users))  # each user once, shuffled
    before = policy.rng.bit_generator.state
    whole = policy.decide(batch).validate(batch)
    assert policy.rng.bit_generator.state == before
    assert policy.counters()["accidental_watches"] > 20
    assert_splits_decide_alike(policy, batch, whole, rng, tries=3)


def test_check_policy_passes_with_noise_on() -> None:
    over = ["robustness.noise.clickbait.items=4", "robustness.noise.clickbait.appeal=2",
            "robustness.noise.accidental.rate=0.5"]  # fmt: skip
    cfg = tiny_scenario(0, over)
    world = attack_world(cfg, build_world(cfg))
    assert world.attacks is not None and world.attacks.noisy
    check_policy(ChoicePolicy, world)
    policy = build_policy(cfg.policy, world, child_rng(0, "policy"))
    assert isinstance(policy, ChoicePolicy) and policy.noise is not None and policy.noise.has_appeal
    check_policy(policy, world)
    assert set(policy.counters()) == {"accidental_watches", "clickbait_impressions", "clickbait_watches"}
    assert policy.counters()["accidental_watches"] > 0


def test_accidents_never_hit_a_slot_the_policy_rules_out(setup) -> None:
    from simrec.env.gym_seen import OnceChoicePolicy, SeenPageBatch

    world, cfg, plan = setup
    always = dataclasses.replace(plan, accidental_rate=1.0, accidental_rated=1.0)
    policy = OnceChoicePolicy.from_world(cfg.policy, dataclasses.replace(world, attacks=always), child_rng(0, "policy"))
    batch = pages(world, plan, reps=5)
    seen = np.random.default_rng(2).random(batch.items.shape) < 0.5
    dec = policy.decide(SeenPageBatch(**{f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}, seen=seen))
    assert not dec.clicks[seen].any() and policy.counters()["accidental_watches"] > 0.9 * len(batch)
