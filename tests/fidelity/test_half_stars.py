"""Honest rating scales on a half-star toy data set: agents, users' shares, JS, RMSE, cut-points.

The toy data set rates in half stars (0.5–5): every level is used, whole and half.
Nothing may round a real half star: the measures see 10 levels, the agents give
half stars, calibration fits 9 cut-points. A whole-star twin checks that whole-star
data keeps the figures of the old code, computed here independently.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.agents.policies.choice import ChoicePolicy
from simrec.config import load_scenario
from simrec.config.schema import PolicyConfig, ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.data.scale import HALF_STARS, WHOLE_STARS
from simrec.fidelity.calibrate import calibrate_world, fit_star_cuts
from simrec.fidelity.ratings import (
    choice_heldout_stars,
    js_divergence,
    rating_errors,
    star_distribution,
)
from simrec.fidelity.scorecard import measure_fidelity
from simrec.world.build import World, build_world

N_USERS, N_ITEMS, PER_USER, N_GENRES = 48, 120, 50, 4
GENRES = ["Action", "Comedy", "Drama", "Horror"]


def toy_data(tmp_path: Path, half: bool) -> dict:
    """A seeded toy log (ratings follow a planted taste), written under ``tmp_path``; the scenario mapping."""
    rng = np.random.default_rng(11)
    user_f, item_f = rng.normal(size=(N_USERS, 3)), rng.normal(size=(N_ITEMS, 3))
    rows = []
    for u in range(N_USERS):
        items = rng.choice(N_ITEMS, PER_USER, replace=False)
        score = 3.0 + 0.8 * user_f[u] @ item_f[items].T / np.sqrt(3) + rng.normal(0, 0.5, PER_USER)
        step = 0.5 if half else 1.0
        stars = np.clip(np.round(score / step) * step, step if half else 1.0, 5.0)
        rows += [
            (u, int(i), float(s), 1000 * u + j)
            for j, (i, s) in enumerate(zip(items, stars, strict=True))
        ]
    log = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    name = "half" if half else "whole"
    log.to_csv(tmp_path / f"{name}.csv", index=False)
    pd.DataFrame({"item_id": np.arange(N_ITEMS), "title": [f"Movie {i}" for i in range(N_ITEMS)],
                  "genres": [GENRES[i % N_GENRES] for i in range(N_ITEMS)]}).to_csv(
        tmp_path / "items.csv", index=False)  # fmt: skip
    return {
        "name": f"toy_{name}",
        "seed": 5,
        "environment": {
            "data": {"source": "file", "path": str(tmp_path / f"{name}.csv"), "items_path": str(tmp_path / "items.csv"),
                     "split": {"kind": "random", "holdout_fraction": 0.2}},
            "page_size": 5,
            "pages_per_session": 3,
        },
        "recommender": {"name": "most_popular"},
        "run": {"steps": 2, "output_dir": str(tmp_path / "runs"), "export": []},
    }  # fmt: skip


@pytest.fixture(scope="module")
def half(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScenarioConfig, World]:
    cfg = load_scenario(data=toy_data(tmp_path_factory.mktemp("half"), half=True))
    return cfg, build_world(cfg)


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScenarioConfig, World]:
    cfg = load_scenario(data=toy_data(tmp_path_factory.mktemp("whole"), half=False))
    return cfg, build_world(cfg)


def _rate_all(policy: ChoicePolicy, world: World) -> np.ndarray:
    t = world.train
    return policy.rate(
        t.user.astype(np.int64), t.item.astype(np.int64)[:, None], np.ones((len(t), 1), bool)
    )[:, 0]


def test_the_toy_data_uses_every_half_star_level(half) -> None:
    _, world = half
    assert world.dataset.scale == HALF_STARS
    real = world.dataset.interactions.rating
    assert set(np.unique(real)) == set(HALF_STARS.levels)


def test_users_own_star_shares_span_the_ten_levels(half) -> None:
    _, world = half
    pop, t = world.population, world.train
    assert pop.scale == HALF_STARS and pop.rating_cdf.shape == (N_USERS, 10)
    # independently: per-level counts of each user's training ratings, smoothed by 3 pseudo-ratings
    levels = [0.5 * k for k in range(1, 11)]
    total = Counter(t.rating.tolist())
    global_p = np.array([total[v] for v in levels]) / len(t)
    for u in (0, 7, 31):
        mine = Counter(t.rating[t.user == u].tolist())
        cnt = np.array([mine[v] for v in levels], float)
        expected = (cnt + 3.0 * global_p) / (cnt.sum() + 3.0)
        np.testing.assert_allclose(np.diff(pop.rating_cdf[u], prepend=0.0), expected, atol=1e-6)
        # half stars kept as their own levels (not rounded into 2 or 4)
        assert mine[2.5] + mine[3.5] > 0


@pytest.mark.parametrize("mode", ["habit", "cuts"])
def test_agents_give_half_stars(half, mode: str) -> None:
    _, world = half
    params = PolicyConfig().choice.model_copy(
        update={"rating_mode": mode, "star_cuts": HALF_STARS.midpoints()}
    )
    stars = _rate_all(
        ChoicePolicy(
            params, world.catalog, world.population, world.taste, np.random.default_rng(1)
        ),
        world,
    )
    assert stars.dtype == np.float32
    assert HALF_STARS.on_scale(stars).all()
    # half and whole levels
    assert (stars != np.round(stars)).any() and (stars == np.round(stars)).any()
    assert len(np.unique(stars)) >= 6


def test_whole_star_cuts_do_not_fit_half_stars(half) -> None:
    _, world = half
    params = PolicyConfig().choice.model_copy(update={"rating_mode": "cuts"})
    policy = ChoicePolicy(
        params, world.catalog, world.population, world.taste, np.random.default_rng(1)
    )
    with pytest.raises(ConfigError, match="has 4 cut-points.*10 levels and needs 9"):
        _rate_all(policy, world)


def test_js_of_a_half_star_distribution_with_itself_is_zero(half) -> None:
    _, world = half
    real = world.heldout.rating
    p = star_distribution(real, HALF_STARS)
    assert len(p) == 10
    counts = Counter(real.tolist())
    np.testing.assert_allclose(p, [counts[0.5 * k] / len(real) for k in range(1, 11)])
    assert js_divergence(p, star_distribution(real.copy(), HALF_STARS)) == pytest.approx(
        0.0, abs=1e-12
    )
    with pytest.raises(ValueError, match="not levels of the rating scale whole stars"):
        star_distribution(real)  # whole stars cannot hold them: no silent rounding


def test_rmse_uses_half_star_values() -> None:
    e = rating_errors(np.array([3.5, 0.5, 0.0]), np.array([4.0, 0.5, 2.0]))
    assert (
        e["n_rated"] == 2
        and e["rmse"] == pytest.approx(np.sqrt(0.125))
        and e["mae"] == pytest.approx(0.25)
    )


def test_nine_cut_points_for_half_stars() -> None:
    rng = np.random.default_rng(3)
    real = rng.choice(HALF_STARS.levels, 5000, p=np.full(10, 0.1))
    pred = 2.75 + 0.6 * (real - 2.75) + rng.normal(0, 0.4, len(real))
    cuts, report = fit_star_cuts(pred, real, js_budget=0.01, grid=200, scale=HALF_STARS)
    assert len(cuts) == 9 and list(cuts) == sorted(cuts)
    stars = HALF_STARS.levels[(pred[:, None] > np.asarray(cuts)).sum(axis=1)]
    # (the cut-points' 1e-6 nudges that keep them increasing may move a prediction or two across a cut)
    assert report["rmse"] == pytest.approx(np.sqrt(np.mean((stars - real) ** 2)), abs=1e-3)
    js = js_divergence(star_distribution(stars, HALF_STARS), star_distribution(real, HALF_STARS))
    assert js == pytest.approx(report["js_divergence"], abs=1e-3) and js < 0.012
    assert report["rmse_rounded"] == pytest.approx(
        np.sqrt(np.mean((HALF_STARS.snap(pred) - real) ** 2))
    )


def test_calibrated_cut_points_rate_in_half_stars(half) -> None:
    cfg, world = half
    cal = cfg.model_copy(update={"agents": cfg.agents.model_copy(update={
        "calibration": cfg.agents.calibration.model_copy(update={"ratings": True})})})  # fmt: skip
    calibrated = calibrate_world(cal, world)
    cuts = calibrated.calibration.params["star_cuts"]
    assert len(cuts) == 9
    policy = ChoicePolicy.from_world(cal.policy, calibrated, np.random.default_rng(2))
    assert policy.params.rating_mode == "cuts"
    sim, real = choice_heldout_stars(policy, calibrated)
    assert HALF_STARS.on_scale(sim).all() and HALF_STARS.on_scale(real).all()


def test_fidelity_rating_rows_name_the_half_star_levels(half) -> None:
    cfg, world = half
    fid = measure_fidelity(cfg, ratios=("1:1",), negatives=("uniform",), world=world)
    row = fid.ratings.iloc[0]
    names = ["0.5", "1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]
    assert [c for c in fid.ratings.columns if c.startswith("sim_")] == [
        f"sim_{n}star" for n in names
    ]
    assert [c for c in fid.ratings.columns if c.startswith("real_")] == [
        f"real_{n}star" for n in names
    ]
    sim, real = fid.stars["choice"]
    assert len(sim) == len(real) == 10
    assert np.isfinite(row["js_divergence"]) and np.isfinite(row["rmse"])
    # the same figures from the pieces: the agents' stars against the real half stars
    policy = ChoicePolicy.from_world(cfg.policy, world, np.random.default_rng(0))
    _, b = choice_heldout_stars(policy, world)
    assert row["n_rated"] == len(b)
    np.testing.assert_allclose(real, star_distribution(b, HALF_STARS))
    assert row["real_2.5star"] == pytest.approx(np.mean(b == 2.5)) and row["real_2.5star"] > 0


def test_whole_stars_keep_the_old_figures(whole) -> None:
    cfg, world = whole
    assert world.dataset.scale == WHOLE_STARS
    pop, t = world.population, world.train
    # the old rating habits: bins ceil(r) - 1 over 5 stars, smoothed by 3 pseudo-ratings
    bins = (np.clip(np.ceil(t.rating), 1, 5) - 1).astype(np.int64)
    global_p = np.bincount(bins, minlength=5) / len(bins)
    cnt = np.bincount(t.user.astype(np.int64) * 5 + bins, minlength=N_USERS * 5).reshape(N_USERS, 5)
    cdf = np.cumsum((cnt + 3.0 * global_p) / (cnt.sum(axis=1, keepdims=True) + 3.0), axis=1)
    cdf[:, -1] = 1.0
    np.testing.assert_array_equal(pop.rating_cdf, cdf.astype(np.float32))
    # the old stars: 1 + the number of the user's cdf points below the quantile, int8
    stars = _rate_all(ChoicePolicy.from_world(cfg.policy, world, np.random.default_rng(4)), world)
    assert stars.dtype == np.int8 and set(np.unique(stars)) <= {1, 2, 3, 4, 5}
    # the old star shares (np.rint, bincount over 1..5) and RMSE, on the scorecard's own pieces
    fid = measure_fidelity(cfg, ratios=("1:1",), negatives=("uniform",), world=world)
    row = fid.ratings.iloc[0]
    assert [c for c in fid.ratings.columns if c.startswith("sim_")] == [
        f"sim_{k}star" for k in range(1, 6)
    ]
    a, b = choice_heldout_stars(
        ChoicePolicy.from_world(cfg.policy, world, np.random.default_rng(0)), world
    )
    assert row["n_rated"] == len(b)
    for stars in (a, b):
        old = np.bincount(np.rint(stars.astype(float)).astype(np.int64), minlength=6)[1:6] / len(
            stars
        )
        np.testing.assert_array_equal(star_distribution(stars), old)
    assert [row[f"real_{k}star"] for k in range(1, 6)] == star_distribution(b).tolist()
    e = rating_errors(a, b)
    assert e["rmse"] == pytest.approx(np.sqrt(np.mean((a.astype(float) - b) ** 2)))
    assert e["mae"] == pytest.approx(np.mean(np.abs(a.astype(float) - b)))


def test_manifests_record_the_resolved_scale(half, tmp_path) -> None:
    import json

    from simrec.env.runner import run_scenario
    from simrec.fidelity.scorecard import run_fidelity

    cfg, _ = half
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"output_dir": tmp_path})})
    assert cfg.environment.data.rating_scale == "auto"  # the scenario leaves it to the data
    half_stars = {"min": 0.5, "max": 5.0, "step": 0.5, "levels": 10}
    run = run_scenario(cfg)
    assert json.loads((run.run_dir / "manifest.json").read_text())["rating_scale"] == half_stars
    table = run_fidelity(cfg, ratios=("1:1",), negatives=("uniform",), simulate_steps=0)
    manifest = json.loads((Path(table.attrs["folder"]) / "manifest.json").read_text())
    assert manifest["rating_scale"] == half_stars
