"""What a step writes to the event log, as ``run.log`` says.

* ``events`` — every event row (impressions, clicks, skips, ratings, shares, exits);
* ``interactions`` — no impression or skip rows (clicks, ratings, shares, exits: what
  exports, augmentation and refits read); about 3 % of the rows at the default rates;
* ``aggregates`` — no event rows at all; per step and item, the counts of impressions,
  clicks, ratings, stars and shares go to ``item_steps.parquet/step-NNNNN.parquet``
  (one part per step, written atomically), next to ``metrics.parquet``'s per-step totals.

At a million users the log is the cost of a run (tens of millions of rows a step), so
rows are built and written in blocks of at most ``run.chunk_rows``: a step's events are
never in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.env.record import LOG_KINDS, PageRows, page_event_blocks
from simrec.io.events import EventSink
from simrec.io.manifest import atomic_path

#: The folder of a run's per-step item counts (``run.log: aggregates``).
ITEM_STEPS_DIRNAME = "item_steps.parquet"
#: Columns of ``item_steps.parquet``, in order.
ITEM_STEP_COLUMNS = ("step", "item", "impressions", "clicks", "ratings", "stars", "shares")


def item_steps_part(directory: Path, step: int) -> Path:
    """The part file of ``step``'s item counts."""
    return Path(directory) / f"step-{int(step):05d}.parquet"


class StepLog:
    """Writes each step's pages to the event sink, or their per-item counts.

    Args:
        mode: ``run.log``: ``events``, ``interactions`` or ``aggregates``.
        sink: The event sink (``None``: nothing is written, e.g. quick experiments).
        n_items: Catalog size (the per-item counts of ``aggregates``).
        item_steps_dir: Where ``aggregates`` writes its parts (``None``: not written).
    """

    def __init__(self, mode: str, sink: EventSink | None, n_items: int, item_steps_dir: Path | None = None) -> None:
        if mode not in LOG_KINDS:
            raise ValueError(f"run.log must be one of {sorted(LOG_KINDS)}, got {mode!r}")
        self.mode = mode
        self.kinds = LOG_KINDS[mode]
        self.sink = sink
        self.n_items = int(n_items)
        self.item_steps_dir = None if item_steps_dir is None else Path(item_steps_dir)
        #: The per-item counts of the latest step (``aggregates``), else ``None``.
        self.last_counts: dict[str, np.ndarray] | None = None

    def write(self, step: int, pages: Iterable[PageRows]) -> int:
        """Write one step's pages; returns the event rows written (0 with ``aggregates``).

        With ``aggregates`` the step's per-item counts are kept in :attr:`last_counts`
        and written to ``item_steps_dir`` when there is one.
        """
        self.last_counts: dict[str, np.ndarray] | None = None
        if self.mode == "aggregates":
            self.last_counts = self.counts(pages)
            self.write_counts(step, self.last_counts)
            return 0
        rows = 0
        chunk = self.sink.chunk_rows if self.sink is not None else 1 << 20
        for page in pages:
            for block in page_event_blocks(page, chunk, self.kinds):
                rows += len(block)
                if self.sink is not None:
                    self.sink.append(block)
        return rows

    def counts(self, pages: Iterable[PageRows]) -> dict[str, np.ndarray]:
        """Per-item ``impressions``, ``clicks``, ``ratings``, ``stars`` (sum) and ``shares`` of the pages."""
        n = self.n_items
        counts = {name: np.zeros(n, np.int64) for name in ("impressions", "clicks", "ratings", "shares")}
        counts["stars"] = np.zeros(n, np.float64)
        for p in pages:
            items = p.items.reshape(-1)
            ratings = p.decisions.ratings.reshape(-1)
            counts["impressions"] += np.bincount(items, minlength=n)
            counts["clicks"] += np.bincount(items[p.decisions.clicks.reshape(-1)], minlength=n)
            rated = ratings > 0
            counts["ratings"] += np.bincount(items[rated], minlength=n)
            counts["stars"] += np.bincount(items[rated], weights=ratings[rated].astype(np.float64), minlength=n)
            if p.shares is not None:
                counts["shares"] += np.bincount(items[p.shares.reshape(-1)], minlength=n)
        return counts

    def write_counts(self, step: int, counts: dict[str, np.ndarray]) -> None:
        """Write one step's per-item counts (items shown at least once) as ``step-NNNNN.parquet``."""
        if self.item_steps_dir is None:
            return
        keep = np.flatnonzero(counts["impressions"])
        frame = pd.DataFrame({"step": np.full(len(keep), step, np.int32), "item": keep.astype(np.int32),
                              **{k: counts[k][keep] for k in ITEM_STEP_COLUMNS[2:]}})  # fmt: skip
        self.item_steps_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(item_steps_part(self.item_steps_dir, step)) as tmp:
            frame.to_parquet(tmp, index=False)
