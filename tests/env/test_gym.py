"""The Gymnasium environment: API conformance, seeding, public observations, rewards, vector env."""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.vector import AutoresetMode

from simrec.config import load_scenario
from simrec.env.gym import DEFAULT_SCENARIO, ENV_ID, RecEnv, register_envs
from simrec.env.gym_vector import RecVectorEnv
from simrec.world.build import World, build_world

OBS_KEYS = {"user", "history", "ratings", "page", "session"}
INFO_KEYS = {
    "clicks", "ratings", "exit", "session_end", "returned", "days", "replaced", "shown", "seen"
}  # fmt: skip
PAGE_KEYS = INFO_KEYS - {"replaced"}


@contextmanager
def strict() -> Iterator[None]:
    """Every warning becomes an error (Gymnasium's checkers report through warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield



def train_items(world: World, user: int) -> set[int]:
    """The items of ``user``'s training history (seen before the episode)."""
    return set(world.train.item[world.train.user == user].tolist())


def rollout(env: RecEnv, seed: int, actions: np.ndarray) -> list:
    """(obs, reward, terminated, truncated, info) per step of one seeded episode with fixed actions."""
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        step = env.step(a)
        out.append(step)
        if step[2] or step[3]:
            break
    return out


def episode_rewards(
    env: RecEnv, seed: int, slate: np.ndarray | None = None, **reset: object
) -> list[float]:
    env.reset(seed=seed, **reset)
    rewards = []
    for _ in range(200):
        _, r, term, trunc, _ = env.step(slate if slate is not None else env.action_space.sample())
        rewards.append(r)
        if term or trunc:
            return rewards
    raise AssertionError("episode did not end")


# --- API conformance ---------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reward": "rating"},
        {"reward": "watch"},
        {"reward": "return", "horizon": "sessions", "sessions": 3},
        {"action": "item"},
        {"observation": "onehot"},
        {"action": "item", "observation": "onehot", "reward": "return", "horizon": "sessions"},
    ],
)
def test_check_env_passes_without_warnings(world: World, kwargs: dict) -> None:
    env = RecEnv(world=world, **kwargs)
    with strict():
        check_env(env.unwrapped, skip_render_check=True)


def test_check_env_through_make_and_passive_checker(world: World) -> None:
    with strict():
        env = gymnasium.make(ENV_ID, world=world, horizon="sessions", sessions=2)
        assert isinstance(env.unwrapped, RecEnv)
        check_env(env.unwrapped, skip_render_check=True)  # with a spec: also the close check
        env.action_space.seed(0)
        episode_rewards(env, seed=1)  # type: ignore[arg-type]  # wrapped: PassiveEnvChecker on every call
        env.close()
        other = gymnasium.make("simrec.env.gym:simrec/RecEnv-v0", world=world)
        assert isinstance(other.unwrapped, RecEnv)


def test_registration_is_idempotent() -> None:
    with strict():
        register_envs()
        register_envs()
    spec = gymnasium.spec(ENV_ID)
    assert spec.entry_point == "simrec.env.gym:RecEnv"
    assert spec.vector_entry_point == "simrec.env.gym_vector:RecVectorEnv"


def test_package_import_does_not_register() -> None:
    code = (
        "import sys, simrec, simrec.env, simrec.env.model, simrec.env.runner, simrec.cli\n"
        "assert 'simrec.env.gym' not in sys.modules and 'simrec.env.gym_vector' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_invalid_use_raises(world: World) -> None:
    env = RecEnv(world=world)
    with pytest.raises(RuntimeError):
        env.step(np.zeros(5, np.int64))
    env.reset(seed=0)
    for bad in (
        np.full(5, 300),
        np.array([-1, 0, 1, 2, 3]),
        np.zeros(4, np.int64),
        np.zeros(5) + 0.5,
    ):
        with pytest.raises(ValueError):
            env.step(bad)
    with pytest.raises(ValueError):
        env.reset(options={"user": 200})
    with pytest.raises(ValueError):
        RecEnv(world=world, reward="return")  # needs horizon="sessions"
    with pytest.raises(ValueError):
        RecEnv(world=world, reward="likes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="action must be one of"):
        RecEnv(world=world, action="page")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="observation must be one of"):
        RecEnv(world=world, observation="embedding")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="action='item'"):
        env.action_masks()
    item = RecEnv(world=world, action="item")
    item.reset(seed=0)
    for bad in (300, -1, np.zeros(5, np.int64), 1.5):
        with pytest.raises(ValueError):
            item.step(bad)


