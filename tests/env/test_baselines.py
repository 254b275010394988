"""Recommenders as agents of the Gymnasium environment: paging, the item action, SB3's evaluator."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecMonitor

from simrec.env.baselines import RecommenderAgent
from simrec.env.gym import RecEnv
from simrec.env.gym_sb3 import RecSB3VecEnv
from simrec.world.build import World


def test_pages_are_consecutive_slices_of_one_list(world: World) -> None:
    env = RecEnv(world=world)
    agent = RecommenderAgent("most_popular", env)
    k = env.cfg.environment.page_size
    obs, _ = env.reset(seed=0)
    ranked = agent.recommender.recommend(np.array([obs["user"]]), 4 * k)[0]
    for page in range(3):
        obs = {**obs, "page": np.int64(page)}
        slate, state = agent.predict(obs)
        assert state is None and slate.shape == (k,)
        assert slate.tolist() == ranked[page * k:(page + 1) * k].tolist()


def test_a_batch_answers_as_its_rows_do(world: World) -> None:
    venv = RecSB3VecEnv(4, world=world, seed=3)
    agent = RecommenderAgent("mf", venv, {"factors": 8, "iterations": 3})
    obs = venv.reset()
    batch, _ = agent.predict(obs)
    rows = [agent.predict({key: value[i] for key, value in obs.items()})[0] for i in range(4)]
    assert batch.shape == (4, venv.action_space.shape[0])
    assert np.array_equal(batch, np.stack(rows))


def test_the_item_action_places_the_slot_rank(world: World) -> None:
    env = RecEnv(world=world, action="item")
    agent = RecommenderAgent("most_popular", env)
    obs, _ = env.reset(seed=0)
    ranked = agent.recommender.recommend(np.array([obs["user"]]), 10)[0]
    placed = []
    for _ in range(env.cfg.environment.page_size):
        item, _ = agent.predict(obs)
        placed.append(int(item))
        obs, *_ = env.step(item)
    assert placed == ranked[: len(placed)].tolist()


def test_sb3_scores_recommenders_in_the_order_of_their_skill(world: World) -> None:
    venv = VecMonitor(RecSB3VecEnv(1, world=world, seed=1))
    scores = {
        name: evaluate_policy(RecommenderAgent(name, venv), venv, n_eval_episodes=60)[0]
        for name in ("random", "most_popular")
    }
    assert scores["most_popular"] > scores["random"] + 0.5, scores


def test_it_unwraps_wrappers_and_refuses_what_is_not_a_simrec_env(world: World) -> None:
    import gymnasium

    import simrec.env.gym  # noqa: F401  (registers the id)

    wrapped = gymnasium.make("simrec/RecEnv-v0", world=world)
    assert RecommenderAgent("random", wrapped).page_size == wrapped.unwrapped.cfg.environment.page_size
    with pytest.raises(TypeError, match="RecEnv"):
        RecommenderAgent("random", object())
