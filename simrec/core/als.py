"""Batched alternating least squares: implicit (Hu–Koren–Volinsky) and biased explicit MF.

Both solvers alternate exact ridge solves for one side with the other fixed.
Every row's normal equations ``A_u z_u = b_u`` are built without a Python loop
per row: the data-dependent part ``Σ_i w_ui x_i x_iᵀ`` of all ``A_u`` at once is
the sparse weight matrix times the matrix of per-input outer products (upper
triangle only, since ``A_u`` is symmetric), computed in blocks of rows and
inputs to bound memory, and the stacked ``[n, d, d]`` systems go to
:func:`numpy.linalg.solve`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from simrec.core.checks import MAX_FACTORS, MAX_SWEEPS, check_int, check_nonneg
from simrec.core.errors import ConfigError

# Rows whose systems are assembled and solved together, and the float32 entries
# of one block of outer products (inputs) or of stacked triangles (rows); both
# keep temporaries to tens of MB whatever the data size.
_ROW_BLOCK = 4096
_OUTER_BUDGET = 1 << 23


def _assemble(
    tri: np.ndarray, offsets: np.ndarray, base: np.ndarray | None, ridge: np.ndarray
) -> np.ndarray:
    """Stack ``base + ridge_r·I + sym(tri_r)`` into ``[n, d, d]`` float64 matrices."""
    n, d = len(tri), len(offsets) - 1
    # Filled as [d, d, n] so every write is a contiguous slice; several times
    # faster than fancy-indexed triangle assignment on [n, d, d].
    a = np.empty((d, d, n), dtype=np.float64)
    for j in range(d):
        row = a[j, j:]
        row[...] = tri[:, offsets[j] : offsets[j + 1]].T
        if base is not None:
            row += base[j, j:, None]
        a[j, j] += ridge
        a[j + 1 :, j] = a[j, j + 1 :]
    return a.transpose(2, 0, 1)


def _ridge_rows(
    weights: sp.csr_matrix,
    targets: sp.csr_matrix,
    x: np.ndarray,
    base: np.ndarray | None,
    ridge: np.ndarray | float,
) -> np.ndarray:
    """Solve every row's weighted ridge problem at once.

    For each row ``u`` of the sparse matrices this solves
    ``(base + ridge_u·I + Σ_i weights[u, i]·x_i x_iᵀ) z_u = Σ_i targets[u, i]·x_i``.
    Rows with no stored entries in ``targets`` get ``z_u = 0``.

    Args:
        weights: ``[n_out, n_in]`` CSR weights of the per-entry outer products.
        targets: ``[n_out, n_in]`` CSR right-hand-side coefficients.
        x: ``[n_in, d]`` fixed side.
        base: ``[d, d]`` matrix shared by all rows, or ``None``.
        ridge: Scalar or ``[n_out]`` per-row ridge.

    Returns:
        ``[n_out, d]`` float64 solutions.
    """
    n_out, n_in = weights.shape
    d = x.shape[1]
    offsets = np.concatenate([[0], np.cumsum(np.arange(d, 0, -1))])
    n_tri = int(offsets[-1])
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    rhs = np.asarray(targets @ x32, dtype=np.float64)
    ridge_arr = np.broadcast_to(np.asarray(ridge, dtype=np.float64), (n_out,))
    active = np.flatnonzero(np.diff(targets.indptr) > 0)
    out = np.zeros((n_out, d), dtype=np.float64)
    col_block = max(1, _OUTER_BUDGET // n_tri)
    col_starts = list(range(0, n_in, col_block))

    def outer(start: int) -> np.ndarray:
        xs = x32[start : start + col_block]
        o = np.empty((len(xs), n_tri), dtype=np.float32)
        for j in range(d):  # row j of the upper triangle; slices beat fancy indexing
            np.multiply(xs[:, j : j + 1], xs[:, j:], out=o[:, offsets[j] : offsets[j + 1]])
        return o

    single = outer(0) if len(col_starts) == 1 else None
    w_active = weights[active]
    group = max(_ROW_BLOCK, _OUTER_BUDGET // n_tri)
    for g0 in range(0, len(active), group):
        w_group = w_active[g0 : g0 + group]
        if single is not None:
            tri = w_group @ single
        else:
            tri = np.zeros((w_group.shape[0], n_tri), dtype=np.float32)
            w_csc = w_group.tocsc()
            for c0 in col_starts:
                part = w_csc[:, c0 : c0 + col_block]
                if part.nnz:
                    tri += part @ outer(c0)
        for r0 in range(0, len(tri), _ROW_BLOCK):
            block = tri[r0 : r0 + _ROW_BLOCK]
            rows = active[g0 + r0 : g0 + r0 + len(block)]
            a = _assemble(block, offsets, base, ridge_arr[rows])
            out[rows] = np.linalg.solve(a, rhs[rows, :, None])[:, :, 0]
    return out


def implicit_als(
    matrix: sp.csr_matrix,
    factors: int = 32,
    reg: float = 0.05,
    alpha: float = 10.0,
    iterations: int = 10,
    *,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit implicit-feedback MF by confidence-weighted ALS (Hu, Koren & Volinsky 2008).

    Each observed entry ``r_ui > 0`` means preference 1 with confidence
    ``1 + alpha·r_ui``; unobserved entries mean preference 0 with confidence 1.

    Args:
        matrix: ``[n_users, n_items]`` sparse non-negative interaction strengths
            (e.g. counts); explicit zeros are ignored.
        factors: Latent dimension.
        reg: L2 regularisation of both factor matrices.
        alpha: Confidence scale of observed entries.
        iterations: Sweeps (each solves users, then items).
        rng: Generator for the initial item factors (required: the caller's seeded stream).

    Returns:
        ``(user_factors [n_users, factors], item_factors [n_items, factors])``,
        float32; users and items without interactions get zero vectors.

    Raises:
        ConfigError: on a non-positive ``factors``/``iterations`` or negative
            ``reg``/``alpha``.
        ValueError: if ``matrix`` has negative entries.
    """
    f = check_int("ALS", "factors", factors, 1, MAX_FACTORS)
    iterations = check_int("ALS", "iterations", iterations, 1, MAX_SWEEPS)
    reg = check_nonneg("ALS", "reg", reg)
    alpha = check_nonneg("ALS", "alpha", alpha)
    r = sp.csr_matrix(matrix, dtype=np.float32)
    r.eliminate_zeros()
    r.sum_duplicates()
    if r.nnz and r.data.min() < 0:
        raise ValueError("implicit_als needs non-negative interaction strengths")
    n_users, n_items = r.shape
    conf_extra = r * np.float32(alpha)  # C - 1 on observed entries
    conf = conf_extra.copy()
    conf.data += 1.0  # C·p: right-hand side weights
    conf_extra_t, conf_t = conf_extra.T.tocsr(), conf.T.tocsr()
    item_f = (rng.standard_normal((n_items, f)) * 0.01).astype(np.float64)
    item_f[np.diff(conf_t.indptr) == 0] = 0.0
    user_f = np.zeros((n_users, f))
    for _ in range(iterations):
        user_f = _ridge_rows(conf_extra, conf, item_f, item_f.T @ item_f, reg)
        item_f = _ridge_rows(conf_extra_t, conf_t, user_f, user_f.T @ user_f, reg)
    return user_f.astype(np.float32), item_f.astype(np.float32)


