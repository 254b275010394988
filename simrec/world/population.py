"""The user population as a struct of arrays: traits, genre affinities, rating habits.

Everything here is derived from each user's *training* interactions (plus seeded
random variation), so agents never peek at held-out data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simrec.config.schema import TraitsConfig
from simrec.data.scale import WHOLE_STARS, RatingScale, spread_prior
from simrec.data.types import Dataset, Interactions

TRAITS = ("activity", "conformity", "diversity", "patience")
#: Star shares assumed where the data has no ratings (whole stars 1–5; spread over other scales).
PRIOR_STARS = np.array([0.06, 0.11, 0.27, 0.34, 0.22])


@dataclass
class Population:
    """Per-user arrays (index = user index).

    Attributes:
        user_ids: Raw user ids.
        n_train: Training interactions per user.
        genre_affinity: ``[n, n_genres]`` centred log-lift of genres in the user's history.
        activity: Chance of starting a session in a step.
        conformity: Pull of popularity (0..1).
        diversity: Pull of novelty (0..1).
        patience: Resistance to leaving a session (0..1).
        rating_cdf: ``[n, n_levels]`` cumulative probability of rating at most each
            level of ``scale`` (smoothed; 5 levels for whole stars, 10 for half stars).
        rating_mean: Mean training rating (global mean where unknown).
        score_mean: Mean rating-model score over the user's training items.
        score_std: Its standard deviation (floored).
        demographics: One row per user: ``user_id`` and whatever the data has.
        scale: The data set's rating scale: the levels agents rate on.
    """

    user_ids: np.ndarray
    n_train: np.ndarray
    genre_affinity: np.ndarray
    activity: np.ndarray
    conformity: np.ndarray
    diversity: np.ndarray
    patience: np.ndarray
    rating_cdf: np.ndarray
    rating_mean: np.ndarray
    score_mean: np.ndarray
    score_std: np.ndarray
    demographics: pd.DataFrame
    scale: RatingScale = WHOLE_STARS

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.user_ids)

    def public_frame(self) -> pd.DataFrame:
        """What a platform would know of each user: index, raw id and demographics."""
        df = pd.DataFrame({"user": np.arange(self.n_users, dtype=np.int32)})
        return pd.concat([df, self.demographics.reset_index(drop=True)], axis=1)

    def hidden_frame(self) -> pd.DataFrame:
        """The simulator's view of each user: traits and rating habits (never shown to recommenders)."""
        df = pd.DataFrame({"user": np.arange(self.n_users, dtype=np.int32), "n_train": self.n_train})
        for t in TRAITS:
            df[t] = getattr(self, t)
        df["rating_mean"] = self.rating_mean
        return df


