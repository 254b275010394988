"""The vector environment (simrec.env.gym_vector): batched steps, autoreset, seeding, make_vec."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode

from simrec.env.gym import ENV_ID, RecEnv
from simrec.env.gym_vector import RecVectorEnv
from simrec.world.build import World
from tests.env.gym_helpers import OBS_KEYS, strict, train_items


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
    policy = venv.core.bind(
        venv.np_random
    ).policy  # the engine's policy draws from the env's generator
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
