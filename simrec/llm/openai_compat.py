"""Any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, OpenAI itself)
through the official ``openai`` client.

The API key comes from ``llm.api_key`` or the environment variable named by
``llm.api_key_env`` (read by the config loader, never by this module) and is
never logged or written to a manifest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from simrec.llm.base import BaseBackend, Call, CallSettings, format_scores, normalise_logprobs
from simrec.llm.cache import ReplayCache
from simrec.llm.endpoints import EndpointPool, Unreachable
from simrec.llm.fast_http import ChatHTTPError, FastChatClient
from simrec.llm.lean_http import LeanChatClient
from simrec.llm.schema_utils import bounded_int_enums
from simrec.llm.types import Completion, LLMUnavailable, PermanentLLMError, TransientLLMError
from simrec.llm.usage import Usage

log = logging.getLogger(__name__)

_NO_KEY = "not-needed"  # local servers accept any key; the client insists on one
FORMATS = ("auto", "json_schema", "json_object", "none")
TRANSPORTS = ("sdk", "aiohttp", "lean")


class _FormatRejected(PermanentLLMError):
    """The server refused the request's ``response_format`` style."""



class OpenAIBackend(BaseBackend):
    """Chat completions against ``base_url`` with the reply's JSON schema as ``response_format``.

    Args:
        settings: Sampling and shared-layer settings (``settings.model`` is the served model name).
        base_url: Server URL including the API prefix, e.g. ``http://127.0.0.1:8000/v1``.
        api_key: The key, if the server needs one.
        response_format: How the reply schema is sent. ``"json_schema"``: OpenAI structured
            outputs (OpenAI, vLLM, llama.cpp's own ``llama-server``). ``"json_object"``:
            ``{"type": "json_object", "schema": ...}``, the only style ``llama_cpp.server``
            (llama-cpp-python) accepts. ``"auto"`` (default): ``json_schema`` until the server
            rejects it, then ``json_object`` for the rest of the run. ``"none"``: no constraint.
        cache: Replay cache.
        usage: Accounting.
        transport: ``"sdk"`` (the official ``openai`` client), ``"aiohttp"`` (the same wire
            protocol through one pooled aiohttp session: several times less client CPU per
            request, for high-throughput local servers; see :mod:`simrec.llm.fast_http`) or
            ``"lean"`` (simrec's own minimal HTTP/1.1 client, about half of aiohttp's client
            CPU again; see :mod:`simrec.llm.lean_http`).
        servers: Several servers of the same model (URLs as ``base_url``), used instead of
            ``base_url``: each call goes to the least busy one that is up, and a server that
            fails is skipped for a while and its calls re-sent to another
            (:class:`~simrec.llm.endpoints.EndpointPool`). Concurrency and budget stay one
            limit over all of them. One server here is the same as ``base_url``.
        revive_s: With ``servers``: how long a failed server is skipped before it is tried again.
    """

    name = "openai"
    #: Scoring calls ask for the first token's ``top_logprobs`` (``llama_cpp.server`` needs
    #: ``--logits_all true`` for them); the page-decision protocol stays ``json`` by default.
    can_score = True
    #: How many alternatives a scoring call asks for.
    top_logprobs = 20

    def __init__(
        self,
        settings: CallSettings,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        response_format: str = "auto",
        cache: ReplayCache | None = None,
        usage: Usage | None = None,
        transport: str = "sdk",
        servers: Sequence[str] | None = None,
        revive_s: float = 2.0,
    ) -> None:
        if response_format not in FORMATS:
            raise ValueError(
                f"response_format must be one of {', '.join(FORMATS)}, not {response_format!r}"
            )
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        super().__init__(settings, cache, usage)
        self.transport = transport
        self._fast: FastChatClient | LeanChatClient | None = None
        urls = [u.rstrip("/") for u in servers] if servers else [base_url.rstrip("/")]
        self.base_url = urls[0]
        #: Several servers: the pool that routes between them (``None`` with one).
        self.pool = (
            EndpointPool(urls, settings.timeout_s, revive_s, stats=self.usage.servers) if len(urls) > 1 else None
        )
        self._clients: dict[str, Any] = {}  # the SDK client of each server but the first
        self._fasts: dict[str, FastChatClient | LeanChatClient] = {}  # the same for the other servers
        self._api_key = api_key or _NO_KEY
        self.response_format = response_format
        self._style = "json_schema" if response_format == "auto" else response_format
        self._client: Any = None

    @classmethod
    def from_config(cls, cfg, settings, cache, usage):
        """From the ``llm:`` block: ``base_url`` or ``servers``, ``api_key``, ``model``."""
        key = cfg.api_key.get_secret_value() if cfg.api_key is not None else None
        return cls(
            settings,
            cfg.base_url or "https://api.openai.com/v1",
            key,
            response_format=cfg.response_format,
            cache=cache,
            usage=usage,
            transport=cfg.transport,
            servers=cfg.servers,
        )

    @property
    def urls(self) -> list[str]:
        """Every server calls go to (one unless ``servers`` listed several)."""
        return self.pool.urls if self.pool is not None else [self.base_url]

    def describe(self) -> str:
        where = self.pool.describe() if self.pool is not None else self.base_url
        return f"{where} (model {self.settings.model})"

    def _call_timeout_s(self) -> float | None:
        # With several servers the pool limits each server's try, so a timed-out call can move on.
        return None if self.pool is not None else self.settings.timeout_s

    @property
    def format_style(self) -> str:
        """The ``response_format`` style sent now (``"auto"`` settles on the first structured call)."""
        return self._style

    def __repr__(self) -> str:
        # Never the key.
        if self.pool is not None:
            return f"OpenAIBackend(servers={self.pool.urls!r}, model={self.settings.model!r})"
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.settings.model!r})"

    def _client_for_loop(self, base_url: str | None = None) -> Any:
        """The SDK client of ``base_url`` (default: the first server), made on first use."""
        url = base_url or self.base_url
        client = self._client if url == self.base_url else self._clients.get(url)
        if client is None:
            from openai import AsyncOpenAI

            # Retries and timeouts are the shared layer's job.
            client = AsyncOpenAI(
                base_url=url, api_key=self._api_key, max_retries=0, timeout=self.settings.timeout_s
            )
            if url == self.base_url:
                self._client = client
            else:
                self._clients[url] = client
        return client

    def _fast_for(self, base_url: str) -> FastChatClient | LeanChatClient:
        """The aiohttp or lean client of ``base_url``, made on first use."""
        fast = self._fast if base_url == self.base_url else self._fasts.get(base_url)
        if fast is None:
            make = LeanChatClient if self.transport == "lean" else FastChatClient
            fast = make(base_url, self._api_key, self.settings.timeout_s)
            if base_url == self.base_url:
                self._fast = fast
            else:
                self._fasts[base_url] = fast
        return fast

    def _health(self) -> None:
        if self.pool is None:
            self._health_of(self.base_url)
        else:
            self.pool.check_health(self._health_of, "servers")

    def _health_of(self, base_url: str) -> None:
        """Check one server (raises :class:`Unreachable` if nothing answers, else ``LLMUnavailable``)."""
        url = f"{base_url}/models"
        headers = {"Authorization": f"Bearer {self._api_key}"}
        key = "llm.base_url" if self.pool is None else "llm.servers"
        try:
            resp = httpx.get(url, headers=headers, timeout=5.0)
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"Cannot reach the OpenAI-compatible server at {base_url} ({type(exc).__name__}). "
                "Start one (e.g. `python -m llama_cpp.server --model model.gguf --port 8000`, vLLM, LM Studio) "
                f"and set {key} to its URL including /v1, or choose another llm.backend."
            ) from None
        if resp.status_code in (401, 403):
            raise LLMUnavailable(
                f"The server at {base_url} refused the API key (HTTP {resp.status_code}). "
                "Set llm.api_key or the environment variable named by llm.api_key_env."
            )
        if resp.status_code >= 500:
            raise LLMUnavailable(f"The server at {base_url} answered HTTP {resp.status_code} to {url}.")

    def _format(self, call: Call, style: str) -> dict[str, Any] | None:
        if call.json_schema is None or style == "none":
            return None
        if style == "json_object":
            # This style means llama-cpp-python's converter, which ignores integer bounds.
            return {"type": "json_object", "schema": bounded_int_enums(call.json_schema)}
        return {"type": "json_schema", "json_schema": {"name": call.schema_name, "schema": call.json_schema}}

    async def _complete(self, call: Call) -> Completion:
        style = self._style
        try:
            return await self._send(call, style)
        except _FormatRejected:
            if not (self.response_format == "auto" and style == "json_schema"):
                raise
        # llama-cpp-python's server rejects "json_schema" (with HTTP 500, so the check is
        # on the message); it takes the schema inside "json_object" instead. Several servers
        # are taken to be alike: one refusal switches the style for all of them.
        if self._style != "json_object":
            log.info("%s rejects json_schema; sending json_object with the schema", self.base_url)
            self._style = "json_object"
        return await self._send(call, "json_object")

    async def _send(self, call: Call, style: str) -> Completion:
        """One call, to the one server or to the pool's choice."""
        if self.pool is None:
            return await self._create(call, style)
        return await self.pool.call(lambda ep: self._create(call, style, ep.url))

    def _status_error(self, code: int, message: str, fmt: dict[str, Any] | None, url: str | None = None) -> Exception:
        """The shared layer's exception for an HTTP error status from ``url`` (default: ``base_url``)."""
        url = url or self.base_url
        if fmt is not None and code in (400, 422, 500) and "response_format" in message:
            return _FormatRejected(
                f"HTTP {code} from {url}: the server does not accept response_format "
                f"{fmt['type']!r} ({message})"
            )
        if code == 429 or code >= 500:
            return TransientLLMError(f"HTTP {code} from {url}")
        return PermanentLLMError(f"HTTP {code} from {url}: {message}")

    def _body(self, call: Call, style: str) -> dict[str, Any]:
        """The ``/chat/completions`` request body (the same for both transports)."""
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": call.messages,
            "max_tokens": call.max_tokens,
            "temperature": call.temperature,
            "top_p": call.top_p,
            "seed": call.seed,
        }
        if call.choices is not None:
            body.update(max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=self.top_logprobs)
            return body
        fmt = self._format(call, style)
        if fmt is not None:
            body["response_format"] = fmt
        return body

    async def _create(self, call: Call, style: str, base_url: str | None = None) -> Completion:
        """One HTTP call to ``base_url`` (default: the first server)."""
        url = base_url or self.base_url
        kwargs = self._body(call, style)
        fmt = kwargs.get("response_format")
        if self.transport != "sdk":
            fast = self._fast_for(url)
            try:
                if call.choices is not None:
                    return _scored(await fast.complete_raw(kwargs), call.choices, url)
                return await fast.complete(kwargs)
            except ChatHTTPError as exc:
                raise self._status_error(exc.status, exc.message, fmt, url) from None
        import openai

        client = self._client_for_loop(url)
        try:
            resp = await client.chat.completions.create(**kwargs)
        except openai.APITimeoutError as exc:
            raise TransientLLMError(f"timed out: {exc}", kind="timeout") from None
        except openai.APIConnectionError as exc:
            raise TransientLLMError(f"connection to {url} failed: {exc}") from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc.status_code, str(exc), fmt, url) from None
        if call.choices is not None:
            return _scored(resp.model_dump(), call.choices, url)
        text = resp.choices[0].message.content or ""
        u = resp.usage
        return Completion(text, int(u.prompt_tokens) if u else 0, int(u.completion_tokens) if u else 0)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            for client in [self._client, *self._clients.values()]:
                if client is not None:
                    self.on_own_loop(client.close)
            for fast in [self._fast, *self._fasts.values()]:
                if fast is not None:
                    self.on_own_loop(fast.close)
        super().close()


