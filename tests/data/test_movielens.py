"""MovieLens loaders: the real ml-100k, and tiny 1m / latest files in their exact formats."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import DataError
from simrec.data.movielens import load_movielens
from simrec.data.types import Dataset


@pytest.fixture(scope="module")
def ml100k(ml100k_dir: Path) -> Dataset:
    return load_movielens("100k", ml100k_dir)


def test_ml100k_counts(ml100k: Dataset) -> None:
    assert ml100k.name == "ml-100k"
    assert len(ml100k.interactions) == 100_000
    assert ml100k.n_users == 943
    assert ml100k.n_items == 1682
    values, counts = np.unique(ml100k.interactions.rating, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == {
        1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201
    }  # fmt: skip
    assert ml100k.genres.shape == (1682, 19)
    assert ml100k.genres.dtype == bool
    assert len(ml100k.genre_names) == 19
    assert ml100k.genre_names[0] == "unknown" and ml100k.genre_names[-1] == "Western"


def test_ml100k_ids_text_and_demographics(ml100k: Dataset) -> None:
    items, users = ml100k.items, ml100k.users
    assert items["item_id"].tolist() == list(range(1, 1683))
    assert users["user_id"].tolist() == list(range(1, 944))
    assert items["text"].iloc[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert items["year"].dtype == "Int64"
    assert items["year"].iloc[0] == 1995
    assert {"age", "gender", "occupation", "zip"} <= set(users.columns)
    assert users.iloc[0][["age", "gender", "occupation"]].tolist() == [24, "M", "technician"]
    assert str(users["zip"].iloc[0]) == "85711"
    # the first line of u.data is "196 242 3 881250949"
    inter = ml100k.interactions
    assert (users["user_id"].iloc[inter.user[0]], items["item_id"].iloc[inter.item[0]]) == (
        196,
        242,
    )
    assert inter.timestamp[0] == 881250949


def test_ml100k_loads_fast_from_parent_folder(ml100k_dir: Path, tmp_path: Path) -> None:
    parent = tmp_path / "downloads"
    shutil.copytree(ml100k_dir, parent / "ml-100k")
    start = time.perf_counter()
    ds = load_movielens("ml-100k", parent)
    assert time.perf_counter() - start < 1.0
    assert len(ds.interactions) == 100_000


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


@pytest.fixture()
def ml1m_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ml-1m"
    _write(
        folder / "ratings.dat", "10::20::5::978300760\n2::3::3::978302109\n10::3::4::978301968\n"
    )
    _write(
        folder / "movies.dat",
        "3::Grumpier Old Men (1995)::Comedy|Romance\n"
        "20::Money Train (1995)::Action|Comedy|Crime|Drama|Thriller\n"
        "25::Café au lait (1993)::Comedy\n",
        encoding="latin-1",
    )
    _write(folder / "users.dat", "2::M::56::16::70072\n10::F::35::1::95370\n")
    return folder


def test_ml1m_layout(ml1m_dir: Path) -> None:
    ds = load_movielens("1m", ml1m_dir)
    assert ds.name == "ml-1m"
    assert ds.items["item_id"].tolist() == [3, 20, 25]  # item 25 has no ratings but is kept
    assert ds.users["user_id"].tolist() == [2, 10]
    assert ds.items["title"].iloc[2] == "Café au lait (1993)"
    assert ds.items["year"].tolist() == [1995, 1995, 1993]
    assert ds.genre_names == ["Action", "Comedy", "Crime", "Drama", "Romance", "Thriller"]
    assert ds.genres[0].tolist() == [False, True, False, False, True, False]
    assert ds.items["text"].iloc[0] == "Grumpier Old Men (1995). Genres: Comedy, Romance."
    assert ds.users["occupation"].tolist() == ["self-employed", "academic/educator"]
    assert ds.users["gender"].tolist() == ["M", "F"]
    assert ds.users["age"].tolist() == [56, 35]
    inter = ds.interactions
    assert inter.user.tolist() == [1, 0, 1]
    assert inter.item.tolist() == [1, 0, 0]
    assert inter.rating.tolist() == [5.0, 3.0, 4.0]
    assert inter.timestamp.tolist() == [978300760, 978302109, 978301968]


def test_ml1m_from_parent_folder(ml1m_dir: Path) -> None:
    assert load_movielens("1m", ml1m_dir.parent).n_items == 3


@pytest.mark.parametrize("variant", ["latest-small", "latest"])
def test_latest_layout(tmp_path: Path, variant: str) -> None:
    _write(
        tmp_path / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,3.5,964981247\n7,1,0.5,1100000000\n",
    )
    _write(
        tmp_path / "movies.csv",
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '3,"American President, The (1995)",Comedy|Drama|Romance|IMAX\n'
        "9,Some Film,(no genres listed)\n",
    )
    ds = load_movielens(variant, tmp_path)
    assert ds.name == f"ml-{variant}"
    assert ds.n_users == 2 and ds.n_items == 3
    assert list(ds.users.columns) == ["user_id"]
    assert ds.items["title"].iloc[1] == "American President, The (1995)"
    assert "IMAX" in ds.genre_names and "(no genres listed)" not in ds.genre_names
    assert not ds.genres[2].any()
    assert ds.items["text"].iloc[2] == "Some Film."
    assert pd.isna(ds.items["year"].iloc[2])
    assert ds.interactions.rating.tolist() == [4.0, 3.5, 0.5]
    assert ds.interactions.user.tolist() == [0, 0, 1]


def test_missing_folder_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="environment.data.path") as info:
        load_movielens("100k", missing)
    assert str(missing) in str(info.value)


def test_missing_file_names_path(tmp_path: Path, ml100k_dir: Path) -> None:
    shutil.copy(ml100k_dir / "u.data", tmp_path / "u.data")
    with pytest.raises(DataError) as info:
        load_movielens("100k", tmp_path)
    assert str(tmp_path / "u.item") in str(info.value)


def test_unknown_variant() -> None:
    with pytest.raises(DataError, match="10m"):
        load_movielens("10m", Path("."))


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ("5\t6\tx\t881250949", "line 3, field 3"),
        ("5\t6\t3", "line 3 has 3 field"),
        ("5\t6\t3\t4\t9", "line 3"),
    ],
)
def test_malformed_ratings_name_file_and_line(
    tmp_path: Path, ml100k_dir: Path, bad_line: str, expected: str
) -> None:
    shutil.copy(ml100k_dir / "u.item", tmp_path / "u.item")
    _write(tmp_path / "u.data", f"1\t2\t3\t881250949\n3\t4\t5\t881250949\n{bad_line}\n7\t8\t1\t1\n")
    with pytest.raises(DataError, match=expected) as info:
        load_movielens("100k", tmp_path)
    assert "u.data" in str(info.value)


def test_malformed_1m_line(ml1m_dir: Path) -> None:
    _write(ml1m_dir / "ratings.dat", "10::20::5::978300760\n2::3::5\n")
    with pytest.raises(DataError, match=r"ratings\.dat.*line 2"):
        load_movielens("1m", ml1m_dir)


def test_no_download_without_cache(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="downloading is switched off"):
        load_movielens("100k", cache_dir=tmp_path, download=False)
