"""Scoring calls on the real embedded model: next-word probabilities, batched, reused prefixes, adapters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simrec.llm.base import CallSettings
from simrec.llm.cache import ReplayCache
from simrec.llm.bundled import smollm2_format
from simrec.llm.llamacpp import LlamaCppBackend
from simrec.llm.types import LLMRequest, LLMUnavailable

SYSTEM = (
    "You are a person using a movie app. You are a 30-year-old nurse. You love Sci-Fi and Thriller; "
    "you dislike Romance."
)
FILMS = ["Alien (Sci-Fi, Horror)", "Titanic (Romance, Drama)", "Heat (Thriller, Crime)", "Up (Animation)"]


def ask(film: str, system: str = SYSTEM, choices: tuple[str, ...] = ("yes", "no")) -> LLMRequest:
    return LLMRequest.chat(system, f"Would you watch {film}? Answer yes or no.", choices=choices)


def settings(**kw) -> CallSettings:
    return CallSettings(**{"model": "llamacpp", "seed": 3, "timeout_s": 120.0, "max_tokens": 16, **kw})


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    be = LlamaCppBackend(settings(), n_ctx=1024)
    be.health_check()
    yield be
    be.close()


def test_scores_are_log_probabilities_over_the_choices(backend: LlamaCppBackend) -> None:
    yes_no = backend.generate([ask(f) for f in FILMS])
    stars = backend.generate([ask(FILMS[0], choices=("1", "2", "3", "4", "5"))])[0]
    for r in [*yes_no, stars]:
        assert r.status == "ok" and r.scores is not None
        assert math.isclose(sum(math.exp(s) for s in r.scores), 1.0, rel_tol=1e-4)
    assert len(stars.scores) == 5
    assert len({round(r.scores[0], 4) for r in yes_no}) > 1  # the items differ
    assert backend.usage.counters["invalid"] == 0


def test_a_prefix_is_evaluated_once_for_every_question_that_shares_it(backend: LlamaCppBackend) -> None:
    system = SYSTEM + " You watch at night."
    before = backend.prompt_tokens_evaluated
    [one] = backend.generate([ask(FILMS[0], system)])
    first = backend.prompt_tokens_evaluated - before
    before = backend.prompt_tokens_evaluated
    backend.generate([ask(f, system) for f in FILMS[1:]])
    rest = backend.prompt_tokens_evaluated - before
    assert first > one.prompt_tokens * 0.9  # the first question evaluated its prefix
    assert rest < 3 * (first - 20)  # the next three only their own tokens


def test_same_question_same_scores_whatever_came_before(backend: LlamaCppBackend) -> None:
    [a] = backend.generate([ask(FILMS[2])])
    backend.generate([ask(FILMS[1], "You hate everything."), LLMRequest.chat("Say hi.", "Hi")][:1])
    backend.generate([LLMRequest.chat(SYSTEM, "Say hello in three words.", max_tokens=8)])
    [b] = backend.generate([ask(FILMS[2])])
    assert a.scores == b.scores


def test_batched_and_one_at_a_time_scores_agree(backend: LlamaCppBackend) -> None:
    batched = backend.generate([ask(f) for f in FILMS])
    backend.batch_scores = False
    try:
        single = backend.generate([ask(f) for f in FILMS])
    finally:
        backend.batch_scores = True
    a = np.array([r.scores for r in batched])
    b = np.array([r.scores for r in single])
    assert np.abs(a - b).max() < 0.05


def test_scores_replay_from_the_cache(tmp_path: Path) -> None:
    be = LlamaCppBackend(settings(), n_ctx=1024, cache=ReplayCache(tmp_path / "c.sqlite"))
    first = be.generate([ask(f) for f in FILMS])
    again = be.generate([ask(f) for f in FILMS])
    assert [r.scores for r in first] == [r.scores for r in again]
    assert all(r.cached for r in again) and not any(r.cached for r in first)
    be.close()


def test_gemma_scores_too() -> None:
    be = LlamaCppBackend(settings(), "gemma3-270m", n_ctx=1024)
    [r] = be.generate([ask(FILMS[0])])
    assert r.status == "ok" and r.scores is not None and be.cache_model() == "gemma3-270m"
    be.close()


def _random_adapter(path: Path, arch: str = "llama", scale: float = 0.5) -> Path:
    import torch

    from simrec.llm.lora_gguf import write_lora_gguf

    g = torch.Generator().manual_seed(0)
    lora = {}
    for i in range(4):
        for mod, out in (("q_proj", 576), ("v_proj", 192)):
            key = f"base_model.model.model.layers.{i}.self_attn.{mod}"
            lora[f"{key}.lora_A.weight"] = torch.randn(4, 576, generator=g) * 0.05
            lora[f"{key}.lora_B.weight"] = torch.randn(out, 4, generator=g) * scale
    return write_lora_gguf(lora, path, arch=arch, n_head=9, n_head_kv=3, alpha=8.0)


def test_an_adapter_changes_the_scores_and_the_cache_key(tmp_path: Path, backend: LlamaCppBackend) -> None:
    adapter = _random_adapter(tmp_path / "a.gguf")
    tuned = LlamaCppBackend(settings(), n_ctx=1024, adapter=adapter)
    tuned.health_check()
    base = backend.generate([ask(f) for f in FILMS])
    moved = tuned.generate([ask(f) for f in FILMS])
    assert max(abs(a.scores[0] - b.scores[0]) for a, b in zip(base, moved, strict=True)) > 0.01
    fmt = smollm2_format()
    assert tuned.cache_model().startswith(f"smollm2-135m:{fmt}+lora:") and backend.cache_model() == f"smollm2-135m:{fmt}"
    tuned.close()


def test_an_adapter_for_another_model_fails_the_health_check(tmp_path: Path) -> None:
    adapter = _random_adapter(tmp_path / "gemma.gguf", arch="gemma3")
    with pytest.raises(LLMUnavailable, match="refused the LoRA adapter"):
        LlamaCppBackend(settings(), n_ctx=512, adapter=adapter).health_check()
    with pytest.raises(LLMUnavailable, match="does not exist"):
        LlamaCppBackend(settings(), n_ctx=512, adapter=tmp_path / "missing.gguf").health_check()


def test_a_short_text_reuses_the_scoring_prefix_and_is_the_same_whatever_came_before(backend: LlamaCppBackend) -> None:
    system = SYSTEM + " You like short films."
    backend.generate([ask(f, system) for f in FILMS])  # fills the prefix slot
    before = backend.prompt_tokens_evaluated
    write = LLMRequest.chat(system, "In one short sentence, why do you love Alien?", max_tokens=24, seed=5)
    [a] = backend.generate([write])
    evaluated = backend.prompt_tokens_evaluated - before
    assert a.status == "ok" and a.text.strip() and a.completion_tokens <= 24
    assert evaluated < a.prompt_tokens / 2  # only the question: the persona was already there
    backend.generate([ask(FILMS[3], "You hate everything."), LLMRequest.chat("Say hi.", "Hi", max_tokens=4)])
    [b] = backend.generate([write])
    assert b.text == a.text  # same seed, same text, whatever the cache held


def test_greedy_text_from_the_scoring_context_is_llama_cpp_s_own_greedy_text(backend: LlamaCppBackend) -> None:
    write = LLMRequest.chat(SYSTEM, "Name one movie you love, in a few words.", max_tokens=12, temperature=0.0)
    [ours] = backend.generate([write])
    backend.prefix_cache = False  # the main context's create_chat_completion
    try:
        [theirs] = backend.generate([write])
    finally:
        backend.prefix_cache = True
    assert ours.text.split()[:4] == theirs.text.split()[:4]


def test_sampling_follows_llama_cpp_s_default_chain() -> None:
    from simrec.llm.llama_scorer import _sample

    logits = np.array([5.0, 4.9, 1.0, 0.0, -3.0])
    rng = np.random.default_rng(0)
    assert _sample(logits, 0.0, 0.95, rng) == 0
    draws = {_sample(logits, 1.0, 0.95, np.random.default_rng(s)) for s in range(200)}
    assert draws == {0, 1}  # min-p drops what is under 5% of the top token's probability
    assert _sample(logits, 1.0, 0.95, np.random.default_rng(7)) == _sample(logits, 1.0, 0.95, np.random.default_rng(7))
    assert {_sample(logits, 1.0, 0.95, np.random.default_rng(s), top_k=1) for s in range(50)} == {0}


def test_a_text_stopped_at_its_sentences_keeps_what_cutting_the_full_text_keeps(backend: LlamaCppBackend) -> None:
    from simrec.llm.sentences import first_sentences

    asked = ["Describe your favourite movie in a few sentences.", "Tell me about a film you hated, and why."]
    stopped_short = 0
    for seed in range(6):
        for q in asked:
            for limit in (1, 2):
                full = backend.generate([LLMRequest.chat(SYSTEM, q, max_tokens=60, seed=seed)])[0]
                cut = backend.generate([LLMRequest.chat(SYSTEM, q, max_tokens=60, seed=seed, sentences=limit)])[0]
                assert full.status == cut.status == "ok"
                assert first_sentences(cut.text, limit) == first_sentences(full.text, limit)
                assert full.text.startswith(cut.text)
                stopped_short += cut.completion_tokens < full.completion_tokens
    assert stopped_short >= 6  # the rule does stop generation early, not only in theory
