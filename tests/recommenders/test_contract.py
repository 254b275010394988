"""The recommender contract, checked for every registered recommender.

Each name in ``RECOMMENDERS`` is built through ``build_recommender`` and run on
a small synthetic world (cold users, a user who has seen nearly everything) and
on MovieLens 100K. The fast paths of ``random`` and ``most_popular`` are also
checked against their dense definitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import ConfigError
from simrec.data.types import Interactions
from simrec.llm.base import CallSettings
from simrec.llm.fake import ScriptedBackend
from simrec.recommenders.base import RECOMMENDERS, Recommender, build_recommender, recommender_uses_llm
from simrec.world.catalog import Catalog

NAMES = RECOMMENDERS.names()
K = 10
# Short training for the torch models: the contract is about pages, not accuracy.
FAST: dict[str, dict[str, object]] = {
    "lightgcn": {"epochs": 1, "retrain_epochs": 1, "factors": 16},
    "sasrec": {"epochs": 1, "retrain_epochs": 1, "factors": 16, "max_len": 20},
    "llm_rerank": {"base": "most_popular", "candidates": 5},
}


def _order(call) -> str:  # noqa: ANN001
    return json.dumps({"order": [2, 1]})


def build(name: str, params: dict[str, object], seed: int = 0) -> Recommender:
    """``build_recommender`` with a scripted LLM for recommenders that think with one."""
    llm = ScriptedBackend(CallSettings(model="scripted"), _order) if recommender_uses_llm(name) else None
    return build_recommender(name, params, np.random.default_rng(seed), llm)


@dataclass(frozen=True)
class World:
    """Training interactions with the catalog and user count they refer to."""

    interactions: Interactions
    catalog: Catalog
    n_users: int

    def seen(self) -> np.ndarray:
        """Dense ``[n_users, n_items]`` bool matrix of the interactions."""
        out = np.zeros((self.n_users, self.catalog.n_items), dtype=bool)
        out[self.interactions.user, self.interactions.item] = True
        return out


def make_catalog(n_items: int) -> Catalog:
    """A bare catalog of ``n_items`` items (no genres, zero popularity)."""
    return Catalog(
        item_ids=np.arange(n_items),
        titles=np.array([f"item {i}" for i in range(n_items)]),
        text=np.array([""] * n_items),
        genres=np.zeros((n_items, 0), dtype=bool),
        genre_names=[],
        popularity=np.zeros(n_items, dtype=np.float32),
        attributes=pd.DataFrame(index=range(n_items)),
    )


def _synthetic() -> World:
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 60
    users, items = [], []
    for u in range(2, n_users - 1):  # user 0 and the last user are cold
        chosen = rng.choice(n_items, size=rng.integers(3, 13), replace=False, p=_zipf(n_items))
        users.append(np.full(len(chosen), u))
        items.append(chosen)
    users.append(np.ones(n_items - 3, int))  # user 1 has seen all but 3 items
    items.append(np.delete(np.arange(n_items), [5, 17, 42]))
    inter = Interactions.from_arrays(np.concatenate(users), np.concatenate(items))
    return World(inter, make_catalog(n_items), n_users)


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


@pytest.fixture(scope="module")
def synthetic() -> World:
    return _synthetic()


@pytest.fixture(scope="module")
def ml100k(ml100k_dir: Path) -> World:
    df = pd.read_csv(ml100k_dir / "u.data", sep="\t", header=None, names=["u", "i", "r", "t"])
    inter = Interactions.from_arrays(df["u"] - 1, df["i"] - 1, df["r"], df["t"])
    return World(inter, make_catalog(1682), 943)


@pytest.fixture(params=["synthetic", "ml100k"])
def world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue(request.param)


def fitted(name: str, world: World, seed: int = 0) -> Recommender:
    rec = build(name, FAST.get(name, {}), seed)
    rec.fit(world.interactions, world.catalog, n_users=world.n_users)
    return rec


def assert_valid_pages(out: np.ndarray, n: int, k: int, n_items: int) -> None:
    assert out.shape == (n, k)
    assert np.issubdtype(out.dtype, np.integer)
    assert out.min() >= 0 and out.max() < n_items
    assert (np.diff(np.sort(out, axis=1), axis=1) > 0).all(), "duplicate items within a row"


# -- the contract, for every registered recommender --------------------------
@pytest.mark.parametrize("name", NAMES)
def test_pages_are_valid_and_unseen(name: str, world: World) -> None:
    rec = fitted(name, world)
    assert isinstance(rec, Recommender)
    users = np.arange(world.n_users)
    out = rec.recommend(users, K)
    assert_valid_pages(out, world.n_users, K, world.catalog.n_items)
    seen = world.seen()
    hit = np.take_along_axis(seen[users], out, axis=1)
    unseen_left = world.catalog.n_items - seen.sum(axis=1)
    full = unseen_left >= K
    assert not hit[full].any(), f"{name} recommended seen items"
    for u in np.flatnonzero(~full):  # too few unseen: all of them first, seen ones after
        n_free = unseen_left[u]
        assert not hit[u, :n_free].any() and hit[u, n_free:].all()


@pytest.mark.parametrize("name", NAMES)
def test_subset_of_users_and_exclude_seen_false(name: str, world: World) -> None:
    rec = fitted(name, world)
    users = np.array([5, 3, 3, 0, world.n_users - 1])
    out = rec.recommend(users, K, exclude_seen=False)
    assert_valid_pages(out, len(users), K, world.catalog.n_items)
    assert rec.recommend(np.empty(0, np.int64), K).shape == (0, K)


@pytest.mark.parametrize("name", NAMES)
def test_update_hides_newly_seen_items(name: str, world: World) -> None:
    rec = fitted(name, world)
    users = np.arange(2, world.n_users, 3)
    before = rec.recommend(users, K)
    events = Interactions.from_arrays(np.repeat(users, 2), before[:, :2].ravel())
    rec.update(events)
    after = rec.recommend(users, K)
    assert_valid_pages(after, len(users), K, world.catalog.n_items)
    for row, u in enumerate(users):
        assert not np.isin(before[row, :2], after[row]).any(), (
            f"{name}: user {u} got consumed items again"
        )


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_identical_output(name: str, world: World) -> None:
    def run(seed: int) -> list[np.ndarray]:
        rec = fitted(name, world, seed)
        users = np.arange(world.n_users)
        first = rec.recommend(users, K)
        rec.update(Interactions.from_arrays(users[::2], first[::2, 0]))
        return [first, rec.recommend(users, K), rec.recommend(users[::-1], 3, exclude_seen=False)]

    for a, b in zip(run(11), run(11), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_k_outside_the_catalog_is_a_config_error(name: str, synthetic: World) -> None:
    rec = fitted(name, synthetic)
    n_items = synthetic.catalog.n_items
    assert rec.recommend(np.arange(3), n_items).shape == (3, n_items)
    for k in (n_items + 1, 0):
        with pytest.raises(ConfigError):
            rec.recommend(np.arange(3), k)


@pytest.mark.parametrize("name", NAMES)
def test_use_before_fit_is_an_error(name: str) -> None:
    rec = build(name, FAST.get(name, {}))
    with pytest.raises(RuntimeError, match="fit"):
        rec.recommend(np.arange(2), 1)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("mf", {"factors": 0}),
        ("mf", {"reg": -0.1}),
        ("mf", {"iterations": 1.5}),
        ("mf", {"alpha": "high"}),
        ("item_knn", {"neighbors": 0}),
        ("item_knn", {"shrink": -1.0}),
        ("item_knn", {"chunk_size": 0}),
        ("ease", {"reg": 0.0}),
        ("ease", {"reg": -5.0}),
        ("ease", {"chunk_size": 0}),
        ("random", {"factors": 3}),
        ("most_popular", {"bogus": True}),
        ("lightgcn", {"epochs": 0}),
        ("lightgcn", {"factors": 0}),
        ("lightgcn", {"layers": -1}),
        ("lightgcn", {"lr": 0.0}),
        ("lightgcn", {"reg": -1e-4}),
        ("lightgcn", {"warm_start": "yes"}),
        ("lightgcn", {"bogus": 1}),
        ("sasrec", {"epochs": 0}),
        ("sasrec", {"factors": 0}),
        ("sasrec", {"factors": 64, "heads": 3}),
        ("sasrec", {"dropout": 1.0}),
        ("sasrec", {"max_len": 1}),
        ("sasrec", {"retrain_epochs": 0}),
        ("sasrec", {"lr": -1e-3}),
        ("llm_rerank", {"candidates": 1}),
        ("llm_rerank", {"candidates": 21}),
        ("llm_rerank", {"base": "no_such_recommender"}),
    ],
)
def test_bad_params_are_config_errors(name: str, params: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        build(name, params)


# -- fast paths agree with their definitions ---------------------------------
def test_most_popular_matches_its_dense_definition() -> None:
    rng = np.random.default_rng(1)
    n_users, n_items, k = 60, 500, 10
    counts = rng.integers(0, 6, n_items)  # many ties in popularity
    items = np.repeat(np.arange(n_items), counts)
    users = rng.integers(0, n_users, len(items))
    by_pop = np.argsort(-counts, kind="stable")
    # Users who have seen a long prefix of the popular items need several widenings.
    for u, prefix in zip(range(5), [50, 150, 400, 495, 500], strict=True):
        users = np.concatenate([users, np.full(prefix, u)])
        items = np.concatenate([items, by_pop[:prefix]])
    world = World(Interactions.from_arrays(users, items), make_catalog(n_items), n_users)
    rec = fitted("most_popular", world)
    pop = np.bincount(items, minlength=n_items)  # the recommender counts per interaction
    seen = world.seen()
    rank = np.empty(n_items, int)
    rank[np.argsort(-pop, kind="stable")] = np.arange(n_items)
    expected = np.stack([np.lexsort((rank, seen[u]))[:k] for u in range(n_users)])
    np.testing.assert_array_equal(rec.recommend(np.arange(n_users), k), expected)
    np.testing.assert_array_equal(
        rec.recommend(np.arange(3), k, exclude_seen=False),
        np.tile(np.argsort(-pop, kind="stable")[:k], (3, 1)),
    )


def test_most_popular_follows_updates() -> None:
    world = World(Interactions.from_arrays([0, 1, 1], [0, 0, 1]), make_catalog(5), 4)
    rec = fitted("most_popular", world)
    np.testing.assert_array_equal(rec.recommend(np.array([3]), 3), [[0, 1, 2]])
    rec.update(Interactions.from_arrays([0, 1, 2], [4, 4, 4]))
    np.testing.assert_array_equal(rec.recommend(np.array([3]), 3), [[4, 0, 1]])


def test_random_is_uniform_over_unseen_items() -> None:
    n_items, k, n_users = 20, 3, 6000
    seen_items = np.arange(5)  # every user has seen items 0..4
    world = World(
        Interactions.from_arrays(np.repeat(np.arange(n_users), 5), np.tile(seen_items, n_users)),
        make_catalog(n_items),
        n_users,
    )
    rec = fitted("random", world)
    out = rec.recommend(np.arange(n_users), k)
    assert_valid_pages(out, n_users, k, n_items)
    assert out.min() >= 5
    for pos in range(k):  # each position uniform over the 15 unseen items
        freq = np.bincount(out[:, pos], minlength=n_items)[5:] / n_users
        assert np.abs(freq - 1 / 15).max() < 0.02, freq


def test_random_dense_fallback_for_users_who_saw_most_items() -> None:
    n_items = 20
    inter = Interactions.from_arrays(np.zeros(16, int), np.arange(16))  # user 0 saw 16 of 20
    rec = fitted("random", World(inter, make_catalog(n_items), 3))
    out = rec.recommend(np.array([0, 1, 2]), 6)
    assert_valid_pages(out, 3, 6, n_items)
    assert set(out[0, :4]) == {16, 17, 18, 19} and (out[0, 4:] < 16).all()
