"""Stable-Baselines3 on the Gymnasium environment: its checker, DQN, PPO, the two vector paths."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import data_equivalence
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from simrec.env.gym import ENV_ID, RecEnv, resolve_scenario
from simrec.env.gym_sb3 import RecSB3VecEnv
from simrec.env.gym_vector import RecVectorEnv
from simrec.world.build import World, build_world
from tests.env.gym_helpers import strict

OPTIONS = [
    {},
    {"action": "item"},
    {"observation": "onehot"},
    {"action": "item", "observation": "onehot", "reward": "return", "horizon": "sessions"},
]




@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mean_return(env: RecEnv, act: Callable[[dict], np.ndarray | int], n: int = 60) -> float:
    """Mean episode reward of ``act`` over ``n`` episodes seeded 1000, 1001, ... ."""
    total = 0.0
    for e in range(n):
        obs, _ = env.reset(seed=1000 + e)
        done = False
        while not done:
            obs, reward, term, trunc, _ = env.step(act(obs))
            total += reward
            done = term or trunc
    return total / n


@pytest.mark.parametrize("kwargs", OPTIONS)
def test_sb3_check_env_passes_for_every_option(world: World, kwargs: dict) -> None:
    with strict():
        check_env(RecEnv(world=world, **kwargs), warn=True)
        venv = RecSB3VecEnv(2, world=world, seed=0, **kwargs)
        obs = venv.reset()
        assert obs in gymnasium.vector.utils.batch_space(venv.observation_space, 2)


def test_dqn_trains_on_the_item_action(world: World) -> None:
    env = RecEnv(world=world, action="item")
    model = DQN(
        "MultiInputPolicy", env, learning_starts=100, train_freq=4, batch_size=32,
        buffer_size=1000, seed=0, device="cpu",
    )  # fmt: skip
    with strict():
        model.learn(400)
    assert model.num_timesteps == 400 and model._n_updates > 0
    obs, _ = env.reset(seed=0)
    q = model.q_net(model.q_net.obs_to_tensor(obs)[0])
    assert q.shape == (1, 300) and torch.isfinite(q).all()
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


def test_make_vec_env_with_the_class_and_with_the_id(world: World) -> None:
    with strict():
        venv = make_vec_env(RecEnv, n_envs=2, seed=0, env_kwargs={"world": world})
        model = PPO("MultiInputPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, seed=0)
        model.learn(64)
    assert isinstance(venv, DummyVecEnv) and model.num_timesteps == 64
    import simrec.env.gym  # noqa: F401  (the opt-in registration)

    with warnings.catch_warnings():  # SB3 asks for render_mode="rgb_array", Gymnasium warns
        warnings.filterwarnings("ignore", message=".*render_mode.*")
        by_id = make_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs={"world": world})
    assert isinstance(by_id.envs[0].unwrapped, RecEnv)
    PPO("MultiInputPolicy", by_id, n_steps=32, batch_size=32, n_epochs=1, seed=0).learn(64)


def test_the_gymnasium_vector_env_is_not_an_sb3_env(world: World) -> None:
    # the error a user meets when passing the Gymnasium vector env; the docs point elsewhere
    with pytest.raises(ValueError, match="not a Gymnasium environment"):
        PPO("MultiInputPolicy", RecVectorEnv(2, world=world))


@pytest.mark.parametrize("kwargs", [{}, {"action": "item", "horizon": "sessions", "sessions": 2}])
def test_sb3_vec_env_of_one_matches_the_single_env(world: World, kwargs: dict) -> None:
    env, venv = RecEnv(world=world, **kwargs), RecSB3VecEnv(1, world=world, seed=5, **kwargs)
    rng = np.random.default_rng(1)
    obs, _ = env.reset(seed=5)
    vobs = venv.reset()
    episodes = 0
    for _ in range(120):
        a = env.action_space.sample() if kwargs else rng.integers(0, 300, 5)
        a = np.asarray(a)
        obs, r, term, trunc, info = env.step(a)
        vobs, vr, vdone, vinfo = venv.step(a[None])
        assert (r, term or trunc) == (vr[0], vdone[0])
        assert vinfo[0]["TimeLimit.truncated"] == (trunc and not term)
        done = term or trunc
        # SB3 resets in the step: the mask of a done step is the next episode's
        same = {k for k in info if not (done and k == "action_mask")}
        assert data_equivalence(
            {k: info[k] for k in same}, {k: vinfo[0][k] for k in same}, exact=True
        )
        if done:  # SB3: the last observation in the info, the next episode's first
            assert data_equivalence(obs, vinfo[0]["terminal_observation"], exact=True)
            obs, reset_info = env.reset()
            if "action_mask" in info:
                assert np.array_equal(reset_info["action_mask"], vinfo[0]["action_mask"])
            episodes += 1
        assert data_equivalence(obs, {k: v[0] for k, v in vobs.items()}, exact=True)
    assert episodes >= 3


def test_sb3_vec_env_seeding_masks_and_attributes(world: World) -> None:
    def run(seed: int) -> list:
        venv = RecSB3VecEnv(4, world=world, action="item")
        venv.seed(seed)
        out = [venv.reset()]
        return out + [venv.step(np.full(4, i % 7)) for i in range(30)]

    assert data_equivalence(run(3), run(3), exact=True)
    assert not data_equivalence(run(3), run(4), exact=True)
    venv = RecSB3VecEnv(3, world=world, action="item", seed=0)
    venv.set_options({"user": 17})
    obs = venv.reset()
    seen = set(world.train.item[world.train.user == 17].tolist())  # masked: counts once
    assert obs["user"].tolist() == [17, 17, 17]
    assert np.flatnonzero(~venv.reset_infos[0]["action_mask"]).tolist() == sorted(seen)
    fresh = [i for i in range(300) if i not in seen][:3]
    venv.step(np.array(fresh))
    masks = np.stack(venv.env_method("action_masks"))  # what sb3-contrib's MaskablePPO does
    assert masks.shape == (3, 300)
    assert [np.flatnonzero(~m).tolist() for m in masks] == [sorted(seen | {i}) for i in fresh]
    assert venv.get_attr("world", indices=[0, 2]) == [world, world]
    assert venv.env_is_wrapped(gymnasium.Wrapper) == [False] * 3
    with pytest.raises(AttributeError):
        venv.env_method("render")
    with pytest.raises(ValueError, match="action='item'"):
        RecSB3VecEnv(2, world=world).action_masks()


def test_ppo_learns_on_a_world_where_popularity_matters() -> None:
    # 60 items, a strong pull of popularity, one page a session and short training histories
    # (an item counts once per user, so the most popular items of a long history are spent):
    # a short training has something to find
    cfg = resolve_scenario(
        None,
        [
            "environment.data.n_items=60", "policy.choice.beta_popularity=3.0",
            "environment.pages_per_session=1", "environment.data.interactions_per_user=3",
        ],
    )  # fmt: skip
    world = build_world(cfg)
    venv = VecMonitor(RecSB3VecEnv(8, cfg, world=world, seed=0))
    model = PPO(
        "MultiInputPolicy", venv, n_steps=256, batch_size=256, learning_rate=1e-3, seed=0,
        device="cpu",
    )  # fmt: skip
    env = RecEnv(cfg, world=world)
    untrained = mean_return(env, lambda obs: model.predict(obs, deterministic=True)[0], 200)
    model.learn(4096)
    learned = mean_return(env, lambda obs: model.predict(obs, deterministic=True)[0], 200)
    rng = np.random.default_rng(0)
    random = mean_return(env, lambda obs: rng.choice(60, 5, replace=False), 200)
    assert len(model.ep_info_buffer) > 0 and np.isfinite(learned)
    # seen (torch 2.13, CPU): untrained 0.53, random 0.86, learned 1.43 (model seeds 1, 2:
    # learned 1.82, 1.52); the 5 most popular items: 2.08
    assert learned > untrained + 0.3 and learned > random + 0.3
