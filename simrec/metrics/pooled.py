"""In-the-loop Recall@k and NDCG@k: a run's pages against what the simulated users watched.

The in-the-loop counterpart of offline Recall@k / NDCG@k (:mod:`simrec.metrics.ranking`)
for several recommenders run on the same simulated population (the episodes of one
seed of a bench, say):

* **the lists**: every session's first ``k`` recommended positions, as the user was shown
  them (with 10 items a page: the first page; a social-slot item is nobody's hit);
* **the relevant items**, pooled as in TREC: per user, every distinct item the user
  watched in *any* of the episodes compared. An episode's own pages can only be watched
  from, so relevance judged by each episode's own watches alone would be circular; the
  pool judges every recommender's lists by the same per-user set;
* per session at step ``t``, the items the user already watched in that episode before
  ``t`` leave the relevant set (a recommender excludes them from later lists, as an
  offline top-k excludes training items).

A user's value is the mean over their sessions; a user with pooled items but no
session in an episode scores 0 there (a recommender that loses users gets no credit
for them, as in :mod:`simrec.metrics.accuracy`); a user with no pooled item is ``nan``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.core.arrays import isin_sorted, unique_sorted
from simrec.core.errors import DataError
from simrec.io.events import EVENTS_DIRNAME, require_every_event
from simrec.metrics.ranking import list_metrics


@dataclass(frozen=True)
class Episode:
    """What one episode showed at the top of each session and what its users watched.

    Attributes:
        session_user: ``[S]`` user of each session.
        session_step: ``[S]`` step of each session.
        top: ``[S, k]`` items at the session's first ``k`` recommended positions (``-1``:
            not shown, or a social-slot item).
        watch_user: ``[W]`` user of each watch.
        watch_item: ``[W]`` item of each watch.
        watch_step: ``[W]`` step of each watch.
    """

    session_user: np.ndarray
    session_step: np.ndarray
    top: np.ndarray
    watch_user: np.ndarray
    watch_item: np.ndarray
    watch_step: np.ndarray


def read_episode(run_dir: Path, k: int = 10) -> Episode:
    """The :class:`Episode` of a finished run folder (its ``events.parquet``).

    Raises:
        DataError: without an event table.
    """
    folder = Path(run_dir) / EVENTS_DIRNAME
    if not folder.is_dir():
        raise DataError(f"No event table under {folder}; is {run_dir} a simrec run folder?")
    require_every_event(run_dir, "Pooled metrics")
    cols = ["step", "session", "page", "position", "user", "item", "event", "via"]
    ev = pd.read_parquet(folder, columns=cols)
    event = ev["event"].astype(str).to_numpy()
    imp = ev[event == "impression"].sort_values(["session", "page", "position"], kind="stable")
    rank = imp.groupby("session", sort=False).cumcount().to_numpy()
    imp, rank = imp[rank < k], rank[rank < k]
    session, first = np.unique(imp["session"].to_numpy(), return_index=True)
    row = np.searchsorted(session, imp["session"].to_numpy())
    top = np.full((len(session), k), -1, np.int64)
    social = imp["via"].astype(str).to_numpy() == "social"
    top[row, rank] = np.where(social, -1, imp["item"].to_numpy(np.int64))
    clicks = ev[event == "click"]
    return Episode(
        imp["user"].to_numpy(np.int64)[first], imp["step"].to_numpy(np.int64)[first], top,
        clicks["user"].to_numpy(np.int64), clicks["item"].to_numpy(np.int64), clicks["step"].to_numpy(np.int64),
    )  # fmt: skip


def _first_watches(ep: Episode, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``user * span + item`` keys of the episode's watches and each one's first step."""
    keys = ep.watch_user * span + ep.watch_item
    order = np.lexsort((ep.watch_step, keys))
    keys, steps = keys[order], ep.watch_step[order]
    first = np.concatenate([[True], keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, bool)
    return keys[first], steps[first]


def _episode_metrics(
    ep: Episode, pool: np.ndarray, span: int, n_users: int, k: int
) -> dict[str, np.ndarray]:
    pool_size = np.bincount(pool // span, minlength=n_users)[:n_users]
    keys, steps = _first_watches(ep, span)
    # watches before each session's step: count the user's first-watch steps below it
    horizon = int(max(ep.session_step.max(initial=0), steps.max(initial=0))) + 2
    by_user_step = np.sort((keys // span) * horizon + steps)
    u, t = ep.session_user, ep.session_step
    prior = np.searchsorted(by_user_step, u * horizon + t) - np.searchsorted(
        by_user_step, u * horizon
    )
    query = u[:, None] * span + np.where(ep.top >= 0, ep.top, 0)
    pos = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    watched_before = (
        (keys[pos] == query) & (steps[pos] < t[:, None])
        if len(keys)
        else np.zeros(query.shape, bool)
    )
    hits = (
        (ep.top >= 0) & isin_sorted(query.reshape(-1), pool).reshape(query.shape) & ~watched_before
    )
    per_session = list_metrics(hits, pool_size[u] - prior, k)
    out = {}
    for name, values in per_session.items():
        ok = np.isfinite(values)
        total = np.bincount(u[ok], weights=values[ok], minlength=n_users)[:n_users]
        count = np.bincount(u[ok], minlength=n_users)[:n_users]
        had_session = np.bincount(u, minlength=n_users)[:n_users] > 0
        value = np.divide(total, count, out=np.full(n_users, np.nan), where=count > 0)
        value[(pool_size > 0) & ~had_session] = 0.0
        value[pool_size == 0] = np.nan
        out[name] = value
    return out


def pooled_metrics(
    episodes: Sequence[Episode], n_users: int, k: int = 10
) -> list[dict[str, np.ndarray]]:
    """Per-user in-the-loop Recall@k and NDCG@k of each episode, relevance pooled over all of them.

    Args:
        episodes: Episodes of the same users (same world), e.g. one per recommender.
        n_users: Number of users (indices ``0..n_users-1``).
        k: Cut-off (at most the episodes' ``top`` width).

    Returns:
        One ``{"recall@k": [n_users], "ndcg@k": [n_users]}`` per episode, in order.
    """
    items = [ep.watch_item for ep in episodes] + [ep.top.reshape(-1) for ep in episodes]
    span = int(max((int(a.max(initial=-1)) for a in items), default=-1)) + 1
    pool = unique_sorted(np.concatenate([ep.watch_user * span + ep.watch_item for ep in episodes]
                                        + [np.zeros(0, np.int64)]))  # fmt: skip
    return [_episode_metrics(ep, pool, max(span, 1), n_users, k) for ep in episodes]
