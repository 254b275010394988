"""``robustness.probe``: what the attacked and noisy items got, step by step (``robustness.parquet``).

One row per step and item group (``target``: the shilling targets, ``clickbait``,
``text``: the text-attacked items) with what the genuine users did with them on the
pages they played, and, for the targets, how the recommender ranks them for a fixed,
seeded sample of genuine users after the step's learn phase (step 0: after the first
fit). The probe reads the recommender without changing it: a recommender generator
drawn from while scoring is put back as it was, so a run with the probe makes the
same decisions as one without.

Columns: ``step``, ``group``, ``items`` (in the group), ``impressions`` (of the group's
items), ``step_impressions`` (of every item), ``exposure`` (their ratio), ``reach`` (share
of the step's sessions shown at least one), ``watches``, ``watch_rate`` (watches per
impression), ``rated``, ``mean_stars``; targets only: ``hit_rate`` (share of the sampled
users with a target in their first page, seen items excluded) and ``score_pct`` (the
targets' mean percentile among all items by the recommender's score; NaN for a
recommender without ``score``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simrec.env.phases import Browsing
from simrec.world.attacks import AttackPlan

__all__ = ["Probe"]


class Probe:
    """Per-step figures of a plan's item groups.

    Args:
        plan: The run's attack plan (its :meth:`~AttackPlan.groups`).
        n_users: Genuine users (the sample is drawn from them).
        page_size: Items on a page (the hit rate's k).
        sample: How many users the recommender is read for.
        rng: The probe's own generator (``child_rng(seed, "probe")``).
    """

    def __init__(self, plan: AttackPlan, n_users: int, page_size: int, sample: int, rng: np.random.Generator) -> None:
        self.groups = plan.groups()
        self.page_size = page_size
        size = min(sample, n_users)
        self.users = np.sort(rng.choice(n_users, size=size, replace=False)).astype(np.int64)
        self.rows: list[dict[str, float]] = []

    def frame(self) -> pd.DataFrame:
        """The rows so far (``robustness.parquet``)."""
        return pd.DataFrame(self.rows)

    def observe(self, step: int, browsing: Browsing | None, sessions: int, recommender: object) -> None:
        """Add ``step``'s rows: the pages played (``None`` before the first step) and the recommender's view."""
        total = sum(p.items.size for p in browsing.pages) if browsing is not None else 0
        for name, items in self.groups.items():
            row: dict[str, float] = {"step": step, "group": name, "items": len(items), "step_impressions": total}
            row.update(self._pages(browsing, items, sessions))
            row["exposure"] = row["impressions"] / total if total else 0.0
            if name == "target":
                row.update(self._view(recommender, items))
            self.rows.append(row)

    def _pages(self, browsing: Browsing | None, items: np.ndarray, sessions: int) -> dict[str, float]:
        shown = watches = rated = 0
        stars = 0.0
        reached: list[np.ndarray] = []
        for p in browsing.pages if browsing is not None else ():
            hit = np.isin(p.items, items)
            clicked = hit & p.decisions.clicks
            given = clicked & (p.decisions.ratings > 0)
            shown += int(hit.sum())
            watches += int(clicked.sum())
            rated += int(given.sum())
            stars += float(p.decisions.ratings[given].astype(np.float64).sum())
            reached.append(p.users[hit.any(axis=1)])
        reach = len(np.unique(np.concatenate(reached))) / sessions if reached and sessions else 0.0
        return {
            "impressions": shown, "reach": reach, "watches": watches, "watch_rate": watches / shown if shown else 0.0,
            "rated": rated, "mean_stars": stars / rated if rated else float("nan"),
        }  # fmt: skip

    def _view(self, recommender: object, items: np.ndarray) -> dict[str, float]:
        """Hit rate in the first page and the score percentile of ``items`` for the sampled users."""
        rng = getattr(recommender, "rng", None)
        state = rng.bit_generator.state if isinstance(rng, np.random.Generator) else None
        try:
            top = np.asarray(recommender.recommend(self.users, self.page_size, exclude_seen=True))  # type: ignore[attr-defined]
            hit = float(np.isin(top, items).any(axis=1).mean())
            pct = float("nan")
            score = getattr(recommender, "score", None)
            if callable(score):
                try:
                    s = np.asarray(score(self.users), np.float64)
                except NotImplementedError:
                    s = None
                if s is not None and s.ndim == 2 and s.shape[0] == len(self.users):
                    below = [(s < s[:, [int(i)]]).sum(axis=1) for i in items]  # one target at a time: [users, items]
                    pct = float(np.mean(below) / max(s.shape[1] - 1, 1))
        finally:
            if state is not None:
                rng.bit_generator.state = state  # type: ignore[union-attr]
        return {"hit_rate": hit, "score_pct": pct}
