"""The progress a run reports: after each step, and within a step when LLM agents work."""

from __future__ import annotations

from pathlib import Path

from simrec.env.runner import StepInfo, run_scenario
from tests.helpers import small_scenario


def test_llm_runs_report_each_page_within_a_step(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"policy.name": "hybrid", "policy.llm.llm_users": 5, "llm.backend": "fake",
                                      "run.steps": 2, "agents.memory.store": "memory"})  # fmt: skip
    seen: list[StepInfo] = []
    run_scenario(cfg, progress=seen.append)
    within = [i for i in seen if i.page is not None]
    after = [i for i in seen if i.page is None]
    assert [i.step for i in after] == [1, 2]
    assert within and {i.step for i in within} == {0, 1}  # steps completed before the page
    assert within[0].page == 0 and all(i.llm_calls >= 0 for i in within)
    assert max(i.llm_calls for i in within) > 0
