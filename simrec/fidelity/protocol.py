"""Agent4Rec's discrimination protocol: can the agent tell held-out items from unseen ones?

Each sampled user gets one list of 20 items: ``P`` items from the user's real
held-out interactions (any rating) and ``N`` items the user never interacted
with (neither in training nor held out), shuffled. The list is shown as a single
page; the agent is not told how many to pick. Ratios (``P + N``) follow the issue:
``1:1`` = 10+10, ``1:2`` = 6+12, ``1:3`` = 5+15, ``1:9`` = 2+18.

Negatives are drawn uniformly (as in Agent4Rec) or, in the harder variant,
matched to each positive's training popularity (the unused never-seen items
nearest in popularity rank), so that a popularity heuristic cannot pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from simrec.agents.policies.base import Decisions, PageBatch
from simrec.core.errors import ConfigError

if TYPE_CHECKING:
    from simrec.agents.policies.base import Policy
    from simrec.world.build import World

#: Positives and negatives per list, by ratio name.
RATIOS: dict[str, tuple[int, int]] = {"1:1": (10, 10), "1:2": (6, 12), "1:3": (5, 15), "1:9": (2, 18)}
NEGATIVES = ("uniform", "popularity")


@dataclass
class ProtocolLists:
    """The lists shown to the agents.

    Attributes:
        ratio: Ratio name (a key of :data:`RATIOS`).
        negatives: ``uniform`` or ``popularity``.
        users: ``[n]`` user indices.
        items: ``[n, L]`` item indices in display order.
        labels: ``[n, L]`` bool, True for held-out positives.
        n_skipped: Users left out for having fewer held-out items than ``P``
            (or fewer never-seen items than ``N``).
    """

    ratio: str
    negatives: str
    users: np.ndarray
    items: np.ndarray
    labels: np.ndarray
    n_skipped: int

    def __len__(self) -> int:
        return len(self.users)


def _per_user(users: np.ndarray, items: np.ndarray, n_users: int) -> list[np.ndarray]:
    """Distinct items of each user, as a list indexed by user."""
    order = np.lexsort((items, users))
    u, it = users[order], items[order]
    keep = np.ones(len(u), bool)
    keep[1:] = (u[1:] != u[:-1]) | (it[1:] != it[:-1])
    u, it = u[keep], it[keep]
    bounds = np.searchsorted(u, np.arange(n_users + 1))
    return [it[bounds[i] : bounds[i + 1]] for i in range(n_users)]


def _popularity_matched(
    positives: np.ndarray, candidates: np.ndarray, popularity: np.ndarray, n_neg: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_neg`` distinct candidates, an equal share per positive, each near that positive's popularity.

    Candidates are ordered by training popularity (random tie-break); each positive
    takes random picks among the ``window`` unused candidates nearest to its
    insertion point in that order.
    """
    per = n_neg // len(positives)
    cand = candidates[np.lexsort((rng.random(len(candidates)), popularity[candidates]))]
    cpop = popularity[cand]
    used = np.zeros(len(cand), bool)
    rank = np.arange(len(cand))
    window = max(2 * per, 4)
    picks = []
    for pos in rng.permutation(positives):
        lo, hi = np.searchsorted(cpop, popularity[pos], "left"), np.searchsorted(cpop, popularity[pos], "right")
        q = rng.uniform(lo, max(hi, lo + 1) - 1e-9) if hi > lo else lo - 0.5
        free = rank[~used]
        near = free[np.argsort(np.abs(free - q), kind="stable")[:window]]
        chosen = rng.choice(near, size=per, replace=False)
        used[chosen] = True
        picks.append(cand[chosen])
    return np.concatenate(picks)


