"""``SocialGraph``: who follows whom, as sorted arc arrays that change every step.

An *arc* ``a → b`` means "``a`` follows ``b``": ``a`` sees ``b``'s shares in a
social slot and ``b``'s recent likes pull on ``a``'s choices, weighted by
``trust[a → b]`` (``a``'s trust in ``b``). A friendship graph (``directed=False``)
holds both arcs of every edge, each with its own trust, and a tie is made or
dropped in both directions at once.

Arcs are kept sorted by ``(source, target)`` so lookups are binary searches and
the follow lists are CSR slices; adding or removing ties re-sorts once per
step, which is cheap next to a per-edge Python loop on networkx. networkx is
the exchange format: builders produce a ``networkx`` graph, metrics that need
community detection and the GraphML snapshot convert back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

from simrec.core.arrays import isin_sorted, unique_sorted


def _keys(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    return src.astype(np.int64) * n + dst.astype(np.int64)


@dataclass
class SocialGraph:
    """Follow ties between users ``0..n_users-1`` (struct of arc arrays).

    Attributes:
        n_users: Number of users (nodes).
        directed: Follow graph (``True``) or friendship graph (both arcs of every tie).
        src: ``[A]`` int32 followers, sorted with ``dst`` by ``(src, dst)``.
        dst: ``[A]`` int32 followees.
        trust: ``[A]`` float32 trust of ``src`` in ``dst`` (0..1).
        strikes: ``[A]`` int16 disappointing shares from ``dst`` in a row.
    """

    n_users: int
    directed: bool
    src: np.ndarray
    dst: np.ndarray
    trust: np.ndarray
    strikes: np.ndarray
    _out_ptr: np.ndarray | None = field(default=None, repr=False)
    _in_order: np.ndarray | None = field(default=None, repr=False)
    _in_ptr: np.ndarray | None = field(default=None, repr=False)

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_edges(
        cls, n_users: int, edges: np.ndarray, directed: bool, trust: float = 0.5
    ) -> SocialGraph:
        """Build from ``[E, 2]`` user-index pairs (self-loops and duplicates dropped).

        For a friendship graph each pair is a tie in both directions.
        """
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        if len(e) and (e.min() < 0 or e.max() >= n_users):
            raise ValueError(f"edge endpoints must lie in 0..{n_users - 1}")
        if not directed:
            e = np.concatenate([e, e[:, ::-1]])
        e = e[e[:, 0] != e[:, 1]]
        keys = unique_sorted(_keys(e[:, 0], e[:, 1], n_users))
        src, dst = (keys // n_users).astype(np.int32), (keys % n_users).astype(np.int32)
        return cls(
            n_users, directed, src, dst,
            np.full(len(keys), trust, np.float32), np.zeros(len(keys), np.int16),
        )  # fmt: skip

    @classmethod
    def from_networkx(cls, g: nx.Graph, n_users: int, trust: float = 0.5) -> SocialGraph:
        """Build from a networkx graph whose nodes are user indices (a DiGraph is a follow graph)."""
        edges = np.array(list(g.edges()), dtype=np.int64).reshape(-1, 2)
        return cls.from_edges(n_users, edges, directed=g.is_directed(), trust=trust)

    @classmethod
    def empty(cls, n_users: int, directed: bool = False) -> SocialGraph:
        """A graph without ties."""
        return cls.from_edges(n_users, np.empty((0, 2), np.int64), directed)

    # -- sizes ------------------------------------------------------------------
    @property
    def n_arcs(self) -> int:
        """Number of arcs (follow relations)."""
        return len(self.src)

    @property
    def n_edges(self) -> int:
        """Number of ties: arcs in a follow graph, arcs / 2 in a friendship graph."""
        return self.n_arcs if self.directed else self.n_arcs // 2

    @property
    def keys(self) -> np.ndarray:
        """Sorted ``src * n_users + dst`` keys of the arcs."""
        return _keys(self.src, self.dst, self.n_users)

    def out_degree(self) -> np.ndarray:
        """How many users each user follows."""
        return np.bincount(self.src, minlength=self.n_users)

    def in_degree(self) -> np.ndarray:
        """How many followers each user has."""
        return np.bincount(self.dst, minlength=self.n_users)

    # -- lookups ----------------------------------------------------------------
    def _index(self) -> None:
        if self._out_ptr is None:
            n = self.n_users
            self._out_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.src, minlength=n))]).astype(np.int64)
            self._in_order = np.argsort(self.dst, kind="stable")
            self._in_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.dst, minlength=n))]).astype(np.int64)

    def following_arcs(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arcs leaving ``users``: ``(row, arc)`` where ``row`` indexes ``users``."""
        self._index()
        return _csr_gather(self._out_ptr, np.arange(self.n_arcs), users)  # type: ignore[arg-type]

    def follower_arcs(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arcs entering ``users`` (their followers): ``(row, arc)``."""
        self._index()
        return _csr_gather(self._in_ptr, self._in_order, users)  # type: ignore[arg-type]

    def following(self, user: int) -> np.ndarray:
        """Whom ``user`` follows (sorted)."""
        _, arcs = self.following_arcs(np.array([user]))
        return self.dst[arcs]

    def followers(self, user: int) -> np.ndarray:
        """Who follows ``user`` (sorted)."""
        _, arcs = self.follower_arcs(np.array([user]))
        return np.sort(self.src[arcs])

    def arc_index(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Index of arc ``src[j] → dst[j]`` for each ``j``, or -1 where there is none."""
        keys = self.keys
        q = _keys(np.asarray(src), np.asarray(dst), self.n_users)
        pos = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
        return np.where(isin_sorted(q, keys), pos, -1)

    def has_arc(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Whether ``src[j]`` follows ``dst[j]``."""
        return self.arc_index(src, dst) >= 0

    # -- changes ----------------------------------------------------------------
    def add(self, src: np.ndarray, dst: np.ndarray, trust: float) -> int:
        """Add ties ``src → dst`` (both arcs in a friendship graph); returns ties added.

        Self-ties and ties that exist already are ignored.
        """
        src = np.asarray(src, np.int64)
        dst = np.asarray(dst, np.int64)
        if not self.directed:
            src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        keep = src != dst
        new = unique_sorted(_keys(src[keep], dst[keep], self.n_users))
        new = new[~isin_sorted(new, self.keys)]
        if len(new) == 0:
            return 0
        keys = np.concatenate([self.keys, new])
        order = np.argsort(keys, kind="stable")
        n = self.n_users
        self.src = (keys[order] // n).astype(np.int32)
        self.dst = (keys[order] % n).astype(np.int32)
        self.trust = np.concatenate([self.trust, np.full(len(new), trust, np.float32)])[order]
        self.strikes = np.concatenate([self.strikes, np.zeros(len(new), np.int16)])[order]
        self._invalidate()
        return len(new) if self.directed else len(new) // 2

    def remove(self, arcs: np.ndarray) -> int:
        """Drop the given arc indices (and their reverse arcs in a friendship graph); returns ties dropped."""
        arcs = unique_sorted(np.asarray(arcs, np.int64))
        if len(arcs) == 0:
            return 0
        if not self.directed:
            rev = self.arc_index(self.dst[arcs], self.src[arcs])
            arcs = unique_sorted(np.concatenate([arcs, rev[rev >= 0]]))
        keep = np.ones(self.n_arcs, bool)
        keep[arcs] = False
        self.src, self.dst = self.src[keep], self.dst[keep]
        self.trust, self.strikes = self.trust[keep], self.strikes[keep]
        self._invalidate()
        return len(arcs) if self.directed else len(arcs) // 2

    def _invalidate(self) -> None:
        self._out_ptr = self._in_order = self._in_ptr = None

    def copy(self) -> SocialGraph:
        """An independent copy."""
        return SocialGraph(
            self.n_users, self.directed, self.src.copy(), self.dst.copy(), self.trust.copy(), self.strikes.copy()
        )

    # -- exchange -------------------------------------------------------------
    def edges(self) -> np.ndarray:
        """``[E, 2]`` ties: arcs of a follow graph, each friendship once (``source < target``)."""
        if self.directed:
            return np.stack([self.src, self.dst], axis=1)
        once = self.src < self.dst
        return np.stack([self.src[once], self.dst[once]], axis=1)

    def edges_frame(self) -> pd.DataFrame:
        """Ties as a frame with ``source`` and ``target`` user indices."""
        e = self.edges()
        return pd.DataFrame({"source": e[:, 0].astype(np.int32), "target": e[:, 1].astype(np.int32)})

    def arcs_frame(self) -> pd.DataFrame:
        """Every arc with its trust and strikes (``source`` follows ``target``)."""
        return pd.DataFrame(
            {"source": self.src, "target": self.dst, "trust": self.trust, "strikes": self.strikes}
        )

    def to_networkx(self, attributes: bool = True) -> nx.Graph:
        """A networkx copy (``DiGraph`` of arcs, or ``Graph`` of friendships) over all users.

        Nodes are the user indices ``0..n_users-1``. With ``attributes``, each arc of a
        follow graph carries its state, ``trust`` (float) and ``strikes`` (int); each
        friendship carries both sides' state: ``trust_source`` / ``strikes_source`` of the
        arc ``source → target`` (``source`` the smaller index) and ``trust_target`` /
        ``strikes_target`` of the arc back. Values are Python scalars (GraphML-ready).
        """
        g: nx.Graph = nx.DiGraph() if self.directed else nx.Graph()
        g.add_nodes_from(range(self.n_users))
        if not attributes:
            g.add_edges_from(self.edges().tolist())
            return g
        src, dst = self.src.tolist(), self.dst.tolist()
        trust, strikes = self.trust.tolist(), self.strikes.tolist()
        if self.directed:
            arcs = zip(src, dst, trust, strikes, strict=True)
            g.add_edges_from((a, b, {"trust": t, "strikes": k}) for a, b, t, k in arcs)
            return g
        once = np.nonzero(self.src < self.dst)[0]
        back = self.arc_index(self.dst[once], self.src[once])
        g.add_edges_from(
            (src[i], dst[i], {"trust_source": trust[i], "strikes_source": strikes[i],
                              "trust_target": trust[j], "strikes_target": strikes[j]})
            for i, j in zip(once.tolist(), back.tolist(), strict=True)
        )  # fmt: skip
        return g


def _csr_gather(ptr: np.ndarray, order: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate CSR rows ``users``: ``(row index into users, entry)`` pairs, vectorised."""
    users = np.asarray(users, np.int64)
    start, stop = ptr[users], ptr[users + 1]
    counts = stop - start
    row = np.repeat(np.arange(len(users)), counts)
    if len(row) == 0:
        return row, np.empty(0, np.int64)
    offsets = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, order[np.repeat(start, counts) + offsets]
