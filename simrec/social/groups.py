"""Taste groups: seeded k-means of hidden taste vectors (SBM blocks, assortativity).

A small Lloyd loop with k-means++ seeding on L2-normalised rows (cosine
geometry), vectorised with numpy so 100,000 x 16 vectors cluster in about a
second. Written here rather than via ``scipy.cluster.vq.kmeans2`` because the
latter's seeding keyword changed across the supported scipy versions.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

_MAX_ITER = 30
_TOL = 1e-3  # stop when fewer than this share of rows change group


def taste_groups(vectors: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster users by taste direction into at most ``k`` groups.

    Rows are L2-normalised first (zero rows stay at the origin and form their own
    point). ``k`` is clipped to the number of distinct rows, so ``n < k`` and
    repeated rows are fine. Group ids are ``0..k'-1`` in order of first appearance
    (user 0 is always in group 0); clusters that end up empty are dropped.

    Args:
        vectors: ``[n, d]`` taste vectors.
        k: Wanted number of groups (>= 1).
        rng: Seeded generator (k-means++ seeding).

    Returns:
        ``[n]`` int32 group labels.

    Raises:
        ValueError: if ``k < 1`` or a vector holds NaN or infinity.
    """
    if k < 1:
        raise ValueError(f"taste_groups needs k >= 1 (got {k})")
    x = np.asarray(vectors, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.empty(0, np.int32)
    x = x.reshape(n, -1)
    if not np.isfinite(x).all():
        raise ValueError("taste vectors must be finite (found NaN or infinity)")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    centers = _kmeans_pp(x, k, rng)
    labels = _lloyd(x, centers)
    return _relabel(labels)


def _kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ seeding; stops early when every row coincides with a chosen center.

    Each step draws ``2 + ln k`` candidates with chance proportional to the squared
    distance to the nearest chosen center and keeps the one that lowers the total most.
    """
    n = len(x)
    trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(n))]
    d2 = ((x - x[chosen[0]]) ** 2).sum(axis=1)
    while len(chosen) < k:
        cum = np.cumsum(d2)
        total = cum[-1]
        if total <= 0.0:  # no distinct row left: k clipped to the distinct rows
            break
        cand = np.minimum(np.searchsorted(cum, rng.random(trials) * total, side="right"), n - 1)
        best, best_d2 = -1, d2
        for idx in cand:
            if d2[idx] <= 0.0:  # float edge case at the top of the cumulative sum
                continue
            new = np.minimum(d2, ((x - x[idx]) ** 2).sum(axis=1))
            if best < 0 or new.sum() < best_d2.sum():
                best, best_d2 = int(idx), new
        if best < 0:
            best = int(np.flatnonzero(d2 > 0)[-1])
            best_d2 = np.minimum(d2, ((x - x[best]) ** 2).sum(axis=1))
        chosen.append(best)
        d2 = best_d2
    return x[np.array(chosen)].copy()


def _assign(xt: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Nearest center of each column of ``xt`` (``[d, n]`` float32, for fast BLAS and argmin)."""
    c = centers.astype(np.float32)
    # |x - c|^2 = |x|^2 - 2 c.x + |c|^2; |x|^2 is the same for every center
    dist = (c * c).sum(axis=1)[:, None] - 2.0 * (c @ xt)
    return np.argmin(dist, axis=0)


def _lloyd(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Lloyd iterations until (almost) no row changes group; empty clusters keep their center."""
    n, k = len(x), len(centers)
    xt = np.ascontiguousarray(x.T, dtype=np.float32)
    rows = np.arange(n)
    ones = np.ones(n)
    labels = _assign(xt, centers)
    for _ in range(_MAX_ITER):
        member = sp.csr_matrix((ones, (labels, rows)), shape=(k, n))
        counts = np.bincount(labels, minlength=k)
        sums = np.asarray(member @ x)
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None]
        new = _assign(xt, centers)
        changed = int((new != labels).sum())
        labels = new
        if changed <= _TOL * n:
            break
    return labels


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Dense ids ``0..k'-1`` ordered by first appearance."""
    uniq, first = np.unique(labels, return_index=True)
    mapping = np.zeros(int(uniq.max()) + 1, np.int32)
    mapping[uniq[np.argsort(first)]] = np.arange(len(uniq), dtype=np.int32)
    return mapping[labels]