def build_lists(
    world: World,
    ratio: str,
    rng: np.random.Generator,
    n_users: int | None = None,
    negatives: Literal["uniform", "popularity"] = "uniform",
) -> ProtocolLists:
    """Build one shuffled list per sampled eligible user.

    Args:
        world: The world (its ``train`` and ``heldout`` splits).
        ratio: ``1:1``, ``1:2``, ``1:3`` or ``1:9``.
        rng: Source of randomness (user sample, items, order).
        n_users: Sample at most this many eligible users (``None``: all).
        negatives: ``uniform`` (Agent4Rec) or ``popularity`` (matched to the positives).

    Returns:
        The lists, with the count of users skipped for too few held-out items.
    """
    if ratio not in RATIOS:
        raise ConfigError(f"unknown ratio '{ratio}'; choose one of {', '.join(RATIOS)}")
    if negatives not in NEGATIVES:
        raise ConfigError(f"unknown negatives '{negatives}'; choose uniform or popularity")
    n_pos, n_neg = RATIOS[ratio]
    n_all, n_items = world.population.n_users, world.dataset.n_items
    held = _per_user(world.heldout.user, world.heldout.item, n_all)
    seen = _per_user(
        np.concatenate([world.train.user, world.heldout.user]), np.concatenate([world.train.item, world.heldout.item]), n_all
    )
    counts = np.array([len(h) for h in held])
    eligible = np.flatnonzero((counts >= n_pos) & (n_items - np.array([len(s) for s in seen]) >= n_neg))
    n_skipped = n_all - len(eligible)
    users = eligible if n_users is None or n_users >= len(eligible) else np.sort(rng.choice(eligible, n_users, replace=False))
    popularity = np.bincount(world.train.item, minlength=n_items)
    items = np.empty((len(users), n_pos + n_neg), np.int64)
    labels = np.zeros(items.shape, bool)
    mask = np.ones(n_items, bool)
    for row, u in enumerate(users):
        pos = rng.choice(held[u], n_pos, replace=False)
        mask[seen[u]] = False
        cand = np.flatnonzero(mask)
        mask[seen[u]] = True
        if negatives == "uniform":
            neg = rng.choice(cand, n_neg, replace=False)
        else:
            neg = _popularity_matched(pos, cand, popularity, n_neg, rng)
        order = rng.permutation(n_pos + n_neg)
        items[row] = np.concatenate([pos, neg])[order]
        labels[row] = order < n_pos
    return ProtocolLists(ratio, negatives, np.asarray(users, np.int64), items, labels, int(n_skipped))


@dataclass
class Scores:
    """Per-user discrimination scores (``[n]`` arrays)."""

    accuracy: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    picked: np.ndarray

    def means(self) -> dict[str, float]:
        """Averages over users (``nan`` for no users)."""
        if len(self.accuracy) == 0:
            return {k: float("nan") for k in ("accuracy", "precision", "recall", "f1", "picked")}
        return {k: float(np.mean(getattr(self, k))) for k in ("accuracy", "precision", "recall", "f1", "picked")}


def score_choices(picked: np.ndarray, labels: np.ndarray) -> Scores:
    """Accuracy, precision, recall and F1 of each user's picks.

    A user who picks nothing scores precision 0 and F1 0 (not NaN).

    Args:
        picked: ``[n, L]`` bool, what the agent chose to watch.
        labels: ``[n, L]`` bool, the held-out positives.
    """
    picked, labels = np.asarray(picked, bool), np.asarray(labels, bool)
    tp = (picked & labels).sum(axis=1)
    n_picked, n_pos = picked.sum(axis=1), labels.sum(axis=1)
    accuracy = (picked == labels).mean(axis=1)
    precision = np.where(n_picked > 0, tp / np.maximum(n_picked, 1), 0.0)
    recall = np.where(n_pos > 0, tp / np.maximum(n_pos, 1), 0.0)
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return Scores(accuracy, precision, recall, f1, n_picked.astype(float))


def run_protocol(
    policy: Policy, world: World, lists: ProtocolLists, step: int = 0, batch_size: int = 4096
) -> Decisions:
    """Show each list as one page (neutral mood, no fatigue) and return the decisions.

    Args:
        policy: Any policy; LLM policies batch their calls internally.
        world: The world the lists were built from (checked against).
        lists: From :func:`build_lists`.
        step: Step number shown to the policy.
        batch_size: Users per ``decide`` call.
    """
    if len(lists) and int(lists.users.max()) >= world.population.n_users:
        raise ConfigError("protocol lists name users outside this world")
    parts = []
    for start in range(0, max(len(lists), 1), batch_size):
        users = lists.users[start : start + batch_size]
        batch = PageBatch(
            step=step, page=0, users=users, items=lists.items[start : start + batch_size],
            satisfaction=np.zeros(len(users), np.float32), fatigue=np.zeros(len(users), np.float32),
        )  # fmt: skip
        parts.append(policy.decide(batch))
    return Decisions(
        clicks=np.concatenate([d.clicks for d in parts]),
        ratings=np.concatenate([d.ratings for d in parts]),
        exits=np.concatenate([d.exits for d in parts]),
        satisfaction=np.concatenate([d.satisfaction for d in parts]),
        fatigue=np.concatenate([d.fatigue for d in parts]),
        source=np.concatenate([d.sources() for d in parts]),
    )
