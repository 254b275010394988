"""Matrix factorisation for implicit feedback (confidence-weighted ALS)."""

from __future__ import annotations

import numpy as np

from simrec.core.als import implicit_als
from simrec.core.checks import MAX_BLOCK, MAX_FACTORS, MAX_SWEEPS, check_int, check_nonneg
from simrec.data.types import Interactions
from simrec.recommenders.base import BaseRecommender
from simrec.world.catalog import Catalog


class MFRecommender(BaseRecommender):
    """Scores ``U[u] · V[i]`` with factors fit by implicit ALS on interaction counts.

    Factors change only on :meth:`fit` (retrain); between retrains
    :meth:`update` just marks items seen.

    Args:
        factors: Latent dimension (≥ 1).
        reg: L2 regularisation (≥ 0).
        alpha: Confidence scale of observed interactions (≥ 0).
        iterations: ALS sweeps (≥ 1).
        rng: The recommender's own seeded generator (initialisation).
        chunk_size: Users scored per dense block in :meth:`recommend`.

    Raises:
        ConfigError: on invalid parameters.
    """

    def __init__(
        self,
        factors: int = 32,
        reg: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 10,
        rng: np.random.Generator | None = None,
        chunk_size: int = 2048,
    ) -> None:
        super().__init__(rng=rng, chunk_size=check_int("mf", "chunk_size", chunk_size, 1, MAX_BLOCK))
        self.factors = check_int("mf", "factors", factors, 1, MAX_FACTORS)
        self.reg = check_nonneg("mf", "reg", reg)
        self.alpha = check_nonneg("mf", "alpha", alpha)
        self.iterations = check_int("mf", "iterations", iterations, 1, MAX_SWEEPS)
        self.user_factors = np.zeros((0, self.factors), dtype=np.float32)
        self.item_factors = np.zeros((0, self.factors), dtype=np.float32)

    def _fit(self, interactions: Interactions, catalog: Catalog) -> None:
        counts = interactions.matrix(self.n_users, self.n_items)
        self.user_factors, self.item_factors = implicit_als(
            counts,
            factors=self.factors,
            reg=self.reg,
            alpha=self.alpha,
            iterations=self.iterations,
            rng=self.rng,
        )

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """``U[user_ids] @ Vᵀ`` as dense ``[n, n_items]`` float32."""
        self._require_fitted()
        return self.user_factors[np.asarray(user_ids, dtype=np.int64)] @ self.item_factors.T
