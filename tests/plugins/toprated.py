"""A user's own recommender, plugged in as "tests.plugins.toprated:TopRated"."""

from __future__ import annotations

import numpy as np

from simrec.data.types import Interactions
from simrec.world.catalog import Catalog


class TopRated:
    """Recommends the items with the highest mean rating; written without simrec's base class."""

    def __init__(self, min_ratings: int = 5) -> None:
        self.min_ratings = min_ratings
        self.fit_calls = 0
        self.updates = 0

    def fit(self, interactions: Interactions, catalog: Catalog, n_users: int | None = None) -> None:
        self.fit_calls += 1
        rated = ~np.isnan(interactions.rating)
        n = catalog.n_items
        cnt = np.bincount(interactions.item[rated], minlength=n)
        tot = np.bincount(interactions.item[rated], weights=interactions.rating[rated], minlength=n)
        mean = np.where(cnt >= self.min_ratings, tot / np.maximum(cnt, 1), 0.0)
        self.order = np.argsort(-mean, kind="stable")

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        return np.tile(self.order[:k], (len(user_ids), 1))

    def update(self, events: Interactions) -> None:
        self.updates += 1
