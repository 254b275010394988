"""Utility of synthetic data: a recommender trained on real vs real + synthetic.

Both models rank all items except the user's real training items and are scored
with Recall@k and NDCG@k on the real held-out interactions, overall and for cold
users. Across seeds, the paired differences give the lift, its 95% t-interval
and a paired t-test p-value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from simrec.augment.generate import Augmented
from simrec.bench.leaderboard import ci95
from simrec.core.rng import child_rng
from simrec.core.topk import topk_rows
from simrec.data.types import Interactions
from simrec.recommenders.base import build_recommender, mask_seen

#: Metrics :func:`evaluate` reports, in order.
METRICS: tuple[str, ...] = ("recall@10", "ndcg@10")


def _relevant(heldout: Interactions, n_users: int, n_items: int) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (np.ones(len(heldout), bool), (heldout.user, heldout.item)), shape=(n_users, n_items)
    )
    m.sum_duplicates()
    return m


def ranking_metrics(
    ranked: np.ndarray, relevant: list[np.ndarray], k: int = 10
) -> dict[str, np.ndarray]:
    """Per-user Recall@k and NDCG@k (binary relevance) of ranked lists.

    Args:
        ranked: ``[n_users, >=k]`` item indices, best first.
        relevant: Per user, the relevant (held-out) items (non-empty).
        k: Cut-off.

    Returns:
        ``{"recall@k": ..., "ndcg@k": ...}``, one value per user.
    """
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    recall, ndcg = np.zeros(len(ranked)), np.zeros(len(ranked))
    for row, (top, rel) in enumerate(zip(ranked[:, :k], relevant, strict=True)):
        hits = np.isin(top, rel)
        recall[row] = hits.sum() / len(rel)
        ideal = discount[: min(len(rel), k)].sum()
        ndcg[row] = (discount[: len(top)] * hits).sum() / ideal
    return {f"recall@{k}": recall, f"ndcg@{k}": ndcg}


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
    rel = [relevant.indices[relevant.indptr[u] : relevant.indptr[u + 1]] for u in users]
    out = pd.DataFrame({"user": users, "cold": np.isin(users, aug.cold)})
    for name, values in ranking_metrics(ranked, rel, k).items():
        out[name] = values
    return out


def compare(
    aug: Augmented, rec: str = "mf", params: dict | None = None, seed: int = 0
) -> pd.DataFrame:
    """Real-only vs real + synthetic for one seed.

    Returns:
        One row per group (``all``, ``cold``) × metric: ``real``, ``augmented``, ``lift``, ``users``.
    """
    params = dict(params or {})
    both = Interactions.concat([aug.train, aug.synthetic])
    real = evaluate(
        aug.train, aug.train, aug.heldout, aug, rec, params, child_rng(seed, "augment", "rec")
    )
    augm = evaluate(
        aug.train, both, aug.heldout, aug, rec, params, child_rng(seed, "augment", "rec")
    )
    rows = []
    for group, mask in (("all", np.ones(len(real), bool)), ("cold", real["cold"].to_numpy())):
        for metric in METRICS:
            r, a = float(real.loc[mask, metric].mean()), float(augm.loc[mask, metric].mean())
            rows.append({"group": group, "metric": metric, "users": int(mask.sum()),
                         "real": r, "augmented": a, "lift": a - r})  # fmt: skip
    return pd.DataFrame(rows)


def summarize(lift: pd.DataFrame) -> pd.DataFrame:
    """Mean lift over seeds per group × metric, its 95% CI half-width and a paired t-test p-value.

    Args:
        lift: Rows of :func:`compare` with a ``seed`` column.
    """
    rows = []
    for (group, metric), g in lift.groupby(["group", "metric"], sort=False):
        diff = g["lift"].to_numpy(np.float64)
        if len(diff) >= 2 and np.std(diff) > 0:
            p = float(stats.ttest_rel(g["augmented"], g["real"]).pvalue)
        else:
            p = float("nan")
        rows.append({"group": group, "metric": metric, "seeds": len(g), "users": float(g["users"].mean()),
                     "real": float(g["real"].mean()), "augmented": float(g["augmented"].mean()),
                     "lift": float(diff.mean()), "lift_ci95": ci95(diff), "p_value": p})  # fmt: skip
    return pd.DataFrame(rows)
