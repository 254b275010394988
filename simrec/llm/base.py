"""The backend protocol and the base class that owns the shared behaviour.

A backend implements one coroutine, :meth:`BaseBackend._complete` (one call to
the model), and optionally :meth:`BaseBackend._health`. Everything else is
here, once, for every backend: bounded concurrency, per-request timeouts,
retries with exponential backoff on transient failures, JSON-schema validation
with one repair retry and a counted fallback, the replay cache, and token,
call and cost accounting with budget caps.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from simrec.core.registry import Registry
from simrec.llm.cache import ReplayCache, cache_key
from simrec.llm.types import (
    Completion,
    LLMRequest,
    LLMResponse,
    Message,
    PermanentLLMError,
    TransientLLMError,
)
from simrec.llm.usage import Usage

if TYPE_CHECKING:
    from simrec.config.schema import LLMConfig

log = logging.getLogger(__name__)
_T = TypeVar("_T")

BACKENDS: Registry[type] = Registry(
    "LLM backend",
    {
        "llamacpp": "simrec.llm.llamacpp:LlamaCppBackend",
        "ollama": "simrec.llm.ollama:OllamaBackend",
        "openai": "simrec.llm.openai_compat:OpenAIBackend",
        "langchain": "simrec.llm.langchain_chat:LangChainBackend",
        "fake": "simrec.llm.fake:ScriptedBackend",
    },
)

REPAIR_PROMPT = (
    "Your previous reply could not be used: {error}\n"
    "Reply again with only one JSON object that matches this JSON schema, and nothing else:\n{schema}"
)


@runtime_checkable
class LLMBackend(Protocol):
    """What agents need from an LLM: many structured requests in, as many responses out."""

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Answer ``requests`` (concurrently), in order."""


@dataclass(frozen=True)
class Call:
    """One model call as a backend sees it."""

    messages: list[dict[str, str]]
    json_schema: dict[str, Any] | None
    schema_name: str
    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    choices: tuple[str, ...] | None = None
    sentences: int | None = None


@dataclass(frozen=True)
class CallSettings:
    """Sampling defaults and the shared layer's behaviour."""

    model: str
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 200
    seed: int = 0
    concurrency: int = 8
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 0.5


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (models sometimes wrap it in prose or fences).

    Raises:
        ValueError: if there is none.
    """
    start = text.find("{")
    while start != -1:
        try:
            # strict=False: small models put raw newlines inside strings; the content is still usable.
            obj, _ = json.JSONDecoder(strict=False).raw_decode(text, start)
            return obj
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    raise ValueError("no JSON object found in the reply")


@functools.lru_cache(maxsize=256)
def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """``schema.model_json_schema()``, computed once per class (it costs ~0.2 ms a call).

    The dict is shared by every call that uses ``schema``: treat it as read-only.
    """
    return schema.model_json_schema()


def parse_reply(text: str, schema: type[BaseModel]) -> BaseModel:
    """Validate a reply against ``schema``; raises ``ValueError`` with a short reason."""
    try:
        return schema.model_validate(extract_json(text))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise ValueError(f"{where}: {first['msg']}") from None


def format_scores(scores: Sequence[float]) -> str:
    """The text a scoring call stores (and caches): the choices' log-probabilities as JSON."""
    return json.dumps([round(float(x), 6) for x in scores])


