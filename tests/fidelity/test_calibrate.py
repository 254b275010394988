"""Calibration: the logit fit, star cut-points, and calibrated worlds end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simrec.agents.policies.choice import ChoicePolicy
from simrec.config import load_scenario
from simrec.config.schema import PolicyConfig
from simrec.fidelity.calibrate import calibrate_world, fit_logit, fit_star_cuts
from simrec.fidelity.protocol import build_lists, run_protocol, score_choices
from simrec.fidelity.ratings import js_divergence, star_distribution
from simrec.world.build import build_world
from tests.fidelity.worlds import one_genre_data
from tests.helpers import small_scenario


def test_fit_logit_recovers_known_weights() -> None:
    rng = np.random.default_rng(0)
    n = (4000, 10)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    offset = -0.1 * np.broadcast_to(np.arange(10), n)
    p = 1 / (1 + np.exp(-(2.0 * a - 0.7 * b + offset - 0.5)))
    labels = rng.random(n) < p
    weights, outside, loglik = fit_logit({"a": a, "b": b}, offset, labels)
    assert weights["a"] == pytest.approx(2.0, abs=0.1)
    assert weights["b"] == pytest.approx(-0.7, abs=0.07)
    assert outside == pytest.approx(0.5, abs=0.07)
    assert -0.7 < loglik < 0


def test_star_cuts_trade_error_for_the_star_distribution() -> None:
    rng = np.random.default_rng(1)
    real = rng.choice(np.arange(1, 6), 20000, p=[0.06, 0.11, 0.27, 0.34, 0.22]).astype(float)
    # A shrunk, noisy prediction: rounding it gives almost no 1s and 5s.
    pred = 3.5 + 0.45 * (real - 3.5) + rng.normal(0, 0.35, len(real))
    rounded = np.clip(np.rint(pred), 1, 5)
    target = star_distribution(real)
    assert js_divergence(star_distribution(rounded), target) > 0.1
    cuts, report = fit_star_cuts(pred, real, js_budget=0.002)
    assert list(cuts) == sorted(cuts) and len(set(cuts)) == 4
    stars = 1 + (pred[:, None] > np.asarray(cuts)).sum(axis=1)
    assert js_divergence(star_distribution(stars), target) <= 0.002 + 1e-6
    assert report["rmse"] == pytest.approx(np.sqrt(np.mean((stars - real) ** 2)))
    assert report["rmse"] < report["rmse_rounded"]
    # Never worse than mapping predictions onto the real quantiles (JS ~ 0, the other end of the trade-off).
    q = np.quantile(pred, np.cumsum(target)[:4])
    quantile_stars = 1 + (pred[:, None] > q).sum(axis=1)
    assert report["rmse"] <= np.sqrt(np.mean((quantile_stars - real) ** 2)) + 1e-9
    # A looser budget buys a lower error, and the budget is then not binding.
    _, loose = fit_star_cuts(pred, real, js_budget=0.2)
    assert loose["rmse"] < report["rmse"] - 0.002
    assert 0.002 < loose["js_divergence"] < 0.2


def test_calibrated_choice_finds_the_one_liked_genre(tmp_path) -> None:
    data = one_genre_data(tmp_path)
    cfg = load_scenario(data=data)
    world = build_world(cfg)
    cal = load_scenario(data=data, overrides=["agents.calibration.choice=true", "agents.calibration.natural_noise=null"])
    calibrated = calibrate_world(cal, build_world(cal))
    assert build_world(cal).calibration is None  # the world is data; calibration is its own step
    assert calibrated.calibration is not None and world.calibration is None
    report = calibrated.calibration.report["choice"]
    assert report["validation_lists"] > 10 and report["decisive_accuracy"] > 0.95
    fitted = calibrated.calibration.params
    lists = build_lists(calibrated, "1:1", np.random.default_rng(2))
    scores = {}
    for name, w in (("default", world), ("calibrated", calibrated)):
        policy = ChoicePolicy.from_world(PolicyConfig(), w, np.random.default_rng(3))
        if name == "calibrated":
            assert policy.params.beta_taste == fitted["beta_taste"]
            assert policy.params.outside_utility == fitted["outside_utility"]
        scores[name] = score_choices(run_protocol(policy, w, lists).clicks, lists.labels).means()["accuracy"]
    assert scores["calibrated"] > 0.9
    assert scores["calibrated"] > scores["default"]


def test_calibration_is_seeded_and_written_with_the_run(tmp_path) -> None:
    from simrec.env.runner import run_scenario

    over = {"environment.data.split.kind": "random", "environment.data.split.holdout_fraction": 0.2,
            "agents.taste.source": "fit", "agents.calibration.choice": "true", "agents.calibration.ratings": "true",
            "agents.calibration.ratio": "1:2", "environment.data.interactions_per_user": 40}  # fmt: skip
    cfg = small_scenario(tmp_path, **over)
    a, b = calibrate_world(cfg, build_world(cfg)).calibration, calibrate_world(cfg, build_world(cfg)).calibration
    assert a.to_json() == b.to_json()
    params = a.params
    assert params["rating_mode"] == "cuts" and params["rating_noise"] == 0.0
    assert 0 < params["choice_noise"] <= 1
    assert a.report["choice"]["rating_model_oof_rmse"] > 0
    result = run_scenario(cfg)
    saved = json.loads((result.run_dir / "calibration.json").read_text())
    assert saved == json.loads(json.dumps(a.to_json()))


def test_calibration_needs_enough_validation_users(tmp_path) -> None:
    cfg = small_scenario(tmp_path, **{"agents.calibration.choice": "true", "agents.calibration.ratio": "1:1",
                                      "agents.taste.source": "fit"})  # fmt: skip
    with pytest.raises(ValueError, match="at least 10 users"):
        calibrate_world(cfg, build_world(cfg))
