"""Retrieval scoring over an in-process mirror of every agent's memories.

Generative-Agents style retrieval, multiplicative::

    score = relevance * recency * importance
    relevance = (1 + cosine(query, memory)) / 2        in [0, 1]
    recency   = decay ** max(now - step, 0)            in (0, 1]

Ties go to the newer memory (higher step), then to the one inserted first.

:class:`MemoryMirror` keeps memories as a struct of arrays (embeddings
``float32 [n, d]``, agent, step, importance, insertion sequence) plus an index of
rows sorted by agent, maintained incrementally. A batch query gathers all
candidate rows of the batch's agents, scores them in one vectorised pass per
chunk and ranks them per agent with one ``lexsort``; Python loops only over the
output lists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simrec.memory.base import KINDS, MemoryRecord, Retrieved

_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
# Bytes of gathered candidate embeddings scored at once (times two with the
# gathered query vectors); bounds the temporaries of a 10,000-agent query.
_CHUNK_BYTES = 32 * 2**20


def retrieval_scores(
    cosine: np.ndarray, steps: np.ndarray, importance: np.ndarray, now: int, decay: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score candidates from their cosine similarity, step and importance.

    Args:
        cosine: Cosine similarity of each candidate to its query.
        steps: Step each candidate was formed at.
        importance: Importance of each candidate, in [0, 1].
        now: The current step.
        decay: Recency decay per step, in (0, 1].

    Returns:
        ``(score, relevance, recency)``, float64 arrays like ``cosine``.
    """
    relevance = np.clip((1.0 + cosine.astype(np.float64)) * 0.5, 0.0, 1.0)
    age = np.maximum(int(now) - steps.astype(np.int64), 0)
    recency = np.power(float(decay), age.astype(np.float64))
    return relevance * recency * importance, relevance, recency


