"""End-to-end runs: determinism, log consistency, recommenders make a difference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.env.runner import run_scenario
from simrec.io.events import list_parts, read_events
from tests.helpers import ml100k_scenario, small_scenario


def check_log_consistency(ev: pd.DataFrame, page_size: int) -> None:
    """Every click follows its impression, no impressions after an exit, ratings in 1..5."""
    ev = ev.reset_index(drop=True)
    ev["row"] = np.arange(len(ev))
    kind = ev["event"].astype(str)
    imp = ev[kind == "impression"]
    key = ["session", "page", "position", "item"]
    first_imp = imp.groupby(key)["row"].min()
    for name in ("click", "skip", "rating"):
        rows = ev[kind == name]
        joined = rows.join(first_imp.rename("imp_row"), on=key)
        assert joined["imp_row"].notna().all(), f"{name} without an impression"
        assert (joined["imp_row"] < joined["row"]).all(), f"{name} before its impression"
    # each impression gets exactly one click-or-skip
    outcome = ev[kind.isin(["click", "skip"])].groupby(key).size()
    assert (outcome == 1).all() and len(outcome) == len(imp)
    # ratings only for clicked items, in 1..5
    ratings = ev[kind == "rating"]
    assert ratings["value"].between(1, 5).all() and (ratings["value"] % 1 == 0).all()
    clicks = ev[kind == "click"].set_index(key).index
    assert ratings.set_index(key).index.isin(clicks).all()
    # exactly one exit per session, and nothing after it
    exits = ev[kind == "exit"]
    assert exits["session"].is_unique
    assert set(exits["session"]) == set(ev["session"])
    last_row = ev.groupby("session")["row"].max()
    assert (last_row.loc[exits["session"]].to_numpy() == exits["row"].to_numpy()).all()
    exit_page = exits.set_index("session")["page"]
    assert (imp["page"].to_numpy() <= exit_page.loc[imp["session"]].to_numpy()).all()
    # pages are full
    assert (imp.groupby(["session", "page"]).size() == page_size).all()


def test_small_run_writes_consistent_files(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"run.export": "[recbole, csv]"})
    result = run_scenario(cfg)
    run = result.run_dir
    for name in ("manifest.json", "metrics.parquet", "users.parquet", "agents.parquet", "items.parquet",
                 "train.parquet", "heldout.parquet", "graph/edges-initial.parquet"):  # fmt: skip
        assert (run / name).is_file(), name
    assert list_parts(run / "events.parquet")
    ev = read_events(run)
    check_log_consistency(ev, cfg.environment.page_size)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["steps_completed"] == cfg.run.steps
    assert manifest["scenario"]["seed"] == cfg.seed and manifest["versions"]["mesa"]
    assert manifest["events_rows"] == len(ev)
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert len(metrics) == cfg.run.steps
    assert metrics["impressions"].sum() == (ev["event"] == "impression").sum()
    assert metrics["clicks"].sum() == (ev["event"] == "click").sum()
    assert (run / "atomic" / f"{run.name}.inter").is_file()
    assert (run / "export" / "interactions.csv").is_file()


def test_same_seed_identical_events_different_seed_differs(tmp_path: Path) -> None:
    a = run_scenario(small_scenario(tmp_path / "a", **{"recommender.name": "mf", "recommender.retrain_every": 2}))
    b = run_scenario(small_scenario(tmp_path / "b", **{"recommender.name": "mf", "recommender.retrain_every": 2}))
    c = run_scenario(small_scenario(tmp_path / "c", **{"recommender.name": "mf", "recommender.retrain_every": 2, "seed": 4}))
    parts_a = list_parts(a.run_dir / "events.parquet")
    parts_b = list_parts(b.run_dir / "events.parquet")
    assert [p.read_bytes() for p in parts_a] == [p.read_bytes() for p in parts_b]
    pd.testing.assert_frame_equal(read_events(a.run_dir), read_events(b.run_dir))
    ev_c = read_events(c.run_dir)
    assert not read_events(a.run_dir)[["user", "item"]].equals(ev_c[["user", "item"]])
    for name in ("users.parquet", "items.parquet", "train.parquet", "metrics.parquet"):
        assert (a.run_dir / name).read_bytes() == (b.run_dir / name).read_bytes(), name


def test_existing_run_folder_is_not_clobbered(tmp_path: Path) -> None:
    first = run_scenario(small_scenario(tmp_path, **{"run.steps": 1}))
    second = run_scenario(small_scenario(tmp_path, **{"run.steps": 1}))
    assert first.run_dir.name == "small" and second.run_dir.name == "small-2"
    assert (first.run_dir / "manifest.json").is_file()


def test_crash_keeps_written_parts_and_marks_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simrec.env import model as model_mod

    cfg = small_scenario(tmp_path, **{"run.steps": 5, "run.chunk_rows": 1000})
    real_learn = model_mod.SimModel.learn

    def failing_learn(self, inter):  # noqa: ANN001
        if self.steps == 3:
            raise RuntimeError("boom")
        return real_learn(self, inter)

    monkeypatch.setattr(model_mod.SimModel, "learn", failing_learn)
    with pytest.raises(RuntimeError, match="boom"):
        run_scenario(cfg)
    run = tmp_path / "small"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "boom" in manifest["error"]
    ev = read_events(run)
    assert set(ev["step"].unique()) == {1, 2}
    check_log_consistency(ev, cfg.environment.page_size)
    assert len(pd.read_parquet(run / "metrics.parquet")) == 2


def test_retraining_happens_on_schedule(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"recommender.name": "mf", "recommender.retrain_every": 2, "run.steps": 4})
    metrics = run_scenario(cfg).metrics
    assert metrics["retrained"].tolist() == [0, 1, 0, 1]


@pytest.fixture(scope="module")
def ml100k_ctr(tmp_path_factory: pytest.TempPathFactory, ml100k_dir: Path) -> dict[str, float]:
    out = {}
    tmp = tmp_path_factory.mktemp("ml100k")
    for name in ("random", "most_popular", "mf"):
        cfg = ml100k_scenario(tmp, ml100k_dir, **{"recommender.name": name, "run.steps": 3, "run.name": name})
        result = run_scenario(cfg)
        t = result.totals
        out[name] = t["clicks"] / t["impressions"]
        if name == "mf":
            check_log_consistency(read_events(result.run_dir), cfg.environment.page_size)
    return out


def test_recommenders_make_a_difference_on_ml100k(ml100k_ctr: dict[str, float]) -> None:
    ctr = ml100k_ctr
    assert ctr["most_popular"] > 1.5 * ctr["random"], ctr
    assert ctr["mf"] > 1.5 * ctr["random"], ctr
