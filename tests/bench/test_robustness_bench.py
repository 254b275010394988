"""Benches with arms and robustness families: cells per arm, paired differences, the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.bench.runner import run_bench
from simrec.bench.spec import load_spec
from simrec.config import load_scenario
from simrec.core.errors import ConfigError
from simrec.robustness.report import Family, family_table
from tests.helpers import ROOT

ARMS = {
    "clean": [],
    "bandwagon": ["robustness.shilling.kind=bandwagon", "robustness.shilling.fake_users=50"],
    "clickbait": ["robustness.noise.clickbait.appeal=1.5"],
}
BASE = ["robustness.probe=true", "robustness.shilling.fake_users=0", "robustness.noise.clickbait.items=20",
        "robustness.noise.clickbait.appeal=0", "environment.data.n_users=400", "environment.data.n_items=600"]  # fmt: skip


def test_the_shipped_robustness_bench_is_valid(ml100k_dir: Path) -> None:
    spec = load_spec(ROOT / "benches" / "robustness.yaml")
    assert {"clean", "bandwagon", "bandwagon_rdma", "clickbait", "accidental"} <= set(spec.arms)
    assert set(spec.families) == {"shilling", "defence", "noise"}
    for scenario in spec.scenarios:  # every arm's overrides make a valid scenario on both worlds
        for arm in spec.arms.values():
            cfg = load_scenario(scenario, [*spec.overrides, *arm, f"environment.data.path={ml100k_dir}"]
                                if "ml100k" in scenario.name else [*spec.overrides, *arm])  # fmt: skip
            assert cfg.robustness.probe and cfg.robustness.shilling.stop == 4


def test_families_must_name_arms_that_exist() -> None:
    with pytest.raises(ConfigError, match="families.f names arms"):
        load_spec(None, scenarios=["shilling"], recommenders=["random"], arms={"clean": []},
                  families={"f": {"baseline": "clean", "arms": ["bandwagon"]}})  # fmt: skip
    with pytest.raises(ConfigError, match="plain folder name"):
        load_spec(None, scenarios=["shilling"], recommenders=["random"], arms={"a/b": []})


def test_family_table_pairs_each_arm_with_the_baseline_seed_by_seed() -> None:
    rows = []
    for seed, (clean, attacked) in enumerate([(1.0, 4.0), (2.0, 4.0), (3.0, 7.0)]):
        for arm, v in (("clean", clean), ("a", attacked)):
            rows.append({"scenario": f"s/{arm}", "arm": arm, "recommender": "r", "seed": seed, "click_rate": v,
                         "avg_rating": 4.0, "satisfaction": 0.0, "target_exposure": v / 1e4,
                         "target_exposure_during": v / 1e4, "target_exposure_after": v / 2e4,
                         "fake_users": 50.0 if arm == "a" else 0.0})  # fmt: skip
    table = family_table(pd.DataFrame(rows), Family("clean", ["a"]))
    a = table.set_index("arm").loc["a"]
    assert a["scenario"] == "s" and a["seeds"] == 3
    assert a["d_click_rate"] == pytest.approx(3.0), "mean of the per-seed differences 3, 2, 4"
    assert a["d_click_rate_ci95"] == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-3)
    assert a["target_exposure_e4"] == pytest.approx(5.0)
    assert a["persistence"] == pytest.approx(0.5), "after the window, half the gain remains"
    assert np.isnan(table.set_index("arm").loc["clean", "d_click_rate"]), "the baseline has no difference"


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("robust")
    spec = load_spec(
        None, scenarios=["shilling"], recommenders=["random", "item_knn"], seeds=2, steps=6, executor="serial",
        overrides=BASE, arms=ARMS, output_dir=str(out), name="rb",
        families={"shilling": {"baseline": "clean", "arms": ["bandwagon"]},
                  "noise": {"baseline": "clean", "arms": ["clickbait"], "groups": ["clickbait"]}},
        text_probe={"scenario": "shilling", "overrides": ["environment.data.n_users=400", "environment.data.n_items=600"],
                    "controls": [], "attacks": ["injection"], "users": 10, "items": 3},
    )  # fmt: skip
    return run_bench(spec)


def test_a_bench_with_arms_runs_every_arm_and_writes_the_robustness_report(bench) -> None:
    d = bench.bench_dir
    cells = bench.cells
    assert len(cells) == 3 * 2 * 2 and set(cells["arm"]) == set(ARMS)
    assert set(bench.leaderboard["scenario"]) == {"shilling/clean", "shilling/bandwagon", "shilling/clickbait"}
    assert (d / "cells" / "shilling" / "bandwagon" / "item_knn" / "seed-1" / "attack.parquet").is_file()
    for name in ("robustness.md", "robustness.csv", "robustness.html", "text_attacks.csv"):
        assert (d / name).is_file(), name
    md = (d / "robustness.md").read_text()
    assert "### shilling: summary" in md and "### noise: summary" in md and "## text attacks" in md
    table = pd.read_csv(d / "robustness.csv")
    knn = table[(table["family"] == "shilling") & (table["recommender"] == "item_knn") & (table["arm"] == "bandwagon")]
    assert float(knn["d_target_exposure_e4"].iloc[0]) > 10, "a bandwagon attack pushes the target on item-kNN"
    rnd = table[(table["family"] == "shilling") & (table["recommender"] == "random") & (table["arm"] == "bandwagon")]
    assert abs(float(rnd["d_target_exposure_e4"].iloc[0])) < 5, "a random recommender ignores the fake profiles"
    html = (d / "robustness.html").read_text()
    assert html.count("<img") >= 2, "exposure and satisfaction over time, per family"
    text = pd.read_csv(d / "text_attacks.csv")
    assert (text["policy"] == "choice").all() and (text["watch_uplift"] == 0).all(), "choice users never read text"


def test_scoped_overrides_reach_the_scenarios_they_name() -> None:
    from simrec.bench.spec import overrides_for

    given = ["run.steps=2", "ml100k_*:environment.data.path=/d=x", "shilling:seed=3", "llm.base_url=http://h:1/v1"]
    assert overrides_for(given, "a/ml100k_compare.yaml") == ["run.steps=2", "environment.data.path=/d=x",
                                                             "llm.base_url=http://h:1/v1"]  # fmt: skip
    assert overrides_for(given, "shilling.yaml") == ["run.steps=2", "seed=3", "llm.base_url=http://h:1/v1"]
    spec = load_spec(None, scenarios=["shilling"], recommenders=["random"], overrides=["shilling:seed=3"])
    assert spec.overrides == ["shilling:seed=3"]
    with pytest.raises(ConfigError, match=r"\['ml100k_\*'\].*shilling"):
        load_spec(None, scenarios=["shilling"], recommenders=["random"], overrides=["ml100k_*:seed=3"])
