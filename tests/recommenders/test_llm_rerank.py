"""The LLM reranker: a base recommender's candidates reordered by the LLM layer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simrec.core.errors import ConfigError
from simrec.data.types import Interactions
from simrec.env.runner import run_scenario
from simrec.io.events import read_events
from simrec.llm.base import CallSettings
from simrec.llm.fake import ScriptedBackend
from simrec.recommenders.base import build_recommender
from simrec.world.build import build_world
from tests.helpers import ml100k_scenario, small_scenario


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return build_world(small_scenario(tmp_path_factory.mktemp("rerank")))


def fitted(world, script, **params):  # noqa: ANN001, ANN201
    llm = ScriptedBackend(CallSettings(model="scripted"), script)
    rec = build_recommender("llm_rerank", {"base": "most_popular", "candidates": 4, **params},
                            np.random.default_rng(0), llm)  # fmt: skip
    rec.fit(world.train, world.catalog, n_users=world.population.n_users)
    base = build_recommender("most_popular", {}, np.random.default_rng(0))
    base.fit(world.train, world.catalog, n_users=world.population.n_users)
    return rec, base, llm


def test_the_llm_order_replaces_the_candidate_window(world) -> None:
    rec, base, llm = fitted(world, [json.dumps({"order": [3, 1]})] * 10)
    users = np.arange(5)
    got, ref = rec.recommend(users, 6), base.recommend(users, 6)
    # candidates 3 and 1 first, the ones left out (2, 4) after them in base order; the rest untouched
    np.testing.assert_array_equal(got[:, :4], ref[:, [2, 0, 1, 3]])
    np.testing.assert_array_equal(got[:, 4:], ref[:, 4:])
    assert rec.stats == {"reranked": 5, "fallbacks": 0, "skipped": 0} and len(llm.calls) == 5


def test_failed_replies_keep_the_base_order_and_are_counted(world) -> None:
    rec, base, _ = fitted(world, ["not json"] * 40)
    users = np.arange(3)
    np.testing.assert_array_equal(rec.recommend(users, 5), base.recommend(users, 5))
    assert rec.stats["fallbacks"] == 3 and rec.stats["reranked"] == 0


def test_prompt_holds_logged_history_and_candidates_not_the_hidden_persona(world) -> None:
    rec, base, llm = fitted(world, [json.dumps({"order": [1]})])
    user = int(world.train.user[0])
    rec.recommend(np.array([user]), 4)
    text = "\n".join(m["content"] for m in llm.calls[-1].messages)
    mine = world.train.item[world.train.user == user]
    assert any(str(world.catalog.titles[i]) in text for i in mine)
    for i in base.recommend(np.array([user]), 4)[0]:
        assert str(world.catalog.titles[i]) in text
    assert "<<DATA>>" in text and "persona" not in text.lower()
    # newly observed events join the history
    new_item = int(base.recommend(np.array([user]), 1)[0, 0])
    rec.update(Interactions.from_arrays(np.array([user]), np.array([new_item]), np.array([5.0]), np.array([2**40])))
    rec.recommend(np.array([user]), 4)
    assert f"{world.catalog.titles[new_item]} (5/5)" in llm.calls[-1].messages[-1]["content"]


def test_max_users_caps_the_calls(world) -> None:
    rec, _, llm = fitted(world, [json.dumps({"order": [2]})] * 10, max_users=2)
    rec.recommend(np.arange(6), 4)
    assert len(llm.calls) == 2 and rec.stats["skipped"] == 4


def test_needs_a_backend_and_sane_params() -> None:
    with pytest.raises(ConfigError, match="LLM backend"):
        build_recommender("llm_rerank", {}, np.random.default_rng(0))
    llm = ScriptedBackend(CallSettings(model="scripted"))
    with pytest.raises(ConfigError):
        build_recommender("llm_rerank", {"candidates": 50}, np.random.default_rng(0), llm)


def test_reranker_in_a_run_with_the_fake_backend(tmp_path: Path) -> None:
    cfg = small_scenario(
        tmp_path,
        **{"recommender.name": "llm_rerank", "recommender.params": "{base: mf, candidates: 5, max_users: 20}",
           "llm.backend": "fake", "llm.chat_kwargs": json.dumps({"replies": [json.dumps({"order": [5, 4]})]})},
    )  # fmt: skip
    result = run_scenario(cfg)
    assert result.metrics["llm_calls"].sum() > 0
    assert (read_events(result.run_dir)["event"] == "impression").sum() > 0


def test_reranker_on_the_embedded_model(tmp_path: Path, ml100k_dir: Path) -> None:
    # the real in-process model (Gemma 3 270M): replies are grammar-constrained to the schema
    cfg = ml100k_scenario(
        tmp_path, ml100k_dir,
        **{"environment.data.max_users": 3, "environment.social.builder": "none", "environment.page_size": 5,
           "environment.pages_per_session": 1, "agents.traits.activity_range": "[1.0, 1.0]", "run.steps": 1,
           "recommender.name": "llm_rerank", "recommender.params": "{base: mf, candidates: 5}",
           "llm.max_tokens": 60},
    )  # fmt: skip
    result = run_scenario(cfg)
    m = result.metrics.iloc[0]
    assert m["llm_calls"] >= 3
    ev = read_events(result.run_dir)
    pages = ev[ev["event"] == "impression"].groupby("session")["item"].apply(list)
    assert len(pages) == 3 and all(len(set(p)) == 5 for p in pages)
