"""The LangChain backend with LangChain's own fake chat models."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

pytest.importorskip("langchain_core")

from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
)
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from simrec.config.schema import LLMConfig
from simrec.core.errors import ConfigError, RegistryError
from simrec.llm.base import CallSettings
from simrec.llm.factory import build_backend
from simrec.llm.langchain_chat import LangChainBackend
from simrec.llm.types import LLMRequest


class Pick(BaseModel):
    watch: list[int] = Field(default_factory=list)
    leave: bool


FAKE = "langchain_core.language_models.fake_chat_models:FakeListChatModel"


def settings(**kw: Any) -> CallSettings:
    base = {"model": "fake", "timeout_s": 5.0, "retries": 1, "backoff_s": 0.0}
    base.update(kw)
    return CallSettings(**base)


def ask(text: str = "page 1") -> LLMRequest:
    return LLMRequest.chat("You are a viewer.", text, schema=Pick)


def test_valid_replies_are_parsed() -> None:
    model = FakeListChatModel(
        responses=['{"watch": [1], "leave": false}', '{"watch": [], "leave": true}']
    )
    be = LangChainBackend(settings(concurrency=1), model)
    out = be.generate([ask("a"), ask("b")])
    assert [r.parsed for r in out] == [Pick(watch=[1], leave=False), Pick(watch=[], leave=True)]
    c = be.usage.counters
    assert (
        c["calls"] == 2 and c["prompt_tokens"] > 0 and c["completion_tokens"] == 8
    )  # whitespace estimate: 4 + 4
    assert "FakeListChatModel" in be.describe()


def test_invalid_then_valid_is_repaired() -> None:
    model = FakeListChatModel(responses=["Sure, the first one!", '{"watch": [3], "leave": false}'])
    be = LangChainBackend(settings(), model)
    [r] = be.generate([ask()])
    assert r.status == "repaired" and r.parsed == Pick(watch=[3], leave=False)
    assert be.usage.counters["repaired"] == 1


def test_messages_and_schema_hint_and_usage_metadata() -> None:
    seen: list[list[Any]] = []
    reply = AIMessage(
        content='{"leave": true}',
        usage_metadata={"input_tokens": 40, "output_tokens": 4, "total_tokens": 44},
    )

    class Recording(FakeMessagesListChatModel):
        async def ainvoke(self, input: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(list(input))
            return await super().ainvoke(input, *args, **kwargs)

    be = LangChainBackend(settings(), Recording(responses=[reply]))
    req = LLMRequest.chat("You are a viewer.", "page", schema=Pick)
    [r] = be.generate([req])
    assert r.status == "ok" and (r.prompt_tokens, r.completion_tokens) == (40, 4)
    system, user = seen[0]
    assert isinstance(system, SystemMessage) and isinstance(user, HumanMessage)
    assert system.content.startswith("You are a viewer.") and '"leave"' in system.content
    assert user.content == "page"

    # a schema-free request gets no hint; a conversation without a system message gets one in front
    be.generate([LLMRequest.chat("s", "free text")])
    assert seen[-1][0].content == "s"
    be.schema_hint = False
    from simrec.llm.types import Message

    be.generate(
        [
            LLMRequest(
                (Message("user", "hi"), Message("assistant", "yo"), Message("user", "again")),
                schema=Pick,
            )
        ]
    )
    assert [type(m) for m in seen[-1]] == [HumanMessage, AIMessage, HumanMessage]


def test_model_exceptions_are_retried() -> None:
    calls = {"n": 0}

    class Flaky(FakeListChatModel):
        async def ainvoke(self, input: Any, *args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("rate limited")
            return await super().ainvoke(input, *args, **kwargs)

    be = LangChainBackend(settings(retries=2), Flaky(responses=['{"leave": false}']))
    [r] = be.generate([ask()])
    assert r.status == "ok" and be.usage.counters["retries"] == 1


def test_build_from_config() -> None:
    cfg = LLMConfig(
        backend="langchain",
        chat_model=FAKE,
        chat_kwargs={"responses": ["not json", '{"watch": [7], "leave": true}']},
        cache={"enabled": False},
    )
    be = build_backend(cfg, seed=0)
    assert isinstance(be, LangChainBackend)
    [r] = be.generate([ask()])
    assert r.status == "repaired" and r.parsed == Pick(watch=[7], leave=True)


def test_config_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="llm.chat_model"):
        build_backend(LLMConfig(backend="langchain", cache={"enabled": False}), seed=0)
    with pytest.raises(RegistryError, match="no_such_pkg"):
        build_backend(
            LLMConfig(backend="langchain", chat_model="no_such_pkg:Chat", cache={"enabled": False}),
            seed=0,
        )
    with pytest.raises(ConfigError, match="chat_kwargs"):
        build_backend(
            LLMConfig(
                backend="langchain",
                chat_model=FAKE,
                chat_kwargs={"bogus": 1},
                cache={"enabled": False},
            ),
            seed=0,
        )
    with pytest.raises(ConfigError, match="not a LangChain chat model"):
        LangChainBackend(settings(), object())
