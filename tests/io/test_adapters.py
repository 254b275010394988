"""Where tuned adapters live and which one a run uses (no tuning here: files are planted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simrec.core.errors import ConfigError
from simrec.io.adapters import ADAPTER_FILE, adapter_dir, adapter_key, adapters_root, resolve_llm
from tests.helpers import small_scenario


def _cfg(tmp_path: Path, **over):  # noqa: ANN202
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
    assert adapter_key(_cfg(tmp_path, **{"seed": 4})) != base
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
