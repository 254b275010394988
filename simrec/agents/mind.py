"""The minds of LLM-driven agents: personas, episodic memory, reflection.

One :class:`Mind` per run holds the memory store (ChromaDB under the run folder
by default), builds personas lazily, turns what agents did into memories
(batched per step) and, every ``reflect_every`` new memories, asks the LLM to
condense an agent's recent memories into insights that are stored back as
memories of kind ``reflection``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simrec.agents.guard import TextGuard
from simrec.agents.persona import Persona, build_personas
from simrec.agents.prompts import render_reflection
from simrec.agents.questions import ScoredPrompts, first_sentences
from simrec.agents.schemas import Reflection
from simrec.config.schema import LLMConfig, MemoryConfig
from simrec.core.rng import mixed_seed
from simrec.io.texts import TextRow
from simrec.llm.types import LLMRequest, LLMResponse
from simrec.memory.base import MEMORY_STORES, MemoryRecord, MemoryStore
from simrec.memory.embedders import EMBEDDERS, Embedder

if TYPE_CHECKING:
    from simrec.llm.base import BaseBackend
    from simrec.world.build import World

log = logging.getLogger(__name__)

IMPORTANCE = {"impression": 0.2, "watch": 0.5, "rating": 0.6, "review": 0.7, "social": 0.5, "reflection": 0.9}


def build_embedder(cfg: MemoryConfig, llm: LLMConfig | None = None) -> Embedder:
    """The configured embedder; ``ollama``/``openai`` use the ``llm:`` block's server (the first of
    ``llm.servers`` when it lists several) and key."""
    cls = EMBEDDERS.get(cfg.embedder)
    first = llm.servers[0] if llm is not None and llm.servers else None
    if cfg.embedder == "hashing":
        return cls(dim=cfg.dim)
    if cfg.embedder == "ollama":
        return cls(cfg.embed_model or "", host=first or (llm.host if llm else "http://127.0.0.1:11434"))
    if cfg.embedder == "openai":
        key = llm.api_key.get_secret_value() if llm is not None and llm.api_key is not None else None
        return cls(cfg.embed_model or "", base_url=first or (llm.base_url if llm else None) or "https://api.openai.com/v1",
                   api_key=key)  # fmt: skip
    return cls()


def build_store(
    cfg: MemoryConfig, run_dir: Path | None, collection: str, llm: LLMConfig | None = None
) -> MemoryStore:
    """The configured memory store (ChromaDB persistent under ``run_dir/memory`` by default)."""
    embedder = build_embedder(cfg, llm)
    cls = MEMORY_STORES.get(cfg.store)
    if cfg.store == "chroma":
        path = (run_dir / "memory") if (cfg.persistent and run_dir is not None) else None
        return cls(path, collection, embedder, decay=cfg.recency_decay)
    return cls(embedder, decay=cfg.recency_decay)


class Mind:
    """Personas, memory and reflection for the LLM-driven agents of a run.

    Args:
        cfg: The ``agents.memory`` block.
        world: The world (personas are built from its training data).
        store: The memory store.
    """

    def __init__(self, cfg: MemoryConfig, world: World, store: MemoryStore) -> None:
        self.cfg = cfg
        self.world = world
        self.store = store
        self._personas: dict[int, Persona] = {}
        self._since_reflection: dict[int, int] = {}
        self.written = 0
        #: Checks every text the agents write (policies use it too); counts what it drops.
        self.guard = TextGuard(titles=world.catalog.titles)
        #: Plain prompts for reflections (set by a policy on the scored protocol), else JSON.
        self.plain: ScoredPrompts | None = None

    def personas(self, users: Sequence[int]) -> list[Persona]:
        """Personas of ``users`` (built once each)."""
        missing = np.array([u for u in dict.fromkeys(int(u) for u in users) if u not in self._personas], np.int64)
        if len(missing):
            for p in build_personas(self.world, missing):
                self._personas[int(p.user)] = p
        return [self._personas[int(u)] for u in users]

    def recall(self, users: Sequence[int], queries: Sequence[str], now: int) -> list[list[str]]:
        """Up to ``k`` memory texts per user, most relevant × recent × important first."""
        if self.cfg.k == 0 or not len(users):
            return [[] for _ in users]
        found = self.store.query(list(map(int, users)), list(queries), self.cfg.k, now)
        return [[r.record.text for r in hits] for hits in found]

    def remember(self, records: list[MemoryRecord]) -> None:
        """Buffer memories (written to the store at :meth:`end_step`)."""
        self.store.add(records)
        self.written += len(records)
        for r in records:
            self._since_reflection[r.agent] = self._since_reflection.get(r.agent, 0) + 1

    def end_step(self, step: int, llm: BaseBackend | None) -> list[TextRow]:
        """Flush memories and let agents with enough new memories reflect."""
        self.store.flush()
        every = self.cfg.reflect_every
        if not every or llm is None:
            return []
        due = sorted(a for a, n in self._since_reflection.items() if n >= every)
        if not due:
            return []
        personas = self.personas(due)
        if self.plain is not None:  # the scored protocol's one plain sentence
            p = self.plain
            requests = [
                p.text_request(p.system(persona.text, [m.text for m in self.store.recent(a, every)][:3]),
                               p.question("reflection"), a, step, mixed_seed(llm.settings.seed, a, step), "reflection")
                for a, persona in zip(due, personas, strict=True)
            ]  # fmt: skip
        else:
            requests = [
                LLMRequest(
                    render_reflection(persona, [m.text for m in self.store.recent(a, every)]),
                    schema=Reflection, agent=a, step=step, purpose="reflection",
                    seed=mixed_seed(llm.settings.seed, a, step),
                )
                for a, persona in zip(due, personas, strict=True)
            ]  # fmt: skip
        rows: list[TextRow] = []
        records: list[MemoryRecord] = []
        for a, req, resp in zip(due, requests, llm.generate(requests), strict=True):
            self._since_reflection[a] = 0
            if not resp.ok:
                continue  # counted as a fallback by the LLM layer; the agent simply does not reflect
            prompt = [m.content for m in req.messages]
            for insight, cut in self._insights(resp):
                if not self.guard.check(insight, "reflection", prompt, cut_off=cut):
                    continue  # dropped and counted; never remembered
                records.append(MemoryRecord(a, step, "reflection", insight, IMPORTANCE["reflection"]))
                rows.append(TextRow(step, -1, -1, a, -1, "reflection", 0, insight))
        self.store.add(records)
        self.written += len(records)
        self.store.flush()
        return rows

    def _insights(self, resp: LLMResponse) -> list[tuple[str, bool]]:
        """The insights of a reflection reply, each with whether the token cap cut it."""
        if self.plain is None:
            return [(i, False) for i in resp.parsed.insights]  # type: ignore[union-attr]
        return [(first_sentences(resp.text, 1), resp.completion_tokens >= self.plain.text_tokens)]

    def use_plain_prompts(self, prompts: ScoredPrompts) -> None:
        """Reflect with one short plain prompt (the scored protocol's), not a JSON reply."""
        self.plain = prompts

    def close(self) -> None:
        """Write what is buffered and close the store."""
        self.store.flush()
        self.store.close()
