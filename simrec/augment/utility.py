"""Utility of synthetic data: a recommender trained on real vs real + synthetic.

Five rankings per seed, all scored with Recall@k and NDCG@k on the real
held-out interactions (training items excluded), overall and for cold users:

* ``real``: the recommender trained on the real training data only;
* ``augmented``: trained on real + the simulator's synthetic rows;
* ``control``: trained on real + a *popularity control* (:func:`popularity_control`,
  ``"sampled"``): per user as many rows as the synthetic set has, items drawn
  from the user's unseen items with probability proportional to training
  popularity — no simulator involved;
* ``control_top``: the same with the user's *most popular* unseen items
  (``"top"``): what a most-popular page shows, minus the agents' choice — the
  stricter control when the agents were simulated under a most-popular recommender;
* ``popular``: a plain most-popular ranking fitted on the real data (reference).

Across seeds, the paired differences give the lift over real-only (``lift``)
and over each control (``lift_control``, ``lift_top``: does the simulator add
anything beyond popularity?), each with its 95% t-interval and a paired t-test
p-value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from simrec.augment.generate import Augmented
from simrec.core.intervals import ci95
from simrec.core.rng import child_rng
from simrec.core.topk import topk_rows
from simrec.data.types import Interactions
from simrec.metrics.ranking import ranking_metrics
from simrec.recommenders.base import build_recommender, mask_seen

#: Metrics :func:`evaluate` reports, in order.
METRICS: tuple[str, ...] = ("recall@10", "ndcg@10")

#: Rankings :func:`compare` scores per seed (columns of its table), in order.
ARMS: tuple[str, ...] = ("real", "augmented", "control", "control_top", "popular")

#: Paired differences :func:`compare` reports: name -> (arm, baseline arm, p-value column of :func:`summarize`).
LIFTS: dict[str, tuple[str, str, str]] = {
    "lift": ("augmented", "real", "p_value"),
    "lift_control": ("augmented", "control", "p_control"),
    "lift_top": ("augmented", "control_top", "p_top"),
}

#: Kinds of popularity control :func:`popularity_control` draws.
CONTROLS: tuple[str, ...] = ("sampled", "top")

# Gumbel key of items never seen in training: drawn only after every popular unseen item.
_ZERO_POPULARITY_KEY = -1e6


def _relevant(heldout: Interactions, n_users: int, n_items: int) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (np.ones(len(heldout), bool), (heldout.user, heldout.item)), shape=(n_users, n_items)
    )
    m.sum_duplicates()
    return m


def evaluate(
    train: Interactions, fit_on: Interactions, heldout: Interactions, aug: Augmented,
    rec: str, params: dict, rng: np.random.Generator, k: int = 10,
) -> pd.DataFrame:  # fmt: skip
    """Fit ``rec`` on ``fit_on``, rank all items but ``train``'s, score on ``heldout``.

    Returns:
        One row per evaluated user: ``user``, ``cold`` and the metrics.
    """
    model = build_recommender(rec, params, rng)
    model.fit(fit_on, aug.catalog, n_users=aug.n_users)
    relevant = _relevant(heldout, aug.n_users, aug.n_items)
    users = np.flatnonzero(np.diff(relevant.indptr))
    seen = sp.csr_matrix(
        (np.ones(len(train), bool), (train.user, train.item)), shape=relevant.shape
    )
    ranked = np.empty((len(users), k), np.int64)
    for start in range(0, len(users), 1024):
        chunk = users[start : start + 1024]
        scores = np.array(model.score(chunk), dtype=np.float32, copy=True)
        mask_seen(scores, seen, chunk)
        ranked[start : start + len(chunk)] = topk_rows(scores, k)
    out = pd.DataFrame({"user": users, "cold": np.isin(users, aug.cold)})
    for name, values in ranking_metrics(ranked, relevant, users, k).items():
        out[name] = values
    return out


def popularity_control(
    aug: Augmented, rng: np.random.Generator, kind: str = "sampled", chunk: int = 1024
) -> Interactions:
    """The popularity control of ``aug.synthetic``: same users and row counts, popular unseen items.

    For each user with synthetic rows, as many distinct items as that user has
    synthetic rows are taken from the items the user has not seen in training:

    * ``kind="sampled"`` (default): drawn without replacement, each draw with
      probability proportional to the item's training popularity (Gumbel top-k
      on log popularity);
    * ``kind="top"``: the user's most popular unseen items (ties to the lower
      index) — what a most-popular page shows, minus any choice.

    Items nobody watched in training come only after all the others; a user
    with more rows than unseen items cycles through them. Ratings and
    timestamps are the synthetic rows' own, so only the items differ.

    Args:
        aug: The real and synthetic interactions.
        rng: Seeded generator of the draws (unused for ``"top"``).
        kind: ``"sampled"`` or ``"top"``.
        chunk: Users drawn per dense ``[chunk, n_items]`` block.

    Returns:
        The control rows, sorted by user (stable in the synthetic order).
    """
    if kind not in CONTROLS:
        raise ValueError(f"control kind must be one of {CONTROLS}, got {kind!r}")
    syn = aug.synthetic
    if not len(syn):
        return Interactions.empty()
    rows = syn.take(np.argsort(syn.user, kind="stable"))
    users, starts, counts = np.unique(rows.user, return_index=True, return_counts=True)
    pop = np.bincount(aug.train.item, minlength=aug.n_items).astype(np.float64)
    base = np.where(pop > 0, np.log(np.maximum(pop, 1.0)), _ZERO_POPULARITY_KEY)
    seen = aug.train.matrix(aug.n_users, aug.n_items).astype(bool).tocsr()
    items = np.empty(len(rows), np.int32)
    for lo in range(0, len(users), chunk):
        block = users[lo : lo + chunk]
        keys = np.repeat(base[None, :], len(block), axis=0)
        if kind == "sampled":
            keys += rng.gumbel(size=keys.shape)
        mask_seen(keys, seen, block)
        ranked = topk_rows(keys, min(int(counts[lo : lo + chunk].max()), aug.n_items))
        unseen = aug.n_items - np.diff(seen.indptr)[block]
        for row, (start, n) in enumerate(zip(starts[lo : lo + chunk], counts[lo : lo + chunk], strict=True)):
            items[start : start + n] = np.resize(ranked[row, : min(n, unseen[row])], n)
    return Interactions(rows.user, items, rows.rating, rows.timestamp)


def compare(
    aug: Augmented, rec: str = "mf", params: dict | None = None, seed: int = 0
) -> pd.DataFrame:
    """Every arm of :data:`ARMS` for one seed.

    ``rec`` gets the same parameters and generator seed in every arm; the
    sampled control is drawn with ``child_rng(seed, "augment", "control")``.

    Returns:
        One row per group (``all``, ``cold``) × metric: ``users``, the :data:`ARMS`
        and the :data:`LIFTS` (``lift`` = augmented − real, ``lift_control`` =
        augmented − control, ``lift_top`` = augmented − control_top).
    """
    params = dict(params or {})
    sampled = popularity_control(aug, child_rng(seed, "augment", "control"), "sampled")
    top = popularity_control(aug, child_rng(seed, "augment", "control"), "top")
    fits = {"real": (rec, aug.train), "augmented": (rec, Interactions.concat([aug.train, aug.synthetic])),
            "control": (rec, Interactions.concat([aug.train, sampled])),
            "control_top": (rec, Interactions.concat([aug.train, top])), "popular": ("most_popular", aug.train)}  # fmt: skip
    scored = {}
    for arm, (name, fit_on) in fits.items():
        rng = child_rng(seed, "augment", "rec")
        scored[arm] = evaluate(aug.train, fit_on, aug.heldout, aug, name, params if name == rec else {}, rng)
    cold = scored["real"]["cold"].to_numpy()
    rows = []
    for group, mask in (("all", np.ones(len(cold), bool)), ("cold", cold)):
        for metric in METRICS:
            row = {"group": group, "metric": metric, "users": int(mask.sum())}
            row |= {arm: float(scored[arm].loc[mask, metric].mean()) for arm in ARMS}
            row |= {name: row[arm] - row[base] for name, (arm, base, _) in LIFTS.items()}
            rows.append(row)
    return pd.DataFrame(rows)


def _paired(after: pd.Series, before: pd.Series) -> tuple[float, float, float]:
    """Mean of ``after − before``, its 95% CI half-width and the paired t-test p-value."""
    diff = after.to_numpy(np.float64) - before.to_numpy(np.float64)
    if len(diff) >= 2 and np.std(diff) > 0:
        p = float(stats.ttest_rel(after, before).pvalue)
    else:
        p = float("nan")
    return float(diff.mean()), ci95(diff), p


def summarize(lift: pd.DataFrame) -> pd.DataFrame:
    """Mean arms and lifts over seeds per group × metric, with 95% CI half-widths and paired t-test p-values.

    For each of :data:`LIFTS`: the mean difference (``lift``, ``lift_control``,
    ``lift_top``), its ``<name>_ci95`` and its p-value (``p_value``,
    ``p_control``, ``p_top``); NaN where ``lift`` lacks the baseline arm's column.

    Args:
        lift: Rows of :func:`compare` with a ``seed`` column.
    """
    rows = []
    for (group, metric), g in lift.groupby(["group", "metric"], sort=False):
        row = {"group": group, "metric": metric, "seeds": len(g), "users": float(g["users"].mean())}
        row |= {arm: float(g[arm].mean()) if arm in g else float("nan") for arm in ARMS}
        for name, (arm, base, p_name) in LIFTS.items():
            paired = _paired(g[arm], g[base]) if base in g else (float("nan"),) * 3
            row |= dict(zip((name, f"{name}_ci95", p_name), paired, strict=True))
        rows.append(row)
    return pd.DataFrame(rows)
