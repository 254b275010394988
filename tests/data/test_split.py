"""Splits and user filters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import DataError
from simrec.data.split import filter_min_interactions, split_random, split_temporal, subsample_users
from simrec.data.types import Dataset, Interactions


def _log(seed: int = 0, n_users: int = 50, n_items: int = 40) -> Interactions:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 30, size=n_users)
    user = rng.permutation(np.repeat(np.arange(n_users), counts))
    return Interactions.from_arrays(
        user,
        rng.integers(0, n_items, size=len(user)),
        rng.integers(1, 6, size=len(user)).astype(np.float32),
        rng.integers(0, 20, size=len(user)),  # many ties on purpose
    )


def _dataset(inter: Interactions, n_users: int = 50, n_items: int = 40) -> Dataset:
    return Dataset(
        name="toy",
        interactions=inter,
        items=pd.DataFrame({"item_id": np.arange(n_items), "title": "t", "text": "t"}),
        users=pd.DataFrame({"user_id": np.arange(100, 100 + n_users)}),
        genres=np.zeros((n_items, 0), dtype=bool),
        genre_names=[],
        latent={
            "user_factors": np.arange(n_users, dtype=float)[:, None],
            "item_factors": np.ones((n_items, 2)),
        },
    )


def _per_user(inter: Interactions, n_users: int = 50) -> np.ndarray:
    return np.bincount(inter.user, minlength=n_users)


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("min_train", [0, 1, 3])
def test_split_random_counts(fraction: float, min_train: int) -> None:
    inter = _log()
    split = split_random(inter, fraction, np.random.default_rng(1), min_train=min_train)
    n = _per_user(inter)
    expected = np.minimum(np.floor(fraction * n + 0.5), np.maximum(n - min_train, 0))
    assert (_per_user(split.heldout) == expected).all()
    assert (_per_user(split.train) == n - expected).all()
    assert (_per_user(split.train)[n > 0] >= np.minimum(n, min_train)[n > 0]).all()
    assert len(split.train) + len(split.heldout) == len(inter)


def test_split_random_is_a_partition_in_log_order() -> None:
    log = _log()
    row_id = np.arange(len(log))  # items double as row ids, so rows can be traced
    inter = Interactions.from_arrays(log.user, row_id, log.rating, log.timestamp)
    split = split_random(inter, 0.3, np.random.default_rng(2))
    both = np.concatenate([split.train.item, split.heldout.item])
    assert np.array_equal(np.sort(both), row_id)
    for part in (split.train, split.heldout):
        assert np.all(np.diff(part.item) > 0)
        assert np.array_equal(part.user, log.user[part.item])
        assert np.array_equal(part.timestamp, log.timestamp[part.item])


def test_split_random_deterministic() -> None:
    inter = _log()
    a = split_random(inter, 0.25, np.random.default_rng(7))
    b = split_random(inter, 0.25, np.random.default_rng(7))
    c = split_random(inter, 0.25, np.random.default_rng(8))
    for x, y in ((a.train, b.train), (a.heldout, b.heldout)):
        assert all(
            np.array_equal(getattr(x, f), getattr(y, f), equal_nan=True)
            for f in ("user", "item", "timestamp")
        )
    assert not np.array_equal(a.heldout.item, c.heldout.item)


def test_split_temporal_latest_held_out() -> None:
    inter = _log()
    split = split_temporal(inter, 0.3)
    n = _per_user(inter)
    assert (
        _per_user(split.heldout) == np.minimum(np.floor(0.3 * n + 0.5), np.maximum(n - 1, 0))
    ).all()
    for u in range(50):
        held = split.heldout.timestamp[split.heldout.user == u]
        train = split.train.timestamp[split.train.user == u]
        if len(held) and len(train):
            assert held.min() >= train.max()


def test_split_temporal_ties_follow_log_order() -> None:
    inter = Interactions.from_arrays([0, 0, 0, 0], [0, 1, 2, 3], timestamp=[5, 5, 5, 1])
    split = split_temporal(inter, 0.5)
    assert split.heldout.item.tolist() == [1, 2]
    assert split.train.item.tolist() == [0, 3]


def test_min_train_keeps_small_users() -> None:
    inter = Interactions.from_arrays([0, 1, 1, 2, 2, 2], [0, 0, 1, 0, 1, 2])
    split = split_random(inter, 1.0, np.random.default_rng(0), min_train=2)
    assert _per_user(split.train, 3).tolist() == [1, 2, 2]
    assert _per_user(split.heldout, 3).tolist() == [0, 0, 1]


def test_split_empty_and_bad_fraction() -> None:
    empty = split_random(Interactions.empty(), 0.5, np.random.default_rng(0))
    assert len(empty.train) == len(empty.heldout) == 0
    with pytest.raises(ValueError):
        split_temporal(_log(), 1.5)


def test_filter_min_interactions() -> None:
    inter = _log()
    ds = _dataset(inter)
    n = _per_user(inter)
    out = filter_min_interactions(ds, 10)
    keep = np.flatnonzero(n >= 10)
    assert out.users["user_id"].tolist() == (100 + keep).tolist()
    assert out.n_items == ds.n_items
    assert (_per_user(out.interactions, out.n_users) == n[keep]).all()
    assert out.latent["user_factors"][:, 0].tolist() == keep.tolist()
    assert out.latent["item_factors"].shape == (40, 2)
    # row order: the kept rows, in log order
    mask = np.isin(inter.user, keep)
    assert np.array_equal(out.interactions.item, inter.item[mask])
    assert np.array_equal(keep[out.interactions.user], inter.user[mask])
    out.validate()
    with pytest.raises(DataError, match="min_interactions"):
        filter_min_interactions(ds, 1000)


def test_subsample_users() -> None:
    inter = _log()
    ds = _dataset(inter)
    a = subsample_users(ds, 10, np.random.default_rng(3))
    b = subsample_users(ds, 10, np.random.default_rng(3))
    assert a.n_users == 10
    ids = a.users["user_id"].to_numpy()
    assert np.all(np.diff(ids) > 0)
    assert ids.tolist() == b.users["user_id"].tolist()
    assert np.array_equal(a.interactions.user, b.interactions.user)
    original = ids - 100
    mask = np.isin(inter.user, original)
    assert np.array_equal(original[a.interactions.user], inter.user[mask])
    assert a.latent["user_factors"][:, 0].tolist() == original.tolist()
    assert subsample_users(ds, 100, np.random.default_rng(0)) is ds
    with pytest.raises(DataError):
        subsample_users(ds, 0, np.random.default_rng(0))