@dataclass(frozen=True)
class ExplicitModel:
    """A biased matrix-factorisation rating model.

    ``rating(u, i) = global_mean + user_bias[u] + item_bias[i] + user_factors[u] · item_factors[i]``.

    Attributes:
        global_mean: Mean training rating.
        user_bias: ``[n_users]`` float32.
        item_bias: ``[n_items]`` float32.
        user_factors: ``[n_users, f]`` float32.
        item_factors: ``[n_items, f]`` float32.
    """

    global_mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings (unclipped) of ``(users, items)`` pairs.

        Args:
            users: ``[n]`` user indices.
            items: ``[n]`` item indices (elementwise pairs) or ``[n, k]``
                (``k`` items per user).

        Returns:
            float32 array shaped like ``items``.
        """
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if items.ndim == users.ndim + 1:
            users = users[..., None]
        dot = (self.user_factors[users] * self.item_factors[items]).sum(axis=-1)
        pred = self.global_mean + self.user_bias[users] + self.item_bias[items] + dot
        return np.asarray(pred, dtype=np.float32)


def explicit_als(
    user: np.ndarray,
    item: np.ndarray,
    rating: np.ndarray,
    n_users: int,
    n_items: int,
    factors: int = 16,
    reg: float = 0.1,
    iterations: int = 15,
    *,
    rng: np.random.Generator,
) -> ExplicitModel:
    """Fit a biased rating model by ALS with count-scaled regularisation (ALS-WR).

    Each user step solves bias and factors jointly (the item side augmented
    with a constant 1), with ridge ``reg·n_u``; the item step mirrors it.
    Duplicate ``(user, item)`` pairs are averaged.

    Args:
        user: ``[n]`` user indices.
        item: ``[n]`` item indices.
        rating: ``[n]`` ratings.
        n_users: Number of users (rows of the result).
        n_items: Number of items.
        factors: Latent dimension.
        reg: Regularisation per rating.
        iterations: Sweeps (each solves users, then items).
        rng: Generator for the initial item factors (required: the caller's seeded stream).

    Returns:
        The fitted :class:`ExplicitModel`; users/items without ratings get zero
        bias and factors (their predictions fall back to the global mean).

    Raises:
        ConfigError: on invalid hyper-parameters.
        ValueError: if a rating is NaN or infinite.
    """
    f = check_int("ALS", "factors", factors, 1, MAX_FACTORS)
    iterations = check_int("ALS", "iterations", iterations, 1, MAX_SWEEPS)
    if not check_nonneg("ALS", "reg", reg) > 0:
        raise ConfigError(f"explicit ALS reg must be positive, got {reg!r}.")
    user = np.asarray(user, dtype=np.int64)
    item = np.asarray(item, dtype=np.int64)
    rating = np.asarray(rating, dtype=np.float64)
    if not np.isfinite(rating).all():
        raise ValueError("explicit_als needs finite ratings; drop unrated (NaN) interactions first")
    ones = sp.csr_matrix((np.ones(len(user)), (user, item)), shape=(n_users, n_items))
    sums = sp.csr_matrix((rating, (user, item)), shape=(n_users, n_items))
    ones.sum_duplicates()
    sums.sum_duplicates()
    sums.sort_indices()
    ones.sort_indices()
    mask = ones.copy()
    mask.data[:] = 1.0
    r = sums.copy()
    r.data = sums.data / ones.data  # mean of duplicates
    mu = float(r.data.mean()) if r.nnz else 0.0
    mask_t, r_t = mask.T.tocsr(), r.T.tocsr()
    n_u = np.diff(r.indptr).astype(np.float64)
    n_i = np.diff(r_t.indptr).astype(np.float64)

    item_b = np.zeros(n_items)
    item_f = rng.standard_normal((n_items, f)) * 0.1
    item_f[n_i == 0] = 0.0
    user_b = np.zeros(n_users)
    user_f = np.zeros((n_users, f))
    for _ in range(iterations):
        target = r.copy()
        target.data = r.data - mu - item_b[r.indices]
        z = _ridge_rows(mask, target, np.column_stack([np.ones(n_items), item_f]), None, reg * n_u)
        user_b, user_f = z[:, 0], z[:, 1:]
        target_t = r_t.copy()
        target_t.data = r_t.data - mu - user_b[r_t.indices]
        z = _ridge_rows(
            mask_t, target_t, np.column_stack([np.ones(n_users), user_f]), None, reg * n_i
        )
        item_b, item_f = z[:, 0], z[:, 1:]
    return ExplicitModel(
        global_mean=mu,
        user_bias=user_b.astype(np.float32),
        item_bias=item_b.astype(np.float32),
        user_factors=user_f.astype(np.float32),
        item_factors=item_f.astype(np.float32),
    )
