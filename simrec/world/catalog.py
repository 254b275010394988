"""The item catalog: what a recommender (and a user) can see of the items."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simrec.data.types import Dataset, Interactions


@dataclass
class Catalog:
    """Public item data as arrays indexed by item index.

    Attributes:
        item_ids: Raw item identifiers (as in the source data).
        titles: Item titles.
        text: Short text descriptions.
        genres: ``[n_items, n_genres]`` bool multi-hot attribute matrix.
        genre_names: Names of the genre columns.
        popularity: Interaction counts in the training data (``float32``).
        attributes: Any further public attribute columns, one row per item.
    """

    item_ids: np.ndarray
    titles: np.ndarray
    text: np.ndarray
    genres: np.ndarray
    genre_names: list[str]
    popularity: np.ndarray
    attributes: pd.DataFrame

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.item_ids)

    @classmethod
    def from_dataset(cls, dataset: Dataset, train: Interactions) -> Catalog:
        """Build the catalog of ``dataset`` with popularity counted on ``train``."""
        items = dataset.items
        extra = items.drop(columns=[c for c in ("item_id", "title", "text") if c in items])
        pop = np.bincount(train.item, minlength=dataset.n_items).astype(np.float32)
        return cls(
            item_ids=items["item_id"].to_numpy(),
            titles=items["title"].astype(str).to_numpy(),
            text=items["text"].astype(str).to_numpy(),
            genres=np.asarray(dataset.genres, dtype=bool),
            genre_names=list(dataset.genre_names),
            popularity=pop,
            attributes=extra.reset_index(drop=True),
        )

    def neutral(self) -> Catalog:
        """The catalog with every item named ``"Item <raw id>"`` and its description dropped.

        What agents (personas, prompts, memories, tuning examples, the text guard, the LLM
        reranker) read of an item is then its genres and popularity, never a name or text a
        language model may have memorised (``agents.item_names: neutral``).
        """
        names = np.array([f"Item {i}" for i in self.item_ids], dtype=object)
        return dataclasses.replace(self, titles=names, text=np.full(self.n_items, "", dtype=object))

    def to_frame(self) -> pd.DataFrame:
        """One row per item: index, raw id, title, text, genres (``|``-joined), popularity."""
        names = np.asarray(self.genre_names, dtype=object)
        genre_text = ["|".join(names[row]) for row in self.genres]
        df = pd.DataFrame(
            {
                "item": np.arange(self.n_items, dtype=np.int32),
                "item_id": self.item_ids,
                "title": self.titles,
                "text": self.text,
                "genres": genre_text,
                "popularity": self.popularity,
            }
        )
        return pd.concat([df, self.attributes.reset_index(drop=True)], axis=1)
