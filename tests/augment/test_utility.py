"""Ranking metrics by hand and the lift summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simrec.augment.utility import summarize
from simrec.metrics.ranking import ranking_metrics


def _relevant(rows: list[np.ndarray], n_items: int = 50):
    import scipy.sparse as sp

    data = [(u, i) for u, items in enumerate(rows) for i in items]
    return sp.csr_matrix((np.ones(len(data), bool), tuple(np.array(data).T)), shape=(len(rows), n_items))


def test_recall_and_ndcg_on_a_known_ranking() -> None:
    ranked = np.array([[5, 1, 7, 2, 9, 3, 4, 6, 8, 0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
    relevant = [np.array([1, 9, 42]), np.array([11])]
    m = ranking_metrics(ranked, _relevant(relevant), np.arange(2), k=10)
    assert m["recall@10"] == pytest.approx([2 / 3, 0.0])
    dcg = 1 / np.log2(3) + 1 / np.log2(6)  # hits at ranks 2 and 5
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert m["ndcg@10"] == pytest.approx([dcg / idcg, 0.0])


def test_ndcg_is_one_for_a_perfect_ranking() -> None:
    m = ranking_metrics(np.array([[3, 4, 0, 1, 2]]), _relevant([np.array([4, 3])]), np.arange(1), k=5)
    assert m["ndcg@5"][0] == pytest.approx(1.0) and m["recall@5"][0] == pytest.approx(1.0)


def test_summarize_pairs_seeds() -> None:
    lift = pd.DataFrame({"seed": [1, 2, 3], "group": "cold", "metric": "recall@10", "users": 10,
                         "real": [0.10, 0.20, 0.30], "augmented": [0.12, 0.23, 0.31]})  # fmt: skip
    lift["lift"] = lift["augmented"] - lift["real"]
    row = summarize(lift).iloc[0]
    diff = lift["lift"].to_numpy()
    assert row["lift"] == pytest.approx(diff.mean())
    half = 4.302652729911275 * diff.std(ddof=1) / np.sqrt(3)
    assert row["lift_ci95"] == pytest.approx(half)
    assert 0 < row["p_value"] < 1


def test_summarize_pairs_every_control() -> None:
    lift = pd.DataFrame({"seed": [1, 2, 3], "group": "cold", "metric": "recall@10", "users": 10,
                         "real": [0.10, 0.20, 0.30], "augmented": [0.12, 0.23, 0.31],
                         "control": [0.11, 0.20, 0.32], "control_top": [0.12, 0.22, 0.30],
                         "popular": [0.2, 0.2, 0.2]})  # fmt: skip
    row = summarize(lift).iloc[0]
    assert row["lift_control"] == pytest.approx(np.mean([0.01, 0.03, -0.01]))
    assert row["lift_top"] == pytest.approx(np.mean([0.0, 0.01, 0.01]))
    assert row["p_control"] == pytest.approx(stats.ttest_rel(lift["augmented"], lift["control"]).pvalue)
    assert row["popular"] == pytest.approx(0.2) and 0 < row["p_top"] < 1


def test_summarize_without_controls_reports_nan() -> None:
    lift = pd.DataFrame({"seed": [1, 2], "group": "all", "metric": "ndcg@10", "users": 5,
                         "real": [0.1, 0.2], "augmented": [0.2, 0.2]})  # fmt: skip
    row = summarize(lift).iloc[0]
    assert np.isnan(row["lift_control"]) and np.isnan(row["p_top"]) and np.isnan(row["control"])
    assert row["lift"] == pytest.approx(0.05)
