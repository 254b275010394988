"""The world's hidden taste model: what users truly like, and how they rate.

Never shown to a recommender. ``interest`` drives what users choose to watch
(fitted on who-watched-what); ``rating`` drives the stars they give (fitted on
the ratings). Synthetic worlds can use their planted truth instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from simrec.config.schema import TasteConfig
from simrec.core.als import ExplicitModel, explicit_als, implicit_als
from simrec.core.ease import ease_weights
from simrec.data.types import Dataset, Interactions
from simrec.world.stacked import StackedRatingModel, fit_stacked


def _pair_dot(a: np.ndarray, b: np.ndarray, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``a[users] · b[items]`` for ``users [n]`` and ``items [n]`` or ``[n, k]``."""
    if items.ndim == 1:
        return np.einsum("nd,nd->n", a[users], b[items])
    return np.einsum("nd,nkd->nk", a[users], b[items])


@dataclass
class EaseInterest:
    """A second interest signal: EASE scores of the user's training history, z-scored per user.

    ``agents.taste.ease_reg`` turns it on; the choice policy weighs it with
    ``policy.choice.beta_ease`` (calibration fits the weight).

    Attributes:
        history: ``[n_users, n_items]`` binary CSR of training interactions.
        weights: ``[n_items, n_items]`` EASE weights.
        mean: Per-user mean of the scores over all items.
        std: Per-user standard deviation of the scores over all items.
    """

    history: sp.csr_matrix
    weights: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    def affinity(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Z-scored EASE scores of ``items`` (``[n]`` or ``[n, k]``) for ``users [n]``."""
        users = np.asarray(users, np.int64)
        uniq, inv = np.unique(users, return_inverse=True)
        rows = np.asarray(self.history[uniq] @ self.weights, np.float32)
        vals = rows[inv[:, None], items] if items.ndim == 2 else rows[inv, items]
        mean, std = self.mean[users], self.std[users]
        if items.ndim == 2:
            mean, std = mean[:, None], std[:, None]
        return (vals - mean) / std


def fit_ease_interest(train: Interactions, dataset: Dataset, reg: float, block: int = 4096) -> EaseInterest:
    """EASE weights and per-user score moments from the training interactions."""
    x = train.matrix(dataset.n_users, dataset.n_items).astype(np.float32)
    x.data[:] = 1.0
    w = ease_weights(x, reg)
    mean = np.empty(dataset.n_users, np.float32)
    std = np.empty(dataset.n_users, np.float32)
    for start in range(0, dataset.n_users, block):
        rows = np.asarray(x[start : start + block] @ w, np.float64)
        mean[start : start + block] = rows.mean(axis=1)
        std[start : start + block] = np.maximum(rows.std(axis=1), 1e-6)
    return EaseInterest(x.tocsr(), w, mean, std)


# The rating model is the biased MF of the ALS module: mu + b_u + b_i + p_u · q_i.
RatingModel = ExplicitModel


@dataclass
class TasteModel:
    """Hidden per-user interest and rating models over the catalog.

    Attributes:
        user_factors: ``[n_users, d]`` interest factors.
        item_factors: ``[n_items, d]`` interest factors.
        interest_mean: Per-user mean of interest over all items.
        interest_std: Per-user standard deviation of interest over all items.
        rating: The rating model (biased MF, or the stacked model of :mod:`simrec.world.stacked`).
        rating_oof: Out-of-fold predictions of training ratings and the real ratings
            (the stacked model provides them; star calibration uses them).
        ease: The EASE interest signal (``agents.taste.ease_reg``), or ``None``.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    interest_mean: np.ndarray
    interest_std: np.ndarray
    rating: RatingModel | StackedRatingModel
    rating_oof: tuple[np.ndarray, np.ndarray] | None = None
    ease: EaseInterest | None = None

    def affinity(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Interest z-scored per user over the catalog (``[n]`` or ``[n, k]``)."""
        raw = _pair_dot(self.user_factors, self.item_factors, users, items)
        mean, std = self.interest_mean[users], self.interest_std[users]
        if items.ndim == 2:
            mean, std = mean[:, None], std[:, None]
        return (raw - mean) / std

    @staticmethod
    def catalog_moments(user_factors: np.ndarray, item_factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean and std of ``u · v`` over all items, without an ``[n, m]`` matrix."""
        mu_v = item_factors.mean(axis=0)
        cov = np.cov(item_factors, rowvar=False, bias=True).reshape(item_factors.shape[1], -1)
        mean = user_factors @ mu_v
        var = np.einsum("nd,de,ne->n", user_factors, cov, user_factors)
        return mean.astype(np.float32), np.sqrt(np.maximum(var, 1e-8)).astype(np.float32)


def _make(user_f: np.ndarray, item_f: np.ndarray, rating: RatingModel | StackedRatingModel,
          oof: tuple[np.ndarray, np.ndarray] | None = None) -> TasteModel:
    mean, std = TasteModel.catalog_moments(user_f, item_f)
    f32 = np.float32
    return TasteModel(user_f.astype(f32, copy=False), item_f.astype(f32, copy=False), mean, std, rating, oof)


def taste_from_latent(dataset: Dataset, users: np.ndarray | None = None) -> TasteModel:
    """The planted truth of a synthetic dataset (optionally restricted to ``users``)."""
    lat = dataset.latent
    uf = lat["user_factors"] if users is None else lat["user_factors"][users]
    ub = lat["user_bias"] if users is None else lat["user_bias"][users]
    scale = float(lat["rating_scale"])
    rating = RatingModel(float(lat["global_mean"]), ub, lat["item_bias"], uf * scale, lat["item_factors"])
    return _make(uf, lat["item_factors"], rating)


def fit_taste(
    train: Interactions, dataset: Dataset, cfg: TasteConfig, rng: np.random.Generator
) -> TasteModel:
    """Fit interest (implicit ALS) and rating (biased ALS, or the stacked model) on training interactions."""
    n_users, n_items = dataset.n_users, dataset.n_items
    matrix = train.matrix(n_users, n_items)
    matrix.data[:] = 1.0
    user_f, item_f = implicit_als(
        matrix, factors=cfg.factors, reg=cfg.reg, alpha=cfg.alpha, iterations=cfg.iterations, rng=rng
    )
    rated = ~np.isnan(train.rating)
    oof = None
    if cfg.rating_model == "stacked" and rated.any():
        rating, pred, real = fit_stacked(train, dataset, cfg, int(rng.integers(2**31)))
        oof = (pred, real)
    elif rated.any():
        rating = explicit_als(
            train.user[rated], train.item[rated], train.rating[rated], n_users, n_items,
            factors=cfg.rating_factors, reg=cfg.rating_reg, iterations=15, rng=rng,
        )  # fmt: skip
    else:
        # No ratings in the data: stars follow interest around a neutral mean.
        rating = RatingModel(3.5, np.zeros(n_users, np.float32), np.zeros(n_items, np.float32), user_f, item_f)
    return _make(user_f, item_f, rating, oof)
