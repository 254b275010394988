"""``simrec tune`` for real (torch, peft, the default model): it learns, repeats, and runs use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from simrec.io.adapters import (
    ADAPTER_FILE,
    adapter_dir,
    adapter_key,
    read_meta,
    resolve_llm,
    resolve_weight,
)
from simrec.tune.train import tune
from simrec.tune.weight import GRID
from tests.helpers import small_scenario

# Small enough for CI on two cores (about a minute a tuning run), big enough to learn.
TUNE = {
    "tune.users": 40, "tune.per_user": 4, "tune.steps": 24, "tune.batch_size": 8, "tune.eval_every": 12,
    "tune.valid_share": 0.3, "tune.lr": 2e-3, "tune.budget_s": 900, "tune.threads": 2,
}  # fmt: skip


TINY = {**TUNE, "tune.users": 12, "tune.per_user": 2, "tune.steps": 3, "tune.eval_every": 3, "tune.stars": False}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("tune")
    cfg = small_scenario(base, **{**TUNE, "llm.cache_dir": str(base / "models")})
    first = tune(cfg)
    print("tuning:", first.as_dict())  # noqa: T201 - the figures, for whoever reads the log
    return cfg, first


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("tune-twice")
    cfg = small_scenario(base, **{**TINY, "llm.cache_dir": str(base / "models")})
    return tune(cfg, folder=base / "one"), tune(cfg, folder=base / "two")


def test_tuning_raises_the_validation_auc_over_the_untuned_model(tuned) -> None:
    _, first = tuned
    assert first.examples["valid"] > 20 and first.steps_done == 24 and not first.cut_by_budget
    untuned, best = first.valid_auc[0], first.valid_auc[first.best_step]
    assert first.best_step > 0 and best > untuned + 0.05, first.valid_auc


def test_same_seed_same_adapter(twice) -> None:
    first, second = twice
    a = (first.folder / ADAPTER_FILE).read_bytes()
    assert a == (second.folder / ADAPTER_FILE).read_bytes()
    assert first.valid_auc == second.valid_auc


def test_runs_of_the_scenario_find_the_adapter(tuned) -> None:
    cfg, first = tuned
    assert first.folder == adapter_dir(cfg)
    assert resolve_llm(cfg).adapter == str(first.folder / ADAPTER_FILE)
    other = cfg.model_copy(update={"tune": cfg.tune.model_copy(update={"rank": 4})})
    assert adapter_key(other) != adapter_key(cfg) and resolve_llm(other).adapter == "none"
    budget = cfg.model_copy(update={"tune": cfg.tune.model_copy(update={"budget_s": 5.0})})
    assert adapter_key(budget) == adapter_key(cfg)  # how long tuning may take is not what it learned


def test_tuning_chooses_llm_weight_on_validation_and_runs_use_it(tuned) -> None:
    cfg, first = tuned
    fits = read_meta(first.folder)["llm_weight"]
    for name in ("tuned", "untuned"):
        fit = fits[name]
        losses = {float(w): v for w, v in fit["log_loss"].items()}
        assert set(losses) == set(GRID) and fit["examples"] > 10 and fit["pages"] > 3
        assert losses[fit["weight"]] == min(losses.values())
    print("llm_weight:", fits)  # noqa: T201 - the figures, for whoever reads the log
    hybrid = cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"name": "hybrid"})})
    assert resolve_weight(hybrid).policy.llm.llm_weight == fits["tuned"]["weight"]
    untuned = hybrid.model_copy(update={"llm": hybrid.llm.model_copy(update={"adapter": "none"})})
    assert resolve_weight(untuned).policy.llm.llm_weight == fits["untuned"]["weight"]


def test_a_tuned_run_replays_identically(tuned, tmp_path: Path) -> None:
    import json

    import pandas as pd

    from simrec.env.runner import run_scenario
    from simrec.io.events import read_events
    from simrec.io.texts import read_texts

    cfg, first = tuned
    over = {"policy.name": "hybrid", "policy.llm.llm_users": 3, "run.steps": 2, "run.output_dir": str(tmp_path),
            "llm.cache.path": str(tmp_path / "cache.sqlite")}  # fmt: skip
    runs = []
    for name in ("a", "b"):
        c = small_scenario(tmp_path, **{**TUNE, **over, "llm.cache_dir": str(cfg.llm.cache_dir), "run.name": name})
        runs.append(run_scenario(c).run_dir)
    a, b = runs
    llm = json.loads((a / "manifest.json").read_text())["llm"]
    assert llm["adapter"] == str(first.folder / ADAPTER_FILE)
    assert llm["llm_weight"] == read_meta(first.folder)["llm_weight"]["tuned"]["weight"]
    assert json.loads((b / "manifest.json").read_text())["llm"]["calls"] == 0  # all from the replay cache
    pd.testing.assert_frame_equal(read_events(a).drop(columns="run"), read_events(b).drop(columns="run"))
    pd.testing.assert_frame_equal(read_texts(a), read_texts(b))
    assert (read_events(a)["policy"] == "llm").any()


def test_unknown_adapter_path_and_wrong_backend_are_config_errors(tmp_path: Path) -> None:
    from simrec.core.errors import ConfigError

    cfg = small_scenario(tmp_path, **{"llm.adapter": str(tmp_path / "nope.gguf")})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_llm(cfg)
    cfg = small_scenario(tmp_path, **{"llm.backend": "openai", "llm.adapter": "auto"})
    assert resolve_llm(cfg).adapter == "none"
    with pytest.raises(ConfigError, match="simrec tune teaches the embedded model"):
        tune(small_scenario(tmp_path, **{"llm.backend": "openai"}))
