"""``agents.item_names: neutral``: no prompt, persona or memory names an item by its real title."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from simrec.agents.mind import Mind, build_store
from simrec.agents.persona import _short_title as short_title
from simrec.agents.persona import build_personas
from simrec.agents.policies.base import PageBatch, build_policy
from simrec.config.schema import MemoryConfig
from simrec.core.rng import child_rng
from simrec.llm.base import CallSettings
from simrec.llm.fake import ScriptedBackend
from simrec.world.build import build_world
from tests.helpers import ml100k_scenario, small_scenario


def _prompts_of_a_page(tmp_path: Path, names: str) -> tuple[list[str], object]:
    cfg = small_scenario(tmp_path, **{
        "policy.name": "llm", "policy.llm.llm_users": 6, "policy.llm.protocol": "scored",
        "policy.llm.reason_rate": 1.0, "policy.llm.review_rate": 1.0, "agents.item_names": names,
    })  # fmt: skip
    world = build_world(cfg)
    mem = MemoryConfig(store="memory", reflect_every=0)
    mind = Mind(mem, world, build_store(mem, None, "test"))
    llm = ScriptedBackend(
        CallSettings(model="scripted"), lambda call: "I liked it a lot.", scorer=lambda call: [0.7, 0.3] if call.choices == ("yes", "no") else [0.1, 0.1, 0.2, 0.3, 0.3]
    )  # fmt: skip
    policy = build_policy(cfg.policy, world, child_rng(0, "policy"), llm, mind, None)
    users = np.arange(6)
    items = np.tile(np.arange(5), (6, 1))
    for page in range(2):  # the second page's prompts recall the first page's memories
        policy.decide(PageBatch(1, page, users, items + 5 * page, np.zeros(6, np.float32), np.zeros(6, np.float32)))
    mind.store.flush()
    texts = [m["content"] for c in llm.calls for m in c.messages]
    return texts, world


def test_neutral_names_replace_titles_and_descriptions(tmp_path: Path) -> None:
    real = build_world(small_scenario(tmp_path / "real"))
    neutral = build_world(small_scenario(tmp_path / "neutral", **{"agents.item_names": "neutral"}))
    cat = neutral.catalog
    assert [str(t) for t in cat.titles] == [f"Item {i}" for i in real.catalog.item_ids]
    assert all(t == "" for t in cat.text)
    # the rest of the world is untouched: same taste, popularity, genres
    np.testing.assert_array_equal(cat.popularity, real.catalog.popularity)
    np.testing.assert_array_equal(cat.genres, real.catalog.genres)
    np.testing.assert_allclose(neutral.taste.user_factors, real.taste.user_factors)


def test_no_prompt_names_an_item_by_its_title(tmp_path: Path) -> None:
    texts, world = _prompts_of_a_page(tmp_path / "neutral", "neutral")
    real_titles = build_world(small_scenario(tmp_path / "r")).catalog.titles
    shown = " ".join(texts)
    assert re.search(r"Item \d+", shown)
    assert not any(str(t) in shown for t in real_titles[:10])
    real_texts, _ = _prompts_of_a_page(tmp_path / "real", "real")
    assert any(str(t) in " ".join(real_texts) for t in real_titles[:10])  # the check can fail


def test_personas_on_movielens_name_no_film(tmp_path: Path, ml100k_dir: Path) -> None:
    world = build_world(ml100k_scenario(tmp_path, ml100k_dir))
    users = np.arange(60)
    real = " ".join(p.text for p in build_personas(world, users))
    neutral = " ".join(p.text for p in build_personas(dataclasses.replace(world, catalog=world.catalog.neutral()), users))
    named = [t for t in (short_title(str(x)) for x in world.catalog.titles[:400]) if len(t) > 6 and t in real]
    assert named  # real personas do name films: the check below can fail
    assert not any(t in neutral for t in named)
    assert re.search(r"Item \d+", neutral)
