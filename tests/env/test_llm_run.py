"""Runs whose policy thinks with the LLM: health check, accounting, budget stop, replay."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from simrec.core.errors import SimrecError
from simrec.env.runner import run_scenario
from simrec.io.events import read_events
from tests.helpers import small_scenario

POLICY = {"policy.name": "tests.plugins.llmpolicy:AskingPolicy", "llm.backend": "fake"}


def test_budget_stops_run_at_step_boundary(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **POLICY, **{"run.steps": 6, "llm.budget.max_calls": 150})
    result = run_scenario(cfg)
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "stopped"
    assert "max_calls=150" in manifest["stop_reason"] and result.stop_reason == manifest["stop_reason"]
    done = manifest["steps_completed"]
    assert 1 <= done < 6
    metrics = pd.read_parquet(result.run_dir / "metrics.parquet")
    assert len(metrics) == done and metrics["llm_calls"].sum() == manifest["llm"]["calls"]
    ev = read_events(result.run_dir)
    assert ev["step"].max() == done
    # the cap turned the remaining calls of the last step into counted fallbacks
    assert manifest["llm"]["fallback_reasons"].get("budget", 0) > 0
    usage = pd.read_parquet(result.run_dir / "llm_usage.parquet")
    assert usage["calls"].sum() == manifest["llm"]["calls"] and usage["cached"].sum() == manifest["llm"]["cache_hits"]


def test_rerun_with_cache_makes_zero_calls_and_same_events(tmp_path: Path) -> None:
    over = {**POLICY, "run.steps": 3, "llm.cache.path": str(tmp_path / "cache.sqlite")}
    a = run_scenario(small_scenario(tmp_path / "a", **over))
    b = run_scenario(small_scenario(tmp_path / "b", **over))
    ma = json.loads((a.run_dir / "manifest.json").read_text())["llm"]
    mb = json.loads((b.run_dir / "manifest.json").read_text())["llm"]
    assert ma["calls"] > 0 and mb["calls"] == 0 and mb["cache_hits"] == ma["requests"]
    pd.testing.assert_frame_equal(read_events(a.run_dir), read_events(b.run_dir))


def test_unreachable_backend_fails_before_anything_is_written(tmp_path: Path) -> None:
    cfg = small_scenario(
        tmp_path, **{"policy.name": "tests.plugins.llmpolicy:AskingPolicy", "llm.backend": "ollama",
                     "llm.host": "http://127.0.0.1:9", "llm.model": "llama3.2"}  # fmt: skip
    )
    with pytest.raises(SimrecError, match="127.0.0.1:9"):
        run_scenario(cfg)
    assert not (tmp_path / "small").exists()