class MemoryMirror:
    """Every memory of every agent, as numpy arrays, with batched retrieval.

    Args:
        dim: Embedding dimension.
        decay: Recency decay per step, in (0, 1].
    """

    def __init__(self, dim: int, decay: float = 0.95) -> None:
        if not 0.0 < float(decay) <= 1.0:
            raise ValueError(f"Memory decay must lie in (0, 1], got {decay!r}.")
        self.dim = int(dim)
        self.decay = float(decay)
        self.n = 0
        cap = 1024
        self._emb = np.zeros((cap, self.dim), np.float32)
        self._agent = np.zeros(cap, np.int64)
        self._step = np.zeros(cap, np.int64)
        self._imp = np.zeros(cap, np.float64)  # float64 so records round-trip exactly
        self._seq = np.zeros(cap, np.int64)
        self._kind = np.zeros(cap, np.int8)
        self._text: list[str] = []
        # Rows sorted by agent (stable: insertion order within an agent), and
        # the agent of each of those rows, for searchsorted lookups.
        self._order = np.zeros(0, np.int64)
        self._sorted_agent = np.zeros(0, np.int64)
        self._indexed = 0

    # -- writing -----------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """The insertion sequence number the next appended record gets."""
        return int(self._seq[self.n - 1]) + 1 if self.n else 0

    def _reserve(self, extra: int) -> None:
        need = self.n + extra
        cap = len(self._agent)
        if need <= cap:
            return
        new_cap = max(need, 2 * cap)
        emb = np.zeros((new_cap, self.dim), np.float32)
        emb[: self.n] = self._emb[: self.n]
        self._emb = emb
        for name in ("_agent", "_step", "_imp", "_seq", "_kind"):
            old = getattr(self, name)
            new = np.zeros(new_cap, old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def append(
        self,
        records: Sequence[MemoryRecord],
        embeddings: np.ndarray,
        seqs: np.ndarray | None = None,
    ) -> np.ndarray:
        """Append records with their embeddings.

        Args:
            records: The records.
            embeddings: ``[len(records), dim]`` unit vectors.
            seqs: Insertion sequence numbers (when loading a saved store, in
                increasing order); by default they continue from :attr:`next_seq`.

        Returns:
            The sequence numbers given to the records.
        """
        m = len(records)
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.shape != (m, self.dim):
            raise ValueError(f"Expected embeddings of shape ({m}, {self.dim}), got {emb.shape}.")
        if seqs is None:
            seqs = np.arange(self.next_seq, self.next_seq + m, dtype=np.int64)
        seqs = np.asarray(seqs, np.int64)
        if m == 0:
            return seqs
        self._reserve(m)
        sl = slice(self.n, self.n + m)
        self._emb[sl] = emb
        self._agent[sl] = [r.agent for r in records]
        self._step[sl] = [r.step for r in records]
        self._imp[sl] = [r.importance for r in records]
        self._kind[sl] = [_KIND_CODE[r.kind] for r in records]
        self._seq[sl] = seqs
        self._text.extend(r.text for r in records)
        self.n += m
        return seqs

    def _index(self) -> None:
        """Merge rows appended since the last call into the by-agent index."""
        if self._indexed == self.n:
            return
        new = np.arange(self._indexed, self.n, dtype=np.int64)
        new = new[np.argsort(self._agent[new], kind="stable")]
        new_agent = self._agent[new]
        # side="right": new rows go after an agent's older rows; np.insert keeps
        # the given order among equal positions, so insertion order survives.
        pos = np.searchsorted(self._sorted_agent, new_agent, side="right")
        self._order = np.insert(self._order, pos, new)
        self._sorted_agent = np.insert(self._sorted_agent, pos, new_agent)
        self._indexed = self.n

    # -- reading -----------------------------------------------------------

    def rows(self, agent: int) -> np.ndarray:
        """Rows of ``agent``'s memories, in insertion order."""
        self._index()
        lo = int(np.searchsorted(self._sorted_agent, agent, side="left"))
        hi = int(np.searchsorted(self._sorted_agent, agent, side="right"))
        return self._order[lo:hi]

    def record(self, row: int) -> MemoryRecord:
        """The record stored at ``row``."""
        return MemoryRecord(
            agent=int(self._agent[row]),
            step=int(self._step[row]),
            kind=KINDS[self._kind[row]],
            text=self._text[row],
            importance=float(self._imp[row]),
        )

    def embeddings(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Embeddings of ``rows`` (all rows by default), a copy."""
        return self._emb[: self.n].copy() if rows is None else self._emb[rows]

    def seqs(self, rows: np.ndarray) -> np.ndarray:
        """Insertion sequence numbers of ``rows``."""
        return self._seq[rows]

    def recent(self, agent: int, n: int) -> list[MemoryRecord]:
        """The ``n`` newest memories of ``agent`` (by step, then insertion), newest first."""
        rows = self.rows(agent)
        rows = rows[np.lexsort((-self._seq[rows], -self._step[rows]))][: max(int(n), 0)]
        return [self.record(r) for r in rows]

    def count(self, agent: int) -> int:
        """How many memories ``agent`` has."""
        return len(self.rows(agent))

    def query(
        self, agents: Sequence[int], queries: np.ndarray, k: int, now: int
    ) -> list[list[Retrieved]]:
        """Top-``k`` memories per query, scored by :func:`retrieval_scores`.

        Args:
            agents: One agent id per query (ids may repeat).
            queries: ``[len(agents), dim]`` unit query vectors.
            k: Results per query at most.
            now: The current step.

        Returns:
            One list per query, best first.
        """
        agents_arr = np.asarray(agents, dtype=np.int64).reshape(-1)
        q = np.asarray(queries, dtype=np.float32)
        if q.shape != (len(agents_arr), self.dim):
            raise ValueError(
                f"Expected query vectors of shape ({len(agents_arr)}, {self.dim}), got {q.shape}."
            )
        out: list[list[Retrieved]] = [[] for _ in range(len(agents_arr))]
        if k <= 0 or self.n == 0 or len(agents_arr) == 0:
            return out
        self._index()
        lo = np.searchsorted(self._sorted_agent, agents_arr, side="left")
        counts = np.searchsorted(self._sorted_agent, agents_arr, side="right") - lo
        # Chunks of consecutive queries whose candidates fit the byte budget.
        budget = max(_CHUNK_BYTES // (4 * self.dim), 1)
        ends = np.cumsum(counts)
        start = 0
        while start < len(agents_arr):
            base = ends[start - 1] if start else 0
            stop = max(int(np.searchsorted(ends, base + budget, side="right")), start + 1)
            self._query_chunk(
                out, slice(start, stop), lo[start:stop], counts[start:stop], q, k, now
            )
            start = stop
        return out

    def _query_chunk(
        self,
        out: list[list[Retrieved]],
        sl: slice,
        lo: np.ndarray,
        counts: np.ndarray,
        q: np.ndarray,
        k: int,
        now: int,
    ) -> None:
        total = int(counts.sum())
        if total == 0:
            return
        seg_start = np.cumsum(counts) - counts
        seg = np.repeat(np.arange(len(counts)), counts)
        rows = self._order[np.arange(total) - seg_start[seg] + lo[seg]]
        cosine = np.einsum("ij,ij->i", self._emb[rows], q[sl][seg])
        score, rel, rec = retrieval_scores(
            cosine, self._step[rows], self._imp[rows], now, self.decay
        )
        rank_order = np.lexsort((self._seq[rows], -self._step[rows], -score, seg))
        rank = np.arange(total) - seg_start[seg[rank_order]]
        keep = rank_order[rank < k]
        kept_counts = np.minimum(counts, k)
        bounds = np.concatenate(([0], np.cumsum(kept_counts)))
        keep_rows = rows[keep].tolist()
        keep_score, keep_rel, keep_rec = (
            score[keep].tolist(),
            rel[keep].tolist(),
            rec[keep].tolist(),
        )
        for i, qi in enumerate(range(sl.start, sl.stop)):
            out[qi] = [
                Retrieved(self.record(keep_rows[j]), keep_score[j], keep_rel[j], keep_rec[j])
                for j in range(bounds[i], bounds[i + 1])
            ]
