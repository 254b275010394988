"""A scripted backend for tests — yours and ours — that needs no model.

Give it replies as a list (served in request order, cycling), a mapping from a
substring of the last user message to a reply, or a function of the request.
A reply may be an exception instance to raise (e.g. ``TransientLLMError``)
and may carry a delay, so retries, timeouts and fallbacks can be tested.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from simrec.llm.base import BaseBackend, Call, CallSettings
from simrec.llm.cache import ReplayCache
from simrec.llm.types import Completion
from simrec.llm.usage import Usage


@dataclass(frozen=True)
class Scripted:
    """One scripted reply: text (or an exception to raise) after ``delay_s`` seconds."""

    reply: str | BaseException
    delay_s: float = 0.0


Reply = Union[str, BaseException, Scripted]
Script = Union[Sequence[Reply], Mapping[str, Reply], Callable[[Call], Reply]]


def _tokens(text: str) -> int:
    """A rough, deterministic token count (whitespace words)."""
    return max(1, len(text.split()))


class ScriptedBackend(BaseBackend):
    """Answers from a script instead of a model.

    Args:
        settings: Sampling defaults (only used for cache keys and accounting).
        script: Replies (see module docstring). Default: ``"{}"`` for everything.
        cache: Optional replay cache.
        usage: Optional shared accounting.
    """

    name = "fake"

    def __init__(
        self,
        settings: CallSettings | None = None,
        script: Script | None = None,
        cache: ReplayCache | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(settings or CallSettings(model="scripted"), cache, usage)
        self.script: Script = script if script is not None else ["{}"]
        self.calls: list[Call] = []
        self._next = 0

    @classmethod
    def from_config(cls, cfg, settings, cache, usage):  # noqa: ANN001, ANN206
        """From a scenario: replies from ``llm.chat_kwargs.replies`` — a list (served in turn) or a
        mapping ``{text in the last message: reply}`` (first match; ``""`` matches anything) —
        else ``"{}"`` for every call (schemas whose fields all have defaults validate)."""
        replies = (cfg.chat_kwargs or {}).get("replies")
        if isinstance(replies, Mapping):
            return cls(settings, dict(replies), cache, usage)
        return cls(settings, list(replies) if replies else None, cache, usage)

    def _pick(self, call: Call) -> Reply:
        if callable(self.script):
            return self.script(call)
        if isinstance(self.script, Mapping):
            last = call.messages[-1]["content"]
            for needle, reply in self.script.items():
                if needle in last:
                    return reply
            raise KeyError(f"no scripted reply matches: {last[:80]!r}")
        reply = self.script[self._next % len(self.script)]
        self._next += 1
        return reply

    async def _complete(self, call: Call) -> Completion:
        self.calls.append(call)
        reply = self._pick(call)
        delay = 0.0
        if isinstance(reply, Scripted):
            reply, delay = reply.reply, reply.delay_s
        if delay:
            await asyncio.sleep(delay)
        if isinstance(reply, BaseException):
            raise reply
        prompt = sum(_tokens(m["content"]) for m in call.messages)
        return Completion(reply, prompt, _tokens(reply))
