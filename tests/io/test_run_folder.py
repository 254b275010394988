"""RunFolder: the files of a run (through the io layer's protocols) and the runner's use of it."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest

from simrec.core.errors import ConfigError
from simrec.env.model import PHASES
from simrec.env.runner import Parts, StepInfo, build_parts, run_scenario
from simrec.fidelity.calibrate import calibrate_world
from simrec.io.events import read_events
from simrec.io.manifest_model import Manifest
from simrec.io.run_folder import RunFolder
from simrec.world.build import build_world
from tests.helpers import SOCIAL, small_scenario


def read(folder: RunFolder) -> dict:
    return json.loads((folder.path / "manifest.json").read_text(encoding="utf-8"))


def test_create_writes_a_running_manifest_and_never_clobbers(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path)
    first, second = RunFolder.create(cfg), RunFolder.create(cfg)
    assert (first.name, second.name) == ("small", "small-2")
    m = read(first)
    assert m["simrec_run"] == 1 and m["kind"] == "run" and m["status"] == "running"
    assert m["seed"] == cfg.seed and m["scenario"]["name"] == "small" and "git" in m
    assert "finished_at" not in m and "error" not in m
    assert Manifest.read(first.path) == first.manifest


def test_overwrite_replaces_a_run_but_not_a_foreign_folder(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"run.overwrite": True})
    first = RunFolder.create(cfg)
    (first.path / "old.txt").write_text("from the earlier run")
    again = RunFolder.create(cfg)
    assert again.path == first.path and not (again.path / "old.txt").exists()
    foreign = small_scenario(tmp_path, **{"run.overwrite": True, "run.name": "mine"})
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="refusing to delete"):
        RunFolder.create(foreign)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_write_world_writes_the_tables_and_calibration(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **SOCIAL)
    world = build_world(cfg)
    folder = RunFolder.create(cfg)
    folder.write_world(world)
    assert len(pd.read_parquet(folder.path / "users.parquet")) == world.population.n_users
    assert len(pd.read_parquet(folder.path / "items.parquet")) == len(world.catalog.to_frame())
    edges = pd.read_parquet(folder.path / "graph" / "edges-initial.parquet")
    assert len(edges) == world.graph.n_edges > 0
    for name in ("agents.parquet", "train.parquet", "heldout.parquet"):
        assert (folder.path / name).is_file(), name
    assert not (folder.path / "calibration.json").exists()  # an uncalibrated world has none

    cal = small_scenario(
        tmp_path,
        **{
            "agents.calibration.choice": True,
            "agents.calibration.natural_noise": "null",
            "environment.data.interactions_per_user": 60,
        },
    )
    calibrated = calibrate_world(cal, build_world(cal))
    assert calibrated.calibration is not None
    folder = RunFolder.create(cal)
    folder.write_world(calibrated)
    written = json.loads((folder.path / "calibration.json").read_text())
    assert written == json.loads(json.dumps(calibrated.calibration.to_json()))


def test_steps_snapshots_social_files_and_final_manifest(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **SOCIAL)
    folder = RunFolder.create(cfg)
    parts = Parts()
    model = build_parts(cfg, folder, None, parts, {})
    for step in range(1, 4):
        model.step()
        folder.write_step(model, step, parts.events_rows)
        assert read(folder)["steps_completed"] == step  # the manifest follows the steps on disk
    assert len(pd.read_parquet(folder.path / "metrics.parquet")) == 3
    snapshots = sorted(p.name for p in (folder.path / "graph").glob("edges-step-*.parquet"))
    assert snapshots == ["edges-step-0002.parquet"]  # every snapshot_every = 2 steps
    parts.close(folder)
    manifest = folder.finish(
        "completed",
        timings={"simulate": 1.23456},
        model=model,
        phases=PHASES,
        events_rows=parts.events_rows,
        steps_done=3,
    )
    m = read(folder)
    assert m == manifest.model_dump(mode="json") and m["status"] == "completed" and m["finished_at"]
    assert m["steps_completed"] == 3 and m["totals"] == dict(model.totals)
    assert m["events_rows"] == parts.events_rows > 0 and m["timings_s"] == {"simulate": 1.2346}
    assert list(m["phase_timings_s"]) == list(PHASES)
    arcs = pd.read_parquet(folder.path / "graph" / "edges-final.parquet")
    assert (
        m["social"]["edges_final"] == len(arcs) // 2
    )  # a friendship graph holds both arcs of a tie
    assert m["social"]["shares"] == len(pd.read_parquet(folder.path / "shares.parquet"))
    assert (folder.path / "cascades.parquet").is_file()
    # final.graphml: users.parquet's fields on the nodes, each side's trust and strikes on the edges
    g = nx.read_graphml(folder.path / "graph" / "final.graphml", node_type=int)
    users = pd.read_parquet(folder.path / "users.parquet")
    assert g.number_of_nodes() == len(users) and g.number_of_edges() == len(arcs) // 2
    assert {u: g.nodes[u]["user_id"] for u in g} == dict(zip(users["user"], users["user_id"], strict=True))
    state = {(a, b): (t, k) for a, b, t, k in arcs.itertuples(index=False)}
    for a, b, data in g.edges(data=True):
        lo, hi = min(a, b), max(a, b)
        assert (data["trust_source"], data["strikes_source"]) == pytest.approx(state[lo, hi])
        assert (data["trust_target"], data["strikes_target"]) == pytest.approx(state[hi, lo])
    assert (folder.path / "report.html").is_file() and "report_error" not in m
    assert "error" not in m and "stop_reason" not in m and "llm" not in m


def test_failed_run_without_a_model_and_a_report_failure(tmp_path: Path) -> None:
    folder = RunFolder.create(small_scenario(tmp_path))
    (folder.path / "metrics.parquet").write_bytes(b"not parquet")  # the report cannot read it
    folder.finish("failed", timings={"total": 0.5}, error="RuntimeError: boom", phases=PHASES)
    m = read(folder)
    assert m["status"] == "failed" and m["error"] == "RuntimeError: boom"
    assert "metrics.parquet" in m["report_error"]  # noted, not raised
    assert not {"totals", "events_rows", "social", "phase_timings_s"} & set(m)
    assert m["steps_completed"] == 0  # written from the start: what is on disk
    assert Manifest.read(folder.path).report_error == m["report_error"]


def test_llm_usage_goes_to_the_manifest_and_a_table(tmp_path: Path) -> None:
    folder = RunFolder.create(small_scenario(tmp_path, **{"run.report": False}))
    folder.write_llm_usage({"backend": "fake", "calls": 3}, {})
    assert not (folder.path / "llm_usage.parquet").exists()  # no agent used it: no table
    per_agent = {"0": {"calls": 2.0, "cached": 0.0}, "5": {"calls": 1.0, "cached": 1.0}}
    folder.write_llm_usage({"backend": "fake", "calls": 3}, per_agent)
    folder.finish("completed", timings={})
    usage = pd.read_parquet(folder.path / "llm_usage.parquet")
    assert usage["agent"].tolist() == ["0", "5"] and usage["calls"].sum() == 3
    assert read(folder)["llm"] == {"backend": "fake", "calls": 3}
    assert not (folder.path / "report.html").exists()  # run.report: false


def test_an_interrupted_run_is_marked_and_keeps_its_steps(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"run.steps": 5, **SOCIAL})

    def stop_after_two(info: StepInfo) -> None:
        if info.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scenario(cfg, progress=stop_after_two)
    m = Manifest.read(tmp_path / "small")
    assert m.status == "interrupted" and m.error == "interrupted by the user"
    assert m.steps_completed == 2 and m.social is not None and m.finished_at is not None
    assert len(read_events(tmp_path / "small")) == m.events_rows > 0
    assert len(pd.read_parquet(tmp_path / "small" / "metrics.parquet")) == 2
    assert (tmp_path / "small" / "graph" / "edges-final.parquet").is_file()
