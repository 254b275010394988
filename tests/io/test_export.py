"""Tests of exporting a hand-made run folder as RecBole atomic files, CSV and Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import ConfigError, DataError
from simrec.io.events import EVENT_CODE, EventBatch, EventSink
from simrec.io.export import EXPORT_COLUMNS, build_interactions, export_run
from simrec.io.recbole import BENCHMARK_PARTS, read_recbole_inter, valid_rows

NAN = float("nan")


def _events() -> EventBatch:
    rows = [
        # step, session, page, position, user, item, event, value, policy, timestamp
        (0, 10, 0, 0, 1, 2, "impression", NAN, 0, 1000),
        (0, 10, 0, 1, 1, 3, "impression", NAN, 0, 1000),
        (0, 10, 0, 0, 1, 2, "click", NAN, 0, 1010),
        (0, 10, 0, 0, 1, 2, "rating", 4.5, 0, 1020),
        (0, 10, 0, 1, 1, 3, "click", NAN, 0, 1030),  # clicked, never rated
        (0, 10, 0, -1, 1, -1, "exit", NAN, 0, 1040),
        (1, 11, 0, 0, 0, 1, "impression", NAN, 1, 2000),
        (1, 11, 0, 0, 0, 1, "click", NAN, 1, 2010),
        (1, 11, 0, 1, 0, 0, "skip", NAN, 1, 2015),
        (1, 11, 0, 0, 0, 1, "rating", 2.0, 1, 2020),  # lands in the next part (chunk_rows=8)
        (1, 12, 0, 0, 2, 0, "rating", 5.0, 1, 2100),  # a rating without a click is not exported
    ]
    cols = list(zip(*rows, strict=True))
    return EventBatch(
        step=np.array(cols[0]),
        session=np.array(cols[1]),
        page=np.array(cols[2]),
        position=np.array(cols[3]),
        user=np.array(cols[4]),
        item=np.array(cols[5]),
        event=np.array([EVENT_CODE[e] for e in cols[6]]),
        value=np.array(cols[7]),
        policy=np.array(cols[8]),
        timestamp=np.array(cols[9]),
    )


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    """A tiny but complete run folder: 3 users, 4 items, 3 real and 2 simulated interactions."""
    run = tmp_path / "runs" / "tiny-run"
    run.mkdir(parents=True)
    pd.DataFrame(
        {
            "user": np.arange(3, dtype=np.int32),
            "user_id": ["u7", "u8", "u9"],
            "age": [24, 53, 31],
            "gender": ["M", "F", "M"],
            "occupation": ["technician", "other", "health care"],
            "zip_code": ["85711", "94043", "E2A 1B3"],
            "taste": [np.zeros(2), np.ones(2), np.zeros(2)],  # non-scalar: skipped by exports
        }
    ).to_parquet(run / "users.parquet")
    pd.DataFrame(
        {
            "item": np.arange(4, dtype=np.int32),
            "item_id": [101, 102, 103, 104],
            "title": ["Toy Story (1995)", 'The "Tab"\tMovie', "Line\nBreak", "Heat"],
            "text": ["a", "b", "c", "d"],
            "genres": ["Animation|Children's", "Film Noir|Drama", "", "Action"],
            "popularity": np.array([2, 1, 0, 0], np.float32),
        }
    ).to_parquet(run / "items.parquet")
    pd.DataFrame(
        {
            "user": np.array([0, 1, 2], np.int32),
            "item": np.array([0, 0, 1], np.int32),
            "rating": np.array([4.0, NAN, 3.5], np.float32),
            "timestamp": np.array([881250949, 891717742, 878887116], np.int64),
        }
    ).to_parquet(run / "train.parquet")
    with EventSink(run / "events.parquet", "tiny-run", ["choice", "llm"], chunk_rows=8) as sink:
        sink.append(_events())
    pd.DataFrame({"step": [0, 1], "ctr": [0.5, 0.5]}).to_parquet(run / "metrics.parquet")
    (run / "manifest.json").write_text(json.dumps({"run": "tiny-run"}))
    return run


EXPECTED = pd.DataFrame(
    {
        "user_id": ["u7", "u8", "u9", "u8", "u8", "u7"],
        "item_id": [101, 101, 102, 103, 104, 102],
        "rating": np.array([4.0, NAN, 3.5, 4.5, NAN, 2.0], np.float32),
        "timestamp": np.array([881250949, 891717742, 878887116, 1010, 1030, 2010], np.int64),
        "origin": ["real", "real", "real", "sim", "sim", "sim"],
    }
)


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Exported rows in comparable form: ids as str, rating float32, timestamp int64."""
    return pd.DataFrame(
        {
            "user_id": df["user_id"].astype(str).to_numpy(object),
            "item_id": df["item_id"].astype(str).to_numpy(object),
            "rating": df["rating"].to_numpy(np.float32),
            "timestamp": df["timestamp"].to_numpy(np.int64),
            "origin": df["origin"].astype(str).to_numpy(object),
        }
    )


