"""The ChromaDB store: persistence across processes' lifetimes, our embeddings
only (Chroma's default embedding function is never called), batching, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings

from simrec.memory.base import MemoryRecord, MemoryStoreError
from simrec.memory.chroma import ChromaMemoryStore, collection_name
from simrec.memory.embedders import HashingEmbedder

AGENTS = [0, 1, 2, 5]


@pytest.fixture(autouse=True)
def no_default_embedding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any use of Chroma's default embedding function fails the test."""
    from chromadb.utils import embedding_functions as efs

    def boom(self: object, input: object) -> None:
        raise AssertionError("Chroma's default embedding function was called")

    monkeypatch.setattr(efs.DefaultEmbeddingFunction, "__call__", boom)
    monkeypatch.setattr(efs.ONNXMiniLM_L6_V2, "__call__", boom)


def records() -> list[MemoryRecord]:
    titles = ["Heat", "Alien", "Toy Story", "Fargo", "Up", "Jaws"]
    return [
        MemoryRecord(
            a,
            s,
            "rating",
            f"watched {titles[(a + s) % 6]}, rated {1 + (a * s) % 5}: {'fun' if s % 2 else 'slow'}",
            round(0.1 + 0.8 * ((a + s) % 4) / 3, 3),
        )
        for s in range(12)
        for a in AGENTS
    ]


def queries(store: ChromaMemoryStore) -> list[list[tuple[MemoryRecord, float]]]:
    hits = store.query(
        AGENTS + [99], ["watched Alien, fun", "slow Fargo", "Toy Story", "Jaws", "x"], k=4, now=12
    )
    return [[(h.record, h.score) for h in row] for row in hits]


@pytest.fixture
def raw() -> Iterator:
    """Opens the folder with a plain chromadb client (closed afterwards)."""
    clients = []

    def open_(path: Path) -> chromadb.ClientAPI:
        clients.append(
            chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
        )
        return clients[-1]

    yield open_
    for c in clients:
        c.close()


def test_persistence_across_store_objects(tmp_path: Path, raw) -> None:
    path = tmp_path / "runs" / "x" / "memory"
    recs = records()
    store = ChromaMemoryStore(path, "Run x: memories", "hashing")
    store.add(recs)
    assert store.unwritten == len(recs)
    store.flush()
    assert store.unwritten == 0 and store.stats["written"] == len(recs)
    before = queries(store)
    store.close()

    # The data really is in Chroma, with our embeddings and metadata.
    col = raw(path).get_collection(collection_name("Run x: memories"))
    assert col.count() == len(recs)
    got = col.get(include=["embeddings", "metadatas", "documents"])
    np.testing.assert_array_equal(
        np.asarray(got["embeddings"], np.float32), HashingEmbedder().embed(got["documents"])
    )
    assert set(got["metadatas"][0]) == {"agent", "step", "kind", "importance", "seq"}
    assert sorted(got["ids"]) == sorted(f"{m['agent']}:{m['seq']}" for m in got["metadatas"])
    # A plain client's text query embeds with simrec's embedder, not Chroma's default.
    hit = col.query(query_texts=[recs[0].text], n_results=1, include=["documents"])
    assert hit["documents"][0][0] == recs[0].text
    raw_ids = got["ids"]

    reopened = ChromaMemoryStore(path, "Run x: memories", HashingEmbedder())
    assert reopened.stats["loaded"] == len(recs)
    for a in AGENTS:
        assert reopened.all(a) == [r for r in recs if r.agent == a]
    assert queries(reopened) == before
    # New records continue the sequence: no id collides with a stored one.
    reopened.add([MemoryRecord(1, 12, "reflection", "I like tense thrillers", 0.9)])
    reopened.close()
    again = raw(path).get_collection(collection_name("Run x: memories")).get(include=[])
    assert len(set(again["ids"])) == len(recs) + 1 and set(raw_ids) < set(again["ids"])


def test_ephemeral_store_is_isolated_and_works() -> None:
    a, b = ChromaMemoryStore(None, "same"), ChromaMemoryStore(None, "same")
    recs = records()
    a.add(recs)
    a.flush()
    assert a.collection.count() == len(recs) and b.collection.count() == 0
    assert a.query([1], ["Alien"], k=2, now=12)[0] and b.query([1], ["Alien"], k=2, now=12) == [[]]
    a.close()
    b.close()


def test_flush_writes_in_batches_and_keeps_failed_writes_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ChromaMemoryStore(tmp_path / "m", "b", batch_size=7)
    recs = records()
    calls: list[int] = []
    real = store._write

    def flaky(rs, vecs, seqs) -> None:
        calls.append(len(rs))
        if len(calls) == 3:
            raise RuntimeError("disk full")
        real(rs, vecs, seqs)

    monkeypatch.setattr(store, "_write", flaky)
    store.add(recs)
    with pytest.raises(MemoryStoreError, match="after 14 of 48 records.*disk full"):
        store.flush()
    assert store.unwritten == len(recs) - 14 and store.collection.count() == 14
    assert store.count(0) == 12  # the mirror has everything meanwhile
    store.flush()
    assert store.unwritten == 0 and store.collection.count() == len(recs)
    assert max(calls) == 7
    store.close()


def test_unopenable_path_and_wrong_embedder(tmp_path: Path) -> None:
    afile = tmp_path / "not_a_dir"
    afile.write_text("x")
    with pytest.raises(MemoryStoreError, match="is a file"):
        ChromaMemoryStore(afile, "c")
    with pytest.raises(MemoryStoreError, match="Cannot open"):
        ChromaMemoryStore(afile / "below", "c")
    store = ChromaMemoryStore(tmp_path / "m", "c", HashingEmbedder(dim=256))
    store.add(records()[:3])
    store.close()
    with pytest.raises(MemoryStoreError, match="dim 256.*dim 64"):
        ChromaMemoryStore(tmp_path / "m", "c", HashingEmbedder(dim=64))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Run x: memories", "run-x-memories"),
        ("ab", "mem-ab"),
        ("", "memory"),
        ("--__a..b__--", "a.b"),
        ("1.2.3.4", "mem-1.2.3.4"),
        ("x" * 600, "x" * 512),
    ],
)
def test_collection_names_follow_chroma_rules(name: str, expected: str) -> None:
    assert collection_name(name) == expected
