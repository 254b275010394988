"""Shipped scenarios by name: ``simrec run quickstart`` from any folder, paths first."""

from __future__ import annotations

from pathlib import Path

import pytest

from simrec.bench.spec import load_spec
from simrec.config import load_scenario
from simrec.config.shipped import scenario_path, shipped_scenario, shipped_scenarios
from simrec.core.errors import ConfigError
from simrec.core.resources import resource_path
from tests.helpers import ROOT

QUICKSTART = resource_path("scenarios", "quickstart.yaml")


def test_shipped_scenarios_are_the_package_files() -> None:
    shipped = shipped_scenarios()
    assert list(shipped) == sorted(shipped)
    assert set(shipped) == {p.stem for p in (ROOT / "scenarios").glob("*.yaml")}
    assert {"quickstart", "ml100k_compare", "viral", "echo_chamber"} <= set(shipped)
    assert shipped["quickstart"] == QUICKSTART


@pytest.mark.parametrize("name", ["quickstart", "quickstart.yaml", "quickstart.yml"])
def test_a_bare_name_with_or_without_suffix_matches(name: str) -> None:
    assert shipped_scenario(name) == QUICKSTART


@pytest.mark.parametrize(
    "name", ["scenarios/quickstart.yaml", "./quickstart", "quick", "", "..", "quickstart.txt"]
)
def test_paths_and_other_names_do_not_match(name: str) -> None:
    assert shipped_scenario(name) is None


def test_a_name_resolves_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert scenario_path("quickstart") == QUICKSTART
    cfg = load_scenario("quickstart", ["run.steps=1"])
    assert cfg.name == "quickstart" and cfg.run.steps == 1
    # the scenario's ../environments and ../agents references resolve inside the package data
    assert cfg.environment.data.archetypes == resource_path("agents", "archetypes", "default.yaml")
    assert cfg.environment.name == "synthetic-small" and cfg.agents.name == "default-agents"


def test_an_existing_file_wins_over_a_shipped_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "quickstart.yaml").write_text("name: mine\nrun: {steps: 2}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert scenario_path("quickstart.yaml") == Path("quickstart.yaml")
    assert load_scenario("quickstart.yaml").name == "mine"
    assert load_scenario("quickstart").name == "quickstart"  # no file called 'quickstart' here
    assert scenario_path("quickstart.yaml", base=ROOT / "benches") == QUICKSTART
    assert scenario_path("quickstart.yaml", base=tmp_path) == tmp_path / "quickstart.yaml"


def test_the_checkout_path_and_the_name_are_the_same_scenario() -> None:
    by_path = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    by_name = load_scenario("quickstart")
    assert by_path.model_dump() == by_name.model_dump()


def test_neither_file_nor_name_lists_the_shipped_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not found") as exc:
        load_scenario("quikstart")
    message = str(exc.value)
    assert "quikstart" in message
    for name in shipped_scenarios():
        assert name in message
    # a path whose file name is a shipped scenario points at running it by name
    with pytest.raises(ConfigError, match=r"run it by name \(quickstart\)"):
        scenario_path("scenarios/quickstart.yaml")


def test_bench_scenarios_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = load_spec(None, scenarios=["quickstart", "viral.yaml"], recommenders=["random"])
    assert spec.scenarios == [QUICKSTART, resource_path("scenarios", "viral.yaml")]
    spec_file = tmp_path / "b.yaml"
    spec_file.write_text("scenarios: [ml100k_compare]\nrecommenders: [random]\n", encoding="utf-8")
    assert load_spec(spec_file).scenarios == [resource_path("scenarios", "ml100k_compare.yaml")]
    # the command line's list replaces the file's, so a bad entry in the file is not an error then
    spec_file.write_text("scenarios: [nope.yaml]\nrecommenders: [random]\n", encoding="utf-8")
    spec = load_spec(spec_file, scenarios=["viral"])
    assert spec.scenarios == [resource_path("scenarios", "viral.yaml")]
    with pytest.raises(ConfigError, match="does not exist") as exc:
        load_spec(spec_file)
    assert "b.yaml" in str(exc.value) and "quickstart" in str(exc.value)
