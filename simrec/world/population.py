"""The user population as a struct of arrays: traits, genre affinities, rating habits.

Everything here is derived from each user's *training* interactions (plus seeded
random variation), so agents never peek at held-out data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

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


# Users whose training rows are summarised at once when the rows are sorted by user.
_USER_BLOCK = 1 << 16


def _ratio(tot: np.ndarray, cnt: np.ndarray, default: float) -> np.ndarray:
    """``tot / cnt`` per user, ``default`` where ``cnt`` is 0."""
    out = np.full(len(tot), default, dtype=np.float64)
    np.divide(tot, cnt, out=out, where=cnt > 0)
    return out


def _user_blocks(
    u: np.ndarray, n: int
) -> tuple[list[tuple[int, int, slice]], np.ndarray | None, np.ndarray]:
    """Ranges of users ``[a, b)`` with the slice of training rows that are theirs.

    With rows sorted by user, ranges of :data:`_USER_BLOCK` users each own a contiguous
    slice, so per-user sums over a block equal those over the whole table (each user's
    rows are added in the same order). Otherwise one block holds everything.

    Returns:
        The blocks, the CSR row pointer of the rows (``None`` when unsorted), and the
        number of rows of each of the ``n`` users.
    """
    if not (len(u) and bool((u[1:] >= u[:-1]).all())):
        return [(0, n, slice(None))], None, np.bincount(u, minlength=n)
    indptr = np.searchsorted(u, np.arange(n + 1), side="left").astype(np.int64)
    n_train = np.diff(indptr)
    blocks = []
    for a in range(0, n, _USER_BLOCK):
        b = min(a + _USER_BLOCK, n)
        blocks.append((a, b, slice(int(indptr[a]), int(indptr[b]))))
    return blocks, indptr, n_train


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
    blocks, indptr, n_train = _user_blocks(u, n)

    g = dataset.genres.astype(np.float32)
    n_genres = g.shape[1]
    history = train.matrix(n, n_items) if n_genres and indptr is None else None
    base = (g.sum(axis=0) + 1.0) / (g.sum() + n_genres)
    pop = np.bincount(train.item, minlength=n_items).astype(np.float64)
    pop_pct = _rank01(pop)
    scale = dataset.scale
    n_levels = scale.n_levels
    rated = ~np.isnan(train.rating)
    all_rated = bool(rated.all())
    any_rated = all_rated or bool(rated.any())
    if any_rated:
        global_mean = float((train.rating if all_rated else train.rating[rated]).mean())
    score_default = float(score.mean()) if len(score) else 3.5

    affinity = np.zeros((n, n_genres), dtype=np.float32)
    ent = np.empty(n)
    pop_tot = np.empty(n)
    level_cnt = np.zeros((n, n_levels), np.int64)
    rating_tot = np.zeros(n)
    n_rated = np.zeros(n, np.int64)
    score_mean = np.empty(n)
    sq = np.empty(n)
    # One pass over blocks of users (a single block unless rows are sorted by user).
    for a, b, rows in blocks:
        m, cnt = b - a, n_train[a:b]
        uu = u[rows] - a if a else u[rows]
        items = train.item[rows]
        # Genres: centred log-lift of each genre in the user's history over its catalog share.
        if n_genres:
            if history is None:
                ones = np.ones(len(items), np.float32)  # 0/1 products: integer, exact counts
                hist = sp.csr_matrix(
                    (ones, items, indptr[a : b + 1] - indptr[a]), shape=(m, n_items)
                )
            else:
                hist = history
            counts = np.asarray(hist @ g, dtype=np.float64)
            total = counts.sum(axis=1, keepdims=True)
            share = (counts + 2.0 * base) / (total + 2.0)
            lift = np.log(share / base)
            affinity[a:b] = lift - lift.mean(axis=1, keepdims=True)
            p = counts / np.maximum(total, 1e-9)
            ent[a:b] = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(axis=1)
        pop_tot[a:b] = np.bincount(uu, weights=np.take(pop_pct, items), minlength=m)
        # Rating habits: (user, level) counts and rating sums of the rated rows.
        if any_rated:
            ratings = train.rating[rows]
            ru = uu
            if not all_rated:
                keep = rated[rows]
                ratings, ru = ratings[keep], uu[keep]
            cell = scale.snap_index(ratings)  # the loader checked that ratings are levels
            cell += ru.astype(np.int64) * n_levels
            level_cnt[a:b] = np.bincount(cell, minlength=m * n_levels).reshape(m, n_levels)
            rating_tot[a:b] = np.bincount(ru, weights=ratings, minlength=m)
            n_rated[a:b] = cnt if all_rated else np.bincount(ru, minlength=m)
        # Score moments (bincount takes weights as float64, as a float64 copy would give them).
        s_b = score[rows]
        mean_b = _ratio(np.bincount(uu, weights=s_b, minlength=m), cnt, score_default)
        score_mean[a:b] = mean_b
        dev = s_b.astype(np.float64)
        dev -= mean_b[uu]
        dev *= dev
        sq[a:b] = _ratio(np.bincount(uu, weights=dev, minlength=m), cnt, 0.0)

    # Data-derived trait values in (0, 1).
    data_traits = {
        "activity": _rank01(np.log1p(n_train)),
        "conformity": _rank01(_ratio(pop_tot, n_train, 0.5)),
        "patience": _rank01(np.log1p(n_train) + rng.normal(size=n) * 0.5),
        "diversity": _rank01(ent) if n_genres else np.full(n, 0.5),
    }

    w = cfg.from_data
    traits: dict[str, np.ndarray] = {}
    for t in TRAITS:
        ab = (trait_priors or {}).get(t)
        rnd = rng.beta(ab[:, 0], ab[:, 1]) if ab is not None else rng.beta(2.0, 2.0, size=n)
        traits[t] = (w * data_traits[t] + (1 - w) * rnd).astype(np.float32)
    lo, hi = cfg.activity_range
    traits["activity"] = (lo + (hi - lo) * traits["activity"]).astype(np.float32)

    # Rating habits over the scale's levels, smoothed towards the global distribution.
    if any_rated:
        global_p = level_cnt.sum(axis=0) / int(n_rated.sum())
        cnt = level_cnt.astype(np.float64)
        rating_mean = _ratio(rating_tot, n_rated, global_mean)
    else:
        global_p = spread_prior(scale, PRIOR_STARS)
        cnt = np.zeros((n, n_levels))
        rating_mean = np.full(n, 3.5 if scale == WHOLE_STARS else float(scale.levels @ global_p))
    del level_cnt
    probs = (cnt + 3.0 * global_p) / (cnt.sum(axis=1, keepdims=True) + 3.0)
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0

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
