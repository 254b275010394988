"""Beyond-accuracy metrics of what a recommender showed, vectorised over numpy arrays.

Every function takes item indices ``0..n_items-1`` (one entry per impression, repeats
allowed) and never loops in Python per item or page.

Conventions:

* **Cosine distance** ``1 - cos(a, b)``; a zero feature vector (an item with no
  genre) has no direction, so its cosine similarity with anything, itself or another
  featureless item included, is taken as 0 (distance 1): an item we know nothing about
  counts as unlike the others. This matches ``simrec.social.metrics.homophily``.
* **Novelty smoothing** (add-one): ``p_i = (pop_i + 1) / (Σ pop + n_items)`` so that
  never-seen items have finite self-information and ``Σ p_i = 1``.
* **Popularity percentile**: ``(rank_i - 1) / (n_items - 1)`` with ranks ``1..n`` of the
  popularity in ascending order, ties averaged: 0 for the least popular item, 1 for
  the most popular one, and exactly 0.5 on average over the catalog.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from simrec.social.metrics import gini

#: Pages per chunk in :func:`intra_list_diversity` (bounds memory to chunk * k * g floats).
_CHUNK_PAGES = 1 << 16


def _items(items: np.ndarray) -> np.ndarray:
    return np.asarray(items, dtype=np.int64).reshape(-1)


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows of ``features`` scaled to unit L2 norm; zero rows stay zero."""
    f = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    return np.divide(f, norms, out=np.zeros_like(f), where=norms > 0)


def page_diversities(pages: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Mean pairwise cosine distance of the items on each page.

    Args:
        pages: ``[n, k]`` item indices; negative entries are padding (ragged pages).
        features: ``[n_items, g]`` item feature vectors (e.g. a genre multi-hot).

    Returns:
        ``[n]`` float64: per page ``1 - Σ_{a≠b} cos(x_a, x_b) / (m (m - 1))`` over its
        ``m`` valid items; ``nan`` for pages with fewer than two items.
    """
    pages = np.asarray(pages, dtype=np.int64)
    if pages.ndim != 2:
        raise ValueError(f"pages must be [n, k], got shape {pages.shape}")
    unit = unit_rows(features)
    n = pages.shape[0]
    out = np.full(n, np.nan)
    for start in range(0, n, _CHUNK_PAGES):
        block = pages[start : start + _CHUNK_PAGES]
        valid = block >= 0
        x = unit[np.where(valid, block, 0)]  # [c, k, g]
        x[~valid] = 0.0
        m = valid.sum(axis=1).astype(np.float64)
        s = x.sum(axis=1)  # [c, g]
        # Σ_{a,b} x_a·x_b = |Σ x|², minus the diagonal Σ |x_a|² (1 per item with features).
        off = np.einsum("cg,cg->c", s, s) - np.einsum("ckg,ckg->c", x, x)
        pairs = m * (m - 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + len(block)] = np.where(pairs > 0, 1.0 - off / pairs, np.nan)
    return out


def intra_list_diversity(pages: np.ndarray, features: np.ndarray) -> float:
    """Mean over pages of the mean pairwise cosine distance between the page's items.

    Args:
        pages: ``[n, k]`` item indices; negative entries are padding (ragged pages).
        features: ``[n_items, g]`` item features; zero rows count as distance 1 to
            everything (see the module docstring).

    Returns:
        0 when every page repeats one item (with features), 1 when the items of every
        page are pairwise orthogonal; pages with fewer than two items are skipped,
        ``nan`` when no page is left.
    """
    d = page_diversities(pages, features)
    d = d[~np.isnan(d)]
    return float(d.mean()) if len(d) else float("nan")


def novelty(items: np.ndarray, popularity: np.ndarray) -> float:
    """Mean self-information ``-log2 p_i`` of the shown items, in bits.

    Args:
        items: Shown item indices (one per impression).
        popularity: ``[n_items]`` non-negative popularity (e.g. training counts).

    Returns:
        With add-one smoothing ``p_i = (pop_i + 1) / (Σ pop + n_items)``; uniform
        popularity gives ``log2(n_items)``. ``nan`` when nothing was shown.
    """
    items = _items(items)
    pop = np.asarray(popularity, dtype=np.float64).reshape(-1)
    if len(items) == 0:
        return float("nan")
    p = (pop + 1.0) / (pop.sum() + len(pop))
    return float(-np.log2(p)[items].mean())


def coverage(items: np.ndarray, n_items: int) -> float:
    """Share of the catalog shown at least once: distinct shown items / ``n_items``."""
    if n_items <= 0:
        return float("nan")
    return float(np.count_nonzero(exposure(items, n_items)) / n_items)


def exposure(items: np.ndarray, n_items: int) -> np.ndarray:
    """Impression count of every item, ``[n_items]`` int64 (zeros included)."""
    return np.bincount(_items(items), minlength=n_items)


def exposure_gini(items: np.ndarray, n_items: int) -> float:
    """Gini of the impression counts over **all** ``n_items`` items, zeros included.

    0 when every item was shown equally often; ``(n-1)/n`` when one item took every
    impression (see :func:`simrec.social.metrics.gini`).
    """
    return gini(exposure(items, n_items))


def popularity_percentiles(popularity: np.ndarray) -> np.ndarray:
    """Percentile ``(rank - 1) / (n - 1)`` of each item's popularity, ties averaged (0.5 if ``n == 1``)."""
    pop = np.asarray(popularity, dtype=np.float64).reshape(-1)
    if len(pop) <= 1:
        return np.full(len(pop), 0.5)
    return (rankdata(pop, method="average") - 1.0) / (len(pop) - 1.0)


def popularity_bias(items: np.ndarray, popularity: np.ndarray) -> float:
    """Mean popularity percentile of the shown items (0..1).

    0.5 ≈ no popularity bias (e.g. items shown uniformly over the catalog); toward 1
    the recommender shows only blockbusters, toward 0 only the long tail. ``nan`` when
    nothing was shown.
    """
    items = _items(items)
    if len(items) == 0:
        return float("nan")
    return float(popularity_percentiles(popularity)[items].mean())


def popularity_lift(items: np.ndarray, popularity: np.ndarray) -> float:
    """Mean popularity of the shown items over the mean popularity of the catalog.

    1 ≈ unbiased; above 1 the shown items are more popular than a random catalog item.
    ``nan`` when nothing was shown or the catalog's popularity is all zero.
    """
    items = _items(items)
    pop = np.asarray(popularity, dtype=np.float64).reshape(-1)
    base = pop.mean() if len(pop) else 0.0
    if len(items) == 0 or base <= 0:
        return float("nan")
    return float(pop[items].mean() / base)
