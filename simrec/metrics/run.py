"""Metrics of a finished run folder: one summary row, per-step curves, exposure counts.

:func:`run_metrics` reads only the event columns it needs, part by part, and keeps
just the impression rows plus a few running totals, so a run's full event table is
never in memory at once. Definitions (all over the whole run):

* ``click_rate`` = clicks / impressions; ``avg_rating`` = mean stars of rating events;
* ``satisfaction`` = mean over steps of ``metrics.parquet``'s ``mean_satisfaction``;
* ``pages_per_session`` = pages shown / sessions; ``exit_rate`` = voluntary exits
  (exit events with value 1) / sessions; a session is a distinct session id;
* ``return_rate``: among users with a session in some step before the last step of
  the run, the share with a session in a later step;
* ``precision`` / ``recall``: :func:`simrec.metrics.accuracy.heldout_precision_recall`
  of all impressions (recommended and social slots) against ``heldout.parquet``;
* ``intra_list_diversity`` over pages (impressions grouped by session and page, in
  position order) with the genre multi-hot of ``items.parquet`` as features (``nan``
  when the catalog has no genres); ``novelty``, ``coverage``, ``exposure_gini``,
  ``popularity_bias``, ``popularity_lift`` of all impressions, with the training
  popularity = interaction counts per item in ``train.parquet``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simrec.core.errors import DataError
from simrec.io.events import EVENT_CODE, EVENTS_DIRNAME, list_parts, require_every_event
from simrec.metrics import beyond
from simrec.metrics.accuracy import heldout_precision_recall

_IMPRESSION = EVENT_CODE["impression"]


def _event_codes(column: pa.ChunkedArray) -> np.ndarray:
    """:data:`EVENT_CODE` of each row of an ``event`` column, whatever each chunk's dictionary."""
    out = [np.zeros(0, np.int8)]
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        names = chunk.dictionary.to_pylist()
        lookup = np.array([EVENT_CODE.get(str(n), -1) for n in names] + [-1], dtype=np.int8)
        out.append(lookup[chunk.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)])
    return np.concatenate(out)


def _parts(run_dir: Path) -> list[Path]:
    require_every_event(run_dir, "Run metrics")
    folder = Path(run_dir) / EVENTS_DIRNAME
    parts = list_parts(folder) if folder.is_dir() else []
    if not parts:
        raise DataError(f"No event parts under {folder}; is {run_dir} a simrec run folder?")
    return parts


