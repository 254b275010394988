"""examples/own_policy.py: a user's own policy, named by import path, runs a scenario and passes the checker."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from simrec.agents.policies.base import PageBatch, build_policy, policy_class
from simrec.core.rng import child_rng
from simrec.env.runner import run_scenario
from simrec.io.events import read_events
from simrec.testing import check_policy, tiny_scenario, tiny_world
from tests.helpers import ROOT, small_scenario

NAME = "examples.own_policy:BingeWatcher"


@pytest.fixture()
def root_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The repository's root on the import path, as ``PYTHONPATH=.`` puts it there."""
    monkeypatch.syspath_prepend(str(ROOT))
    yield
    sys.modules.pop("examples.own_policy", None)


def test_the_example_runs_a_scenario_by_import_path(tmp_path: Path, root_on_path: None) -> None:
    cfg = small_scenario(
        tmp_path, **{"policy.name": NAME, "policy.params": "{watch: 2, tired_at: 1.0}"}
    )
    result = run_scenario(cfg)
    ev = read_events(result.run_dir)
    clicks = ev[ev["event"] == "click"]
    assert len(clicks) > 0 and set(ev["policy"].astype(str)) == {"choice"}
    # every page: exactly the two best genre fits watched
    per_page = ev[ev["event"] == "impression"].groupby(["session", "page"]).size().to_frame("shown")
    per_page["watched"] = clicks.groupby(["session", "page"]).size()
    assert (per_page["watched"] == 2).all()
    # 0.25 fatigue per watch: tired (1.0) after two pages at the latest, of the four a session may have
    pages = ev.groupby("session")["page"].max() + 1
    assert cfg.environment.pages_per_session == 4 and pages.max() == 2
    stars = ev.loc[ev["event"] == "rating", "value"]
    assert len(stars) == len(clicks) and stars.between(1, 5).all() and stars.nunique() > 1


def test_the_example_passes_check_policy(root_on_path: None) -> None:
    cls = policy_class(NAME)
    assert cls.__name__ == "BingeWatcher" and cls.__module__ == "examples.own_policy"
    check_policy(cls)
    world = tiny_world(4)
    cfg = tiny_scenario(
        4, [f"policy.name={NAME}", "policy.params={watch: 3, rating_noise: 0.0}"]
    ).policy
    policy = build_policy(cfg, world, child_rng(4, "policy"))
    check_policy(policy, seed=4)
    # its parameters count: three watches a page, for every user
    n = 5
    batch = PageBatch(1, 0, np.arange(n), np.tile(np.arange(5), (n, 1)), np.zeros(n, np.float32),
                      np.zeros(n, np.float32))  # fmt: skip
    assert (policy.decide(batch).clicks.sum(axis=1) == 3).all()