def test_build_interactions(run_dir: Path) -> None:
    inter = build_interactions(run_dir)
    assert list(inter.columns) == list(EXPORT_COLUMNS)
    pd.testing.assert_frame_equal(_normalise(inter), _normalise(EXPECTED))


def test_export_all_formats(run_dir: Path) -> None:
    written = export_run(run_dir, formats=("recbole", "csv", "parquet"))
    atomic, export = run_dir / "atomic", run_dir / "export"
    assert written["recbole"] == [atomic / f"tiny-run.{s}" for s in ("inter", "user", "item")]
    csv_names = ("interactions", "users", "items", "events")
    assert written["csv"] == [export / f"{n}.csv" for n in csv_names]
    assert written["parquet"] == [export / "interactions.parquet"]
    for paths in written.values():
        assert all(p.is_file() for p in paths)
    assert not [p for p in (*atomic.iterdir(), *export.iterdir()) if p.name.startswith(".")]


def test_recbole_inter_round_trip(run_dir: Path) -> None:
    inter_path = export_run(run_dir)["recbole"][0]
    lines = inter_path.read_text().splitlines()
    assert lines[0] == "user_id:token\titem_id:token\trating:float\ttimestamp:float\torigin:token"
    assert lines[2] == "u8\t101\t\t891717742\treal"  # missing rating: empty field
    back = read_recbole_inter(inter_path)
    assert list(back.columns) == list(EXPORT_COLUMNS)
    assert back["rating"].dtype == np.float64 and back["timestamp"].dtype == np.float64
    pd.testing.assert_frame_equal(_normalise(back), _normalise(EXPECTED))


def test_recbole_user_and_item_files(run_dir: Path) -> None:
    _, user_path, item_path = export_run(run_dir, out_dir=run_dir / "elsewhere")["recbole"]
    assert user_path.parent == run_dir / "elsewhere"
    user_lines = user_path.read_text().splitlines()
    assert user_lines[0] == (
        "user_id:token\tage:float\tgender:token\toccupation:token\tzip_code:token"
    )
    users = read_recbole_inter(user_path)
    assert list(users["user_id"]) == ["u7", "u8", "u9"]
    assert list(users["age"]) == [24.0, 53.0, 31.0]
    assert list(users["occupation"]) == ["technician", "other", "health care"]

    item_lines = item_path.read_text().splitlines()
    assert item_lines[0] == "item_id:token\ttitle:token_seq\tgenre:token_seq\tpopularity:float"
    assert len(item_lines) == 5  # the newline inside a title did not split a row
    items = read_recbole_inter(item_path)
    assert list(items["item_id"]) == ["101", "102", "103", "104"]
    assert list(items["title"]) == ["Toy Story (1995)", 'The "Tab" Movie', "Line Break", "Heat"]
    assert list(items["genre"]) == ["Animation Children's", "Film_Noir Drama", "", "Action"]
    assert list(items["popularity"]) == [2.0, 1.0, 0.0, 0.0]


def test_csv_round_trip(run_dir: Path) -> None:
    paths = {p.name: p for p in export_run(run_dir, formats=["csv"])["csv"]}
    inter = pd.read_csv(paths["interactions.csv"], dtype={"user_id": str, "item_id": str})
    assert list(inter.columns) == list(EXPORT_COLUMNS)
    pd.testing.assert_frame_equal(_normalise(inter), _normalise(EXPECTED))
    users = pd.read_csv(paths["users.csv"])
    assert "taste" not in users and list(users["user_id"]) == ["u7", "u8", "u9"]
    items = pd.read_csv(paths["items.csv"])
    assert list(items["title"]) == ["Toy Story (1995)", 'The "Tab"\tMovie', "Line\nBreak", "Heat"]
    events = pd.read_csv(paths["events.csv"])
    assert len(events) == 11 and list(events.columns)[:2] == ["run", "step"]
    assert list(events["event"])[:4] == ["impression", "impression", "click", "rating"]


