"""PairSet: the same answers as a Python set, sparse or dense, and memory that levels off."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simrec.core.pairs import PairSet


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    batches=st.lists(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=60), max_size=8),
)
def test_pairset_answers_like_a_set(shape: tuple[int, int], batches: list[list[tuple[int, int]]]) -> None:
    rows, cols = shape
    ps, truth = PairSet(rows, cols), set()
    q = np.array([(r, c) for r in range(rows) for c in range(cols)], np.int64)
    for batch in batches:
        pairs = np.array([(r % rows, c % cols) for r, c in batch], np.int64).reshape(-1, 2)
        ps.add(pairs[:, 0], pairs[:, 1])
        truth |= {tuple(p) for p in pairs.tolist()}
        got = ps.contains(q[:, 0], q[:, 1])
        assert got.tolist() == [tuple(p) in truth for p in q.tolist()]


def test_pairset_turns_dense_once_keys_outgrow_the_bit_matrix() -> None:
    rng = np.random.default_rng(0)
    ps = PairSet(100, 80)  # a 1,000-byte bit matrix
    ps.add(rng.integers(0, 100, 50), rng.integers(0, 80, 50))
    assert not ps.dense and ps.nbytes <= 400
    for _ in range(20):
        ps.add(rng.integers(0, 100, 500), rng.integers(0, 80, 500))
    assert ps.dense and ps.nbytes == 1000
    ps.add(np.arange(100), np.zeros(100, np.int64))
    assert ps.nbytes == 1000 and ps.contains(np.array([99]), np.array([0])).all()


def test_pairset_starts_from_given_pairs() -> None:
    ps = PairSet(3, 3, np.array([0, 2]), np.array([1, 2]))
    assert ps.contains(np.array([0, 2, 1]), np.array([1, 2, 1])).tolist() == [True, True, False]
