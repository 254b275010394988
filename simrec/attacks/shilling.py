"""Fake user profiles of the classic shilling (profile-injection) families.

A push attack (Lam & Riedl 2004; Mobasher et al. 2007): every fake profile rates the
targets with the scale's top level and adds items as the attack's kind says:

- ``random``: ``filler_items`` fillers rated around the global mean of the training ratings;
- ``average``: fillers rated around each filler's own training mean;
- ``bandwagon``: the ``selected_items`` most popular items (top level) plus random fillers;
- ``segment``: the ``selected_items`` most popular items of the first target's first genre
  (top level) plus fillers rated at the lowest level.

Fillers are a seeded uniform pick per profile among the items that are neither targets
nor selected; every drawn rating is snapped to a level of the scale. Profiles are made
in blocks of rows (a random key matrix per block), so memory stays bounded however many
fake users the budget asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrec.config.robustness import ShillingConfig
from simrec.data.scale import RatingScale
from simrec.data.types import Interactions
from simrec.world.catalog import Catalog

__all__ = ["RatingStats", "fake_profiles", "rating_stats", "selected_items"]

#: Cells of the random key matrix drawn at once (rows × candidate items) when picking fillers.
_BLOCK_CELLS = 1 << 22


@dataclass(frozen=True)
class RatingStats:
    """What the filler ratings are drawn around: the training ratings' moments.

    Attributes:
        mean: Global mean of the rated training interactions.
        std: Global standard deviation.
        item_mean: ``[n_items]`` each item's mean (the global mean where it has no rating).
        item_std: ``[n_items]`` each item's standard deviation (the global one where it has
            fewer than two ratings).
    """

    mean: float
    std: float
    item_mean: np.ndarray
    item_std: np.ndarray


def rating_stats(train: Interactions, n_items: int, scale: RatingScale) -> RatingStats:
    """The global and per-item moments of ``train``'s ratings (NaN, i.e. unrated, rows ignored).

    Without two ratings the global moments are the scale's midpoint and one step (a
    single rating gives its value and one step).
    """
    rated = np.isfinite(train.rating)
    item = train.item[rated].astype(np.int64)
    r = train.rating[rated].astype(np.float64)
    inside = (item >= 0) & (item < n_items)
    item, r = item[inside], r[inside]
    if len(r) >= 2:
        mean, std = float(r.mean()), float(r.std(ddof=1))
    elif len(r) == 1:
        mean, std = float(r[0]), scale.step
    else:
        mean, std = (scale.min + scale.max) / 2, scale.step
    count = np.bincount(item, minlength=n_items).astype(np.float64)
    total = np.bincount(item, weights=r, minlength=n_items)
    squares = np.bincount(item, weights=r * r, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        item_mean = np.where(count > 0, total / count, mean)
        var = (squares - count * item_mean**2) / (count - 1)
    item_std = np.where(count >= 2, np.sqrt(np.maximum(var, 0.0)), std)
    return RatingStats(mean, std, item_mean, item_std)


def _by_popularity(catalog: Catalog, pool: np.ndarray) -> np.ndarray:
    """``pool``'s items, most popular first (ties by index)."""
    pool = np.asarray(pool, np.int64)
    order = np.lexsort((pool, -catalog.popularity[pool].astype(np.float64)))
    return pool[order]


def selected_items(cfg: ShillingConfig, catalog: Catalog, targets: np.ndarray) -> np.ndarray:
    """The items every profile of ``cfg.kind`` rates at the top besides the targets (sorted).

    ``bandwagon``: the ``selected_items`` most popular items; ``segment``: the most popular
    items sharing the first target's first genre (the most popular items if it has no
    genre; fewer when the genre holds fewer). Never a target; empty for other kinds.
    """
    if cfg.kind not in ("bandwagon", "segment") or cfg.selected_items == 0:
        return np.empty(0, np.int64)
    targets = np.asarray(targets, np.int64)
    pool = np.arange(catalog.n_items, dtype=np.int64)
    if cfg.kind == "segment" and len(targets):
        genres = np.asarray(catalog.genres, bool)
        own = np.flatnonzero(genres[targets[0]]) if genres.ndim == 2 and genres.shape[1] else np.empty(0, np.int64)
        if len(own):
            pool = np.flatnonzero(genres[:, own[0]]).astype(np.int64)
    pool = pool[~np.isin(pool, targets)]
    return np.sort(_by_popularity(catalog, pool)[: cfg.selected_items])


