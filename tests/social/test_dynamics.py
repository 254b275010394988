"""SocialDynamics on scripted outcomes: trust, strikes and unfollows, cascades, follows, the social slot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.core.rng import child_rng
from simrec.data.types import Interactions
from simrec.social.dynamics import SocialDynamics
from simrec.social.graph import SocialGraph
from simrec.world.build import build_world
from tests.helpers import small_scenario

ITEM = 7


@pytest.fixture()
def world(tmp_path: Path):
    cfg = small_scenario(tmp_path, **{"environment.data.split.kind": "none"})
    return cfg, build_world(cfg)


def make(cfg, world, edges: list[tuple[int, int]], directed: bool = True, **dyn) -> SocialDynamics:
    cfg = cfg.model_copy(deep=True)
    for k, v in {"follow_rate": 0.0, "follow_upstream": 0.0, **dyn}.items():
        setattr(cfg.environment.social.dynamics, k, v)
    world.graph = SocialGraph.from_edges(world.population.n_users, np.array(edges).reshape(-1, 2), directed)
    return SocialDynamics(cfg.environment.social, world, child_rng(0, "social"))


def unwatched_items(world, users: list[int], k: int) -> list[int]:
    """``k`` items none of ``users`` watched in training (the slot skips watched items)."""
    seen = set(world.train.item[np.isin(world.train.user, users)].tolist())
    return [i for i in range(world.catalog.n_items) if i not in seen][:k]


def unwatched_item(world, users: list[int]) -> int:
    return unwatched_items(world, users, 1)[0]


def share(dyn: SocialDynamics, step: int, user: int, item: int) -> None:
    """``user`` shares ``item`` at ``step`` (without seeing a slot themselves)."""
    dyn.begin_step(step)
    dyn.perceive(np.array([], np.int64), np.empty((0, 5), np.int64), 5)
    dyn.socialize(step, np.array([user]), Interactions.empty(), (np.array([user]), np.array([item])),
                  np.empty(0, bool), np.empty(0, np.int8))  # fmt: skip


def see(dyn: SocialDynamics, step: int, user: int, stars: int, reshare: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``user`` opens a session: returns (slate, via); they rate the slot item ``stars`` (0 = skipped)."""
    dyn.begin_step(step)
    slate = np.arange(100, 110, dtype=np.int64)[None, :]
    via, _ = dyn.perceive(np.array([user]), slate, 5)
    item = int(slate[0, 0])
    watched = stars > 0
    inter = (
        Interactions.from_arrays(np.array([user]), np.array([item]), np.array([stars], np.float32))
        if watched
        else Interactions.empty()
    )
    shares = (np.array([user]), np.array([item])) if reshare else (np.empty(0, np.int64), np.empty(0, np.int64))
    clicked = np.array([watched]) if len(dyn.delivered_users) else np.empty(0, bool)
    given = np.array([stars], np.int8) if len(dyn.delivered_users) else np.empty(0, np.int8)
    dyn.socialize(step, np.array([user]), inter, shares, clicked, given)
    return slate, via


def test_trust_rises_on_liked_shares_and_falls_on_disliked_and_ignored(world) -> None:
    cfg, w = world
    items = unwatched_items(w, [0], 3)
    dyn = make(cfg, w, [(0, 1)])
    arc = lambda: int(dyn.graph.arc_index(np.array([0]), np.array([1]))[0])
    trust = [float(dyn.graph.trust[arc()])]
    for item, (step, stars) in zip(items, ((1, 5), (3, 1), (5, 0)), strict=True):
        share(dyn, step, 1, item)  # a new item each time
        see(dyn, step + 1, 0, stars)
        trust.append(float(dyn.graph.trust[arc()]))
    p = cfg.environment.social.dynamics
    assert trust[1] == pytest.approx(0.5 + p.trust_up * 0.5)  # liked: up
    assert trust[2] == pytest.approx(trust[1] * (1 - p.trust_down))  # disliked: down
    assert trust[3] == pytest.approx(trust[2] * (1 - p.trust_skip))  # ignored: down a little
    assert trust[2] - trust[3] < trust[1] - trust[2]


