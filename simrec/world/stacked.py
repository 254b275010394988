"""A stronger hidden rating model: biased-MF members and side features stacked by gradient boosting.

``agents.taste.rating_model: stacked``. Each member is a biased ALS model
(:func:`simrec.core.als.explicit_als`) with its own ``(factors, reg)``. The
stacker, a histogram gradient-boosting regressor, learns the rating from

* every member's prediction,
* the user's and the item's training rating mean, spread and (log) count,
* the user's shrunk mean deviation on the item's genres ("how this user rates
  this kind of film"),
* the data set's user attributes (numbers as they are, text as categories) and
  item attributes (numbers and genre flags).

The stacker must learn from predictions of ratings the members did not see, so
it is trained on *out-of-fold* features: training ratings are split into
``stack_folds`` folds and each fold's features come from members and statistics
fitted on the other folds. At prediction time the members are refitted on all
training ratings (averaged over ``stack_seeds`` seeds) and the statistics are
taken over all of them. :func:`fit_stacked` also returns out-of-fold predictions
of the whole stack (the stacker cross-fitted on the same folds), which
calibration uses to place the star cut-points.

On MovieLens 100K (random 80/20 split) the held-out RMSE of the continuous
prediction drops from 0.918 (one biased MF) to about 0.895.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from simrec.config.schema import TasteConfig
from simrec.core.als import ExplicitModel, explicit_als
from simrec.core.rng import child_rng
from simrec.data.types import Dataset, Interactions

#: Prior weight (in ratings) pulling a user's genre deviation towards 0.
_GENRE_SHRINK = 3.0
#: Text attributes with more distinct values than this are left out (e.g. zip codes).
_MAX_CATEGORIES = 64
_ID_COLUMNS = ("user_id", "item_id")


def _booster(seed: int):  # -> HistGradientBoostingRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        max_iter=200, learning_rate=0.07, max_leaf_nodes=15, early_stopping=False, random_state=seed
    )


def _attributes(frame: pd.DataFrame | None, n: int) -> tuple[np.ndarray, int]:
    """Numeric and low-cardinality text columns of a side table as ``[n, c]`` float, and how many are categorical.

    Categorical columns come first (category codes; missing = NaN).
    """
    if frame is None or len(frame) != n:
        return np.zeros((n, 0)), 0
    cats, nums = [], []
    for name in frame.columns:
        if name in _ID_COLUMNS:
            continue
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col):
            nums.append(col.to_numpy(float))
        elif col.nunique(dropna=True) <= _MAX_CATEGORIES:
            codes = col.astype("category").cat.codes.to_numpy(float)
            cats.append(np.where(codes < 0, np.nan, codes))
    cols = cats + nums
    return (np.column_stack(cols) if cols else np.zeros((n, 0))), len(cats)


@dataclass
class _Stats:
    """Rating statistics of one training set, indexed by user / item."""

    user: np.ndarray  # [n_users, 3] mean, std, log1p(count)
    item: np.ndarray  # [n_items, 3]
    genre: np.ndarray  # [n_users, n_genres] shrunk mean deviation from the user's mean

    @classmethod
    def fit(cls, u: np.ndarray, i: np.ndarray, y: np.ndarray, n_users: int, n_items: int, genres: np.ndarray) -> _Stats:
        def side(idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
            count = np.bincount(idx, minlength=n).astype(float)
            mean = np.where(count > 0, np.bincount(idx, y, n) / np.maximum(count, 1), np.nan)
            sq = np.bincount(idx, y * y, n) / np.maximum(count, 1)
            std = np.where(count > 1, np.sqrt(np.maximum(sq - np.nan_to_num(mean) ** 2, 0)), np.nan)
            return np.column_stack([mean, std, np.log1p(count)]), mean

        user, umean = side(u, n_users)
        item, _ = side(i, n_items)
        dev = y - umean[u]
        g = genres.astype(float)
        if g.shape[1]:
            order = np.argsort(u, kind="stable")
            bounds = np.searchsorted(u[order], np.arange(n_users + 1))
            gi, dv = g[i[order]], dev[order]
            # per-user sums as one cumulative sum over the sorted rows
            cum_n = np.vstack([np.zeros(g.shape[1]), np.cumsum(gi * dv[:, None], axis=0)])
            cum_d = np.vstack([np.zeros(g.shape[1]), np.cumsum(gi, axis=0)])
            num = cum_n[bounds[1:]] - cum_n[bounds[:-1]]
            den = cum_d[bounds[1:]] - cum_d[bounds[:-1]]
            genre = num / (den + _GENRE_SHRINK)
        else:
            genre = np.zeros((n_users, 0))
        return cls(user, item, genre)

    def features(self, users: np.ndarray, items: np.ndarray, genres: np.ndarray) -> np.ndarray:
        g = genres[items].astype(float)
        if g.shape[1]:
            match = (self.genre[users] * g).sum(axis=1) / np.maximum(g.sum(axis=1), 1.0)
        else:
            match = np.zeros(len(users))
        return np.column_stack([self.user[users], self.item[items], match])


@dataclass
class StackedRatingModel:
    """Biased-MF members plus a gradient-boosting stacker; ``predict`` like :class:`~simrec.core.als.ExplicitModel`.

    Attributes:
        members: Per member, its full-data fits (one per seed; predictions are averaged).
        booster: The fitted stacker.
        stats: Rating statistics over all training ratings.
        genres: ``[n_items, n_genres]`` genre flags.
        user_attrs: ``[n_users, a]`` user attributes (categorical first).
        item_attrs: ``[n_items, b]`` item attributes (categorical first).
    """

    members: list[list[ExplicitModel]]
    booster: object
    stats: _Stats
    genres: np.ndarray
    user_attrs: np.ndarray
    item_attrs: np.ndarray

    def _features(self, users: np.ndarray, items: np.ndarray, member_preds: np.ndarray) -> np.ndarray:
        return np.column_stack([
            self.user_attrs[users], self.item_attrs[items], member_preds,
            self.stats.features(users, items, self.genres), self.genres[items].astype(float),
        ])  # fmt: skip

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings of ``(users, items)`` pairs (``items`` ``[n]`` or ``[n, k]``), float32 shaped like ``items``."""
        users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
        shape = items.shape
        if items.ndim == 2:
            users = np.repeat(users, shape[1])
        items = items.ravel()
        if len(items) == 0:
            return np.zeros(shape, np.float32)
        preds = np.column_stack([np.mean([m.predict(users, items) for m in fits], axis=0) for fits in self.members])
        out = self.booster.predict(self._features(users, items, preds))
        return out.astype(np.float32).reshape(shape)


