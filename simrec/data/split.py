"""Train / held-out splits and user filters, vectorised over all users at once.

Every function keeps the input's row order within each output (a split is a
boolean mask over the log), so results depend only on the data and the
generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simrec.core.errors import DataError
from simrec.data.types import Dataset, Interactions


@dataclass(frozen=True)
class Split:
    """A log divided into what the recommender trains on and what is held out.

    Attributes:
        train: Interactions for training.
        heldout: Interactions kept back for evaluation.
    """

    train: Interactions
    heldout: Interactions


def _check_fraction(fraction: float, min_train: int) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if min_train < 0:
        raise ValueError(f"min_train must be >= 0, got {min_train}")


def _holdout_counts(
    user: np.ndarray, fraction: float, min_train: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user interaction counts and how many of them to hold out."""
    counts = np.bincount(user, minlength=int(user.max()) + 1 if len(user) else 0)
    # half up (0.5 of 5 -> 3): Python's half-to-even round() would make the share depend on parity
    n_hold = np.floor(fraction * counts + 0.5).astype(np.int64)
    n_hold = np.minimum(n_hold, np.maximum(counts - min_train, 0))
    return counts, n_hold


def _ranks(user: np.ndarray, order: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rank of each row within its user, given an ``order`` that sorts rows by user first."""
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ranks = np.empty(len(user), dtype=np.int64)
    ranks[order] = np.arange(len(user)) - starts[user[order]]
    return ranks


def _split(inter: Interactions, heldout: np.ndarray) -> Split:
    return Split(train=inter.take(~heldout), heldout=inter.take(heldout))


def split_random(
    inter: Interactions, fraction: float, rng: np.random.Generator, min_train: int = 1
) -> Split:
    """Hold out a uniformly random share of each user's interactions.

    Each user with ``n`` interactions holds out ``round(fraction * n)`` of them
    (halves rounded up), but never so many that fewer than ``min_train`` stay in
    training; users with ``n <= min_train`` keep everything in training.

    Args:
        inter: The interaction log.
        fraction: Share held out per user, in ``[0, 1]``.
        rng: Source of randomness.
        min_train: Interactions each user keeps in training at least.

    Returns:
        The split; both parts keep the log's row order.
    """
    _check_fraction(fraction, min_train)
    if len(inter) == 0:
        return _split(inter, np.zeros(0, dtype=bool))
    counts, n_hold = _holdout_counts(inter.user, fraction, min_train)
    key = rng.random(len(inter))
    order = np.lexsort((key, inter.user))
    ranks = _ranks(inter.user, order, counts)
    return _split(inter, ranks < n_hold[inter.user])


def split_temporal(inter: Interactions, fraction: float, min_train: int = 1) -> Split:
    """Hold out each user's latest interactions.

    Each user holds out the ``round(fraction * n)`` latest of their ``n``
    interactions by timestamp (ties: later rows count as later), with the same
    rounding and ``min_train`` rule as :func:`split_random`.

    Args:
        inter: The interaction log.
        fraction: Share held out per user, in ``[0, 1]``.
        min_train: Interactions each user keeps in training at least.

    Returns:
        The split; both parts keep the log's row order.
    """
    _check_fraction(fraction, min_train)
    if len(inter) == 0:
        return _split(inter, np.zeros(0, dtype=bool))
    counts, n_hold = _holdout_counts(inter.user, fraction, min_train)
    order = np.lexsort((np.arange(len(inter)), inter.timestamp, inter.user))
    ranks = _ranks(inter.user, order, counts)
    return _split(inter, ranks >= (counts - n_hold)[inter.user])


def downsample_train(
    train: Interactions, max_train: int, rng: np.random.Generator, share: float = 1.0
) -> Interactions:
    """Keep at most ``max_train`` training interactions of (a share of) the users.

    A seeded random ``share`` of the users that appear in ``train`` keep a uniformly
    random subset of ``max_train`` of their interactions; the other rows of those
    users are dropped (not moved to held-out). Other users keep everything.

    Args:
        train: Training interactions.
        max_train: Interactions each down-sampled user keeps at most (``>= 1``).
        rng: Source of randomness.
        share: Share of users down-sampled, in ``(0, 1]``.

    Returns:
        The kept interactions, in the input's row order.
    """
    if max_train < 1:
        raise ValueError(f"max_train must be >= 1, got {max_train}")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    if len(train) == 0:
        return train
    counts = np.bincount(train.user)
    users = np.flatnonzero(counts)
    limit = np.full(len(counts), np.iinfo(np.int64).max, dtype=np.int64)
    if share >= 1.0:
        limit[users] = max_train
    else:
        n_cold = int(np.floor(share * len(users) + 0.5))
        limit[rng.choice(users, size=n_cold, replace=False)] = max_train
    key = rng.random(len(train))
    order = np.lexsort((key, train.user))
    ranks = _ranks(train.user, order, counts)
    return train.take(ranks < limit[train.user])


def _keep_users(ds: Dataset, keep: np.ndarray) -> Dataset:
    """The data set restricted to users where ``keep`` is True, reindexed densely in order."""
    new_index = np.cumsum(keep, dtype=np.int64) - 1
    inter = ds.interactions
    rows = keep[inter.user]
    inter = inter.take(rows)
    inter = replace(inter, user=new_index[inter.user].astype(np.int32))
    latent = {
        key: (value[keep] if key.startswith("user") and len(value) == ds.n_users else value)
        for key, value in ds.latent.items()
    }
    users = ds.users.loc[keep].reset_index(drop=True)
    return replace(ds, interactions=inter, users=users, latent=latent)


def filter_min_interactions(ds: Dataset, min_count: int) -> Dataset:
    """Drop users with fewer than ``min_count`` interactions; keep all items.

    Remaining users are reindexed densely, in their original order. Latent arrays
    whose key starts with ``"user"`` and that have one row per user are filtered too.

    Raises:
        DataError: if no user has ``min_count`` interactions.
    """
    counts = np.bincount(ds.interactions.user, minlength=ds.n_users)
    keep = counts >= min_count
    if not keep.any():
        raise DataError(
            f"No user of '{ds.name}' has at least {min_count} interactions (the most is "
            f"{int(counts.max()) if len(counts) else 0}). Lower min_interactions in the environment's data block."
        )
    if keep.all():
        return ds
    return _keep_users(ds, keep)


def subsample_users(ds: Dataset, max_users: int, rng: np.random.Generator) -> Dataset:
    """Keep a random subset of at most ``max_users`` users, reindexed in original order.

    Latent arrays whose key starts with ``"user"`` and that have one row per user
    are subset too. Returns ``ds`` itself when it has no more than ``max_users`` users.

    Raises:
        DataError: if ``max_users`` is below 1 or no interaction remains.
    """
    if max_users < 1:
        raise DataError(
            f"max_users is {max_users}, so no user of '{ds.name}' would remain. "
            "Set max_users in the environment's data block to a positive number, or leave it empty."
        )
    if ds.n_users <= max_users:
        return ds
    keep = np.zeros(ds.n_users, dtype=bool)
    keep[rng.choice(ds.n_users, size=max_users, replace=False)] = True
    out = _keep_users(ds, keep)
    if len(out.interactions) == 0:
        raise DataError(
            f"The {max_users} users sampled from '{ds.name}' have no interactions. "
            "Raise max_users, or filter out users without interactions first."
        )
    return out
