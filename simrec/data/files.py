"""Generic interaction files (CSV, TSV, Parquet), and turning raw-id tables into a Dataset.

:func:`assemble_dataset` is the one place where raw identifiers become dense
indices (ascending raw-id order) and item text is written; the MovieLens
loader uses it too.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.core.errors import DataError
from simrec.data.scale import RatingScale, check_ratings, infer_scale
from simrec.data.types import Dataset, Interactions

logger = logging.getLogger(__name__)

_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
_COMPRESSION = {".gz", ".bz2", ".xz", ".zip", ".zst"}
_YEAR = r"\((\d{4})\)\s*$"


def genre_matrix(
    values: pd.Series, sep: str = "|", ignore: Sequence[str] = ()
) -> tuple[np.ndarray, list[str]]:
    """Multi-hot matrix of ``sep``-joined labels, one row per value; names sorted.

    Args:
        values: One string per item, e.g. ``"Action|Comedy"``; missing means none.
        sep: Label separator.
        ignore: Labels that mean "none", e.g. ``"(no genres listed)"``.
    """
    labels = values.reset_index(drop=True).fillna("").astype(str)
    exploded = labels.str.split(sep, regex=False).explode().str.strip()
    exploded = exploded[(exploded != "") & ~exploded.isin(list(ignore))]
    names = sorted(exploded.unique().tolist())
    matrix = np.zeros((len(labels), len(names)), dtype=bool)
    codes = pd.Categorical(exploded, categories=names).codes
    matrix[exploded.index.to_numpy(), codes] = True
    return matrix, names


def describe_items(titles: pd.Series, genres: np.ndarray, genre_names: Sequence[str]) -> list[str]:
    """Short item texts like ``"Toy Story (1995). Genres: Animation, Comedy."``."""
    names = np.asarray(genre_names, dtype=object)
    texts = []
    for title, row in zip(titles.astype(str).tolist(), genres, strict=True):
        title = title.strip()
        text = title if title.endswith(".") else f"{title}."
        labels = [g for g in names[row] if g != "unknown"]
        texts.append(f"{text} Genres: {', '.join(labels)}." if labels else text)
    return texts


def title_years(titles: pd.Series) -> pd.Series:
    """The ``(YYYY)`` year at the end of each title as ``Int64`` (NA where absent)."""
    return pd.to_numeric(titles.astype(str).str.extract(_YEAR)[0], errors="coerce").astype("Int64")


def assemble_dataset(
    name: str,
    ratings: pd.DataFrame,
    items: pd.DataFrame,
    genres: np.ndarray,
    genre_names: list[str],
    users: pd.DataFrame | None = None,
    *,
    source: str,
    scale: RatingScale | None = None,
) -> Dataset:
    """Build a validated :class:`Dataset` from tables keyed by raw ids.

    Users and items get dense indices in ascending raw-id order. Items and users
    that appear only in ``ratings`` are added (title = raw id, no genres, no
    demographics); items that appear only in ``items`` are kept.

    Args:
        name: Data set name.
        ratings: Columns ``user_id``, ``item_id``, ``rating``, ``timestamp``, in log order.
        items: One row per item with ``item_id``, ``title`` and optionally
            ``text`` and attribute columns.
        genres: ``[len(items), n_genres]`` bool matrix aligned with ``items`` rows.
        genre_names: Names of the genre columns.
        users: One row per user with ``user_id`` and demographics, or None.
        source: Where the data came from, for error messages.
        scale: The rating scale the source declares (every rating must be on it);
            ``None``: inferred from the ratings (:func:`~simrec.data.scale.infer_scale`).

    Raises:
        DataError: on duplicate ids, an empty interaction log, or ratings off the scale
            (or, inferring, neither whole nor half stars).
    """
    for table, col in ((items, "item_id"), (users, "user_id")):
        if table is not None and table[col].duplicated().any():
            dup = table.loc[table[col].duplicated(), col].iloc[0]
            raise DataError(
                f"{source}: {col} {dup!r} appears more than once in the {col.split('_')[0]} table. "
                "Each id must be listed once; remove the duplicate rows."
            )
    item_ids, listed, item_codes = _dense_ids(
        items["item_id"].to_numpy(), ratings["item_id"].to_numpy()
    )
    if len(item_ids) > len(items):
        logger.warning(
            "%s: %d rated item(s) are missing from the item table; adding them untitled.",
            source,
            len(item_ids) - len(items),
        )
    full_genres = np.zeros((len(item_ids), len(genre_names)), dtype=bool)
    full_genres[listed] = genres
    table = _place(items, "item_id", item_ids, listed)
    missing_title = table["title"].isna()
    table["title"] = (
        table["title"]
        .astype(object)
        .where(~missing_title, table["item_id"].astype(str))
        .astype(str)
    )
    text = pd.Series(describe_items(table["title"], full_genres, genre_names), dtype=object)
    if "text" in table:
        text = table["text"].astype(object).where(table["text"].notna(), text)
        table = table.drop(columns="text")
    table.insert(2, "text", text.astype(str).to_numpy())

    listed_users = users["user_id"].to_numpy() if users is not None else None
    user_ids, listed, user_codes = _dense_ids(listed_users, ratings["user_id"].to_numpy())
    if users is None:
        user_table = pd.DataFrame({"user_id": user_ids})
    else:
        user_table = _place(users, "user_id", user_ids, listed)

    inter = Interactions.from_arrays(
        user_codes,
        item_codes,
        ratings["rating"].to_numpy(np.float32, na_value=np.nan),
        ratings["timestamp"].to_numpy(np.int64),
    )
    if scale is None:
        scale = infer_scale(inter.rating, source)
    else:
        check_ratings(inter.rating, scale, source)
    dataset = Dataset(name, inter, table, user_table, full_genres, list(genre_names), scale=scale)
    return dataset.validate(source=source)


def _dense_ids(
    listed: np.ndarray | None, logged: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique ids of both arrays, and the dense index of each entry of each.

    Hash-based (``pd.factorize``) rather than ``np.unique`` + ``searchsorted``,
    which is several times slower on logs of millions of rows.
    """
    n_listed = 0 if listed is None else len(listed)
    both = logged if listed is None else np.concatenate([listed, logged])
    codes, uniques = pd.factorize(both, sort=True)
    return np.asarray(uniques), codes[:n_listed], codes[n_listed:]


