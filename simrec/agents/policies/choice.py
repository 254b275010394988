"""The choice-model policy: multinomial logit, calibrated ratings, mood-driven exits.

Every later decision mode falls back on this one. Fully vectorised: one call
handles a whole page for many users, with no Python loop per impression.

Watching: each item ``i`` on the page has utility

    u_i = b_taste·z_i + (b_genre − b_novelty·diversity)·g_i
          + b_pop·conformity·pop_i + b_social·conformity·social_i
          − b_fatigue·fatigue − decay·position_i

(``z`` the user's z-scored hidden interest, ``g`` genre affinity, ``pop`` the
z-scored log popularity, ``social`` the trust-weighted recent likes of the
people the user follows, from :mod:`simrec.social.influence`). Next to it stands an outside option ("nothing more")
of utility ``outside_utility``. Picking items one after another by multinomial
logit *without replacement* until the outside option wins is the same as
ranking by ``u + Gumbel`` noise and keeping everything above the outside
option's perturbed utility (the Gumbel-top-k view of Plackett–Luce), which is
what we compute in one shot.

Rating: the hidden rating score is z-scored against the scores of the user's
own training items, noised, and mapped through the user's own rating
distribution, so each user keeps their habits (a harsh rater stays harsh).

Leaving: after each page the mood is an exponential moving average of how the
watched items compared with the user's usual rating (a page with nothing worth
watching counts as a disappointment); the chance to leave rises with a bad mood
and fatigue and falls with patience.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, ndtr

from simrec.agents.policies.base import Decisions, PageBatch
from simrec.config.schema import ChoiceParams, PolicyConfig
from simrec.world.catalog import Catalog
from simrec.world.population import Population
from simrec.world.taste import TasteModel

if TYPE_CHECKING:
    from simrec.world.build import World

_EMPTY_PAGE_VALUE = -0.5


class ChoicePolicy:
    """Vectorised choice model.

    Args:
        params: Choice-model parameters.
        catalog: Public item data (genres, popularity — read each page, so it may change).
        population: User traits and rating habits.
        taste: The hidden taste model.
        rng: The policy's seeded generator.
    """

    name = "choice"

    def __init__(
        self,
        params: ChoiceParams,
        catalog: Catalog,
        population: Population,
        taste: TasteModel,
        rng: np.random.Generator,
    ) -> None:
        self.params = params
        self.catalog = catalog
        self.population = population
        self.taste = taste
        self.rng = rng
        g = catalog.genres.astype(np.float32)
        self._genre_norm = g / np.maximum(g.sum(axis=1, keepdims=True), 1.0)

    @classmethod
    def from_world(
        cls, cfg: PolicyConfig, world: World, rng: np.random.Generator, llm: object | None = None
    ) -> ChoicePolicy:
        """Build from the ``policy:`` block (``policy.choice`` holds the parameters)."""
        return cls(cfg.choice, world.catalog, world.population, world.taste, rng)

    def popularity_z(self) -> np.ndarray:
        """Z-scored log popularity of every item (from the catalog's current counts)."""
        lp = np.log1p(self.catalog.popularity.astype(np.float32))
        return (lp - lp.mean()) / max(float(lp.std()), 1e-6)

    def utilities(self, batch: PageBatch) -> np.ndarray:
        """``[n, k]`` utilities of the page's items (before choice noise)."""
        p, pop = self.params, self.population
        users, items = batch.users, batch.items
        k = items.shape[1]
        u = p.beta_taste * self.taste.affinity(users, items)
        if self._genre_norm.shape[1]:
            genre = np.einsum("nkg,ng->nk", self._genre_norm[items], pop.genre_affinity[users])
            u += (p.beta_genre - p.beta_novelty * pop.diversity[users])[:, None] * genre
        u += (p.beta_popularity * pop.conformity[users])[:, None] * self.popularity_z()[items]
        if batch.social is not None and p.beta_social:
            u += (p.beta_social * pop.conformity[users])[:, None] * batch.social
        u -= (p.beta_fatigue * batch.fatigue)[:, None]
        u -= p.position_decay * np.arange(k, dtype=np.float32)[None, :]
        return u.astype(np.float32, copy=False)

    def choose(self, utilities: np.ndarray) -> np.ndarray:
        """Watched items: multinomial logit without replacement against the outside option."""
        n, k = utilities.shape
        noise = self.rng.gumbel(size=(n, k + 1)).astype(np.float32)
        outside = self.params.outside_utility + noise[:, k]
        return utilities + noise[:, :k] > outside[:, None]

    def rate(self, users: np.ndarray, items: np.ndarray, watched: np.ndarray) -> np.ndarray:
        """Stars 1..5 for watched items (0 elsewhere), calibrated to each user's history."""
        p, pop = self.params, self.population
        n, k = items.shape
        rated = watched & (self.rng.random((n, k)) < p.rate_probability) if p.rate_probability < 1 else watched
        score = self.taste.rating.predict(users, items)
        z = (score - pop.score_mean[users][:, None]) / pop.score_std[users][:, None]
        noise = self.rng.standard_normal((n, k)).astype(np.float32) * p.rating_noise
        q = ndtr((z + noise) / np.sqrt(1.0 + p.rating_noise**2))
        cdf = pop.rating_cdf[users][:, None, :4]
        stars = 1 + (q[:, :, None] > cdf).sum(axis=2)
        return np.where(rated, stars, 0).astype(np.int8)

    def feel(self, batch: PageBatch, watched: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mood and fatigue after the page."""
        p = self.params
        n_rated = (ratings > 0).sum(axis=1)
        rel = np.where(ratings > 0, ratings - self.population.rating_mean[batch.users][:, None], 0.0)
        value = np.where(n_rated > 0, rel.sum(axis=1) / np.maximum(n_rated, 1), _EMPTY_PAGE_VALUE)
        watched_unrated = watched.any(axis=1) & (n_rated == 0)
        value = np.where(watched_unrated, 0.0, value)
        sat = (1 - p.satisfaction_rate) * batch.satisfaction + p.satisfaction_rate * value
        fat = batch.fatigue + p.fatigue_per_page + p.fatigue_per_watch * watched.sum(axis=1)
        return sat.astype(np.float32), fat.astype(np.float32)

    def leave(self, users: np.ndarray, satisfaction: np.ndarray, fatigue: np.ndarray) -> np.ndarray:
        """Whether each user leaves after the page (exit hazard)."""
        p = self.params
        patience = self.population.patience[users]
        logit = (
            p.exit_base
            - p.exit_satisfaction * satisfaction
            + p.exit_fatigue * fatigue
            - p.exit_patience * (2.0 * patience - 1.0)
        )
        return self.rng.random(len(users)) < expit(logit)

    def decide(self, batch: PageBatch) -> Decisions:
        """Decide a page for every user in ``batch``."""
        watched = self.choose(self.utilities(batch))
        ratings = self.rate(batch.users, batch.items, watched)
        sat, fat = self.feel(batch, watched, ratings)
        exits = self.leave(batch.users, sat, fat)
        return Decisions(watched, ratings, exits, sat, fat)
