"""Write your own policy: a binge watcher, in one method.

A policy decides a page for many users at once: what each of them watches, the
stars they give and whether they leave. Subclass
``simrec.agents.policies.base.BasePolicy`` and write ``decide(batch) -> Decisions``;
the base class gives the rest (``from_world``, ``connect``, ``llm_users``,
``end_step``, ``counters``) and keeps ``self.cfg`` (the scenario's ``policy:``
block), ``self.world`` (catalog, population, hidden taste) and ``self.rng`` (the
policy's seeded generator: draw every random number from it).

The binge watcher ignores everything but genre: each user watches the ``watch``
items of the page that best fit their favourite genres, rates them by their hidden
taste plus noise, tires with every watch, and leaves once fatigue reaches
``tired_at``. Name it in a scenario, with its parameters under ``policy.params``::

    policy: {name: "examples.own_policy:BingeWatcher", params: {watch: 2, tired_at: 1.0}}

and run it from the repository's root, with the root on the import path::

    PYTHONPATH=. simrec run quickstart --set policy.name=examples.own_policy:BingeWatcher

Check it the way simrec checks its own policies (``tests/examples/test_own_policy.py``
does both)::

    from simrec.testing import check_policy

    check_policy(BingeWatcher)  # built over a tiny synthetic world; raises on a broken contract
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrec.agents.policies.base import BasePolicy, Decisions, PageBatch


@dataclass(frozen=True)
class BingeParams:
    """The binge watcher's ``policy.params`` (an unknown key is a ``TypeError``).

    Attributes:
        watch: Items watched per page.
        tired_at: Fatigue at which the user leaves.
        fatigue_per_watch: Fatigue each watch adds.
        rating_noise: Standard deviation, in stars, of the noise on the hidden rating.
    """

    watch: int = 2
    tired_at: float = 1.0
    fatigue_per_watch: float = 0.25
    rating_noise: float = 0.5


class BingeWatcher(BasePolicy):
    """Watches the page's best genre fits, rates them by hidden taste, leaves when tired."""

    name = "binge_watcher"

    def decide(self, batch: PageBatch) -> Decisions:
        """Decide the page for every user of ``batch`` (``[n]`` users, ``[n, k]`` items)."""
        p = BingeParams(**self.cfg.params)
        world, users, items = self.world, batch.users, batch.items
        n, k = items.shape
        # how well each item fits the user's genres: [n, k, genres] · [n, genres]
        genres = world.catalog.genres[items].astype(np.float32)
        fit = np.einsum("nkg,ng->nk", genres, world.population.genre_affinity[users])
        best = np.argsort(-fit, axis=1, kind="stable")[:, : min(p.watch, k)]
        clicks = np.zeros((n, k), dtype=bool)
        np.put_along_axis(clicks, best, True, axis=1)
        # stars: the hidden rating model plus noise from the policy's own generator
        rows, cols = np.nonzero(clicks)
        score = world.taste.rating.predict(users[rows], items[rows, cols])
        noisy = score + p.rating_noise * self.rng.standard_normal(len(rows))
        ratings = np.zeros((n, k), dtype=np.int8)
        ratings[rows, cols] = np.clip(np.rint(noisy), 1, 5)
        # mood follows the stars (3 is neutral); every watch tires, and a tired user leaves
        watched = clicks.sum(axis=1)
        page_mood = (ratings.sum(axis=1) / np.maximum(watched, 1) - 3.0) / 2.0
        satisfaction = (0.5 * batch.satisfaction + 0.5 * page_mood).astype(np.float32)
        fatigue = (batch.fatigue + p.fatigue_per_watch * watched).astype(np.float32)
        return Decisions(clicks, ratings, fatigue >= p.tired_at, satisfaction, fatigue)