def _pick_fillers(n: int, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, k]`` items: each row a uniform pick of ``k`` distinct ``candidates`` (blocks of rows)."""
    m = len(candidates)
    if k == 0:
        return np.empty((n, 0), np.int32)
    if k >= m:
        return np.tile(candidates.astype(np.int32), (n, 1))
    out = np.empty((n, k), np.int32)
    rows = max(1, _BLOCK_CELLS // m)
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        keys = rng.random((hi - lo, m))
        out[lo:hi] = candidates[np.argpartition(keys, k - 1, axis=1)[:, :k]]
    return out


def _filler_ratings(
    kind: str, fillers: np.ndarray, stats: RatingStats, scale: RatingScale, rng: np.random.Generator
) -> np.ndarray:
    """``fillers``' ratings (float64, on the scale's levels) as ``kind`` rates them."""
    if fillers.size == 0:
        return np.empty(fillers.shape, np.float64)
    if kind == "segment":
        return np.full(fillers.shape, scale.min)
    if kind == "average":
        loc, sd = stats.item_mean[fillers], stats.item_std[fillers]
    else:  # random, bandwagon
        loc, sd = stats.mean, stats.std
    return scale.snap(rng.normal(loc, sd, size=fillers.shape))


def fake_profiles(
    cfg: ShillingConfig,
    train: Interactions,
    catalog: Catalog,
    scale: RatingScale,
    targets: np.ndarray,
    first_user: int,
    timestamp: int,
    rng: np.random.Generator,
) -> Interactions:
    """The attack's ``cfg.fake_users`` fake profiles, sorted by (user, item).

    Users are ``first_user .. first_user + fake_users − 1``; every row has ``timestamp``.
    Each profile rates every target at ``scale.max``, the kind's selected items (see
    :func:`selected_items`) at ``scale.max`` and ``cfg.filler_items`` fillers (as many as
    the catalog holds beyond targets and selected items) as the kind says. No (user,
    item) pair repeats.

    Args:
        cfg: The ``robustness.shilling`` block (kind, budget, filler and selected counts).
        train: The training interactions (filler ratings are drawn around their moments).
        catalog: The catalog (its popularity and genres pick the selected items).
        scale: The rating scale every rating is a level of.
        targets: The pushed items (item indices; duplicates are ignored).
        first_user: The first fake user's index.
        timestamp: Every row's timestamp.
        rng: The attack's seeded source; untouched when there is nothing to make
            (no fake users or no targets).

    Raises:
        ValueError: if a target is not an item of the catalog.
    """
    targets = np.unique(np.asarray(targets, np.int64))
    n = int(cfg.fake_users)
    if n == 0 or len(targets) == 0:
        return Interactions.empty()
    n_items = catalog.n_items
    if targets[0] < 0 or targets[-1] >= n_items:
        raise ValueError(f"shilling targets must be item indices 0..{n_items - 1}, got {targets.tolist()}")
    selected = selected_items(cfg, catalog, targets)
    top = np.concatenate([targets, selected]).astype(np.int32)
    candidates = np.setdiff1d(np.arange(n_items, dtype=np.int64), top)
    k = min(int(cfg.filler_items), len(candidates))
    fillers = _pick_fillers(n, candidates, k, rng)
    stats = rating_stats(train, n_items, scale)
    filler_r = _filler_ratings(cfg.kind, fillers, stats, scale, rng)
    items = np.concatenate([np.broadcast_to(top, (n, len(top))), fillers], axis=1)
    ratings = np.concatenate([np.full((n, len(top)), scale.max), filler_r], axis=1)
    order = np.argsort(items, axis=1, kind="stable")
    items = np.take_along_axis(items, order, axis=1)
    ratings = np.take_along_axis(ratings, order, axis=1)
    width = items.shape[1]
    users = np.repeat(np.arange(first_user, first_user + n, dtype=np.int64), width)
    return Interactions.from_arrays(
        users, items.ravel(), ratings.ravel(), np.full(n * width, int(timestamp), np.int64)
    )
