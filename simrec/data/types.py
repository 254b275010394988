"""The in-memory shape of a data set: interactions plus item and user tables.

Users and items are identified by dense integer indices ``0..n-1`` everywhere
inside simrec (struct-of-arrays friendly); the original identifiers ("raw ids",
as found in the source files) live in ``Dataset.items["item_id"]`` and
``Dataset.users["user_id"]`` and come back in exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from simrec.core.errors import DataError
from simrec.data.scale import WHOLE_STARS, RatingScale

INTERACTION_COLUMNS = ("user", "item", "rating", "timestamp")


@dataclass(frozen=True)
class Interactions:
    """A batch of user-item interactions as parallel arrays.

    Attributes:
        user: ``int32`` user indices.
        item: ``int32`` item indices.
        rating: ``float32`` ratings; ``NaN`` where the interaction has no rating.
        timestamp: ``int64`` seconds (or simulation time) of each interaction.
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.user)
        for name in ("item", "rating", "timestamp"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Interactions.{name} has {len(getattr(self, name))} rows, user has {n}")

    @classmethod
    def from_arrays(
        cls,
        user: np.ndarray,
        item: np.ndarray,
        rating: np.ndarray | None = None,
        timestamp: np.ndarray | None = None,
    ) -> Interactions:
        """Build from array-likes, filling a missing rating with NaN and timestamp with 0."""
        user = np.asarray(user, dtype=np.int32)
        n = len(user)
        return cls(
            user=user,
            item=np.asarray(item, dtype=np.int32),
            rating=np.full(n, np.nan, np.float32) if rating is None else np.asarray(rating, np.float32),
            timestamp=np.zeros(n, np.int64) if timestamp is None else np.asarray(timestamp, np.int64),
        )

    @classmethod
    def empty(cls) -> Interactions:
        """An interaction table with no rows."""
        return cls.from_arrays(np.empty(0, np.int32), np.empty(0, np.int32))

    @classmethod
    def concat(cls, parts: list[Interactions]) -> Interactions:
        """Concatenate several tables, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            user=np.concatenate([p.user for p in parts]),
            item=np.concatenate([p.item for p in parts]),
            rating=np.concatenate([p.rating for p in parts]),
            timestamp=np.concatenate([p.timestamp for p in parts]),
        )

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Interactions:
        """Build from a frame with columns ``user``, ``item`` and optional ``rating``, ``timestamp``."""
        return cls.from_arrays(
            df["user"].to_numpy(),
            df["item"].to_numpy(),
            df["rating"].to_numpy() if "rating" in df else None,
            df["timestamp"].to_numpy() if "timestamp" in df else None,
        )

    def __len__(self) -> int:
        return len(self.user)

    def take(self, index: np.ndarray) -> Interactions:
        """Rows selected by an integer or boolean index."""
        return Interactions(self.user[index], self.item[index], self.rating[index], self.timestamp[index])

    def to_frame(self) -> pd.DataFrame:
        """The table as a pandas frame with columns :data:`INTERACTION_COLUMNS`."""
        return pd.DataFrame(
            {"user": self.user, "item": self.item, "rating": self.rating, "timestamp": self.timestamp}
        )

    def matrix(self, n_users: int, n_items: int, values: str = "ones") -> sp.csr_matrix:
        """A ``[n_users, n_items]`` CSR matrix; duplicates are summed for ``"ones"``.

        Args:
            n_users: Number of rows.
            n_items: Number of columns.
            values: ``"ones"`` (interaction counts) or ``"rating"`` (last rating wins).
        """
        if values == "ones":
            data = np.ones(len(self), dtype=np.float32)
            m = sp.csr_matrix((data, (self.user, self.item)), shape=(n_users, n_items))
            m.sum_duplicates()
            return m
        if values == "rating":
            df = pd.DataFrame({"u": self.user, "i": self.item, "r": self.rating}).dropna()
            df = df.drop_duplicates(["u", "i"], keep="last")
            return sp.csr_matrix(
                (df["r"].to_numpy(np.float32), (df["u"].to_numpy(), df["i"].to_numpy())),
                shape=(n_users, n_items),
            )
        raise ValueError(f"values must be 'ones' or 'rating', got {values!r}")


@dataclass
class Dataset:
    """Interactions plus the item and user tables they refer to.

    Attributes:
        name: Short name of the source (e.g. ``"ml-100k"``).
        interactions: All interactions, indices into ``items`` and ``users``.
        items: One row per item index: ``item_id`` (raw id), ``title``, ``text``
            and any attribute columns.
        users: One row per user index: ``user_id`` (raw id) and demographics if known.
        genres: ``[n_items, n_genres]`` bool multi-hot attribute matrix.
        genre_names: Names of the ``genres`` columns.
        latent: Optional ground truth (synthetic worlds only), e.g. ``user_factors``.
        scale: The rating scale the data declares (see :mod:`simrec.data.scale`);
            agents rate on it and every rating measure uses its levels.
    """

    name: str
    interactions: Interactions
    items: pd.DataFrame
    users: pd.DataFrame
    genres: np.ndarray
    genre_names: list[str]
    latent: dict[str, np.ndarray] = field(default_factory=dict)
    scale: RatingScale = WHOLE_STARS

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.items)

    def validate(self, source: str = "") -> Dataset:
        """Check indices and shapes; raise :class:`DataError` naming ``source`` if broken."""
        where = f" ({source})" if source else ""
        if len(self.interactions) == 0:
            raise DataError(
                f"The data set '{self.name}'{where} has no interactions. Check the file and "
                "any filters (min interactions per user, max users) in the environment's data block."
            )
        inter = self.interactions
        if inter.user.min() < 0 or inter.user.max() >= self.n_users:
            raise DataError(f"Data set '{self.name}'{where}: user indices out of range.")
        if inter.item.min() < 0 or inter.item.max() >= self.n_items:
            raise DataError(f"Data set '{self.name}'{where}: item indices out of range.")
        if self.genres.shape != (self.n_items, len(self.genre_names)):
            raise DataError(
                f"Data set '{self.name}'{where}: genre matrix is {self.genres.shape}, "
                f"expected ({self.n_items}, {len(self.genre_names)})."
            )
        for col in ("item_id", "title", "text"):
            if col not in self.items:
                raise DataError(f"Data set '{self.name}'{where}: items table lacks column '{col}'.")
        if "user_id" not in self.users:
            raise DataError(f"Data set '{self.name}'{where}: users table lacks column 'user_id'.")
        return self
