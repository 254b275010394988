"""``run_fidelity`` end to end (synthetic and ml-100k, choice mode) and the CLI command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from simrec.cli import app
from simrec.fidelity.scorecard import run_fidelity
from tests.fidelity.worlds import one_genre_data
from tests.helpers import ml100k_scenario, small_scenario

FILES = ("scorecard.csv", "ratings.csv", "scorecard.md", "report.html", "manifest.json")


def test_run_fidelity_writes_everything(tmp_path):
    cfg = small_scenario(tmp_path, **{"environment.data.interactions_per_user": 60})
    table = run_fidelity(cfg, seed=11)
    folder = tmp_path / "small-fidelity"
    assert table.attrs["folder"] == str(folder)
    for name in FILES:
        assert (folder / name).is_file(), name
    assert len(table) == 8 and set(table["ratio"]) == {"1:1", "1:2", "1:3", "1:9"}
    assert table["accuracy"].between(0, 1).all() and (table["users"] > 0).all()
    csv = pd.read_csv(folder / "scorecard.csv")
    assert list(csv["accuracy"].round(9)) == list(table["accuracy"].round(9))
    ratings = pd.read_csv(folder / "ratings.csv")
    assert ratings.loc[0, "n_rated"] > 0 and 0 <= ratings.loc[0, "js_divergence"] <= 1
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == 11 and "numpy" in manifest["versions"] and "total" in manifest["timings_s"]
    md = (folder / "scorecard.md").read_text()
    assert "popularity Spearman" in md and "| choice | popularity | 1:9 |" in md
    assert "<img" in (folder / "report.html").read_text()
    # Never clobbers: a second scorecard goes to a new folder; same seed, same figures.
    again = run_fidelity(cfg, seed=11, simulate_steps=0)
    assert again.attrs["folder"] == str(tmp_path / "small-fidelity-2")
    pd.testing.assert_frame_equal(again.reset_index(drop=True), table.reset_index(drop=True))


def test_fidelity_on_ml100k_choice(tmp_path, ml100k_dir):
    table = run_fidelity(ml100k_scenario(tmp_path, ml100k_dir), users=200, simulate_steps=1)
    one = table.set_index(["negatives", "ratio"])
    assert (one["users"] == 200).all()
    # Real tastes: clearly better than chance on uniform negatives; harder with popularity-matched ones.
    assert one.loc[("uniform", "1:1"), "accuracy"] > 0.6
    assert one.loc[("popularity", "1:1"), "accuracy"] < one.loc[("uniform", "1:1"), "accuracy"]
    (ratings,) = table.attrs["ratings"]
    assert ratings["js_divergence"] < 0.05 and 0.5 < ratings["rmse"] < 1.5


def test_hybrid_mode_with_a_scripted_llm(tmp_path):
    reply = json.dumps({"watch": [1, 3], "ratings": [{"position": 1, "stars": 5, "reason": "tense"},
                                                     {"position": 3, "stars": 2, "reason": "slow"}], "leave": False})
    cfg = small_scenario(tmp_path, **{"llm.backend": "fake", "llm.chat_kwargs": json.dumps({"replies": [reply]}),
                                      "agents.memory.reflect_every": 0, "environment.data.interactions_per_user": 60})
    table = run_fidelity(cfg, modes=("choice", "hybrid"), ratios=("1:1",), negatives=("uniform",), llm_users=50,
                         simulate_steps=0)  # fmt: skip
    hybrid = table.set_index("mode").loc["hybrid"]
    assert hybrid["llm_users"] > 0 and hybrid["llm_fallbacks"] == 0
    assert 0 <= hybrid["accuracy_llm"] <= 1
    modes = [r["mode"] for r in table.attrs["ratings"]]
    assert modes == ["choice", "hybrid"]
    choice, hyb = table.attrs["ratings"]
    # LLM-driven users are rated by what they watched in the protocol (the script gives 5 and 2 stars) ...
    assert hyb["n_rated_llm"] > 0 and np.isfinite(hyb["rmse_llm"]) and choice["n_rated_llm"] == 0
    # ... everyone else by the choice model on all their held-out rated items, as in choice mode.
    assert 0 < hyb["n_rated"] - hyb["n_rated_llm"] < choice["n_rated"]


def test_cli_fidelity(tmp_path):
    import yaml

    scen = tmp_path / "one_genre.yaml"
    scen.write_text(yaml.safe_dump(one_genre_data(tmp_path)))
    res = CliRunner().invoke(app, ["fidelity", str(scen), "--ratio", "1:1", "--ratio", "1:9", "--steps", "1",
                                   "--out", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "discrimination" in res.output and "rating fidelity" in res.output
    assert (tmp_path / "out" / "one_genre-fidelity" / "scorecard.md").is_file()
    bad = CliRunner().invoke(app, ["fidelity", str(scen), "--ratio", "1:4", "--out", str(tmp_path / "out")])
    assert bad.exit_code == 2 and "1:4" in bad.output
