"""Recall@k and NDCG@k of ranked lists with binary relevance, one value per list.

A list is a row of item indices, best first (``-1`` pads a short row and is never
relevant). With ``hits[i, j]`` true when the item at position ``j`` of list ``i`` is
relevant and ``n_i`` relevant items in all for that list::

    recall@k_i = #{j < k: hits[i, j]} / n_i
    ndcg@k_i   = sum_{j < k} hits[i, j] / log2(j + 2)  /  sum_{j < min(n_i, k)} 1 / log2(j + 2)

Lists with ``n_i = 0`` get ``nan`` (undefined, left out of means). Offline, a list is a
recommender's top-k for a user and the relevant items are the user's held-out ones
(:func:`ranking_metrics`); in the loop, :mod:`simrec.metrics.pooled` builds the hits.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simrec.core.arrays import isin_sorted

#: The metrics :func:`list_metrics` returns, as a format (``.format(k=10)``).
NAMES: tuple[str, ...] = ("recall@{k}", "ndcg@{k}")


def discounts(k: int) -> np.ndarray:
    """``1 / log2(j + 2)`` for positions ``j = 0..k-1``."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def list_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int = 10) -> dict[str, np.ndarray]:
    """Per-list Recall@k and NDCG@k from a hit matrix.

    Args:
        hits: ``[n, m]`` bool, position-aligned (columns past ``k`` are ignored).
        n_relevant: ``[n]`` relevant items of each list in all (at least the row's hits).
        k: Cut-off.

    Returns:
        ``{"recall@k": [n], "ndcg@k": [n]}`` float64, ``nan`` where ``n_relevant`` is 0.
    """
    hits = np.asarray(hits, dtype=bool)[:, :k]
    n_rel = np.asarray(n_relevant, dtype=np.int64).reshape(-1)
    if len(hits) != len(n_rel):
        raise ValueError(f"hits has {len(hits)} rows, n_relevant {len(n_rel)}")
    found = hits.sum(axis=1)
    if (found > n_rel).any():
        raise ValueError("a list has more hits than relevant items")
    disc = discounts(k)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_rel, k)]
    dcg = hits.astype(np.float64) @ disc[: hits.shape[1]]
    some = n_rel > 0
    recall = np.divide(found, n_rel, out=np.full(len(n_rel), np.nan), where=some)
    ndcg = np.divide(dcg, ideal, out=np.full(len(n_rel), np.nan), where=some)
    return {f"recall@{k}": recall, f"ndcg@{k}": ndcg}


def csr_hits(rows: np.ndarray, ranked: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """``hits[i, j]``: is ``ranked[i, j]`` among the stored items of ``relevant[rows[i]]``?

    Args:
        rows: ``[n]`` row (user) of each list in ``relevant``.
        ranked: ``[n, m]`` item indices (``-1``: no item).
        relevant: ``[n_rows, n_items]`` sparse matrix; a stored entry marks a relevant item.
    """
    relevant = sp.csr_matrix(relevant)
    relevant.sum_duplicates()
    ranked = np.asarray(ranked, dtype=np.int64)
    span = np.int64(relevant.shape[1]) + 1
    owner = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    keys = np.sort(owner * span + relevant.indices.astype(np.int64))
    query = np.asarray(rows, dtype=np.int64)[:, None] * span + ranked
    return isin_sorted(query.reshape(-1), keys).reshape(ranked.shape) & (ranked >= 0)


def ranking_metrics(
    ranked: np.ndarray, relevant: sp.csr_matrix, rows: np.ndarray, k: int = 10
) -> dict[str, np.ndarray]:
    """Per-user Recall@k and NDCG@k of ranked lists against a sparse relevance matrix.

    Args:
        ranked: ``[n, >=k]`` item indices of each list, best first.
        relevant: ``[n_users, n_items]``; stored entries are the relevant (held-out) items.
        rows: ``[n]`` user of each list.
        k: Cut-off.

    Returns:
        As :func:`list_metrics` (``nan`` for a user without relevant items).
    """
    relevant = sp.csr_matrix(relevant)
    relevant.sum_duplicates()
    n_rel = np.diff(relevant.indptr)[np.asarray(rows, dtype=np.int64)]
    return list_metrics(csr_hits(rows, np.asarray(ranked)[:, :k], relevant), n_rel, k)
