"""Held-out precision and recall on a hand-made example and against a set-based loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simrec.metrics.accuracy import heldout_precision_recall


def _example() -> tuple[np.ndarray, ...]:
    # user 0: shown {1, 2, 4} (1 twice), held out {1, 2, 3, 9} -> P 2/3, R 2/4
    # user 1: shown {6}, held out {5}                          -> P 0,   R 0
    # user 2: shown {1, 2}, no held-out items                   -> excluded
    # user 3: nothing shown, held out {7}                       -> P 0, R 0 (default) or excluded
    shown_user = np.array([0, 0, 0, 0, 1, 2, 2])
    shown_item = np.array([1, 1, 4, 2, 6, 1, 2])
    held_user = np.array([0, 0, 0, 0, 0, 1, 3])
    held_item = np.array([1, 2, 3, 9, 2, 5, 7])  # (0, 2) twice: counts once
    return shown_user, shown_item, held_user, held_item


def test_hand_example_includes_unseen_users_with_zero() -> None:
    p, r = heldout_precision_recall(*_example(), n_users=5)
    assert p == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert r == pytest.approx((0.5 + 0 + 0) / 3)


def test_hand_example_only_shown_users() -> None:
    p, r = heldout_precision_recall(*_example(), n_users=5, only_shown=True)
    assert p == pytest.approx(1 / 3)
    assert r == pytest.approx(0.25)


def test_perfect_and_empty() -> None:
    u, i = np.array([0, 0, 1]), np.array([3, 4, 3])
    assert heldout_precision_recall(u, i, u, i, n_users=2) == pytest.approx((1.0, 1.0))
    empty = np.array([], np.int64)
    p, r = heldout_precision_recall(u, i, empty, empty, n_users=2)
    assert math.isnan(p) and math.isnan(r)
    assert heldout_precision_recall(empty, empty, u, i, n_users=2) == (0.0, 0.0)
    with pytest.raises(ValueError):
        heldout_precision_recall(u, i, u, i, n_users=1)


@pytest.mark.parametrize("only_shown", [False, True])
def test_matches_set_based_loop(only_shown: bool) -> None:
    rng = np.random.default_rng(5)
    n_users, n_items = 40, 25
    su, si = rng.integers(0, n_users - 5, 600), rng.integers(0, n_items, 600)
    hu, hi = rng.integers(3, n_users, 300), rng.integers(0, n_items, 300)
    ps, rs = [], []
    for u in range(n_users):
        shown, held = set(si[su == u]), set(hi[hu == u])
        if not held or (only_shown and not shown):
            continue
        ps.append(len(shown & held) / len(shown) if shown else 0.0)
        rs.append(len(shown & held) / len(held))
    p, r = heldout_precision_recall(su, si, hu, hi, n_users, only_shown=only_shown)
    assert p == pytest.approx(np.mean(ps))
    assert r == pytest.approx(np.mean(rs))
