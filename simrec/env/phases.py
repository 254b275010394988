"""The values that :meth:`SimModel.step <simrec.env.model.SimModel.step>`'s phases hand each other.

Each phase takes what earlier phases returned and returns one of these frozen
values; nothing travels between phases in hidden attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simrec.agents.policies.base import PolicyOutput
from simrec.data.types import Interactions
from simrec.env.session import PageOutcome
from simrec.io.texts import TextRow

#: The phases of one step, in the order they run (timings in the manifest use these names).
PHASES = ("arrive", "recommend", "perceive", "decide", "remember", "socialize", "items", "learn", "collect")


@dataclass(frozen=True)
class Arrivals:
    """Who opens the platform this step.

    Attributes:
        users: ``[n]`` sorted user indices.
        sessions: ``[n]`` their new session ids.
    """

    users: np.ndarray
    sessions: np.ndarray

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class Slate:
    """The recommender's ranked list for each arrival: ``items [n, page_size × pages]``."""

    items: np.ndarray


@dataclass(frozen=True)
class Perception:
    """What the social graph adds to the slate (all ``None`` without a living graph).

    Attributes:
        via: ``[n, K]`` int8, 1 where a friend's share took the social slot.
        pull: ``[n, K]`` friends'-likes pull on each listed item.
    """

    via: np.ndarray | None = None
    pull: np.ndarray | None = None


@dataclass(frozen=True)
class PlayedPages:
    """Counts of the step's pages when the pages stayed with the shards that played them.

    Attributes:
        pages: Pages shown.
        exits: Voluntary exits.
        events: Event rows the shards wrote.
        item_counts: Per-item counts (``run.log: aggregates``), else ``None``.
    """

    pages: int
    exits: int
    events: int
    item_counts: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class Browsing:
    """The step's sessions as played.

    Attributes:
        pages: Every page, in order (see :class:`~simrec.env.session.PageOutcome`).
        interactions: The step's watches (stars NaN where unrated), in page order.
        timestamps: Simulated time of each page (``timestamps[page]``).
        played: In a sharded run, the pages' counts (``pages`` is then empty: the shards
            kept them and wrote their events); ``None`` otherwise.
    """

    pages: tuple[PageOutcome, ...]
    interactions: Interactions
    timestamps: tuple[int, ...]
    played: PlayedPages | None = None


@dataclass(frozen=True)
class MindStep:
    """What the remember phase gathered.

    Attributes:
        output: The policy's step output (texts, item feedback, share messages).
        reflections: Insights LLM-driven agents wrote this step.
        memories: Memories written so far (``None``: the run keeps no minds).
    """

    output: PolicyOutput
    reflections: tuple[TextRow, ...] = ()
    memories: int | None = None


@dataclass(frozen=True)
class SocialStep:
    """What the socialize phase decided: ``shares[p]`` is page ``p``'s ``[n, k]`` shares (``None``: no graph)."""

    shares: tuple[np.ndarray | None, ...] = field(default_factory=tuple)

    def of_page(self, p: int) -> np.ndarray | None:
        """Page ``p``'s shares, or ``None``."""
        return self.shares[p] if p < len(self.shares) else None


@dataclass(frozen=True)
class Learned:
    """What the learn phase left: the platform's interaction counts and whether it refit."""

    popularity: np.ndarray
    retrained: bool