def test_scenario_overrides_shape_the_spaces() -> None:
    env = RecEnv(
        overrides=["environment.page_size=3", "environment.pages_per_session=2"], history=7
    )
    assert env.action_space.shape == (3,)
    assert env.observation_space["history"].shape == (7,)
    assert (
        env.observation_space["page"].n == 3
    )  # 0..pages_per_session (the last only when the session ended)
    cfg = load_scenario(data=copy.deepcopy(DEFAULT_SCENARIO))
    assert RecEnv(
        cfg, overrides=["environment.page_size=4"], world=env.world
    ).action_space.shape == (4,)


# --- seeding -------------------------------------------------------------------


def test_same_seed_same_actions_same_trajectory(world: World) -> None:
    actions = np.random.default_rng(0).integers(0, 300, size=(30, 5))
    for kwargs in ({}, {"reward": "return", "horizon": "sessions"}):
        a = rollout(RecEnv(world=world, **kwargs), 11, actions)
        b = rollout(RecEnv(world=world, **kwargs), 11, actions)
        assert data_equivalence(a, b, exact=True)


def test_different_seeds_differ(world: World) -> None:
    env = RecEnv(world=world)
    actions = np.random.default_rng(0).integers(0, 300, size=(10, 5))
    assert len({int(env.reset(seed=seed)[0]["user"]) for seed in range(5)}) > 1
    # the same user and slates under different seeds: the choices differ somewhere
    outcomes = {
        str([s[4]["clicks"].tolist() for s in rollout_user(env, seed, 7, actions)])
        for seed in range(20)
    }
    assert len(outcomes) > 1


def rollout_user(env: RecEnv, seed: int, user: int, actions: np.ndarray) -> list:
    env.reset(seed=seed, options={"user": user})
    out = []
    for a in actions:
        out.append(env.step(a))
        if out[-1][2] or out[-1][3]:
            break
    return out


# --- public observations ------------------------------------------------------------


def test_observation_is_public_and_in_space(world: World) -> None:
    env = RecEnv(world=world, horizon="sessions", sessions=2)
    obs, info = env.reset(seed=3)
    assert set(obs) == OBS_KEYS and info == {}
    assert obs in env.observation_space
    u = int(obs["user"])
    train = world.train
    mine = train.item[train.user == u]
    real = obs["history"][obs["history"] < 300]
    assert set(real.tolist()) <= set(mine.tolist()) and len(real) == min(len(mine), 20)
    done = False
    while not done:
        slate = env.action_space.sample()
        obs, _, term, trunc, info = env.step(slate)
        done = term or trunc
        assert set(obs) == OBS_KEYS and obs in env.observation_space
        assert set(info) <= INFO_KEYS
        watched = slate[info["clicks"]]
        if len(watched) and not info["session_end"]:
            assert obs["history"][-len(watched) :].tolist() == watched[-20:].tolist()
            assert (
                obs["ratings"][-len(watched) :].tolist() == info["ratings"][info["clicks"]].tolist()
            )


