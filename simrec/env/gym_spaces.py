"""What the agent of :mod:`simrec.env.gym` sees and does: its spaces and the slate rule.

Observations (a ``Dict``; every key is public platform data):

* ``user``: the user's index, ``Discrete(n_users)``.
* ``history``: the user's last ``history`` item indices (training log, then this
  episode's watches, most recent last, left-padded with ``n_items``).
* ``ratings``: the stars of those (0 unrated or padding, clipped to 0..5).
* ``page`` / ``session``: the page number within the session and the sessions finished.
* with ``action="item"`` also ``slate``: the items placed so far on the page being
  filled (``n_items`` in the empty slots), and ``slot``: how many are placed.

With ``observation="ids"`` (the default) ``history`` and ``slate`` are ``Box`` spaces of
item indices, so the observation has the same size whatever the catalog (Stable-Baselines3
feeds them to the network as numbers; an agent with its own item embedding reads them as
ids). With ``observation="onehot"`` they are ``MultiDiscrete(n_items + 1)``, which
Stable-Baselines3 one-hot encodes: ``n_items + 1`` inputs per position.

Actions: ``action="slate"`` (the default) is ``MultiDiscrete([n_items] * page_size)``, one
page per step. ``action="item"`` is ``Discrete(n_items)``, for agents that need a
discrete action (DQN): one item per step fills the page slot by slot, and the user sees
the page when its last slot is filled.

The slate rule: a page never holds an item twice. An item that is already on the page
(a repeat in a ``slate`` action, or an ``item`` action naming a placed item) is replaced
by the most popular item (training counts, which the platform knows) that is not on the
page and that the user has not seen (:mod:`simrec.env.gym_seen`; if the user has seen
them all, the most popular not on the page); ``info["replaced"]`` counts the replaced
slots of the step. With ``action="item"``, :func:`placed_mask` (``RecEnv.action_masks()``
and ``info["action_mask"]``) marks the items worth placing, neither on the page nor
seen (never none), as sb3-contrib's ``MaskablePPO`` expects.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from gymnasium import spaces

from simrec.data.types import Interactions

Action = Literal["slate", "item"]
Observation = Literal["ids", "onehot"]
ACTIONS = ("slate", "item")
OBSERVATIONS = ("ids", "onehot")


def item_space(n_items: int, length: int, observation: str) -> spaces.Space:
    """``length`` item indices in ``[0, n_items]`` (``n_items``: padding / empty slot)."""
    if observation == "onehot":
        return spaces.MultiDiscrete(np.full(length, n_items + 1, np.int64))
    return spaces.Box(0, n_items, (length,), np.int64)


def observation_space(
    *,
    n_users: int,
    n_items: int,
    history: int,
    pages: int,
    sessions: int,
    page_size: int,
    action: str,
    observation: str,
) -> spaces.Dict:
    """The observation space (keys as in the module docstring)."""
    keys: dict[str, spaces.Space] = {
        "user": spaces.Discrete(n_users),
        "history": item_space(n_items, history, observation),
        "ratings": spaces.Box(0.0, 5.0, (history,), np.float32),
        "page": spaces.Discrete(pages + 1),
        "session": spaces.Discrete(sessions + 1),
    }
    if action == "item":
        keys["slate"] = item_space(n_items, page_size, observation)
        keys["slot"] = spaces.Discrete(page_size)
    return spaces.Dict(keys)


def action_space(n_items: int, page_size: int, action: str) -> spaces.Space:
    """``MultiDiscrete([n_items] * page_size)`` for ``"slate"``, ``Discrete(n_items)`` else."""
    if action == "item":
        return spaces.Discrete(n_items)
    return spaces.MultiDiscrete(np.full(page_size, n_items, np.int64))


def train_histories(
    train: Interactions, n_users: int, n_items: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's last ``length`` training items and stars, oldest first, left-padded.

    Returns:
        ``[n_users, length]`` item indices (padding ``n_items``) and float32 stars (0: unrated
        or padding).
    """
    order = np.lexsort((train.timestamp, train.user))  # stable: ties keep log order
    u = train.user[order].astype(np.int64)
    end = np.searchsorted(u, np.arange(n_users), side="right")
    back = end[u] - np.arange(len(u)) - 1  # 0 = the user's most recent interaction
    keep = back < length
    items = np.full((n_users, length), n_items, np.int64)
    stars = np.zeros((n_users, length), np.float32)
    col = length - 1 - back[keep]
    items[u[keep], col] = train.item[order][keep]
    stars[u[keep], col] = np.clip(np.nan_to_num(train.rating[order][keep], nan=0.0), 0.0, 5.0)
    return items, stars


def fill_order(popularity: np.ndarray, page_size: int) -> np.ndarray:
    """The ``page_size`` most popular items, most popular first (ties: lower index first)."""
    return np.argsort(-np.asarray(popularity, np.float64), kind="stable")[:page_size]


def first_absent(fill: np.ndarray, pages: np.ndarray, seen: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``pages [m, j]``, the first item of ``fill`` that is not on it.

    With ``seen`` (``[m, n_items]`` bool, the items each row's user has seen), the first
    such item the user has not seen, where ``fill`` holds one (else the first not on the
    page). ``fill`` must be longer than the number of distinct items of each row.
    """
    free = ~(fill[None, :, None] == pages[:, None, :]).any(axis=2)  # [m, len(fill)]
    if seen is not None:
        fresh = free & ~seen[:, fill]
        free = np.where(fresh.any(axis=1, keepdims=True), fresh, free)
    return fill[np.argmax(free, axis=1)]


def dedupe(
    items: np.ndarray, fill: np.ndarray, seen: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Replace each repeat on a page by the first item of ``fill`` not on the page.

    Slots are read left to right, so the first copy of an item stays where it is.

    Args:
        items: ``[m, k]`` pages.
        fill: At least ``k`` distinct items in order of preference (:func:`fill_order`).
        seen: ``[m, n_items]`` bool, the items each page's user has seen: a repeat takes the
            first item of ``fill`` that is neither on the page nor seen, where there is one.

    Returns:
        The pages without repeats and ``[m, k]`` bool, the replaced slots.
    """
    out = items.copy()
    replaced = np.zeros(items.shape, bool)
    ordered = np.sort(items, axis=1)
    todo = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))  # pages with repeats
    for j in range(1, items.shape[1]):
        if not len(todo):
            break
        rows = todo[(out[todo, j : j + 1] == out[todo, :j]).any(axis=1)]
        if len(rows):  # a row with a repeat holds at most k - 1 distinct items
            out[rows, j] = first_absent(fill, out[rows], None if seen is None else seen[rows])
            replaced[rows, j] = True
    return out, replaced


def placed_mask(
    slate: np.ndarray, slot: np.ndarray, n_items: int, seen: np.ndarray | None = None
) -> np.ndarray:
    """``[m, n_items]`` bool: True for the items not yet placed on each row's page.

    With ``seen`` (``[m, n_items]`` bool) also False for the items each row's user has
    seen, except in a row where that leaves nothing: there only the placed items are
    False (a mask is never all False).
    """
    mask = np.ones((len(slate), n_items), bool)
    k = slate.shape[1]
    placed = np.arange(k)[None, :] < slot[:, None]
    rows = np.broadcast_to(np.arange(len(slate))[:, None], slate.shape)
    mask[rows[placed], slate[placed]] = False
    if seen is not None:
        fresh = mask & ~seen
        ok = fresh.any(axis=1)
        mask[ok] = fresh[ok]
    return mask
