"""simrec bench: a matrix of recommenders × scenarios × seeds, its leaderboard and executors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.bench.leaderboard import ci95, leaderboard, to_markdown
from simrec.bench.runner import run_bench
from simrec.bench.spec import load_spec
from simrec.core.errors import ConfigError
from tests.helpers import ROOT

TINY = """name: tiny
seed: 1
environment:
  data: {source: synthetic, n_users: 150, n_items: 200, n_genres: 6, interactions_per_user: 10}
  page_size: 5
  pages_per_session: 2
  social: {builder: watts_strogatz, k: 4}
run: {steps: 2}
"""


@pytest.fixture(scope="module")
def ml100k_bench(tmp_path_factory: pytest.TempPathFactory, ml100k_dir: Path):
    out = tmp_path_factory.mktemp("bench")
    spec = load_spec(
        None,
        scenarios=[str(ROOT / "scenarios" / "ml100k_compare.yaml")],
        recommenders=["random", "most_popular", "mf"],
        seeds=3, steps=2, executor="local", workers=2, output_dir=str(out), name="ml",
        overrides=[f"environment.data.path={ml100k_dir}", "environment.page_size=5",
                   "environment.pages_per_session=3", "recommender.retrain_every=1"],
    )  # fmt: skip
    return run_bench(spec)


def test_leaderboard_ranks_learning_recommenders_above_random(ml100k_bench) -> None:
    board = ml100k_bench.leaderboard.set_index("recommender")
    assert board.loc["random", "rank"] == 3
    for name in ("mf", "most_popular"):
        # clearly above: the whole 95% intervals are apart
        low = board.loc[name, "click_rate"] - board.loc[name, "click_rate_ci95"]
        high = board.loc["random", "click_rate"] + board.loc["random", "click_rate_ci95"]
        assert low > high
    assert (board["seeds"] == 3).all()
    assert board.loc["random", "coverage"] > board.loc["most_popular", "coverage"]


def test_bench_files_exist_and_parse(ml100k_bench) -> None:
    d = ml100k_bench.bench_dir
    cells = pd.read_csv(d / "cells.csv")
    assert len(cells) == 9 and set(cells["seed"]) == {0, 1, 2}
    assert cells["click_rate"].between(0, 1).all() and np.isfinite(cells["recall"]).all()
    board = pd.read_csv(d / "leaderboard.csv")
    assert list(board["recommender"]) == list(ml100k_bench.leaderboard["recommender"])
    assert {"click_rate", "click_rate_ci95", "return_rate", "precision", "recall", "intra_list_diversity",
            "novelty", "coverage", "exposure_gini", "popularity_bias"} <= set(board.columns)  # fmt: skip
    md = (d / "leaderboard.md").read_text()
    assert "| rank | recommender |" in md and md.count("\n| ") >= 4
    html = (d / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "Over time" in html and "Exposure" in html
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["cells_done"] == 9
    for run_dir in cells["run_dir"]:
        assert json.loads((Path(run_dir) / "manifest.json").read_text())["status"] == "completed"


def test_ray_executor_gives_the_local_executor_numbers(tmp_path: Path) -> None:
    pytest.importorskip("ray")  # in the dev extra; the import is what this guards, not the path
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    rows = {}
    for executor in ("local", "ray"):
        spec = load_spec(None, scenarios=[str(scenario)], recommenders=["random", "most_popular"], seeds=2,
                         executor=executor, workers=2, output_dir=str(tmp_path), name=executor)  # fmt: skip
        cells = run_bench(spec).cells.drop(columns=["run_dir", "wall_s"])
        rows[executor] = cells.sort_values(["recommender", "seed"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rows["local"], rows["ray"])
    assert len(rows["ray"]) == 4


def test_spec_errors_name_the_problem(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    with pytest.raises(ConfigError, match="distinct"):
        load_spec(None, scenarios=[str(scenario)], recommenders=["mf", "mf"])
    with pytest.raises(ConfigError, match="primary"):
        load_spec(None, scenarios=[str(scenario)], recommenders=["mf"], primary="speed")
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(None, scenarios=[str(tmp_path / "nope.yaml")], recommenders=["mf"])
    spec_file = tmp_path / "b.yaml"
    spec_file.write_text("scenarios: [tiny.yaml]\nrecommenders: [{name: mf, label: mf-8, params: {factors: 8}}]\nseeds: 2\n")
    spec = load_spec(spec_file, executor="serial")
    assert spec.scenarios == [scenario] and spec.seeds == [0, 1] and spec.recommenders[0].key == "mf-8"
    assert spec.name == "b" and spec.executor == "serial"


def test_leaderboard_statistics_by_hand() -> None:
    assert ci95(np.array([1.0, 2.0, 3.0])) == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)
    assert np.isnan(ci95(np.array([1.0])))
    cells = pd.DataFrame(
        {"scenario": "s", "recommender": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
         "click_rate": [0.1, 0.3, 0.5, 0.7], "exposure_gini": [0.2, 0.2, 0.9, 0.7]}
    )  # fmt: skip
    board = leaderboard(cells, "click_rate")
    assert list(board["recommender"]) == ["b", "a"] and list(board["rank"]) == [1, 2]
    assert board.loc[0, "click_rate"] == pytest.approx(0.6)
    assert board.loc[0, "click_rate_ci95"] == pytest.approx(12.706205 * np.std([0.5, 0.7], ddof=1) / np.sqrt(2))
    # lower is better for exposure Gini
    assert list(leaderboard(cells, "exposure_gini")["recommender"]) == ["a", "b"]
    assert "0.600 ± " in to_markdown(board, "click_rate")


def test_bench_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from simrec.cli import app

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    result = CliRunner().invoke(
        app, ["bench", "--scenario", str(scenario), "--rec", "random", "--rec", "most_popular", "--seeds", "2",
              "--executor", "serial", "--out", str(tmp_path), "--name", "cli", "-q"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "most_popular" in result.output and (tmp_path / "cli" / "leaderboard.md").is_file()
    bad = CliRunner().invoke(app, ["bench", "--scenario", str(scenario), "--rec", "nope", "--executor", "serial",
                                   "--out", str(tmp_path), "-q"])  # fmt: skip
    assert bad.exit_code != 0
