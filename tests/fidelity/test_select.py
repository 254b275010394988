"""``--select-on validation``: agents' settings chosen on a validation part of training only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simrec.core.errors import ConfigError
from simrec.fidelity.calibrate import fit_weights, validation_lists, validation_world
from simrec.fidelity.scorecard import run_fidelity
from simrec.fidelity.select import (
    Candidate,
    apply_overrides,
    default_candidates,
    select_on_validation,
)
from simrec.world.build import build_world
from tests.helpers import small_scenario

CAL = {"environment.data.split.kind": "random", "environment.data.split.holdout_fraction": 0.3,
       "agents.taste.source": "fit", "agents.calibration.choice": "true", "agents.calibration.natural_noise": "null",
       "environment.data.interactions_per_user": 50, "environment.data.n_users": 160}  # fmt: skip


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    cfg = small_scenario(tmp_path_factory.mktemp("select"), **CAL)
    return cfg, build_world(cfg)


def test_the_default_grid_is_named_uniquely_and_every_candidate_validates(scenario) -> None:
    cfg, _ = scenario
    grid = default_candidates()
    assert len(grid) == 128 and len({c.name for c in grid}) == 128
    for cand in grid:
        chosen = apply_overrides(cfg, cand.overrides)
        assert chosen.policy.choice.picks == cand.overrides["policy.choice.picks"]
    with pytest.raises(ConfigError, match="picks"):
        apply_overrides(cfg, {"policy.choice.picks": "sometimes"})


def test_page_picks_fit_a_likelihood_ratio_that_does_not_depend_on_the_ratio(scenario) -> None:
    cfg, world = scenario
    outside = {}
    for picks in ("fixed", "page"):
        for ratio in ("1:1", "1:9"):
            c = apply_overrides(cfg, {"policy.choice.picks": picks, "agents.calibration.ratio": ratio})
            vworld = validation_world(c, world, c.seed)
            params, _ = fit_weights(c, vworld, validation_lists(c, vworld, c.seed))
            outside[picks, ratio] = params["outside_utility"]
    # fixed: the outside option soaks up the lists' share of positives (log 9 apart at most)
    assert outside["fixed", "1:9"] - outside["fixed", "1:1"] > 1.0
    assert abs(outside["page", "1:9"] - outside["page", "1:1"]) < 0.5 * (outside["fixed", "1:9"] - outside["fixed", "1:1"])


def test_selection_picks_the_best_candidate_on_validation_and_is_seeded(scenario) -> None:
    cfg, world = scenario
    grid = [Candidate("fixed", {"policy.choice.picks": "fixed", "policy.choice.choice_noise": 0.0}),
            Candidate("page", {"policy.choice.picks": "page", "policy.choice.choice_noise": 0.0}),
            Candidate("noisy", {"policy.choice.picks": "fixed", "policy.choice.choice_noise": 1.0})]  # fmt: skip
    seen = []
    sel = select_on_validation(cfg, world, cfg.seed, grid, progress=lambda d, n, c: seen.append((d, n, c)))
    assert seen[-1] == (3, 3, "noisy")
    table = sel.table
    assert list(table["candidate"]) == ["fixed", "page", "noisy"]
    assert sel.chosen.name == table.loc[table["objective"].idxmax(), "candidate"]
    assert table["objective"].between(0, 1).all() and table["objective"].nunique() > 1
    assert {"accuracy uniform 1:9", "f1 popularity 1:1", "picked uniform 1:3"} <= set(table.columns)
    assert sel.users["calibrated_on"] > 10 and sel.users["scored_on"] > 10
    again = select_on_validation(cfg, world, cfg.seed, grid)
    assert again.table.equals(table)
    # the held-out split plays no part: dropping it changes nothing
    from dataclasses import replace

    from simrec.data.types import Interactions

    blind = select_on_validation(cfg, replace(world, heldout=Interactions.empty()), cfg.seed, grid)
    assert blind.table.equals(table)


def test_selection_needs_calibrated_agents(scenario) -> None:
    cfg, world = scenario
    plain = apply_overrides(cfg, {"agents.calibration.choice": False})
    with pytest.raises(ConfigError, match="calibration.choice"):
        select_on_validation(plain, world, cfg.seed)


def test_run_fidelity_selects_then_scores_and_writes_what_it_chose(tmp_path) -> None:
    cfg = small_scenario(tmp_path, **CAL)
    table = run_fidelity(cfg, ratios=("1:1",), negatives=("uniform",), simulate_steps=0, select_on="validation")
    folder = tmp_path / f"{cfg.run_name}-fidelity"
    sel = json.loads((folder / "selection.json").read_text())
    assert sel["candidates"] == 128 and sel == table.attrs["selection"]
    rows = (folder / "selection.csv").read_text().splitlines()
    assert len(rows) == 129 and rows[0].startswith("candidate,")
    assert "Settings chosen on validation" in (folder / "scorecard.md").read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    chosen = apply_overrides(cfg, sel["overrides"])
    assert manifest["scenario"]["policy"]["choice"]["picks"] == chosen.policy.choice.picks
    assert manifest["scenario"]["agents"]["calibration"] == chosen.agents.calibration.model_dump(mode="json")
    assert np.isfinite(table["accuracy"]).all()
    with pytest.raises(ConfigError, match="never the held-out"):
        run_fidelity(cfg, ratios=("1:1",), negatives=("uniform",), simulate_steps=0, select_on="heldout")


def test_the_js_budget_is_the_least_error_within_the_target_on_held_back_training_ratings() -> None:
    from simrec.data.scale import WHOLE_STARS
    from simrec.fidelity.select import JS_TARGET, select_js_budget

    rng = np.random.default_rng(8)
    real = rng.choice(np.arange(1, 6), 4000, p=[0.06, 0.11, 0.27, 0.34, 0.22]).astype(float)
    pred = 0.55 * real + 0.45 * 3.5 + rng.normal(0, 0.6, len(real))  # shrunk towards the mean, as models are
    budget, table = select_js_budget(pred, real, WHOLE_STARS, seed=1)
    assert list(table["js_budget"]) == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08]
    within = table[table["js_divergence"] <= JS_TARGET]
    assert len(within) and budget == within.loc[within["rmse"].idxmin(), "js_budget"]
    assert table["js_divergence"].iloc[0] < table["js_divergence"].iloc[-1]  # the budget binds


def test_cli_select_on_validation_prints_the_choice(tmp_path) -> None:
    import yaml
    from typer.testing import CliRunner

    from simrec.cli import app

    scen = tmp_path / "small.yaml"
    scen.write_text(yaml.safe_dump(small_scenario(tmp_path, **CAL).model_dump(mode="json")))
    base = ["fidelity", str(scen), "--ratio", "1:9", "--negatives", "popularity", "--steps", "0",
            "--out", str(tmp_path / "out")]  # fmt: skip
    res = CliRunner().invoke(app, [*base, "--select-on", "validation"])
    assert res.exit_code == 0, res.output
    assert "chosen on validation:" in res.output and "128/128 candidates" in res.output
    assert (tmp_path / "out" / "small-fidelity" / "selection.csv").is_file()
    res = CliRunner().invoke(app, [*base, "--select-on", "test"])
    assert res.exit_code != 0 and "never the held-out" in res.output
    assert not (tmp_path / "out" / "small-fidelity-2").exists()  # rejected before any folder
