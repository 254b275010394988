"""The robustness block: the documented example validates, bad windows and shards are refused."""

from __future__ import annotations

import re

import pytest
import yaml

from simrec.config import load_scenario
from simrec.config.robustness import RobustnessConfig
from simrec.core.errors import ConfigError
from tests.helpers import ROOT


def test_the_example_in_docs_robustness_is_a_valid_block() -> None:
    text = (ROOT / "docs" / "robustness.md").read_text(encoding="utf-8")
    block = yaml.safe_load(re.search(r"```yaml\n(robustness:.*?)```", text, re.DOTALL).group(1))["robustness"]
    cfg = RobustnessConfig.model_validate(block)
    assert cfg.shilling.kind == "bandwagon" and cfg.shilling.stop == 4 and cfg.defence.filter == "rdma"


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ConfigError, match="stop .* must come after start"):
        load_scenario("shilling", ["robustness.shilling.start=4", "robustness.shilling.stop=4"])


def test_sharded_runs_refuse_the_block() -> None:
    from simrec.env.preflight import preflight

    cfg = load_scenario("shilling", ["run.shards=2", "environment.social.dynamics.enabled=false"])
    with pytest.raises(ConfigError, match="cannot run sharded: a robustness block"):
        preflight(cfg, worlds=False)
