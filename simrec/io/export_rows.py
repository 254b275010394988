"""Rows of a run's export: index to raw id mapping, real interactions, export frames.

Shared by the plain export (:mod:`simrec.io.export`) and the RecBole export
(:mod:`simrec.io.recbole`): both turn a run's index tables into rows with the raw ids
of ``users.parquet`` / ``items.parquet``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.core.errors import DataError
from simrec.data.types import Interactions
from simrec.io.manifest import read_parquet_checked

logger = logging.getLogger(__name__)

#: ``f(indices, source) -> raw ids``; ``source`` names the file in errors.
Mapper = Callable[[np.ndarray, str], np.ndarray]


def id_mapper(table: pd.DataFrame, index_col: str, id_col: str, path: Path) -> Mapper:
    """Return ``f(indices) -> raw ids`` for a users/items table."""
    if id_col not in table:
        raise DataError(f"{path} lacks the column '{id_col}'; it was not written by simrec.")
    index = table[index_col].to_numpy(np.int64) if index_col in table else np.arange(len(table))
    raw = table[id_col].to_numpy()
    if len(index) and (index.min() < 0 or len(np.unique(index)) != len(index)):
        raise DataError(f"{path}: column '{index_col}' must hold distinct non-negative indices.")
    pos = np.full(int(index.max()) + 1 if len(index) else 0, -1, np.int64)
    pos[index] = np.arange(len(index))

    def to_raw(codes: np.ndarray, source: str) -> np.ndarray:
        codes = np.asarray(codes, np.int64)
        bad = (codes < 0) | (codes >= len(pos))
        found = np.where(bad, -1, pos[np.where(bad, 0, codes)])
        if (found < 0).any():
            first = int(codes[np.argmax(found < 0)])
            raise DataError(
                f"{source} refers to {index_col} index {first}, which {path.name} does not list. "
                "The run folder mixes files of different runs; re-run the scenario."
            )
        return raw[found]

    return to_raw


def id_mappers(run_dir: Path) -> tuple[Mapper, Mapper]:
    """Index → raw id mappers of a run's users and items."""
    users = read_parquet_checked(run_dir / "users.parquet")
    items = read_parquet_checked(run_dir / "items.parquet")
    return (
        id_mapper(users, "user", "user_id", run_dir / "users.parquet"),
        id_mapper(items, "item", "item_id", run_dir / "items.parquet"),
    )


def real_interactions(path: Path) -> pd.DataFrame:
    """``train.parquet`` / ``heldout.parquet`` as ``user``, ``item``, ``rating``, ``timestamp``."""
    table = read_parquet_checked(path)
    if not {"user", "item"} <= set(table.columns):
        raise DataError(
            f"{path} lacks the 'user' and 'item' index columns; "
            "it was not written by simrec. Re-run the scenario."
        )
    return Interactions.from_frame(table).to_frame()


def export_frame(
    table: pd.DataFrame, origin: str, user_raw: Mapper, item_raw: Mapper, source: str
) -> pd.DataFrame:
    """Index rows as export rows (:data:`simrec.io.export.EXPORT_COLUMNS`): raw ids, ``origin``."""
    return pd.DataFrame(
        {
            "user_id": user_raw(table["user"].to_numpy(), source),
            "item_id": item_raw(table["item"].to_numpy(), source),
            "rating": table["rating"].to_numpy(np.float32),
            "timestamp": table["timestamp"].to_numpy(np.int64),
            "origin": np.full(len(table), origin, dtype=object),
        }
    )


def _is_scalar(values: pd.Series) -> bool:
    if values.dtype != object:
        return True
    sample = values.dropna()
    nested = list | tuple | dict | set | np.ndarray | bytes
    return sample.empty or not isinstance(sample.iloc[0], nested)


def scalar_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``df`` less its nested (list, dict, array, bytes) columns: a flat file cannot hold them."""
    skipped = [c for c in df.columns if not _is_scalar(df[c])]
    if skipped:
        logger.warning("export skips non-scalar columns %s of %s", skipped, path.name)
    return df.drop(columns=skipped)
