"""Down-sampling training data for cold-start studies (split.max_train, cold_share)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.data.split import downsample_train
from simrec.data.types import Interactions
from simrec.world.build import build_world
from tests.helpers import small_scenario


def _log(rng: np.random.Generator, n_users: int = 40) -> Interactions:
    user = np.repeat(np.arange(n_users), rng.integers(1, 20, n_users))
    return Interactions.from_arrays(
        user, rng.integers(0, 500, len(user)), timestamp=np.arange(len(user))
    )


def test_downsample_keeps_at_most_max_train_subset_in_order() -> None:
    rng = np.random.default_rng(0)
    train = _log(rng)
    out = downsample_train(train, 5, np.random.default_rng(1))
    before, after = (
        np.bincount(train.user),
        np.bincount(out.user, minlength=len(np.bincount(train.user))),
    )
    assert (after == np.minimum(before, 5)).all()
    assert np.all(np.diff(out.timestamp) > 0)  # a subset of rows, in the input's order
    assert set(out.timestamp) <= set(train.timestamp)


def test_downsample_is_seeded_and_cold_share_limits_users() -> None:
    train = _log(np.random.default_rng(2))
    a = downsample_train(train, 3, np.random.default_rng(5), share=0.5)
    b = downsample_train(train, 3, np.random.default_rng(5), share=0.5)
    assert np.array_equal(a.timestamp, b.timestamp)
    before, after = (
        np.bincount(train.user),
        np.bincount(a.user, minlength=len(np.bincount(train.user))),
    )
    cut = after < before
    assert (after <= np.where(cut, 3, before)).all()
    assert cut.sum() <= 20  # at most half the 40 users are down-sampled
    untouched = after == before
    assert untouched.sum() >= 20


def test_downsample_rejects_bad_arguments() -> None:
    train = _log(np.random.default_rng(3))
    with pytest.raises(ValueError):
        downsample_train(train, 0, np.random.default_rng(0))
    with pytest.raises(ValueError):
        downsample_train(train, 2, np.random.default_rng(0), share=0.0)


def test_world_split_max_train_leaves_heldout_unchanged(tmp_path: Path) -> None:
    full = build_world(small_scenario(tmp_path))
    cut = build_world(small_scenario(tmp_path, **{"environment.data.split.max_train": 4}))
    assert np.bincount(cut.train.user).max() <= 4
    assert len(cut.train) < len(full.train)
    for name in ("user", "item", "timestamp"):
        assert np.array_equal(getattr(cut.heldout, name), getattr(full.heldout, name))
    train_pairs = set(
        zip(full.train.user.tolist(), full.train.item.tolist(), full.train.timestamp.tolist())
    )
    assert (
        set(zip(cut.train.user.tolist(), cut.train.item.tolist(), cut.train.timestamp.tolist()))
        <= train_pairs
    )
