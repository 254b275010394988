"""The once-per-user rule of :mod:`simrec.env.gym`: an item the user has seen is not watched again.

In a run, a user never watches an item twice: the recommender excludes each user's seen
items (``recommender.exclude_seen``, on by default), which are the training log plus every
simulated watch (:meth:`Recommender.update <simrec.recommenders.base.Recommender.update>`
marks them), so the choice model is never shown one. In the Gymnasium environment the
agent is the recommender and may show anything; the same set of items counts as *seen*
(the user's whole training history, then this episode's watches, across sessions with
``horizon="sessions"``), and a seen item keeps its slot on the page but is never watched
or rated. Without the rule, the choice model would watch an item it watched one page
before as if it were new, and showing the same few items on every page would beat any
real ranking.

:class:`SeenPageBatch` carries the seen slots of a page to :class:`OnceChoicePolicy`, the
scenario's choice model in which a seen item's utility is ``−∞``: it is never picked,
and it counts as not worth watching where the page's own mix matters
(``policy.choice.picks: page``), like an item nobody wants. Its terms still weigh in the
page's means (the contrast terms), as an item on the page does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from simrec.agents.policies.base import PageBatch
from simrec.agents.policies.choice import ChoicePolicy
from simrec.data.types import Interactions


@dataclass(frozen=True)
class SeenPageBatch(PageBatch):
    """A :class:`PageBatch` that also says which slots hold an item the user has seen.

    Attributes:
        seen: ``[n, k]`` bool, the user has seen the item in that slot (``None``: none).
    """

    seen: np.ndarray | None = None


class OnceChoicePolicy(ChoicePolicy):
    """The choice model in which an item the user has seen is never watched (or rated).

    Reads :attr:`SeenPageBatch.seen`; on any other batch it is :class:`ChoicePolicy`. It
    draws the same random numbers as :class:`ChoicePolicy` for the same watches.
    """

    def utilities(self, batch: PageBatch) -> np.ndarray:
        """``[n, k]`` utilities, ``−∞`` in the seen slots."""
        u = super().utilities(batch)
        seen = getattr(batch, "seen", None)
        if seen is not None and seen.any():
            u = np.where(seen, np.float32(-np.inf), u)
        return u


def train_seen(train: Interactions, n_users: int, n_items: int) -> sp.csr_matrix:
    """``[n_users, n_items]`` bool CSR: the items of each user's training history."""
    ones = np.ones(len(train), bool)
    m = sp.csr_matrix((ones, (train.user, train.item)), shape=(n_users, n_items), dtype=bool)
    m.sum_duplicates()
    return m


def set_rows(seen: np.ndarray, rows: np.ndarray, matrix: sp.csr_matrix, users: np.ndarray) -> None:
    """Set ``seen[rows[j]]`` to row ``users[j]`` of ``matrix`` (in place)."""
    seen[rows] = False
    sub = matrix[users]
    r = np.repeat(rows, np.diff(sub.indptr))
    seen[r, sub.indices] = True