def test_parquet_round_trip(run_dir: Path) -> None:
    (path,) = export_run(run_dir, formats=["parquet"], out_dir=run_dir / "out")["parquet"]
    back = pd.read_parquet(path)
    assert list(back.columns) == list(EXPORT_COLUMNS)
    pd.testing.assert_frame_equal(_normalise(back), _normalise(EXPECTED))


@pytest.mark.parametrize(
    "missing", ["users.parquet", "items.parquet", "train.parquet", "events.parquet"]
)
def test_missing_run_file(run_dir: Path, missing: str) -> None:
    target = run_dir / missing
    if target.is_dir():
        for p in target.iterdir():
            p.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(DataError, match=f"{missing}.*not a complete simrec run folder"):
        export_run(run_dir)


def test_missing_run_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        export_run(tmp_path / "nope")


def test_unknown_format(run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="recbole, csv, parquet"):
        export_run(run_dir, formats=["recbole", "xlsx"])
    with pytest.raises(ConfigError, match="valid_fraction"):
        export_run(run_dir, valid_fraction=1.0)


def test_inconsistent_indices(run_dir: Path) -> None:
    pd.read_parquet(run_dir / "users.parquet").iloc[:2].to_parquet(run_dir / "users.parquet")
    with pytest.raises(DataError, match="user index 2"):
        export_run(run_dir)


def test_read_recbole_inter_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_recbole_inter(tmp_path / "x.inter")
    bad = tmp_path / "bad.inter"
    bad.write_text("user_id\titem_id\n1\t2\n")
    with pytest.raises(DataError, match="not a RecBole atomic file"):
        read_recbole_inter(bad)


def test_run_without_clicks_exports_real_rows_only(run_dir: Path) -> None:
    events = run_dir / "events.parquet"
    for p in events.iterdir():
        p.unlink()
    with EventSink(events, "tiny-run", ["choice"]) as sink:
        batch = _events()
        batch.event[:] = EVENT_CODE["impression"]
        batch.policy[:] = 0
        sink.append(batch)
    inter = build_interactions(run_dir)
    assert list(inter["origin"]) == ["real"] * 3
    for p in events.iterdir():
        p.unlink()  # a run that crashed before its first part: still exportable
    assert len(build_interactions(run_dir)) == 3


# -- the RecBole benchmark split -------------------------------------------------------------

RECBOLE_TYPES = {"token", "token_seq", "float", "float_seq"}


def _atomic_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a RecBole atomic file, checked against RecBole's documented format:
    tab-separated, a first line of ``name:type`` fields with RecBole's four types, every row
    as many fields as the header."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and "\r" not in "".join(lines)
    header = lines[0].split("\t")
    for field in header:
        name, sep, kind = field.partition(":")
        assert name and sep and ":" not in kind and kind in RECBOLE_TYPES, field
    rows = [line.split("\t") for line in lines[1:-1]]
    assert all(len(r) == len(header) for r in rows), path
    return header, rows


@pytest.fixture()
def bench_dir(run_dir: Path) -> Path:
    """The tiny run with more real training rows, a held-out part and a manifest's seed."""
    user = np.array([0] * 12 + [1] * 5 + [2], np.int32)
    item = np.array([0, 1, 2, 3] * 3 + [0, 1, 2, 3, 0] + [1], np.int32)
    pd.DataFrame(
        {
            "user": user,
            "item": item,
            "rating": np.where(np.arange(18) % 4 == 1, NAN, 3.0).astype(np.float32),
            "timestamp": np.arange(18, dtype=np.int64)[::-1] * 100,  # latest rows come first
        }
    ).to_parquet(run_dir / "train.parquet")
    pd.DataFrame(
        {
            "user": np.array([0, 1, 1, 2], np.int32),
            "item": np.array([3, 2, 0, 1], np.int32),
            "rating": np.array([5.0, 2.0, NAN, 4.0], np.float32),
            "timestamp": np.array([5000, 5100, 5200, 5300], np.int64),
        }
    ).to_parquet(run_dir / "heldout.parquet")
    scenario = {"environment": {"data": {"split": {"kind": "random"}}}}
    (run_dir / "manifest.json").write_text(json.dumps({"seed": 7, "scenario": scenario}))
    return run_dir


