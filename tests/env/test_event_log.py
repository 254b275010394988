"""run.log: what a run writes, and that the simulation does not depend on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import ConfigError, DataError
from simrec.env.event_log import ITEM_STEP_COLUMNS, ITEM_STEPS_DIRNAME
from simrec.env.runner import resume_scenario, run_scenario
from simrec.io.events import read_events
from simrec.io.export import export_run
from simrec.metrics.run import run_metrics
from tests.helpers import small_scenario


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("logs")
    return {
        log: run_scenario(small_scenario(out / log, **{"run.log": log, "run.chunk_rows": 1000})).run_dir
        for log in ("events", "interactions", "aggregates")
    }


def test_the_log_setting_does_not_change_the_run(runs: dict[str, Path]) -> None:
    for log in ("interactions", "aggregates"):
        for name in ("metrics.parquet", "users.parquet"):
            assert (runs["events"] / name).read_bytes() == (runs[log] / name).read_bytes(), (log, name)


def test_interactions_keep_every_row_but_impressions_and_skips(runs: dict[str, Path]) -> None:
    full = read_events(runs["events"])
    kept = read_events(runs["interactions"])
    want = full[full["event"].astype(str).isin(["click", "rating", "share", "exit"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), want)
    assert len(kept) < len(full) / 3


def test_aggregates_count_what_the_full_log_shows(runs: dict[str, Path]) -> None:
    assert not (runs["aggregates"] / "events.parquet").exists() or read_events(runs["aggregates"]).empty
    agg = pd.read_parquet(runs["aggregates"] / ITEM_STEPS_DIRNAME)
    assert tuple(agg.columns) == ITEM_STEP_COLUMNS
    ev = read_events(runs["events"])
    kind = ev["event"].astype(str)
    for name, event in (("impressions", "impression"), ("clicks", "click"), ("ratings", "rating")):
        want = ev[kind == event].groupby(["step", "item"]).size()
        got = agg.set_index(["step", "item"])[name]
        got = got[got > 0]
        assert want.sort_index().to_numpy().tolist() == got.sort_index().to_numpy().tolist(), name
    stars = ev[kind == "rating"].groupby(["step", "item"])["value"].sum()
    got = agg.set_index(["step", "item"])["stars"]
    np.testing.assert_allclose(got[got > 0].sort_index().to_numpy(), stars.sort_index().to_numpy())


def test_readers_of_impressions_refuse_a_thinner_log(runs: dict[str, Path]) -> None:
    assert run_metrics(runs["events"])["impressions"] > 0
    for log in ("interactions", "aggregates"):
        with pytest.raises(DataError, match="run.log: events"):
            run_metrics(runs[log])


def test_exports_read_an_interactions_log(runs: dict[str, Path]) -> None:
    a = export_run(runs["events"], ["csv"])
    b = export_run(runs["interactions"], ["csv"])
    names = {p.name for p in a["csv"]}
    assert "interactions.csv" in names
    for pa_, pb in zip(sorted(a["csv"]), sorted(b["csv"]), strict=True):
        if pa_.name != "events.csv":  # every event there; what the interactions log keeps here
            pd.testing.assert_frame_equal(pd.read_csv(pa_), pd.read_csv(pb))


def test_aggregates_with_an_export_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run.export"):
        small_scenario(tmp_path, **{"run.log": "aggregates", "run.export": "[recbole]"})


def test_resumed_aggregates_run_rewrites_the_steps_after_its_checkpoint(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path / "a", **{"run.log": "aggregates", "run.checkpoint_every": 2, "run.steps": 4})
    whole = run_scenario(cfg).run_dir
    frame = pd.read_parquet(whole / ITEM_STEPS_DIRNAME)
    steps = pd.read_parquet(whole / "metrics.parquet")["step"].tolist()
    assert sorted(frame["step"].unique()) == steps and len(steps) == 4
    # a crash after step 3: the checkpoint of step 2 stays, the run is marked failed
    import json

    manifest = json.loads((whole / "manifest.json").read_text())
    manifest["status"] = "failed"
    (whole / "manifest.json").write_text(json.dumps(manifest))
    resume_scenario(whole)
    pd.testing.assert_frame_equal(pd.read_parquet(whole / ITEM_STEPS_DIRNAME), frame)
