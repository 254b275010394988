"""Defences applied to what the recommender learns from: RDMA detection and denoising.

- :func:`rdma_scores` and :class:`RDMAFilter`: the Rating Deviation from Mean Agreement
  (Chirita et al. 2005) of each user, and a filter that leaves out of a fit the users
  whose RDMA is above a threshold calibrated on the (genuine) training users;
- :func:`denoise`: interactions rated below a floor, or unrated, left out of a refit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrec.data.types import Interactions

__all__ = ["RDMAFilter", "denoise", "rdma_scores", "robust_z"]


def _check_range(inter: Interactions, n_users: int, n_items: int) -> None:
    if len(inter) and (int(inter.user.max()) >= n_users or int(inter.item.max()) >= n_items):
        raise ValueError(
            f"interactions refer to users up to {int(inter.user.max())} and items up to {int(inter.item.max())}, "
            f"beyond n_users={n_users}, n_items={n_items}"
        )


def rdma_scores(inter: Interactions, n_users: int, n_items: int) -> np.ndarray:
    """Each user's RDMA: ``(1/N_u) Σ_i |r_ui − mean_i| / NR_i`` over the user's rated rows.

    ``NR_i`` is item ``i``'s number of ratings and ``mean_i`` its mean rating, both on
    ``inter``; unrated (NaN) rows count nowhere.

    Returns:
        ``[n_users]`` float64 scores; NaN for users without a rating.

    Raises:
        ValueError: if ``inter`` refers to a user or item beyond ``n_users`` / ``n_items``.
    """
    _check_range(inter, n_users, n_items)
    rated = np.isfinite(inter.rating)
    user = inter.user[rated].astype(np.int64)
    item = inter.item[rated].astype(np.int64)
    r = inter.rating[rated].astype(np.float64)
    count = np.bincount(item, minlength=n_items).astype(np.float64)
    total = np.bincount(item, weights=r, minlength=n_items)
    safe = np.maximum(count, 1.0)
    deviation = np.abs(r - (total / safe)[item]) / safe[item]
    per_user = np.bincount(user, minlength=n_users).astype(np.float64)
    summed = np.bincount(user, weights=deviation, minlength=n_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(per_user > 0, summed / per_user, np.nan)


def robust_z(scores: np.ndarray) -> np.ndarray:
    """``scores`` as robust z-scores: ``(s − median) / (1.4826 · MAD)`` over the finite ones (NaN stays NaN).

    RDMA divides by each item's number of ratings, so its scale shrinks as a log grows; the
    median and MAD of the users being screened (genuine ones by far the most) remove that
    scale, so a threshold set on the training data still means the same on a grown log.
    """
    finite = scores[np.isfinite(scores)]
    if len(finite) == 0:
        return np.full(len(scores), np.nan)
    median = float(np.median(finite))
    mad = 1.4826 * float(np.median(np.abs(finite - median)))
    if mad <= 0:
        mad = float(finite.std()) or 1.0
    return (scores - median) / mad


@dataclass(frozen=True)
class RDMAFilter:
    """Flags users whose RDMA, as a robust z-score among the users screened, exceeds ``threshold``.

    Attributes:
        threshold: Robust z-scores (:func:`robust_z` of :func:`rdma_scores`) above it are
            suspect (``inf``: nobody is).
    """

    threshold: float

    @classmethod
    def calibrate(cls, train: Interactions, n_users: int, n_items: int, false_positive_rate: float) -> RDMAFilter:
        """The filter whose threshold is the ``1 − false_positive_rate`` quantile of the training
        users' robust RDMA z-scores (every training user is genuine).

        With no rated training user the threshold is ``inf`` (nobody is flagged).

        Raises:
            ValueError: if ``false_positive_rate`` is not in (0, 1).
        """
        if not 0 < false_positive_rate < 1:
            raise ValueError(f"false_positive_rate must be in (0, 1), got {false_positive_rate}")
        z = robust_z(rdma_scores(train, n_users, n_items))
        finite = z[np.isfinite(z)]
        if len(finite) == 0:
            return cls(float("inf"))
        return cls(float(np.quantile(finite, 1.0 - false_positive_rate)))

    def suspects(self, inter: Interactions, n_users: int, n_items: int) -> np.ndarray:
        """``[n_users]`` bool: whose robust RDMA z-score on ``inter`` is above the threshold (no rating:
        not suspect). ``n_users`` counts every user ``inter`` may hold, fake profiles included.
        """
        z = robust_z(rdma_scores(inter, n_users, n_items))
        return np.isfinite(z) & (np.nan_to_num(z, nan=-np.inf) > self.threshold)

    def apply(self, inter: Interactions, n_users: int, n_items: int) -> tuple[Interactions, np.ndarray]:
        """The rows of the users not flagged, and the flagged users (sorted ``int64``).

        ``inter`` itself comes back when nobody is flagged.
        """
        flagged = self.suspects(inter, n_users, n_items)
        users = np.flatnonzero(flagged).astype(np.int64)
        if len(users) == 0:
            return inter, users
        return inter.take(~flagged[inter.user]), users


def denoise(inter: Interactions, min_rating: float | None, drop_unrated: bool) -> tuple[Interactions, int]:
    """``inter`` without the rows rated below ``min_rating`` and (if ``drop_unrated``) the unrated ones.

    Unrated (NaN) rows are never "below" ``min_rating``: only ``drop_unrated`` drops them.

    Returns:
        The kept rows in their order, and how many were dropped; ``inter`` itself and 0
        when nothing is dropped.
    """
    rating = inter.rating
    drop = np.zeros(len(inter), bool)
    if min_rating is not None:
        with np.errstate(invalid="ignore"):
            drop |= rating < min_rating
    if drop_unrated:
        drop |= np.isnan(rating)
    dropped = int(drop.sum())
    if dropped == 0:
        return inter, 0
    return inter.take(~drop), dropped