def test_observation_independent_of_hidden_traits() -> None:
    cfgs = [
        load_scenario(
            data=copy.deepcopy(DEFAULT_SCENARIO), overrides=[f"agents.traits.from_data={w}"]
        )
        for w in (0.0, 1.0)
    ]
    worlds = [build_world(c) for c in cfgs]
    assert not np.allclose(worlds[0].population.patience, worlds[1].population.patience)
    envs = [RecEnv(c, world=w) for c, w in zip(cfgs, worlds, strict=True)]
    for seed in range(10):
        a, b = (e.reset(seed=seed)[0] for e in envs)
        assert data_equivalence(a, b, exact=True)
    a, b = (e.reset(seed=0, options={"user": 17})[0] for e in envs)
    assert data_equivalence(a, b, exact=True) and int(a["user"]) == 17


# --- rewards -----------------------------------------------------------------------------


def test_best_items_by_hidden_taste_earn_more_clicks(world: World) -> None:
    env = RecEnv(world=world)
    items = np.arange(world.catalog.n_items)[None, :]
    best, worst = [], []
    for seed in range(100):
        u = int(env.reset(seed=seed)[0]["user"])
        order = np.argsort(world.taste.affinity(np.array([u]), items)[0])
        best += episode_rewards(env, seed, order[::-1][:5].copy())
        worst += episode_rewards(env, seed, order[:5].copy())
    assert np.mean(best) > np.mean(worst) + 0.2


def test_rewards_match_the_decisions(world: World) -> None:
    envs = {name: RecEnv(world=world, reward=name) for name in ("click", "rating", "watch")}
    slate = np.array([3, 10, 42, 99, 150])
    for seed in range(10):
        steps = {name: rollout(env, seed, [slate] * 10)[1:] for name, env in envs.items()}
        for c, r, w in zip(steps["click"], steps["rating"], steps["watch"], strict=True):
            assert (
                c[1] == c[4]["clicks"].sum()
                and r[1] == c[4]["ratings"].sum()
                and w[1] == float(c[4]["clicks"].any())
            )


def test_repeats_are_replaced_by_the_most_popular_items_not_on_the_page(world: World) -> None:
    env = RecEnv(world=world)
    popular = np.argsort(-world.catalog.popularity, kind="stable")
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        seen = train_items(world, int(obs["user"]))
        slate = np.array([popular[1], 7, popular[1], 7, 7])
        _, reward, *_, info = env.step(slate)
        # the replacements: the most popular items neither on the page nor seen by the user
        others = [i for i in popular.tolist() if i not in (popular[1], 7) and i not in seen]
        assert info["shown"].tolist() == [popular[1], 7, *others[:3]]
        assert info["replaced"] == 3 and reward == info["clicks"].sum()
        assert info["seen"] == len(seen & {int(popular[1]), 7})
    env.reset(seed=0)
    *_, info = env.step(np.array([3, 10, 42, 99, 150]))
    assert info["replaced"] == 0 and info["shown"].tolist() == [3, 10, 42, 99, 150]


def test_sessions_horizon_with_return_reward(world: World) -> None:
    env = RecEnv(world=world, reward="return", horizon="sessions", sessions=3)
    endings = set()
    for seed in range(60):
        obs, _ = env.reset(seed=seed)
        while True:
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            assert r in (0.0, 1.0) and obs in env.observation_space
            assert r == float(info["returned"]) and (not info["returned"] or info["session_end"])
            assert not info["session_end"] or trunc or term or obs["page"] == 0
            if term or trunc:
                break
        endings.add("truncated" if trunc else "terminated")
        assert not (term and trunc)
        assert (trunc and obs["session"] == 3) or (term and not info["returned"])
    assert endings == {"terminated", "truncated"}


# --- an item counts once per user ------------------------------------------------------


