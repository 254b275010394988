"""Scenarios for the dashboard's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simrec.config.schema import ScenarioConfig
from tests.helpers import small_scenario


def scenario(tmp_path: Path, **over: Any) -> ScenarioConfig:
    """The tests' small synthetic scenario without report.html (closing a run stays fast)."""
    return small_scenario(tmp_path, **{"run.report": False, **over})
