"""Item agents (after AgentCF): profiles that change with who watched an item and why.

Each item starts from its catalog text. After a step in which LLM-driven users
rated it, its profile is rewritten from what it has collected so far: how many
watched, the mean rating, which tastes liked it and which did not, and the
latest reason given. Profiles are versioned: every change is a row of
``item_profiles.parquet`` (item, step, version, text), and the current profile
is what prompts show in place of the bare catalog text. With a memory store,
every version is also written to ChromaDB as a ``profile`` memory of the item
agent (agent id = item index, in the run's ``<run>-items`` collection), so
profiles can be retrieved by meaning and survive the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simrec.memory.base import MemoryRecord, MemoryStore
from simrec.world.catalog import Catalog


@dataclass(frozen=True)
class ItemFeedback:
    """Ratings of one step: parallel arrays plus reasons (``""`` where none)."""

    items: np.ndarray
    stars: np.ndarray
    liker_genre: np.ndarray  # the rater's favourite genre index (-1 unknown)
    reasons: list[str]


class ItemProfiles:
    """Current and past profile texts of every item.

    Args:
        catalog: The catalog (starting texts and genre names).
        store: Where profile versions are kept (ChromaDB in runs); ``None`` keeps them in memory only.
    """

    def __init__(self, catalog: Catalog, store: MemoryStore | None = None) -> None:
        self.catalog = catalog
        self.store = store
        n, g = catalog.n_items, len(catalog.genre_names)
        self.current: list[str] = [str(t) for t in catalog.text]
        self.version = np.zeros(n, np.int32)
        self.watched = np.zeros(n, np.int64)
        self.star_sum = np.zeros(n, np.float64)
        self.liked_by = np.zeros((n, max(g, 1)), np.int64)
        self.disliked_by = np.zeros((n, max(g, 1)), np.int64)
        self.last_reason: dict[int, str] = {}
        self.learned: dict[int, str] = {}
        self.history: list[tuple[int, int, int, str]] = []

    def text(self, item: int) -> str:
        """The item's current profile (catalog text plus what it has learned)."""
        return self.current[item]

    def summary(self, item: int) -> str:
        """Only what the item has learned from viewers (``""`` before anyone rated it)."""
        return self.learned.get(item, "")

    def observe(self, step: int, feedback: ItemFeedback) -> list[int]:
        """Take a step's ratings; rewrite and version the profiles that changed."""
        if not len(feedback.items):
            return []
        items = feedback.items.astype(np.int64)
        np.add.at(self.watched, items, 1)
        np.add.at(self.star_sum, items, feedback.stars.astype(np.float64))
        known = feedback.liker_genre >= 0
        liked = known & (feedback.stars >= 4)
        disliked = known & (feedback.stars <= 2)
        np.add.at(self.liked_by, (items[liked], feedback.liker_genre[liked]), 1)
        np.add.at(self.disliked_by, (items[disliked], feedback.liker_genre[disliked]), 1)
        for i, reason in zip(items, feedback.reasons, strict=True):
            if reason:
                self.last_reason[int(i)] = reason
        changed = sorted(set(int(i) for i in items))
        for i in changed:
            self.current[i] = self._render(i)
            self.version[i] += 1
            self.history.append((i, step, int(self.version[i]), self.current[i]))
        if self.store is not None and changed:
            self.store.add([MemoryRecord(i, step, "profile", self.current[i], 1.0) for i in changed])
            self.store.flush()
        return changed

    def close(self) -> None:
        """Close the profile store."""
        if self.store is not None:
            self.store.close()

    def _render(self, i: int) -> str:
        names = self.catalog.genre_names
        parts: list[str] = []
        n = int(self.watched[i])
        parts.append(f"Watched by {n} viewer{'s' if n != 1 else ''} here, avg {self.star_sum[i] / n:.1f}/5.")
        if names:
            top = [names[g] for g in np.argsort(-self.liked_by[i], kind="stable")[:2] if self.liked_by[i, g] > 0]
            low = [names[g] for g in np.argsort(-self.disliked_by[i], kind="stable")[:1] if self.disliked_by[i, g] > 0]
            if top:
                parts.append(f"Liked by {' and '.join(top)} fans.")
            if low:
                parts.append(f"Disappointed {low[0]} fans.")
        if i in self.last_reason:
            parts.append(f"Latest comment: {self.last_reason[i]}")
        self.learned[i] = " ".join(parts)
        return f"{self.catalog.text[i]} {self.learned[i]}"

    def history_frame(self) -> pd.DataFrame:
        """Every profile version: item, step, version, text."""
        return pd.DataFrame(self.history, columns=["item", "step", "version", "text"]).astype(
            {"item": "int32", "step": "int32", "version": "int32"}
        )
