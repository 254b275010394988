"""Tests of the event batch, the chunked Parquet sink and reading events back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from simrec.core.errors import ConfigError, DataError
from simrec.io.events import (
    EVENT_CODE,
    EVENT_SCHEMA,
    EVENT_TYPES,
    EventBatch,
    EventSink,
    list_parts,
    read_events,
)

POLICIES = ("choice", "llm", "hybrid")


def make_batch(n: int, seed: int = 0, start: int = 0) -> EventBatch:
    """``n`` random events (only impressions and clicks, policy 0) numbered from ``start``."""
    rng = np.random.default_rng(seed)
    event = rng.integers(0, 2, n)
    return EventBatch(
        step=np.arange(start, start + n) // 10,
        session=np.arange(start, start + n) // 5,
        page=rng.integers(0, 3, n),
        position=rng.integers(0, 10, n),
        user=rng.integers(0, 50, n),
        item=rng.integers(0, 100, n),
        event=event,
        value=np.full(n, np.nan),
        policy=np.zeros(n),
        timestamp=np.arange(start, start + n) * 60,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_batch_converts_dtypes_and_concatenates() -> None:
    a, b = make_batch(7), make_batch(5, seed=1)
    assert a.page.dtype == np.int16 and a.event.dtype == np.int8 and a.value.dtype == np.float32
    both = EventBatch.concat([a, EventBatch.empty(), b])
    assert len(both) == 12
    np.testing.assert_array_equal(both.item, np.concatenate([a.item, b.item]))
    assert len(EventBatch.concat([])) == 0


def test_batch_rejects_ragged_arrays() -> None:
    with pytest.raises(ValueError, match="rows"):
        EventBatch(**{**make_batch(3).__dict__, "user": np.zeros(2)})


def test_table_has_the_event_schema(tmp_path: Path) -> None:
    with EventSink(tmp_path / "events.parquet", "r1", POLICIES) as sink:
        sink.append(make_batch(20))
    table = pq.read_table(sink.parts[0])
    assert table.schema.equals(EVENT_SCHEMA)
    assert EVENT_SCHEMA.names == [
        "run", "step", "session", "page", "position", "user", "item",
        "event", "value", "policy", "timestamp", "via",
    ]  # fmt: skip
    assert EVENT_CODE["click"] == 1 and EVENT_TYPES[EVENT_CODE["exit"]] == "exit"


def test_chunking_writes_exact_parts_in_order(tmp_path: Path) -> None:
    directory = tmp_path / "events.parquet"
    with EventSink(directory, "r1", POLICIES, chunk_rows=100) as sink:
        for i in range(7):
            sink.append(make_batch(45, seed=i, start=45 * i))  # 315 rows
        assert sink.rows_written == 300 and sink.buffered_rows == 15
    assert [p.name for p in sink.parts] == [f"part-0000{i}.parquet" for i in range(4)]
    assert [pq.read_metadata(p).num_rows for p in sink.parts] == [100, 100, 100, 15]
    assert sink.rows_written == 315
    df = read_events(tmp_path)
    np.testing.assert_array_equal(df["timestamp"].to_numpy(), np.arange(315) * 60)
    whole = pd.read_parquet(directory)  # the folder reads as one table with plain pandas
    assert len(whole) == 315


def test_read_events_types(tmp_path: Path) -> None:
    batch = make_batch(4)
    batch.event[:] = [EVENT_CODE["click"], EVENT_CODE["rating"], EVENT_CODE["exit"], 0]
    batch.value[1] = 4.5
    batch.policy[:] = [0, 1, 2, 1]
    with EventSink(tmp_path / "events.parquet", "run-a", POLICIES) as sink:
        sink.append(batch)
    df = read_events(tmp_path)
    assert list(df.columns) == EVENT_SCHEMA.names
    assert list(df["event"].astype(str)) == ["click", "rating", "exit", "impression"]
    assert list(df["event"].cat.categories) == list(EVENT_TYPES)
    assert list(df["policy"].astype(str)) == ["choice", "llm", "hybrid", "llm"]
    assert set(df["run"].astype(str)) == {"run-a"}
    assert df["value"].iloc[1] == 4.5 and np.isnan(df["value"].iloc[0])
    assert read_events(tmp_path / "events.parquet").equals(df)


def test_missing_values_are_null_and_old_nan_parts_read_the_same(tmp_path: Path) -> None:
    batch = make_batch(6)
    codes = ["impression", "click", "rating", "exit", "exit", "share"]
    batch.event[:] = [EVENT_CODE[c] for c in codes]
    batch.value[2:5] = [4.0, 1.0, 0.0]  # stars, chose to leave, ran out of pages
    with EventSink(tmp_path / "new" / "events.parquet", "r1", POLICIES) as sink:
        sink.append(batch)
    column = pq.read_table(sink.parts[0]).column("value")
    assert column.null_count == 3  # SQL's count(value) counts the rating and the exits only
    assert column.to_pylist() == [None, None, 4.0, 1.0, 0.0, None]
    assert pc.mean(column).as_py() == pytest.approx(5 / 3)  # a number, not NaN
    assert np.isnan(column.to_numpy()[[0, 1, 5]]).all()  # numpy readers still see NaN

    # A part written before nulls (NaN stored as a float) reads exactly like a new one.
    old = tmp_path / "old" / "events.parquet"
    old.mkdir(parents=True)
    table = sink.to_table(batch)
    nan_values = pa.array(batch.value)  # from numpy without from_pandas: NaN, not null
    table = table.set_column(table.schema.get_field_index("value"), "value", nan_values)
    pq.write_table(table, old / "part-00000.parquet")
    assert pq.read_table(old / "part-00000.parquet").column("value").null_count == 0
    pd.testing.assert_frame_equal(read_events(old), read_events(tmp_path / "new"))
    assert read_events(old)["value"].dtype == np.float32


def test_duckdb_counts_and_averages_only_the_values(tmp_path: Path) -> None:
    """The README's DuckDB query, on parts as a run writes them (a real client, not pyarrow)."""
    import duckdb

    batch = make_batch(6)
    batch.event[:] = [EVENT_CODE[c] for c in ["impression", "click", "rating", "rating", "exit", "share"]]
    batch.value[2:5] = [4.0, 2.0, 1.0]
    with EventSink(tmp_path / "events.parquet", "r1", POLICIES) as sink:
        sink.append(batch)
    glob = f"{tmp_path / 'events.parquet'}/*.parquet"
    rows = duckdb.sql(
        f"SELECT event, count(*), count(value), avg(value) FROM '{glob}' GROUP BY event ORDER BY event"
    ).fetchall()
    assert rows == [("click", 1, 0, None), ("exit", 1, 1, 1.0), ("impression", 1, 0, None),
                    ("rating", 2, 2, 3.0), ("share", 1, 0, None)]  # fmt: skip
    types = dict(duckdb.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{glob}')").fetchall())
    assert types["run"] == types["event"] == "VARCHAR" and types["value"] == "FLOAT"


def test_parts_of_an_unclosed_sink_are_readable(tmp_path: Path) -> None:
    directory = tmp_path / "events.parquet"
    sink = EventSink(directory, "r1", POLICIES, chunk_rows=50)
    sink.append(make_batch(120))
    # Simulated crash: the sink is never closed; the 20 buffered rows are lost.
    assert len(read_events(tmp_path)) == 100
    assert len(pd.read_parquet(directory)) == 100
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]  # no temp files left


