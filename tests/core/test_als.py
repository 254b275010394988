"""Batched ALS: the solver, implicit and explicit fits, determinism, quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from simrec.core import als
from simrec.core.als import ExplicitModel, explicit_als, implicit_als
from simrec.core.errors import ConfigError


def _load_ratings(folder: Path) -> pd.DataFrame:
    """MovieLens 100K ``u.data`` as 0-based ``user``, ``item``, ``rating``."""
    df = pd.read_csv(
        folder / "u.data", sep="\t", header=None, names=["user", "item", "rating", "ts"]
    )
    return df.assign(user=df["user"] - 1, item=df["item"] - 1)


def _random_matrix(rng: np.random.Generator, n_users: int, n_items: int, nnz: int) -> sp.csr_matrix:
    u = rng.integers(0, n_users, nnz)
    i = rng.integers(0, n_items, nnz)
    m = sp.csr_matrix(
        (rng.integers(1, 4, nnz).astype(np.float32), (u, i)), shape=(n_users, n_items)
    )
    m.sum_duplicates()
    return m


# -- the batched solver ------------------------------------------------------
@pytest.mark.parametrize("small_blocks", [False, True])
def test_ridge_rows_matches_per_row_solves(
    monkeypatch: pytest.MonkeyPatch, small_blocks: bool
) -> None:
    if small_blocks:  # force several row groups, row blocks and input blocks
        monkeypatch.setattr(als, "_ROW_BLOCK", 7)
        monkeypatch.setattr(als, "_OUTER_BUDGET", 5 * 15)
    rng = np.random.default_rng(0)
    n_out, n_in, d = 40, 30, 5
    keep = np.ones(n_out, np.float32)
    keep[3] = 0.0  # a row with no entries
    weights = sp.csr_matrix(sp.diags(keep) @ _random_matrix(rng, n_out, n_in, 150))
    weights.eliminate_zeros()
    targets = weights.copy()
    targets.data = rng.standard_normal(targets.nnz).astype(np.float32)
    x = rng.standard_normal((n_in, d))
    base = x.T @ x
    ridge = rng.random(n_out) + 0.1
    got = als._ridge_rows(weights, targets, x, base, ridge)
    w, t = weights.toarray(), targets.toarray()
    for u in range(n_out):
        if not t[u].any():
            np.testing.assert_array_equal(got[u], 0.0)
            continue
        a = base + ridge[u] * np.eye(d) + (x.T * w[u]) @ x
        np.testing.assert_allclose(got[u], np.linalg.solve(a, x.T @ t[u]), rtol=1e-4, atol=1e-5)


# -- implicit ----------------------------------------------------------------
def test_implicit_shapes_dtypes_and_empty_rows() -> None:
    rng = np.random.default_rng(1)
    m = _random_matrix(rng, 50, 40, 300).tolil()
    m[7, :] = 0  # user without interactions
    m[:, 11] = 0  # item without interactions
    users, items = implicit_als(m.tocsr(), factors=6, iterations=3, rng=np.random.default_rng(0))
    assert users.shape == (50, 6) and items.shape == (40, 6)
    assert users.dtype == np.float32 and items.dtype == np.float32
    assert np.isfinite(users).all() and np.isfinite(items).all()
    np.testing.assert_array_equal(users[7], 0.0)
    np.testing.assert_array_equal(items[11], 0.0)


def test_implicit_is_deterministic_given_the_seed() -> None:
    m = _random_matrix(np.random.default_rng(2), 60, 30, 400)
    a = implicit_als(m, factors=8, iterations=4, rng=np.random.default_rng(5))
    b = implicit_als(m, factors=8, iterations=4, rng=np.random.default_rng(5))
    c = implicit_als(m, factors=8, iterations=4, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_implicit_recovers_planted_low_rank_structure() -> None:
    rng = np.random.default_rng(3)
    n_users, n_items, rank, per_user, held = 400, 300, 4, 30, 5
    true_u = rng.standard_normal((n_users, rank))
    true_v = rng.standard_normal((n_items, rank))
    # Each user picks items by a Gumbel-top-k draw on their true affinities.
    utility = 2.0 * true_u @ true_v.T + rng.gumbel(size=(n_users, n_items))
    picks = np.argsort(-utility, axis=1)[:, :per_user]
    train_items, test_items = picks[:, held:], picks[:, :held]
    rows = np.repeat(np.arange(n_users), per_user - held)
    train = sp.csr_matrix(
        (np.ones(rows.size, np.float32), (rows, train_items.ravel())), shape=(n_users, n_items)
    )
    users, items = implicit_als(train, factors=8, iterations=8, rng=np.random.default_rng(0))
    scores = users @ items.T
    scores[train.nonzero()] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :10]
    recall = np.mean([np.isin(test_items[u], top[u]).mean() for u in range(n_users)])
    chance = 10 / (n_items - (per_user - held))
    assert recall > 4 * chance, f"implicit ALS recall@10 {recall:.3f} vs chance {chance:.3f}"


# -- explicit ----------------------------------------------------------------
def test_explicit_rmse_on_movielens_100k(ml100k_dir: Path) -> None:
    df = _load_ratings(ml100k_dir)
    rng = np.random.default_rng(0)
    test = rng.random(len(df)) < 0.2
    tr, te = df[~test], df[test]
    model = explicit_als(
        tr["user"].to_numpy(),
        tr["item"].to_numpy(),
        tr["rating"].to_numpy(),
        943,
        1682,
        rng=np.random.default_rng(1),
    )
    pred = model.predict(te["user"].to_numpy(), te["item"].to_numpy())
    rmse = float(np.sqrt(np.mean((pred - te["rating"].to_numpy()) ** 2)))
    mean_rmse = float(np.sqrt(np.mean((tr["rating"].mean() - te["rating"].to_numpy()) ** 2)))
    assert rmse <= 0.95, f"explicit ALS test RMSE {rmse:.4f} (global-mean baseline {mean_rmse:.4f})"


def test_explicit_shapes_determinism_and_predict_broadcasting() -> None:
    rng = np.random.default_rng(4)
    n_users, n_items, n = 30, 25, 300
    user, item = rng.integers(0, n_users, n), rng.integers(0, n_items - 1, n)  # last item unrated
    rating = rng.integers(1, 6, n).astype(np.float32)

    def fit(seed: int) -> ExplicitModel:
        return explicit_als(
            user, item, rating, n_users, n_items, 4, iterations=5, rng=np.random.default_rng(seed)
        )

    model = fit(0)
    assert isinstance(model, ExplicitModel)
    assert model.user_factors.shape == (n_users, 4) and model.item_factors.shape == (n_items, 4)
    assert model.user_bias.shape == (n_users,) and model.item_bias.dtype == np.float32
    assert model.item_bias[-1] == 0.0 and not model.item_factors[-1].any()
    np.testing.assert_array_equal(model.user_factors, fit(0).user_factors)
    users = np.array([0, 3, 5])
    items = np.array([[1, 2], [3, 4], [0, 24]])
    grid = model.predict(users, items)
    assert grid.shape == (3, 2) and grid.dtype == np.float32
    pairs = model.predict(np.repeat(users, 2), items.ravel()).reshape(3, 2)
    np.testing.assert_allclose(grid, pairs, rtol=1e-6)
    assert grid[2, 1] == pytest.approx(model.global_mean + model.user_bias[5], rel=1e-5)
    with pytest.raises(AttributeError):
        model.global_mean = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"factors": 0},
        {"iterations": 0},
        {"reg": -1.0},
        {"alpha": -0.5},
        {"factors": 2.5},
        {"reg": "x"},
    ],
)
def test_implicit_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        implicit_als(sp.csr_matrix((3, 3), dtype=np.float32), **kwargs, rng=np.random.default_rng(0))  # type: ignore[arg-type]


def test_explicit_rejects_bad_parameters() -> None:
    one = np.zeros(1, np.int64)
    with pytest.raises(ConfigError):
        explicit_als(one, one, np.ones(1), 1, 1, reg=0.0, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError):
        explicit_als(one, one, np.ones(1), 1, 1, factors=0, rng=np.random.default_rng(0))
