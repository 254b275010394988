"""The session engine: how a page is played, for the Mesa model and the Gymnasium environment alike.

A page is one batched :meth:`Policy.decide <simrec.agents.policies.base.Policy.decide>`
call for every user still browsing; the engine then writes the users' mood and
fatigue back into their state arrays, counts the page, and ends the sessions of
users who left or saw their last page. :class:`~simrec.env.model.SimModel`
plays whole sessions with :meth:`SessionEngine.play_session` (the pages of one
step); :class:`~simrec.env.gym_core.RecCore` plays one page per environment step with
:meth:`SessionEngine.play_page`, the slate coming from the agent. A change to
the session rules is made here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simrec.agents.policies.base import Decisions, PageBatch, Policy


class BrowsingState(Protocol):
    """Per-row arrays the engine reads and writes (:class:`~simrec.agents.state.UserState` is one)."""

    satisfaction: np.ndarray
    fatigue: np.ndarray
    pages: np.ndarray


@dataclass(frozen=True)
class PageOutcome:
    """One page of many sessions, as played.

    Attributes:
        page: Page number within the session (0-based).
        rows: ``[n]`` positions of the page's users among the step's arrivals.
        users: ``[n]`` user indices.
        items: ``[n, k]`` shown items.
        via: ``[n, k]`` int8 codes of how each item reached the page (``None``: all recommender).
        decisions: What the users did.
        ended: ``[n]`` bool, the session ends after this page (left, or it was the last page).
    """

    page: int
    rows: np.ndarray
    users: np.ndarray
    items: np.ndarray
    via: np.ndarray | None
    decisions: Decisions
    ended: np.ndarray


class SessionEngine:
    """Plays pages: decide, write mood and fatigue back, end sessions.

    Args:
        policy: Who decides.
        page_size: Items per page.
        pages_per_session: Pages a session has at most.
    """

    def __init__(self, policy: Policy, page_size: int, pages_per_session: int) -> None:
        self.policy = policy
        self.page_size = page_size
        self.pages_per_session = pages_per_session

    def play_page(
        self,
        batch: PageBatch,
        state: BrowsingState,
        index: np.ndarray,
        last: np.ndarray | bool,
    ) -> tuple[Decisions, np.ndarray]:
        """One batched decision; mood, fatigue and the page count written back to ``state[index]``.

        Args:
            batch: The page (its mood and fatigue read from ``state[index]`` by the caller,
                see :meth:`batch`).
            state: The arrays to write back to.
            index: ``[n]`` rows of ``state`` that the batch's users occupy.
            last: Whether this is each user's last page of the session.

        Returns:
            The decisions and ``[n]`` bool, whose session ends after the page.
        """
        chunk = getattr(self.policy, "decide_chunk", None)
        if chunk and len(batch) > chunk:  # a policy's scratch arrays stay those of one block of rows
            dec = Decisions.concat([self.policy.decide(batch.rows(a, a + chunk)) for a in range(0, len(batch), chunk)])
        else:
            dec = self.policy.decide(batch)
        state.satisfaction[index] = dec.satisfaction
        state.fatigue[index] = dec.fatigue
        state.pages[index] += 1
        return dec, dec.exits | last

    @staticmethod
    def batch(
        step: int,
        page: int,
        users: np.ndarray,
        items: np.ndarray,
        state: BrowsingState,
        index: np.ndarray,
        **context: np.ndarray | None,
    ) -> PageBatch:
        """The :class:`PageBatch` of ``users`` at rows ``index`` of ``state`` (``context``: its optional fields)."""
        return PageBatch(step, page, users, items, state.satisfaction[index], state.fatigue[index], **context)

    def play_session(
        self,
        step: int,
        users: np.ndarray,
        sessions: np.ndarray,
        slate: np.ndarray,
        state: BrowsingState,
        via: np.ndarray | None = None,
        pull: np.ndarray | None = None,
        popularity: np.ndarray | None = None,
        on_page: Callable[[int, int], None] | None = None,
    ) -> tuple[PageOutcome, ...]:
        """Every page of one step's sessions; page ``p`` shows columns ``p·k .. (p+1)·k`` of ``slate``.

        Args:
            step: Simulation step.
            users: ``[n]`` users in a session (rows of ``state`` too).
            sessions: ``[n]`` their session ids.
            slate: ``[n, k × pages]`` each session's ranked list.
            state: Per-user state arrays.
            via: ``[n, k × pages]`` how each item reached the list (``None``: the recommender).
            pull: ``[n, k × pages]`` friends'-likes pull on each item (``None``: no social graph).
            popularity: Interaction counts as the platform sees them this step.
            on_page: Called as ``(page, users still browsing)`` after each page (progress).

        Returns:
            The pages played, in order; a page holds only the users still browsing.
        """
        k, pages = self.page_size, self.pages_per_session
        active = np.arange(len(users))
        played: list[PageOutcome] = []
        for page in range(pages):
            if len(active) == 0:
                break
            u = users[active]
            cols = slice(page * k, (page + 1) * k)
            items = slate[active, cols]
            page_via = via[active, cols] if via is not None else None
            batch = self.batch(
                step, page, u, items, state, u, social=pull[active, cols] if pull is not None else None,
                via=page_via, sessions=sessions[active], popularity=popularity,
            )  # fmt: skip
            dec, ended = self.play_page(batch, state, u, page == pages - 1)
            played.append(PageOutcome(page, active, u, items, page_via, dec, ended))
            active = active[~ended]
            if on_page is not None:
                on_page(page, len(active))
        return tuple(played)
