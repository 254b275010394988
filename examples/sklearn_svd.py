"""Bring a recommender from elsewhere: scikit-learn's TruncatedSVD as a simrec recommender.

simrec needs three methods, batch-first (see ``simrec.recommenders.base.Recommender``):

- ``fit(interactions, catalog, n_users)``: train on the interaction log (real plus
  simulated so far); ``interactions`` has numpy arrays ``user``, ``item``, ``rating``
  (NaN when unrated) and ``timestamp``; ``catalog.n_items`` is the number of items.
- ``recommend(user_ids, k, exclude_seen)``: an ``int`` array ``[len(user_ids), k]``
  of item indices, best first, no duplicates within a row.
- ``update(events)``: new interactions between refits (at least: stop showing them).

This adapter wraps PureSVD (Cremonesi et al., 2010): a truncated SVD of the
user-item matrix, scoring ``U Σ Vᵀ``. It does not subclass simrec's base class,
to show that any class with the three methods plugs in. Use it with

    PYTHONPATH=examples simrec run scenarios/ml100k_compare.yaml \\
        --set recommender.name=sklearn_svd:PureSVD --set recommender.params.factors=48

(``pip install scikit-learn`` if it is missing). Keyword parameters come from
``recommender.params``; an ``rng`` keyword, if the constructor takes one, gets the
run's seeded generator so results are reproducible.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class PureSVD:
    """Truncated SVD of the implicit user-item matrix (scikit-learn's ``TruncatedSVD``).

    Args:
        factors: Latent dimensions.
        rng: The run's seeded generator (seeds the randomized SVD).
    """

    def __init__(self, factors: int = 32, rng: np.random.Generator | None = None) -> None:
        if factors < 1:
            raise ValueError("factors must be at least 1")
        self.factors = factors
        self.seed = int((rng or np.random.default_rng(0)).integers(2**31 - 1))
        self.user_vecs = self.item_vecs = None
        self.seen: sp.lil_matrix | None = None

    def fit(self, interactions, catalog, n_users: int | None = None) -> None:  # noqa: ANN001
        """Factorise the binary user-item matrix of ``interactions``."""
        from sklearn.decomposition import TruncatedSVD

        n_users = max(int(n_users or 0), int(interactions.user.max()) + 1 if len(interactions) else 0)
        n_items = catalog.n_items
        x = sp.csr_matrix(
            (np.ones(len(interactions), np.float32), (interactions.user, interactions.item)), shape=(n_users, n_items)
        )
        x.data[:] = 1.0  # repeated interactions count once
        svd = TruncatedSVD(n_components=min(self.factors, min(x.shape) - 1), random_state=self.seed)
        self.user_vecs = svd.fit_transform(x).astype(np.float32)  # U Σ
        self.item_vecs = svd.components_.T.astype(np.float32)  # V
        self.seen = x.astype(bool).tolil()

    def update(self, events) -> None:  # noqa: ANN001
        """Remember what users just watched (the factors change only on refit)."""
        for u, i in zip(events.user.tolist(), events.item.tolist(), strict=True):
            self.seen[u, i] = True

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        """Top-``k`` items by ``U Σ Vᵀ`` per user."""
        users = np.asarray(user_ids, dtype=np.int64)
        scores = self.user_vecs[users] @ self.item_vecs.T
        if exclude_seen:
            seen = self.seen.tocsr()[users]
            rows = np.repeat(np.arange(len(users)), np.diff(seen.indptr))
            scores[rows, seen.indices] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1)
