"""Rating fidelity: JS sanity value, errors, distributions, popularity and session length."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simrec.fidelity.ratings import (
    AGENT4REC_STARS,
    js_distance,
    js_divergence,
    pages_before_leaving,
    popularity_correlation,
    rating_errors,
    star_distribution,
)


def test_agent4rec_js_sanity_value(ml100k_dir):
    stars = np.loadtxt(ml100k_dir / "u.data", dtype=np.int64, usecols=2)
    real = star_distribution(stars)
    np.testing.assert_allclose(real, [0.0611, 0.1137, 0.27145, 0.34174, 0.21201], atol=1e-4)
    # The "about 0.19" is the divergence (squared distance) in bits, not the distance.
    assert js_divergence(AGENT4REC_STARS, real) == pytest.approx(0.185, abs=0.005)
    assert js_distance(AGENT4REC_STARS, real) == pytest.approx(0.430, abs=0.005)
    assert js_divergence(real, real) == pytest.approx(0.0, abs=1e-12)


def test_star_distribution_ignores_unrated():
    np.testing.assert_allclose(star_distribution(np.array([0, 1, 5, 5, 0])), [1 / 3, 0, 0, 0, 2 / 3])


def test_rating_errors():
    e = rating_errors(np.array([4, 3, 0, 5]), np.array([5, 3, 2, np.nan]))
    assert e["n_rated"] == 2
    assert e["rmse"] == pytest.approx(np.sqrt(0.5)) and e["mae"] == pytest.approx(0.5)
    assert np.isnan(rating_errors(np.zeros(3), np.ones(3))["rmse"])


def test_popularity_correlation():
    real = np.array([1, 5, 3, 10, 0])
    c = popularity_correlation(real * 2 + 1, real)
    assert c["spearman"] == pytest.approx(1.0) and c["pearson"] == pytest.approx(1.0)
    assert np.isnan(popularity_correlation(np.ones(5), real)["spearman"])


def test_pages_before_leaving():
    events = pd.DataFrame({"session": [1, 1, 1, 2, 3, 3], "page": [0, 1, 2, 0, 0, 1]})
    hist = pages_before_leaving(events)
    assert hist.to_dict() == {1: 1, 2: 1, 3: 1}
