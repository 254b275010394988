"""run_metrics and friends on real short runs, against independent pandas computations."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.env.runner import run_scenario
from simrec.io.events import read_events
from simrec.metrics.accuracy import heldout_precision_recall
from simrec.metrics.run import (
    exposure_counts,
    genre_features,
    metrics_over_time,
    page_matrix,
    run_metrics,
)
from tests.helpers import ml100k_scenario, small_scenario


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for rec in ("most_popular", "random"):
        cfg = small_scenario(tmp_path_factory.mktemp(rec), **{"recommender.name": rec})
        out[rec] = run_scenario(cfg).run_dir
    return out


@pytest.fixture(scope="module")
def popular(runs: dict[str, Path]) -> tuple[Path, dict[str, float], pd.DataFrame]:
    run_dir = runs["most_popular"]
    return run_dir, run_metrics(run_dir), read_events(run_dir)


def test_rates_match_pandas(popular: tuple[Path, dict[str, float], pd.DataFrame]) -> None:
    run_dir, row, ev = popular
    imp = ev[ev.event == "impression"]
    n_sessions = ev.session.nunique()
    assert row["sessions"] == n_sessions
    assert row["impressions"] == len(imp)
    assert row["clicks"] == (ev.event == "click").sum()
    assert row["click_rate"] == pytest.approx((ev.event == "click").sum() / len(imp))
    assert row["avg_rating"] == pytest.approx(
        ev.loc[ev.event == "rating", "value"].astype(float).mean()
    )
    n_pages = imp.groupby(["session", "page"]).ngroups
    assert row["pages_per_session"] == pytest.approx(n_pages / n_sessions)
    assert row["exit_rate"] == pytest.approx(
        ((ev.event == "exit") & (ev.value == 1)).sum() / n_sessions
    )
    n_items = len(pd.read_parquet(run_dir / "items.parquet"))
    assert row["coverage"] == pytest.approx(imp.item.nunique() / n_items)
    # the run's own per-step table agrees
    m = pd.read_parquet(run_dir / "metrics.parquet")
    assert row["sessions"] == m.sessions.sum() and n_pages == m.pages.sum()
    assert row["satisfaction"] == pytest.approx(m.mean_satisfaction.mean())


def test_return_rate_matches_pandas(popular: tuple[Path, dict[str, float], pd.DataFrame]) -> None:
    run_dir, row, ev = popular
    last = pd.read_parquet(run_dir / "metrics.parquet").step.max()
    steps = ev.groupby("user").step.agg(["min", "max"])
    eligible = steps[steps["min"] < last]
    expected = (eligible["max"] > eligible["min"]).mean()
    assert 0 < expected < 1
    assert row["return_rate"] == pytest.approx(expected)


def test_accuracy_and_beyond_match_independent(
    popular: tuple[Path, dict[str, float], pd.DataFrame],
) -> None:
    run_dir, row, ev = popular
    imp = ev[ev.event == "impression"]
    held = pd.read_parquet(run_dir / "heldout.parquet")
    n_users = len(pd.read_parquet(run_dir / "users.parquet"))
    p, r = heldout_precision_recall(imp.user, imp.item, held.user, held.item, n_users)
    assert (row["precision"], row["recall"]) == pytest.approx((p, r))
    assert 0 < row["precision"] < 1 and 0 < row["recall"] < 1

    items = pd.read_parquet(run_dir / "items.parquet")
    pop = (
        pd.read_parquet(run_dir / "train.parquet")
        .item.value_counts()
        .reindex(items.item, fill_value=0)
    )
    pct = (pop.rank(method="average").to_numpy() - 1) / (len(pop) - 1)
    assert row["popularity_bias"] == pytest.approx(pct[imp.item].mean())
    assert row["popularity_lift"] == pytest.approx(pop.to_numpy()[imp.item].mean() / pop.mean())
    p_smooth = (pop.to_numpy() + 1) / (pop.sum() + len(pop))
    assert row["novelty"] == pytest.approx(-np.log2(p_smooth[imp.item]).mean())
    counts = np.sort(imp.item.value_counts().reindex(items.item, fill_value=0).to_numpy())
    n = len(counts)
    assert row["exposure_gini"] == pytest.approx(
        ((2 * np.arange(1, n + 1) - n - 1) * counts).sum() / (n * counts.sum())
    )

    genre_sets = [set(g.split("|")) - {""} for g in items.sort_values("item").genres]
    dists = []
    for _, page in imp.sort_values("position").groupby(["session", "page"]):
        its = page.item.to_numpy()
        d = [
            1
            - len(genre_sets[a] & genre_sets[b])
            / math.sqrt(len(genre_sets[a]) * len(genre_sets[b]))
            for i, a in enumerate(its)
            for j, b in enumerate(its)
            if i != j
        ]
        dists.append(np.mean(d))
    assert row["intra_list_diversity"] == pytest.approx(np.mean(dists))


def test_random_covers_more_and_is_less_popular(runs: dict[str, Path]) -> None:
    pop, rnd = run_metrics(runs["most_popular"]), run_metrics(runs["random"])
    assert rnd["coverage"] > pop["coverage"]
    assert rnd["popularity_bias"] < pop["popularity_bias"]
    assert rnd["exposure_gini"] < pop["exposure_gini"]
    assert rnd["novelty"] > pop["novelty"]
    assert abs(rnd["popularity_bias"] - 0.5) < 0.1


def test_metrics_over_time_and_exposure(
    popular: tuple[Path, dict[str, float], pd.DataFrame],
) -> None:
    run_dir, row, ev = popular
    imp = ev[ev.event == "impression"]
    curve = metrics_over_time(run_dir)
    steps = sorted(ev.step.unique())
    assert list(curve.step) == steps
    clicks = ev[ev.event == "click"].groupby("step").size() / imp.groupby("step").size()
    np.testing.assert_allclose(curve.click_rate, clicks.to_numpy())
    exits = (
        ev[(ev.event == "exit") & (ev.value == 1)].groupby("step").size()
        / ev.groupby("step").session.nunique()
    )
    np.testing.assert_allclose(curve.exit_rate, exits.to_numpy())
    n_items = len(pd.read_parquet(run_dir / "items.parquet"))
    so_far = [imp[imp.step <= s].item.nunique() / n_items for s in steps]
    np.testing.assert_allclose(curve.coverage_so_far, so_far)
    assert curve.coverage_so_far.iloc[-1] == pytest.approx(row["coverage"])

    counts = exposure_counts(run_dir)
    assert counts.shape == (n_items,) and counts.sum() == len(imp)
    np.testing.assert_array_equal(
        counts, imp.item.value_counts().reindex(range(n_items), fill_value=0)
    )


def test_no_genres_gives_nan_diversity(runs: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(runs["random"], copy)
    items = pd.read_parquet(copy / "items.parquet")
    items["genres"] = ""
    items.to_parquet(copy / "items.parquet")
    assert genre_features(items) is None
    row = run_metrics(copy)
    assert math.isnan(row["intra_list_diversity"])
    assert row["coverage"] == pytest.approx(1.0)


def test_genre_features_and_ragged_pages() -> None:
    items = pd.DataFrame({"item": [1, 0, 2], "genres": ["B|C", "A", None]})
    np.testing.assert_array_equal(genre_features(items), [[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    session = np.array([7, 7, 7, 3, 3, 7])
    page = np.array([0, 0, 1, 0, 0, 0])
    position = np.array([1, 0, 0, 1, 0, 2])
    item = np.array([10, 11, 12, 13, 14, 15])
    np.testing.assert_array_equal(
        page_matrix(session, page, position, item), [[14, 13, -1], [11, 10, 15], [12, -1, -1]]
    )


def test_ml100k_short_run(tmp_path: Path, ml100k_dir: Path) -> None:
    run_dir = run_scenario(ml100k_scenario(tmp_path, ml100k_dir, **{"run.steps": 2})).run_dir
    row = run_metrics(run_dir)
    m = pd.read_parquet(run_dir / "metrics.parquet")
    assert row["sessions"] == m.sessions.sum() and row["impressions"] == m.impressions.sum()
    assert row["pages_per_session"] == pytest.approx(m.pages.sum() / m.sessions.sum())
    assert row["exit_rate"] == pytest.approx(m.voluntary_exits.sum() / m.sessions.sum())
    for key in ("precision", "recall", "coverage", "intra_list_diversity", "return_rate"):
        assert 0 < row[key] < 1, key
    assert row["popularity_bias"] > 0.8  # most_popular
