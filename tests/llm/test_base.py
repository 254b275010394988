"""The shared LLM layer with the scripted backend: validation, repair, fallback,
retries, timeouts, concurrency, replay cache, accounting and budgets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from simrec.llm.base import CallSettings, extract_json
from simrec.llm.cache import ReplayCache
from simrec.llm.fake import Scripted, ScriptedBackend
from simrec.llm.types import LLMRequest, PermanentLLMError, TransientLLMError
from simrec.llm.usage import Budget, Prices, Usage


class Pick(BaseModel):
    watch: list[int] = Field(default_factory=list)
    leave: bool


def req(text: str = "page", **kw) -> LLMRequest:
    return LLMRequest.chat("You are a viewer.", text, schema=Pick, **kw)


def settings(**kw) -> CallSettings:
    base = {"model": "m", "timeout_s": 1.0, "retries": 2, "backoff_s": 0.0}
    base.update(kw)
    return CallSettings(**base)


def test_valid_reply_is_parsed() -> None:
    be = ScriptedBackend(settings(), ['{"watch": [1, 3], "leave": false}'])
    [r] = be.generate([req()])
    assert r.status == "ok" and r.parsed == Pick(watch=[1, 3], leave=False)
    assert be.usage.counters["calls"] == 1 and be.usage.counters["invalid"] == 0


def test_json_inside_prose_is_found() -> None:
    assert extract_json('Sure! ```json\n{"a": {"b": 1}}\n``` done') == {"a": {"b": 1}}
    with pytest.raises(ValueError):
        extract_json("no json here {broken")


def test_invalid_then_repaired() -> None:
    be = ScriptedBackend(settings(), ['{"watch": "all"}', '{"watch": [2], "leave": true}'])
    [r] = be.generate([req()])
    assert r.status == "repaired" and r.parsed == Pick(watch=[2], leave=True)
    # the repair call shows the model its bad reply and the schema
    repair = be.calls[1].messages
    assert repair[-2] == {"role": "assistant", "content": '{"watch": "all"}'}
    assert "JSON schema" in repair[-1]["content"] and "leave" in repair[-1]["content"]
    c = be.usage.counters
    assert (c["calls"], c["invalid"], c["repaired"], c["fallbacks"]) == (2, 1, 1, 0)


def test_invalid_twice_falls_back_and_is_counted() -> None:
    be = ScriptedBackend(settings(), ["nonsense", "still nonsense"])
    [r] = be.generate([req()])
    assert r.status == "fallback" and r.reason == "invalid" and r.parsed is None and not r.ok
    assert r.attempts == ["nonsense", "still nonsense"]
    assert be.usage.counters["fallbacks"] == 1 and be.usage.fallback_reasons["invalid"] == 1


def test_transient_errors_are_retried_then_succeed() -> None:
    script = [TransientLLMError("HTTP 503"), TransientLLMError("HTTP 429"), '{"leave": false}']
    be = ScriptedBackend(settings(retries=2), script)
    [r] = be.generate([req()])
    assert r.status == "ok" and be.usage.counters["retries"] == 2


def test_retries_exhausted_fall_back() -> None:
    be = ScriptedBackend(settings(retries=1), [TransientLLMError("HTTP 500")])
    [r] = be.generate([req()])
    assert r.status == "fallback" and r.reason == "error" and be.usage.counters["retries"] == 1


def test_permanent_error_is_not_retried() -> None:
    be = ScriptedBackend(settings(retries=3), [PermanentLLMError("HTTP 400 bad request")])
    [r] = be.generate([req()])
    assert r.reason == "error" and be.usage.counters["retries"] == 0 and len(be.calls) == 1


def test_timeout_is_retried_and_counted() -> None:
    be = ScriptedBackend(settings(timeout_s=0.05, retries=1), [Scripted('{"leave": true}', delay_s=1.0)])
    [r] = be.generate([req()])
    assert r.status == "fallback" and r.reason == "timeout"
    assert be.usage.counters["timeouts"] == 2 and be.usage.counters["retries"] == 1


def test_order_is_kept_and_concurrency_is_bounded() -> None:
    active = {"now": 0, "max": 0}

    def script(call):
        return Scripted(f'{{"watch": [{call.messages[-1]["content"]}], "leave": false}}', delay_s=0.01)

    be = ScriptedBackend(settings(concurrency=4), script)
    original = be._complete

    async def tracking(call):
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        try:
            return await original(call)
        finally:
            active["now"] -= 1

    be._complete = tracking  # type: ignore[method-assign]
    out = be.generate([req(str(i)) for i in range(40)])
    assert [r.parsed.watch for r in out] == [[i] for i in range(40)]
    assert active["max"] == 4


def test_replay_cache_makes_zero_calls_and_same_answers(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    replies = iter(f'{{"watch": [{i}], "leave": false}}' for i in range(1000))
    first = ScriptedBackend(settings(), lambda call: next(replies), cache=ReplayCache(path))
    a = first.generate([req(str(i), agent=i, step=1) for i in range(10)])
    assert first.usage.counters["calls"] == 10 and first.usage.counters["cache_misses"] == 10
    first.close()

    second = ScriptedBackend(settings(), [AssertionError("must not be called")], cache=ReplayCache(path))
    b = second.generate([req(str(i), agent=i, step=1) for i in range(10)])
    assert second.usage.counters["calls"] == 0 and second.usage.counters["cache_hits"] == 10
    assert [r.parsed for r in a] == [r.parsed for r in b] and all(r.cached for r in b)
    assert second.usage.replayed_tokens > 0


def test_cache_key_depends_on_seed_and_schema(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "c.sqlite")
    be = ScriptedBackend(settings(), ['{"leave": true}'], cache=cache)
    be.generate([req("x", seed=1), req("x", seed=2), LLMRequest.chat("s", "x")])
    assert len(cache) == 3


def test_accounting_per_agent_and_step_and_cost() -> None:
    usage = Usage(prices=Prices(prompt_per_1k=1.0, completion_per_1k=2.0))
    be = ScriptedBackend(settings(), ['{"leave": true}'], usage=usage)
    be.generate([req("a b c", agent=7, step=1), req("d", agent=7, step=2), req("e", agent=8, step=2)])
    assert set(usage.per_agent) == {"7", "8"} and usage.per_agent["7"]["calls"] == 2
    assert usage.per_step[2]["calls"] == 2
    p, c = usage.counters["prompt_tokens"], usage.counters["completion_tokens"]
    assert p > 0 and c == 6  # '{"leave": true}' is two whitespace tokens, three calls
    assert usage.cost == pytest.approx(p / 1000 + c * 2 / 1000)


@pytest.mark.parametrize(
    ("budget", "needle"),
    [(Budget(max_calls=3), "max_calls=3"), (Budget(max_tokens=20), "max_tokens=20"), (Budget(max_cost=0.01), "max_cost")],
)
def test_budget_caps_turn_calls_into_fallbacks(budget: Budget, needle: str) -> None:
    usage = Usage(prices=Prices(prompt_per_1k=1.0), budget=budget)
    be = ScriptedBackend(settings(concurrency=1), ['{"leave": true}'], usage=usage)
    out = be.generate([req("one two three four five") for _ in range(10)])
    assert usage.exhausted() is not None and needle in usage.exhausted()
    assert any(r.reason == "budget" for r in out)
    assert usage.counters["calls"] < 10


def test_free_text_requests_skip_validation() -> None:
    be = ScriptedBackend(settings(), ["I liked it."])
    [r] = be.generate([LLMRequest.chat("s", "review?")])
    assert r.status == "ok" and r.text == "I liked it." and r.parsed is None


def test_agenerate_inside_a_running_loop() -> None:
    be = ScriptedBackend(settings(), ['{"leave": false}'])

    async def main():
        return await be.agenerate([req(), req()])

    out = asyncio.run(main())
    assert [r.status for r in out] == ["ok", "ok"]


def test_generate_inside_a_running_loop() -> None:
    """As in a Jupyter notebook: the synchronous call works while this thread runs a loop."""
    be = ScriptedBackend(settings(), ['{"leave": false}', '{"leave": true}', '{"leave": false}'])

    async def main():
        return be.generate([req()]), be.generate([req()])

    first, second = asyncio.run(main())
    assert [first[0].parsed.leave, second[0].parsed.leave] == [False, True]
    assert be.generate([req()])[0].parsed.leave is False  # and outside a loop, as before
