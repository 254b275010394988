"""The choice-model policy: multinomial logit, calibrated ratings, mood-driven exits.

Every later decision mode falls back on this one. Fully vectorised: one call
handles a whole page for many users, with no Python loop per impression.

Watching: each item ``i`` on the page has utility

    u_i = b_taste·z_i + b_ease·e_i + (b_genre − b_novelty·diversity)·g_i
          + b_pop·conformity·pop_i + b_social·conformity·social_i
          + b_taste_contrast·(z_i − mean z) + b_pop_contrast·conformity·(pop_i − mean pop)
          − b_fatigue·fatigue − decay·position_i

(``z`` the user's z-scored hidden interest, ``e`` the z-scored EASE interest when
``agents.taste.ease_reg`` is set, ``g`` genre affinity, ``pop`` the
z-scored log popularity, ``social`` the trust-weighted recent likes of the
people the user follows, from :mod:`simrec.social.influence`; the means are over
the page, so the contrast terms say how an item stands out from what is shown
with it). Next to it stands an outside option ("nothing more")
of utility ``outside_utility``. Picking items one after another by multinomial
logit *without replacement* until the outside option wins is the same as
ranking by ``u + Gumbel`` noise and keeping everything above the outside
option's perturbed utility (the Gumbel-top-k view of Plackett–Luce), which is
what we compute in one shot. ``choice_noise`` scales the Gumbel noise (0: watch
exactly the items above the outside option); calibration
(:mod:`simrec.fidelity.calibrate`) may fit the weights and set it.

How many to watch (``picks``). With ``fixed`` the outside option is the same on
every page, so each item is judged alone. With ``page`` the outside option moves
with the page: the agent infers from the page itself what share ``π`` of its items
is worth watching (:func:`page_share`, an EM estimate under a Beta prior of
``page_prior`` pseudo-items each way) and the outside utility becomes
``outside_utility − logit π``. A page of mostly unattractive items then gets few
watches and a rich page many, and a middling item is watched on a rich page but not
on a poor one. Calibration fits ``u − outside_utility`` as a log-likelihood ratio (each
validation list's own share of positives is an offset), so it means the same on a
1:1 list and a 1:9 one; the page supplies the share.

Rating: the hidden rating score is z-scored against the scores of the user's
own training items, noised, and mapped through the user's own rating
distribution, so each user keeps their habits (a harsh rater stays harsh)
(``rating_mode: habit``); or the predicted rating is cut at ``star_cuts``
(``rating_mode: cuts``). Stars are levels of the data set's rating scale
(:mod:`simrec.data.scale`: whole stars 1..5, half stars 0.5..5, ...).

Leaving: after each page the mood is an exponential moving average of how the
watched items compared with the user's usual rating (a page with nothing worth
watching counts as a disappointment); the chance to leave rises with a bad mood
and fatigue and falls with patience.

Randomness: by default every draw comes from the policy's generator, in batch order.
With :attr:`ChoicePolicy.streams` set (a :class:`~simrec.core.streams.UserStreams`) each
draw is keyed by (user, step, page, slot) instead, so a user's decision does not depend
on the other users of the batch: deciding a batch equals deciding any split of its rows,
which is what sharding users over workers needs.

Natural noise (``robustness.noise``, :mod:`simrec.attacks.noise`, from ``World.attacks``):
clickbait items get their appeal added to ``u_i`` (not a term of :meth:`ChoicePolicy.utility_terms`,
which calibration fits), and after choosing and rating, a page may get one accidental watch
of an unwatched item, rated the lowest level or abandoned, before the mood is updated. Without
noise nothing is drawn for it and every decision is as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit, ndtr

from simrec.agents.policies.base import BasePolicy, Decisions, PageBatch
from simrec.attacks.noise import NoiseModel
from simrec.config.schema import ChoiceParams, PolicyConfig
from simrec.core.errors import ConfigError
from simrec.core.streams import UserStreams
from simrec.data.scale import RatingScale
from simrec.world.catalog import Catalog
from simrec.world.population import Population
from simrec.world.taste import TasteModel

if TYPE_CHECKING:
    from simrec.world.build import World

_EMPTY_PAGE_VALUE = -0.5


def star_cuts_for(params: ChoiceParams, scale: RatingScale) -> tuple[float, ...]:
    """``params.star_cuts``, checked against ``scale``: ``n_levels − 1`` cut-points.

    Raises:
        ConfigError: if their number does not fit the scale (e.g. the whole-star
            default on half stars), naming the cut-points that would round.
    """
    cuts = tuple(params.star_cuts)
    if len(cuts) != scale.n_levels - 1:
        rounding = ", ".join(f"{c:g}" for c in scale.midpoints())
        raise ConfigError(
            f"policy.choice.star_cuts has {len(cuts)} cut-points, but the data's rating scale "
            f"({scale.label}) has {scale.n_levels} levels and needs {scale.n_levels - 1}: fit them with "
            f"agents.calibration.ratings, or set them (rounding: [{rounding}])."
        )
    return cuts


class ChoicePolicy(BasePolicy):
    """Vectorised choice model.

    Args:
        params: Choice-model parameters.
        catalog: Public item data (genres; training popularity where a page brings none).
        population: User traits and rating habits.
        taste: The hidden taste model.
        rng: The policy's seeded generator.
        streams: Per-user random streams; ``None`` (default): draw from ``rng`` in batch order.
        noise: Clickbait appeal and accidental clicks (``None``, default: none).

    Attributes:
        streams: Settable after construction. When set, :meth:`choose`, :meth:`rate` and
            :meth:`leave` need the ``step`` and ``page`` of the draws (:meth:`decide` passes
            the batch's) and ``rng`` is never drawn from.
    """

    name = "choice"
    #: The session engine decides a page of more rows than this in blocks (bounded scratch memory;
    #: with ``run.random_streams: per_user`` the blocks draw exactly what one call would).
    decide_chunk = 131_072
    #: ``build_policy`` may hand it per-user random streams (``run.random_streams: per_user``).
    takes_streams = True

    def __init__(
        self,
        params: ChoiceParams,
        catalog: Catalog,
        population: Population,
        taste: TasteModel,
        rng: np.random.Generator,
        streams: UserStreams | None = None,
        noise: NoiseModel | None = None,
    ) -> None:
        self.params = params
        self.catalog = catalog
        self.population = population
        self.taste = taste
        self.rng = rng
        self.streams = streams
        self.noise = noise
        self.social = None
        self._noise_counts = {"accidental_watches": 0, "clickbait_impressions": 0, "clickbait_watches": 0}
        if params.beta_ease and taste.ease is None:
            raise ConfigError("policy.choice.beta_ease weighs the EASE interest term: set agents.taste.ease_reg too")
        g = catalog.genres.astype(np.float32)
        self._genre_norm = g / np.maximum(g.sum(axis=1, keepdims=True), 1.0)

    @classmethod
    def from_world(  # type: ignore[override]  # needs no mind: build_policy passes four arguments
        cls, cfg: PolicyConfig, world: World, rng: np.random.Generator, llm: object | None = None
    ) -> ChoicePolicy:
        """Build from the ``policy:`` block (``policy.choice`` holds the parameters).

        A calibrated world (``agents.calibration``) overrides the parameters it fitted; an
        attacked one (``World.attacks``) brings its natural noise.
        """
        params = cfg.choice if world.calibration is None else world.calibration.apply(cfg.choice)
        noise = NoiseModel.from_plan(getattr(world, "attacks", None), world.catalog.n_items, world.population.scale)
        return cls(params, world.catalog, world.population, world.taste, rng, noise=noise)

    def popularity_z(self, popularity: np.ndarray | None = None) -> np.ndarray:
        """Z-scored log popularity of every item.

        Args:
            popularity: Interaction counts as the platform sees them (``PageBatch.popularity``);
                ``None``: the catalog's training counts.
        """
        counts = self.catalog.popularity if popularity is None else popularity
        lp = np.log1p(counts.astype(np.float32))
        return (lp - lp.mean()) / max(float(lp.std()), 1e-6)

    def utility_terms(self, batch: PageBatch) -> dict[str, np.ndarray]:
        """The ``[n, k]`` terms of the utility, each before its weight.

        Keys: ``taste`` (z-scored interest), ``ease`` (z-scored EASE interest, only with
        ``agents.taste.ease_reg``), ``genre`` (genre affinity),
        ``novelty`` (−diversity × genre affinity), ``popularity`` (conformity ×
        z-scored log popularity), ``social`` (conformity × friends' pull; zeros
        without a social signal), ``taste_contrast`` and ``popularity_contrast`` (taste and
        popularity minus their mean over the page: how the item stands out from the
        alternatives shown with it), ``fatigue`` (−fatigue) and ``position`` (−position).
        """
        pop = self.population
        users, items = batch.users, batch.items
        n, k = items.shape
        terms = {"taste": self.taste.affinity(users, items).astype(np.float32, copy=False)}
        if self.taste.ease is not None:
            terms["ease"] = self.taste.ease.affinity(users, items).astype(np.float32, copy=False)
        if self._genre_norm.shape[1]:
            genre = np.einsum("nkg,ng->nk", self._genre_norm[items], pop.genre_affinity[users])
        else:
            genre = np.zeros((n, k), np.float32)
        terms["genre"] = genre
        terms["novelty"] = -pop.diversity[users][:, None] * genre
        terms["popularity"] = pop.conformity[users][:, None] * self.popularity_z(batch.popularity)[items]
        social = batch.social if batch.social is not None else np.zeros((n, k), np.float32)
        terms["social"] = pop.conformity[users][:, None] * social
        # context effects: an item judged against the rest of its page
        terms["taste_contrast"] = terms["taste"] - terms["taste"].mean(axis=1, keepdims=True)
        terms["popularity_contrast"] = terms["popularity"] - terms["popularity"].mean(axis=1, keepdims=True)
        terms["fatigue"] = np.broadcast_to(-batch.fatigue[:, None], (n, k))
        terms["position"] = np.broadcast_to(-np.arange(k, dtype=np.float32)[None, :], (n, k))
        return terms

    def weights(self) -> dict[str, float]:
        """The weight of each utility term (keys of :meth:`utility_terms`)."""
        p = self.params
        return {"taste": p.beta_taste, "ease": p.beta_ease, "genre": p.beta_genre, "novelty": p.beta_novelty,
                "popularity": p.beta_popularity, "social": p.beta_social, "taste_contrast": p.beta_taste_contrast,
                "popularity_contrast": p.beta_popularity_contrast, "fatigue": p.beta_fatigue,
                "position": p.position_decay}  # fmt: skip

    def utilities(self, batch: PageBatch) -> np.ndarray:
        """``[n, k]`` utilities of the page's items (before choice noise), clickbait appeal included."""
        terms = self.utility_terms(batch)
        u = np.zeros(batch.items.shape, np.float32)
        for name, w in self.weights().items():
            if w:
                u += np.float32(w) * terms[name]
        appeal = None if self.noise is None else self.noise.appeal(batch.items)
        if appeal is not None:
            u += appeal
        return u

    def outside(self, utilities: np.ndarray) -> np.ndarray:
        """``[n]`` utility of the outside option on each user's page.

        ``picks: fixed``: ``outside_utility`` everywhere. ``picks: page``: ``outside_utility −
        logit(π)``, with ``π`` the page's inferred share of items worth watching
        (:func:`page_share`), so the outside option falls on a rich page and rises on a poor one.
        """
        c = np.full(len(utilities), self.params.outside_utility, np.float64)
        if self.params.picks == "page" and utilities.size:
            share = page_share(utilities - self.params.outside_utility, self.params.page_prior)
            c -= np.log(share) - np.log1p(-share)
        return c

    def _keyed(
        self, users: np.ndarray | None, step: int | None, page: int | None
    ) -> tuple[UserStreams, np.ndarray, int, int]:
        """The streams and the key of a draw, checked to be complete."""
        if self.streams is None or users is None or step is None or page is None:
            raise ValueError(
                "ChoicePolicy.streams is set, so draws are keyed per user: pass users, step= and page= "
                "(PageBatch.users, .step, .page), or call decide(batch)"
            )
        return self.streams, users, step, page

    def choose(
        self, utilities: np.ndarray, users: np.ndarray | None = None, *, step: int | None = None,
        page: int | None = None,
    ) -> np.ndarray:
        """Watched items: multinomial logit without replacement against the outside option.

        ``choice_noise`` scales the Gumbel noise (0: watch exactly the items above the outside option).
        ``users``, ``step`` and ``page`` key the noise when :attr:`streams` is set (slots
        ``0..k-1`` the items, slot ``k`` the outside option); otherwise they are unused.
        """
        n, k = utilities.shape
        if self.streams is None:
            gumbel = self.rng.gumbel(size=(n, k + 1))
        else:
            streams, users, step, page = self._keyed(users, step, page)
            gumbel = streams.gumbel(users, step, page, "choose", k + 1)
        noise = gumbel.astype(np.float32) * np.float32(self.params.choice_noise)
        outside = self.outside(utilities).astype(np.float32) + noise[:, k]
        return utilities + noise[:, :k] > outside[:, None]

    def watch_probability(self, utilities: np.ndarray) -> np.ndarray:
        """Each item's marginal chance of being watched: ``σ((u − outside) / choice_noise)``."""
        scale = max(self.params.choice_noise, 1e-3)
        return expit((utilities - self.outside(utilities)[:, None]) / scale)

    def prior_probability(self, utilities: np.ndarray) -> np.ndarray:
        """What the choice model believes of each item: ``σ(u − outside)``, the fitted logit's own chance.

        Unlike :meth:`watch_probability` it ignores ``choice_noise`` (how decisively the
        agents act on that belief), so decisive agents (noise 0) still give the LLM-driven
        users of ``hybrid`` mode a soft prior to combine with the LLM's answers.
        """
        return expit(utilities - self.outside(utilities)[:, None])

    def rate(
        self, users: np.ndarray, items: np.ndarray, watched: np.ndarray, *, step: int | None = None,
        page: int | None = None,
    ) -> np.ndarray:
        """Stars on the data set's rating scale for watched items (0 elsewhere).

        The stars are levels of ``population.scale`` (1..5 for whole stars, 0.5..5
        for half stars), in its dtype (``int8`` for whole stars). ``habit`` mode
        calibrates to each user's history; ``cuts`` mode cuts the predicted rating
        (plus ``rating_noise`` stars of noise) at ``star_cuts`` (one fewer than the levels).
        With :attr:`streams` set, the draws of a slot are keyed by (user, ``step``, ``page``,
        the slot's column in ``items``).
        """
        p, pop = self.params, self.population
        scale = pop.scale
        n, k = items.shape
        streams = None
        if self.streams is not None:
            streams, users, step, page = self._keyed(users, step, page)
        if p.rate_probability >= 1:
            rated = watched
        elif streams is None:
            rated = watched & (self.rng.random((n, k)) < p.rate_probability)
        else:
            rated = watched & (streams.uniform(users, step, page, "rate", k) < p.rate_probability)
        stars = np.zeros((n, k), scale.dtype)
        rows, cols = np.nonzero(rated)
        if len(rows) == 0:
            return stars
        u = users[rows]
        score = self.taste.rating.predict(u, items[rows, cols])
        if streams is None:
            normal = self.rng.standard_normal(len(rows))
        else:
            normal = streams.normal(u, step, page, "rating_noise", slots=cols)
        noise = normal.astype(np.float32) * p.rating_noise
        if p.rating_mode == "cuts":
            cuts = np.asarray(star_cuts_for(p, scale), np.float32)
            level = (score[:, None] + noise[:, None] > cuts).sum(axis=1)
        else:
            z = (score - pop.score_mean[u]) / pop.score_std[u]
            q = ndtr((z + noise) / np.sqrt(1.0 + p.rating_noise**2))
            level = (q[:, None] > pop.rating_cdf[u, : scale.n_levels - 1]).sum(axis=1)
        stars[rows, cols] = scale.values(level)
        return stars

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

    def leave(
        self, users: np.ndarray, satisfaction: np.ndarray, fatigue: np.ndarray, *, step: int | None = None,
        page: int | None = None,
    ) -> np.ndarray:
        """Whether each user leaves after the page (exit hazard; ``step`` and ``page`` key the
        coin when :attr:`streams` is set)."""
        p = self.params
        patience = self.population.patience[users]
        logit = (
            p.exit_base
            - p.exit_satisfaction * satisfaction
            + p.exit_fatigue * fatigue
            - p.exit_patience * (2.0 * patience - 1.0)
        )
        if self.streams is None:
            coin = self.rng.random(len(users))
        else:
            streams, users, step, page = self._keyed(users, step, page)
            coin = streams.uniform(users, step, page, "leave")
        return coin < expit(logit)

    def decide(self, batch: PageBatch) -> Decisions:
        """Decide a page for every user in ``batch``.

        With :attr:`streams` set, a row's decision depends on that row alone: deciding the
        batch equals deciding any split of its rows, concatenated. Accidental clicks
        (:attr:`noise`) come after choosing and rating, before the mood.
        """
        step, page = batch.step, batch.page
        utilities = self.utilities(batch)
        watched = self.choose(utilities, batch.users, step=step, page=page)
        ratings = self.rate(batch.users, batch.items, watched, step=step, page=page)
        if self.noise is not None:
            watched, ratings = self.add_noise(batch, utilities, watched, ratings)
        sat, fat = self.feel(batch, watched, ratings)
        exits = self.leave(batch.users, sat, fat, step=step, page=page)
        return Decisions(watched, ratings, exits, sat, fat)

    def add_noise(
        self, batch: PageBatch, utilities: np.ndarray, watched: np.ndarray, ratings: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Accidental clicks on the page (never in a slot of utility −∞), counted with the clickbait
        (:attr:`noise` must be set). ``decide`` calls it; so does the LLM policy for its choice-model users."""
        noise = self.noise
        assert noise is not None
        if noise.has_accidents:
            if self.streams is None:
                rng = self.rng

                def uniform(name: str, slots: int) -> np.ndarray:
                    return rng.random((len(batch), slots))
            else:
                streams, users, step, page = self._keyed(batch.users, batch.step, batch.page)

                def uniform(name: str, slots: int) -> np.ndarray:
                    return streams.uniform(users, step, page, name, slots)

            eligible = np.isfinite(utilities)
            watched, ratings, n = noise.accidental(batch.users, batch.items, watched, ratings, uniform, eligible)
            self._noise_counts["accidental_watches"] += n
        shown, watches = noise.clickbait_counts(batch.items, watched)
        self._noise_counts["clickbait_impressions"] += shown
        self._noise_counts["clickbait_watches"] += watches
        return watched, ratings

    def counters(self) -> Mapping[str, int]:
        """With natural noise: ``accidental_watches``, ``clickbait_impressions`` and ``clickbait_watches``
        so far (clickbait watches include accidental ones); without, none."""
        return {} if self.noise is None else dict(self._noise_counts)


def page_share(evidence: np.ndarray, prior: float = 1.0, iterations: int = 100, tol: float = 1e-7) -> np.ndarray:
    """Each page's share ``π`` of items worth watching, inferred from the page itself.

    ``evidence[r, i]`` is item ``i``'s log-odds of being worth watching on a page where
    half the items are (for calibrated agents, the log-likelihood ratio ``u − c``). With
    a share ``π`` an item is worth watching with chance ``σ(evidence + logit π)``; ``π``
    is the most probable share given the page under a symmetric Beta prior of ``prior``
    pseudo-items each way: the fixed point of ``π = (Σ_i σ(evidence_i + logit π) + prior) /
    (k + 2·prior)``, found by EM (monotone; the posterior of ``π`` is log-concave, so the
    fixed point is unique).

    Args:
        evidence: ``[n, k]`` log-odds at an even share.
        prior: Pseudo-items for and against (> 0; larger pulls ``π`` towards one half).
        iterations: Most EM steps.
        tol: Stop when no page's share moves by more than this.

    Returns:
        ``[n]`` shares in ``(0, 1)``.
    """
    e = np.asarray(evidence, np.float64)
    k = e.shape[1]
    share = np.full(len(e), 0.5)
    active = np.arange(len(e))  # pages still moving: most settle in a few steps, a few take dozens
    for _ in range(iterations):
        s = share[active]
        odds = np.log(s) - np.log1p(-s)
        new = (expit(e[active] + odds[:, None]).sum(axis=1) + prior) / (k + 2.0 * prior)
        share[active] = new
        active = active[np.abs(new - s) >= tol]
        if not len(active):
            break
    return share
