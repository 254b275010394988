"""Every registered recommender (and a plug-in from another library) through short interactive episodes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from simrec.env.runner import run_scenario
from simrec.io.events import read_events
from simrec.recommenders.base import RECOMMENDERS, build_recommender, recommender_uses_llm
from tests.helpers import ROOT, small_scenario
from tests.recommenders.test_contract import FAST

EXAMPLE = "sklearn_svd:PureSVD"


@pytest.fixture()
def examples_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    yield
    sys.modules.pop("sklearn_svd", None)


def episode(tmp_path: Path, name: str, params: dict) -> tuple[Path, object]:
    over = {"recommender.name": name, "recommender.params": json.dumps(params), "recommender.retrain_every": 1,
            "environment.social.builder": "watts_strogatz", "environment.social.k": 4, "run.steps": 3}  # fmt: skip
    if recommender_uses_llm(name):
        over.update({"llm.backend": "fake", "llm.chat_kwargs": json.dumps({"replies": ['{"order": [2, 1]}']})})
    result = run_scenario(small_scenario(tmp_path, **over))
    return result.run_dir, result


@pytest.mark.parametrize("name", [*RECOMMENDERS.names(), EXAMPLE])
def test_every_recommender_runs_an_episode_with_in_loop_refits(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if name == EXAMPLE:
        request.getfixturevalue("examples_on_path")
    run_dir, result = episode(tmp_path, name, FAST.get(name, {"factors": 16} if name == EXAMPLE else {}))
    ev = read_events(run_dir)
    imp = ev[ev["event"] == "impression"]
    assert len(imp) > 0 and result.metrics["retrained"].sum() >= 2
    # each page holds distinct items, and watched items are not shown again to the same user
    assert not imp.duplicated(["session", "page", "item"]).any()
    clicked = ev[ev["event"] == "click"][["user", "item", "step"]]
    later = imp.merge(clicked, on=["user", "item"], suffixes=("", "_clicked"))
    assert (later["step"] <= later["step_clicked"]).all()


@pytest.mark.parametrize("name", ["most_popular", "mf", "lightgcn", "sasrec", EXAMPLE])
def test_recommenders_choose_slates_in_the_gym_env(name: str, request: pytest.FixtureRequest) -> None:
    import simrec.env.gym  # noqa: F401  (registers simrec/RecEnv-v0)

    if name == EXAMPLE:
        request.getfixturevalue("examples_on_path")
    env = gymnasium.make("simrec/RecEnv-v0", reward="click")
    world = env.unwrapped.world
    rec = build_recommender(name, FAST.get(name, {"factors": 16} if name == EXAMPLE else {}), np.random.default_rng(0))
    rec.fit(world.train, world.catalog, n_users=world.population.n_users)
    obs, _ = env.reset(seed=3)
    total, steps, done = 0.0, 0, False
    k = env.action_space.shape[0]
    while not done:
        slate = np.asarray(rec.recommend(np.array([obs["user"]]), k * 4), dtype=np.int64)[0]
        shown = set(obs["history"].tolist())
        action = np.array([i for i in slate if i not in shown][:k])
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        steps += 1
        done = terminated or truncated
    assert steps >= 1 and total >= 0
    env.close()