def _rank01(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to (0, 1); ties share the mean rank."""
    s = pd.Series(x).rank(method="average").to_numpy()
    return ((s - 0.5) / len(x)).astype(np.float64)


def _per_user_mean(values: np.ndarray, users: np.ndarray, n: int, default: float) -> np.ndarray:
    tot = np.bincount(users, weights=values, minlength=n)
    cnt = np.bincount(users, minlength=n)
    out = np.full(n, default, dtype=np.float64)
    np.divide(tot, cnt, out=out, where=cnt > 0)
    return out


def build_population(
    dataset: Dataset,
    train: Interactions,
    score: np.ndarray,
    cfg: TraitsConfig,
    rng: np.random.Generator,
    trait_priors: dict[str, np.ndarray] | None = None,
) -> Population:
    """Derive the population from training interactions.

    Args:
        dataset: The data set (users table, item genres).
        train: Training interactions.
        score: The taste model's rating score for each training interaction.
        cfg: Trait derivation settings.
        rng: Seeded source of the random part of traits.
        trait_priors: Optional ``[n, 2]`` Beta parameters per trait for the random
            part (synthetic archetypes); default Beta(2, 2).
    """
    n, n_items = dataset.n_users, dataset.n_items
    u = train.user
    n_train = np.bincount(u, minlength=n)

    # Genres: centred log-lift of each genre in the user's history over its catalog share.
    g = dataset.genres.astype(np.float32)
    n_genres = g.shape[1]
    if n_genres:
        counts = np.asarray(train.matrix(n, n_items) @ g, dtype=np.float64)
        base = (g.sum(axis=0) + 1.0) / (g.sum() + n_genres)
        share = (counts + 2.0 * base) / (counts.sum(axis=1, keepdims=True) + 2.0)
        lift = np.log(share / base)
        affinity = (lift - lift.mean(axis=1, keepdims=True)).astype(np.float32)
    else:
        affinity = np.zeros((n, 0), dtype=np.float32)

    # Data-derived trait values in (0, 1).
    pop = np.bincount(train.item, minlength=n_items).astype(np.float64)
    pop_pct = _rank01(pop)
    data_traits = {
        "activity": _rank01(np.log1p(n_train)),
        "conformity": _rank01(_per_user_mean(pop_pct[train.item], u, n, 0.5)),
        "patience": _rank01(np.log1p(n_train) + rng.normal(size=n) * 0.5),
    }
    if n_genres:
        p = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-9)
        ent = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(axis=1)
        data_traits["diversity"] = _rank01(ent)
    else:
        data_traits["diversity"] = np.full(n, 0.5)

    w = cfg.from_data
    traits: dict[str, np.ndarray] = {}
    for t in TRAITS:
        ab = (trait_priors or {}).get(t)
        rnd = rng.beta(ab[:, 0], ab[:, 1]) if ab is not None else rng.beta(2.0, 2.0, size=n)
        traits[t] = (w * data_traits[t] + (1 - w) * rnd).astype(np.float32)
    lo, hi = cfg.activity_range
    traits["activity"] = (lo + (hi - lo) * traits["activity"]).astype(np.float32)

    # Rating habits over the scale's levels, smoothed towards the global distribution.
    scale = dataset.scale
    n_levels = scale.n_levels
    rated = ~np.isnan(train.rating)
    if rated.any():
        bins = scale.snap_index(train.rating[rated])  # the loader checked that ratings are levels
        ru = u[rated]
        global_p = np.bincount(bins, minlength=n_levels) / len(bins)
        cnt = np.bincount(ru.astype(np.int64) * n_levels + bins, minlength=n * n_levels)
        cnt = cnt.reshape(n, n_levels).astype(np.float64)
        global_mean = float(train.rating[rated].mean())
        rating_mean = _per_user_mean(train.rating[rated].astype(np.float64), ru, n, global_mean)
    else:
        global_p = spread_prior(scale, PRIOR_STARS)
        cnt = np.zeros((n, n_levels))
        rating_mean = np.full(n, 3.5 if scale == WHOLE_STARS else float(scale.levels @ global_p))
    probs = (cnt + 3.0 * global_p) / (cnt.sum(axis=1, keepdims=True) + 3.0)
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0

    score_mean = _per_user_mean(score.astype(np.float64), u, n, float(score.mean()) if len(score) else 3.5)
    sq = _per_user_mean((score.astype(np.float64) - score_mean[u]) ** 2, u, n, 0.0)
    score_std = np.sqrt(np.maximum(sq, 0.0))
    # Users with few interactions get a floor so a single item cannot fix their scale.
    global_std = float(np.std(score)) if len(score) else 0.5
    score_std = np.maximum(np.where(n_train >= 3, score_std, global_std), 0.25 * global_std + 1e-3)

    demo = dataset.users.reset_index(drop=True).copy()
    return Population(
        user_ids=dataset.users["user_id"].to_numpy(),
        n_train=n_train.astype(np.int32),
        genre_affinity=affinity,
        activity=traits["activity"],
        conformity=traits["conformity"],
        diversity=traits["diversity"],
        patience=traits["patience"],
        rating_cdf=cdf.astype(np.float32),
        rating_mean=rating_mean.astype(np.float32),
        score_mean=score_mean.astype(np.float32),
        score_std=score_std.astype(np.float32),
        demographics=demo,
        scale=scale,
    )
