"""The text guard: the junk the embedded model wrote is dropped and counted, human text passes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simrec.agents.guard import TextGuard
from simrec.agents.mind import Mind, build_store
from simrec.agents.policies.base import build_policy
from simrec.config.schema import MemoryConfig
from simrec.core.rng import child_rng
from simrec.llm.base import CallSettings
from simrec.llm.fake import ScriptedBackend
from simrec.world.build import build_world
from tests.agents.test_llm_policy import page
from tests.helpers import small_scenario

PROMPT = (
    "You are an explorer. You love Sci-Fi and Drama; you dislike Horror. Reply in JSON: positions you "
    "watch, 1-5 stars and a short reason each, whether you leave, optional review, share and message to "
    "friends. Answer the interviewer's question as yourself."
)

#: What the quickstart's agents wrote on the embedded base model (issue 13), and why each must go.
JUNK = [
    ("review", "}} Reply in JSON: positions you watch, 1-5 stars and a short reason each, whether you "
               "leave, optional review, share and message to friends. You are an explorer. You love "
               "Sci-Fi and Drama; you dislike…", "markup"),
    ("review", "}, Next " + "Loading... " * 17 + "<div", "markup"),
    ("review", "Next Loading... Loading... Loading... Loading... Loading...", "repetition"),
    ("share", "I was the one who made it happen. I'm a good guy. I've got a lot of people that'", "unfinished"),
    ("reflection", "I", "too_short"),
    ("answer", "You love Sci-Fi and Drama; you dislike Horror. Answer the interviewer's question as "
               "yourself.การณ์user", "prompt_copy"),
    ("answer", "Sure. Reply in JSON: positions you watch, 1-5 stars and a short reason each", "markup"),
    ("review", "You are an explorer. You love Sci-Fi and Drama; you dislike Horror", "prompt_copy"),
    ("share", "shared with friends", "empty"),
    ("reason", "   ...  ", "empty"),
    ("reason", "N/A", "empty"),
    ("review", "<start_of_turn>model A fine film", "markup"),
    ("review", "assistant: I liked it a lot", "markup"),
    ("review", '{"watch": [1, 2], "leave": false}', "markup"),
    ("reflection", "I enjoy films that are tense,", "unfinished"),
    # found by the 10,000-reply fuzz: bytes, not words (a NUL, shift-out, a C1 control, an unassigned code point)
    ("reflection", "I\u00a5\u00bc\U0004f8d6~\x0ed:\u00c2r\u00cb\x00\u00cf\x8dP", "garbled"),
    ("review", "A good film \udcd7 all the same.", "garbled"),
]

HUMAN = [
    ("reason", "tense and clever"),
    ("reason", "great fun"),
    ("reason", "too slow"),
    ("review", "A tense, clever thriller; I'd watch it again."),
    ("review", "A gripping page of picks."),
    ("share", "Watch this one tonight"),
    ("reflection", "I keep picking slow dramas over action, and I like it that way."),
    ("answer", "The tense ones stayed with me; the slow drama lost me halfway."),
    ("review", "Loved it, it was very very very good"),
    ("review", 'My friend called it "a masterpiece" and she was right.'),
    ("review", "Très bien — j’ai adoré ce film, vraiment ! 🎬"),
]


@pytest.mark.parametrize(("kind", "text", "why"), JUNK)
def test_junk_from_the_embedded_model_is_dropped_for_its_reason(kind: str, text: str, why: str) -> None:
    guard = TextGuard()
    assert guard.problem(text, kind, PROMPT) == why
    assert not guard.check(text, kind, PROMPT)
    assert guard.dropped == {why: 1} and guard.total_dropped == 1 and guard.passed == 0


@pytest.mark.parametrize(("kind", "text"), HUMAN)
def test_text_that_reads_like_a_person_passes(kind: str, text: str) -> None:
    guard = TextGuard()
    assert guard.problem(text, kind, PROMPT) is None
    assert guard.check(text, kind, [PROMPT]) and guard.passed == 1 and guard.total_dropped == 0


def test_a_bare_title_fails_when_the_guard_knows_the_catalog() -> None:
    guard = TextGuard(titles=["The Quiet Signal 2", "Heat (1995)"])
    assert guard.problem("The Quiet Signal 2", "review") == "title_only"
    assert guard.problem("heat 1995.", "reflection") == "title_only"
    assert guard.problem("The Quiet Signal 2 kept me up all night", "review") is None
    assert TextGuard().problem("The Quiet Signal 2", "review") is None


def test_a_copy_shorter_than_the_threshold_passes_and_the_threshold_is_checked() -> None:
    seven = "whether you leave, optional review, share and"  # 7 words of the prompt
    assert TextGuard().problem(seven, "review", PROMPT) is None
    assert TextGuard(copy_words=5).problem(seven, "review", PROMPT) == "prompt_copy"
    with pytest.raises(ValueError, match="copy_words"):
        TextGuard(copy_words=2)


JUNK_REPLY = json.dumps(
    {"watch": [1], "ratings": [{"position": 1, "stars": 4, "reason": "}} Reply in JSON: positions"}],
     "leave": False, "review": "}, Next Loading... Loading... <div", "share": 1, "message": "shared with friends"}
)  # fmt: skip
JUNK_REFLECT = json.dumps({"insights": ["I", "I like tense films more than slow ones."]})


def test_a_policy_drops_junk_keeps_the_decision_and_never_remembers_it(tmp_path: Path) -> None:
    cfg = small_scenario(tmp_path, **{"policy.name": "llm"})
    world = build_world(cfg)
    mem = MemoryConfig(store="memory", reflect_every=2)
    mind = Mind(mem, world, build_store(mem, None, "guard"))

    def script(call):  # noqa: ANN001, ANN202
        return JUNK_REFLECT if call.schema_name == "Reflection" else JUNK_REPLY

    llm = ScriptedBackend(CallSettings(model="scripted"), script)
    policy = build_policy(cfg.policy, world, child_rng(0, "policy"), llm, mind)
    users = np.array([0, 1])
    dec = policy.decide(page(world, policy, users))
    out = policy.end_step(1)
    # the decisions stand: position 1 watched with 4 stars, shared
    assert dec.clicks[:, 0].all() and (dec.ratings[:, 0] == 4).all() and dec.shares[:, 0].all()
    assert out.texts == () and out.share_messages == {}  # reason, review and message all dropped
    assert policy.counters()["texts_dropped"] == 6
    assert mind.guard.dropped == {"markup": 4, "empty": 2}
    reflections = mind.end_step(1, llm)
    assert [r.text for r in reflections] == ["I like tense films more than slow ones."] * 2
    assert mind.guard.dropped["too_short"] == 2
    remembered = [m.text for u in users.tolist() for m in mind.store.all(u)]
    assert remembered and not any("Reply in JSON" in t or "Loading" in t or t == "I" for t in remembered)
