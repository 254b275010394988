"""Scenario loading: references, overrides, and errors that name key, file and allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from simrec.config import load_scenario, parse_overrides
from simrec.config.loader import deep_merge
from simrec.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_quickstart_resolves_environment_and_agent_files() -> None:
    cfg = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    assert cfg.name == "quickstart"
    assert cfg.environment.data.source == "synthetic"
    # archetypes path in the environment file resolves against that file's folder (the loader
    # resolves links: the checkout's agents/ links to the package data, simrec/resources/agents)
    archetypes = (ROOT / "agents" / "archetypes" / "default.yaml").resolve()
    assert Path(cfg.environment.data.archetypes) == archetypes
    assert cfg.recommender.name == "mf"


def test_overrides_are_typed_and_nested(tmp_path: Path) -> None:
    f = write(tmp_path / "s.yaml", "name: s\nrun: {steps: 3}\n")
    cfg = load_scenario(f, ["run.steps=7", "recommender.params.factors=8", "run.export=[csv, parquet]"])
    assert cfg.run.steps == 7
    assert cfg.recommender.params == {"factors": 8}
    assert cfg.run.export == ["csv", "parquet"]


def test_from_key_merges_file_with_inline_overrides(tmp_path: Path) -> None:
    write(tmp_path / "env" / "e.yaml", "page_size: 4\npages_per_session: 2\ndata: {source: synthetic, n_users: 50}\n")
    f = write(tmp_path / "s.yaml", "name: s\nenvironment: {from: env/e.yaml, page_size: 6}\n")
    cfg = load_scenario(f)
    assert cfg.environment.page_size == 6
    assert cfg.environment.pages_per_session == 2
    assert cfg.environment.data.n_users == 50


def test_relative_data_path_resolves_against_declaring_file(tmp_path: Path) -> None:
    write(tmp_path / "env" / "e.yaml", "data: {source: movielens, path: ../data/ml}\n")
    f = write(tmp_path / "s.yaml", "name: s\nenvironment: env/e.yaml\n")
    cfg = load_scenario(f)
    assert Path(cfg.environment.data.path) == (tmp_path / "data" / "ml").resolve()


def test_unknown_key_names_key_file_and_allowed(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", "name: s\nrun: {stepz: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_scenario(f)
    msg = str(err.value)
    assert "run.stepz" in msg and str(f) in msg and "steps" in msg and "output_dir" in msg


def test_unknown_key_inside_tagged_union(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", "name: s\nenvironment: {data: {source: movielens, varient: 1m}}\n")
    with pytest.raises(ConfigError) as err:
        load_scenario(f)
    msg = str(err.value)
    assert "environment.data.varient" in msg and "variant" in msg


def test_bad_literal_lists_allowed_values(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", "name: s\n")
    with pytest.raises(ConfigError) as err:
        load_scenario(f, ["environment.data.split.kind=sideways"])
    msg = str(err.value)
    assert "environment.data.split.kind" in msg and "'temporal'" in msg and "sideways" in msg


def test_mistyped_value(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.yaml", "name: s\nrun: {steps: many}\n")
    with pytest.raises(ConfigError, match="run.steps"):
        load_scenario(f)


def test_missing_file_and_missing_reference(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_scenario(tmp_path / "nope.yaml")
    f = write(tmp_path / "s.yaml", "name: s\nenvironment: env/missing.yaml\n")
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_scenario(f)


def test_invalid_yaml(tmp_path: Path) -> None:
    f = write(tmp_path / "s.yaml", "name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_scenario(f)


def test_parse_overrides_rejects_malformed() -> None:
    with pytest.raises(ConfigError):
        parse_overrides(["run.steps"])
    with pytest.raises(ConfigError):
        parse_overrides(["run..steps=3"])
    assert parse_overrides(["a.b=true", "a.c=1.5"]) == {"a": {"b": True, "c": 1.5}}


def test_deep_merge() -> None:
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": 4}) == {"a": {"b": 1, "c": 3}, "d": 4}


def test_every_shipped_scenario_validates() -> None:
    files = sorted((ROOT / "scenarios").glob("*.yaml"))
    assert files, "no scenarios shipped"
    for f in files:
        cfg = load_scenario(f)
        assert cfg.run.steps >= 1