def test_unfollow_after_repeated_disliked_shares_and_a_like_resets_the_count(world) -> None:
    cfg, w = world
    dyn = make(cfg, w, [(0, 1), (0, 2)], unfollow_after=3, unfollow_rate=1.0)
    items = iter(unwatched_items(w, [0], 8))
    steps = iter(range(1, 100, 2))
    # user 2: dislike, dislike, like, dislike, dislike -> strikes never reach 3
    for stars in (1, 2, 5, 1, 1):
        s = next(steps)
        share(dyn, s, 2, next(items))
        see(dyn, s + 1, 0, stars)
    assert dyn.graph.has_arc(np.array([0]), np.array([2]))[0]
    # user 1: three disappointments in a row -> dropped after the third, not before
    for n, stars in enumerate((1, 0, 2), start=1):
        s = next(steps)
        share(dyn, s, 1, next(items))
        see(dyn, s + 1, 0, stars)
        assert dyn.graph.has_arc(np.array([0]), np.array([1]))[0] == (n < 3)
    assert dyn.counts["unfollows"] == 1


def test_friendship_unfollow_drops_both_directions(world) -> None:
    cfg, w = world
    dyn = make(cfg, w, [(0, 1)], directed=False, unfollow_after=1, unfollow_rate=1.0)
    assert dyn.graph.n_arcs == 2
    share(dyn, 1, 1, unwatched_item(w, [0]))
    see(dyn, 2, 0, 1)
    assert dyn.graph.n_arcs == 0


def test_cascade_depth_size_breadth_and_reach_on_a_hand_built_chain(world) -> None:
    cfg, w = world
    # 1 follows 0, 2 follows 1, 3 follows 2; 4 also follows 0
    dyn = make(cfg, w, [(1, 0), (2, 1), (3, 2), (4, 0)])
    item = unwatched_item(w, [1, 2, 3, 4])
    share(dyn, 1, 0, item)
    see(dyn, 2, 1, 5, reshare=True)
    see(dyn, 2, 4, 4, reshare=True)  # a branch at depth 1
    see(dyn, 3, 2, 5, reshare=True)
    see(dyn, 4, 3, 4, reshare=True)
    shares = dyn.cascades.shares_frame()
    assert shares["depth"].tolist() == [0, 1, 1, 2, 3]
    assert shares["parent"].tolist() == [-1, 0, 0, 1, 3]
    assert (shares["cascade"] == 0).all()
    table = dyn.cascades.table()
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["size"], row["depth"], row["breadth"], row["reach"]) == (5, 3, 2, 4)
    assert row["root_user"] == 0 and row["item"] == item


def test_a_share_not_from_the_slot_starts_its_own_cascade(world) -> None:
    cfg, w = world
    dyn = make(cfg, w, [(1, 0)])
    item = unwatched_item(w, [1])
    share(dyn, 1, 0, item)
    share(dyn, 2, 1, (item + 1) % w.catalog.n_items)  # user 1 shares another item
    assert dyn.cascades.shares_frame()["cascade"].tolist() == [0, 1]


def test_slot_places_the_share_and_moves_a_duplicate_up(world) -> None:
    cfg, w = world
    dyn = make(cfg, w, [(0, 1)])
    item = unwatched_item(w, [0])
    share(dyn, 1, 1, item)
    dyn.begin_step(2)
    slate = np.array([[50, 51, 52, item, 54, 55]], np.int64)
    via, slot_share = dyn.perceive(np.array([0]), slate, 3)
    assert slate[0].tolist() == [item, 51, 52, 50, 54, 55]  # swapped, nothing lost
    assert via[0].tolist() == [1, 0, 0, 0, 0, 0] and slot_share.tolist() == [0]
    # delivered once: the next session has no slot item
    dyn.begin_step(3)
    via, _ = dyn.perceive(np.array([0]), np.arange(6, dtype=np.int64)[None, :], 3)
    assert via.sum() == 0


