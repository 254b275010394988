"""How well known an item is, in the words an app shows: "a big hit", "popular", "fairly known", "little known".

A movie app tells its users what is popular (trending rows, rating counts), and
whether a film is a hit is much of what decides whether people pick it. Small
models follow a word better than a count, and a word means the same in a world of
a hundred users as in one of a million. So the scored protocol's watch question
names the item's popularity band (``$popularity`` in ``scored.v2``).

Bands are shares of the catalog ranked by how many training interactions each item
has (:data:`BANDS`: the top 10 % are "a big hit", the next 20 % "popular", the next
30 % "fairly known", the rest "little known"). The cut-off counts are fixed once
from the training split (``Catalog.popularity``); during a run, an item's count is
the platform's count (``PageBatch.popularity``: training plus the run's watches),
so a film that catches on moves up a band.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: ``(share of the catalog, words)`` from the most interacted-with items down.
BANDS: tuple[tuple[float, str], ...] = (
    (0.10, "a big hit"),
    (0.20, "popular"),
    (0.30, "fairly known"),
    (0.40, "little known"),
)


class Popularity:
    """Popularity words of items, from fixed count cut-offs.

    Args:
        counts: ``[n_items]`` training interactions of each item; the cut-offs are
            the counts at the band boundaries of the catalog ranked by them.
    """

    def __init__(self, counts: np.ndarray | Sequence[int]) -> None:
        counts = np.asarray(counts, np.float64)
        if counts.ndim != 1 or not len(counts):
            raise ValueError("popularity needs one count per item (a non-empty 1-D array)")
        ranked = np.sort(counts)[::-1]
        edges = np.cumsum([share for share, _ in BANDS])[:-1]
        # an item is in band b when its count reaches cut[b] (and not cut[b-1])
        cuts = [
            ranked[min(int(np.ceil(round(e * len(ranked), 9))) - 1, len(ranked) - 1)] for e in edges
        ]
        self.cuts = np.maximum(np.asarray(cuts, np.float64), 1.0)
        self.words = tuple(w for _, w in BANDS)

    def band(self, counts: np.ndarray) -> np.ndarray:
        """The band index of each count (0: the most popular band)."""
        c = np.asarray(counts, np.float64)
        return (c[..., None] < self.cuts).sum(axis=-1)

    def describe(self, counts: np.ndarray | Sequence[float]) -> list[str]:
        """The words of each count."""
        return [self.words[b] for b in np.atleast_1d(self.band(np.asarray(counts)))]