def test_a_seen_item_is_never_watched_again(world: World) -> None:
    # seen: the training history, then every watch of the episode (across its sessions)
    env = RecEnv(world=world, horizon="sessions", sessions=3)
    popular = np.argsort(-world.catalog.popularity, kind="stable")
    rng = np.random.default_rng(0)
    skipped = watched_again = 0
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        seen = train_items(world, int(obs["user"]))
        done = False
        while not done:
            slate = popular[:5] if seed % 2 else rng.choice(300, 5, replace=False)
            obs, reward, term, trunc, info = env.step(slate)
            done = term or trunc
            was_seen = np.array([i in seen for i in info["shown"].tolist()])
            assert info["seen"] == was_seen.sum() and reward == info["clicks"].sum()
            assert not (info["clicks"] & was_seen).any() and not info["ratings"][was_seen].any()
            skipped += info["seen"]
            watched_again += int(np.isin(info["shown"][info["clicks"]], list(seen)).sum())
            seen |= set(info["shown"][info["clicks"]].tolist())
    assert skipped > 50 and watched_again == 0


def test_the_same_top_five_every_page_earns_no_more_than_paging_the_ranking(
    world: World,
) -> None:
    # the exploit of a choice model that rewatches: without the rule, the same 5 most popular
    # items on every page earn 4.50 watches an episode here, paging the ranking 3.69
    env = RecEnv(world=world)
    popular = np.argsort(-world.catalog.popularity, kind="stable")

    def watches(page_slate: Callable[[int], np.ndarray]) -> float:
        total = 0.0
        for seed in range(100):
            env.reset(seed=seed)
            for page in range(4):
                _, reward, term, trunc, _ = env.step(page_slate(page))
                total += reward
                if term or trunc:
                    break
        return total / 100

    same = watches(lambda page: popular[:5])
    paging = watches(lambda page: popular[5 * page : 5 * page + 5])
    # seen: same 1.83, paging 2.73
    assert same < paging


def test_the_mask_is_never_all_false_for_a_user_who_has_seen_every_item() -> None:
    # 10 items, up to 5 of them in a training history: a long episode sees them all
    env = RecEnv(
        overrides=["environment.data.n_items=10"], action="item", horizon="sessions", sessions=5
    )
    train = env.world.train
    fallbacks = 0
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        seen = set(train.item[train.user == obs["user"]].tolist())
        done = False
        while not done:
            mask = info["action_mask"]
            placed = set(obs["slate"][: obs["slot"]].tolist())
            assert mask.any() and not mask[list(placed)].any()
            if seen | placed == set(range(10)):  # nothing fresh left: the unplaced items
                assert np.flatnonzero(mask).tolist() == sorted(set(range(10)) - placed)
                fallbacks += 1
            else:
                assert np.flatnonzero(~mask).tolist() == sorted(seen | placed)
            obs, _, term, trunc, info = env.step(int(np.flatnonzero(mask)[0]))
            done = term or trunc
            if "clicks" in info:
                seen |= set(info["shown"][info["clicks"]].tolist())
    assert fallbacks > 0


# --- item actions ---------------------------------------------------------------------


def test_item_actions_fill_the_page_and_play_it_as_a_slate(world: World) -> None:
    slate_env, item_env = RecEnv(world=world), RecEnv(world=world, action="item")
    rng = np.random.default_rng(3)
    pages = np.array([rng.choice(300, 5, replace=False) for _ in range(8)])  # no repeats
    played = 0
    for seed in range(6):
        sobs, _ = slate_env.reset(seed=seed)
        iobs, info = item_env.reset(seed=seed)
        seen = train_items(world, int(iobs["user"]))  # masked too: an item counts once
        assert iobs["slot"] == 0 and (iobs["slate"] == 300).all()
        assert np.flatnonzero(~info["action_mask"]).tolist() == sorted(seen)
        for page in pages:
            for j, item in enumerate(page):
                iobs, r, term, trunc, info = item_env.step(int(item))
                assert np.array_equal(info["action_mask"], item_env.action_masks())
                if j < 4:
                    assert (r, term, trunc) == (0.0, False, False)
                    assert set(info) == {"replaced", "action_mask"} and info["replaced"] == 0
                    assert iobs["slot"] == j + 1
                    assert iobs["slate"][: j + 1].tolist() == page[: j + 1].tolist()
                    masked = seen | set(page[: j + 1].tolist())
                    assert np.flatnonzero(~info["action_mask"]).tolist() == sorted(masked)
            sobs, sr, sterm, strunc, sinfo = slate_env.step(page)
            assert (r, term, trunc) == (sr, sterm, strunc)
            assert info["seen"] == len(seen & set(page.tolist()))
            seen |= set(page[info["clicks"]].tolist())  # watched: seen from now on
            assert iobs["slot"] == 0
            assert np.flatnonzero(~info["action_mask"]).tolist() == sorted(seen)
            assert data_equivalence({k: info[k] for k in sinfo}, sinfo, exact=True)
            assert data_equivalence({k: iobs[k] for k in sobs}, sobs, exact=True)
            played += 1
            if term or trunc:
                break
    assert played > 6