def fit_stacked(
    train: Interactions, dataset: Dataset, cfg: TasteConfig, seed: int
) -> tuple[StackedRatingModel, np.ndarray, np.ndarray]:
    """Fit the stacked rating model on the rated training interactions.

    Args:
        train: Training interactions (unrated rows are ignored).
        dataset: The data set (sizes, genres, user and item attributes).
        cfg: ``stack_members``, ``stack_seeds``, ``stack_folds``.
        seed: Root seed of folds, members and stacker.

    Returns:
        The model, and the out-of-fold predictions of the whole stack with the
        real ratings they predict (for calibration).
    """
    from sklearn.model_selection import cross_val_predict

    rated = np.isfinite(train.rating)
    u, i, y = train.user[rated].astype(np.int64), train.item[rated].astype(np.int64), train.rating[rated].astype(float)
    if len(y) < 2 * cfg.stack_folds:
        raise ValueError(f"the stacked rating model needs at least {2 * cfg.stack_folds} ratings, got {len(y)}")
    n_users, n_items = dataset.n_users, dataset.n_items
    genres = np.asarray(dataset.genres if dataset.genres is not None else np.zeros((n_items, 0)), dtype=np.int8)
    user_attrs, n_ucat = _attributes(dataset.users, n_users)
    item_attrs, n_icat = _attributes(dataset.items, n_items)

    def fit_members(uu: np.ndarray, ii: np.ndarray, yy: np.ndarray, tag: str, seeds: int) -> list[list[ExplicitModel]]:
        return [[explicit_als(uu, ii, yy, n_users, n_items, factors=f, reg=r, iterations=15,
                              rng=child_rng(seed, "stacked", tag, str(m), str(s))) for s in range(seeds)]
                for m, (f, r) in enumerate(cfg.stack_members)]  # fmt: skip

    fold = child_rng(seed, "stacked", "folds").integers(0, cfg.stack_folds, len(y))
    model = StackedRatingModel([], None, _Stats.fit(u, i, y, n_users, n_items, genres), genres, user_attrs, item_attrs)
    oof = None
    for k in range(cfg.stack_folds):
        fit, out = fold != k, fold == k
        members = fit_members(u[fit], i[fit], y[fit], f"fold{k}", 1)
        preds = np.column_stack([fits[0].predict(u[out], i[out]) for fits in members])
        in_fold = replace(model, stats=_Stats.fit(u[fit], i[fit], y[fit], n_users, n_items, genres))
        feats = in_fold._features(u[out], i[out], preds)
        if oof is None:
            oof = np.empty((len(y), feats.shape[1]))
        oof[out] = feats
    # categorical columns: user attributes first, then item attributes
    cat = np.zeros(oof.shape[1], bool)
    cat[:n_ucat] = True
    cat[user_attrs.shape[1] : user_attrs.shape[1] + n_icat] = True
    booster = _booster(seed % (2**31)).set_params(categorical_features=cat)
    stack_oof = cross_val_predict(booster, oof, y, cv=_folds(fold, cfg.stack_folds))
    model.booster = booster.fit(oof, y)
    model.members = fit_members(u, i, y, "full", cfg.stack_seeds)
    return model, stack_oof, y


def _folds(fold: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The fold assignment as (fit, predict) index pairs for scikit-learn."""
    return [(np.flatnonzero(fold != j), np.flatnonzero(fold == j)) for j in range(k)]
