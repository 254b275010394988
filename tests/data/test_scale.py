"""Rating scales: levels, snapping, inference, off-scale errors, and where data sets get theirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.config import load_scenario
from simrec.core.errors import ConfigError, DataError
from simrec.data.files import load_interactions_file
from simrec.data.load import load_dataset
from simrec.data.movielens import load_movielens
from simrec.data.scale import (
    HALF_STARS,
    WHOLE_STARS,
    RatingScale,
    check_ratings,
    infer_scale,
    spread_prior,
)


def test_levels_dtype_and_names() -> None:
    assert WHOLE_STARS.levels.tolist() == [1, 2, 3, 4, 5] and WHOLE_STARS.n_levels == 5
    assert HALF_STARS.levels.tolist() == [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]
    assert HALF_STARS.n_levels == 10
    assert WHOLE_STARS.dtype == np.int8 and HALF_STARS.dtype == np.float32
    assert HALF_STARS.level_names()[:3] == ["0.5", "1", "1.5"]
    assert WHOLE_STARS.level_names() == ["1", "2", "3", "4", "5"]
    assert WHOLE_STARS.label == "whole stars 1–5" and HALF_STARS.label == "half stars 0.5–5"
    assert WHOLE_STARS.midpoints() == (1.5, 2.5, 3.5, 4.5)
    assert len(HALF_STARS.midpoints()) == 9
    assert RatingScale(1, 10, 1).dtype == np.int8 and RatingScale(1, 10, 1).n_levels == 10


def test_snap_goes_to_the_nearest_level_and_up_on_ties() -> None:
    got = HALF_STARS.snap(np.array([0.1, 0.74, 0.75, 2.25, 3.3, 7.0, np.nan]))
    np.testing.assert_array_equal(got, [0.5, 0.5, 1.0, 2.5, 3.5, 5.0, np.nan])
    # ties go up, not to the even level (np.rint would give 2 and 4)
    np.testing.assert_array_equal(WHOLE_STARS.snap(np.array([2.5, 3.5, 0.2])), [3, 4, 1])


def test_index_never_rounds() -> None:
    assert HALF_STARS.index(np.array([0.5, 3.5, 5.0, 3.3, 0.0, np.nan])).tolist() == [
        0,
        6,
        9,
        -1,
        -1,
        -1,
    ]
    assert WHOLE_STARS.index(np.array([1.0, 3.5, 5.0, 6.0])).tolist() == [0, -1, 4, -1]
    # float32 storage of a level is still that level
    assert HALF_STARS.index(np.array([3.5], np.float32)).tolist() == [6]
    assert HALF_STARS.values(np.array([0, 6, 9])).tolist() == [0.5, 3.5, 5.0]
    assert WHOLE_STARS.values(np.array([0, 4])).dtype == np.int8


@pytest.mark.parametrize(
    ("lo", "hi", "step", "says"),
    [
        (0, 5, 1, "above 0"),
        (1, 5, 0, "positive"),
        (5, 1, 1, "exceed"),
        (1, 5, 0.3, "whole number of steps"),
    ],
)
def test_bad_scales_are_refused(lo: float, hi: float, step: float, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        RatingScale(lo, hi, step)


def test_infer_whole_half_and_own_ranges() -> None:
    assert infer_scale(np.array([1.0, 2.0, 5.0])) == WHOLE_STARS
    assert infer_scale(np.array([5.0, 5.0])) == WHOLE_STARS  # fits the standard range
    assert infer_scale(np.array([1.0, 3.5, np.nan])) == HALF_STARS
    assert infer_scale(np.array([0.5, 4.0])) == HALF_STARS
    assert infer_scale(np.array([1.0, 10.0, 7.0])) == RatingScale(1, 10, 1)
    assert infer_scale(np.full(3, np.nan)) == WHOLE_STARS  # no ratings at all
    with pytest.raises(
        DataError, match=r"1 of 3 ratings are neither whole nor half stars \(e.g. 3.7\)"
    ):
        infer_scale(np.array([1.0, 3.7, 2.0]), "x.csv")
    with pytest.raises(DataError, match="above 0"):
        infer_scale(np.array([0.0, 3.0, 5.0]))


def test_check_ratings_counts_what_is_off_the_scale() -> None:
    check_ratings(np.array([1.0, 5.0, np.nan]), WHOLE_STARS)
    with pytest.raises(
        DataError,
        match=r"2 of 4 ratings are not on the rating scale whole stars 1–5 \(e.g. 2.5, 3.5\)",
    ):
        check_ratings(np.array([2.5, 3.5, 4.0, 1.0]), WHOLE_STARS, "log.csv")


def test_spread_prior_is_the_whole_star_prior_on_whole_stars() -> None:
    p = np.array([0.06, 0.11, 0.27, 0.34, 0.22])
    assert spread_prior(WHOLE_STARS, p) is not None
    np.testing.assert_array_equal(spread_prior(WHOLE_STARS, p), p)
    half = spread_prior(HALF_STARS, p)
    assert len(half) == 10 and half.sum() == pytest.approx(1.0) and (half > 0).all()


def _write_log(path: Path, ratings: list[float]) -> Path:
    n = len(ratings)
    pd.DataFrame({"user_id": np.arange(n) % 3, "item_id": np.arange(n), "rating": ratings,
                  "timestamp": np.arange(n)}).to_csv(path, index=False)  # fmt: skip
    return path


def test_files_infer_their_scale(tmp_path: Path) -> None:
    half = load_interactions_file(_write_log(tmp_path / "half.csv", [0.5, 3.5, 4.0, 5.0]))
    assert half.scale == HALF_STARS
    whole = load_interactions_file(_write_log(tmp_path / "whole.csv", [1.0, 3.0, 4.0, 5.0]))
    assert whole.scale == WHOLE_STARS
    with pytest.raises(DataError, match="cannot be inferred"):
        load_interactions_file(_write_log(tmp_path / "odd.csv", [1.25, 3.0]))
    with pytest.raises(DataError, match="1 of 2 ratings are not on the rating scale whole stars"):
        load_interactions_file(_write_log(tmp_path / "x.csv", [1.5, 3.0]), rating_scale=WHOLE_STARS)


def _file_cfg(path: Path, **data: object):
    cfg = load_scenario(
        data={"environment": {"data": {"source": "file", "path": str(path), **data}}}
    )
    return cfg.environment.data


def test_the_data_block_may_set_the_scale(tmp_path: Path) -> None:
    log = _write_log(tmp_path / "log.csv", [1.0, 2.0, 4.0, 5.0])
    rng = np.random.default_rng(0)
    assert load_dataset(_file_cfg(log), rng).scale == WHOLE_STARS  # auto
    explicit = load_dataset(_file_cfg(log, rating_scale={"min": 0.5, "max": 5, "step": 0.5}), rng)
    assert explicit.scale == HALF_STARS  # whole stars are half-star levels too
    ten = load_dataset(_file_cfg(log, rating_scale={"min": 1, "max": 10, "step": 1}), rng)
    assert ten.scale == RatingScale(1, 10, 1)
    odd = _write_log(tmp_path / "odd.csv", [1.5, 2.0])
    with pytest.raises(
        DataError, match="1 of 2 ratings are not on the rating scale whole stars 1–5"
    ):
        load_dataset(_file_cfg(odd, rating_scale={"min": 1, "max": 5, "step": 1}), rng)


@pytest.mark.parametrize(
    ("scale", "says"),
    [({"min": 1, "max": 5, "step": 0.3}, "whole number of steps"), ({"min": 5, "max": 1, "step": 1}, "exceed"),
     ({"min": 0, "max": 5, "step": 1}, "greater than 0"), ({"min": 1, "max": 5}, "step"),
     ("half", "auto")],
)  # fmt: skip
def test_the_config_field_is_validated(tmp_path: Path, scale: object, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        _file_cfg(tmp_path / "log.csv", rating_scale=scale)


def test_movielens_declares_its_scale(tmp_path: Path, ml100k_dir: Path) -> None:
    assert load_movielens("100k", path=ml100k_dir).scale == WHOLE_STARS
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    pd.DataFrame(
        {"movieId": [1, 2], "title": ["A (1995)", "B (1996)"], "genres": ["Comedy", "Drama"]}
    ).to_csv(folder / "movies.csv", index=False)
    pd.DataFrame({"userId": [1, 1, 2], "movieId": [1, 2, 1], "rating": [0.5, 3.5, 4.0],
                  "timestamp": [1, 2, 3]}).to_csv(folder / "ratings.csv", index=False)  # fmt: skip
    latest = load_movielens("latest-small", path=folder)
    assert latest.scale == HALF_STARS
    assert latest.interactions.rating.tolist() == [0.5, 3.5, 4.0]  # nothing rounded


def test_synthetic_worlds_rate_in_whole_stars_unless_configured() -> None:
    data = {"source": "synthetic", "n_users": 60, "n_items": 80, "interactions_per_user": 10}
    whole = load_dataset(load_scenario(data={"environment": {"data": data}}).environment.data,
                         np.random.default_rng(1))  # fmt: skip
    assert whole.scale == WHOLE_STARS
    assert set(np.unique(whole.interactions.rating)) == {1, 2, 3, 4, 5}
    half_cfg = {**data, "rating_scale": {"min": 0.5, "max": 5, "step": 0.5}}
    half = load_dataset(load_scenario(data={"environment": {"data": half_cfg}}).environment.data,
                        np.random.default_rng(1))  # fmt: skip
    assert half.scale == HALF_STARS
    assert set(np.unique(half.interactions.rating)) == set(HALF_STARS.levels)
