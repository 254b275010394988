"""Turn one decided page into rows of the event table (vectorised)."""

from __future__ import annotations

import numpy as np

from simrec.agents.policies.base import Decisions
from simrec.io.events import EVENT_TYPES, EventBatch

CODE = {name: np.int8(i) for i, name in enumerate(EVENT_TYPES)}


def page_events(
    *,
    step: int,
    page: int,
    sessions: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    decisions: Decisions,
    ended: np.ndarray,
    policy_codes: np.ndarray,
    timestamp: int,
    via: np.ndarray | None = None,
    shares: np.ndarray | None = None,
) -> EventBatch:
    """Events of one page for many users, in a fixed order.

    Order: every impression (user-major, then position), then one click or skip
    per impression in the same order, then ratings, then shares, then exits. An
    exit row's ``value`` is 1 when the user chose to leave and 0 when the
    session ran out of pages.

    Args:
        step: Simulation step.
        page: Page number within the session.
        sessions: ``[n]`` session ids.
        users: ``[n]`` user indices.
        items: ``[n, k]`` shown items.
        decisions: What the users did.
        ended: ``[n]`` bool, the session ends after this page (voluntary or not).
        policy_codes: ``[n]`` int8 policy code of each user's decision.
        timestamp: Simulated time of the page.
        via: ``[n, k]`` int8 codes of how each item reached the page (default: recommender).
        shares: ``[n, k]`` bool, the user shared the item with followers.
    """
    n, k = items.shape
    nk = n * k
    pos = np.tile(np.arange(k, dtype=np.int16), n)
    rep_user = np.repeat(users, k)
    rep_session = np.repeat(sessions, k)
    rep_policy = np.repeat(policy_codes, k)
    flat_items = items.reshape(-1)
    clicks = decisions.clicks.reshape(-1)
    ratings = decisions.ratings.reshape(-1)
    r_idx = np.nonzero(ratings > 0)[0]
    s_idx = np.nonzero(shares.reshape(-1))[0] if shares is not None else np.empty(0, np.int64)
    e_idx = np.nonzero(ended)[0]
    flat_via = via.reshape(-1).astype(np.int8) if via is not None else np.zeros(nk, np.int8)

    event = np.concatenate(
        [
            np.full(nk, CODE["impression"], np.int8),
            np.where(clicks, CODE["click"], CODE["skip"]).astype(np.int8),
            np.full(len(r_idx), CODE["rating"], np.int8),
            np.full(len(s_idx), CODE["share"], np.int8),
            np.full(len(e_idx), CODE["exit"], np.int8),
        ]
    )
    nan_nk = np.full(nk, np.nan, np.float32)
    total = len(event)
    return EventBatch(
        step=np.full(total, step, np.int32),
        session=np.concatenate([rep_session, rep_session, rep_session[r_idx], rep_session[s_idx], sessions[e_idx]]),
        page=np.full(total, page, np.int16),
        position=np.concatenate([pos, pos, pos[r_idx], pos[s_idx], np.full(len(e_idx), -1, np.int16)]),
        user=np.concatenate([rep_user, rep_user, rep_user[r_idx], rep_user[s_idx], users[e_idx]]),
        item=np.concatenate([flat_items, flat_items, flat_items[r_idx], flat_items[s_idx], np.full(len(e_idx), -1)]),
        event=event,
        value=np.concatenate(
            [nan_nk, nan_nk, ratings[r_idx].astype(np.float32), np.full(len(s_idx), np.nan, np.float32),
             decisions.exits[e_idx].astype(np.float32)]
        ),  # fmt: skip
        policy=np.concatenate([rep_policy, rep_policy, rep_policy[r_idx], rep_policy[s_idx], policy_codes[e_idx]]),
        timestamp=np.full(total, timestamp, np.int64),
        via=np.concatenate([flat_via, flat_via, flat_via[r_idx], flat_via[s_idx], np.zeros(len(e_idx), np.int8)]),
    )
