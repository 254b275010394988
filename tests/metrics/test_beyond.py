"""Beyond-accuracy metrics on hand-computed tiny inputs and brute-force loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simrec.metrics import beyond
from simrec.metrics.beyond import (
    coverage,
    exposure_gini,
    intra_list_diversity,
    novelty,
    page_diversities,
    popularity_bias,
    popularity_lift,
    popularity_percentiles,
)
from simrec.social.metrics import gini

# a = [1, 0], b = [0, 1], c = [1, 1], z = [0, 0]
FEATURES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
A, B, C, Z = 0, 1, 2, 3


def _brute_diversity(pages: np.ndarray, features: np.ndarray) -> float:
    per_page = []
    for page in pages:
        page = page[page >= 0]
        dists = []
        for i in range(len(page)):
            for j in range(len(page)):
                if i != j:
                    x, y = features[page[i]], features[page[j]]
                    nx_, ny = np.linalg.norm(x), np.linalg.norm(y)
                    cos = float(x @ y / (nx_ * ny)) if nx_ > 0 and ny > 0 else 0.0
                    dists.append(1.0 - cos)
        if dists:
            per_page.append(np.mean(dists))
    return float(np.mean(per_page))


def test_diversity_identical_items_is_zero() -> None:
    assert intra_list_diversity(np.array([[C, C, C], [A, A, A]]), FEATURES) == pytest.approx(0.0)


def test_diversity_orthogonal_items_is_one() -> None:
    assert intra_list_diversity(np.array([[A, B], [B, A]]), FEATURES) == pytest.approx(1.0)


def test_diversity_hand_computed_mean_over_pages() -> None:
    # page 1: cos(a,b)=0, cos(a,c)=cos(b,c)=1/√2 -> distance 1 - √2/3; page 2: a,c -> 1 - 1/√2
    expected = ((1 - math.sqrt(2) / 3) + (1 - 1 / math.sqrt(2))) / 2
    pages = np.array([[A, B, C], [A, C, -1]])
    assert intra_list_diversity(pages, FEATURES) == pytest.approx(expected)
    np.testing.assert_allclose(
        page_diversities(pages, FEATURES), [1 - math.sqrt(2) / 3, 1 - 1 / math.sqrt(2)]
    )


def test_diversity_zero_vectors_count_as_distance_one() -> None:
    assert intra_list_diversity(np.array([[Z, Z]]), FEATURES) == pytest.approx(1.0)
    assert intra_list_diversity(np.array([[Z, C]]), FEATURES) == pytest.approx(1.0)
    # a, a, z: pairs (a,a) distance 0, (a,z) twice distance 1 -> 2/3
    assert intra_list_diversity(np.array([[A, A, Z]]), FEATURES) == pytest.approx(2 / 3)


def test_diversity_skips_short_pages_and_scales_features() -> None:
    pages = np.array([[A, -1, -1], [A, B, -1]])
    assert intra_list_diversity(pages, FEATURES * 7.0) == pytest.approx(1.0)
    assert np.isnan(page_diversities(pages, FEATURES)[0])
    assert math.isnan(intra_list_diversity(np.array([[A], [B]]), FEATURES))
    assert math.isnan(intra_list_diversity(np.zeros((0, 5), np.int64), FEATURES))
    with pytest.raises(ValueError):
        intra_list_diversity(np.array([A, B]), FEATURES)


def test_diversity_matches_brute_force_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    features = (rng.random((30, 6)) < 0.3).astype(float)
    features[:3] = 0.0  # a few featureless items
    pages = rng.integers(0, 30, size=(23, 5))
    pages[4, 3:] = -1
    pages[9, 1:] = -1
    expected = _brute_diversity(pages, features)
    assert intra_list_diversity(pages, features) == pytest.approx(expected)
    monkeypatch.setattr(beyond, "_CHUNK_PAGES", 4)
    assert intra_list_diversity(pages, features) == pytest.approx(expected)


def test_novelty_uniform_popularity_is_log2_n() -> None:
    assert novelty(np.array([0, 3, 3, 7]), np.full(8, 5.0)) == pytest.approx(3.0)
    assert novelty(np.array([1]), np.zeros(16)) == pytest.approx(4.0)


def test_novelty_add_one_smoothing() -> None:
    pop = np.array([3.0, 0.0])  # p = [4/5, 1/5]
    assert novelty(np.array([0]), pop) == pytest.approx(-math.log2(0.8))
    assert novelty(np.array([0, 1]), pop) == pytest.approx((-math.log2(0.8) - math.log2(0.2)) / 2)
    assert math.isnan(novelty(np.array([], np.int64), pop))


def test_coverage() -> None:
    assert coverage(np.array([0, 0, 2]), 4) == pytest.approx(0.5)
    assert coverage(np.arange(4), 4) == pytest.approx(1.0)
    assert coverage(np.array([], np.int64), 4) == 0.0


def test_exposure_gini() -> None:
    assert exposure_gini(np.array([0, 1, 2, 3, 0, 1, 2, 3]), 4) == pytest.approx(0.0)
    assert exposure_gini(np.array([3, 3, 3, 3]), 4) == pytest.approx(0.75)
    # unshown items count as zeros: items 0,1 equally shown out of 4 -> gini([0,0,1,1]) = 0.5
    assert exposure_gini(np.array([0, 1]), 4) == pytest.approx(0.5)
    items = np.random.default_rng(1).integers(0, 50, 400)
    assert exposure_gini(items, 60) == pytest.approx(gini(np.bincount(items, minlength=60)))


def test_popularity_percentiles_and_bias() -> None:
    pop = np.array([1.0, 2.0, 3.0, 10.0])
    np.testing.assert_allclose(popularity_percentiles(pop), [0, 1 / 3, 2 / 3, 1])
    assert popularity_bias(np.array([3, 3, 3]), pop) == pytest.approx(1.0)
    assert popularity_bias(np.array([0]), pop) == pytest.approx(0.0)
    assert popularity_bias(np.arange(4), pop) == pytest.approx(0.5)
    # ties averaged: ranks [2.5, 2.5, 1] -> percentiles [0.75, 0.75, 0]
    np.testing.assert_allclose(popularity_percentiles(np.array([5.0, 5.0, 1.0])), [0.75, 0.75, 0.0])
    assert popularity_bias(np.arange(3), np.array([5.0, 5.0, 1.0])) == pytest.approx(0.5)
    assert math.isnan(popularity_bias(np.array([], np.int64), pop))


def test_popularity_lift() -> None:
    pop = np.array([1.0, 1.0, 4.0])  # mean 2
    assert popularity_lift(np.array([2]), pop) == pytest.approx(2.0)
    assert popularity_lift(np.array([0, 1, 2]), pop) == pytest.approx(1.0)
    assert popularity_lift(np.array([0, 0]), pop) == pytest.approx(0.5)
    assert math.isnan(popularity_lift(np.array([0]), np.zeros(3)))
