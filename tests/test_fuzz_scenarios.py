"""Fuzzed scenarios: `simrec validate` and `simrec run` accept and reject the same ones, cleanly.

CI runs a seeded budget (``SIMREC_FUZZ_SCENARIOS``, default 30 a base scenario);
``benchmarks/fuzz.py`` runs the full count and prints what it found.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from simrec.cli import app
from simrec.testing.fuzz import Mutation, scenario_mutations, write_files
from tests.helpers import SOCIAL, small_scenario

EXAMPLES = int(os.environ.get("SIMREC_FUZZ_SCENARIOS", "30"))
cli = CliRunner()


def base_scenarios(tmp: Path) -> dict[str, dict[str, Any]]:
    """Scenarios to mutate, as the dictionaries a YAML file holds (fast synthetic worlds)."""
    out = {}
    attacked = {"robustness.shilling.fake_users": 10, "robustness.noise.clickbait.items": 5,
                "robustness.noise.accidental.rate": 0.1, "robustness.defence.filter": "rdma", "robustness.probe": True,
                "recommender.name": "item_knn", "recommender.retrain_every": 1}  # fmt: skip
    for name, over in (("choice", {}), ("social_mf", {**SOCIAL, "recommender.name": "mf",
                                                      "recommender.params.factors": 4}), ("attacked", attacked)):  # fmt: skip
        data = small_scenario(tmp, **over, **{"run.steps": 2}).model_dump(mode="json", exclude_defaults=True)
        data.setdefault("run", {})["output_dir"] = "{runs}"
        out[name] = data
    return out


def outcome(mutation: Mutation, tmp: Path) -> tuple[int, str, int, str]:
    """Exit code and message of `simrec validate`, then of `simrec run` (capped at one step)."""
    data = write_files(mutation, tmp / "files")
    text = yaml.safe_dump(data, sort_keys=False).replace("'{runs}'", str(tmp / "runs")).replace("{runs}", str(tmp / "runs"))
    path = tmp / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    v = cli.invoke(app, ["validate", str(path)])
    extra = [] if mutation.path.startswith("run") else ["--set", "run.steps=1"]
    r = cli.invoke(app, ["run", "--quiet", str(path), *extra])
    return v.exit_code, v.output + (v.stderr or ""), r.exit_code, r.output + (r.stderr or "")


def _check(mutation: Mutation, tmp: Path) -> str:
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    default_runs = Path("runs")  # where a scenario whose run.output_dir was removed writes (the test's cwd)
    before = sorted(default_runs.iterdir()) if default_runs.is_dir() else []
    v_code, v_out, r_code, r_out = outcome(mutation, tmp)
    where = f"{mutation.kind} at {mutation.path!r}"
    for out in (v_out, r_out):
        assert "Traceback" not in out, f"{where}: a traceback\n{out}"
    assert v_code in (0, 2), f"{where}: validate exited {v_code}\n{v_out}"
    assert r_code in (0, 2), f"{where}: run exited {r_code}\n{r_out}"
    assert (v_code == 0) == (r_code == 0), f"{where}: validate {v_code}, run {r_code}\n{v_out[-800:]}\n{r_out[-800:]}"
    if v_code == 0:
        return "accepted"
    message = " ".join(v_out.split())
    assert message.startswith("error:"), f"{where}: {message[:300]}"
    assert message == " ".join(r_out.split()).split(" simrec running ")[-1] or "error:" in r_out
    assert not (tmp / "runs").exists() or not any((tmp / "runs").iterdir()), f"{where}: run wrote {list((tmp / 'runs').iterdir())}"
    after = sorted(default_runs.iterdir()) if default_runs.is_dir() else []
    assert after == before, f"{where}: run wrote {sorted(set(after) - set(before))}"
    names = [p for p in re.split(r"[.]", mutation.path) if p and not p.isdigit()]
    assert mutation.kind in ("removed_key", "file") or any(n in message for n in names[-2:]), f"{where}: {message[:400]}"
    return "rejected"


@pytest.mark.parametrize("base", ["choice", "social_mf", "attacked"])
def test_fuzzed_scenarios_are_accepted_or_rejected_alike(tmp_path: Path, base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = base_scenarios(tmp_path)[base]
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # runs whose output_dir was fuzzed away land here, not in the checkout
    seen: dict[str, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(scenario_mutations(scenario))
    def one(mutation: Mutation) -> None:
        result = _check(mutation, tmp_path / "case")
        seen[result] = seen.get(result, 0) + 1

    one()
    assert seen.get("rejected", 0) > 0  # the fuzzer reached the rejecting paths
