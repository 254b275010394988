"""``memory``: a memory store held in numpy arrays only.

The fast fake for unit tests (ours and users'): the same buffering, embedding
and retrieval as the ChromaDB store, without persistence. The ChromaDB store
subclasses it and adds the writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Self

import numpy as np

from simrec.memory.base import MemoryRecord, MemoryStoreError, Retrieved
from simrec.memory.embedders import EMBEDDERS, Embedder
from simrec.memory.scoring import MemoryMirror


def resolve_embedder(embedder: Embedder | str) -> Embedder:
    """Return ``embedder``, building it first when given by registry name."""
    if isinstance(embedder, str):
        return EMBEDDERS.get(embedder)()
    if not hasattr(embedder, "embed") or not hasattr(embedder, "dim"):
        raise MemoryStoreError(
            f"{type(embedder).__name__} is not an embedder: it needs a 'dim' attribute and an "
            "'embed(texts) -> ndarray' method (see simrec.memory.embedders)."
        )
    return embedder


class InMemoryStore:
    """Agents' memories in process memory, with batched retrieval.

    ``add`` buffers records; the buffer is embedded (one ``embed`` call) when it
    is flushed or when anything is read, so reads always see every record.

    Args:
        embedder: An embedder, or its name in ``EMBEDDERS`` (e.g. ``"hashing"``).
        decay: Recency decay per step, in (0, 1].
    """

    name = "memory"

    def __init__(self, embedder: Embedder | str = "hashing", decay: float = 0.95) -> None:
        self.embedder = resolve_embedder(embedder)
        self.mirror = MemoryMirror(self.embedder.dim, decay)
        self._pending: list[MemoryRecord] = []
        self._closed = False
        self.stats: dict[str, float] = {"embed_s": 0.0, "embedded": 0}

    @property
    def decay(self) -> float:
        """Recency decay per step."""
        return self.mirror.decay

    def _check_open(self) -> None:
        if self._closed:
            raise MemoryStoreError(
                f"This {type(self).__name__} is closed; open a new one to use it again."
            )

    def _embed(self, texts: list[str]) -> np.ndarray:
        t0 = time.perf_counter()
        vecs = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        self.stats["embed_s"] += time.perf_counter() - t0
        self.stats["embedded"] += len(texts)
        if vecs.shape != (len(texts), self.mirror.dim):
            raise MemoryStoreError(
                f"Embedder {type(self.embedder).__name__} returned shape {vecs.shape} for {len(texts)} texts; "
                f"expected ({len(texts)}, {self.mirror.dim})."
            )
        return vecs

    def _ingest(self) -> None:
        """Embed the buffered records and append them to the mirror."""
        if not self._pending:
            return
        records, self._pending = self._pending, []
        try:
            vecs = self._embed([r.text for r in records])
        except BaseException:
            self._pending = records + self._pending  # nothing is lost on a failed embed
            raise
        seqs = self.mirror.append(records, vecs)
        self._ingested(records, vecs, seqs)

    def _ingested(self, records: list[MemoryRecord], vecs: np.ndarray, seqs: np.ndarray) -> None:
        """Hook: records just entered the mirror (the Chroma store queues them for writing)."""

    # -- MemoryStore ---------------------------------------------------------

    def add(self, records: Iterable[MemoryRecord]) -> None:
        """Buffer ``records`` for the next :meth:`flush`."""
        self._check_open()
        batch = list(records)
        for r in batch:
            if not isinstance(r, MemoryRecord):
                raise TypeError(
                    f"MemoryStore.add takes MemoryRecord objects, got {type(r).__name__}."
                )
        self._pending.extend(batch)

    def flush(self) -> None:
        """Embed buffered records (one batched call) and add them to the mirror."""
        self._check_open()
        self._ingest()

    def query(
        self, agents: Sequence[int], texts: Sequence[str], k: int, now: int
    ) -> list[list[Retrieved]]:
        """Up to ``k`` memories per agent for its query text, best first.

        Score: ``relevance * recency * importance`` (see :mod:`simrec.memory.scoring`).
        """
        self._check_open()
        if len(agents) != len(texts):
            raise ValueError(
                f"query got {len(agents)} agents but {len(texts)} texts; give one text per agent."
            )
        self._ingest()
        qvecs = (
            self._embed(list(texts)) if len(texts) else np.zeros((0, self.mirror.dim), np.float32)
        )
        return self.mirror.query(agents, qvecs, int(k), int(now))

    def recent(self, agent: int, n: int) -> list[MemoryRecord]:
        """The ``n`` newest memories of ``agent`` (by step, then insertion), newest first."""
        self._check_open()
        self._ingest()
        return self.mirror.recent(agent, n)

    def count(self, agent: int) -> int:
        """How many memories ``agent`` has."""
        self._check_open()
        self._ingest()
        return self.mirror.count(agent)

    def all(self, agent: int) -> list[MemoryRecord]:
        """Every memory of ``agent``, in insertion order."""
        self._check_open()
        self._ingest()
        return [self.mirror.record(r) for r in self.mirror.rows(agent)]

    def __len__(self) -> int:
        return self.mirror.n + len(self._pending)

    def close(self) -> None:
        """Flush and mark the store closed (idempotent)."""
        if self._closed:
            return
        self.flush()
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
