"""Runs killed with SIGKILL at several points, then resumed: the same files as an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from simrec.core.errors import DataError
from simrec.env.runner import resume_scenario, run_scenario
from simrec.io.checkpoints import list_checkpoints
from simrec.io.events import read_events
from simrec.io.manifest_model import Manifest, observed_status
from simrec.io.texts import read_texts
from tests.helpers import SOCIAL, small_scenario

ROOT = Path(__file__).resolve().parents[2]
#: The run's LLM accounting: a resumed run replays from the cache what the killed one asked.
LLM_ACCOUNTING = ("llm_calls", "llm_prompt_tokens", "llm_completion_tokens", "llm_cached")

CHOICE = {"recommender.name": "mf", "recommender.params.factors": 8, "recommender.params.iterations": 3,
          "recommender.retrain_every": 2}  # fmt: skip
#: Shares wait one step: cascades finish after 4 quiet steps and go to checkpoints/ during the run.
SOCIAL_RUN = {**CHOICE, **SOCIAL, "environment.social.dynamics.inbox_ttl": 1}
BASE = {"run.steps": 6, "run.checkpoint_every": 2, "run.chunk_rows": 1000, "run.name": "r"}


def scenario_file(tmp_path: Path, **over: Any) -> Path:
    """A scenario YAML (the small synthetic world with ``over``) for the killed subprocess."""
    cfg = small_scenario(tmp_path / "unused", **over)
    data = cfg.model_dump(mode="json")
    data["run"].pop("output_dir")
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def kill_run(scenario: Path, out: Path, point: str, at: int, *extra: str) -> Path:
    """Run ``scenario`` into ``out`` in a subprocess that SIGKILLs itself at ``point`` of step ``at``."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.env.killer", point, str(at), str(scenario), f"run.output_dir={out}", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stdout + proc.stderr
    return out / "r"


