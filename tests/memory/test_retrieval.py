"""Retrieval contract, run over every registered memory store.

Memories are hand-made so the right ranking is known: relevance wins when
recency and importance are equal; recency and importance scale the score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from simrec.memory import scoring
from simrec.memory.base import (
    KINDS,
    MEMORY_STORES,
    MemoryRecord,
    MemoryStore,
    MemoryStoreError,
    Retrieved,
)

ALIEN = "watched Alien, rated 5: scary space horror with a monster"
BREAD = "baked sourdough bread with grandma on sunday"
TENNIS = "played tennis in the park after work"

StoreFactory = Callable[..., MemoryStore]


@pytest.fixture(params=["memory", "chroma"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[MemoryStore] = []

    def make(decay: float = 0.95) -> MemoryStore:
        cls = MEMORY_STORES.get(request.param)
        if request.param == "chroma":
            store = cls(
                tmp_path / f"mem{len(opened)}", collection="test", embedder="hashing", decay=decay
            )
        else:
            store = cls(embedder="hashing", decay=decay)
        opened.append(store)
        return store

    yield make
    for s in opened:
        s.close()


def texts_of(hits: list[Retrieved]) -> list[str]:
    return [h.record.text for h in hits]


def fill(store: MemoryStore, records: list[MemoryRecord]) -> MemoryStore:
    store.add(records)
    store.flush()
    return store


def test_registry_lists_both_stores() -> None:
    assert MEMORY_STORES.names() == ["chroma", "memory"]


def test_relevance_wins_when_recency_and_importance_equal(make_store: StoreFactory) -> None:
    store = fill(
        make_store(), [MemoryRecord(1, 5, "watch", t, 0.5) for t in (BREAD, ALIEN, TENNIS)]
    )
    [hits] = store.query([1], ["a scary space horror movie"], k=3, now=5)
    assert texts_of(hits)[0] == ALIEN
    assert hits[0].relevance > hits[1].relevance >= hits[2].relevance
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_old_memory_loses_to_recent_equally_relevant_one(make_store: StoreFactory) -> None:
    store = fill(
        make_store(),
        [MemoryRecord(2, 0, "watch", ALIEN, 0.5), MemoryRecord(2, 100, "watch", ALIEN, 0.5)],
    )
    hits = store.query([2], ["space horror"], k=2, now=100)[0]
    assert [h.record.step for h in hits] == [100, 0]
    assert hits[0].recency == 1.0 and hits[1].recency == pytest.approx(0.95**100)
    assert hits[0].relevance == pytest.approx(hits[1].relevance)


def test_important_beats_trivial(make_store: StoreFactory) -> None:
    recs = [
        MemoryRecord(3, 4, "rating", ALIEN, 0.1),  # exact match, trivial
        MemoryRecord(3, 4, "review", "watched Aliens, a loud space action sequel", 0.9),
        MemoryRecord(3, 4, "social", BREAD, 0.1),
    ]
    hits = fill(make_store(), recs).query([3], [ALIEN], k=3, now=4)[0]
    assert hits[0].record.importance == 0.9
    assert hits[1].record.text == ALIEN and hits[1].relevance == pytest.approx(1.0)


def test_score_is_relevance_times_recency_times_importance(make_store: StoreFactory) -> None:
    recs = [
        MemoryRecord(4, s, KINDS[s % len(KINDS)], f"memory number {s} about {t}", (s + 1) / 10)
        for s, t in enumerate(["films", "books", "food", "tennis", "music", "films again"])
    ]
    hits = fill(make_store(decay=0.9), recs).query([4], ["films"], k=10, now=7)[0]
    assert len(hits) == 6
    for h in hits:
        assert 0.0 <= h.relevance <= 1.0
        assert h.recency == pytest.approx(0.9 ** (7 - h.record.step))
        assert h.score == pytest.approx(h.relevance * h.recency * h.record.importance)


def test_ties_newer_first_then_insertion_order(make_store: StoreFactory) -> None:
    recs = [
        MemoryRecord(5, 1, "watch", ALIEN, 0.5),
        MemoryRecord(5, 3, "watch", ALIEN, 0.5),
        MemoryRecord(5, 3, "rating", ALIEN, 0.5),
    ]
    hits = fill(make_store(decay=1.0), recs).query([5], [ALIEN], k=3, now=3)[0]
    assert len({h.score for h in hits}) == 1
    assert [(h.record.step, h.record.kind) for h in hits] == [
        (3, "watch"),
        (3, "rating"),
        (1, "watch"),
    ]


def test_per_agent_isolation_and_k_beyond_count(make_store: StoreFactory) -> None:
    store = fill(
        make_store(),
        [
            MemoryRecord(1, 0, "watch", ALIEN),
            MemoryRecord(2, 0, "watch", BREAD),
            MemoryRecord(2, 1, "watch", TENNIS),
        ],
    )
    one, two, nobody = store.query([1, 2, 77], [BREAD, ALIEN, ALIEN], k=10, now=2)
    assert texts_of(one) == [ALIEN]
    assert sorted(texts_of(two)) == sorted([BREAD, TENNIS])
    assert nobody == []
    assert store.query([1], [ALIEN], k=0, now=2) == [[]]
    assert store.query([], [], k=3, now=2) == []


def synthetic(n_agents: int = 30, per_agent: int = 25) -> list[MemoryRecord]:
    rng = np.random.default_rng(7)
    words = [
        "space",
        "horror",
        "comedy",
        "drama",
        "love",
        "war",
        "robots",
        "family",
        "music",
        "heist",
        "spy",
    ]
    recs = []
    for step in range(per_agent):
        for a in rng.permutation(n_agents):
            w = rng.choice(words, 3, replace=False)
            recs.append(
                MemoryRecord(
                    int(a) * 3,
                    step,
                    str(rng.choice(KINDS)),
                    f"watched a {w[0]} {w[1]} film: {w[2]}",
                    float(rng.integers(0, 11)) / 10,
                )
            )
    return recs


def key(hits: list[Retrieved]) -> list[tuple[MemoryRecord, float]]:
    return [(h.record, round(h.score, 12)) for h in hits]


def test_batch_query_equals_one_by_one(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = fill(make_store(), synthetic())
    agents = [a * 3 for a in range(30)] + [0, 3, 1000]  # repeats and an unknown agent
    texts = [f"a {w} movie" for w in ("space", "love", "robots") * 11]
    batch = store.query(agents, texts, k=5, now=30)
    singles = [store.query([a], [t], k=5, now=30)[0] for a, t in zip(agents, texts)]
    assert [key(h) for h in batch] == [key(h) for h in singles]
    assert all(len(h) == 5 for h in batch[:-1]) and batch[-1] == []
    monkeypatch.setattr(scoring, "_CHUNK_BYTES", 4 * 256 * 40)  # ~1-2 agents per scoring chunk
    assert [key(h) for h in store.query(agents, texts, k=5, now=30)] == [key(h) for h in batch]


def test_reads_see_unflushed_records_recent_and_all(make_store: StoreFactory) -> None:
    store = make_store()
    recs = [MemoryRecord(9, s, "impression", f"saw item {s}") for s in (2, 0, 5, 5)]
    store.add(recs)
    assert store.count(9) == 4 and store.count(8) == 0
    assert store.all(9) == recs
    assert store.recent(9, 3) == [recs[3], recs[2], recs[0]]
    assert store.recent(9, 0) == [] and store.recent(8, 5) == []
    store.flush()
    assert store.all(9) == recs


def test_errors_name_the_cause(make_store: StoreFactory) -> None:
    with pytest.raises(ValueError, match="kind"):
        MemoryRecord(1, 0, "dream", "x")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MemoryRecord(1, 0, "watch", "x", importance=1.5)
    store = make_store()
    with pytest.raises(ValueError, match="one text per agent"):
        store.query([1, 2], ["x"], k=1, now=0)
    with pytest.raises(TypeError, match="MemoryRecord"):
        store.add(["not a record"])  # type: ignore[list-item]
    store.close()
    with pytest.raises(MemoryStoreError, match="closed"):
        store.count(1)


def test_numpy_scalars_are_normalised(make_store: StoreFactory) -> None:
    rec = MemoryRecord(np.int64(4), np.int32(2), "watch", ALIEN, np.float32(0.5))
    assert type(rec.agent) is int and type(rec.step) is int and type(rec.importance) is float
    store = fill(make_store(), [rec])
    assert store.all(4) == [MemoryRecord(4, 2, "watch", ALIEN, 0.5)]
