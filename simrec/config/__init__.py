"""Typed scenario configuration: schema, YAML loading, ``--set`` overrides."""

from __future__ import annotations

from simrec.config.loader import load_scenario, parse_overrides
from simrec.config.schema import ScenarioConfig

__all__ = ["ScenarioConfig", "load_scenario", "parse_overrides"]