def assert_same_run(ref: Path, resumed: Path, skip_metrics: tuple[str, ...] = ()) -> None:
    """Every table of the two run folders holds the same content."""
    pd.testing.assert_frame_equal(read_events(ref), read_events(resumed))
    pd.testing.assert_frame_equal(read_texts(ref), read_texts(resumed))
    ma, mb = (pd.read_parquet(p / "metrics.parquet").drop(columns=list(skip_metrics), errors="ignore")
              for p in (ref, resumed))  # fmt: skip
    pd.testing.assert_frame_equal(ma, mb)
    skip = ("events.parquet", "texts.parquet", "metrics.parquet", "llm_usage.parquet")
    tables = sorted(p.relative_to(ref) for p in ref.rglob("*.parquet") if not p.relative_to(ref).parts[0] in skip)
    assert tables, "the reference run wrote no tables"
    for rel in tables:
        pd.testing.assert_frame_equal(pd.read_parquet(ref / rel), pd.read_parquet(resumed / rel), obj=str(rel))
    assert sorted(p.relative_to(resumed) for p in resumed.rglob("*.parquet")
                  if not p.relative_to(resumed).parts[0] in skip) == tables  # fmt: skip
    a, b = Manifest.read(ref), Manifest.read(resumed)
    assert b.status == "completed" and b.totals == a.totals and b.steps_completed == a.steps_completed
    assert b.events_rows == a.events_rows and b.resumes


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uninterrupted runs of the two scenarios."""
    out = {}
    for name, over in (("choice", CHOICE), ("social", SOCIAL_RUN)):
        base = tmp_path_factory.mktemp(f"ref-{name}")
        out[name] = run_scenario(small_scenario(base, **BASE, **over)).run_dir
    assert (out["social"] / "checkpoints" / "cascades.bin").stat().st_size > 0  # some cascades were retired
    return out


@pytest.mark.parametrize("scenario", ["choice", "social"])
@pytest.mark.parametrize(
    ("point", "at", "from_step"),
    [("after_step", 3, 2), ("in_step", 5, 4), ("checkpoint_write", 4, 2), ("event_flush", 5, 4)],
)
def test_killed_then_resumed_run_equals_the_uninterrupted_one(
    tmp_path: Path, references: dict[str, Path], scenario: str, point: str, at: int, from_step: int
) -> None:
    over = {**BASE, **(SOCIAL_RUN if scenario == "social" else CHOICE)}
    run_dir = kill_run(scenario_file(tmp_path, **over), tmp_path / "out", point, at)
    manifest = Manifest.read(run_dir)
    assert manifest.status == "running" and observed_status(manifest) == "crashed"
    finished = at if point in ("after_step", "checkpoint_write") else at - 1  # killed between or inside steps
    assert manifest.steps_completed == finished
    assert [c.step for c in list_checkpoints(run_dir)][-1] == from_step
    resume_scenario(run_dir)
    assert_same_run(references[scenario], run_dir)
    assert Manifest.read(run_dir).resumes[0]["from_step"] == from_step
    assert Manifest.read(run_dir).resumes[0]["previous_status"] == "crashed"


def test_resume_from_the_command_line_and_refusals(tmp_path: Path, references: dict[str, Path]) -> None:
    run_dir = kill_run(scenario_file(tmp_path, **BASE, **CHOICE), tmp_path / "out", "after_step", 3)
    cli = [sys.executable, "-m", "simrec", "run", "--quiet", "--resume", str(run_dir)]
    proc = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "from step 2 of 6" in " ".join(proc.stderr.split())
    assert_same_run(references["choice"], run_dir)
    again = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "completed; there is nothing to resume" in " ".join(again.stderr.split())
    assert "Traceback" not in again.stderr
    with pytest.raises(DataError, match="nothing to resume"):
        resume_scenario(run_dir)


def test_a_run_killed_before_its_first_checkpoint_cannot_be_resumed(tmp_path: Path) -> None:
    run_dir = kill_run(scenario_file(tmp_path, **BASE, **CHOICE), tmp_path / "out", "after_step", 1)
    with pytest.raises(DataError, match="no readable checkpoint.*run it again"):
        resume_scenario(run_dir)


def test_a_damaged_newest_checkpoint_is_skipped(tmp_path: Path, references: dict[str, Path]) -> None:
    run_dir = kill_run(scenario_file(tmp_path, **BASE, **CHOICE), tmp_path / "out", "after_step", 5)
    newest = list_checkpoints(run_dir)[-1]
    assert newest.step == 4
    newest.path.write_bytes(newest.path.read_bytes()[:-100])  # a disk that lost its tail
    resume_scenario(run_dir)
    assert Manifest.read(run_dir).resumes[0]["from_step"] == 2
    assert_same_run(references["choice"], run_dir)


def test_interrupted_run_manifest_counts_only_finished_steps(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **BASE, **CHOICE)
    from simrec.env.model import SimModel

    learn = SimModel.learn

    def interrupt(self: SimModel, *args: object) -> object:
        if self.steps == 4:
            raise KeyboardInterrupt
        return learn(self, *args)

    SimModel.learn = interrupt  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            run_scenario(cfg)
    finally:
        SimModel.learn = learn  # type: ignore[method-assign]
    run_dir = tmp_path / "r"
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["status"] == "interrupted" and m["steps_completed"] == 3
    assert len(pd.read_parquet(run_dir / "metrics.parquet")) == 3
    resume_scenario(run_dir)
    assert Manifest.read(run_dir).resumes[0]["previous_status"] == "interrupted"


def test_hybrid_run_on_the_embedded_model_resumes_exactly(tmp_path: Path) -> None:
    """(c) LLM-driven users (SmolLM2, ChromaDB memories, texts) with the replay cache."""
    from simrec.config import load_scenario

    quickstart = ROOT / "scenarios" / "quickstart.yaml"
    over = ["run.steps=2", "run.checkpoint_every=1", "run.name=r", "run.export=[]",
            f"llm.cache.path={tmp_path / 'cache.sqlite'}"]  # fmt: skip
    ref = run_scenario(load_scenario(quickstart, [*over, f"run.output_dir={tmp_path / 'ref'}"])).run_dir
    run_dir = kill_run(quickstart, tmp_path / "out", "in_step", 2, *over)
    assert Manifest.read(run_dir).checkpoint["step"] == 1
    resume_scenario(run_dir)
    assert_same_run(ref, run_dir, skip_metrics=LLM_ACCOUNTING)
    assert len(read_texts(run_dir)) > 0 and (run_dir / "memory").is_dir()
