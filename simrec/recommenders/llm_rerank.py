"""An LLM reranker: candidates from a base recommender, reordered by the LLM layer.

For each user, the base recommender (MF by default) proposes ``candidates``
items; one structured call (:class:`~simrec.agents.schemas.RankedList`) orders
them from what a platform knows of the user: their logged history (titles and
stars, newest first, from the training log and the simulated events it has
observed) and the public catalog. It never sees the simulator's hidden persona,
traits or memories, like every recommender in simrec. Items past the candidate
window keep the base order. A reply that fails (invalid after repair, timeout,
budget) keeps the base order for that user and is counted in ``stats``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from simrec.agents.prompts import item_views, load_template, render_rerank
from simrec.agents.schemas import MAX_PAGE, ranked_list_schema
from simrec.core.checks import MAX_BLOCK, MAX_SWEEPS, check_int
from simrec.core.errors import ConfigError
from simrec.core.rng import mixed_seed
from simrec.data.types import Interactions
from simrec.llm.types import LLMRequest
from simrec.recommenders.base import BaseRecommender, build_recommender
from simrec.world.catalog import Catalog

if TYPE_CHECKING:
    from simrec.llm.base import BaseBackend


class LLMRerankRecommender(BaseRecommender):
    """Reorders a base recommender's top candidates with one LLM call per user.

    Args:
        llm: The LLM backend (the runner passes the scenario's ``llm:`` block's backend).
        base: Registered name of the candidate generator.
        base_params: Its parameters.
        candidates: Items the LLM orders per user (2..20).
        history: Logged items shown to the LLM per user.
        max_users: Users reranked per ``recommend`` call (the first ones, in the order
            given; the rest keep the base order and are counted); ``None``: all.
        rng: The recommender's generator (passed on to the base).
    """

    uses_llm = True

    def __init__(
        self,
        llm: BaseBackend | None = None,
        base: str = "mf",
        base_params: dict[str, Any] | None = None,
        candidates: int = 10,
        history: int = 8,
        max_users: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(rng=rng)
        if llm is None:
            raise ConfigError("recommender 'llm_rerank' needs an LLM backend: set the scenario's llm: block.")
        self.llm = llm
        self.candidates = check_int("llm_rerank", "candidates", candidates, 2, MAX_SWEEPS)
        if self.candidates > MAX_PAGE:
            raise ConfigError(f"llm_rerank: candidates must be at most {MAX_PAGE}, got {candidates}.")
        self.history = check_int("llm_rerank", "history", history, 0, MAX_SWEEPS)
        self.max_users = None if max_users is None else check_int("llm_rerank", "max_users", max_users, 0, MAX_BLOCK)
        self.base = build_recommender(base, dict(base_params or {}), self.rng)
        self.template = load_template("rerank")
        self.catalog: Catalog | None = None
        self._log = Interactions.empty()
        self.stats = {"reranked": 0, "fallbacks": 0, "skipped": 0}
        self.step = 0  # recommend calls so far: the simulator calls it once a step, so this is the step

    def _fit(self, interactions: Interactions, catalog: Catalog) -> None:
        self.catalog = catalog
        self._log = interactions
        self.base.fit(interactions, catalog, n_users=self.n_users)

    def _update(self, events: Interactions) -> None:
        self._log = Interactions.concat([self._log, events])
        self.base.update(events)

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Not used: ranking comes from the base list and the LLM's order."""
        raise NotImplementedError("llm_rerank ranks lists; it has no dense scores")

    def recommend(self, user_ids: np.ndarray, k: int, exclude_seen: bool = True) -> np.ndarray:
        """The base recommender's top ``k`` with the first ``candidates`` reordered by the LLM."""
        self._require_fitted()
        users = np.asarray(user_ids, dtype=np.int64)
        k = self._check_k(k)
        self.step += 1
        out = np.asarray(self.base.recommend(users, max(k, self.candidates), exclude_seen), dtype=np.int64)
        limit = len(users) if self.max_users is None else min(self.max_users, len(users))
        self.stats["skipped"] += len(users) - limit
        rows = np.arange(limit)
        if len(rows):
            window = out[rows, : self.candidates]
            replies = self.llm.generate([self._request(int(users[r]), window[j]) for j, r in enumerate(rows)])
            for j, (r, reply) in enumerate(zip(rows, replies, strict=True)):
                if not reply.ok:
                    self.stats["fallbacks"] += 1
                    continue
                order = [p - 1 for p in reply.parsed.order]  # type: ignore[union-attr]
                rest = [p for p in range(self.candidates) if p not in set(order)]
                out[r, : self.candidates] = window[j][order + rest]
                self.stats["reranked"] += 1
        return out[:, :k]

    def _history_lines(self, user: int) -> list[str]:
        log, cat = self._log, self.catalog
        assert cat is not None
        mine = np.nonzero(log.user == user)[0]
        mine = mine[np.argsort(-log.timestamp[mine], kind="stable")][: self.history]
        lines = []
        for i in mine:
            r = log.rating[i]
            stars = f" ({int(r)}/5)" if np.isfinite(r) else ""
            lines.append(f"{cat.titles[log.item[i]]}{stars}")
        return lines

    def _request(self, user: int, items: np.ndarray) -> LLMRequest:
        assert self.catalog is not None
        messages = render_rerank(self._history_lines(user), item_views(self.catalog, items), self.template)
        return LLMRequest(
            messages, schema=ranked_list_schema(len(items)), agent=f"rerank:{user}", step=self.step,
            purpose="rerank", seed=mixed_seed(self.llm.settings.seed, user, self.step),
        )  # fmt: skip