def test_exception_in_block_still_writes_buffer(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with EventSink(tmp_path / "events.parquet", "r1", POLICIES) as sink:
            sink.append(make_batch(10))
            raise RuntimeError("boom")
    assert len(read_events(tmp_path)) == 10


def test_identical_input_gives_identical_bytes(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        with EventSink(tmp_path / name, "r1", POLICIES, chunk_rows=64) as sink:
            for i in range(3):
                sink.append(make_batch(50, seed=i))
        digests.append([digest(p) for p in sink.parts])
    assert len(digests[0]) == 3 and digests[0] == digests[1]


def test_every_part_holds_the_full_vocabulary(tmp_path: Path) -> None:
    with EventSink(tmp_path / "events.parquet", "r1", POLICIES, chunk_rows=10) as sink:
        sink.append(make_batch(25))  # only impressions/clicks and policy 0 occur
    for part in sink.parts:
        table = pq.read_table(part)
        assert table.column("event").chunk(0).dictionary.to_pylist() == list(EVENT_TYPES)
        assert table.column("policy").chunk(0).dictionary.to_pylist() == list(POLICIES)
        assert table.column("run").chunk(0).dictionary.to_pylist() == ["r1"]


def test_empty_run_writes_one_empty_part(tmp_path: Path) -> None:
    with EventSink(tmp_path / "events.parquet", "r1", POLICIES) as sink:
        pass
    assert sink.rows_written == 0 and len(sink.parts) == 1
    df = read_events(tmp_path)
    assert len(df) == 0 and list(df.columns) == EVENT_SCHEMA.names


def test_existing_parts_are_never_overwritten(tmp_path: Path) -> None:
    directory = tmp_path / "events.parquet"
    with EventSink(directory, "r1", POLICIES) as sink:
        sink.append(make_batch(5))
    before = digest(sink.parts[0])
    with pytest.raises(ConfigError, match="resume=True"):
        EventSink(directory, "r1", POLICIES)
    with EventSink(directory, "r1", POLICIES, resume=True) as again:
        again.append(make_batch(3, start=5))
    assert [p.name for p in list_parts(directory)] == ["part-00000.parquet", "part-00001.parquet"]
    assert digest(sink.parts[0]) == before
    assert len(read_events(tmp_path)) == 8


def test_bad_codes_and_arguments(tmp_path: Path) -> None:
    sink = EventSink(tmp_path / "e", "r1", POLICIES)
    bad = make_batch(3)
    bad.policy[0] = 3
    with pytest.raises(ValueError, match="policy"):
        sink.append(bad)
    bad = make_batch(3)
    bad.event[0] = len(EVENT_TYPES)
    with pytest.raises(ValueError, match="event"):
        sink.append(bad)
    bad = make_batch(3)
    bad.via[0] = 2
    with pytest.raises(ValueError, match="via"):
        sink.append(bad)
    with pytest.raises(ConfigError):
        EventSink(tmp_path / "f", "r1", ["a", "a"])
    with pytest.raises(ConfigError):
        EventSink(tmp_path / "g", "r1", POLICIES, chunk_rows=0)
    with pytest.raises(ConfigError, match="compression"):
        EventSink(tmp_path / "h", "r1", POLICIES, compression="nope")
    assert sink.policy_code("llm") == 1
    sink.close()
    with pytest.raises(RuntimeError):
        sink.append(make_batch(1))


def test_read_events_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="events"):
        read_events(tmp_path)
    (tmp_path / "events.parquet").mkdir()
    with pytest.raises(DataError, match="no part files"):
        read_events(tmp_path)


def test_a_text_sink_that_got_nothing_leaves_a_readable_empty_table(tmp_path: Path) -> None:
    from simrec.io.texts import TEXT_SCHEMA, TextSink, read_texts

    sink = TextSink(tmp_path / "texts.parquet")
    sink.flush()
    sink.close()
    sink.close()  # closing twice adds nothing
    frame = pd.read_parquet(tmp_path / "texts.parquet")
    assert list(frame.columns) == TEXT_SCHEMA.names and len(frame) == 0
    assert len(list((tmp_path / "texts.parquet").iterdir())) == 1
    assert list(read_texts(tmp_path).columns) == TEXT_SCHEMA.names
