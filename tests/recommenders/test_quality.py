"""Held-out accuracy on MovieLens 100K: the learning recommenders clearly beat random.

Every recommender runs with its default parameters, the torch models included
(they take the longest here: several seconds each on two CPU cores).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.data.types import Interactions
from simrec.recommenders.base import build_recommender
from simrec.world.catalog import Catalog

N_USERS, N_ITEMS, K = 943, 1682, 10


def per_user_split(user: np.ndarray, test_share: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean test mask holding out ``floor(test_share · n_u)`` random interactions per user."""
    order = np.lexsort((rng.random(len(user)), user))
    sorted_user = user[order]
    first = np.searchsorted(sorted_user, sorted_user, side="left")
    count = np.bincount(sorted_user)[sorted_user]
    position = np.arange(len(user)) - first
    test = np.zeros(len(user), dtype=bool)
    test[order[position < np.floor(test_share * count)]] = True
    return test


def recall_at_k(
    pages: np.ndarray, test_user: np.ndarray, test_item: np.ndarray, n_items: int
) -> float:
    """Mean over users with held-out items of |page ∩ held-out| / |held-out|."""
    relevant = np.zeros((len(pages), n_items), dtype=bool)
    relevant[test_user, test_item] = True
    hits = np.take_along_axis(relevant, pages, axis=1).sum(axis=1)
    total = relevant.sum(axis=1)
    has = total > 0
    return float(np.mean(hits[has] / total[has]))


@pytest.fixture(scope="module")
def recalls(ml100k_dir: Path) -> dict[str, float]:
    df = pd.read_csv(ml100k_dir / "u.data", sep="\t", header=None, names=["u", "i", "r", "t"])
    user, item = df["u"].to_numpy() - 1, df["i"].to_numpy() - 1
    test = per_user_split(user, 0.2, np.random.default_rng(42))
    # Timestamps order each user's sequence for sasrec; the other models ignore them.
    train = Interactions.from_arrays(user[~test], item[~test], timestamp=df["t"].to_numpy()[~test])
    catalog = Catalog(
        item_ids=np.arange(N_ITEMS),
        titles=np.array([""] * N_ITEMS),
        text=np.array([""] * N_ITEMS),
        genres=np.zeros((N_ITEMS, 0), dtype=bool),
        genre_names=[],
        popularity=np.bincount(train.item, minlength=N_ITEMS).astype(np.float32),
        attributes=pd.DataFrame(index=range(N_ITEMS)),
    )
    out = {}
    for name in ("random", "most_popular", "item_knn", "mf", "ease", "lightgcn", "sasrec"):
        rec = build_recommender(name, {}, np.random.default_rng(7))
        rec.fit(train, catalog, n_users=N_USERS)
        pages = rec.recommend(np.arange(N_USERS), K)
        out[name] = recall_at_k(pages, user[test], item[test], N_ITEMS)
    return out


def _table(recalls: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in recalls.items())


@pytest.mark.parametrize("name", ["most_popular", "item_knn", "mf", "ease", "lightgcn", "sasrec"])
def test_recall_clearly_above_random(recalls: dict[str, float], name: str) -> None:
    assert recalls[name] > max(5 * recalls["random"], 0.05), f"Recall@{K}: {_table(recalls)}"


@pytest.mark.parametrize("name", ["item_knn", "mf", "ease", "lightgcn"])
def test_personalised_beats_popularity(recalls: dict[str, float], name: str) -> None:
    assert recalls[name] > 1.3 * recalls["most_popular"], f"Recall@{K}: {_table(recalls)}"


def test_sasrec_is_at_least_on_par_with_popularity(recalls: dict[str, float]) -> None:
    # A sequential model is at a disadvantage here: the split holds out random
    # interactions from anywhere in each user's history, while SASRec predicts
    # the *next* items after the latest ones. It still beats popularity, but by
    # a small margin (about 1.15x), so no 1.3x claim is made for it.
    assert recalls["sasrec"] > recalls["most_popular"], f"Recall@{K}: {_table(recalls)}"


def test_random_is_near_chance(recalls: dict[str, float]) -> None:
    # ~K / (unseen items per user) ≈ 10 / 1600
    assert recalls["random"] < 0.02, f"Recall@{K}: {_table(recalls)}"