def test_item_action_repeat_is_replaced_by_the_most_popular_item_not_on_the_page(
    world: World,
) -> None:
    env = RecEnv(world=world, action="item")
    obs, _ = env.reset(seed=0)
    seen = train_items(world, int(obs["user"]))
    # the most popular items the user has not seen (the replacements), most popular first
    popular = [i for i in np.argsort(-world.catalog.popularity, kind="stable") if i not in seen]
    obs, *_, info = env.step(int(popular[0]))
    obs, *_, info = env.step(int(popular[0]))  # a repeat: takes popular[1]
    assert info["replaced"] == 1 and obs["slate"][:2].tolist() == popular[:2]
    obs, *_, info = env.step(int(popular[0]))  # a repeat again: takes popular[2]
    assert info["replaced"] == 1 and obs["slate"][:3].tolist() == popular[:3]
    assert np.flatnonzero(~info["action_mask"]).tolist() == sorted(seen | set(popular[:3]))
    env.step(int(popular[10]))
    *_, info = env.step(int(popular[1]))  # the last slot: the page is played
    assert info["replaced"] == 1 and len(set(info["shown"].tolist())) == 5
    assert info["shown"].tolist() == [*popular[:3], popular[10], popular[3]]
    assert info["seen"] == 0


def test_vector_env_item_actions_and_masks(world: World) -> None:
    venv = RecVectorEnv(3, world=world, action="item")
    assert venv.action_space.shape == (3,) and venv.single_action_space.n == 300
    obs, info = venv.reset(seed=0)
    seen = [train_items(world, u) for u in obs["user"].tolist()]
    assert info["action_mask"].shape == (3, 300)
    assert [np.flatnonzero(~m).tolist() for m in info["action_mask"]] == [sorted(s) for s in seen]
    obs, rew, *_, info = venv.step(np.array([4, 4, 9]))
    assert obs["slot"].tolist() == [1, 1, 1] and not rew.any()
    assert np.flatnonzero(~venv.action_masks()[0]).tolist() == sorted(seen[0] | {4})
    assert np.array_equal(info["action_mask"], venv.action_masks()) and "clicks" not in info
    for _ in range(4):
        obs, rew, _, _, info = venv.step(np.array([4, 4, 9]))
    assert info["_clicks"].all() and info["replaced"].tolist() == [1, 1, 1]  # this step's slot
    assert all(len(set(row)) == 5 for row in info["shown"].tolist())


# --- vector environment -------------------------------------------------------------


