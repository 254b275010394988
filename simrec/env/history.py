"""The run's simulated watches, kept on disk for the recommender's refits.

A recommender that refits every ``retrain_every`` steps trains on the training
split plus every watch the run produced so far. Kept in memory, that history
grows with every step; :class:`InteractionLog` appends each step's watches to a
:class:`~simrec.io.records.RecordLog` instead and reads it back only for a
refit, so a long run's memory stays flat.

In a run folder the file is ``checkpoints/interactions.bin`` (20 bytes a watch:
user, item, stars, timestamp); a checkpoint records its row count and a resumed
run cuts it back to that. Without a folder it is an anonymous temporary file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrec.data.types import Interactions
from simrec.io.records import RecordLog

#: One watch on disk.
RECORD = np.dtype([("user", "<i4"), ("item", "<i4"), ("rating", "<f4"), ("timestamp", "<i8")])
#: The file's name in a run's ``checkpoints/`` folder.
HISTORY_NAME = "interactions.bin"


class InteractionLog:
    """Watches appended step by step, read back whole.

    Args:
        path: The file; ``None`` for an anonymous temporary file.
        rows: Rows to keep of an existing file (a resume).
    """

    def __init__(self, path: Path | None = None, rows: int | None = None) -> None:
        self.log = RecordLog(path, RECORD, rows)

    @property
    def path(self) -> Path | None:
        """The file (``None``: anonymous)."""
        return self.log.path

    def __len__(self) -> int:
        return len(self.log)

    def append(self, interactions: Interactions) -> None:
        """Append ``interactions``."""
        rec = np.empty(len(interactions), RECORD)
        rec["user"], rec["item"] = interactions.user, interactions.item
        rec["rating"], rec["timestamp"] = interactions.rating, interactions.timestamp
        self.log.append(rec)

    def read(self) -> Interactions:
        """Every watch appended so far, in order."""
        rec = self.log.read()
        return Interactions(*(np.ascontiguousarray(rec[n]) for n in ("user", "item", "rating", "timestamp")))

    def sync(self) -> None:
        """Make the appended watches durable."""
        self.log.sync()

    def close(self) -> None:
        """Close the file."""
        self.log.close()
