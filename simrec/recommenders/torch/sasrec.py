"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over each user's item sequence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simrec.core.checks import MAX_BLOCK, MAX_SWEEPS, check_int, check_nonneg
from simrec.core.errors import ConfigError
from simrec.data.types import Interactions
from simrec.recommenders.base import BaseRecommender
from simrec.recommenders.torch.common import (
    check_prob,
    draw_seed,
    import_torch,
    set_training_params,
    torch_generator,
    torch_threads,
)
from simrec.world.catalog import Catalog

_NAME = "sasrec"
PAD, BOS, SHIFT = 0, 1, 2  # token ids: padding, sequence start, item i is token i + SHIFT


def sequence_order(inter: Interactions) -> np.ndarray:
    """Row order by user, then timestamp, ties kept in their original order."""
    return np.lexsort((np.arange(len(inter)), inter.timestamp, inter.user))


class SASRecRecommender(BaseRecommender):
    """Scores the next item of each user's current sequence with a causal transformer.

    Each user's history, ordered by timestamp, is read as ``[BOS, i1, i2, ...]``;
    the model (item plus learned positional embeddings, ``blocks`` pre-norm
    causal self-attention blocks) is trained to predict ``i_t`` from the tokens
    before it, with softmax cross-entropy over the catalog (or over sampled
    negatives). An epoch trains on one random window of ``max_len`` events per
    user (the whole history when shorter), so long histories are covered
    across epochs at a per-epoch cost bounded by ``n_users × max_len``.

    Scores are the logits after the user's latest ``max_len`` tokens, and
    :meth:`update` appends new events to those tokens, so scores follow the
    simulation between retrains. A user without history is scored from
    ``[BOS]`` alone: the learned distribution of first items, popularity-like.

    On a refit with ``warm_start`` and an unchanged catalog, training continues
    from the previous weights for ``retrain_epochs`` epochs.

    Args:
        factors: Embedding and hidden dimension (≥ 1, a multiple of ``heads``).
        blocks: Self-attention blocks (≥ 1).
        heads: Attention heads (≥ 1).
        dropout: Dropout rate in ``[0, 1)``.
        max_len: Tokens of context (≥ 2).
        epochs: Training epochs of a cold fit (≥ 1); one window per user each.
        batch_size: Windows per Adam step (≥ 1).
        lr: Adam learning rate (> 0).
        weight_decay: Adam L2 weight decay (≥ 0).
        negatives: Items sampled uniformly per batch as shared negatives of a
            sampled softmax (0: full softmax over the catalog).
        warm_start: Continue from the previous weights on refit.
        retrain_epochs: Epochs of a warm refit (≥ 1).
        threads: Torch intra-op threads in fit and score, restored after
            (0: keep torch's setting; 1 avoids OpenMP spinning on busy machines).
        rng: The recommender's own seeded generator (init, batches, dropout).
        chunk_size: Users scored per dense block in :meth:`recommend`.

    Raises:
        ConfigError: on invalid parameters, or if torch is not installed.
    """

    def __init__(
        self,
        factors: int = 64,
        blocks: int = 2,
        heads: int = 1,
        dropout: float = 0.2,
        max_len: int = 50,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        negatives: int = 0,
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
        self.blocks = check_int(_NAME, "blocks", blocks, 1, 64)
        self.heads = check_int(_NAME, "heads", heads, 1, 256)
        if self.factors % self.heads:
            raise ConfigError(
                f"{_NAME}: factors ({factors}) must be a multiple of heads ({heads})."
            )
        self.dropout = check_prob(_NAME, "dropout", dropout)
        self.max_len = check_int(_NAME, "max_len", max_len, 2, MAX_SWEEPS)
        self.weight_decay = check_nonneg(_NAME, "weight_decay", weight_decay)
        self.negatives = check_int(_NAME, "negatives", negatives, 0, MAX_SWEEPS)
        self._torch = import_torch(_NAME)
        self.model: Any = None
        self.last_epochs = 0  # epochs run by the latest fit (cold or warm)
        self._tokens = np.zeros((0, self.max_len), dtype=np.int64)  # latest tokens, left-aligned
        self._length = np.zeros(0, dtype=np.int64)

    # -- training ---------------------------------------------------------
    def _fit(self, interactions: Interactions, catalog: Catalog) -> None:
        torch = self._torch
        seed = draw_seed(self.rng)
        order = sequence_order(interactions)
        user = interactions.user[order].astype(np.int64)
        token = interactions.item[order].astype(np.int64) + SHIFT
        with torch.random.fork_rng(devices=[]), torch_threads(self.threads):
            torch.manual_seed(seed)  # inside the fork: init and dropout; restored on exit
            warm = self.warm_start and self.model is not None and self.model.n_items == self.n_items
            if not warm:
                self.model = _build_model(torch, self.n_items, self)
            self.last_epochs = self.retrain_epochs if warm else self.epochs
            if len(user):
                self._train(user, token, torch_generator(seed))
        self._set_history(user, token)

    def _train(self, user: np.ndarray, token: np.ndarray, gen: Any) -> None:
        """Epochs of one random window of ``max_len`` events per user, in shuffled batches.

        Position ``t`` of a window holds the event before event ``t`` (``BOS``
        before a user's first) and is trained to predict event ``t``; windows
        are right-padded, so causal attention never sees padding.
        """
        torch = self._torch
        model, L = self.model, self.max_len
        count = np.bincount(user, minlength=self.n_users)
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        prev = np.where(np.arange(len(user)) == first[user], BOS, np.roll(token, 1))
        active = np.flatnonzero(count)
        prev_t, token_t = torch.from_numpy(prev), torch.from_numpy(token)
        count_t, first_t = torch.from_numpy(count[active]), torch.from_numpy(first[active])
        span = (count_t - L).clamp(min=0) + 1  # possible window starts per user
        cols = torch.arange(L)
        valid = cols[None, :] < count_t.clamp(max=L)[:, None]
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        model.train()
        for _ in range(self.last_epochs):
            start = (torch.rand(len(active), generator=gen) * span).long().clamp(max=span - 1)
            index = torch.where(valid, (first_t + start)[:, None] + cols[None, :], 0)
            x_all = torch.where(valid, prev_t[index], PAD)
            y_all = torch.where(valid, token_t[index], PAD)
            order = torch.randperm(len(active), generator=gen)
            for lo in range(0, len(order), self.batch_size):
                rows = order[lo : lo + self.batch_size]
                x, y = x_all[rows], y_all[rows]
                loss = self._loss(model(x)[y > PAD], y[y > PAD] - SHIFT, gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        model.eval()

    def _loss(self, hidden: Any, target: Any, gen: Any) -> Any:
        """Cross-entropy of the targets over the catalog, or over shared sampled negatives."""
        torch = self._torch
        if not self.negatives:
            return torch.nn.functional.cross_entropy(self.model.logits(hidden), target)
        neg = torch.randint(0, self.n_items, (self.negatives,), generator=gen)
        weight = self.model.item.weight[SHIFT:]
        pos = (hidden * weight[target]).sum(dim=1, keepdim=True)
        other = (hidden @ weight[neg].T).masked_fill(neg[None, :] == target[:, None], -torch.inf)
        logits = torch.cat([pos, other], dim=1)
        return torch.nn.functional.cross_entropy(logits, torch.zeros_like(target))

    # -- the current sequences ----------------------------------------------
    def _set_history(self, user: np.ndarray, token: np.ndarray) -> None:
        """Each user's latest ``max_len`` tokens of ``[BOS, i1, ..., in]`` (sorted rows)."""
        L = self.max_len
        count = np.bincount(user, minlength=self.n_users)
        first = np.concatenate([[0], np.cumsum(count)[:-1]])
        drop = np.maximum(0, count + 1 - L)  # leading tokens that do not fit
        self._length = np.minimum(count + 1, L).astype(np.int64)
        self._tokens = np.zeros((self.n_users, L), dtype=np.int64)
        self._tokens[drop == 0, 0] = BOS
        col = np.arange(len(user)) - first[user] + 1 - drop[user]
        keep = col >= 0
        self._tokens[user[keep], col[keep]] = token[keep]

    def _update(self, events: Interactions) -> None:
        """Append the events (ordered by timestamp) to their users' current sequences."""
        if not len(events):
            return
        order = sequence_order(events)
        user = events.user[order].astype(np.int64)
        token = events.item[order].astype(np.int64) + SHIFT
        starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
        for lo, hi in zip(starts, np.r_[starts[1:], len(user)], strict=True):
            u = user[lo]
            old = self._tokens[u, : self._length[u]]
            seq = np.concatenate([old, token[lo:hi]])[-self.max_len :]
            self._tokens[u] = PAD
            self._tokens[u, : len(seq)] = seq
            self._length[u] = len(seq)

    # -- scoring ----------------------------------------------------------
    def score(self, user_ids: np.ndarray, batch: int = 512) -> np.ndarray:
        """Next-item logits after each user's current sequence, dense ``[n, n_items]`` float32."""
        self._require_fitted()
        torch = self._torch
        user_ids = np.asarray(user_ids, dtype=np.int64)
        out = np.empty((len(user_ids), self.n_items), dtype=np.float32)
        with torch.inference_mode(), torch_threads(self.threads):
            for start in range(0, len(user_ids), batch):
                users = user_ids[start : start + batch]
                hidden = self.model(torch.from_numpy(self._tokens[users]))
                last = torch.from_numpy(self._length[users] - 1)
                h = hidden[torch.arange(len(users)), last]
                out[start : start + len(users)] = self.model.logits(h).numpy()
        return out


def _build_model(torch: Any, n_items: int, cfg: SASRecRecommender) -> Any:
    """A fresh SASRec network (initialised from torch's current global RNG)."""
    nn = torch.nn

    class SASRec(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d, L = cfg.factors, cfg.max_len
            self.n_items, self.scale = n_items, math.sqrt(d)
            self.item = nn.Embedding(n_items + SHIFT, d, padding_idx=PAD)
            nn.init.normal_(self.item.weight, std=d**-0.5)
            with torch.no_grad():
                self.item.weight[PAD].zero_()
            self.pos = nn.Embedding(L, d)
            self.drop = nn.Dropout(cfg.dropout)
            layer = nn.TransformerEncoderLayer(
                d,
                cfg.heads,
                dim_feedforward=d,
                dropout=cfg.dropout,
                batch_first=True,
                norm_first=True,
            )
            self.encoder = nn.TransformerEncoder(layer, cfg.blocks, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(L))

        def forward(self, tokens: Any) -> Any:
            L = tokens.shape[1]
            x = self.item(tokens) * self.scale + self.pos.weight[:L]
            x = self.encoder(self.drop(x), mask=self.causal[:L, :L], is_causal=True)
            return self.norm(x)

        def logits(self, hidden: Any) -> Any:
            return hidden @ self.item.weight[SHIFT:].T

    return SASRec()
