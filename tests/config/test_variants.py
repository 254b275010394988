"""Scenario variants: merged, validated at load time, run into the parent's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simrec.config import load_scenario
from simrec.config.variants import variant_configs
from simrec.core.errors import ConfigError


def scenario(tmp_path: Path, variants: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "cmp",
        "seed": 7,
        "environment": {
            "data": {"source": "synthetic", "n_users": 50, "n_items": 80},
            "page_size": 6,
            "social": {
                "builder": "watts_strogatz",
                "k": 4,
                "dynamics": {"share_rate": 0.1, "follow_rate": 0.05, "unfollow_after": 4},
            },
        },
        "recommender": {"name": "most_popular", "params": {"alpha": 1}},
        "run": {"steps": 3, "output_dir": str(tmp_path), "name": "parent-run", "export": []},
        "variants": variants,
    }
    data.update(extra)
    return data


AB = {"a": {"recommender": {"name": "random"}}, "b": {"recommender": {"name": "mf"}}}


def test_variants_load_and_merge(tmp_path: Path) -> None:
    cfg = load_scenario(data=scenario(tmp_path, AB))
    assert list(cfg.variants) == ["a", "b"]
    configs = variant_configs(cfg)
    assert list(configs) == ["a", "b"]
    parent = tmp_path / "parent-run"
    for name, child in configs.items():
        assert child.run.output_dir == parent
        assert child.run.name == name and child.run_name == name
        assert child.run.overwrite is False
        assert child.variants == {}
        # untouched keys come from the scenario
        assert child.name == "cmp" and child.seed == 7 and child.run.steps == 3
        assert child.environment.page_size == 6 and child.environment.data.n_users == 50
        assert child.environment.social.builder == "watts_strogatz"
    assert configs["a"].recommender.name == "random"
    assert configs["b"].recommender.name == "mf"
    # a nested mapping merges: the variant changed only recommender.name, params stay
    assert configs["a"].recommender.params == {"alpha": 1}
    assert configs["b"].recommender.params == {"alpha": 1}
    # the scenario itself is not changed
    assert cfg.recommender.name == "most_popular" and cfg.run.name == "parent-run"


def test_explicit_parent_folder(tmp_path: Path) -> None:
    cfg = load_scenario(data=scenario(tmp_path, AB))
    configs = variant_configs(cfg, tmp_path / "elsewhere")
    assert {c.run.output_dir for c in configs.values()} == {tmp_path / "elsewhere"}


def test_deep_change_keeps_sibling_keys(tmp_path: Path) -> None:
    variants = {
        "calm": {},
        "chatty": {"environment": {"social": {"dynamics": {"share_rate": 0.7}}}},
    }
    cfg = load_scenario(data=scenario(tmp_path, variants))
    configs = variant_configs(cfg)
    chatty, calm = configs["chatty"].environment.social, configs["calm"].environment.social
    assert chatty.dynamics.share_rate == 0.7
    assert calm.dynamics.share_rate == 0.1
    # the other social keys, at every level, survive the merge
    assert chatty.builder == "watts_strogatz" and chatty.k == 4
    assert chatty.dynamics.follow_rate == 0.05 and chatty.dynamics.unfollow_after == 4
    assert configs["chatty"].environment.page_size == 6


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"recommender": {"retrain_every": -1}}, "recommender.retrain_every"),
        ({"recommender": {"nmae": "mf"}}, "recommender.nmae"),
        (
            {"environment": {"social": {"dynamics": {"share_rate": 2}}}},
            "environment.social.dynamics.share_rate",
        ),
    ],
)
def test_invalid_variant_fails_at_load_naming_it(
    tmp_path: Path, changes: dict[str, Any], key: str
) -> None:
    data = scenario(tmp_path, {"fine": {"recommender": {"name": "random"}}, "broken": changes})
    with pytest.raises(ConfigError) as err:
        load_scenario(data=data)
    msg = str(err.value)
    assert "variant 'broken'" in msg and key in msg
    assert "'fine'" not in msg
    assert not (tmp_path / "parent-run").exists()  # nothing ran or was written


def test_variant_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_scenario(data=scenario(tmp_path, {"a": "random"}))


@pytest.mark.parametrize("name", ["a/b", "a\\b", "c:d", ".hidden", ""])
def test_bad_variant_name_is_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_scenario(data=scenario(tmp_path, {name: {"recommender": {"name": "random"}}}))
    assert "plain folder name" in str(err.value)


def test_plain_variant_names_are_accepted(tmp_path: Path) -> None:
    names = ["mf-32", "random_1", "A.b"]
    cfg = load_scenario(data=scenario(tmp_path, {n: {} for n in names}))
    assert list(variant_configs(cfg)) == names


def test_api_key_survives_into_variants(tmp_path: Path) -> None:
    data = scenario(tmp_path, AB, llm={"backend": "openai", "api_key": "sk-test-123"})
    cfg = load_scenario(data=data)
    for child in variant_configs(cfg).values():
        assert child.llm.api_key is not None
        assert child.llm.api_key.get_secret_value() == "sk-test-123"
        assert child.llm.backend == "openai"
        assert "sk-test-123" not in str(child.model_dump(mode="json"))


def test_api_key_from_environment_survives_into_variants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMREC_TEST_KEY", "sk-env-456")
    data = scenario(tmp_path, AB, llm={"backend": "openai", "api_key_env": "SIMREC_TEST_KEY"})
    cfg = load_scenario(data=data)
    for child in variant_configs(cfg).values():
        assert child.llm.api_key is not None
        assert child.llm.api_key.get_secret_value() == "sk-env-456"
