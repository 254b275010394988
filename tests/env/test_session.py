"""The session engine decides big pages in blocks: with per-user streams, the same decisions."""

from __future__ import annotations

import numpy as np

from simrec.agents.policies.base import PageBatch, build_policy
from simrec.agents.state import UserState
from simrec.core.rng import child_rng
from simrec.core.streams import streams_for
from simrec.env.session import SessionEngine
from simrec.world.build import build_world
from tests.helpers import small_scenario


def play(world, cfg, chunk: int | None) -> tuple:
    policy = build_policy(cfg.policy, world, child_rng(1, "policy"), streams=streams_for(1, "policy"))
    policy.decide_chunk = chunk
    n = world.population.n_users
    state = UserState.initial(n)
    users = np.arange(0, n, 2)
    slate = np.random.default_rng(0).integers(0, world.catalog.n_items, (len(users), 20))
    pages = SessionEngine(policy, 5, 4).play_session(1, users, users + 1000, slate, state)
    return pages, state


def test_blocks_decide_as_one_call_with_per_user_streams(tmp_path) -> None:
    cfg = small_scenario(tmp_path)
    world = build_world(cfg)
    whole, s_whole = play(world, cfg, None)
    blocks, s_blocks = play(world, cfg, 7)
    assert len(whole) == len(blocks) and len(whole[0].users) > 7 * 3
    for a, b in zip(whole, blocks, strict=True):
        np.testing.assert_array_equal(a.users, b.users)
        for name in ("clicks", "ratings", "exits", "satisfaction", "fatigue"):
            np.testing.assert_array_equal(getattr(a.decisions, name), getattr(b.decisions, name), err_msg=name)
    np.testing.assert_array_equal(s_whole.satisfaction, s_blocks.satisfaction)
    np.testing.assert_array_equal(s_whole.pages, s_blocks.pages)


def test_page_batch_rows_keep_every_field() -> None:
    n, k = 6, 3
    b = PageBatch(4, 2, np.arange(n), np.arange(n * k).reshape(n, k), np.ones(n, np.float32), np.zeros(n, np.float32),
                  social=np.ones((n, k)), via=np.zeros((n, k), np.int8), sessions=np.arange(n) + 9,
                  popularity=np.arange(50.0))  # fmt: skip
    r = b.rows(2, 5)
    assert (r.step, r.page, len(r)) == (4, 2, 3)
    np.testing.assert_array_equal(r.items, b.items[2:5])
    np.testing.assert_array_equal(r.sessions, [11, 12, 13])
    assert r.social.shape == (3, k) and r.via.shape == (3, k) and r.popularity is b.popularity
