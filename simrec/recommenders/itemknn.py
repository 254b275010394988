"""Item-based k-nearest-neighbours collaborative filtering (cosine, shrunk, sparse)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simrec.core.checks import MAX_BLOCK, check_int, check_nonneg
from simrec.data.types import Interactions
from simrec.recommenders.base import BaseRecommender
from simrec.world.catalog import Catalog

# Float32 entries of one dense block of the item-item similarity while fitting.
_SIM_BLOCK_BUDGET = 1 << 23
# Popularity tie-break: far below any similarity difference that matters, so it
# only orders items with equal scores (e.g. everything for a user with no history).
_TIE_BREAK = 1e-6


class ItemKNNRecommender(BaseRecommender):
    """Scores an item by the summed similarity of the user's items to it.

    Similarity is cosine on the binary user-item matrix with a shrink term,
    ``sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i|·|U_j|) + shrink)``; each target item
    keeps only its ``neighbors`` most similar items. A user's history is
    everything seen so far, so :meth:`update` changes scores without a refit.

    Args:
        neighbors: Neighbours kept per item (≥ 1).
        shrink: Shrinkage of similarities supported by few users (≥ 0).
        rng: The recommender's generator (unused; the method is deterministic).
        chunk_size: Users scored per dense block in :meth:`recommend`.

    Raises:
        ConfigError: on invalid parameters.
    """

    def __init__(
        self,
        neighbors: int = 50,
        shrink: float = 10.0,
        rng: np.random.Generator | None = None,
        chunk_size: int = 2048,
    ) -> None:
        super().__init__(rng=rng, chunk_size=check_int("item_knn", "chunk_size", chunk_size, 1, MAX_BLOCK))
        self.neighbors = check_int("item_knn", "neighbors", neighbors, 1, MAX_BLOCK)
        self.shrink = check_nonneg("item_knn", "shrink", shrink)
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self._pop = np.zeros(0, dtype=np.float64)
        self._prior = np.zeros(0, dtype=np.float32)

    def _fit(self, interactions: Interactions, catalog: Catalog) -> None:
        x = interactions.matrix(self.n_users, self.n_items)
        x.data[:] = 1.0
        self.similarity = item_similarity(x, self.neighbors, self.shrink)
        self._set_prior(np.asarray(x.sum(axis=0)).ravel())

    def _update(self, events: Interactions) -> None:
        if len(events):
            self._set_prior(self._pop + np.bincount(events.item, minlength=self.n_items))

    def _set_prior(self, popularity: np.ndarray) -> None:
        self._pop = np.asarray(popularity, dtype=np.float64)
        top = self._pop.max() if len(self._pop) else 0.0
        self._prior = (
            _TIE_BREAK * self._pop / top if top > 0 else np.zeros_like(self._pop)
        ).astype(np.float32)

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """``history[user_ids] @ similarity`` as dense ``[n, n_items]`` float32."""
        self._require_fitted()
        assert self.seen is not None
        history = self.seen.csr()[np.asarray(user_ids, dtype=np.int64)].astype(np.float32)
        scores = (history @ self.similarity).toarray()
        scores += self._prior
        return scores


def item_similarity(x: sp.csr_matrix, neighbors: int, shrink: float) -> sp.csr_matrix:
    """Shrunk cosine similarity of the columns of ``x``, top ``neighbors`` per column.

    Args:
        x: ``[n_users, n_items]`` binary interaction matrix.
        neighbors: Entries kept per column (the target item's nearest items).
        shrink: Added to the cosine denominator.

    Returns:
        ``[n_items, n_items]`` float32 CSR; entry ``(i, j)`` is how much having
        item ``i`` recommends item ``j``; the diagonal is zero.
    """
    n_items = x.shape[1]
    xt = x.T.tocsr()
    xc = x.tocsc()
    norm = np.sqrt(np.asarray(x.sum(axis=0)).ravel()).astype(np.float32)
    keep = min(neighbors, max(n_items - 1, 1))
    block = max(1, _SIM_BLOCK_BUDGET // max(n_items, 1))
    rows_out, cols_out, vals_out = [], [], []
    for start in range(0, n_items, block):
        cols = np.arange(start, min(start + block, n_items))
        sim = (xt @ xc[:, cols]).toarray().astype(np.float32)
        sim /= norm[:, None] * norm[None, cols] + np.float32(shrink) + np.float32(1e-12)
        sim[cols, np.arange(len(cols))] = 0.0
        if keep < n_items:
            top = np.argpartition(-sim, keep - 1, axis=0)[:keep]
        else:
            top = np.broadcast_to(np.arange(n_items)[:, None], sim.shape)
        vals = np.take_along_axis(sim, top, axis=0)
        pos = vals > 0
        rows_out.append(top[pos])
        cols_out.append(np.broadcast_to(cols[None, :], top.shape)[pos])
        vals_out.append(vals[pos])
    rows = np.concatenate(rows_out) if rows_out else np.empty(0, np.int64)
    cols = np.concatenate(cols_out) if cols_out else np.empty(0, np.int64)
    vals = np.concatenate(vals_out) if vals_out else np.empty(0, np.float32)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_items, n_items), dtype=np.float32)
