"""The default backend with the real bundled default model (SmolLM2-135M-Instruct, in-process llama.cpp).

Integration tests: they load the model (about a second) once for the module and
keep completions short, so the whole file runs in well under a minute on two cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simrec.config.schema import LLMConfig
from simrec.llm.base import CallSettings
from simrec.llm.bundled import BUNDLED_MODEL, bundled_model_path, smollm2_file
from simrec.llm.factory import build_backend
from simrec.llm.llama_runtime import loaded_models
from simrec.llm.llamacpp import LlamaCppBackend
from simrec.llm.schema_utils import merge_system
from simrec.llm.types import LLMRequest, LLMUnavailable, Message
from tests.llm.decision_schema import PageDecision, Position, Rating  # noqa: F401

PERSONA = (
    "You are Alex, 34, a nurse who loves science fiction and tense thrillers and finds romance dull. "
    "You browse a streaming service after night shifts. For each page you are shown, say which items "
    "you watch (by their position), rate each one you watched from 1 to 5 stars, and whether you leave."
)
PAGE = "Page {n}:\n1. Alien (sci-fi)\n2. Titanic (romance)\n3. Heat (thriller)\n4. Up (animation)\n5. Jaws (thriller)\nReply in JSON."


def page(n: int = 1, **kw) -> LLMRequest:
    return LLMRequest.chat(PERSONA, PAGE.format(n=n), schema=PageDecision, **kw)


def settings(**kw) -> CallSettings:
    base = {
        "model": "llamacpp",
        "max_tokens": 128,
        "temperature": 1.0,
        "seed": 7,
        "timeout_s": 120.0,
    }
    base.update(kw)
    return CallSettings(**base)


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    be = LlamaCppBackend(settings(), n_ctx=1024)
    be.health_check()  # assembles the bundled GGUF if needed and loads it
    yield be
    be.close()


def test_decision_reply_is_schema_valid_json(backend: LlamaCppBackend) -> None:
    [r] = backend.generate([page()])
    # the grammar makes the first reply valid: no repair, no fallback
    assert r.status == "ok", (r.reason, r.error, r.attempts)
    assert isinstance(r.parsed, PageDecision)
    assert all(1 <= p <= 5 for p in r.parsed.watch)
    assert PageDecision.model_validate_json(r.text) == r.parsed
    assert r.prompt_tokens > 50 and 0 < r.completion_tokens < 128


def test_same_seed_same_reply_whatever_came_before(backend: LlamaCppBackend) -> None:
    # other pages in between change what the KV cache holds; the reply must not change
    a1, b, a2, c = backend.generate(
        [page(1, seed=3), page(2, seed=4), page(1, seed=3), page(1, seed=5)]
    )
    assert a1.ok and b.ok and a2.ok and c.ok
    assert a1.text == a2.text
    # a follow-up whose prompt contains the generated reply (as a repair does) reuses the cache too
    follow = LLMRequest(
        (
            *page(1).messages,
            Message("assistant", a1.text),
            Message("user", "And on the next page?"),
        ),
        schema=PageDecision,
        seed=6,
    )
    [f1] = backend.generate([follow])
    # the same replies with prefix reuse switched off (a fresh evaluation every call)
    fresh = LlamaCppBackend(settings(), n_ctx=1024, prefix_cache=False)
    a3, f2 = fresh.generate([page(1, seed=3), follow])
    assert (a3.text, f2.text) == (a1.text, f1.text)


def test_model_is_loaded_once_and_shared(backend: LlamaCppBackend) -> None:
    other = LlamaCppBackend(settings(seed=99), n_ctx=1024)
    first = backend.model
    other.generate([page(3)])
    backend.generate([page(4)])
    assert other.model is first and backend.model.llm is first.llm
    key = (str(first.path), 1024, backend.n_threads, "")
    assert list(loaded_models()).count(key) == 1


def test_prefix_reuse_and_its_switch(backend: LlamaCppBackend) -> None:
    long_persona = (
        PERSONA + " " + " ".join(f"You once rated film number {i} highly." for i in range(25))
    )

    def req(n: int) -> LLMRequest:
        return LLMRequest.chat(long_persona, PAGE.format(n=n), schema=PageDecision, max_tokens=8)

    backend.generate([req(1)])  # the model now holds the shared persona
    before = backend.prompt_tokens_evaluated
    [r] = backend.generate([req(2)])
    reused = backend.prompt_tokens_evaluated - before
    assert reused < r.prompt_tokens / 2, (reused, r.prompt_tokens)

    fresh = LlamaCppBackend(settings(), n_ctx=1024, prefix_cache=False)
    [r] = fresh.generate([req(3)])
    assert fresh.prompt_tokens_evaluated >= r.prompt_tokens - 1, (
        fresh.prompt_tokens_evaluated,
        r.prompt_tokens,
    )


def test_concurrency_is_one_and_config_is_read() -> None:
    cfg = LLMConfig(
        n_ctx=1024, n_threads=1, prefix_cache=False, concurrency=8, cache={"enabled": False}
    )
    be = build_backend(cfg, seed=0)
    assert isinstance(be, LlamaCppBackend)
    assert (be.n_ctx, be.n_threads, be.prefix_cache, be.settings.concurrency) == (1024, 1, False, 1)
    assert be.describe().endswith(smollm2_file())


def test_missing_gguf_fails_the_health_check(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    be = LlamaCppBackend(settings(), missing)
    with pytest.raises(LLMUnavailable, match="nope.gguf does not exist"):
        be.health_check()
    assert be.describe() == str(missing)


def test_a_file_that_is_not_gguf_fails_the_health_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(LLMUnavailable, match="could not load"):
        LlamaCppBackend(settings(), bad, n_ctx=256).health_check()


def test_default_model_is_unpacked_once_into_cache_dir(tmp_path: Path) -> None:
    path = bundled_model_path(tmp_path / "models")
    try:
        assert path == tmp_path / "models" / smollm2_file()
        assert path.stat().st_size > 250_000_000  # 16-bit weights of 135M parameters
        assert not list(path.parent.glob("*.partial"))
        mtime = path.stat().st_mtime_ns
        assert bundled_model_path(tmp_path / "models") == path and path.stat().st_mtime_ns == mtime
    finally:
        path.unlink()


def test_bundled_gemma_is_assembled_into_cache_dir(tmp_path: Path) -> None:
    path = bundled_model_path(tmp_path / "models", "gemma3-270m")
    try:
        assert path == tmp_path / "models" / BUNDLED_MODEL
        assert path.stat().st_size > 200_000_000
        assert not list(path.parent.glob("*.partial"))
        assert bundled_model_path(tmp_path / "models", "gemma3-270m") == path  # present: no second assembly
    finally:
        path.unlink()


def test_system_turns_merge_into_the_first_user_turn() -> None:
    msgs = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U1"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "U2"},
    ]
    assert merge_system(msgs) == [
        {"role": "user", "content": "S\n\nU1"},
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "U2"},
    ]
    assert merge_system([{"role": "system", "content": "S"}]) == [{"role": "user", "content": "S"}]
