"""Runs with a ``robustness:`` block: budget 0 is a clean run, fake users never leak, attacks are
deterministic, a bandwagon attack on item-kNN beats a random one, defences and noise act in the loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.config import load_scenario
from simrec.env.runner import resume_scenario, run_scenario
from simrec.metrics.run import run_metrics
from simrec.robustness.metrics import robustness_metrics

#: Files that carry times, the resolved scenario or pickles: everything else must match byte for byte.
NOT_DATA = {"manifest.json", "report.html"}


def run(tmp: Path, *overrides: str, name: str = "r", scenario: str = "shilling"):
    cfg = load_scenario(scenario, [f"run.output_dir={tmp}", f"run.name={name}", "run.report=false", *overrides])
    return run_scenario(cfg)


def data_files(run_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name not in NOT_DATA and "checkpoints" not in p.parts
    }


def clean_scenario(tmp: Path) -> Path:
    """The shipped shilling scenario without its robustness block."""
    import yaml

    from simrec.config.shipped import scenario_path

    src = scenario_path("shilling")
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data.pop("robustness")
    base = src.parent
    data["environment"] = str((base / data["environment"]).resolve())
    data["agents"] = str((base / data["agents"]).resolve())
    path = tmp / "clean.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_an_attack_with_budget_zero_writes_exactly_the_clean_runs_files(tmp_path: Path) -> None:
    clean = run(tmp_path / "a", name="same", scenario=str(clean_scenario(tmp_path)))
    zero = run(tmp_path / "b", "robustness.shilling.fake_users=0", "robustness.probe=false", name="same")
    files = data_files(clean.run_dir)
    assert "events.parquet/part-00000.parquet" in files and "metrics.parquet" in files
    assert data_files(zero.run_dir) == files, "same file names, same bytes"
    # noise and text budgets of zero as well
    zero = run(tmp_path / "c", "robustness.shilling.fake_users=0", "robustness.probe=false",
               "robustness.noise.clickbait.items=20", "robustness.noise.clickbait.appeal=0",
               "robustness.noise.accidental.rate=0", "robustness.text.items=5", name="same")  # fmt: skip
    assert data_files(zero.run_dir) == files


def test_fake_users_never_reach_the_genuine_users_files_and_metrics(tmp_path: Path) -> None:
    attacked = run(tmp_path, name="attacked")
    d = attacked.run_dir
    plan = json.loads((d / "attack.json").read_text())
    users = pd.read_parquet(d / "users.parquet")
    n = len(users)
    assert plan["first_fake_user"] == n and plan["fake_users"] == 50
    fake = pd.read_parquet(d / "attack.parquet")
    assert fake["user"].min() == n and fake["user"].nunique() == 50
    assert (fake.loc[fake["item"].isin(plan["targets"]), "rating"] == 5).all()
    events = pd.read_parquet(d / "events.parquet")
    assert events["user"].max() < n, "fake profiles never browse"
    assert pd.read_parquet(d / "train.parquet")["user"].max() < n, "train.parquet holds the real data only"
    clean = run(tmp_path, "robustness.shilling.fake_users=0", name="clean")
    assert pd.read_parquet(d / "train.parquet").equals(pd.read_parquet(clean.run_dir / "train.parquet"))
    m = run_metrics(d)
    watched = events[events["event"] == "click"]
    assert m["click_rate"] == pytest.approx(len(watched) / (events["event"] == "impression").sum())


def test_attacked_runs_are_deterministic(tmp_path: Path) -> None:
    a = run(tmp_path / "a", "robustness.noise.clickbait.items=20", "robustness.noise.accidental.rate=0.2", name="x")
    b = run(tmp_path / "b", "robustness.noise.clickbait.items=20", "robustness.noise.accidental.rate=0.2", name="x")
    files = data_files(a.run_dir)
    assert {"attack.json", "attack.parquet", "robustness.parquet"} <= set(files)
    assert data_files(b.run_dir) == files


def test_bandwagon_raises_the_targets_exposure_on_item_knn_more_than_random(tmp_path: Path) -> None:
    """The known direction of effect (Burke et al. 2005): item-kNN is far more open to a bandwagon
    attack, whose profiles tie the target to the most popular items, than to random profiles."""
    for seed in (0, 1, 2):
        exposure = {}
        for kind in ("random", "bandwagon"):
            r = run(tmp_path, f"seed={seed}", f"robustness.shilling.kind={kind}", name=f"{kind}-{seed}")
            exposure[kind] = robustness_metrics(r.run_dir)["target_exposure"]
        assert exposure["bandwagon"] > 5 * max(exposure["random"], 1e-4), (seed, exposure)


def test_the_probe_follows_the_attack_window(tmp_path: Path) -> None:
    attacked = run(tmp_path, name="a")
    clean = run(tmp_path, "robustness.shilling.fake_users=0", name="c")
    probe = pd.read_parquet(attacked.run_dir / "robustness.parquet")
    assert list(probe["step"]) == list(range(7)) and set(probe["group"]) == {"target"}
    a, c = robustness_metrics(attacked.run_dir), robustness_metrics(clean.run_dir)
    assert a["target_score_pct_0"] > c["target_score_pct_0"] + 0.1, "the first fit already ranks the target higher"
    assert a["target_exposure_during"] > c["target_exposure_during"]
    assert np.isfinite(a["target_exposure_after"]), "steps 5 and 6 come after the fake profiles were deleted"


def test_the_rdma_filter_and_denoising_act_on_every_fit(tmp_path: Path) -> None:
    r = run(tmp_path, "robustness.defence.filter=rdma", "robustness.denoise.min_rating=2", name="d")
    totals = json.loads((r.run_dir / "manifest.json").read_text())["totals"]
    assert totals["robustness_fits"] == 4, "the first fit and the refits at steps 2, 4 (fakes deleted) and 6"
    assert totals["robustness_filtered_users"] > 0 and totals["robustness_denoised_rows"] > 0
    assert totals["robustness_fake_rows_fit"] == 2 * 50 * 41, "the fake rows are in the first two fits only"


def test_noise_is_counted_and_clickbait_disappoints(tmp_path: Path) -> None:
    r = run(tmp_path, "robustness.shilling.fake_users=0", "robustness.noise.clickbait.items=20",
            "robustness.noise.accidental.rate=0.2", name="n")  # fmt: skip
    totals = json.loads((r.run_dir / "manifest.json").read_text())["totals"]
    assert totals["accidental_watches"] > 0 and totals["clickbait_impressions"] >= totals["clickbait_watches"] > 0
    m = robustness_metrics(r.run_dir)
    assert m["clickbait_watch_rate"] > 0 and m["accidental_watches"] == totals["accidental_watches"]
    events = pd.read_parquet(r.run_dir / "events.parquet")
    stars = events[events["event"] == "rating"]
    bait = stars["item"].isin(json.loads((r.run_dir / "attack.json").read_text())["clickbait"])
    assert stars.loc[bait, "value"].mean() < stars.loc[~bait, "value"].mean() - 0.5


def test_an_attacked_run_killed_mid_step_resumes_to_the_same_files(tmp_path: Path) -> None:
    """Fake profiles, the feed's window, the probe's rows and the noise survive a crash (step 5, after
    the fake profiles were deleted at step 4)."""
    import subprocess
    import sys

    extra = ["run.checkpoint_every=2", "robustness.noise.clickbait.items=20", "robustness.noise.accidental.rate=0.2"]
    whole = run(tmp_path / "a", *extra, name="x")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.env.killer", "in_step", "5", "shilling", f"run.output_dir={tmp_path / 'b'}",
         "run.name=x", "run.report=false", *extra],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stdout + proc.stderr
    resumed = resume_scenario(tmp_path / "b" / "x")
    assert data_files(resumed.run_dir) == data_files(whole.run_dir)


def test_the_rdma_filter_catches_fake_profiles_on_ml100k(tmp_path: Path, ml100k_dir: Path) -> None:
    """On MovieLens 100K (85 ratings a user) RDMA tells many bandwagon profiles from genuine users; on the
    sparse synthetic world (16 a user) it does not (docs/robustness.md)."""
    r = run(tmp_path, f"environment.data.path={ml100k_dir}", "recommender.name=item_knn", "recommender.retrain_every=1",
            "run.steps=2", "robustness.shilling.kind=bandwagon", "robustness.shilling.fake_users=50",
            "robustness.shilling.targets=1", "robustness.shilling.stop=null", "robustness.defence.filter=rdma",
            "robustness.probe=true", name="ml", scenario="ml100k_compare")  # fmt: skip
    m = robustness_metrics(r.run_dir)
    assert m["robustness_fake_fits"] == 3, "the first fit and the refits of steps 1 and 2"
    assert m["defence_fake_recall"] > 0.3
    assert m["defence_genuine_per_fit"] <= 0.03 * 943
