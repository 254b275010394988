"""Friends' recent likes as a pull on a user's choices (the ``perceive`` input of social influence).

The pull of item ``i`` on user ``u`` is

    social[u, i] = Σ_{f followed by u} trust[u → f] · Σ_{likes of i by f, age a < window} decay^a

computed for a whole batch of users at once as a sparse product ``A[users] @ L``
(``A``: trust-weighted follow matrix, ``L``: decayed recent likes). The choice
model scales it by the user's conformity (``ChoiceParams.beta_social``).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import scipy.sparse as sp

from simrec.social.graph import SocialGraph


class RecentLikes:
    """Likes of the last ``window`` steps, as a decayed ``[n_users, n_items]`` sparse matrix.

    Args:
        n_users: Number of users.
        n_items: Number of items.
        window: Steps a like keeps counting.
        decay: Weight factor per step of age.
    """

    def __init__(self, n_users: int, n_items: int, window: int, decay: float) -> None:
        self.shape = (n_users, n_items)
        self.window = window
        self.decay = decay
        self._steps: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=window)
        self._matrix: sp.csr_matrix | None = None
        self.last_like = np.full(n_users, -1, np.int64)

    def push(self, users: np.ndarray, items: np.ndarray) -> None:
        """Add one step's likes (the oldest step falls out of the window)."""
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        self._steps.append((users, items))
        self._matrix = None
        if len(users):
            self.last_like[users] = items  # later entries win: the latest like

    def matrix(self) -> sp.csr_matrix:
        """The decayed likes matrix (the newest step has weight 1)."""
        if self._matrix is None:
            parts = list(self._steps)
            ages = range(len(parts) - 1, -1, -1)
            rows = np.concatenate([u for u, _ in parts]) if parts else np.empty(0, np.int64)
            cols = np.concatenate([i for _, i in parts]) if parts else np.empty(0, np.int64)
            vals = np.concatenate(
                [np.full(len(u), self.decay**a, np.float32) for (u, _), a in zip(parts, ages, strict=True)]
            ) if parts else np.empty(0, np.float32)  # fmt: skip
            self._matrix = sp.csr_matrix((vals, (rows, cols)), shape=self.shape, dtype=np.float32)
        return self._matrix

    @property
    def empty(self) -> bool:
        """No like within the window."""
        return all(len(u) == 0 for u, _ in self._steps)


def social_pull(graph: SocialGraph, likes: RecentLikes, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``[n, k]`` pull of ``items[r, j]`` on ``users[r]`` from the users they follow.

    Args:
        graph: The follow graph (trust on its arcs).
        likes: Recent likes.
        users: ``[n]`` user indices.
        items: ``[n, k]`` item indices.
    """
    out = np.zeros(items.shape, np.float32)
    if graph.n_arcs == 0 or likes.empty or items.size == 0:
        return out
    row, arcs = graph.following_arcs(users)
    follow = sp.csr_matrix(
        (graph.trust[arcs], (row, graph.dst[arcs])), shape=(len(users), graph.n_users), dtype=np.float32
    )
    pull = (follow @ likes.matrix()).tocsr()
    pull.sum_duplicates()
    pull.sort_indices()
    n_items = likes.shape[1]
    nz_rows = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(pull.indptr))
    keys = nz_rows * n_items + pull.indices
    query = (np.arange(len(users), dtype=np.int64)[:, None] * n_items + items).ravel()
    pos = np.searchsorted(keys, query)
    pos_ok = np.minimum(pos, max(len(keys) - 1, 0))
    hit = (pos < len(keys)) & (keys[pos_ok] == query) if len(keys) else np.zeros(len(query), bool)
    out.ravel()[hit] = pull.data[pos_ok[hit]]
    return out
