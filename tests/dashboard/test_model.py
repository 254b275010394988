"""DashboardModel: what SolaraViz steps, and rebuilds on Reset from its model_params."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mesa.visualization.solara_viz import _check_model_params, split_model_params

from simrec.config import load_scenario
from simrec.core.errors import ConfigError
from simrec.dashboard.model import DashboardModel, DashboardSession, model_params
from tests.dashboard.helpers import scenario


def reset(model: DashboardModel, params: dict, **chosen: object) -> DashboardModel:
    """What SolaraViz's Reset does: the model's class called with the parameters' values."""
    user, fixed = split_model_params(params)
    values = {**fixed, **{k: v["value"] for k, v in user.items()}, **chosen}
    return type(model)(**values)


def with_variants(tmp_path: Path):
    base = scenario(tmp_path, **{"run.steps": 2}).model_dump(mode="json", exclude={"variants"})
    base["variants"] = {"popular": {"recommender": {"name": "most_popular"}}, "random": {"recommender": {"name": "random"}}}
    return load_scenario(data=base)


def test_steps_count_days_and_stop_at_the_scenario_steps(tmp_path: Path) -> None:
    session = DashboardSession(scenario(tmp_path, **{"run.steps": 2}))
    model = DashboardModel(session=session)
    assert model.running and model.steps == 0 and len(model.datacollector.get_model_vars_dataframe()) == 0
    model.step()
    assert model.steps == model.sim.steps == 1 and model.running
    model.step()
    assert model.steps == 2 and not model.running  # SolaraViz disables Step and play
    assert len(model.datacollector.get_model_vars_dataframe()) == 2
    session.close()
    assert json.loads((model.live.folder.path / "manifest.json").read_text())["status"] == "completed"


def test_reset_starts_a_new_run_and_closes_the_old_one(tmp_path: Path) -> None:
    session = DashboardSession(scenario(tmp_path, **{"run.steps": 3}))
    params = model_params(session)
    _check_model_params(DashboardModel.__init__, params)  # Mesa's own check of the parameters
    first = DashboardModel(session=session)
    first.step()
    again = reset(first, params)
    assert first.live.closed and session.live is again.live
    assert json.loads((first.live.folder.path / "manifest.json").read_text())["status"] == "stopped"
    assert again.live.folder.path.name == f"{first.live.folder.path.name}-2" and again.steps == 0
    again.step()
    # same seed, same first day
    a = pd.read_parquet(first.live.folder.path / "metrics.parquet")
    b = pd.read_parquet(again.live.folder.path / "metrics.parquet")
    pd.testing.assert_frame_equal(a, b)
    other = reset(again, params, seed=7)
    assert other.live.cfg.seed == 7
    session.close()


def test_variants_are_a_select_and_each_runs_its_own_config(tmp_path: Path) -> None:
    session = DashboardSession(with_variants(tmp_path))
    params = model_params(session, "random")
    assert params["variant"]["values"] == ["popular", "random"] and params["variant"]["value"] == "random"
    model = DashboardModel(session=session, variant="random")
    assert model.live.cfg.recommender.name == "random" and model.live.folder.path.name == "random"
    model = reset(model, params, variant="popular")
    assert model.live.cfg.recommender.name == "most_popular"
    assert model.live.folder.path.parent == tmp_path / "small"
    with pytest.raises(ConfigError, match="no variant 'nope'; it has popular, random"):
        session.configure(1, "nope")
    session.close()


def test_variant_of_a_scenario_without_variants_is_an_error(tmp_path: Path) -> None:
    session = DashboardSession(scenario(tmp_path))
    assert "variant" not in model_params(session)
    with pytest.raises(ConfigError, match="has no variants"):
        session.configure(1, "mf")
