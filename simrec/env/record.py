"""Turn one decided page into rows of the event table (vectorised, in bounded blocks)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from simrec.agents.policies.base import Decisions
from simrec.io.events import EVENT_TYPES, EventBatch

CODE = {name: np.int8(i) for i, name in enumerate(EVENT_TYPES)}

#: Event kinds each ``run.log`` setting keeps (``aggregates`` keeps no rows).
LOG_KINDS: dict[str, frozenset[str]] = {
    "events": frozenset(EVENT_TYPES),
    "interactions": frozenset({"click", "rating", "share", "exit"}),
    "aggregates": frozenset(),
}


@dataclass(frozen=True)
class PageRows:
    """One decided page of many users, the inputs of its event rows.

    Attributes:
        step: Simulation step.
        page: Page number within the session.
        sessions: ``[n]`` session ids.
        users: ``[n]`` user indices.
        items: ``[n, k]`` shown items.
        decisions: What the users did.
        ended: ``[n]`` bool, the session ends after this page (voluntary or not).
        policy_codes: ``[n]`` int8 policy code of each user's decision.
        timestamp: Simulated time of the page.
        via: ``[n, k]`` int8 codes of how each item reached the page (``None``: recommender).
        shares: ``[n, k]`` bool, the user shared the item with followers (``None``: none).
    """

    step: int
    page: int
    sessions: np.ndarray
    users: np.ndarray
    items: np.ndarray
    decisions: Decisions
    ended: np.ndarray
    policy_codes: np.ndarray
    timestamp: int
    via: np.ndarray | None = None
    shares: np.ndarray | None = None


def page_event_blocks(
    rows: PageRows, max_rows: int = 1 << 62, kinds: frozenset[str] = LOG_KINDS["events"]
) -> Iterator[EventBatch]:
    """The page's events in their fixed order, as batches of at most ``max_rows`` rows.

    Order: every impression (user-major, then position), then one click or skip
    per impression in the same order, then ratings, then shares, then exits. An
    exit row's ``value`` is 1 when the user chose to leave and 0 when the
    session ran out of pages. Event kinds not in ``kinds`` are left out (what
    ``run.log`` keeps: :data:`LOG_KINDS`); the rest keep their order. Blocks are
    built one at a time, so a page of a million users never sits in memory as rows.
    """
    n, k = rows.items.shape
    dec = rows.decisions
    flat_clicks = dec.clicks.reshape(-1)
    flat_ratings = dec.ratings.reshape(-1)
    segments: list[tuple[str, np.ndarray | None]] = []  # (kind, flat slot indices; None: every slot)
    if "impression" in kinds:
        segments.append(("impression", None))
    if "click" in kinds and "skip" in kinds:
        segments.append(("click/skip", None))
    elif "click" in kinds:
        segments.append(("click", np.flatnonzero(flat_clicks)))
    if "rating" in kinds:
        segments.append(("rating", np.flatnonzero(flat_ratings > 0)))
    if "share" in kinds and rows.shares is not None:
        segments.append(("share", np.flatnonzero(rows.shares.reshape(-1))))
    for kind, idx in segments:
        total = n * k if idx is None else len(idx)
        for start in range(0, total, max_rows):
            stop = min(total, start + max_rows)
            flat = np.arange(start, stop, dtype=np.int64) if idx is None else idx[start:stop]
            yield _slot_rows(rows, kind, flat, flat_clicks, flat_ratings)
    if "exit" in kinds:
        ended = np.flatnonzero(rows.ended)
        for start in range(0, len(ended), max_rows):
            yield _exit_rows(rows, ended[start : start + max_rows])


def _slot_rows(
    rows: PageRows, kind: str, flat: np.ndarray, clicks: np.ndarray, ratings: np.ndarray
) -> EventBatch:
    """Rows of one kind for the page slots at flat indices ``flat`` (``user_row × k + position``)."""
    k = rows.items.shape[1]
    r, pos = np.divmod(flat, k)
    m = len(flat)
    if kind == "click/skip":
        event = np.where(clicks[flat], CODE["click"], CODE["skip"]).astype(np.int8)
    else:
        event = np.full(m, CODE[kind], np.int8)
    value = ratings[flat].astype(np.float32) if kind == "rating" else np.full(m, np.nan, np.float32)
    via = rows.via.reshape(-1)[flat].astype(np.int8) if rows.via is not None else np.zeros(m, np.int8)
    return EventBatch(
        step=np.full(m, rows.step, np.int32),
        session=rows.sessions[r],
        page=np.full(m, rows.page, np.int16),
        position=pos.astype(np.int16),
        user=rows.users[r],
        item=rows.items.reshape(-1)[flat],
        event=event,
        value=value,
        policy=rows.policy_codes[r],
        timestamp=np.full(m, rows.timestamp, np.int64),
        via=via,
    )


def _exit_rows(rows: PageRows, r: np.ndarray) -> EventBatch:
    """Exit rows of the users at rows ``r`` (position and item ``-1``)."""
    m = len(r)
    return EventBatch(
        step=np.full(m, rows.step, np.int32),
        session=rows.sessions[r],
        page=np.full(m, rows.page, np.int16),
        position=np.full(m, -1, np.int16),
        user=rows.users[r],
        item=np.full(m, -1, np.int32),
        event=np.full(m, CODE["exit"], np.int8),
        value=rows.decisions.exits[r].astype(np.float32),
        policy=rows.policy_codes[r],
        timestamp=np.full(m, rows.timestamp, np.int64),
        via=np.zeros(m, np.int8),
    )


def page_events(**fields: object) -> EventBatch:
    """Every event of one page as one batch (the fields of :class:`PageRows` as keywords)."""
    return EventBatch.concat(list(page_event_blocks(PageRows(**fields))))  # type: ignore[arg-type]
