"""EASE's closed form against its definition: per item, a ridge regression on the other items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simrec.core.ease import ease_weights


def test_weights_solve_each_items_ridge_regression_on_the_others() -> None:
    rng = np.random.default_rng(3)
    x = (rng.random((40, 9)) < 0.3).astype(np.float64)
    reg = 2.5
    b = ease_weights(sp.csr_matrix(x), reg)
    assert np.allclose(np.diag(b), 0.0)
    for j in range(x.shape[1]):
        others = np.delete(np.arange(x.shape[1]), j)
        a = x[:, others]
        # EASE's constraint diag(B)=0 makes column j the ridge fit of item j on the others
        want = np.linalg.solve(a.T @ a + reg * np.eye(len(others)), a.T @ x[:, j])
        assert np.allclose(b[others, j], want, atol=1e-5)


def test_more_regularisation_shrinks_the_weights() -> None:
    rng = np.random.default_rng(4)
    x = sp.csr_matrix((rng.random((60, 12)) < 0.25).astype(np.float64))
    assert np.abs(ease_weights(x, 100.0)).sum() < np.abs(ease_weights(x, 1.0)).sum()
