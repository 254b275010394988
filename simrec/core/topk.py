"""Batched top-k selection over dense score matrices."""

from __future__ import annotations

import numpy as np


def topk_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries of each row, best first.

    Ties are broken by the lower column index, so the result is deterministic.

    Args:
        scores: ``[n, m]`` float array; ``-inf`` marks excluded entries.
        k: How many to return per row (``k <= m``).

    Returns:
        ``[n, k]`` int64 array of column indices.
    """
    n, m = scores.shape
    if k >= m:
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    # argpartition is not stable: sort the k winners by (score desc, index asc).
    part.sort(axis=1)
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
