"""Interactive accuracy: what the recommender showed against each user's held-out items.

Agent4Rec-style evaluation: the real interactions held out of training are the
ground truth, and every distinct item a user was shown during the simulation is a
"recommendation" to that user. Per user ``u`` with held-out set ``H_u`` and distinct
shown set ``S_u``::

    precision_u = |S_u ∩ H_u| / |S_u|        recall_u = |S_u ∩ H_u| / |H_u|

Which users are averaged:

* users with **no held-out item** are left out (recall is undefined for them);
* users with held-out items but **no impression** (they never opened a session) are,
  by default, **included with precision 0 and recall 0**: an interactive recommender
  that loses users gets no credit for them. ``only_shown=True`` averages over users
  with at least one impression instead.

Everything runs on sorted int64 keys ``user * span + item`` (``span`` = one more than
the largest item index), with the sort-based helpers of :mod:`simrec.core.arrays`.
"""

from __future__ import annotations

import numpy as np

from simrec.core.arrays import isin_sorted, unique_sorted


def heldout_precision_recall(
    shown_user: np.ndarray,
    shown_item: np.ndarray,
    heldout_user: np.ndarray,
    heldout_item: np.ndarray,
    n_users: int,
    *,
    only_shown: bool = False,
) -> tuple[float, float]:
    """Mean per-user precision and recall of the shown items against held-out items.

    Args:
        shown_user: User index of each impression (repeats allowed).
        shown_item: Item index of each impression, parallel to ``shown_user``.
        heldout_user: User index of each held-out interaction.
        heldout_item: Item index of each held-out interaction (duplicates count once).
        n_users: Number of users (indices ``0..n_users-1``).
        only_shown: Average only over users with at least one impression; by default
            users with held-out items but no impression count as precision = recall = 0.

    Returns:
        ``(precision, recall)``; ``(nan, nan)`` when no user qualifies.
    """
    su = np.asarray(shown_user, dtype=np.int64).reshape(-1)
    si = np.asarray(shown_item, dtype=np.int64).reshape(-1)
    hu = np.asarray(heldout_user, dtype=np.int64).reshape(-1)
    hi = np.asarray(heldout_item, dtype=np.int64).reshape(-1)
    if len(su) != len(si) or len(hu) != len(hi):
        raise ValueError("user and item arrays must have the same length")
    if (
        max(su.max(initial=-1), hu.max(initial=-1)) >= n_users
        or min(su.min(initial=0), hu.min(initial=0)) < 0
    ):
        raise ValueError(f"user indices must lie in 0..{n_users - 1}")
    span = int(max(si.max(initial=-1), hi.max(initial=-1))) + 1
    shown = unique_sorted(su * span + si)
    held = unique_sorted(hu * span + hi)
    hits = shown[isin_sorted(shown, held)]

    n_shown = np.bincount(shown // span, minlength=n_users).astype(np.float64)
    n_held = np.bincount(held // span, minlength=n_users).astype(np.float64)
    n_hit = np.bincount(hits // span, minlength=n_users).astype(np.float64)

    users = n_held > 0
    if only_shown:
        users &= n_shown > 0
    if not users.any():
        return float("nan"), float("nan")
    precision = np.divide(n_hit, n_shown, out=np.zeros(n_users), where=n_shown > 0)
    recall = n_hit / np.where(users, n_held, 1.0)
    return float(precision[users].mean()), float(recall[users].mean())
