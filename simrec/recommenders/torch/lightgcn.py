"""LightGCN (He et al., SIGIR 2020): linear graph convolution over the user-item graph."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from simrec.core.checks import MAX_BLOCK, check_int, check_nonneg
from simrec.data.types import Interactions
from simrec.recommenders.base import BaseRecommender
from simrec.recommenders.torch.common import (
    check_pos,
    draw_seed,
    import_torch,
    set_training_params,
    to_numpy,
    torch_generator,
    torch_threads,
)
from simrec.world.catalog import Catalog

_NAME = "lightgcn"
_REJECTION_ROUNDS = 20


class LightGCNRecommender(BaseRecommender):
    """Scores ``U[u] · V[i]`` with embeddings propagated over the interaction graph.

    Ego embeddings of users and items are smoothed ``layers`` times with the
    symmetrically normalised bipartite adjacency ``D^-½ A D^-½``; the final
    embedding is the mean of all layers (layer 0 included). Training minimises
    BPR loss (one uniformly drawn unseen negative per observed pair) plus L2 on
    the batch's ego embeddings, with Adam. Embeddings change only on
    :meth:`fit`; between retrains :meth:`update` just marks items seen. A user
    without interactions keeps its random initial embedding (scaled by
    ``1 / (layers + 1)``), so cold users get valid but essentially random scores.

    On a refit with ``warm_start`` and the same numbers of users and items,
    training continues from the previous ego embeddings for ``retrain_epochs``
    epochs instead of starting afresh for ``epochs``.

    Args:
        factors: Embedding dimension (≥ 1).
        layers: Propagation layers (≥ 0; 0 is plain BPR-MF).
        epochs: Training epochs of a cold fit (≥ 1).
        batch_size: Positive pairs per Adam step (≥ 1).
        lr: Adam learning rate (> 0).
        reg: L2 weight on the batch's ego embeddings (≥ 0).
        init_std: Standard deviation of the normal initialisation (> 0).
        warm_start: Continue from the previous embeddings on refit.
        retrain_epochs: Epochs of a warm refit (≥ 1).
        threads: Torch intra-op threads during fit, restored after (0: keep torch's setting).
            One is the default: the tensors are small, and OpenMP threads that
            spin on a busy machine slow training down by an order of magnitude.
        rng: The recommender's own seeded generator (init and sampling seeds).
        chunk_size: Users scored per dense block in :meth:`recommend`.

    Raises:
        ConfigError: on invalid parameters, or if torch is not installed.
    """

    def __init__(
        self,
        factors: int = 64,
        layers: int = 2,
        epochs: int = 25,
        batch_size: int = 2048,
        lr: float = 0.01,
        reg: float = 1e-4,
        init_std: float = 0.1,
        warm_start: bool = True,
        retrain_epochs: int = 5,
        threads: int = 1,
        rng: np.random.Generator | None = None,
        chunk_size: int = 2048,
    ) -> None:
        super().__init__(rng=rng, chunk_size=check_int(_NAME, "chunk_size", chunk_size, 1, MAX_BLOCK))
        set_training_params(
            self, _NAME, factors=factors, epochs=epochs, batch_size=batch_size, lr=lr,
            warm_start=warm_start, retrain_epochs=retrain_epochs, threads=threads,
        )  # fmt: skip
        self.layers = check_int(_NAME, "layers", layers, 0, 64)
        self.reg = check_nonneg(_NAME, "reg", reg)
        self.init_std = check_pos(_NAME, "init_std", init_std)
        self._torch = import_torch(_NAME)
        self._spmm = _symmetric_spmm(self._torch)
        self._ego: Any = None  # torch Parameter [n_users + n_items, factors] once fit
        self._shape = (0, 0)  # (n_users, n_items) of the ego embeddings
        self.last_epochs = 0  # epochs run by the latest fit (cold or warm)
        self.user_factors = np.zeros((0, self.factors), dtype=np.float32)
        self.item_factors = np.zeros((0, self.factors), dtype=np.float32)

    # -- training ---------------------------------------------------------
    def _fit(self, interactions: Interactions, catalog: Catalog) -> None:
        torch = self._torch
        gen = torch_generator(draw_seed(self.rng))
        n_nodes = self.n_users + self.n_items
        shape = (self.n_users, self.n_items)
        warm = self.warm_start and self._ego is not None and self._shape == shape
        if not warm:
            init = torch.randn(n_nodes, self.factors, generator=gen) * self.init_std
            self._ego = torch.nn.Parameter(init)
            self._shape = shape
        self.last_epochs = self.retrain_epochs if warm else self.epochs
        binary = interactions.matrix(self.n_users, self.n_items).tocoo()
        user = torch.from_numpy(binary.row.astype(np.int64))
        item = torch.from_numpy(binary.col.astype(np.int64))
        graph = self._graph(binary)
        with torch_threads(self.threads):
            if len(user):
                self._train(graph, user, item, gen)
            with torch.no_grad():
                final = self._propagate(graph)
        self.user_factors = to_numpy(final[: self.n_users])
        self.item_factors = to_numpy(final[self.n_users :])

    def _train(self, graph: Any, user: Any, item: Any, gen: Any) -> None:
        torch = self._torch
        opt = torch.optim.Adam([self._ego], lr=self.lr)
        keys = torch.sort(user * self.n_items + item).values
        n = len(user)
        for _ in range(self.last_epochs):
            order = torch.randperm(n, generator=gen)
            neg = self._negatives(user[order], keys, gen)
            for start in range(0, n, self.batch_size):
                rows = order[start : start + self.batch_size]
                u, p = user[rows], item[rows] + self.n_users
                q = neg[start : start + self.batch_size] + self.n_users
                emb = self._propagate(graph)
                eu, ep, eq = emb[u], emb[p], emb[q]
                margin = (eu * (ep - eq)).sum(dim=1)
                bpr = torch.nn.functional.softplus(-margin).mean()
                ego = self._ego
                l2 = (ego[u].square().sum() + ego[p].square().sum() + ego[q].square().sum()) / 2
                loss = bpr + self.reg * l2 / len(rows)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    def _negatives(self, user: Any, keys: Any, gen: Any) -> Any:
        """One uniformly drawn item per row of ``user`` that the user has not interacted with.

        Rejection sampling; after a few rounds the rare leftovers (users who
        have seen almost everything) keep a possibly seen item.
        """
        torch = self._torch
        neg = torch.randint(0, self.n_items, (len(user),), generator=gen)
        todo = torch.arange(len(user))
        for _ in range(_REJECTION_ROUNDS):
            key = user[todo] * self.n_items + neg[todo]
            pos = torch.searchsorted(keys, key).clamp(max=len(keys) - 1)
            todo = todo[keys[pos] == key]
            if not len(todo):
                break
            neg[todo] = torch.randint(0, self.n_items, (len(todo),), generator=gen)
        return neg

    # -- the graph --------------------------------------------------------
    def _graph(self, binary: sp.coo_matrix) -> sp.csr_matrix:
        """``D^-½ A D^-½`` of the bipartite graph (symmetric, float32 CSR)."""
        deg_u = np.bincount(binary.row, minlength=self.n_users).astype(np.float64)
        deg_i = np.bincount(binary.col, minlength=self.n_items).astype(np.float64)
        inv_u = 1.0 / np.sqrt(np.maximum(deg_u, 1.0))
        inv_i = 1.0 / np.sqrt(np.maximum(deg_i, 1.0))
        norm = sp.csr_matrix(
            ((inv_u[binary.row] * inv_i[binary.col]).astype(np.float32), (binary.row, binary.col)),
            shape=(self.n_users, self.n_items),
        )
        return sp.bmat([[None, norm], [norm.T, None]], format="csr", dtype=np.float32)

    def _propagate(self, graph: sp.csr_matrix) -> Any:
        """Mean of the ego embeddings and their ``layers`` propagations."""
        layer = self._ego
        total = layer
        for _ in range(self.layers):
            layer = self._spmm.apply(layer, graph)
            total = total + layer
        return total / (self.layers + 1)

    # -- scoring ----------------------------------------------------------
    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """``U[user_ids] @ Vᵀ`` of the propagated embeddings, dense ``[n, n_items]`` float32."""
        self._require_fitted()
        return self.user_factors[np.asarray(user_ids, dtype=np.int64)] @ self.item_factors.T


def _symmetric_spmm(torch: Any) -> Any:
    """An autograd op ``x -> G @ x`` for a symmetric scipy CSR ``G`` (so the gradient is ``G @ g``).

    scipy's single-threaded CSR product is several times faster on CPU than
    torch's sparse autograd, whose backward transposes the matrix every step.
    """

    class SymmetricSpMM(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, graph: sp.csr_matrix) -> Any:
            ctx.graph = graph
            return torch.from_numpy(graph @ x.detach().numpy())

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[Any, None]:
            return torch.from_numpy(ctx.graph @ np.ascontiguousarray(grad.numpy())), None

    return SymmetricSpMM