def test_slot_skips_watched_items_and_expired_shares(world) -> None:
    cfg, w = world
    watched = int(w.train.item[w.train.user == 0][0])
    dyn = make(cfg, w, [(0, 1)], inbox_ttl=2)
    share(dyn, 1, 1, watched)
    dyn.begin_step(2)
    via, _ = dyn.perceive(np.array([0]), np.arange(5, dtype=np.int64)[None, :], 5)
    assert via.sum() == 0
    share(dyn, 3, 1, unwatched_item(w, [0]))
    dyn.begin_step(6)  # older than inbox_ttl
    via, _ = dyn.perceive(np.array([0]), np.arange(5, dtype=np.int64)[None, :], 5)
    assert via.sum() == 0


def test_most_trusted_sharer_wins_the_slot(world) -> None:
    cfg, w = world
    dyn = make(cfg, w, [(0, 1), (0, 2)])
    dyn.graph.trust[dyn.graph.arc_index(np.array([0]), np.array([2]))] = 0.9
    a, b = unwatched_items(w, [0], 2)
    share(dyn, 1, 1, a)
    share(dyn, 1, 2, b)
    dyn.begin_step(2)
    slate = np.arange(200, 205, dtype=np.int64)[None, :]
    dyn.perceive(np.array([0]), slate, 5)
    assert slate[0, 0] == b


def test_follow_the_original_sharer_of_a_liked_reshare(world) -> None:
    cfg, w = world
    dyn = make(cfg, w, [(1, 0), (2, 1)], follow_upstream=1.0, follow_similarity=-1.0)
    item = unwatched_item(w, [1, 2])
    share(dyn, 1, 0, item)
    see(dyn, 2, 1, 5, reshare=True)
    assert not dyn.graph.has_arc(np.array([2]), np.array([0]))[0]
    see(dyn, 3, 2, 5)
    assert dyn.graph.has_arc(np.array([2]), np.array([0]))[0]
    assert dyn.counts["follows"] == 1


def test_friends_of_friends_follows_respect_the_similarity_bar(world) -> None:
    cfg, w = world
    n = w.population.n_users
    ring = [(u, (u + 1) % n) for u in range(n)]
    users = np.arange(n)
    open_door = make(cfg, w, ring, follow_rate=1.0, follow_similarity=-1.0)
    open_door.begin_step(1)
    open_door.socialize(1, users, Interactions.empty(), (np.empty(0), np.empty(0)), np.empty(0, bool), np.empty(0))
    assert open_door.counts["follows"] == n  # everyone follows the user two steps along the ring
    assert open_door.graph.has_arc(users, (users + 2) % n).all()
    closed = make(cfg, w, ring, follow_rate=1.0, follow_similarity=1.0)
    closed.begin_step(1)
    closed.socialize(1, users, Interactions.empty(), (np.empty(0), np.empty(0)), np.empty(0, bool), np.empty(0))
    assert closed.counts["follows"] == 0


def test_rule_shares_only_liked_items_at_the_configured_rate(world) -> None:
    cfg, w = world
    users = np.arange(w.population.n_users)
    ratings = np.tile(np.array([5, 4, 3, 2, 0], np.int8), (len(users), 1))
    none = make(cfg, w, [(0, 1)], share_rate=0.0).rule_shares(users, ratings)
    assert not none.any()
    dyn = make(cfg, w, [(0, 1)], share_rate=1.0)
    shares = dyn.rule_shares(users, ratings)
    assert not shares[:, 2:].any() and shares[:, 0].mean() > 0.5
    decided = np.zeros(len(users), bool)
    decided[:10] = True
    assert not dyn.rule_shares(users, ratings, decided)[:10].any()


def test_seed_shares_reach_the_hubs_followers(tmp_path: Path) -> None:
    cfg = small_scenario(
        tmp_path,
        **{"environment.social.builder": "barabasi_albert", "environment.social.m": 2,
           "environment.social.seed_shares": "[{item: random, users: 3, pick: hubs, step: 1}]"},
    )  # fmt: skip
    w = build_world(cfg)
    dyn = SocialDynamics(cfg.environment.social, w, child_rng(0, "social"))
    dyn.begin_step(1)
    hubs = np.argsort(-w.graph.in_degree(), kind="stable")[:3]
    frame = dyn.cascades.shares_frame()
    assert sorted(frame["user"]) == sorted(hubs.tolist()) and frame["seeded"].all()
    assert frame["item"].nunique() == 1
    assert dyn.metrics(1)["seed_cascade_size"] == 3