def _place(table: pd.DataFrame, id_col: str, ids: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """``table`` re-ordered so row ``rows[k]`` holds its ``k``-th row; gaps get missing values."""
    out = table.drop(columns=id_col).set_axis(rows).reindex(range(len(ids)))
    out.insert(0, id_col, ids)
    return out


def load_interactions_file(
    path: Path,
    *,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = "rating",
    timestamp_col: str | None = "timestamp",
    sep: str | None = None,
    items_path: Path | None = None,
    item_id_col: str = "item_id",
    title_col: str | None = "title",
    genres_col: str | None = "genres",
    genres_sep: str = "|",
    name: str | None = None,
    rating_scale: RatingScale | None = None,
) -> Dataset:
    """Load an interaction log from CSV, TSV or Parquet, with an optional item file.

    The files need a header row naming the columns. Raw ids may be numbers or
    strings; if the two files disagree on the type, ids are compared as strings.
    Timestamps may be numbers (seconds) or date-time strings.

    Args:
        path: Interaction file (``.csv``, ``.tsv``, ``.txt``, ``.parquet``, optionally compressed).
        user_col: Column of raw user ids.
        item_col: Column of raw item ids.
        rating_col: Column of ratings, or None if the log has none (ratings become NaN).
        timestamp_col: Column of timestamps, or None (timestamps become 0).
        sep: Field separator; by default from the extension (``.csv`` ``","``,
            ``.tsv``/``.txt`` tab), else sniffed.
        items_path: Optional item file with ``item_id_col``, ``title_col`` and ``genres_col``;
            its other columns are kept as item attributes.
        item_id_col: Column of raw item ids in the item file.
        title_col: Column of titles in the item file, or None.
        genres_col: Column of ``genres_sep``-joined genres in the item file, or None.
        genres_sep: Separator between genres.
        name: Data set name; the file's stem by default.
        rating_scale: The ratings' scale (every rating must be on it); ``None``:
            inferred, whole stars if every rating is a whole number, half stars if
            every rating is a multiple of 0.5 (see :func:`~simrec.data.scale.infer_scale`).

    Raises:
        DataError: if a file is missing, empty or unreadable, or lacks a column; or a
            rating is off the scale, or the scale cannot be inferred.
    """
    path = Path(path)
    items_path = Path(items_path) if items_path is not None else None
    wanted = [c for c in (user_col, item_col, rating_col, timestamp_col) if c is not None]
    log = _read_any(path, wanted, sep, what="interaction")
    ratings = pd.DataFrame({"user_id": log[user_col], "item_id": log[item_col]})
    for col, role in ((user_col, "user"), (item_col, "item")):
        if log[col].isna().any():
            row = int(np.flatnonzero(log[col].isna().to_numpy())[0])
            raise DataError(
                f"{path}: data row {row + 1} has no {role} id in column '{col}'. Fill it in or drop the row."
            )
    ratings["rating"] = _numeric(log, rating_col, path) if rating_col else np.nan
    ratings["timestamp"] = _timestamps(log, timestamp_col, path) if timestamp_col else 0

    if items_path is not None:
        wanted_items = [c for c in (item_id_col, title_col, genres_col) if c is not None]
        raw_items = _read_any(items_path, wanted_items, None, what="item")
        items = raw_items.rename(columns={item_id_col: "item_id"})
        items["title"] = raw_items[title_col] if title_col else raw_items[item_id_col].astype(str)
        if genres_col:
            genres, genre_names = genre_matrix(
                raw_items[genres_col], genres_sep, ignore=("(no genres listed)",)
            )
            items = items.drop(columns=[genres_col] if genres_col != title_col else [])
        else:
            genres, genre_names = np.zeros((len(items), 0), dtype=bool), []
        if title_col and title_col != "title":
            items = items.drop(columns=title_col)
        items = items[
            ["item_id", "title"] + [c for c in items.columns if c not in ("item_id", "title")]
        ]
        ratings["item_id"], items["item_id"] = _common_ids(ratings["item_id"], items["item_id"])
    else:
        ids = pd.unique(ratings["item_id"])
        items = pd.DataFrame({"item_id": ids, "title": pd.Series(ids).astype(str).to_numpy()})
        genres, genre_names = np.zeros((len(items), 0), dtype=bool), []
        items["text"] = "Item " + items["title"]
    return assemble_dataset(
        name or _stem(path),
        ratings,
        items,
        genres,
        genre_names,
        None,
        source=str(path),
        scale=rating_scale,
    )


def _stem(path: Path) -> str:
    name = path.name
    for suffix in reversed(path.suffixes):
        name = name.removesuffix(suffix)
    return name or path.stem


def _read_any(path: Path, wanted: list[str], sep: str | None, *, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"The {what} file {path} does not exist. Check environment.data.path (and the file name)."
        )
    suffixes = [s.lower() for s in path.suffixes]
    ext = (
        suffixes[-2]
        if len(suffixes) > 1 and suffixes[-1] in _COMPRESSION
        else (suffixes[-1] if suffixes else "")
    )
    try:
        if ext == ".parquet":
            frame = pd.read_parquet(path)
        else:
            sep = sep or _SEPARATORS.get(ext) or _sniff(path)
            frame = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"The {what} file {path} is empty. It needs a header row and at least one data row."
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise DataError(
            f"Cannot read the {what} file {path}: {exc}. Check the format (CSV/TSV with a header, or Parquet) "
            "and pass the separator explicitly if it is not a comma or tab."
        ) from exc
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(
            f"The {what} file {path} has no column(s) {missing}; its columns are {list(frame.columns)}. "
            "Set the column names in environment.data to match (or to null for optional columns)."
        )
    if frame.empty:
        raise DataError(
            f"The {what} file {path} has a header but no data rows. Add data or pick another file."
        )
    return frame


def _sniff(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        sample = fh.read(64 * 1024)
    if not sample.strip():
        raise DataError(
            f"The file {path} is empty. It needs a header row and at least one data row."
        )
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error as exc:
        raise DataError(
            f"Cannot tell the field separator of {path}. Give the file a .csv or .tsv extension, "
            "or set the separator explicitly."
        ) from exc


def _numeric(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: data row {row + 1} has {frame[col].iloc[row]!r} in column '{col}', which is not a number. "
            "Fix the value or drop the row."
        )
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _timestamps(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    column = frame[col]
    if pd.api.types.is_numeric_dtype(column):
        if column.isna().any():
            row = int(np.flatnonzero(column.isna().to_numpy())[0])
            raise DataError(
                f"{path}: data row {row + 1} has no timestamp in column '{col}'. Fill it in or drop the row."
            )
        return column.to_numpy(np.int64)
    try:
        stamps = pd.to_datetime(column, utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{path}: column '{col}' holds neither numbers (seconds) nor date-times ({exc}). "
            "Fix the column or set timestamp_col to null."
        ) from exc
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise DataError(
            f"{path}: data row {row + 1} has no timestamp in column '{col}'. Fill it in or drop the row."
        )
    return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def _common_ids(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Raw ids of two files as arrays of one comparable type (integers, else strings)."""
    if pd.api.types.is_integer_dtype(a) and pd.api.types.is_integer_dtype(b):
        return a.to_numpy(np.int64), b.to_numpy(np.int64)
    return a.astype(str).to_numpy(object), b.astype(str).to_numpy(object)
