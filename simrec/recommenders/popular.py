"""Most-popular recommendations: one global order, minus what each user has seen."""

from __future__ import annotations

import numpy as np

from simrec.data.types import Interactions
from simrec.recommenders.base import BaseRecommender
from simrec.world.catalog import Catalog


class MostPopularRecommender(BaseRecommender):
    """Recommends the items with the most interactions, ties to the lower index.

    Popularity is counted on the fit data and incremented by every
    :meth:`update`, so it follows simulated interactions between retrains.
    :meth:`recommend` never builds dense scores: all users share one order, so
    each user's page is the first ``k`` unseen items of it, found in a short
    prefix of the order for almost every user.

    Args:
        rng: Unused (popularity is deterministic); accepted for a uniform signature.
    """

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        super().__init__(rng=rng)
        self.popularity = np.zeros(0, dtype=np.float64)
        self._order: np.ndarray | None = None
        self._rank: np.ndarray | None = None

    def _fit(self, interactions: Interactions, catalog: Catalog) -> None:
        self.popularity = np.bincount(interactions.item, minlength=self.n_items).astype(np.float64)
        self._order = None

    def _update(self, events: Interactions) -> None:
        if len(events):
            self.popularity += np.bincount(events.item, minlength=self.n_items)
            self._order = None

    def order(self) -> np.ndarray:
        """Item indices from most to least popular (``int64 [n_items]``)."""
        if self._order is None:
            self._order = np.argsort(-self.popularity, kind="stable")
            self._rank = np.empty(self.n_items, dtype=np.int64)
            self._rank[self._order] = np.arange(self.n_items)
        return self._order

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Every user's scores are the item popularities (a read-only broadcast view)."""
        self._require_fitted()
        return np.broadcast_to(self.popularity.astype(np.float32), (len(user_ids), self.n_items))

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        """The ``k`` most popular items per user, skipping seen ones when ``exclude_seen``.

        Args:
            user_ids: ``[n]`` user indices.
            k: Items per user.
            exclude_seen: Skip items the user has interacted with; a user with
                fewer than ``k`` unseen items gets seen ones at the tail.

        Returns:
            ``int64 [n, k]`` item indices, most popular first.
        """
        self._require_fitted()
        assert self.seen is not None
        user_ids = np.asarray(user_ids, dtype=np.int64)
        k = self._check_k(k)
        order = self.order()
        n, n_items = len(user_ids), self.n_items
        if not exclude_seen:
            return np.tile(order[:k], (n, 1))
        assert self._rank is not None
        seen = self.seen.csr()[user_ids]
        seen_row = np.repeat(np.arange(n), np.diff(seen.indptr))
        seen_rank = self._rank[seen.indices]
        out = np.empty((n, k), dtype=np.int64)
        todo = np.arange(n)
        width = min(n_items, 2 * k + 64)
        while len(todo):
            # free[r, j]: rank r of the global order is unseen by row j of `todo`.
            # Laid out [rank, row] so the running count runs along contiguous memory.
            where = np.full(n, -1, dtype=np.int64)
            where[todo] = np.arange(len(todo))
            hit = (seen_rank < width) & (where[seen_row] >= 0)
            free = np.ones((width, len(todo)), dtype=bool)
            free[seen_rank[hit], where[seen_row[hit]]] = False
            count = free.astype(np.int16 if width < 2**15 else np.int32)
            for r in range(1, width):  # a loop over ranks, each step vectorised over users
                count[r] += count[r - 1]
            done = count[-1] >= k
            rank, row = np.nonzero(free & (count <= k) & done[None, :])
            # Scatter into [k, n] (rank-major writes stay near each other), then transpose.
            page = np.empty((k, len(todo)), dtype=np.int64)
            page[count[rank, row] - 1, row] = order[rank]
            if done.all():
                out[todo] = page.T
            else:
                out[todo[done]] = page[:, done].T
            if width == n_items:
                # Fewer than k unseen items left: unseen first, then seen, both by popularity.
                rest = np.flatnonzero(~done)
                cols = np.argsort(~free[:, rest].T, axis=1, kind="stable")[:, :k]
                out[todo[rest]] = order[cols]
                break
            todo = todo[~done]
            width = min(n_items, width * 4)
        return out
