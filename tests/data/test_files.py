"""Generic CSV / TSV / Parquet interaction files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import DataError
from simrec.data.files import genre_matrix, load_interactions_file

LOG = pd.DataFrame(
    {
        "user_id": [30, 10, 30, 20],
        "item_id": [7, 5, 5, 9],
        "rating": [4.0, 2.5, 5.0, 1.0],
        "timestamp": [300, 100, 200, 400],
    }
)


@pytest.mark.parametrize(
    ("suffix", "sep"), [(".csv", ","), (".tsv", "\t"), (".txt", "\t"), (".dat", ";")]
)
def test_text_formats(tmp_path: Path, suffix: str, sep: str) -> None:
    path = tmp_path / f"log{suffix}"
    LOG.to_csv(path, sep=sep, index=False)
    ds = load_interactions_file(path)
    assert ds.name == "log"
    assert ds.users["user_id"].tolist() == [10, 20, 30]
    assert ds.items["item_id"].tolist() == [5, 7, 9]
    inter = ds.interactions
    assert inter.user.tolist() == [2, 0, 2, 1]  # file order kept
    assert inter.item.tolist() == [1, 0, 0, 2]
    assert inter.rating.tolist() == [4.0, 2.5, 5.0, 1.0]
    assert inter.timestamp.tolist() == [300, 100, 200, 400]
    assert ds.items["title"].tolist() == ["5", "7", "9"]
    assert ds.items["text"].tolist() == ["Item 5", "Item 7", "Item 9"]
    assert ds.genres.shape == (3, 0) and ds.genre_names == []


def test_parquet_with_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    LOG.rename(columns={"user_id": "u", "item_id": "i"}).assign(
        user_name=["a", "b", "a", "c"]
    ).to_parquet(path)
    ds = load_interactions_file(
        path, user_col="u", item_col="i", rating_col=None, timestamp_col=None, name="ev"
    )
    assert ds.name == "ev"
    assert np.isnan(ds.interactions.rating).all()
    assert (ds.interactions.timestamp == 0).all()
    assert ds.n_users == 3


def test_items_file(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    LOG.assign(user_id=["u3", "u1", "u3", "u2"]).to_csv(log, index=False)
    items = tmp_path / "items.tsv"
    pd.DataFrame(
        {
            "item_id": [5, 7, 11],
            "title": ["Five", "Seven", "Eleven"],
            "genres": ["Drama|Comedy", "", "Comedy"],
            "price": [1.0, 2.0, 3.0],
        }
    ).to_csv(items, sep="\t", index=False)
    ds = load_interactions_file(log, items_path=items)
    assert ds.users["user_id"].tolist() == ["u1", "u2", "u3"]
    assert ds.items["item_id"].tolist() == [
        5,
        7,
        9,
        11,
    ]  # 9 is rated but not listed; 11 listed, not rated
    assert ds.items["title"].tolist() == ["Five", "Seven", "9", "Eleven"]
    assert ds.genre_names == ["Comedy", "Drama"]
    assert ds.genres.tolist() == [[True, True], [False, False], [False, False], [True, False]]
    assert ds.items["text"].iloc[0] == "Five. Genres: Comedy, Drama."
    assert "price" in ds.items.columns


def test_string_ids_and_datetime_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user,item,when\nb,x,2020-01-01T00:00:10Z\na,y,1970-01-01T00:00:00Z\n")
    ds = load_interactions_file(
        path, user_col="user", item_col="item", rating_col=None, timestamp_col="when"
    )
    assert ds.users["user_id"].tolist() == ["a", "b"]
    assert ds.interactions.timestamp.tolist() == [1577836810, 0]


def test_missing_column_lists_present_columns(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    LOG.drop(columns="rating").to_csv(path, index=False)
    with pytest.raises(DataError, match="rating") as info:
        load_interactions_file(path)
    assert "'user_id', 'item_id', 'timestamp'" in str(info.value)


def test_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_interactions_file(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("user_id,item_id,rating,timestamp\n")
    with pytest.raises(DataError, match="no data rows"):
        load_interactions_file(header_only)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_interactions_file(tmp_path / "nope.csv")


def test_non_numeric_rating_names_row(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,rating,timestamp\n1,2,3,4\n1,3,good,5\n")
    with pytest.raises(DataError, match="row 2.*'good'"):
        load_interactions_file(path)


def test_genre_matrix_ignores_placeholder() -> None:
    matrix, names = genre_matrix(
        pd.Series(["B|A", "(no genres listed)", None]), ignore=("(no genres listed)",)
    )
    assert names == ["A", "B"]
    assert matrix.tolist() == [[True, True], [False, False], [False, False]]
