"""Tuning examples: negatives drawn as ``tune.negatives`` says, validation always uniform, the run's wording."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.config.tune import TuneConfig
from simrec.tune.examples import build_examples
from simrec.world.build import build_world
from tests.helpers import small_scenario


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return build_world(small_scenario(tmp_path_factory.mktemp("examples")))


def _negatives(world, negatives: str, valid: bool, seed: int = 0) -> np.ndarray:
    cfg = TuneConfig(users=150, per_user=6, negatives=negatives, valid_share=0.3, stars=False)
    ex = build_examples(world, cfg, np.random.default_rng(seed))
    return np.array([e.item for e in ex if e.kind == "watch" and e.label == 1 and e.valid == valid])


def test_negatives_are_never_the_users_training_items(world) -> None:
    cfg = TuneConfig(users=150, per_user=6, negatives="popularity", stars=False)
    seen: dict[int, set[int]] = {}
    for u, i in zip(world.train.user, world.train.item, strict=True):
        seen.setdefault(int(u), set()).add(int(i))
    ex = build_examples(world, cfg, np.random.default_rng(1))
    negs = [e for e in ex if e.label == 1]
    pos = [e for e in ex if e.label == 0]
    assert negs and len(negs) == len(pos)
    assert all(e.item not in seen[e.user] for e in negs)
    assert all(e.item in seen[e.user] for e in pos)


def test_popularity_negatives_are_more_popular_and_validation_ones_stay_uniform(world) -> None:
    counts = np.bincount(world.train.item, minlength=world.catalog.n_items)
    uniform_train = counts[_negatives(world, "uniform", False)].mean()
    pop_train = counts[_negatives(world, "popularity", False)].mean()
    mixed_train = counts[_negatives(world, "mixed", False)].mean()
    assert pop_train > 1.3 * uniform_train
    assert uniform_train < mixed_train < pop_train
    # validation examples are the same whatever the training scheme (uniform negatives, own stream)
    np.testing.assert_array_equal(_negatives(world, "uniform", True), _negatives(world, "popularity", True))
    np.testing.assert_array_equal(_negatives(world, "uniform", True), _negatives(world, "mixed", True))
    pop_valid = counts[_negatives(world, "popularity", True)].mean()
    uniform_valid = counts[_negatives(world, "uniform", True)].mean()
    assert pop_valid < 0.8 * pop_train
    assert abs(pop_valid - uniform_valid) < 0.2 * uniform_valid


def test_examples_use_the_prompt_version_runs_use(world) -> None:
    cfg = TuneConfig(users=5, per_user=1, stars=False)
    v2 = build_examples(world, cfg, np.random.default_rng(0), prompt_version=2)
    v3 = build_examples(world, cfg, np.random.default_rng(0), prompt_version=3)
    assert all(e.question.endswith("? Answer yes or no.") for e in v2)
    assert all(e.question.endswith(")?") for e in v3)


def test_an_unknown_negative_scheme_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="negatives"):
        TuneConfig(negatives="hard")

