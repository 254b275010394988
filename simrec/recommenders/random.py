"""Uniformly random recommendations: the floor every other recommender must beat."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simrec.core.topk import topk_rows
from simrec.data.types import Interactions
from simrec.recommenders.base import BaseRecommender, mask_seen
from simrec.world.catalog import Catalog

# Entries of the per-chunk "taken" bitmap (bytes); bounds memory for any catalog size.
_BITMAP_BUDGET = 1 << 24


class RandomRecommender(BaseRecommender):
    """Recommends ``k`` distinct unseen items drawn uniformly at random.

    Most users get an exact rejection sampler (draw, reject seen and repeated
    items, redraw only those), so no dense ``[n, n_items]`` scores are built.
    Users who have seen most of the catalog, or pages larger than half of what
    is left, fall back to dense random scores.

    Args:
        rng: The recommender's own seeded generator.
    """

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        super().__init__(rng=rng)

    def _fit(self, interactions: Interactions, catalog: Catalog) -> None:
        """Nothing to learn."""

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Independent uniform scores for every (user, item)."""
        return self.rng.random((len(user_ids), self.n_items), dtype=np.float32)

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        """``k`` distinct random items per user (unseen ones when ``exclude_seen``).

        Args:
            user_ids: ``[n]`` user indices.
            k: Items per user.
            exclude_seen: Skip items the user has interacted with; a user with
                fewer than ``k`` unseen items gets seen ones at the tail.

        Returns:
            ``int64 [n, k]`` item indices.
        """
        self._require_fitted()
        assert self.seen is not None
        user_ids = np.asarray(user_ids, dtype=np.int64)
        k = self._check_k(k)
        n, n_items = len(user_ids), self.n_items
        seen = (
            self.seen.csr()[user_ids] if exclude_seen else sp.csr_matrix((n, n_items), dtype=bool)
        )
        counts = np.diff(seen.indptr)
        dense = (counts > n_items // 2) | (2 * k > n_items - counts)
        out = np.empty((n, k), dtype=np.int64)
        fast = np.flatnonzero(~dense)
        step = max(1, _BITMAP_BUDGET // n_items)
        for start in range(0, len(fast), step):
            rows = fast[start : start + step]
            out[rows] = self._sample(seen[rows], k)
        slow = np.flatnonzero(dense)
        for start in range(0, len(slow), self.chunk_size):
            rows = slow[start : start + self.chunk_size]
            scores = self.score(rows)
            mask_seen(scores, seen, rows)
            out[rows] = topk_rows(scores, k)
        return out

    def _sample(self, seen: sp.csr_matrix, k: int) -> np.ndarray:
        """Sequential rejection sampling of ``k`` distinct items per row, all rows at once.

        Every accepted draw is uniform over the items still allowed for its
        row, so each row is a uniformly random ordered sample of unseen items.
        """
        m, n_items = seen.shape
        taken = np.zeros((m, n_items), dtype=bool)
        taken[np.repeat(np.arange(m), np.diff(seen.indptr)), seen.indices] = True
        out = np.empty((m, k), dtype=np.int64)
        todo_row = np.repeat(np.arange(m), k)
        todo_col = np.tile(np.arange(k), m)
        while len(todo_row):
            cand = self.rng.integers(0, n_items, len(todo_row))
            ok = ~taken[todo_row, cand]
            # Of several positions drawing the same item in one round, the first wins.
            key = todo_row[ok] * n_items + cand[ok]
            _, first = np.unique(key, return_index=True)
            accept = np.flatnonzero(ok)[first]
            out[todo_row[accept], todo_col[accept]] = cand[accept]
            taken[todo_row[accept], cand[accept]] = True
            retry = np.ones(len(todo_row), dtype=bool)
            retry[accept] = False
            todo_row, todo_col = todo_row[retry], todo_col[retry]
        return out
