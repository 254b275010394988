"""Requests, responses and errors of the LLM layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from simrec.core.errors import SimrecError

Role = Literal["system", "user", "assistant"]
Status = Literal["ok", "repaired", "fallback"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        """The OpenAI-style ``{"role": ..., "content": ...}`` mapping."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class LLMRequest:
    """One structured call.

    Attributes:
        messages: The conversation; a shared leading system/persona part lets
            backends with prefix caching skip re-evaluating it.
        schema: The pydantic model the reply must validate against (``None``: free text).
        agent: Who asks (for per-agent accounting).
        step: Simulation step (for per-step accounting).
        purpose: What the call is for (``"decision"``, ``"review"``, ...).
        max_tokens: Completion cap (default: the backend's setting).
        temperature: Sampling temperature (default: the backend's setting).
        seed: Sampling seed (default: the backend's setting).
        choices: Score instead of generate: the reply is the model's log-probability of
            each choice as the first word of its answer (``LLMResponse.scores``), e.g.
            ``("yes", "no")``. Only backends with ``can_score`` answer these.
        sentences: A free text of at most this many sentences is wanted: a backend may
            stop generating once they have ended (see :mod:`simrec.llm.sentences`); the
            caller cuts the text to them either way. ``None``: no such limit.
    """

    messages: tuple[Message, ...]
    schema: type[BaseModel] | None = None
    agent: int | str | None = None
    step: int | None = None
    purpose: str = "decision"
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    choices: tuple[str, ...] | None = None
    sentences: int | None = None

    @classmethod
    def chat(cls, system: str, user: str, **kwargs: Any) -> LLMRequest:
        """A request of one system and one user message."""
        return cls((Message("system", system), Message("user", user)), **kwargs)


@dataclass(frozen=True)
class Completion:
    """What a backend returns for one call: raw text and token counts."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class LLMResponse:
    """The outcome of one request after validation, repair and fallback.

    Attributes:
        status: ``ok`` (valid first time), ``repaired`` (valid after one repair
            retry) or ``fallback`` (no valid reply; the caller uses its non-LLM decision).
        text: The last raw reply, if any.
        parsed: The validated reply (``None`` on fallback or for free text).
        prompt_tokens: Prompt tokens over all attempts.
        completion_tokens: Completion tokens over all attempts.
        cached: Every attempt was answered from the replay cache.
        reason: Why it fell back (``invalid``, ``timeout``, ``error``, ``budget``).
        error: A short description of the last error.
        scores: For a request with ``choices``: the log-probability of each choice,
            normalised over the choices (``None`` otherwise, and on fallback).
    """

    status: Status
    text: str | None = None
    parsed: BaseModel | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    reason: str | None = None
    error: str | None = None
    attempts: list[str] = field(default_factory=list)
    scores: tuple[float, ...] | None = None

    @property
    def ok(self) -> bool:
        """Whether a valid reply came back."""
        return self.status != "fallback"


class LLMError(SimrecError):
    """Base class of LLM-layer errors."""


class LLMUnavailable(LLMError):
    """The backend cannot be reached or loaded (raised by the health check, before a run)."""


class TransientLLMError(LLMError):
    """A failure worth retrying: timeout, HTTP 429 or 5xx, dropped connection.

    Args:
        message: What happened.
        kind: ``"timeout"`` or ``"error"`` (how a final fallback is counted).
    """

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


class PermanentLLMError(LLMError):
    """A failure not worth retrying (HTTP 4xx other than 429, bad request)."""
