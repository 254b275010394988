"""The Gymnasium environment's spaces and slate rule: de-duplication, masks, observation size."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from gymnasium.spaces import flatdim

from simrec.env.gym_spaces import (
    action_space,
    dedupe,
    fill_order,
    first_absent,
    observation_space,
    placed_mask,
)


def test_fill_order_is_most_popular_first_ties_by_index() -> None:
    assert fill_order(np.array([3.0, 9.0, 3.0, 7.0, 0.0]), 4).tolist() == [1, 3, 0, 2]


def test_dedupe_keeps_first_copies_and_fills_with_most_popular_absent() -> None:
    fill = np.array([7, 8, 9, 1, 2])  # most popular first
    pages = np.array(
        [
            [4, 5, 6, 3, 0],  # no repeat: unchanged
            [4, 4, 4, 4, 4],  # four repeats: 7, 8, 9, 1
            [7, 3, 7, 8, 3],  # repeats of 7 and 3: the most popular not on the page are 9, 1
            [1, 9, 8, 7, 1],  # the repeat takes 2, the only fill item left
        ]
    )
    out, replaced = dedupe(pages, fill)
    assert out.tolist() == [
        [4, 5, 6, 3, 0],
        [4, 7, 8, 9, 1],
        [7, 3, 9, 8, 1],
        [1, 9, 8, 7, 2],
    ]
    assert replaced.sum(axis=1).tolist() == [0, 4, 2, 1]
    assert all(len(set(row)) == 5 for row in out.tolist())
    again, none = dedupe(out, fill)
    assert np.array_equal(again, out) and not none.any()


def test_dedupe_random_pages_never_repeat_and_keep_distinct_items() -> None:
    rng = np.random.default_rng(0)
    fill = fill_order(rng.random(30), 5)
    pages = rng.integers(0, 30, size=(2000, 5))
    out, replaced = dedupe(pages, fill)
    assert all(len(set(row)) == 5 for row in out.tolist())
    assert np.array_equal(out[~replaced], pages[~replaced])
    assert np.isin(out[replaced], fill).all()


def test_placed_mask_marks_only_the_placed_slots() -> None:
    slate = np.array([[3, 1, 9, 9], [2, 9, 9, 9], [9, 9, 9, 9]])  # 9: empty-slot padding here
    mask = placed_mask(slate, np.array([2, 1, 0]), 9)
    assert mask.shape == (3, 9)
    assert np.flatnonzero(~mask[0]).tolist() == [1, 3]
    assert np.flatnonzero(~mask[1]).tolist() == [2]
    assert mask[2].all()


def obs_space(n_items: int, observation: str, action: str = "slate") -> spaces.Dict:
    return observation_space(
        n_users=200, n_items=n_items, history=20, pages=4, sessions=1, page_size=5,
        action=action, observation=observation,
    )  # fmt: skip


def test_ids_observation_size_does_not_grow_with_the_catalog() -> None:
    # flatdim is what Stable-Baselines3 feeds its network: one-hot for Discrete/MultiDiscrete
    for action, extra in (("slate", 0), ("item", 5 + 5)):
        sizes = {n: flatdim(obs_space(n, "ids", action)) for n in (300, 1682, 50_000)}
        assert set(sizes.values()) == {200 + 20 + 20 + 5 + 2 + extra}
    assert flatdim(obs_space(1682, "onehot")) == 200 + 20 * 1683 + 20 + 5 + 2


def test_action_spaces() -> None:
    assert action_space(300, 5, "item") == spaces.Discrete(300)
    assert action_space(300, 5, "slate") == spaces.MultiDiscrete([300] * 5)


def test_replacements_skip_the_items_the_user_has_seen() -> None:
    fill = np.array([7, 8, 9, 1, 2])
    seen = np.zeros((3, 10), bool)
    seen[0, [7, 9]] = True  # row 0 has seen 7 and 9: a repeat takes 8, then 1
    seen[1, :] = True  # row 1 has seen everything: the first item not on the page, as without
    pages = np.array([[4, 4, 4, 5, 6], [4, 4, 4, 5, 6], [4, 4, 4, 5, 6]])
    out, replaced = dedupe(pages, fill, seen)
    assert out.tolist() == [[4, 8, 1, 5, 6], [4, 7, 8, 5, 6], [4, 7, 8, 5, 6]]
    assert np.array_equal(replaced, dedupe(pages, fill)[1])
    assert first_absent(fill, np.array([[8, 10]]), seen[:1]).tolist() == [1]  # 10: padding


def test_placed_mask_masks_seen_items_but_is_never_all_false() -> None:
    slate = np.array([[3, 1, 4, 4], [2, 4, 4, 4], [0, 1, 4, 4]])  # 4: empty-slot padding
    seen = np.zeros((3, 4), bool)
    seen[0, 0] = True
    seen[1, [0, 1, 3]] = True  # with 2 placed: nothing fresh, only the placed item is masked
    seen[2, [2, 3]] = True
    mask = placed_mask(slate, np.array([2, 1, 2]), 4, seen)
    assert [np.flatnonzero(~m).tolist() for m in mask] == [[0, 1, 3], [2], [0, 1]]
    assert mask.any(axis=1).all()
