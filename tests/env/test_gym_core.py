"""The environment's core (simrec.env.gym_core): repeats, once-per-user items, item actions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from gymnasium.utils.env_checker import data_equivalence

from simrec.env.gym import RecEnv
from simrec.world.build import World
from tests.env.gym_helpers import train_items

# --- repeats on a page ---------------------------------------------------------------


def test_repeats_are_replaced_by_the_most_popular_items_not_on_the_page(world: World) -> None:
    env = RecEnv(world=world)
    popular = np.argsort(-world.catalog.popularity, kind="stable")
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        seen = train_items(world, int(obs["user"]))
        slate = np.array([popular[1], 7, popular[1], 7, 7])
        _, reward, *_, info = env.step(slate)
        # the replacements: the most popular items neither on the page nor seen by the user
        others = [i for i in popular.tolist() if i not in (popular[1], 7) and i not in seen]
        assert info["shown"].tolist() == [popular[1], 7, *others[:3]]
        assert info["replaced"] == 3 and reward == info["clicks"].sum()
        assert info["seen"] == len(seen & {int(popular[1]), 7})
    env.reset(seed=0)
    *_, info = env.step(np.array([3, 10, 42, 99, 150]))
    assert info["replaced"] == 0 and info["shown"].tolist() == [3, 10, 42, 99, 150]


# --- an item counts once per user ------------------------------------------------------


def test_a_seen_item_is_never_watched_again(world: World) -> None:
    # seen: the training history, then every watch of the episode (across its sessions)
    env = RecEnv(world=world, horizon="sessions", sessions=3)
    popular = np.argsort(-world.catalog.popularity, kind="stable")
    rng = np.random.default_rng(0)
    skipped = watched_again = 0
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        seen = train_items(world, int(obs["user"]))
        done = False
        while not done:
            slate = popular[:5] if seed % 2 else rng.choice(300, 5, replace=False)
            obs, reward, term, trunc, info = env.step(slate)
            done = term or trunc
            was_seen = np.array([i in seen for i in info["shown"].tolist()])
            assert info["seen"] == was_seen.sum() and reward == info["clicks"].sum()
            assert not (info["clicks"] & was_seen).any() and not info["ratings"][was_seen].any()
            skipped += info["seen"]
            watched_again += int(np.isin(info["shown"][info["clicks"]], list(seen)).sum())
            seen |= set(info["shown"][info["clicks"]].tolist())
    assert skipped > 50 and watched_again == 0


def test_the_same_top_five_every_page_earns_no_more_than_paging_the_ranking(
    world: World,
) -> None:
    # the exploit of a choice model that rewatches: without the rule, the same 5 most popular
    # items on every page earn 4.50 watches an episode here, paging the ranking 3.69
    env = RecEnv(world=world)
    popular = np.argsort(-world.catalog.popularity, kind="stable")

    def watches(page_slate: Callable[[int], np.ndarray]) -> float:
        total = 0.0
        for seed in range(100):
            env.reset(seed=seed)
            for page in range(4):
                _, reward, term, trunc, _ = env.step(page_slate(page))
                total += reward
                if term or trunc:
                    break
        return total / 100

    same = watches(lambda page: popular[:5])
    paging = watches(lambda page: popular[5 * page : 5 * page + 5])
    # seen: same 1.83, paging 2.73
    assert same < paging


def test_the_mask_is_never_all_false_for_a_user_who_has_seen_every_item() -> None:
    # 10 items, up to 5 of them in a training history: a long episode sees them all
    env = RecEnv(
        overrides=["environment.data.n_items=10"], action="item", horizon="sessions", sessions=5
    )
    train = env.world.train
    fallbacks = 0
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        seen = set(train.item[train.user == obs["user"]].tolist())
        done = False
        while not done:
            mask = info["action_mask"]
            placed = set(obs["slate"][: obs["slot"]].tolist())
            assert mask.any() and not mask[list(placed)].any()
            if seen | placed == set(range(10)):  # nothing fresh left: the unplaced items
                assert np.flatnonzero(mask).tolist() == sorted(set(range(10)) - placed)
                fallbacks += 1
            else:
                assert np.flatnonzero(~mask).tolist() == sorted(seen | placed)
            obs, _, term, trunc, info = env.step(int(np.flatnonzero(mask)[0]))
            done = term or trunc
            if "clicks" in info:
                seen |= set(info["shown"][info["clicks"]].tolist())
    assert fallbacks > 0


# --- item actions ---------------------------------------------------------------------


def test_item_actions_fill_the_page_and_play_it_as_a_slate(world: World) -> None:
    slate_env, item_env = RecEnv(world=world), RecEnv(world=world, action="item")
    rng = np.random.default_rng(3)
    pages = np.array([rng.choice(300, 5, replace=False) for _ in range(8)])  # no repeats
    played = 0
    for seed in range(6):
        sobs, _ = slate_env.reset(seed=seed)
        iobs, info = item_env.reset(seed=seed)
        seen = train_items(world, int(iobs["user"]))  # masked too: an item counts once
        assert iobs["slot"] == 0 and (iobs["slate"] == 300).all()
        assert np.flatnonzero(~info["action_mask"]).tolist() == sorted(seen)
        for page in pages:
            for j, item in enumerate(page):
                iobs, r, term, trunc, info = item_env.step(int(item))
                assert np.array_equal(info["action_mask"], item_env.action_masks())
                if j < 4:
                    assert (r, term, trunc) == (0.0, False, False)
                    assert set(info) == {"replaced", "action_mask"} and info["replaced"] == 0
                    assert iobs["slot"] == j + 1
                    assert iobs["slate"][: j + 1].tolist() == page[: j + 1].tolist()
                    masked = seen | set(page[: j + 1].tolist())
                    assert np.flatnonzero(~info["action_mask"]).tolist() == sorted(masked)
            sobs, sr, sterm, strunc, sinfo = slate_env.step(page)
            assert (r, term, trunc) == (sr, sterm, strunc)
            assert info["seen"] == len(seen & set(page.tolist()))
            seen |= set(page[info["clicks"]].tolist())  # watched: seen from now on
            assert iobs["slot"] == 0
            assert np.flatnonzero(~info["action_mask"]).tolist() == sorted(seen)
            assert data_equivalence({k: info[k] for k in sinfo}, sinfo, exact=True)
            assert data_equivalence({k: iobs[k] for k in sobs}, sobs, exact=True)
            played += 1
            if term or trunc:
                break
    assert played > 6


def test_item_action_repeat_is_replaced_by_the_most_popular_item_not_on_the_page(
    world: World,
) -> None:
    env = RecEnv(world=world, action="item")
    obs, _ = env.reset(seed=0)
    seen = train_items(world, int(obs["user"]))
    # the most popular items the user has not seen (the replacements), most popular first
    popular = [i for i in np.argsort(-world.catalog.popularity, kind="stable") if i not in seen]
    obs, *_, info = env.step(int(popular[0]))
    obs, *_, info = env.step(int(popular[0]))  # a repeat: takes popular[1]
    assert info["replaced"] == 1 and obs["slate"][:2].tolist() == popular[:2]
    obs, *_, info = env.step(int(popular[0]))  # a repeat again: takes popular[2]
    assert info["replaced"] == 1 and obs["slate"][:3].tolist() == popular[:3]
    assert np.flatnonzero(~info["action_mask"]).tolist() == sorted(seen | set(popular[:3]))
    env.step(int(popular[10]))
    *_, info = env.step(int(popular[1]))  # the last slot: the page is played
    assert info["replaced"] == 1 and len(set(info["shown"].tolist())) == 5
    assert info["shown"].tolist() == [*popular[:3], popular[10], popular[3]]
    assert info["seen"] == 0
