"""The recommender protocol and the base class that owns its public surface.

A recommender sees what a real one would: the interaction log (real plus
simulated events) and the public catalog; never a user's latent taste, traits
or emotions. Implementations subclass :class:`BaseRecommender` and implement
:meth:`BaseRecommender._fit` and :meth:`BaseRecommender.score`; the base class
handles seen-item tracking, exclusion, chunking and top-k.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from simrec.core.errors import ConfigError
from simrec.core.registry import Registry
from simrec.core.topk import topk_rows
from simrec.data.types import Interactions
from simrec.world.catalog import Catalog

RECOMMENDERS: Registry[type] = Registry(
    "recommender",
    {
        "random": "simrec.recommenders.random:RandomRecommender",
        "most_popular": "simrec.recommenders.popular:MostPopularRecommender",
        "item_knn": "simrec.recommenders.itemknn:ItemKNNRecommender",
        "mf": "simrec.recommenders.mf:MFRecommender",
        "ease": "simrec.recommenders.ease:EASERecommender",
        # torch models: the module imports torch only when the recommender is built
        "lightgcn": "simrec.recommenders.torch.lightgcn:LightGCNRecommender",
        "sasrec": "simrec.recommenders.torch.sasrec:SASRecRecommender",
        # candidates from a base recommender, reordered by the LLM layer (needs the llm: block)
        "llm_rerank": "simrec.recommenders.llm_rerank:LLMRerankRecommender",
    },
)


@runtime_checkable
class Recommender(Protocol):
    """What the simulator needs from a recommender (batch-first)."""

    def fit(self, interactions: Interactions, catalog: Catalog, n_users: int | None = None) -> None:
        """Train on the full interaction log (real plus simulated so far)."""

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        """Return ``[len(user_ids), k]`` item indices, best first."""

    def update(self, events: Interactions) -> None:
        """Observe new interactions between retrains (at least: mark items seen)."""


class SeenItems:
    """Which items each user has interacted with; appended to, rebuilt lazily as CSR."""

    def __init__(self, n_users: int, n_items: int) -> None:
        self.n_users = n_users
        self.n_items = n_items
        self._csr = sp.csr_matrix((n_users, n_items), dtype=bool)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, user: np.ndarray, item: np.ndarray) -> None:
        """Mark ``(user[i], item[i])`` pairs as seen."""
        if len(user):
            self._pending.append((np.asarray(user, np.int32), np.asarray(item, np.int32)))

    def csr(self) -> sp.csr_matrix:
        """The seen matrix (bool CSR, ``[n_users, n_items]``)."""
        if self._pending:
            u = np.concatenate([p[0] for p in self._pending])
            i = np.concatenate([p[1] for p in self._pending])
            new = sp.csr_matrix((np.ones(len(u), bool), (u, i)), shape=self._csr.shape)
            self._csr = (self._csr + new).astype(bool).tocsr()
            self._csr.sum_duplicates()
            self._pending.clear()
        return self._csr

    def counts(self) -> np.ndarray:
        """Number of distinct seen items per user."""
        return np.diff(self.csr().indptr)


class BaseRecommender:
    """Base class: seen tracking, exclusion, chunked batched top-k.

    Subclasses implement :meth:`_fit` and :meth:`score`, and may override
    :meth:`_update` (default: nothing beyond seen tracking) or
    :meth:`recommend` itself where a faster exact path exists.

    Args:
        rng: The recommender's own seeded generator (from the run's root seed; required:
            :func:`build_recommender` passes the run's ``"recommender"`` child).
        chunk_size: Users scored per dense block in :meth:`recommend`.

    Raises:
        TypeError: without ``rng`` (a fixed fallback seed would hide the run's seed).
    """

    def __init__(self, rng: np.random.Generator | None = None, chunk_size: int = 2048) -> None:
        if rng is None:
            raise TypeError(
                f"{type(self).__name__} needs rng, a seeded numpy Generator (e.g. "
                "simrec.core.rng.child_rng(seed, 'recommender')); build_recommender passes the run's."
            )
        self.rng = rng
        self.chunk_size = int(chunk_size)
        self.n_users = 0
        self.n_items = 0
        self.seen: SeenItems | None = None

    # -- public surface ---------------------------------------------------
    def fit(self, interactions: Interactions, catalog: Catalog, n_users: int | None = None) -> None:
        """Train on ``interactions``; resets seen items to exactly those interactions."""
        self.n_items = catalog.n_items
        max_user = int(interactions.user.max()) + 1 if len(interactions) else 0
        self.n_users = max(int(n_users or 0), max_user)
        self.seen = SeenItems(self.n_users, self.n_items)
        self.seen.add(interactions.user, interactions.item)
        self._fit(interactions, catalog)

    def update(self, events: Interactions) -> None:
        """Mark the events' items seen, then let the implementation learn from them."""
        self._require_fitted()
        assert self.seen is not None
        self.seen.add(events.user, events.item)
        self._update(events)

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        """Top-``k`` items for each user, best first (``int64 [n, k]``).

        Seen items are excluded when ``exclude_seen``; a user who has seen
        almost everything gets seen items at the tail rather than fewer items.
        """
        self._require_fitted()
        user_ids = np.asarray(user_ids, dtype=np.int64)
        k = self._check_k(k)
        out = np.empty((len(user_ids), k), dtype=np.int64)
        seen = self.seen.csr() if exclude_seen and self.seen is not None else None
        for start in range(0, len(user_ids), self.chunk_size):
            chunk = user_ids[start : start + self.chunk_size]
            scores = np.array(self.score(chunk), dtype=np.float32, copy=True)
            if seen is not None:
                mask_seen(scores, seen, chunk)
            out[start : start + len(chunk)] = topk_rows(scores, k)
        return out

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Dense ``[len(user_ids), n_items]`` scores (higher is better)."""
        raise NotImplementedError

    # -- for implementations ---------------------------------------------
    def _fit(self, interactions: Interactions, catalog: Catalog) -> None:
        raise NotImplementedError

    def _update(self, events: Interactions) -> None:
        """Learn from new events between retrains; default: nothing more."""

    def _require_fitted(self) -> None:
        if self.seen is None:
            raise RuntimeError(f"{type(self).__name__} must be fit() before use")

    def _check_k(self, k: int) -> int:
        k = int(k)
        if k < 1 or k > self.n_items:
            raise ConfigError(
                f"Cannot recommend {k} items from a catalog of {self.n_items}: "
                "lower page_size × pages_per_session or use a larger catalog."
            )
        return k


def mask_seen(scores: np.ndarray, seen: sp.csr_matrix, user_ids: np.ndarray) -> None:
    """Set ``scores[r, i] = -inf`` for every item ``i`` seen by ``user_ids[r]`` (in place)."""
    rows = seen[user_ids]
    if rows.nnz:
        r = np.repeat(np.arange(len(user_ids)), np.diff(rows.indptr))
        scores[r, rows.indices] = -np.inf


def recommender_uses_llm(name: str) -> bool:
    """Whether the recommender registered as ``name`` thinks with the LLM layer (``uses_llm``)."""
    return bool(getattr(RECOMMENDERS.get(name), "uses_llm", False))


def build_recommender(
    name: str, params: dict[str, Any], rng: np.random.Generator, llm: object | None = None
) -> Recommender:
    """Instantiate the recommender registered as ``name`` (or a ``"pkg.mod:Class"`` path).

    ``rng`` is passed if the class's constructor accepts it; ``llm`` (the run's
    backend) if the class sets ``uses_llm = True``.

    Raises:
        ConfigError: if the parameters do not fit the class's constructor.
    """
    cls = RECOMMENDERS.get(name)
    kwargs = dict(params)
    try:
        sig = inspect.signature(cls)
        accepts_rng = "rng" in sig.parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()
        )
    except (TypeError, ValueError):
        accepts_rng = False
    if accepts_rng:
        kwargs.setdefault("rng", rng)
    if getattr(cls, "uses_llm", False):
        kwargs.setdefault("llm", llm)
    try:
        rec = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"recommender '{name}' rejected its params {sorted(params)}: {exc}. "
            "Check recommender.params in the scenario."
        ) from exc
    missing = [m for m in ("fit", "recommend", "update") if not callable(getattr(rec, m, None))]
    if missing:
        raise ConfigError(
            f"recommender '{name}' lacks method(s) {', '.join(missing)}; a recommender needs "
            "fit(interactions, catalog, n_users), recommend(user_ids, k, exclude_seen), update(events)."
        )
    return rec
