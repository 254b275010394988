"""Where tuned adapters live and which one a run uses (no tuning here: files are planted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simrec.core.errors import ConfigError
from simrec.io.adapters import ADAPTER_FILE, adapter_dir, adapter_key, adapters_root, resolve_llm
from tests.helpers import small_scenario


def _cfg(tmp_path: Path, **over):
    return small_scenario(tmp_path, **{"llm.cache_dir": str(tmp_path / "models"), **over})


def test_auto_takes_the_adapter_made_for_the_scenario_else_the_untuned_model(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    assert resolve_llm(cfg).adapter == "none"
    folder = adapter_dir(cfg)
    assert folder.parent == adapters_root(cfg.llm) == tmp_path / "adapters"
    folder.mkdir(parents=True)
    (folder / ADAPTER_FILE).write_bytes(b"GGUF")
    assert resolve_llm(cfg).adapter == str(folder / ADAPTER_FILE)
    assert resolve_llm(_cfg(tmp_path, **{"llm.adapter": "none"})).adapter == "none"


def test_the_key_follows_what_the_adapter_learned_from(tmp_path: Path) -> None:
    base = adapter_key(_cfg(tmp_path))
    assert adapter_key(_cfg(tmp_path)) == base
    assert adapter_key(_cfg(tmp_path, **{"tune.steps": 7})) != base
    assert adapter_key(_cfg(tmp_path, seed=4)) != base
    assert adapter_key(_cfg(tmp_path, **{"environment.data.n_users": 201})) != base
    assert adapter_key(_cfg(tmp_path, **{"llm.model": "gemma3-270m"})) != base
    assert adapter_key(_cfg(tmp_path, **{"tune.budget_s": 5, "tune.threads": 1})) == base
    assert adapter_key(_cfg(tmp_path, **{"run.steps": 9, "policy.name": "llm"})) == base


def test_a_data_file_s_bytes_are_part_of_the_key(tmp_path: Path) -> None:
    data = tmp_path / "inter.csv"
    data.write_text("user_id,item_id,rating\n1,1,5\n1,2,3\n2,1,4\n")
    from simrec.config import load_scenario

    one = load_scenario(data={"name": "f", "environment": {"data": {"source": "file", "path": str(data)}}})
    first = adapter_key(one)
    data.write_text("user_id,item_id,rating\n1,1,5\n1,2,3\n2,1,1\n")
    assert adapter_key(one) != first


def test_a_missing_path_or_a_backend_without_adapters_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_llm(_cfg(tmp_path, **{"llm.adapter": str(tmp_path / "nope.gguf")}))
    planted = tmp_path / "a.gguf"
    planted.write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match="only the llamacpp backend"):
        resolve_llm(_cfg(tmp_path, **{"llm.backend": "openai", "llm.adapter": str(planted)}))
    assert resolve_llm(_cfg(tmp_path, **{"llm.backend": "openai"})).adapter == "none"


def test_the_key_follows_the_tuned_questions_wording_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from simrec.core.resources import resource_path
    from simrec.io import adapters

    shipped = max(resource_path("agents", "prompts").glob("scored.v*.yaml"))
    folder = tmp_path / "prompts"
    folder.mkdir()
    raw = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    monkeypatch.setattr(adapters, "resource_path", lambda *parts: folder)

    def key_with(**changes: str) -> str:
        (folder / shipped.name).write_text(yaml.safe_dump({**raw, **changes}), encoding="utf-8")
        return adapter_key(_cfg(tmp_path))

    base = key_with()
    assert key_with(interview="Say something: $asked") == base
    assert key_with(reason="Why did you like $title?") == base
    assert key_with(watch="Watch $title ($genres)? yes or no.") != base
    assert key_with(stars="Stars for $title?") != base


def test_auto_llm_weight_is_the_one_tuning_chose_for_the_model_in_use(tmp_path: Path) -> None:
    import json

    from simrec.io.adapters import DEFAULT_LLM_WEIGHT, META_FILE, resolve_weight

    cfg = _cfg(tmp_path, **{"policy.name": "hybrid"})
    assert resolve_weight(cfg).policy.llm.llm_weight == DEFAULT_LLM_WEIGHT  # no tuning ran
    folder = adapter_dir(cfg)
    folder.mkdir(parents=True)
    fits = {"tuned": {"weight": 2.0}, "untuned": {"weight": 0.25}}
    (folder / META_FILE).write_text(json.dumps({"llm_weight": fits}))
    assert resolve_weight(cfg).policy.llm.llm_weight == 0.25  # no adapter file: the untuned model
    (folder / ADAPTER_FILE).write_bytes(b"GGUF")
    assert resolve_weight(cfg).policy.llm.llm_weight == 2.0
    assert resolve_weight(_cfg(tmp_path, **{"policy.name": "hybrid", "llm.adapter": "none"})).policy.llm.llm_weight == 0.25
    assert resolve_weight(_cfg(tmp_path, **{"policy.llm.llm_weight": 3})).policy.llm.llm_weight == 3
    assert resolve_weight(_cfg(tmp_path, **{"llm.backend": "openai"})).policy.llm.llm_weight == DEFAULT_LLM_WEIGHT
