"""MovieLens loaders: 100K, 1M, latest-small and latest, from a folder or the download cache.

Users and items get dense indices in ascending raw-id order; items listed in
the item file but never rated are kept. Ratings keep the file's row order.
Item text is a short description built from title and genres, e.g.
``"Toy Story (1995). Genres: Animation, Children's, Comedy."``.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simrec.core.errors import DataError
from simrec.data.download import ensure_movielens, movielens_release
from simrec.data.files import assemble_dataset, genre_matrix, title_years
from simrec.data.scale import HALF_STARS, WHOLE_STARS, RatingScale
from simrec.data.types import Dataset

#: The 19 genre flags of ml-100k's ``u.item``, in file order (as in ``u.genre``).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip

#: ml-1m occupation codes (``users.dat``), from the ml-1m README.
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip

_UNIT_SEP = "\x1f"  # stands in for multi-character separators; never in MovieLens text
_RATINGS = {"user_id": "int64", "item_id": "int64", "rating": "float32", "timestamp": "int64"}


@dataclass(frozen=True)
class _Layout:
    """Which files a variant keeps its tables in, and the rating scale it declares."""

    ratings: str
    items: str
    users: str | None
    scale: RatingScale = WHOLE_STARS


_LAYOUTS = {
    "100k": _Layout("u.data", "u.item", "u.user"),
    "1m": _Layout("ratings.dat", "movies.dat", "users.dat"),
    "latest-small": _Layout("ratings.csv", "movies.csv", None, HALF_STARS),
    "latest": _Layout("ratings.csv", "movies.csv", None, HALF_STARS),
}


def load_movielens(
    variant: str = "100k",
    path: Path | None = None,
    cache_dir: Path | None = None,
    download: bool = True,
) -> Dataset:
    """Load a MovieLens release.

    Args:
        variant: ``"100k"``, ``"1m"``, ``"latest-small"`` or ``"latest"`` (an
            ``"ml-"`` prefix is accepted).
        path: Folder holding the files (e.g. ``u.data``), or a folder holding the
            release's standard subfolder (e.g. ``ml-100k/``). If None, the
            download cache is used.
        cache_dir: Cache root for downloads (see :func:`simrec.data.download.ensure_movielens`).
        download: Whether a missing cached copy may be downloaded.

    Returns:
        The data set, named like ``"ml-100k"``. ``items`` has ``item_id``,
        ``title``, ``text`` and ``year`` (``Int64``); ``users`` has ``user_id``
        and, for 100k and 1m, ``age``, ``gender``, ``occupation`` and ``zip``
        (1m ``age`` is the README's age-group code). Its rating scale is the
        release's: whole stars 1–5 for 100k and 1m, half stars 0.5–5 for latest.

    Raises:
        DataError: if the folder or a file is missing or malformed, or a rating is
            off the release's scale.
    """
    release = movielens_release(variant)
    layout = _LAYOUTS[release.variant]
    if path is None:
        folder = ensure_movielens(release.variant, cache_dir, download=download)
    else:
        folder = _resolve_folder(Path(path).expanduser(), release.folder, layout)
    reader = {"100k": _read_100k, "1m": _read_1m}.get(release.variant, _read_latest)
    ratings, items, genres, genre_names, users = reader(folder, layout)
    return assemble_dataset(
        release.folder,
        ratings,
        items,
        genres,
        genre_names,
        users,
        source=str(folder),
        scale=layout.scale,
    )


def _fix(layout: _Layout) -> str:
    return (
        f"Point environment.data.path at the folder that holds {layout.ratings}, "
        "or leave path empty to download from GroupLens."
    )


def _resolve_folder(path: Path, standard: str, layout: _Layout) -> Path:
    if not path.is_dir():
        raise DataError(f"The MovieLens folder {path} does not exist. {_fix(layout)}")
    folder = path
    if not (path / layout.ratings).is_file() and (path / standard).is_dir():
        folder = path / standard
    for name in (layout.ratings, layout.items):
        if not (folder / name).is_file():
            raise DataError(f"The MovieLens file {folder / name} is missing. {_fix(layout)}")
    return folder


_Tables = tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[str], pd.DataFrame | None]


def _read_100k(folder: Path, layout: _Layout) -> _Tables:
    ratings = read_table(folder / layout.ratings, _RATINGS, sep="\t")
    flags = {f"g{i}": "int8" for i in range(len(ML100K_GENRES))}
    columns = {"item_id": "int64", "title": "str", "date": "str", "video_date": "str", "url": "str"}
    raw = read_table(folder / layout.items, columns | flags, sep="|", encoding="latin-1")
    genres = raw[list(flags)].to_numpy() > 0
    year = title_years(raw["title"])
    date_year = pd.to_numeric(raw["date"].str[-4:], errors="coerce").astype("Int64")
    items = pd.DataFrame(
        {"item_id": raw["item_id"], "title": raw["title"], "year": year.fillna(date_year)}
    )
    users = None
    if layout.users and (folder / layout.users).is_file():
        users = read_table(
            folder / layout.users,
            {
                "user_id": "int64",
                "age": "int64",
                "gender": "str",
                "occupation": "str",
                "zip": "str",
            },
            sep="|",
            encoding="latin-1",
        )
    return ratings, items, genres, list(ML100K_GENRES), users


def _read_1m(folder: Path, layout: _Layout) -> _Tables:
    ratings = read_table(folder / layout.ratings, _RATINGS, sep="::", encoding="latin-1")
    raw = read_table(
        folder / layout.items,
        {"item_id": "int64", "title": "str", "genres": "str"},
        sep="::",
        encoding="latin-1",
    )
    genres, genre_names = genre_matrix(raw["genres"])
    items = pd.DataFrame(
        {"item_id": raw["item_id"], "title": raw["title"], "year": title_years(raw["title"])}
    )
    users = None
    if layout.users and (folder / layout.users).is_file():
        raw_users = read_table(
            folder / layout.users,
            {
                "user_id": "int64",
                "gender": "str",
                "age": "int64",
                "occupation": "int64",
                "zip": "str",
            },
            sep="::",
            encoding="latin-1",
        )
        names = pd.Series(ML1M_OCCUPATIONS, dtype=object)
        occupation = raw_users["occupation"].map(names).astype(object)
        users = raw_users[["user_id", "age", "gender"]].assign(
            occupation=occupation, zip=raw_users["zip"]
        )
    return ratings, items, genres, genre_names, users


def _read_latest(folder: Path, layout: _Layout) -> _Tables:
    ratings = read_table(
        folder / layout.ratings,
        {"userId": "int64", "movieId": "int64", "rating": "float32", "timestamp": "int64"},
        sep=",",
        header=True,
        quoting=csv.QUOTE_MINIMAL,
    ).rename(columns={"userId": "user_id", "movieId": "item_id"})
    raw = read_table(
        folder / layout.items,
        {"movieId": "int64", "title": "str", "genres": "str"},
        sep=",",
        header=True,
        quoting=csv.QUOTE_MINIMAL,
    )
    genres, genre_names = genre_matrix(raw["genres"], ignore=("(no genres listed)",))
    title = raw["title"].str.strip()
    items = pd.DataFrame({"item_id": raw["movieId"], "title": title, "year": title_years(title)})
    return ratings, items, genres, genre_names, None


def read_table(
    path: Path,
    columns: Mapping[str, str],
    *,
    sep: str,
    header: bool = False,
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_NONE,
) -> pd.DataFrame:
    """Read a fixed-format delimited text file fast, naming the first bad line on failure.

    Args:
        path: The file.
        columns: Column name -> dtype (``"str"`` for text), in file order when
            ``header`` is False, else the header columns to read.
        sep: Field separator; multi-character separators such as ``"::"`` work.
        header: Whether the first line names the columns.
        encoding: Text encoding.
        quoting: A :mod:`csv` quoting constant.

    Raises:
        DataError: naming the file and, where found, the first malformed line.
    """
    names = list(columns)
    source: Path | io.BytesIO = path
    if len(sep) > 1:  # pandas' fast C parser takes one character only
        source = io.BytesIO(path.read_bytes().replace(sep.encode(), _UNIT_SEP.encode()))
    one_char = _UNIT_SEP if len(sep) > 1 else sep
    kwargs: dict[str, Any] = {"sep": one_char, "encoding": encoding, "quoting": quoting}
    present = names
    if header:
        present = list(pd.read_csv(path, sep=sep, nrows=0, encoding=encoding).columns)
        if missing := [c for c in names if c not in present]:
            raise DataError(
                f"{path} lacks the column(s) {missing}; its header has {present}. "
                "Check that this is the right file and that it is unmodified."
            )
        kwargs.update(header=0, usecols=names)
    else:
        kwargs.update(header=None, names=names, index_col=False)
    with warnings.catch_warnings():
        # too many fields on the first line is a ParserWarning, not an error
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(source, dtype=dict(columns), **kwargs)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path} is not {encoding} text ({exc}). Check that the file is unmodified."
            ) from exc
        except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError, TypeError) as exc:
            numeric = {present.index(c): dt for c, dt in columns.items() if dt != "str"}
            bad = _first_bad_line(path, sep, len(present), numeric, header, encoding, quoting)
            raise DataError(
                f"{path} is malformed: {bad or exc} (expected {len(present)} fields separated "
                f"by {sep!r}{' below a header line' if header else ''}). Fix or remove that "
                "line, or download the data again."
            ) from exc


def _first_bad_line(
    path: Path,
    sep: str,
    n_fields: int,
    numeric: Mapping[int, str],
    header: bool,
    encoding: str,
    quoting: int,
) -> str | None:
    """Describe the first line with the wrong field count or a non-numeric value, if any."""
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        lines = (line.replace(sep, _UNIT_SEP) for line in fh) if len(sep) > 1 else fh
        reader = csv.reader(lines, delimiter=_UNIT_SEP if len(sep) > 1 else sep, quoting=quoting)
        for row in reader:
            if not row or (header and reader.line_num == 1):
                continue
            where = f"line {reader.line_num}"
            if len(row) != n_fields:
                return f"{where} has {len(row)} field(s)"
            for idx, dtype in numeric.items():
                value = row[idx].strip()
                try:
                    number = float(value)
                except ValueError:
                    return f"{where}, field {idx + 1} is {value!r}, not a number"
                if dtype.startswith("int") and not number.is_integer():
                    return f"{where}, field {idx + 1} is {value!r}, not an integer"
    return None
