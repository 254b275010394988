"""Fake profiles of the shilling families: users, targets, fillers, selected items, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simrec.attacks import shilling
from simrec.attacks.shilling import fake_profiles, rating_stats, selected_items
from simrec.config.robustness import ShillingConfig
from simrec.data.scale import HALF_STARS, WHOLE_STARS
from simrec.data.synthetic import generate_synthetic
from simrec.data.types import Dataset, Interactions
from simrec.world.catalog import Catalog

KINDS = ("random", "average", "bandwagon", "segment")
FIRST = 1000
STAMP = 123_456


@pytest.fixture(scope="module")
def world() -> tuple[Dataset, Catalog]:
    ds = generate_synthetic(200, 300, 8, 8, 12.0, np.random.default_rng(5))
    return ds, Catalog.from_dataset(ds, ds.interactions)


def tiny_catalog(n_items: int, popularity: list[float], genres: np.ndarray) -> Catalog:
    return Catalog(
        item_ids=np.arange(n_items), titles=np.array([f"t{i}" for i in range(n_items)]),
        text=np.full(n_items, ""), genres=genres, genre_names=[f"g{g}" for g in range(genres.shape[1])],
        popularity=np.asarray(popularity, np.float32), attributes=pd.DataFrame(index=range(n_items)),
    )  # fmt: skip


def make(world, kind: str, seed: int = 0, targets=(3, 17), **kw) -> Interactions:
    ds, cat = world
    cfg = ShillingConfig(kind=kind, **{"fake_users": 40, "filler_items": 25, "selected_items": 6, **kw})
    return fake_profiles(cfg, ds.interactions, cat, ds.scale, np.array(targets), FIRST, STAMP, np.random.default_rng(seed))


def rows_of(fake: Interactions, user: int) -> tuple[np.ndarray, np.ndarray]:
    mask = fake.user == user
    return fake.item[mask], fake.rating[mask]


@pytest.mark.parametrize("kind", KINDS)
def test_profiles_shape_targets_and_levels(world, kind: str) -> None:
    fake = make(world, kind)
    n_sel = 6 if kind in ("bandwagon", "segment") else 0
    assert fake.user.dtype == np.int32 and fake.item.dtype == np.int32 and fake.rating.dtype == np.float32
    assert np.array_equal(np.unique(fake.user), np.arange(FIRST, FIRST + 40))
    assert np.array_equal(np.bincount(fake.user - FIRST), np.full(40, 2 + n_sel + 25)), "targets + selected + fillers"
    assert (fake.timestamp == STAMP).all()
    pairs = fake.user.astype(np.int64) * 10_000 + fake.item
    assert len(np.unique(pairs)) == len(pairs), "no repeated (user, item)"
    assert np.all(np.diff(pairs) > 0), "sorted by (user, item)"
    assert WHOLE_STARS.on_scale(fake.rating).all()
    for t in (3, 17):
        hit = fake.item == t
        assert hit.sum() == 40 and (fake.rating[hit] == 5).all()


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_given_rng(world, kind: str) -> None:
    a, b, c = make(world, kind, seed=1), make(world, kind, seed=1), make(world, kind, seed=2)
    for col in ("user", "item", "rating", "timestamp"):
        assert np.array_equal(getattr(a, col), getattr(b, col))
    assert not (np.array_equal(a.item, c.item) and np.array_equal(a.rating, c.rating))


@pytest.mark.parametrize("kind", KINDS)
def test_blocks_do_not_change_the_draws(world, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = make(world, kind, seed=4)
    monkeypatch.setattr(shilling, "_BLOCK_CELLS", 700)  # a few rows of ~290 candidates per block
    blocked = make(world, kind, seed=4)
    assert np.array_equal(whole.item, blocked.item) and np.array_equal(whole.rating, blocked.rating)


@pytest.mark.parametrize("kind", KINDS)
def test_no_budget_or_no_targets_is_empty_and_draws_nothing(world, kind: str) -> None:
    ds, cat = world
    for users, targets in ((0, np.array([3])), (10, np.empty(0, np.int64))):
        rng = np.random.default_rng(9)
        before = rng.bit_generator.state
        cfg = ShillingConfig(kind=kind, fake_users=users)
        out = fake_profiles(cfg, ds.interactions, cat, ds.scale, targets, FIRST, STAMP, rng)
        assert len(out) == 0
        assert rng.bit_generator.state == before


def test_bandwagon_selects_the_most_popular_non_targets(world) -> None:
    _, cat = world
    top = np.argsort(-cat.popularity.astype(np.float64), kind="stable")
    targets = top[[0, 2]]  # two of the most popular items are targets: they are skipped
    expected = np.sort(np.array([i for i in top if i not in targets][:6]))
    fake = make(world, "bandwagon", targets=tuple(targets))
    cfg = ShillingConfig(kind="bandwagon", selected_items=6)
    assert np.array_equal(selected_items(cfg, cat, np.sort(targets)), expected)
    for u in (FIRST, FIRST + 39):
        items, ratings = rows_of(fake, u)
        assert set(expected) <= set(items) and (ratings[np.isin(items, expected)] == 5).all()
    fillers = fake.item[~np.isin(fake.item, np.concatenate([targets, expected]))]
    assert len(fillers) == 40 * 25


def test_bandwagon_ties_go_by_index() -> None:
    cat = tiny_catalog(6, [3, 5, 3, 5, 1, 3], np.ones((6, 1), bool))
    cfg = ShillingConfig(kind="bandwagon", selected_items=3)
    assert selected_items(cfg, cat, np.array([1])).tolist() == [0, 2, 3]


def test_segment_selects_the_targets_genre_and_rates_fillers_lowest(world) -> None:
    _, cat = world
    target = 17
    genre = np.flatnonzero(cat.genres[target])[0]
    in_genre = np.flatnonzero(cat.genres[:, genre])
    in_genre = in_genre[in_genre != target]
    expected = np.sort(in_genre[np.argsort(-cat.popularity[in_genre].astype(np.float64), kind="stable")][:6])
    fake = make(world, "segment", targets=(target,))
    selected = fake.item[(fake.user == FIRST) & (fake.item != target) & (fake.rating == 5)]
    assert np.array_equal(selected, expected)
    assert cat.genres[selected, genre].all()
    rest = ~np.isin(fake.item, np.append(expected, target))
    assert rest.sum() == 40 * 25 and (fake.rating[rest] == 1).all()


def test_segment_without_a_genre_uses_the_most_popular() -> None:
    genres = np.zeros((6, 2), bool)
    genres[[0, 1], 0] = True  # target 5 has no genre
    cat = tiny_catalog(6, [1, 2, 9, 8, 7, 0], genres)
    assert selected_items(ShillingConfig(kind="segment", selected_items=2), cat, np.array([5])).tolist() == [2, 3]
    # with a genre: only that genre's items, fewer when it holds fewer
    assert selected_items(ShillingConfig(kind="segment", selected_items=4), cat, np.array([0])).tolist() == [1]


def test_fillers_exclude_targets_and_cover_the_catalog(world) -> None:
    _, cat = world
    fake = make(world, "random", fake_users=300, targets=(3,))
    fillers = fake.item[fake.item != 3]
    counts = np.bincount(fillers, minlength=cat.n_items)
    assert counts[3] == 0
    others = np.delete(counts, 3)
    assert others.min() > 0, "every other item is a filler somewhere"
    assert others.max() < 3 * others.mean(), "uniform pick, not popularity"


def test_small_catalog_takes_every_remaining_item() -> None:
    cat = tiny_catalog(6, [5, 4, 3, 2, 1, 0], np.ones((6, 1), bool))
    train = Interactions.from_arrays([0, 0, 1], [0, 1, 2], [4, 2, 3])
    cfg = ShillingConfig(kind="bandwagon", fake_users=3, filler_items=30, selected_items=2)
    fake = fake_profiles(cfg, train, cat, WHOLE_STARS, np.array([5]), 2, 0, np.random.default_rng(0))
    assert len(fake) == 3 * 6
    for u in (2, 3, 4):
        assert fake.item[fake.user == u].tolist() == [0, 1, 2, 3, 4, 5]


def test_random_fillers_follow_the_global_moments(world) -> None:
    ds, _ = world
    fake = make(world, "random", fake_users=400, targets=(3,))
    r = fake.rating[fake.item != 3].astype(np.float64)
    truth = ds.interactions.rating.astype(np.float64)
    assert abs(r.mean() - truth.mean()) < 0.15
    assert abs(r.std() - truth.std()) < 0.25


def test_average_fillers_follow_each_items_mean() -> None:
    cat = tiny_catalog(5, [3, 3, 1, 0, 0], np.ones((5, 1), bool))
    # item 0: always 5, item 1: always 1 (std 0); item 2: one rating (global std); item 3: none (global mean)
    train = Interactions.from_arrays([0, 1, 2, 0, 1, 2, 0], [0, 0, 0, 1, 1, 1, 2], [5, 5, 5, 1, 1, 1, 2])
    cfg = ShillingConfig(kind="average", fake_users=200, filler_items=4)
    fake = fake_profiles(cfg, train, cat, WHOLE_STARS, np.array([4]), 10, 0, np.random.default_rng(3))
    rating = {i: fake.rating[fake.item == i] for i in range(4)}
    assert (rating[0] == 5).all() and (rating[1] == 1).all()
    assert len(np.unique(rating[2])) > 1 and len(np.unique(rating[3])) > 1
    assert rating[2].mean() < rating[3].mean(), "item 2's own mean (2) vs the global mean (20/7)"
    assert WHOLE_STARS.on_scale(fake.rating).all()


def test_rating_stats_by_hand() -> None:
    train = Interactions.from_arrays([0, 1, 2, 0, 1], [0, 0, 1, 2, 2], [4, 2, 5, np.nan, np.nan])
    s = rating_stats(train, 4, WHOLE_STARS)
    assert s.mean == pytest.approx(11 / 3) and s.std == pytest.approx(np.std([4, 2, 5], ddof=1))
    assert s.item_mean.tolist() == pytest.approx([3.0, 5.0, 11 / 3, 11 / 3])
    assert s.item_std.tolist() == pytest.approx([np.sqrt(2), s.std, s.std, s.std])
    empty = rating_stats(Interactions.from_arrays([0], [0]), 2, HALF_STARS)
    assert (empty.mean, empty.std) == (2.75, 0.5), "no ratings: the midpoint and one step"


def test_unrated_train_and_half_stars_stay_on_the_scale() -> None:
    cat = tiny_catalog(40, list(range(40)), np.ones((40, 1), bool))
    train = Interactions.from_arrays(np.arange(40) % 7, np.arange(40))  # every rating NaN
    for kind in KINDS:
        cfg = ShillingConfig(kind=kind, fake_users=50, filler_items=10, selected_items=3)
        fake = fake_profiles(cfg, train, cat, HALF_STARS, np.array([0]), 7, 0, np.random.default_rng(1))
        assert np.isfinite(fake.rating).all() and HALF_STARS.on_scale(fake.rating).all()
        assert (fake.rating[fake.item == 0] == 5.0).all()
    fillers = fake_profiles(
        ShillingConfig(kind="random", fake_users=200, filler_items=10), train, cat, HALF_STARS, np.array([0]), 7, 0,
        np.random.default_rng(2),
    )  # fmt: skip
    assert abs(fillers.rating[fillers.item != 0].mean() - 2.75) < 0.1


def test_targets_outside_the_catalog_raise(world) -> None:
    with pytest.raises(ValueError, match="item indices"):
        make(world, "random", targets=(300,))
