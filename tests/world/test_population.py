"""The population arrays: one pass over blocks of users equals the whole-table computation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from simrec.data.types import Interactions
from simrec.world import population
from simrec.world.build import _trait_priors, build_world
from simrec.world.population import build_population
from tests.helpers import small_scenario


def _arrays(pop: population.Population) -> dict[str, np.ndarray]:
    return {f.name: getattr(pop, f.name) for f in dataclasses.fields(pop) if isinstance(getattr(pop, f.name), np.ndarray)}


def _whole_table(u: np.ndarray, n: int):
    return [(0, n, slice(None))], None, np.bincount(u, minlength=n)


@pytest.mark.parametrize("unrated_share", [0.0, 0.3])
def test_user_blocks_equal_the_whole_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unrated_share: float
) -> None:
    world = build_world(small_scenario(tmp_path))
    train = world.train
    assert np.all(train.user[1:] >= train.user[:-1]), "synthetic rows come sorted by user"
    rating = train.rating.copy()
    rating[np.random.default_rng(0).random(len(rating)) < unrated_share] = np.nan
    train = Interactions(train.user, train.item, rating, train.timestamp)
    score = world.taste.rating.predict(train.user, train.item)
    cfg = small_scenario(tmp_path).agents.traits

    def build() -> dict[str, np.ndarray]:
        pop = build_population(world.dataset, train, score, cfg, np.random.default_rng(1), _trait_priors(world.dataset))
        return _arrays(pop)

    monkeypatch.setattr(population, "_USER_BLOCK", 7)  # many blocks, one user's rows never split
    blocked = build()
    monkeypatch.setattr(population, "_USER_BLOCK", 1 << 30)  # one block
    single = build()
    monkeypatch.setattr(population, "_user_blocks", _whole_table)  # the unsorted path
    whole = build()
    assert blocked.keys() == single.keys() == whole.keys() and "score_std" in blocked
    for name in blocked:
        assert np.array_equal(blocked[name], single[name], equal_nan=True), name
        assert np.array_equal(blocked[name], whole[name], equal_nan=True), name
    assert blocked["n_train"].sum() == len(train)