def test_recbole_benchmark_split_files(bench_dir: Path) -> None:
    written = export_run(bench_dir)["recbole"]
    names = [p.name for p in written]
    assert names == ["tiny-run.inter", "tiny-run.user", "tiny-run.item"] + [
        f"tiny-run.{part}.inter" for part in BENCHMARK_PARTS
    ]
    files = {p.name.removeprefix("tiny-run."): _atomic_rows(p) for p in written}
    inter_header = files["inter"][0]
    assert all(files[f"{part}.inter"][0] == inter_header for part in BENCHMARK_PARTS)
    parts = {part: read_recbole_inter(bench_dir / "atomic" / f"tiny-run.{part}.inter")
             for part in BENCHMARK_PARTS}  # fmt: skip

    # test is exactly the held-out data, row for row, with raw ids
    held = pd.read_parquet(bench_dir / "heldout.parquet")
    expected = pd.DataFrame(
        {
            "user_id": ["u7", "u8", "u8", "u9"],
            "item_id": ["104", "103", "101", "102"],
            "rating": held["rating"],
            "timestamp": held["timestamp"],
            "origin": ["real"] * len(held),
        }
    )
    pd.testing.assert_frame_equal(_normalise(parts["test"]), _normalise(expected))
    users = {r[0] for r in files["user"][1]}
    items = {r[0] for r in files["item"][1]}
    assert set(parts["test"]["user_id"]) <= users and set(parts["test"]["item_id"]) <= items

    # valid: real rows only, round(0.1 * n) per user (12 -> 1, 5 -> 1 (halves up), 1 -> 0)
    valid = parts["valid"]
    assert (valid["origin"] == "real").all()
    assert valid["user_id"].value_counts().to_dict() == {"u7": 1, "u8": 1}
    # train + valid is the plain export, row for row: every simulated row stays in train, even
    # u8's simulated watch of 103, which u8 holds out (RecBole still ranks a test item the user
    # has in train; the simulation never saw it held out); no held-out row in train or valid
    plain = read_recbole_inter(bench_dir / "atomic" / "tiny-run.inter")
    both = pd.concat([parts["train"], valid]).sort_values(list(EXPORT_COLUMNS), ignore_index=True)
    pd.testing.assert_frame_equal(both, plain.sort_values(list(EXPORT_COLUMNS), ignore_index=True))
    assert (parts["train"]["origin"] == "sim").sum() == (plain["origin"] == "sim").sum() == 3
    key = ["user_id", "item_id", "timestamp"]
    test_keys = set(parts["test"][key].itertuples(index=False, name=None))
    for part in ("train", "valid"):
        assert not set(parts[part][key].itertuples(index=False, name=None)) & test_keys

    again = export_run(bench_dir, out_dir=bench_dir / "again")["recbole"]
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]  # seeded


def test_valid_rows_follow_the_data_split() -> None:
    user = np.repeat([5, 3, 9], [10, 20, 1])
    timestamp = np.concatenate([np.arange(10)[::-1], np.arange(20), [0]])
    latest = valid_rows(user, timestamp, "temporal", 0.2, seed=0)
    assert latest.sum() == 2 + 4  # the single-row user keeps its row
    assert list(np.flatnonzero(latest)) == [0, 1, 26, 27, 28, 29]  # each user's latest rows
    picked = [valid_rows(user, timestamp, "random", 0.2, seed=s) for s in (0, 0, 1)]
    assert np.array_equal(picked[0], picked[1]) and not np.array_equal(picked[0], picked[2])
    assert [int(picked[0][user == u].sum()) for u in (5, 3, 9)] == [2, 4, 0]


def test_no_benchmark_split_without_held_out_data(bench_dir: Path) -> None:
    held = pd.read_parquet(bench_dir / "heldout.parquet")
    held.iloc[:0].to_parquet(bench_dir / "heldout.parquet")  # split: none holds nothing out
    assert [p.name for p in export_run(bench_dir)["recbole"]] == [
        "tiny-run.inter", "tiny-run.user", "tiny-run.item"
    ]  # fmt: skip