def parse_scores(text: str, n: int) -> tuple[float, ...]:
    """The ``n`` log-probabilities a scoring call's text holds (see :func:`format_scores`)."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("a scoring reply is not a JSON list") from None
    if not (isinstance(values, list) and len(values) == n):
        raise ValueError(f"a scoring reply must list {n} log-probabilities")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ValueError("a scoring reply must list numbers")
    out = tuple(float(v) for v in values)
    if not all(v <= 1e-6 for v in out):  # NaN fails this too
        raise ValueError("log-probabilities must not be positive")
    return out


def normalise_logprobs(values: Sequence[float]) -> list[float]:
    """``values`` (log-scores) normalised so their probabilities sum to 1."""
    top = max(values)
    total = top + math.log(sum(math.exp(v - top) for v in values))
    return [v - total for v in values]


class BaseBackend:
    """Base class of all backends.

    Args:
        settings: Sampling defaults and concurrency/timeout/retry behaviour.
        cache: The replay cache (``None``: no caching).
        usage: Where calls are accounted (a fresh :class:`Usage` by default).
    """

    name = "base"
    #: Whether the backend answers scoring requests (``LLMRequest.choices``).
    can_score = False
    #: Whether :meth:`_score_batch` answers many scoring calls at once (else one call each).
    batch_scores = False
    #: The page-decision protocol ``llm.protocol: auto`` picks for this backend:
    #: ``"scored"`` (next-word probabilities, for small local models) or ``"json"``.
    default_protocol = "json"

    def __init__(self, settings: CallSettings, cache: ReplayCache | None = None, usage: Usage | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.usage = usage if usage is not None else Usage()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

    @classmethod
    def from_config(
        cls, cfg: LLMConfig, settings: CallSettings, cache: ReplayCache | None, usage: Usage
    ) -> BaseBackend:
        """Build from the scenario's ``llm:`` block (override to read backend-specific keys)."""
        return cls(settings, cache, usage)

    # -- for implementations --------------------------------------------
    async def _complete(self, call: Call) -> Completion:
        """One model call. Raise :class:`TransientLLMError` for retryable failures."""
        raise NotImplementedError

    async def _score_batch(self, calls: Sequence[Call]) -> list[Completion]:
        """Many scoring calls at once (backends with ``batch_scores``); texts as :func:`format_scores`."""
        raise NotImplementedError

    def _health(self) -> None:
        """Raise :class:`~simrec.llm.types.LLMUnavailable` if the backend cannot serve."""

    def _call_timeout_s(self) -> float | None:
        """The time limit of one :meth:`_complete` (``None``: the backend enforces its own).

        A backend with several servers limits each server's try instead, so that a call
        that timed out on one can still be answered by another.
        """
        return self.settings.timeout_s

    def describe(self) -> str:
        """Where calls go (for messages), e.g. a URL or a model path."""
        return self.settings.model

    # -- public surface ----------------------------------------------------
    def health_check(self) -> None:
        """Check the backend can serve before a run starts (raises ``LLMUnavailable``)."""
        self._health()

    def generate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Answer ``requests`` concurrently (up to ``concurrency``), in request order.

        Called from a thread that already runs an event loop (a Jupyter notebook, an async
        app), the backend's own loop runs in a worker thread while this one waits.
        """
        return self.on_own_loop(lambda: self.agenerate(requests))

    def on_own_loop(self, make: Callable[[], Awaitable[_T]]) -> _T:
        """Run the coroutine ``make()`` to completion on the backend's own event loop.

        From a thread that already runs a loop, the backend's loop runs in a worker thread
        while this one waits (``run_until_complete`` cannot nest).
        """

        def run() -> _T:
            with self._loop_lock:
                if self._loop is None or self._loop.is_closed():
                    self._loop = asyncio.new_event_loop()
                return self._loop.run_until_complete(make())

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return run()
        with ThreadPoolExecutor(1, thread_name_prefix="simrec-llm") as worker:
            return worker.submit(run).result()

    async def agenerate(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """The coroutine behind :meth:`generate`, for callers that already run a loop."""
        if self.batch_scores and requests and all(r.choices is not None for r in requests):
            return await self._respond_scored(requests)
        reqs = list(requests)
        out: list[LLMResponse | None] = [None] * len(reqs)
        todo = iter(range(len(reqs)))  # shared by the workers: each takes the next request in order

        async def worker() -> None:
            # A worker that finishes a request starts the next one in the same step. With one
            # task per request behind a semaphore, the next request would start only after every
            # reply that arrived with this one had been handled, which keeps the calls in lockstep
            # waves and adds (concurrency x CPU per request) to every wave.
            for i in todo:
                out[i] = await self._respond(reqs[i])

        await asyncio.gather(*(worker() for _ in range(min(self.settings.concurrency, len(reqs)))))
        return out  # type: ignore[return-value]  # every slot is filled

    def close(self) -> None:
        """Release the event loop and the cache."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        if self.cache is not None:
            self.cache.close()

    # -- the shared behaviour ---------------------------------------------
    def _call_for(self, req: LLMRequest, messages: list[dict[str, str]]) -> Call:
        s = self.settings
        schema = json_schema_of(req.schema) if req.schema is not None else None
        return Call(
            messages=messages,
            json_schema=schema,
            schema_name=req.schema.__name__ if req.schema is not None else "text",
            max_tokens=req.max_tokens or s.max_tokens,
            temperature=s.temperature if req.temperature is None else req.temperature,
            top_p=s.top_p,
            seed=s.seed if req.seed is None else req.seed,
            choices=req.choices,
            sentences=req.sentences,
        )

    def _key(self, call: Call) -> str:
        payload: dict[str, Any] = {
            "backend": self.name,
            "model": self.cache_model(),
            "messages": call.messages,
            "schema": call.json_schema,
            "max_tokens": call.max_tokens,
            "temperature": call.temperature,
            "top_p": call.top_p,
            "seed": call.seed,
        }
        if call.choices is not None:  # only then: keys of generating calls stay as they were
            payload["choices"] = list(call.choices)
        if call.sentences is not None:  # a backend may stop at them: the reply is then shorter
            payload["sentences"] = call.sentences
        return cache_key(payload)

    def cache_model(self) -> str:
        """What identifies the model in replay-cache keys (a backend that loads adapters adds them)."""
        return self.settings.model

    async def _attempt(self, req: LLMRequest, call: Call) -> tuple[Completion, bool]:
        """One completion, from the cache or the model (with retries). Returns (completion, cached)."""
        key = self._key(call) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            self.usage.count("cache_hits" if hit else "cache_misses")
            if hit is not None:
                self.usage.record_call(req.agent, req.step, hit.prompt_tokens, hit.completion_tokens, True)
                return hit, True
        s = self.settings
        attempt = 0
        while True:
            try:
                # asyncio.timeout, unlike wait_for on 3.11, runs the call without an extra task.
                async with asyncio.timeout(self._call_timeout_s()):
                    done = await self._complete(call)
                break
            except TimeoutError as exc:
                self.usage.count("timeouts")
                last = TransientLLMError(f"timed out after {s.timeout_s:g} s", kind="timeout")
                last.__cause__ = exc
            except TransientLLMError as exc:
                last = exc
                if exc.kind == "timeout":
                    self.usage.count("timeouts")
            if attempt >= s.retries:
                raise last
            self.usage.count("retries")
            await asyncio.sleep(s.backoff_s * (2**attempt))
            attempt += 1
        self.usage.record_call(req.agent, req.step, done.prompt_tokens, done.completion_tokens, False)
        if self.cache is not None:
            self.cache.put(key, done, self.name, self.settings.model)
        return done, False

    async def _respond_scored(self, reqs: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Scoring requests in one :meth:`_score_batch` (cache, budget and accounting as for the rest)."""
        resps = [LLMResponse(status="fallback", cached=True) for _ in reqs]
        todo: list[tuple[int, LLMRequest, Call, str]] = []
        for i, req in enumerate(reqs):
            self.usage.count("requests")
            budget = self.usage.exhausted()
            if budget:
                self._fallback(resps[i], "budget", budget)
                continue
            call = self._call_for(req, [m.as_dict() for m in req.messages])
            key = self._key(call) if self.cache is not None else ""
            hit = self.cache.get(key) if self.cache is not None else None
            if self.cache is not None:
                self.usage.count("cache_hits" if hit else "cache_misses")
            if hit is not None:
                self.usage.record_call(req.agent, req.step, hit.prompt_tokens, hit.completion_tokens, True)
                self._take_scores(resps[i], req, hit, True)
            else:
                todo.append((i, req, call, key))
        if not todo:
            return resps
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                done = await self._score_batch([c for _, _, c, _ in todo])
        except (TimeoutError, TransientLLMError, PermanentLLMError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) or getattr(exc, "kind", "") == "timeout" else "error"
            self.usage.count("timeouts" if kind == "timeout" else "errors")
            for i, _, _, _ in todo:
                self._fallback(resps[i], kind, str(exc) or kind)
            return resps
        for (i, req, _, key), comp in zip(todo, done, strict=True):
            self.usage.record_call(req.agent, req.step, comp.prompt_tokens, comp.completion_tokens, False)
            if self.cache is not None:
                self.cache.put(key, comp, self.name, self.cache_model())
            self._take_scores(resps[i], req, comp, False)
        return resps

    def _take_scores(self, resp: LLMResponse, req: LLMRequest, done: Completion, cached: bool) -> None:
        resp.cached = cached
        resp.text = done.text
        resp.attempts.append(done.text)
        resp.prompt_tokens += done.prompt_tokens
        resp.completion_tokens += done.completion_tokens
        try:
            resp.scores = parse_scores(done.text, len(req.choices or ()))
        except ValueError as exc:
            self.usage.count("invalid")
            self._fallback(resp, "invalid", str(exc))
            return
        resp.status = "ok"

    def _fallback(self, resp: LLMResponse, reason: str, error: str) -> LLMResponse:
        self.usage.count("fallbacks")
        self.usage.fallback_reasons[reason] += 1
        resp.status, resp.reason, resp.error, resp.parsed = "fallback", reason, error, None
        return resp

    async def _respond(self, req: LLMRequest) -> LLMResponse:
        self.usage.count("requests")
        resp = LLMResponse(status="fallback", cached=True)
        messages = [m.as_dict() for m in req.messages]
        for attempt in range(2):  # the first try and one repair
            budget = self.usage.exhausted()
            if budget:
                return self._fallback(resp, "budget", budget)
            call = self._call_for(req, messages)
            try:
                done, cached = await self._attempt(req, call)
            except TransientLLMError as exc:
                if exc.kind != "timeout":
                    self.usage.count("errors")
                return self._fallback(resp, exc.kind, str(exc))
            except PermanentLLMError as exc:
                self.usage.count("errors")
                return self._fallback(resp, "error", str(exc))
            resp.cached = resp.cached and cached
            resp.text = done.text
            resp.attempts.append(done.text)
            resp.prompt_tokens += done.prompt_tokens
            resp.completion_tokens += done.completion_tokens
            if req.choices is not None:
                try:
                    resp.scores = parse_scores(done.text, len(req.choices))
                except ValueError as exc:
                    self.usage.count("invalid")
                    return self._fallback(resp, "invalid", str(exc))
                resp.status = "ok"
                return resp
            if req.schema is None:
                resp.status = "ok"
                return resp
            try:
                resp.parsed = parse_reply(done.text, req.schema)
            except ValueError as exc:
                self.usage.count("invalid")
                if attempt == 1:
                    return self._fallback(resp, "invalid", str(exc))
                schema_text = json.dumps(call.json_schema, separators=(",", ":"))
                messages = [
                    *messages,
                    Message("assistant", done.text).as_dict(),
                    Message("user", REPAIR_PROMPT.format(error=exc, schema=schema_text)).as_dict(),
                ]
                continue
            resp.status = "ok" if attempt == 0 else "repaired"
            if attempt == 1:
                self.usage.count("repaired")
            return resp
        raise AssertionError("unreachable")  # pragma: no cover
