"""A scripted backend for tests — yours and ours — that needs no model.

Give it replies as a list (served in request order, cycling), a mapping from a
substring of the last user message to a reply, or a function of the request.
A reply may be an exception instance to raise (e.g. ``TransientLLMError``)
and may carry a delay, so retries, timeouts and fallbacks can be tested.

Scoring requests (``LLMRequest.choices``) are answered by ``scorer``, a function
of the call returning one probability per choice; the default derives them
deterministically from a hash of the prompt, so they vary between items and
repeat between runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from simrec.llm.base import BaseBackend, Call, CallSettings, format_scores, normalise_logprobs
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
Scorer = Callable[[Call], Sequence[float]]


def hashed_scores(call: Call) -> list[float]:
    """Probabilities for ``call.choices`` from a hash of its messages (deterministic, varied)."""
    blob = repr((call.messages, call.choices)).encode()
    digest = hashlib.sha256(blob).digest()
    return [0.05 + digest[i % len(digest)] / 255 for i in range(len(call.choices or ()))]


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
    can_score = True

    def __init__(
        self,
        settings: CallSettings | None = None,
        script: Script | None = None,
        cache: ReplayCache | None = None,
        usage: Usage | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        super().__init__(settings or CallSettings(model="scripted"), cache, usage)
        self.script: Script = script if script is not None else ["{}"]
        self.scorer: Scorer = scorer or hashed_scores
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
        prompt = sum(_tokens(m["content"]) for m in call.messages)
        if call.choices is not None:
            probs = [max(float(p), 1e-9) for p in self.scorer(call)]
            return Completion(format_scores(normalise_logprobs([math.log(p) for p in probs])), prompt, 1)
        reply = self._pick(call)
        delay = 0.0
        if isinstance(reply, Scripted):
            reply, delay = reply.reply, reply.delay_s
        if delay:
            await asyncio.sleep(delay)
        if isinstance(reply, BaseException):
            raise reply
        return Completion(reply, prompt, _tokens(reply))
