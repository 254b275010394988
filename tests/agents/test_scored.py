"""The scored protocol with the scripted backend: combination, draws, stars, texts, fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrec.agents.mind import Mind, build_store
from simrec.agents.policies.base import DECISION_SOURCES, PageBatch, build_policy
from simrec.agents.policies.scored import combine, first_sentences, own_probability
from simrec.config.schema import MemoryConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.llm.base import CallSettings
from simrec.llm.fake import ScriptedBackend
from simrec.llm.types import PermanentLLMError
from simrec.world.build import build_world
from tests.helpers import small_scenario

LLM = DECISION_SOURCES.index("llm")
FALLBACK = DECISION_SOURCES.index("fallback")


def test_combine_weight_zero_is_the_prior_and_a_uniform_shift_changes_nothing() -> None:
    prior = np.array([0.1, 0.4, 0.7, 0.2])
    odds = np.array([2.0, -1.0, 0.5, 0.0])
    assert np.allclose(combine(prior, odds, 0.0), prior)
    assert np.allclose(combine(prior, odds, 1.0), combine(prior, odds + 5.0, 1.0))
    p = combine(prior, odds, 1.0)
    # the item the LLM likes best gains, the one it likes least loses
    assert p[0] > prior[0] and p[1] < prior[1]
    assert np.all(combine(prior, odds, 3.0)[[0]] > p[[0]])


def test_watch_temperature_sharpens_the_models_probabilities_and_zero_is_greedy() -> None:
    odds = np.array([2.0, -1.0, 0.0, 0.3])
    assert np.allclose(own_probability(odds, 1.0), 1 / (1 + np.exp(-odds)))
    half = own_probability(odds, 0.5)
    assert np.allclose(half, 1 / (1 + np.exp(-2 * odds)))
    assert half[0] > own_probability(odds, 1.0)[0] and half[1] < own_probability(odds, 1.0)[1]
    assert own_probability(odds, 0.0).tolist() == [1.0, 0.0, 0.5, 1.0]


def _mild(call):  # noqa: ANN001, ANN202
    """Mildly for Action (p(yes) 0.6), mildly against the rest (0.4); four stars."""
    if call.choices == ("yes", "no"):
        return [0.6, 0.4] if "Action" in call.messages[-1]["content"] else [0.4, 0.6]
    return [1e-7, 1e-7, 1e-7, 1.0, 1e-7]


def test_llm_mode_draws_from_the_tempered_probabilities(tmp_path: Path) -> None:
    users = np.arange(10)
    shares = {}
    for t in (1.0, 0.0):
        world, _, policy = _policy(tmp_path / str(t), "llm", scorer=_mild, **{"policy.llm.watch_temperature": t})
        clicks = policy.decide(_page(world, users)).clicks
        shares[t] = clicks[:, :2].mean(), clicks[:, 2:].mean()
    # drawn at 0.6 / 0.4: some of each; greedy: every Action item, nothing else
    assert 0.2 < shares[1.0][0] < 1.0 and 0.0 < shares[1.0][1] < 0.8
    assert shares[0.0] == (1.0, 0.0)


def test_first_sentences_cut_what_the_token_cap_left_dangling() -> None:
    assert first_sentences("Great twist. I loved it! And then the", 1) == "Great twist."
    assert first_sentences('"Loved the cast. Would watch again. More', 2) == "Loved the cast. Would watch again."
    assert first_sentences("no stop at all", 1) == "no stop at all"


def _scorer(call):  # noqa: ANN001, ANN202
    """Yes for items whose question names the first genre (Action), no otherwise; four stars; no shares."""
    q = call.messages[-1]["content"]
    if call.choices == ("yes", "no"):
        if q.startswith("Would you tell"):
            return [1e-7, 1.0]
        return [1.0, 1e-7] if "Action" in q else [1e-7, 1.0]
    return [1e-7, 1e-7, 1e-7, 1.0, 1e-7]


def _texts(call):  # noqa: ANN001, ANN202
    q = call.messages[-1]["content"]
    if "say why" in q:
        return "The story kept me guessing until the end. Then it"
    return "}, Reply in JSON: positions you watch"  # junk: the guard drops it


def _policy(tmp_path: Path, mode: str, scorer=_scorer, **over):  # noqa: ANN001, ANN202
    cfg = small_scenario(tmp_path, **{"policy.name": mode, "policy.llm.llm_users": 10,
                                       "policy.llm.protocol": "scored", "policy.llm.review_rate": 1.0,
                                       "policy.llm.reason_rate": 1.0, **over})  # fmt: skip
    world = build_world(cfg)
    mem = MemoryConfig(store="memory", reflect_every=0)
    mind = Mind(mem, world, build_store(mem, None, "test"))
    llm = ScriptedBackend(CallSettings(model="scripted"), _texts, scorer=scorer)
    return world, llm, build_policy(cfg.policy, world, child_rng(0, "policy"), llm, mind, None)


def _page(world, users: np.ndarray) -> PageBatch:  # noqa: ANN001
    g0 = np.nonzero(world.catalog.genres[:, 0])[0][:2]
    other = np.nonzero(~world.catalog.genres[:, 0])[0][:3]
    items = np.tile(np.concatenate([g0, other]), (len(users), 1))
    n = len(users)
    return PageBatch(1, 0, users, items, np.zeros(n, np.float32), np.zeros(n, np.float32))


def test_llm_mode_watches_what_the_model_says_yes_to_with_its_stars(tmp_path: Path) -> None:
    world, llm, policy = _policy(tmp_path, "llm")
    assert world.catalog.genre_names[0] == "Action"
    users = np.arange(8)
    batch = _page(world, users)
    dec = policy.decide(batch).validate(batch)
    assert (dec.sources() == LLM).all()
    assert dec.clicks[:, :2].all() and not dec.clicks[:, 2:].any()
    assert (dec.ratings[:, :2] == 4).all()
    assert policy.stats["llm_decisions"] == 8 and policy.stats["llm_fallbacks"] == 0
    # every call of a page was a scoring call, but the reasons and reviews
    scored = [c for c in llm.calls if c.choices is not None]
    assert len(scored) == 8 * 5 + 8 * 2  # five watch questions and two stars questions a user


def test_texts_pass_the_guard_or_are_dropped_and_counted(tmp_path: Path) -> None:
    world, llm, policy = _policy(tmp_path, "llm")
    users = np.arange(4)
    policy.decide(_page(world, users))
    out = policy.end_step(1)
    reasons = [t for t in out.texts if t.kind == "reason"]
    assert len(reasons) == 8 and all(t.text == "The story kept me guessing until the end." for t in reasons)
    assert all(t.stars == 4 for t in reasons)
    assert not [t for t in out.texts if t.kind == "review"]  # junk reviews never stored
    assert policy.counters()["texts_dropped"] == 4
    assert policy.mind.guard.dropped["markup"] == 4


def test_hybrid_moves_probability_towards_what_the_model_likes(tmp_path: Path) -> None:
    world, llm, policy = _policy(tmp_path, "hybrid", **{"policy.llm.llm_users": 200, "policy.llm.llm_weight": 2.0})
    users = np.nonzero(policy.llm_mask)[0]
    batch = _page(world, users)
    dec = policy.decide(batch)
    liked, other = dec.clicks[:, :2].mean(), dec.clicks[:, 2:].mean()
    _, _, base = _policy(tmp_path, "hybrid", **{"policy.llm.llm_users": 200, "policy.llm.llm_weight": 0.0})
    dec0 = base.decide(batch)
    assert liked - other > dec0.clicks[:, :2].mean() - dec0.clicks[:, 2:].mean() + 0.1
    # hybrid users keep the choice model's stars (the scorer would say 4 to everything)
    assert set(np.unique(dec.ratings[dec.clicks]).tolist()) != {4}


def test_same_seed_same_decisions(tmp_path: Path) -> None:
    a = _policy(tmp_path, "llm")
    b = _policy(tmp_path, "llm")
    batch = _page(a[0], np.arange(6))
    da, db = a[2].decide(batch), b[2].decide(batch)
    assert (da.clicks == db.clicks).all() and (da.ratings == db.ratings).all()


def test_a_failed_score_falls_back_to_the_choice_model(tmp_path: Path) -> None:
    def broken(call):  # noqa: ANN001, ANN202
        raise PermanentLLMError("model gone")

    world, llm, policy = _policy(tmp_path, "llm", scorer=broken)
    batch = _page(world, np.arange(3))
    dec = policy.decide(batch).validate(batch)
    assert (dec.sources() == FALLBACK).all() and policy.stats["llm_fallbacks"] == 3


def test_protocol_auto_follows_the_backend_and_scored_needs_a_scoring_backend(tmp_path: Path) -> None:
    world, llm, policy = _policy(tmp_path, "llm", **{"policy.llm.protocol": "auto"})
    assert policy.protocol == "json"  # the scripted backend defaults to the JSON page decision

    class NoScores(ScriptedBackend):
        can_score = False

    cfg = small_scenario(tmp_path, **{"policy.name": "llm", "policy.llm.protocol": "scored"})
    mem = MemoryConfig(store="memory", reflect_every=0)
    mind = Mind(mem, world, build_store(mem, None, "t"))
    with pytest.raises(ConfigError, match="cannot score"):
        build_policy(cfg.policy, world, child_rng(0, "policy"), NoScores(), mind, None)
