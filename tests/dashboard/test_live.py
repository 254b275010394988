"""LiveRun: a dashboard run steps a real run folder exactly as `simrec run` would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.dashboard.live import LiveRun
from simrec.env.runner import run_scenario
from simrec.io.events import EVENT_CODE, EventBatch, read_events
from tests.dashboard.helpers import scenario
from tests.helpers import SOCIAL


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def test_steps_write_the_folder_and_a_stop_is_recorded(tmp_path: Path) -> None:
    live = LiveRun.start(scenario(tmp_path, **SOCIAL, **{"run.steps": 3}))
    assert live.steps == 0 and not live.finished
    assert manifest(live.folder.path)["status"] == "running"
    live.step()
    live.step()
    metrics = pd.read_parquet(live.folder.path / "metrics.parquet")
    assert metrics["step"].tolist() == [1, 2]
    # the tap counts every impression the model logged, and keeps the steps it saw
    assert live.tap.exposure.sum() == metrics["impressions"].sum()
    assert sorted({int(b.step[0]) for b in live.tap.recent}) == [1, 2]  # whole steps, in blocks
    assert len(live.exposure_gini) == 2 and all(0 <= g < 1 for g in live.exposure_gini)
    live.close()
    live.close()  # a second close is a no-op
    done = manifest(live.folder.path)
    assert done["status"] == "stopped" and "after 2 of 3 steps" in done["stop_reason"]
    assert done["steps_completed"] == 2
    events = read_events(live.folder.path)
    assert (events["event"] == "impression").sum() == live.tap.exposure.sum()
    live.step()  # closed: nothing happens
    assert live.steps == 2


def test_a_finished_run_completes_and_takes_no_more_steps(tmp_path: Path) -> None:
    live = LiveRun.start(scenario(tmp_path, **{"run.steps": 2}))
    for _ in range(3):
        live.step()
    assert live.steps == 2 and live.finished
    live.close()
    assert manifest(live.folder.path)["status"] == "completed"


def test_same_metrics_and_events_as_simrec_run(tmp_path: Path) -> None:
    cfg = scenario(tmp_path / "run", **SOCIAL, **{"run.steps": 3})
    expected = run_scenario(cfg)
    live = LiveRun.start(cfg.model_copy(update={"run": cfg.run.model_copy(update={"output_dir": tmp_path / "dash"})}))
    for _ in range(3):
        live.step()
    live.close()
    got = pd.read_parquet(live.folder.path / "metrics.parquet")
    pd.testing.assert_frame_equal(got, pd.read_parquet(expected.run_dir / "metrics.parquet"))
    a, b = read_events(live.folder.path), read_events(expected.run_dir)
    pd.testing.assert_frame_equal(a.drop(columns="run"), b.drop(columns="run"))


def test_events_of_one_user(tmp_path: Path) -> None:
    live = LiveRun.start(scenario(tmp_path))
    live.step()
    step = EventBatch.concat(list(live.tap.recent))
    user = int(step.user[0])
    mine = live.tap.events_of(user)
    assert len(mine) == int((step.user == user).sum()) and set(mine.user.tolist()) == {user}
    assert len(mine) > 1  # an impression and its click or skip at least
    shown = mine.item[mine.event == EVENT_CODE["impression"]]
    assert np.all(live.tap.exposure[shown] > 0)
    live.close()
