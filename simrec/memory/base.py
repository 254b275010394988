"""Memory records, retrieval results and the ``MemoryStore`` protocol.

An agent's episodic memory is a list of short texts (what it saw, watched,
rated, reviewed, heard from friends, concluded on reflection), each with the
step it happened at and an importance in [0, 1]. A store embeds the texts and
answers, for many agents at once, "which k memories matter most for this
situation now" (see :mod:`simrec.memory.scoring` for the score).

Implementations, by name in :data:`MEMORY_STORES`:

- ``memory``: :class:`simrec.memory.memory.InMemoryStore`, numpy only; the fake
  for tests (ours and users').
- ``chroma``: :class:`simrec.memory.chroma.ChromaMemoryStore`, the same
  retrieval over an in-process mirror, persisted in a ChromaDB collection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from simrec.core.errors import SimrecError
from simrec.core.registry import Registry

KINDS: tuple[str, ...] = ("impression", "watch", "rating", "review", "social", "reflection", "profile")
"""The kinds of memory an agent keeps; ``MemoryRecord.kind`` is one of them."""

MEMORY_STORES: Registry[type] = Registry(
    "memory store",
    {
        "chroma": "simrec.memory.chroma:ChromaMemoryStore",
        "memory": "simrec.memory.memory:InMemoryStore",
    },
)


class MemoryStoreError(SimrecError):
    """A memory store cannot be opened, read or written (path, collection, embedder)."""


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One memory of one agent.

    Attributes:
        agent: The agent's id (user or item agent).
        step: Simulation step the memory was formed at.
        kind: One of :data:`KINDS`.
        text: What the agent remembers, in words; this is what gets embedded.
        importance: How much it matters to the agent, in [0, 1].
    """

    agent: int
    step: int
    kind: str
    text: str
    importance: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown memory kind {self.kind!r}; use one of {', '.join(KINDS)}.")
        imp = float(self.importance)
        if not 0.0 <= imp <= 1.0:  # also rejects NaN
            raise ValueError(f"Memory importance must lie in [0, 1], got {self.importance!r}.")
        if not isinstance(self.text, str):
            raise TypeError(f"Memory text must be a str, got {type(self.text).__name__}.")
        # Plain Python numbers (not numpy scalars), so records compare, hash and
        # serialise (Chroma metadata) the same wherever they came from.
        object.__setattr__(self, "agent", int(self.agent))
        object.__setattr__(self, "step", int(self.step))
        object.__setattr__(self, "importance", imp)


@dataclass(frozen=True, slots=True)
class Retrieved:
    """A memory returned by :meth:`MemoryStore.query`, with its score's parts.

    Attributes:
        record: The memory.
        score: ``relevance * recency * importance``.
        relevance: ``(1 + cosine(query, memory)) / 2``, in [0, 1].
        recency: ``decay ** (now - step)``, in (0, 1].
    """

    record: MemoryRecord
    score: float
    relevance: float
    recency: float


@runtime_checkable
class MemoryStore(Protocol):
    """Episodic memory of many agents, batch-first.

    ``add`` only buffers; ``flush`` embeds what was buffered and writes it to the
    backing store in batches (callers call it once per simulation step). Reads
    always see every record added so far, flushed or not.
    """

    def add(self, records: Iterable[MemoryRecord]) -> None:
        """Buffer ``records`` for the next :meth:`flush`."""

    def flush(self) -> None:
        """Embed buffered records and write them to the backing store."""

    def query(
        self, agents: Sequence[int], texts: Sequence[str], k: int, now: int
    ) -> list[list[Retrieved]]:
        """Retrieve up to ``k`` memories per agent, best first.

        Args:
            agents: Agent ids (one query each; an id may repeat).
            texts: One query text per entry of ``agents``.
            k: Memories to return per agent at most.
            now: The current step, for recency.
        """

    def recent(self, agent: int, n: int) -> list[MemoryRecord]:
        """The ``n`` newest memories of ``agent``, newest first."""

    def count(self, agent: int) -> int:
        """How many memories ``agent`` has."""

    def all(self, agent: int) -> list[MemoryRecord]:
        """Every memory of ``agent``, in insertion order."""

    def close(self) -> None:
        """Flush and release resources; the store is unusable afterwards."""
