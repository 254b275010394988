"""Rating and behaviour fidelity: errors, star distributions, popularity, session length.

Jensen–Shannon: :func:`js_divergence` is the divergence in bits,
``scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2`` (scipy returns the
*distance*, its square root). Agent4Rec's published simulated distribution
(1–5 stars = 0/0/8/75/17 %) against ML-100K's real one gives a divergence of
0.185 (the "about 0.19" of the issue) and a distance of 0.430, so the figure
is the divergence.

Rating scales: star shares are taken over the levels of the data set's rating
scale (:class:`~simrec.data.scale.RatingScale`; 1..5 for whole stars, 0.5..5 for
half stars) and nothing is rounded: a value that is not a level is an error, so
real half stars are never folded into whole ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import pearsonr, spearmanr

from simrec.data.scale import WHOLE_STARS, RatingScale

if TYPE_CHECKING:
    from simrec.agents.policies.base import Decisions
    from simrec.agents.policies.choice import ChoicePolicy
    from simrec.fidelity.protocol import ProtocolLists
    from simrec.world.build import World

#: Agent4Rec's published share of 1..5 stars given by its gpt-3.5 agents.
AGENT4REC_STARS = np.array([0.0, 0.0, 0.08, 0.75, 0.17])


def star_distribution(stars: np.ndarray, scale: RatingScale = WHOLE_STARS) -> np.ndarray:
    """Share of each level of ``scale`` among ``stars`` (``[n_levels]``; 1..5 for whole stars).

    Unrated values (0, negative or NaN) are ignored; nothing is rounded.

    Raises:
        ValueError: if a rated value is not a level of ``scale`` (e.g. 3.5 on whole stars).
    """
    s = np.asarray(stars, float)
    s = s[np.isfinite(s) & (s > 0)]
    idx = scale.index(s)
    if (idx < 0).any():
        off = np.unique(s[idx < 0])[:5]
        raise ValueError(
            f"{int((idx < 0).sum())} of {len(s)} stars are not levels of the rating scale {scale.label} "
            f"(e.g. {', '.join(f'{v:g}' for v in off)}); pass the data set's scale (Dataset.scale)"
        )
    counts = np.bincount(idx, minlength=scale.n_levels).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in bits (0..1) between two distributions."""
    return float(jensenshannon(p, q, base=2) ** 2)


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance (square root of :func:`js_divergence`), base 2."""
    return float(jensenshannon(p, q, base=2))


def rating_errors(predicted: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of ``predicted`` stars against ``real`` (pairs where either is missing/0 are dropped).

    Both are level values of the data set's scale (half stars stay half stars).
    """
    predicted, real = np.asarray(predicted, float), np.asarray(real, float)
    ok = np.isfinite(real) & np.isfinite(predicted) & (predicted > 0) & (real > 0)
    if not ok.any():
        return {"rmse": float("nan"), "mae": float("nan"), "n_rated": 0}
    d = predicted[ok] - real[ok]
    return {"rmse": float(np.sqrt(np.mean(d**2))), "mae": float(np.mean(np.abs(d))), "n_rated": int(ok.sum())}


def choice_heldout_stars(
    policy: ChoicePolicy, world: World, users: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The choice model's stars for every rated held-out interaction, with the real stars.

    Every item counts as watched; ``rate_probability`` may leave some unrated (0).

    Args:
        policy: The choice policy.
        world: The world.
        users: Only these users' held-out interactions (``None``: everyone's).
    """
    from simrec.core.arrays import isin

    h = world.heldout
    rated = np.isfinite(h.rating)
    if users is not None:
        rated &= isin(h.user, np.asarray(users))
    users, items = h.user[rated].astype(np.int64), h.item[rated].astype(np.int64)
    stars = policy.rate(users, items[:, None], np.ones((len(users), 1), bool))[:, 0]
    return stars, h.rating[rated]


def protocol_heldout_stars(
    world: World, lists: ProtocolLists, decisions: Decisions, user_mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stars the agent gave, during the protocol, to held-out positives it watched, with the real stars.

    Args:
        world: The world.
        lists: The protocol lists.
        decisions: The agents' decisions on them.
        user_mask: ``[n_users]`` bool; only these users' stars (``None``: everyone's).
    """
    h = world.heldout
    n_items = world.dataset.n_items
    keys = h.user.astype(np.int64) * n_items + h.item
    order = np.argsort(keys, kind="stable")
    skeys, srating = keys[order], h.rating[order]
    rated = lists.labels & (decisions.ratings > 0)
    if user_mask is not None:
        rated &= np.asarray(user_mask, bool)[lists.users][:, None]
    rows, cols = np.nonzero(rated)
    q = lists.users[rows] * n_items + lists.items[rows, cols]
    pos = np.minimum(np.searchsorted(skeys, q), max(len(skeys) - 1, 0))
    real = np.where(skeys[pos] == q, srating[pos], np.nan) if len(skeys) else np.full(len(q), np.nan)
    return decisions.ratings[rows, cols].astype(float), real


def popularity_correlation(sim_counts: np.ndarray, real_counts: np.ndarray) -> dict[str, float]:
    """Spearman and Pearson correlation of simulated and real per-item counts."""
    a, b = np.asarray(sim_counts, float), np.asarray(real_counts, float)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return {"spearman": float("nan"), "pearson": float("nan")}
    return {"spearman": float(spearmanr(a, b).statistic), "pearson": float(pearsonr(a, b).statistic)}


def pages_before_leaving(events: pd.DataFrame) -> pd.Series:
    """How many sessions viewed 1, 2, ... pages (pages = highest ``page`` + 1 per session)."""
    if len(events) == 0:
        return pd.Series(dtype="int64", name="sessions")
    pages = events.groupby("session")["page"].max().astype(np.int64) + 1
    return pages.value_counts().sort_index().rename("sessions").rename_axis("pages")


def simulated_behaviour(run_dir: Path, world: World) -> dict[str, object]:
    """Item-popularity correlation (clicks vs real held-out counts) and pages per session of a run."""
    events = pd.read_parquet(Path(run_dir) / "events.parquet", columns=["session", "page", "item", "event"])
    clicks = events.loc[events["event"].astype(str) == "click", "item"].to_numpy(np.int64)
    n_items = world.dataset.n_items
    sim = np.bincount(clicks[clicks >= 0], minlength=n_items)
    real = np.bincount(world.heldout.item, minlength=n_items)
    hist = pages_before_leaving(events[["session", "page"]])
    mean_pages = float((hist.index.to_numpy() * hist.to_numpy()).sum() / max(hist.sum(), 1))
    return {**popularity_correlation(sim, real), "pages_hist": hist, "mean_pages": mean_pages}
