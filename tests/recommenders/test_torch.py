"""The PyTorch recommenders: warm starts, live sequences, determinism, lazy torch import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from simrec.core.errors import ConfigError
from simrec.data.types import Interactions
from simrec.recommenders.base import BaseRecommender, build_recommender
from tests.conftest import PROJECT_ROOT
from tests.recommenders.test_contract import World, make_catalog

torch = pytest.importorskip("torch")

TORCH_NAMES = ["lightgcn", "sasrec"]
SMALL: dict[str, dict[str, object]] = {
    "lightgcn": {"factors": 16, "epochs": 4, "retrain_epochs": 2, "batch_size": 256},
    "sasrec": {"factors": 16, "epochs": 4, "retrain_epochs": 2, "max_len": 12, "batch_size": 32},
}


def _world(n_users: int = 120, n_items: int = 80, seed: int = 3) -> World:
    """Users with 8-20 items each (Zipf popularity) at random timestamps; user 0 is cold."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1)
    users, items = [], []
    for u in range(1, n_users):  # user 0 is cold
        chosen = rng.choice(n_items, size=rng.integers(8, 21), replace=False, p=p / p.sum())
        users.append(np.full(len(chosen), u))
        items.append(chosen)
    user, item = np.concatenate(users), np.concatenate(items)
    inter = Interactions.from_arrays(user, item, timestamp=rng.integers(0, 1000, len(user)))
    return World(inter, make_catalog(n_items), n_users)


@pytest.fixture(scope="module")
def world() -> World:
    return _world()


def _fitted(name: str, world: World, seed: int = 0, **params: object) -> BaseRecommender:
    rec = build_recommender(name, {**SMALL[name], **params}, np.random.default_rng(seed))
    rec.fit(world.interactions, world.catalog, n_users=world.n_users)
    assert isinstance(rec, BaseRecommender)
    return rec


def _scores(rec: BaseRecommender, n_users: int) -> np.ndarray:
    return np.asarray(rec.score(np.arange(n_users)))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_scores_are_finite_float32(name: str, world: World) -> None:
    scores = _scores(_fitted(name, world), world.n_users)
    assert scores.shape == (world.n_users, world.catalog.n_items)
    assert scores.dtype == np.float32 and np.isfinite(scores).all()


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_warm_start_continues_from_previous_weights(name: str, world: World) -> None:
    warm = _fitted(name, world, warm_start=True)
    cold = _fitted(name, world, warm_start=False)
    first = _scores(warm, world.n_users)
    np.testing.assert_array_equal(first, _scores(cold, world.n_users))  # same seed, same fit
    assert warm.last_epochs == cold.last_epochs == SMALL[name]["epochs"]
    for rec in (warm, cold):
        rec.fit(world.interactions, world.catalog, n_users=world.n_users)
    assert warm.last_epochs == SMALL[name]["retrain_epochs"]
    assert cold.last_epochs == SMALL[name]["epochs"]
    warm_scores, cold_scores = _scores(warm, world.n_users), _scores(cold, world.n_users)
    assert not np.array_equal(warm_scores, cold_scores)
    assert not np.array_equal(warm_scores, first)  # it did train further
    # Continuing keeps the model close to where it was; a cold refit starts over.
    assert _corr(warm_scores, first) > _corr(cold_scores, first)


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_warm_start_falls_back_to_cold_when_the_catalog_grows(name: str, world: World) -> None:
    rec = _fitted(name, world)
    bigger = make_catalog(world.catalog.n_items + 5)
    rec.fit(world.interactions, bigger, n_users=world.n_users)
    assert rec.last_epochs == SMALL[name]["epochs"]
    assert rec.recommend(np.arange(world.n_users), 10).max() < bigger.n_items


def test_sasrec_scores_follow_updates_lightgcn_waits_for_refit(world: World) -> None:
    users = np.array([0, 5, 9])  # user 0 has no history
    events = Interactions.from_arrays(
        np.repeat(users, 3), np.tile([3, 40, 77], 3), timestamp=np.full(9, 5000)
    )
    for name, changes in (("sasrec", True), ("lightgcn", False)):
        rec = _fitted(name, world)
        before = np.asarray(rec.score(users)).copy()
        rec.update(events)
        after = np.asarray(rec.score(users))
        assert np.isfinite(after).all()
        for row in range(len(users)):
            assert (not np.array_equal(before[row], after[row])) == changes, (name, users[row])


def test_sasrec_orders_updates_by_timestamp(world: World) -> None:
    user, item, time = np.full(4, 7), np.array([10, 20, 30, 40]), np.array([1, 2, 2, 3]) + 5000

    def scores_after(rows: list[int]) -> np.ndarray:
        rec = _fitted("sasrec", world)
        rec.update(Interactions.from_arrays(user[rows], item[rows], timestamp=time[rows]))
        return np.asarray(rec.score(np.array([7])))

    in_order = scores_after([0, 1, 2, 3])
    # Rows out of time order are sorted by timestamp; the tie (20, 30) keeps its row order.
    np.testing.assert_array_equal(in_order, scores_after([3, 1, 2, 0]))
    assert not np.array_equal(in_order, scores_after([3, 2, 1, 0]))  # tie reversed


def test_sasrec_cold_users_share_a_popularity_like_score(world: World) -> None:
    rec = _fitted("sasrec", world)
    cold = rec.score(np.array([0, 0]))
    np.testing.assert_array_equal(cold[0], cold[1])
    popularity = np.bincount(world.interactions.item, minlength=world.catalog.n_items)
    top = np.argsort(-cold[0])[:10]
    assert popularity[top].mean() > popularity.mean()


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_same_seed_same_output_other_seed_differs(name: str, world: World) -> None:
    a, b, c = (_fitted(name, world, seed) for seed in (5, 5, 6))
    users = np.arange(world.n_users)
    np.testing.assert_array_equal(_scores(a, world.n_users), _scores(b, world.n_users))
    np.testing.assert_array_equal(a.recommend(users, 10), b.recommend(users, 10))
    assert not np.array_equal(_scores(a, world.n_users), _scores(c, world.n_users))


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_fit_leaves_torch_global_state_alone(name: str, world: World) -> None:
    threads, state = torch.get_num_threads(), torch.random.get_rng_state()
    rec = _fitted(name, world, threads=max(1, threads - 1) if threads > 1 else 2)
    rec.recommend(np.arange(4), 5)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_missing_torch_is_a_config_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[torch\]"'):
        build_recommender(name, {}, np.random.default_rng(0))


def test_importing_the_registry_does_not_import_torch() -> None:
    code = "import sys, simrec.recommenders.base; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)
