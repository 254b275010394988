"""The Gymnasium environment: API conformance, seeding, public observations, rewards, vector env."""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.vector import AutoresetMode

from simrec.config import load_scenario
from simrec.env.gym import DEFAULT_SCENARIO, ENV_ID, RecEnv, register_envs, resolve_scenario
from simrec.env.gym_vector import RecVectorEnv
from simrec.world.build import World, build_world

OBS_KEYS = {"user", "history", "ratings", "page", "session"}
INFO_KEYS = {"clicks", "ratings", "exit", "session_end", "returned", "days"}


@contextmanager
def strict() -> Iterator[None]:
    """Every warning becomes an error (Gymnasium's checkers report through warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(resolve_scenario(None))


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


def test_repeated_item_counts_once(world: World) -> None:
    env = RecEnv(world=world)
    for seed in range(50):
        u = int(env.reset(seed=seed)[0]["user"])
        top = int(np.argmax(world.taste.affinity(np.array([u]), np.arange(300)[None, :])[0]))
        rewards = episode_rewards(env, seed, np.full(5, top))
        assert max(rewards) <= 1.0


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


def test_vector_of_one_matches_single_env(world: World) -> None:
    for kwargs in ({}, {"reward": "return", "horizon": "sessions", "sessions": 2}):
        env, venv = RecEnv(world=world, **kwargs), RecVectorEnv(1, world=world, **kwargs)
        actions = np.random.default_rng(1).integers(0, 300, size=(40, 5))
        obs, _ = env.reset(seed=5)
        vobs, _ = venv.reset(seed=5)
        done = False
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
            assert np.array_equal(info["clicks"], vinfo["clicks"][0])
            done = term or trunc


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