def _read_part(part: Path, columns: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    table = pq.read_table(part, columns=[*columns, "event"])
    return _event_codes(table.column("event")), {c: table.column(c).to_numpy() for c in columns}


def _impressions(run_dir: Path, columns: list[str]) -> dict[str, np.ndarray]:
    """The given columns of the impression rows only, parts concatenated in write order."""
    chunks: list[dict[str, np.ndarray]] = []
    for part in _parts(run_dir):
        codes, cols = _read_part(part, columns)
        keep = codes == _IMPRESSION
        chunks.append({c: v[keep] for c, v in cols.items()})
    return {c: np.concatenate([ch[c] for ch in chunks]) for c in columns}


def _distinct_sessions(*cols: np.ndarray) -> tuple[np.ndarray, ...]:
    """One ``(session, step, user)`` row per distinct session id (``cols`` in that order)."""
    session, step, user = cols
    order = np.argsort(session, kind="stable")
    s = session[order]
    first = np.concatenate([[True], s[1:] != s[:-1]]) if len(s) else np.zeros(0, bool)
    return s[first], step[order][first], user[order][first]


def _table(run_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    path = Path(run_dir) / name
    return pd.read_parquet(path, columns=columns) if path.is_file() else None


def genre_features(items: pd.DataFrame) -> np.ndarray | None:
    """``[n_items, n_genres]`` multi-hot of the ``|``-joined ``genres`` column, rows by ``item``; ``None`` without genres."""
    if "genres" not in items.columns or len(items) == 0:
        return None
    genres = items.sort_values("item")["genres"].fillna("").astype(str)
    hot = genres.str.get_dummies(sep="|")
    hot = hot.loc[:, [c for c in hot.columns if c.strip()]]
    return hot.to_numpy(np.float64) if hot.shape[1] else None


def page_matrix(
    session: np.ndarray, page: np.ndarray, position: np.ndarray, item: np.ndarray
) -> np.ndarray:
    """``[n_pages, k]`` items of each (session, page) in position order, ragged pages padded with -1.

    Pages are ordered by (session, page); ``k`` is the longest page.
    """
    if len(item) == 0:
        return np.zeros((0, 0), np.int64)
    order = np.lexsort((position, page, session))
    s, p = session[order], page[order]
    start = np.concatenate([[True], (s[1:] != s[:-1]) | (p[1:] != p[:-1])])
    page_id = np.cumsum(start) - 1
    starts = np.flatnonzero(start)
    rank = np.arange(len(order)) - starts[page_id]
    out = np.full((len(starts), int(rank.max()) + 1), -1, np.int64)
    out[page_id, rank] = item[order]
    return out


def _size(frame: pd.DataFrame | None, *indices: np.ndarray) -> int:
    """Rows of a per-entity table (``None``: 0), grown to cover every index seen."""
    n = len(frame) if frame is not None else 0
    return max([n] + [int(np.max(i, initial=-1)) + 1 for i in indices])


def run_metrics(run_dir: Path) -> dict[str, float]:
    """One row of accuracy and beyond-accuracy metrics for a finished run (see the module docstring).

    Args:
        run_dir: The run folder (``runs/<name>/``).

    Returns:
        ``sessions``, ``impressions``, ``clicks`` counts and the float metrics
        ``click_rate``, ``avg_rating``, ``satisfaction``, ``pages_per_session``,
        ``exit_rate``, ``return_rate``, ``precision``, ``recall``,
        ``intra_list_diversity``, ``novelty``, ``coverage``, ``exposure_gini``,
        ``popularity_bias``, ``popularity_lift`` (``nan`` where undefined).
    """
    run_dir = Path(run_dir)
    imp: list[dict[str, np.ndarray]] = []
    sess: list[tuple[np.ndarray, ...]] = []
    clicks = ratings = exits = 0
    rating_sum = 0.0
    cols = ["step", "session", "page", "position", "user", "item", "value"]
    for part in _parts(run_dir):
        codes, c = _read_part(part, cols)
        keep = codes == _IMPRESSION
        imp.append({k: c[k][keep] for k in ("step", "session", "page", "position", "user", "item")})
        sess.append(_distinct_sessions(c["session"], c["step"], c["user"]))
        clicks += int(np.count_nonzero(codes == EVENT_CODE["click"]))
        rated = c["value"][codes == EVENT_CODE["rating"]].astype(np.float64)
        rated = rated[~np.isnan(rated)]
        ratings, rating_sum = ratings + len(rated), rating_sum + float(rated.sum())
        exits += int(np.count_nonzero((codes == EVENT_CODE["exit"]) & (c["value"] == 1)))
        del codes, c
    ev = {k: np.concatenate([ch[k] for ch in imp]) for k in imp[0]}
    del imp
    s_id, s_step, s_user = _distinct_sessions(*(np.concatenate(c) for c in zip(*sess, strict=True)))
    items = _table(run_dir, "items.parquet", ["item", "genres"])
    if items is None:
        raise DataError(f"{run_dir} has no items.parquet; is it a finished simrec run folder?")
    heldout = _table(run_dir, "heldout.parquet", ["user", "item"])
    if heldout is None:
        heldout = pd.DataFrame({"user": np.zeros(0, np.int64), "item": np.zeros(0, np.int64)})
    held_user, held_item = heldout["user"].to_numpy(), heldout["item"].to_numpy()
    n_items = _size(items, ev["item"])
    n_users = _size(_table(run_dir, "users.parquet", ["user"]), ev["user"], s_user, held_user)
    n_sessions, n_imp = len(s_id), len(ev["item"])
    pages = page_matrix(ev["session"], ev["page"], ev["position"], ev["item"])

    metrics = _table(run_dir, "metrics.parquet")
    if metrics is None:
        metrics = pd.DataFrame({"step": s_step[:0]})
    satisfaction = float(metrics.get("mean_satisfaction", pd.Series(dtype=float)).mean())
    last_step = int(max(s_step.max(initial=0), metrics["step"].max() if len(metrics) else 0))

    train = _table(run_dir, "train.parquet", ["item"])
    train_item = train["item"].to_numpy() if train is not None else np.zeros(0, np.int64)
    popularity = np.bincount(train_item, minlength=n_items)[:n_items].astype(np.float64)
    features = genre_features(items)
    precision, recall = heldout_precision_recall(
        ev["user"], ev["item"], held_user, held_item, n_users
    )

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b else float("nan")

    return {
        "sessions": n_sessions,
        "impressions": n_imp,
        "clicks": clicks,
        "click_rate": ratio(clicks, n_imp),
        "avg_rating": ratio(rating_sum, ratings),
        "satisfaction": satisfaction,
        "pages_per_session": ratio(len(pages), n_sessions),
        "exit_rate": ratio(exits, n_sessions),
        "return_rate": return_rate(s_user, s_step, last_step, n_users),
        "precision": precision,
        "recall": recall,
        "intra_list_diversity": (
            beyond.intra_list_diversity(pages, features) if features is not None else float("nan")
        ),
        "novelty": beyond.novelty(ev["item"], popularity),
        "coverage": beyond.coverage(ev["item"], n_items),
        "exposure_gini": beyond.exposure_gini(ev["item"], n_items),
        "popularity_bias": beyond.popularity_bias(ev["item"], popularity),
        "popularity_lift": beyond.popularity_lift(ev["item"], popularity),
    }


def return_rate(
    session_user: np.ndarray, session_step: np.ndarray, last_step: int, n_users: int
) -> float:
    """Among users with a session before ``last_step``, the share with a session in a later step.

    Args:
        session_user: User of each session.
        session_step: Step of each session, parallel to ``session_user``.
        last_step: The run's last step (a session there cannot be followed by another).
        n_users: Number of users.

    Returns:
        ``#{u: first_step_u < last_step_u} / #{u: first_step_u < last_step}``; ``nan``
        when no user had a session before the last step.
    """
    user = np.asarray(session_user, dtype=np.int64)
    step = np.asarray(session_step, dtype=np.int64)
    first = np.full(n_users, np.iinfo(np.int64).max)
    latest = np.full(n_users, np.iinfo(np.int64).min)
    np.minimum.at(first, user, step)
    np.maximum.at(latest, user, step)
    eligible = first < last_step
    n = int(np.count_nonzero(eligible))
    return float(np.count_nonzero(latest[eligible] > first[eligible]) / n) if n else float("nan")


def exposure_counts(run_dir: Path) -> np.ndarray:
    """Impressions per item over the whole run, ``[n_items]`` int64 (zeros included)."""
    item = _impressions(run_dir, ["item"])["item"]
    return beyond.exposure(item, _size(_table(run_dir, "items.parquet", ["item"]), item))


def metrics_over_time(run_dir: Path) -> pd.DataFrame:
    """Per-step curves: ``step``, ``click_rate``, ``avg_rating``, ``satisfaction``,
    ``pages_per_session``, ``exit_rate``, ``coverage_so_far``.

    All but the last come from ``metrics.parquet``; ``coverage_so_far`` is the share
    of the catalog shown at least once up to and including the step.
    """
    run_dir = Path(run_dir)
    m = _table(run_dir, "metrics.parquet")
    if m is None:
        raise DataError(f"{run_dir} has no metrics.parquet; is it a simrec run folder?")
    m = m.sort_values("step").reset_index(drop=True)
    sessions = m["sessions"].astype(np.float64).replace(0, np.nan)
    impressions = m["impressions"].astype(np.float64).replace(0, np.nan)
    out = pd.DataFrame(
        {
            "step": m["step"].to_numpy(),
            "click_rate": m["clicks"] / impressions,
            "avg_rating": m.get("mean_rating", np.nan),
            "satisfaction": m.get("mean_satisfaction", np.nan),
            "pages_per_session": m["pages"] / sessions,
            "exit_rate": m["voluntary_exits"] / sessions,
        }
    )
    ev = _impressions(run_dir, ["step", "item"])
    n_items = _size(_table(run_dir, "items.parquet", ["item"]), ev["item"])
    first = np.full(n_items, np.iinfo(np.int64).max)
    np.minimum.at(first, ev["item"].astype(np.int64), ev["step"].astype(np.int64))
    first_steps = np.sort(first[first < np.iinfo(np.int64).max])
    seen = np.searchsorted(first_steps, out["step"].to_numpy(), side="right")
    out["coverage_so_far"] = seen / n_items if n_items else np.nan
    return out