def test_vector_env_shapes_and_autoreset(world: World) -> None:
    venv = RecVectorEnv(8, world=world)
    assert venv.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert venv.action_space.shape == (8, 5) and venv.single_action_space.shape == (5,)
    obs, info = venv.reset(seed=0)
    assert set(obs) == OBS_KEYS and obs in venv.observation_space and info == {}
    assert obs["history"].shape == (8, 20) and obs["ratings"].dtype == np.float32
    calls = []
    policy = venv.core.bind(venv.np_random).policy  # the engine's policy draws from the env's generator
    decide = policy.decide
    policy.decide = lambda batch: calls.append(len(batch)) or decide(batch)  # type: ignore[method-assign]
    venv.action_space.seed(0)
    done_before = np.zeros(8, bool)
    for _ in range(25):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
        assert obs in venv.observation_space and rew.shape == term.shape == trunc.shape == (8,)
        # the step after an episode ended is a reset: no reward, no decision, fresh episode
        assert np.all(rew[done_before] == 0) and not np.any((term | trunc)[done_before])
        assert np.all(obs["page"][done_before] == 0) and np.all(obs["session"][done_before] == 0)
        if "_clicks" in info:
            assert np.array_equal(info["_clicks"], ~done_before)
        done_before = term | trunc
    assert len(calls) == 25 and all(0 < n <= 8 for n in calls)  # one batched decision per step


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reward": "return", "horizon": "sessions", "sessions": 2},
        {"action": "item", "horizon": "sessions", "sessions": 2},
    ],
)
def test_vector_of_one_matches_single_env(world: World, kwargs: dict) -> None:
    env, venv = RecEnv(world=world, **kwargs), RecVectorEnv(1, world=world, **kwargs)
    shape = (150, 5) if kwargs.get("action") != "item" else (150,)
    actions = np.random.default_rng(1).integers(0, 300, size=shape)
    obs, _ = env.reset(seed=5)
    vobs, _ = venv.reset(seed=5)
    done, pages = False, 0
    for a in actions:
        if done:  # NEXT_STEP: the vector env resets on this step, the single env on reset()
            obs, _ = env.reset()
            vobs, *_ = venv.step(a[None])
            assert data_equivalence(obs, {k: v[0] for k, v in vobs.items()}, exact=True)
            done = False
            continue
        obs, r, term, trunc, info = env.step(a)
        vobs, vr, vterm, vtrunc, vinfo = venv.step(a[None])
        assert data_equivalence(obs, {k: v[0] for k, v in vobs.items()}, exact=True)
        assert (r, term, trunc) == (vr[0], vterm[0], vtrunc[0])
        assert set(info) == {k for k in vinfo if not k.startswith("_") and vinfo["_" + k][0]}
        for key, value in info.items():
            assert np.array_equal(value, vinfo[key][0])
        pages += "clicks" in info
        done = term or trunc
    assert pages >= 20


def test_vector_env_seeding_and_reset_options(world: World) -> None:
    actions = np.random.default_rng(2).integers(0, 300, size=(15, 4, 5))

    def run(seed: int) -> list:
        venv = RecVectorEnv(4, world=world)
        out = [venv.reset(seed=seed)]
        return out + [venv.step(a) for a in actions]

    assert data_equivalence(run(3), run(3), exact=True)
    assert not data_equivalence(run(3), run(4), exact=True)
    venv = RecVectorEnv(4, world=world)
    obs, _ = venv.reset(seed=0, options={"user": [1, 2, 3, 4]})
    assert obs["user"].tolist() == [1, 2, 3, 4]
    venv.step(actions[0])
    obs, _ = venv.reset(
        options={"reset_mask": np.array([False, True, False, False]), "user": [0, 9, 0, 0]}
    )
    assert obs["user"].tolist() == [1, 9, 3, 4] and obs["page"][1] == 0


def test_make_vec_uses_the_vector_entry_point(world: World) -> None:
    import simrec.env.gym  # noqa: F401  (the opt-in registration)

    with strict():
        venv = gymnasium.make_vec(
            ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", world=world
        )
    assert isinstance(venv.unwrapped, RecVectorEnv) and venv.num_envs == 3
    assert isinstance(gymnasium.make_vec(ENV_ID, num_envs=2, world=world).unwrapped, RecVectorEnv)
    obs, _ = venv.reset(seed=0)
    obs, rew, *_ = venv.step(venv.action_space.sample())
    assert rew.shape == (3,) and obs in venv.observation_space
    venv.close()
