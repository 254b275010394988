"""topk_rows: agrees with a full stable sort, breaks ties by index, skips -inf."""

from __future__ import annotations

import numpy as np
import pytest

from simrec.core.topk import topk_rows


def _reference(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("k", [1, 5, 37, 50])
def test_matches_full_sort(k: int) -> None:
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((64, 50)).astype(np.float32)
    out = topk_rows(scores, k)
    assert out.shape == (64, k)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, _reference(scores, k))


def test_ties_inside_the_top_k_are_ordered_by_index() -> None:
    scores = np.array([[1.0, 3.0, 3.0, 0.0, 3.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(topk_rows(scores, 4), [[1, 2, 4, 5]])


def test_ties_go_to_lower_index() -> None:
    rng = np.random.default_rng(1)
    # Few distinct values: lots of ties, inside and at the boundary of the top k.
    scores = rng.integers(0, 4, size=(200, 30)).astype(np.float32)
    for k in (1, 3, 10, 29, 30):
        np.testing.assert_array_equal(topk_rows(scores, k), _reference(scores, k))
    np.testing.assert_array_equal(
        topk_rows(np.zeros((3, 10), np.float32), 4), np.tile(np.arange(4), (3, 1))
    )


def test_minus_inf_is_excluded_while_finite_entries_remain() -> None:
    rng = np.random.default_rng(2)
    scores = rng.random((100, 40)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.5] = -np.inf
    finite = np.isfinite(scores).sum(axis=1)
    out = topk_rows(scores, 10)
    picked = np.take_along_axis(scores, out, axis=1)
    for row in range(len(scores)):
        n_finite = min(10, finite[row])
        assert np.isfinite(picked[row, :n_finite]).all()
        assert not np.isfinite(picked[row, n_finite:]).any()
        # The finite part is exactly the sorted finite scores.
        np.testing.assert_array_equal(
            out[row, :n_finite], _reference(scores[row : row + 1], n_finite)[0]
        )


def test_all_excluded_row_returns_lowest_indices() -> None:
    scores = np.full((2, 8), -np.inf, dtype=np.float32)
    scores[1, 6] = 1.0
    out = topk_rows(scores, 3)
    np.testing.assert_array_equal(out, [[0, 1, 2], [6, 0, 1]])


def test_no_duplicates_and_descending() -> None:
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((500, 300))
    out = topk_rows(scores, 25)
    assert (np.diff(np.sort(out, axis=1), axis=1) > 0).all()
    assert (np.diff(np.take_along_axis(scores, out, axis=1), axis=1) <= 0).all()


@pytest.mark.parametrize("m", [256, 300, 1000, 5000])
def test_wide_rows_with_ties_and_exclusions_match_full_sort(m: int) -> None:
    # Wide rows take the block-threshold path; ties and -inf must not change the answer.
    rng = np.random.default_rng(m)
    scores = rng.integers(0, 5, size=(40, m)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[0] = -np.inf  # a fully excluded row
    for k in (1, 10, 50, m // 64 + 3, m):
        np.testing.assert_array_equal(topk_rows(scores, k), _reference(scores, k))
