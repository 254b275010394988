"""A hand-made world where the right answer is known: each user likes exactly one genre.

4 genres × 60 items; user ``u`` rated every item of genre ``u % 4`` (5 stars) and
nothing else, so a random 20 % split holds out 12 items of that genre per user and
every never-seen item belongs to another genre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simrec.agents.policies.base import Decisions, PageBatch
from simrec.config import load_scenario
from simrec.config.schema import ScenarioConfig

N_GENRES, PER_GENRE, N_USERS = 4, 60, 40
GENRES = ["Action", "Comedy", "Drama", "Horror"]


def one_genre_scenario(tmp_path: Path) -> ScenarioConfig:
    """Write the hand-made data set under ``tmp_path`` and return a scenario over it."""
    return load_scenario(data=one_genre_data(tmp_path))


def one_genre_data(tmp_path: Path) -> dict:
    """Write the hand-made data set under ``tmp_path``; the scenario as a mapping."""
    items = pd.DataFrame({
        "item_id": np.arange(N_GENRES * PER_GENRE),
        "title": [f"Movie {i}" for i in range(N_GENRES * PER_GENRE)],
        "genres": [GENRES[i // PER_GENRE] for i in range(N_GENRES * PER_GENRE)],
    })  # fmt: skip
    rows = [(u, g * PER_GENRE + j, 5.0, 1000 * u + j) for u in range(N_USERS) for g in [u % N_GENRES] for j in range(PER_GENRE)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    inter.to_csv(tmp_path / "ratings.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    data = {
        "name": "one_genre",
        "seed": 5,
        "environment": {
            "data": {"source": "file", "path": str(tmp_path / "ratings.csv"), "items_path": str(tmp_path / "items.csv"),
                     "split": {"kind": "random", "holdout_fraction": 0.2}},
            "page_size": 5,
            "pages_per_session": 3,
        },
        "recommender": {"name": "most_popular"},
        "run": {"steps": 2, "output_dir": str(tmp_path / "runs"), "export": []},
    }
    return data


class FakePicker:
    """A policy that watches the items ``pick(users, items)`` says (and rates them 4 stars)."""

    name = "fake"

    def __init__(self, pick) -> None:
        self.pick = pick
        self.seen_batches: list[PageBatch] = []

    def decide(self, batch: PageBatch) -> Decisions:
        self.seen_batches.append(batch)
        clicks = np.asarray(self.pick(batch.users, batch.items), bool)
        n = len(batch.users)
        return Decisions(clicks, np.where(clicks, 4, 0).astype(np.int8), np.zeros(n, bool),
                         batch.satisfaction, batch.fatigue).validate(batch)  # fmt: skip
