"""The Gymnasium environment: API conformance, seeding, public observations, rewards, horizons."""

from __future__ import annotations

import copy
import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

from simrec.config import load_scenario
from simrec.env.gym import DEFAULT_SCENARIO, ENV_ID, RecEnv, register_envs
from simrec.world.build import World, build_world
from tests.env.gym_helpers import OBS_KEYS, strict

INFO_KEYS = {
    "clicks", "ratings", "exit", "session_end", "returned", "days", "replaced", "shown", "seen"
}  # fmt: skip
PAGE_KEYS = INFO_KEYS - {"replaced"}


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
