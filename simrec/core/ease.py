"""EASE's closed-form item-item weights (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019).

Shared by the ``ease`` recommender and the world's hidden interest model
(``agents.taste.ease_reg``), as :mod:`simrec.core.als` is shared by ``mf`` and the taste model.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Largest catalog EASE inverts: its item-item matrix is dense, ``n_items²`` float64.
MAX_ITEMS = 20_000


def ease_weights(x: sp.spmatrix, reg: float) -> np.ndarray:
    """The ``[m, m]`` weights ``B``: ``P = (XᵀX + reg·I)⁻¹``, ``B = −P / diag(P)``, ``diag(B) = 0``.

    Column ``j`` of ``B`` is the ridge regression of item ``j`` on every other item.

    Args:
        x: Binary ``[n_users, n_items]`` user-item matrix.
        reg: L2 regularisation (> 0).

    Raises:
        ValueError: for a catalog above :data:`MAX_ITEMS` or ``reg <= 0``.
    """
    if x.shape[1] > MAX_ITEMS:
        raise ValueError(f"EASE needs a dense {x.shape[1]:,}² matrix; it is limited to {MAX_ITEMS:,} items")
    if not reg > 0:
        raise ValueError(f"EASE needs reg > 0, got {reg!r}")
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += reg
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b.astype(np.float32)
