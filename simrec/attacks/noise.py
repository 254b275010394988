"""Natural noise in the choice model: clickbait appeal and accidental clicks (issue 18).

:class:`NoiseModel` is the noise part of a run's :class:`~simrec.world.attacks.AttackPlan`
in the form the choice policy uses it:

- **clickbait**: the plan's clickbait items (picked among those users like least) get
  ``clickbait_appeal`` added to their utility on the page, so they are watched more and
  rated low once watched (their stars come from the taste model, as any other item's);
- **accidental clicks**: with chance ``accidental_rate`` per page, one item of the page
  that was not watched is watched anyway (uniformly among the unwatched slots), rated the
  scale's lowest level with chance ``accidental_rated`` and left unrated (abandoned) otherwise.

Draws come from a ``uniform(name, slots)`` callable, so the policy can hand either its
generator or its per-user streams (:class:`~simrec.core.streams.UserStreams`, keyed by
user, step and page); :func:`stream_purpose` is the purpose the streams draw under.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simrec.data.scale import RatingScale
from simrec.world.attacks import AttackPlan

__all__ = ["ACCIDENTAL", "NoiseModel", "Uniform"]

#: The name of the accidental-click draws (``uniform(ACCIDENTAL, 3)``: the page's coin, the slot, the
#: rating coin), also their purpose in :data:`simrec.core.streams.PURPOSES`.
ACCIDENTAL = "accidental"

#: ``uniform(name, slots)``: ``[n, slots]`` uniforms in (0, 1) for the ``n`` rows of a page.
Uniform = Callable[[str, int], np.ndarray]


@dataclass(frozen=True)
class NoiseModel:
    """Clickbait appeal and accidental clicks, vectorised over a page of many users.

    Build it with :meth:`from_plan`.

    Attributes:
        clickbait: ``[n_items]`` bool, the clickbait items.
        clickbait_appeal: Utility added to a clickbait item on the page (0: none).
        accidental_rate: Chance per page of one accidental watch (0: none).
        accidental_rated: Share of accidental watches rated (``scale.min``); the rest unrated.
        scale: The rating scale (accidental stars are its lowest level, in its dtype).
    """

    clickbait: np.ndarray
    clickbait_appeal: float
    accidental_rate: float
    accidental_rated: float
    scale: RatingScale

    @classmethod
    def from_plan(cls, plan: AttackPlan | None, n_items: int, scale: RatingScale) -> NoiseModel | None:
        """The noise of ``plan`` over a catalog of ``n_items``; ``None`` without any (no plan, or
        not :attr:`AttackPlan.noisy`).

        Raises:
            ValueError: if a clickbait item is not an item index (``0..n_items-1``).
        """
        if plan is None or not plan.noisy:
            return None
        items = np.asarray(plan.clickbait, np.int64)
        if len(items) and (items.min() < 0 or items.max() >= n_items):
            raise ValueError(f"clickbait items must be item indices 0..{n_items - 1}, got {items.min()}..{items.max()}")
        mask = np.zeros(n_items, bool)
        mask[items] = True
        mask.setflags(write=False)
        return cls(mask, float(plan.clickbait_appeal), float(plan.accidental_rate), float(plan.accidental_rated), scale)

    @property
    def has_appeal(self) -> bool:
        """Whether clickbait items get extra utility on the page."""
        return self.clickbait_appeal > 0 and bool(self.clickbait.any())

    @property
    def has_accidents(self) -> bool:
        """Whether accidental clicks happen."""
        return self.accidental_rate > 0

    def is_clickbait(self, items: np.ndarray) -> np.ndarray:
        """``items``-shaped bool, where the item is clickbait."""
        return self.clickbait[items]

    def appeal(self, items: np.ndarray) -> np.ndarray | None:
        """``[n, k]`` float32 utility added on the page: the appeal on clickbait items, 0 elsewhere
        (``None`` without clickbait appeal)."""
        if not self.has_appeal:
            return None
        return np.where(self.clickbait[items], np.float32(self.clickbait_appeal), np.float32(0.0))

    def clickbait_counts(self, items: np.ndarray, watched: np.ndarray) -> tuple[int, int]:
        """``(impressions, watches)`` of clickbait items on a page (``items``, ``watched``: ``[n, k]``)."""
        bait = self.clickbait[items]
        return int(bait.sum()), int((bait & watched).sum())

    def accidental(
        self,
        users: np.ndarray,
        items: np.ndarray,
        watched: np.ndarray,
        ratings: np.ndarray,
        uniform: Uniform,
        eligible: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Accidental clicks on a page: ``(watched, ratings, n_accidents)`` (new arrays; inputs untouched).

        Each row draws ``uniform(ACCIDENTAL, 3)``: with chance ``accidental_rate`` one slot that
        was not watched (uniformly among them) becomes watched, rated ``scale.min`` with chance
        ``accidental_rated`` and left unrated (0: abandoned) otherwise. A row with every slot
        watched gets none. Without accidents (rate 0) nothing is drawn.

        Args:
            users: ``[n]`` user indices (the rows; the draws of a row depend on the row alone).
            items: ``[n, k]`` item indices.
            watched: ``[n, k]`` bool, what the choice model watched.
            ratings: ``[n, k]`` stars (0: unrated), in the scale's dtype.
            uniform: ``uniform(name, slots)`` → ``[n, slots]`` uniforms in (0, 1).
            eligible: ``[n, k]`` bool, slots an accident may hit (``None``: all), e.g. not the
                slots a policy never watches.
        """
        watched, ratings = watched.copy(), ratings.copy()
        if not self.has_accidents or not len(users):
            return watched, ratings, 0
        draws = np.asarray(uniform(ACCIDENTAL, 3))
        if draws.shape != (len(users), 3):
            raise ValueError(f"uniform({ACCIDENTAL!r}, 3) must give [{len(users)}, 3] draws, got {draws.shape}")
        free = ~watched if eligible is None else ~watched & eligible
        n_free = free.sum(axis=1)
        hit = (draws[:, 0] < self.accidental_rate) & (n_free > 0)
        rows = np.flatnonzero(hit)
        if not len(rows):
            return watched, ratings, 0
        nth = np.minimum((draws[rows, 1] * n_free[rows]).astype(np.int64), n_free[rows] - 1)
        cols = (np.cumsum(free[rows], axis=1) > nth[:, None]).argmax(axis=1)  # the nth free slot (0-based)
        watched[rows, cols] = True
        rated = draws[rows, 2] < self.accidental_rated
        ratings[rows[rated], cols[rated]] = np.asarray(self.scale.min, ratings.dtype)
        return watched, ratings, len(rows)
