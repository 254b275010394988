"""What the in-loop recommender learns from: :class:`TrainingFeed`.

The real training split plus the run's watches, as before, and with a ``robustness:``
block three more things (docs/robustness.md):

- the shilling attack's fake profiles, from ``fake_start`` (0: already in the data of the
  first fit) until ``fake_stop`` (the platform deletes them and refits without them);
- ``denoise``: watches rated too low, or not rated, are left out of every fit;
- ``defence.filter: rdma``: users whose ratings look like a shilling profile are left out
  of every fit, with a threshold from the real training users (all genuine).

Fake profiles reach the recommender only: the counts users see (``PageBatch.popularity``)
stay the genuine ones, and fake users never arrive, browse or appear in the event log.
Without a plan the feed is exactly ``train + watches``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from simrec.config.robustness import DenoiseConfig
from simrec.config.schema import ScenarioConfig
from simrec.data.types import Interactions
from simrec.world.build import World

__all__ = ["TrainingFeed"]


class TrainingFeed:
    """The data of every fit of the run's recommender, and what entered or left between fits.

    Args:
        world: The world (its ``train``, and its ``attacks`` plan if any).
        denoise: Interactions left out of every fit.
        defence: ``none`` or ``rdma``.
        false_positive_rate: ``rdma``: share of the real training users its threshold flags.

    Attributes:
        n_users: Users the recommender is fit for (the population, then the fake profiles).
        counts: Running totals over the run's fits: ``fits``, ``fake_fits`` (fits with the fake
            profiles in), ``fake_rows_fit`` (fake rows in fits), ``filtered_users`` /
            ``filtered_fake_users`` (users the defence left out, all and fake, summed over fits),
            ``denoised_rows`` (rows denoising dropped).
    """

    def __init__(
        self, world: World, denoise: DenoiseConfig | None = None, defence: str = "none", false_positive_rate: float = 0.01
    ) -> None:
        self.train = world.train
        plan = world.attacks
        self.fake = plan.fake if plan is not None else Interactions.empty()
        self.start = plan.fake_start if plan is not None else 0
        self.stop = plan.fake_stop if plan is not None else None
        self.first_fake = world.population.n_users
        self.n_users = world.population.n_users + (plan.n_fake_users if plan is not None else 0)
        self.n_items = world.catalog.n_items
        self.denoise = denoise if denoise is not None and denoise.active else None
        self.filter = None
        if defence == "rdma":
            from simrec.attacks.defence import RDMAFilter

            self.filter = RDMAFilter.calibrate(self.train, world.population.n_users, self.n_items, false_positive_rate)
        self.counts: dict[str, int] = defaultdict(int)

    @classmethod
    def for_run(cls, cfg: ScenarioConfig, world: World) -> TrainingFeed:
        """The feed of a run of ``cfg`` on ``world``, as its ``robustness:`` block says."""
        r = cfg.robustness
        return cls(world, r.denoise, r.defence.filter, r.defence.false_positive_rate)

    @property
    def plain(self) -> bool:
        """Whether every fit is exactly ``train + watches`` (no attack, no denoising, no filter)."""
        return not len(self.fake) and self.denoise is None and self.filter is None

    def fakes_in(self, step: int) -> bool:
        """Whether the fake profiles are part of the data at the learn phase of ``step`` (0: the first fit)."""
        return bool(len(self.fake)) and self.start <= step and (self.stop is None or step < self.stop)

    def data(self, history: Interactions, step: int) -> Interactions:
        """What a fit at the learn phase of ``step`` trains on (``step`` 0: the run's first fit)."""
        parts = [self.train, history]
        if self.fakes_in(step):
            parts.append(self.fake)
            self.counts["fake_rows_fit"] += len(self.fake)
            self.counts["fake_fits"] += 1
        full = Interactions.concat(parts)
        self.counts["fits"] += 1
        if self.plain:
            return full
        if self.denoise is not None:
            from simrec.attacks.defence import denoise

            full, dropped = denoise(full, self.denoise.min_rating, self.denoise.drop_unrated)
            self.counts["denoised_rows"] += dropped
        if self.filter is not None:
            full, flagged = self.filter.apply(full, self.n_users, self.n_items)
            self.counts["filtered_users"] += len(flagged)
            self.counts["filtered_fake_users"] += int((np.asarray(flagged) >= self.first_fake).sum())
        return full

    def entering(self, step: int) -> Interactions:
        """Rows that enter at the learn phase of ``step`` without a refit (the fake profiles, at ``start``)."""
        if len(self.fake) and self.start > 0 and step == self.start:
            return self.fake
        return Interactions.empty()

    def must_refit(self, step: int) -> bool:
        """Whether ``step``'s learn phase refits whatever the schedule says: the fake profiles are deleted."""
        return bool(len(self.fake)) and self.stop is not None and step == self.stop