def _scored(data: dict[str, Any], choices: tuple[str, ...], url: str) -> Completion:
    """A scoring call's completion from a chat reply's first-token ``top_logprobs``.

    Each choice takes the probability of the listed tokens that begin it (case and
    spaces aside); a choice none of them begins gets half the smallest listed one.

    Raises:
        PermanentLLMError: if the reply has no log-probabilities (a server that
            ignores ``logprobs``, or ``llama_cpp.server`` without ``--logits_all true``).
    """
    try:
        first = data["choices"][0]["logprobs"]["content"][0]
        top = [(str(t["token"]), float(t["logprob"])) for t in first["top_logprobs"]]
    except (KeyError, IndexError, TypeError):
        raise PermanentLLMError(
            f"{url} returned no log-probabilities; the scored protocol needs a server that returns "
            "top_logprobs (llama_cpp.server: --logits_all true), or set policy.llm.protocol: json"
        ) from None
    except ValueError:
        raise PermanentLLMError(f"{url} returned a log-probability that is not a number") from None
    top = [(tok, lp) for tok, lp in top if math.isfinite(lp) and lp <= 1e-6]
    if not top:
        raise PermanentLLMError(f"{url} returned no usable top_logprobs (an empty list, or no finite log-probability)")
    floor = min(lp for _, lp in top) - math.log(2.0)
    per = []
    for c in choices:
        want = c.strip().lower()
        hits = [lp for tok, lp in top if (t := tok.strip().lower()) and want.startswith(t) and len(t) >= min(len(want), 1)]
        per.append(float(np.logaddexp.reduce(hits)) if hits else floor)
    usage = data.get("usage")
    prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    prompt = int(prompt) if isinstance(prompt, int | float) and not isinstance(prompt, bool) and math.isfinite(prompt) and prompt >= 0 else 0
    return Completion(format_scores(normalise_logprobs(per)), prompt, 1)
