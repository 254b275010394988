"""The popularity control: same per-user row counts as the synthetic set, unseen popular items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.augment.generate import Augmented, cold_users
from simrec.augment.utility import ARMS, compare, popularity_control
from simrec.data.types import Interactions
from simrec.io.export import cap_per_user
from simrec.world.build import build_world
from tests.helpers import small_scenario


def _augmented(tmp_path: Path, synthetic_rows: int = 3) -> Augmented:
    """A small world's real data plus fabricated synthetic rows (unseen items) for half the users."""
    world = build_world(small_scenario(tmp_path, **{"environment.data.split.max_train": 4}))
    n_users, n_items = world.population.n_users, world.catalog.n_items
    rng = np.random.default_rng(0)
    seen = world.train.matrix(n_users, n_items).toarray() > 0
    users = np.arange(0, n_users, 2)
    rows = [(u, i) for u in users for i in rng.choice(np.flatnonzero(~seen[u]), synthetic_rows, replace=False)]
    user, item = np.array(rows).T
    synthetic = Interactions.from_arrays(user, item, rating=rng.integers(1, 6, len(user)),
                                         timestamp=np.arange(len(user)))  # fmt: skip
    return Augmented(tmp_path, world.train, world.heldout, synthetic, users,
                     cold_users(world.train, n_users, 4), n_users, n_items, world.catalog)  # fmt: skip


@pytest.fixture(scope="module")
def aug(tmp_path_factory: pytest.TempPathFactory) -> Augmented:
    return _augmented(tmp_path_factory.mktemp("control"))


@pytest.mark.parametrize("kind", ["sampled", "top"])
def test_control_matches_synthetic_counts_and_avoids_training_items(aug: Augmented, kind: str) -> None:
    control = popularity_control(aug, np.random.default_rng(1), kind)
    assert len(control) == len(aug.synthetic)
    np.testing.assert_array_equal(
        np.bincount(control.user, minlength=aug.n_users), np.bincount(aug.synthetic.user, minlength=aug.n_users)
    )
    train = set(zip(aug.train.user.tolist(), aug.train.item.tolist(), strict=True))
    assert not train & set(zip(control.user.tolist(), control.item.tolist(), strict=True))
    pairs = pd.DataFrame({"u": control.user, "i": control.item})
    assert not pairs.duplicated().any()  # distinct items per user
    pop = np.bincount(aug.train.item, minlength=aug.n_items)
    assert (pop[control.item] > 0).all()  # enough popular unseen items: no zero-popularity draws
    # only the items differ: ratings and timestamps are the synthetic rows' own (sorted by user)
    order = np.argsort(aug.synthetic.user, kind="stable")
    np.testing.assert_array_equal(control.timestamp, aug.synthetic.timestamp[order])
    np.testing.assert_array_equal(control.rating, aug.synthetic.rating[order])


def test_control_is_seeded(aug: Augmented) -> None:
    a = popularity_control(aug, np.random.default_rng(5))
    b = popularity_control(aug, np.random.default_rng(5))
    c = popularity_control(aug, np.random.default_rng(6))
    np.testing.assert_array_equal(a.item, b.item)
    assert not np.array_equal(a.item, c.item)


def test_top_control_takes_the_most_popular_unseen_items(aug: Augmented) -> None:
    control = popularity_control(aug, np.random.default_rng(0), "top")
    pop = np.bincount(aug.train.item, minlength=aug.n_items)
    order = np.argsort(-pop, kind="stable")
    seen = aug.train.matrix(aug.n_users, aug.n_items).toarray() > 0
    for u in np.unique(control.user)[:10]:
        unseen = order[~seen[u][order]]
        assert control.item[control.user == u].tolist() == unseen[: (control.user == u).sum()].tolist()


def _toy(tmp_path: Path, synthetic_items: list[int]) -> Augmented:
    """Users 0-3 watched items 0-2 (popularity 1, 2, 6; item 3: 0); user 4 has no training rows."""
    train = Interactions.from_arrays(np.array([0, 1, 1, 2, 2, 2, 3, 3, 3]), np.array([0, 1, 1, 2, 2, 2, 2, 2, 2]))
    synthetic = Interactions.from_arrays(np.full(len(synthetic_items), 4), np.array(synthetic_items))
    return Augmented(tmp_path, train, Interactions.empty(), synthetic, np.array([4]), np.arange(5), 5, 4,
                     catalog=None)  # type: ignore[arg-type]  # fmt: skip


def test_sampled_control_follows_popularity(tmp_path: Path) -> None:
    """One-row draws hit each item with probability proportional to its training popularity."""
    one, rng = _toy(tmp_path, [3]), np.random.default_rng(3)
    items = np.array([popularity_control(one, rng).item[0] for _ in range(3000)])
    freq = np.bincount(items, minlength=4) / len(items)
    assert freq[3] == 0  # never watched in training: not drawn while others are left
    np.testing.assert_allclose(freq[:3], [1 / 9, 2 / 9, 6 / 9], atol=0.03)
    rows = popularity_control(_toy(tmp_path, [0, 1, 2, 3, 0]), rng).item
    assert sorted(rows[:4].tolist()) == [0, 1, 2, 3] and rows[4] == rows[0]  # more rows than items: cycles


def test_cap_per_user_keeps_best_rated_then_earliest() -> None:
    sim = pd.DataFrame({"user": [1, 0, 1, 1, 0, 1], "item": [10, 20, 11, 12, 21, 13],
                        "rating": [3.0, np.nan, 5.0, 3.0, 2.0, np.nan], "timestamp": np.arange(6)})  # fmt: skip
    out = cap_per_user(sim, 2)
    assert out["item"].tolist() == [10, 20, 11, 21]  # user 1: the 5, then the earlier 3; input order kept
    assert cap_per_user(sim, None) is sim


def test_compare_reports_every_arm(aug: Augmented) -> None:
    table = compare(aug, "mf", {"factors": 4, "iterations": 2}, seed=0)
    assert set(ARMS) <= set(table.columns)
    np.testing.assert_allclose(table["lift"], table["augmented"] - table["real"])
    np.testing.assert_allclose(table["lift_control"], table["augmented"] - table["control"])
    np.testing.assert_allclose(table["lift_top"], table["augmented"] - table["control_top"])
    again = compare(aug, "mf", {"factors": 4, "iterations": 2}, seed=0)
    pd.testing.assert_frame_equal(table, again)  # seeded end to end
    none = Augmented(**{**aug.__dict__, "synthetic": Interactions.empty()})
    empty = compare(none, "mf", {"factors": 4, "iterations": 2}, seed=0)
    np.testing.assert_allclose(empty["augmented"], empty["real"])  # no rows: every MF arm is real-only
    np.testing.assert_allclose(empty["control"], empty["real"])
    np.testing.assert_allclose(empty["control_top"], empty["real"])
    np.testing.assert_allclose(empty["popular"], table["popular"])  # reference ignores the synthetic rows
